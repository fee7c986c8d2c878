"""Row level security with two users on every user-owned table, admin reads, config tables, user deletion.

Rows are written by the superuser (which bypasses RLS); every check runs as `authenticated` with claims,
the way the server runs a caller's work.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from artificer.sql import manifest
from artificer.storage.database import as_user

pytestmark = pytest.mark.anyio


def app_claims(user_id: uuid.UUID, role: str = "user") -> dict[str, Any]:
    return {"sub": str(user_id), "role": "authenticated", "app_metadata": {"role": role}, "user_metadata": {}}


@dataclass
class Rows:
    """Row keys of one user's data: table -> value of the table's key column."""

    user: uuid.UUID
    keys: dict[str, uuid.UUID] = field(default_factory=dict)
    spare_message: uuid.UUID | None = None
    document_created_at: Any = None


KEY_COLUMN = {
    "Chat": "id",
    "Message_v2": "id",
    "Vote_v2": '"messageId"',
    "Document": "id",
    "Suggestion": "id",
    "Stream": "id",
    "usage_logs": "id",
    "rate_limit_tracking": "id",
    "github_repositories": "id",
    "error_logs": "id",
    "user_activity_logs": "id",
    "agent_activity_logs": "id",
}
USER_TABLES = tuple(KEY_COLUMN)
ADMIN_READS_ALL = {"Chat", "usage_logs", "error_logs", "user_activity_logs", "agent_activity_logs"}


async def seed_rows(pool: asyncpg.Pool, user: uuid.UUID) -> Rows:
    rows = Rows(user)
    async with pool.acquire() as conn, conn.transaction():
        chat = await conn.fetchval(
            'insert into "Chat" (title, user_id) values ($1, $2) returning id', "c", user
        )
        message = await conn.fetchval(
            "insert into \"Message_v2\" (\"chatId\", role, parts) values ($1, 'user', '[]') returning id",
            chat,
        )
        rows.spare_message = await conn.fetchval(
            'insert into "Message_v2" ("chatId", role, parts)'
            " values ($1, 'assistant', '[]') returning id",
            chat,
        )
        await conn.execute(
            'insert into "Vote_v2" ("chatId", "messageId", "isUpvoted") values ($1, $2, true)', chat, message
        )
        document, created_at = await conn.fetchrow(
            "insert into \"Document\" (title, content, user_id, chat_id) values ('d', 'text', $1, $2)"
            ' returning id, "createdAt"',
            user,
            chat,
        )
        rows.document_created_at = created_at
        suggestion = await conn.fetchval(
            'insert into "Suggestion" ("documentId", "documentCreatedAt", "originalText", "suggestedText",'
            " user_id)"
            " values ($1, $2, 'a', 'b', $3) returning id",
            document,
            created_at,
            user,
        )
        stream = await conn.fetchval('insert into "Stream" ("chatId") values ($1) returning id', chat)
        usage = await conn.fetchval(
            "insert into usage_logs (user_id, chat_id, agent_type, total_cost)"
            " values ($1, $2, 'document_agent', 0.5)"
            " returning id",
            user,
            chat,
        )
        limit = await conn.fetchval(
            "insert into rate_limit_tracking (user_id, agent_type, limit_type, period_start, period_end,"
            " request_count, limit_value)"
            " values ($1, 'document_agent', 'minute', now(), now() + interval '1 minute',"
            " 1, 5) returning id",
            user,
        )
        repo = await conn.fetchval(
            "insert into github_repositories (user_id, repo_owner, repo_name)"
            " values ($1, 'o', 'r') returning id",
            user,
        )
        error = await conn.fetchval(
            "insert into error_logs (user_id, error_type, error_category, error_message)"
            " values ($1, 'api', 'x', 'boom') returning id",
            user,
        )
        activity = await conn.fetchval(
            "insert into user_activity_logs (user_id, correlation_id, activity_type, activity_category)"
            " values ($1, gen_random_uuid(), 'chat_create', 'chat') returning id",
            user,
        )
        agent = await conn.fetchval(
            "insert into agent_activity_logs (user_id, correlation_id, agent_type, operation_type,"
            " operation_category)"
            " values ($1, gen_random_uuid(), 'document_agent', 'document_generation', 'generation')"
            " returning id",
            user,
        )
    rows.keys = {
        "Chat": chat,
        "Message_v2": message,
        "Vote_v2": message,
        "Document": document,
        "Suggestion": suggestion,
        "Stream": stream,
        "usage_logs": usage,
        "rate_limit_tracking": limit,
        "github_repositories": repo,
        "error_logs": error,
        "user_activity_logs": activity,
        "agent_activity_logs": agent,
    }
    return rows


@dataclass
class World:
    alice: Rows
    bob: Rows
    admin: uuid.UUID


@pytest.fixture
async def world(pool: asyncpg.Pool, make_user: Any) -> World:
    alice, bob, admin = await make_user(), await make_user(), await make_user(role="admin")
    return World(await seed_rows(pool, alice), await seed_rows(pool, bob), admin)


async def count_where_key(conn: asyncpg.Connection, table: str, key: uuid.UUID) -> int:
    return await conn.fetchval(f'select count(*) from "{table}" where {KEY_COLUMN[table]} = $1', key)


def forge_for(table: str, victim: Rows) -> tuple[str, list[Any]]:
    """An INSERT of a valid row that belongs to `victim` (valid: the superuser can run it)."""
    user, keys = victim.user, victim.keys
    statements: dict[str, tuple[str, list[Any]]] = {
        "Chat": ("insert into \"Chat\" (title, user_id) values ('x', $1)", [user]),
        "Message_v2": (
            "insert into \"Message_v2\" (\"chatId\", role, parts) values ($1, 'user', '[]')",
            [keys["Chat"]],
        ),
        "Vote_v2": (
            'insert into "Vote_v2" ("chatId", "messageId", "isUpvoted") values ($1, $2, false)',
            [keys["Chat"], victim.spare_message],
        ),
        "Document": ("insert into \"Document\" (title, user_id) values ('x', $1)", [user]),
        "Suggestion": (
            'insert into "Suggestion" ("documentId", "documentCreatedAt", "originalText", "suggestedText",'
            " user_id)"
            " values ($1, $2, 'a', 'b', $3)",
            [keys["Document"], victim.document_created_at, user],
        ),
        "Stream": ('insert into "Stream" ("chatId") values ($1)', [keys["Chat"]]),
        "usage_logs": ("insert into usage_logs (user_id, agent_type) values ($1, 'python_agent')", [user]),
        "rate_limit_tracking": (
            "insert into rate_limit_tracking (user_id, agent_type, limit_type, period_start, period_end,"
            " limit_value) values ($1, 'python_agent', 'daily', now(), now() + interval '1 day', 10)",
            [user],
        ),
        "github_repositories": (
            "insert into github_repositories (user_id, repo_owner, repo_name) values ($1, 'x', 'y')",
            [user],
        ),
        "error_logs": (
            "insert into error_logs (user_id, error_type, error_category, error_message)"
            " values ($1, 'app', 'x', 'y')",
            [user],
        ),
        "user_activity_logs": (
            "insert into user_activity_logs (user_id, correlation_id, activity_type, activity_category)"
            " values ($1, gen_random_uuid(), 'chat_view', 'chat')",
            [user],
        ),
        "agent_activity_logs": (
            "insert into agent_activity_logs (user_id, correlation_id, agent_type, operation_type,"
            " operation_category)"
            " values ($1, gen_random_uuid(), 'python_agent', 'code_generation', 'generation')",
            [user],
        ),
    }
    return statements[table]


class Rollback(Exception):
    pass


@pytest.mark.parametrize("table", USER_TABLES)
async def test_a_user_reads_own_rows_but_not_anothers(pool: asyncpg.Pool, world: World, table: str) -> None:
    async with as_user(pool, app_claims(world.alice.user)) as conn:
        assert await count_where_key(conn, table, world.alice.keys[table]) == 1
        assert await count_where_key(conn, table, world.bob.keys[table]) == 0


@pytest.mark.parametrize("table", USER_TABLES)
async def test_a_user_cannot_change_or_delete_anothers_rows(
    pool: asyncpg.Pool, world: World, table: str
) -> None:
    key_column, key = KEY_COLUMN[table], world.bob.keys[table]
    for statement in (
        f'update "{table}" set {key_column} = {key_column} where {key_column} = $1',
        f'delete from "{table}" where {key_column} = $1',
    ):
        try:
            async with as_user(pool, app_claims(world.alice.user)) as conn:
                status = await conn.execute(statement, key)
            assert status in ("UPDATE 0", "DELETE 0"), (statement, status)
        except asyncpg.InsufficientPrivilegeError:
            pass  # no UPDATE/DELETE privilege at all on this table for signed-in users
    async with pool.acquire() as conn:
        assert await count_where_key(conn, table, key) == 1


@pytest.mark.parametrize("table", USER_TABLES)
async def test_a_user_cannot_forge_rows_for_another(pool: asyncpg.Pool, world: World, table: str) -> None:
    statement, args = forge_for(table, world.bob)
    # The statement itself is valid: the server's own role can run it.
    with pytest.raises(Rollback):
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(statement, *args)
            raise Rollback
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with as_user(pool, app_claims(world.alice.user)) as conn:
            await conn.execute(statement, *args)


async def test_a_user_cannot_attach_own_rows_to_anothers(pool: asyncpg.Pool, world: World) -> None:
    alice, bob = world.alice, world.bob
    attempts = [
        (
            "insert into \"Document\" (title, user_id, chat_id) values ('x', $1, $2)",
            [alice.user, bob.keys["Chat"]],
        ),
        (
            'insert into "Document" (title, user_id, parent_version_id, parent_version_number)'
            " values ('x', $1, $2, 1)",
            [alice.user, bob.keys["Document"]],
        ),
        (
            'insert into "Suggestion" ("documentId", "documentCreatedAt", "originalText", "suggestedText",'
            " user_id)"
            " values ($1, $2, 'a', 'b', $3)",
            [bob.keys["Document"], bob.document_created_at, alice.user],
        ),
        (
            'insert into "Vote_v2" ("chatId", "messageId", "isUpvoted") values ($1, $2, true)',
            [alice.keys["Chat"], bob.spare_message],
        ),
        ('update "Chat" set user_id = $2 where id = $1', [alice.keys["Chat"], bob.user]),
        ('update "Document" set chat_id = $2 where id = $1', [alice.keys["Document"], bob.keys["Chat"]]),
        (
            'update "Suggestion" set "documentId" = $2, "documentCreatedAt" = $3 where id = $1',
            [alice.keys["Suggestion"], bob.keys["Document"], bob.document_created_at],
        ),
        (
            "update github_repositories set user_id = $2 where id = $1",
            [alice.keys["github_repositories"], bob.user],
        ),
    ]
    for statement, args in attempts:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with as_user(pool, app_claims(alice.user)) as conn:
                await conn.execute(statement, *args)
    # Alice's own writes still work.
    async with as_user(pool, app_claims(alice.user)) as conn:
        await conn.execute(
            "insert into \"Document\" (title, user_id, chat_id) values ('mine', $1, $2)",
            alice.user,
            alice.keys["Chat"],
        )
        await conn.execute(
            'insert into "Vote_v2" ("chatId", "messageId", "isUpvoted") values ($1, $2, true)',
            alice.keys["Chat"],
            alice.spare_message,
        )
        assert (
            await conn.execute(
                'update "Suggestion" set "isResolved" = true where id = $1', alice.keys["Suggestion"]
            )
            == "UPDATE 1"
        )
    async with pool.acquire() as conn:
        assert (
            await conn.fetchval(
                'select "documentId" from "Suggestion" where id = $1', alice.keys["Suggestion"]
            )
            == alice.keys["Document"]
        )


@pytest.mark.parametrize("table", USER_TABLES)
async def test_admin_reads_everyones_rows_only_where_the_seed_allows(
    pool: asyncpg.Pool, world: World, table: str
) -> None:
    async with as_user(pool, app_claims(world.admin, "admin")) as conn:
        seen = await count_where_key(conn, table, world.alice.keys[table]) + await count_where_key(
            conn, table, world.bob.keys[table]
        )
    assert seen == (2 if table in ADMIN_READS_ALL else 0)


async def test_user_metadata_admin_claim_reads_nothing_extra(pool: asyncpg.Pool, world: World) -> None:
    self_promoted = {
        "sub": str(world.alice.user),
        "role": "authenticated",
        "user_metadata": {"role": "admin"},
    }
    async with as_user(pool, self_promoted) as conn:
        for table in ADMIN_READS_ALL:
            assert await count_where_key(conn, table, world.bob.keys[table]) == 0, table


async def test_admin_config_is_readable_and_writable_only_by_admins(pool: asyncpg.Pool, world: World) -> None:
    change = (
        "update admin_config set config_data = jsonb_set(config_data, '{enabled}', 'false')"
        " where config_key = 'python_agent_google'"
    )
    async with as_user(pool, app_claims(world.alice.user)) as conn:
        assert await conn.fetchval("select count(*) from admin_config") == 0
        assert await conn.execute(change) == "UPDATE 0"
    async with as_user(pool, app_claims(world.admin, "admin")) as conn:
        assert await conn.fetchval("select count(*) from admin_config") == len(manifest.SEEDED_CONFIG_KEYS)
        assert await conn.execute(change) == "UPDATE 1"


async def test_model_config_is_readable_by_signed_in_users_only(pool: asyncpg.Pool, world: World) -> None:
    async with as_user(pool, app_claims(world.alice.user)) as conn:
        assert await conn.fetchval("select count(*) from model_config") == len(manifest.SEEDED_MODELS)
        assert await conn.execute("update model_config set is_active = false") == "UPDATE 0"
    async with as_user(pool, {"role": "authenticated"}) as conn:  # no sub: not signed in
        assert await conn.fetchval("select count(*) from model_config") == 0
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with as_user(pool, {"role": "anon"}, role="anon") as conn:
            await conn.fetchval("select count(*) from model_config")
    async with as_user(pool, app_claims(world.admin, "admin")) as conn:
        assert (
            await conn.execute("update model_config set is_active = true where model_id = 'gemma-3'")
            == "UPDATE 1"
        )


async def test_deleting_an_auth_user_cascades_to_their_rows(pool: asyncpg.Pool, world: World) -> None:
    alice, bob = world.alice, world.bob
    await pool.execute(
        "update error_logs set resolved = true, resolved_by = $1 where id = $2",
        alice.user,
        bob.keys["error_logs"],
    )
    await pool.execute(
        "update admin_config set updated_by = $1 where config_key = 'app_settings'", alice.user
    )

    assert await pool.execute("delete from auth.users where id = $1", alice.user) == "DELETE 1"

    removed = {"Chat", "Message_v2", "Vote_v2", "Document", "Suggestion", "Stream", "usage_logs",
               "rate_limit_tracking", "github_repositories"}  # fmt: skip
    async with pool.acquire() as conn:
        for table in USER_TABLES:
            expected = 0 if table in removed else 1  # activity and error logs stay as the audit trail
            assert await count_where_key(conn, table, alice.keys[table]) == expected, table
            assert await count_where_key(conn, table, bob.keys[table]) == 1, table
        assert (
            await conn.fetchval("select resolved_by from error_logs where id = $1", bob.keys["error_logs"])
            is None
        )
        assert (
            await conn.fetchval("select updated_by from admin_config where config_key = 'app_settings'")
            is None
        )
