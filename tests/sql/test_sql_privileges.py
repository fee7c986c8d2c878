"""Table privileges that hold on Supabase too (sql/0060_privileges.sql): a database whose default privileges
give the API roles ALL on every new table (as Supabase's init scripts do) ends up with exactly the grants the
policies need, the same as a plain one."""

from __future__ import annotations

import asyncpg
import pytest
from artificer.storage.migrations import load_migrations, migrate

pytestmark = pytest.mark.anyio

SIUD = {"SELECT", "INSERT", "UPDATE", "DELETE"}
AUTHENTICATED: dict[str, set[str]] = {
    "Chat": SIUD,
    "Message_v2": {"SELECT", "INSERT"},
    "Vote_v2": SIUD,
    "Document": SIUD,
    "Suggestion": {"SELECT", "INSERT", "UPDATE"},
    "Stream": SIUD,
    "admin_config": SIUD,  # "Admins can update admin_config" is FOR ALL (admins only, by RLS)
    "model_config": SIUD,
    "usage_logs": {"SELECT"},
    "rate_limit_tracking": {"SELECT"},
    "github_repositories": SIUD,
    "error_logs": {"SELECT", "UPDATE"},
    "user_activity_logs": {"SELECT"},
    "agent_activity_logs": {"SELECT"},
    "document_renderings": {"SELECT", "INSERT", "DELETE"},
}
NOBODY = {"artificer_schema_migrations"}

SUPABASE_DEFAULTS = """
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
"""


async def grants(conn: asyncpg.Connection) -> dict[str, dict[str, set[str]]]:
    """Every relation in public: grantee (PUBLIC, anon, authenticated, service_role) -> privileges."""
    records = await conn.fetch(
        "select c.relname, c.relispartition,"
        " case when a.grantee = 0 then 'PUBLIC' else a.grantee::regrole::text end as grantee,"
        " a.privilege_type from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " left join lateral aclexplode(c.relacl) a on a.grantee <> c.relowner"
        " where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm', 'f')"
    )
    found: dict[str, dict[str, set[str]]] = {}
    for r in records:
        table = found.setdefault(r["relname"], {})
        if r["grantee"] is not None:
            table.setdefault(r["grantee"], set()).add(r["privilege_type"])
    return found


def partitions(found: dict[str, dict[str, set[str]]]) -> list[str]:
    return [name for name in found if "_p2" in name or name.endswith("_default")]


def check(found: dict[str, dict[str, set[str]]]) -> None:
    parts = partitions(found)
    assert parts, "no log partitions"
    for table, granted in found.items():
        if table in NOBODY or table in parts:
            assert granted == {}, (table, granted)
            continue
        assert table in AUTHENTICATED, f"{table}: a table this test does not know; add its expected grants"
        expected = {"authenticated": AUTHENTICATED[table], "service_role": SIUD}
        assert granted == expected, table


async def migrated_like_supabase(url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(url)
    everything = load_migrations()
    await migrate(conn, everything[:1])  # the auth shim: the roles exist, as on Supabase
    await conn.execute(SUPABASE_DEFAULTS)
    await migrate(conn, everything)
    return conn


async def test_supabase_default_privileges_are_narrowed(empty_database_url: str) -> None:
    conn = await migrated_like_supabase(empty_database_url)
    try:
        check(await grants(conn))
        # what TRUNCATE could do before, under RLS or not, it cannot any more
        for role, table in (
            ("authenticated", "usage_logs"),
            ("authenticated", "rate_limit_tracking"),
            ("authenticated", "admin_config"),
            ("anon", "artificer_schema_migrations"),
            ("service_role", "usage_logs"),
        ):
            async with conn.transaction():
                await conn.execute("select set_config('role', $1, true)", role)
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.execute(f"truncate {table}")
        async with conn.transaction():
            await conn.execute("select set_config('role', 'anon', true)")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetchval('select count(*) from "Chat"')
        # a table made after the migration gets nothing by default any more
        await conn.execute("create table public.made_later (id int)")
        assert (await grants(conn))["made_later"] == {}
        # the log partitions made later (maintenance) stay sealed
        assert await conn.fetchval("select artificer_ensure_log_partition('usage_logs', current_date + 400)")
        check({k: v for k, v in (await grants(conn)).items() if k != "made_later"})
    finally:
        await conn.close()


async def test_a_plain_database_gets_the_same_grants(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        check(await grants(conn))
    finally:
        await conn.close()
