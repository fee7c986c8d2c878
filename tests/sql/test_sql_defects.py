"""The seed SQL's known defects, each fixed: every test here fails on the seed's definitions."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import anyio
import asyncpg
import pytest
from artificer.sql import manifest
from artificer.storage.database import as_user

pytestmark = pytest.mark.anyio


def claims(user_id: uuid.UUID, **extra: Any) -> dict[str, Any]:
    return {"sub": str(user_id), "role": "authenticated", "aud": "authenticated", **extra}


def app_claims(user_id: uuid.UUID, role: str = "user") -> dict[str, Any]:
    return claims(user_id, app_metadata={"role": role}, user_metadata={})


# 1. get_current_user_usage_summary ---------------------------------------------------------------------


async def test_usage_summary_sums_the_callers_rows_by_agent(
    pool: asyncpg.Pool, make_user: Any, add_usage: Any
) -> None:
    alice, bob, admin = await make_user(), await make_user(), await make_user(role="admin")
    await add_usage(alice, "document_agent", 100, 50, "0.001000")
    await add_usage(alice, "document_agent", 10, 5, "0.000100")
    await add_usage(alice, "python_agent", 7, 3, "0.000010")
    await add_usage(alice, "python_agent", 1000, 1000, "1.000000", days_ago=40)  # outside the window
    await add_usage(bob, "document_agent", 999, 999, "9.000000")

    async with as_user(pool, app_claims(alice)) as conn:
        row = await conn.fetchrow("select * from get_current_user_usage_summary()")
    assert row is not None
    assert row["total_calls"] == 3
    assert row["total_input_tokens"] == 117
    assert row["total_output_tokens"] == 58
    assert row["total_tokens"] == 175
    assert row["total_cost"] == Decimal("0.001110")
    breakdown = row["agent_breakdown"]
    assert breakdown == {
        "document_agent": {"calls": 2, "tokens": 165, "cost": 0.0011},
        "python_agent": {"calls": 1, "tokens": 10, "cost": 0.00001},
    }

    async with as_user(pool, app_claims(alice)) as conn:
        wide = await conn.fetchrow(
            "select * from get_current_user_usage_summary($1, $2)",
            (datetime.now() - timedelta(days=60)).date(),
            datetime.now().date(),
        )
    assert wide is not None and wide["total_calls"] == 4

    # An admin can read everyone's usage_logs, but the summary is still only their own.
    async with as_user(pool, app_claims(admin, "admin")) as conn:
        mine = await conn.fetchrow("select * from get_current_user_usage_summary()")
    assert mine is not None
    assert (mine["total_calls"], mine["total_cost"], mine["agent_breakdown"]) == (0, Decimal(0), {})


# 2. ensure_single_default_model_per_provider -----------------------------------------------------------


async def defaults(pool: asyncpg.Pool, provider: str) -> list[str]:
    rows = await pool.fetch(
        "select model_id from model_config where provider = $1 and is_default order by model_id", provider
    )
    return [r["model_id"] for r in rows]


async def test_setting_another_default_moves_the_default(pool: asyncpg.Pool) -> None:
    assert await defaults(pool, "google") == ["gemini-2.0-flash"]
    status = await pool.execute("update model_config set is_default = true where model_id = 'gemini-2.5-pro'")
    assert status == "UPDATE 1"
    assert await defaults(pool, "google") == ["gemini-2.5-pro"]
    assert await defaults(pool, "openai") == ["gpt-4o"]  # other providers untouched


async def test_inserting_a_new_default_model_moves_the_default(pool: asyncpg.Pool) -> None:
    await pool.execute(
        "insert into model_config (model_id, name, provider, is_default,"
        " input_pricing_per_million_tokens, output_pricing_per_million_tokens)"
        " values ('claude-new', 'Claude New', 'anthropic', true, 1, 5)"
    )
    assert await defaults(pool, "anthropic") == ["claude-new"]


async def test_unsetting_the_only_default_is_refused(pool: asyncpg.Pool) -> None:
    with pytest.raises(asyncpg.CheckViolationError, match="exactly one default"):
        await pool.execute("update model_config set is_default = false where model_id = 'gpt-4o'")
    assert await defaults(pool, "openai") == ["gpt-4o"]
    with pytest.raises(asyncpg.CheckViolationError, match="default model"):
        await pool.execute("delete from model_config where model_id = 'gpt-4o'")
    assert await defaults(pool, "openai") == ["gpt-4o"]


async def test_a_non_default_model_can_be_changed_and_deleted(pool: asyncpg.Pool) -> None:
    await pool.execute("update model_config set is_active = false where model_id = 'gpt-4o-mini'")
    assert await pool.execute("delete from model_config where model_id = 'gpt-4o-mini'") == "DELETE 1"
    assert await defaults(pool, "openai") == ["gpt-4o"]


# 3. validate_admin_config_data -------------------------------------------------------------------------

BAD_CONFIGS = [
    ("python_agent_google", ["enabled"], "yes", "enabled must be a boolean"),
    ("python_agent_google", ["rateLimit", "perMinute"], "a", "rateLimit.perMinute must be an integer"),
    (
        "python_agent_google",
        ["rateLimit", "perMinute"],
        1001,
        "rateLimit.perMinute must be an integer between",
    ),
    ("python_agent_google", ["rateLimit", "perMinute"], 2.5, "rateLimit.perMinute must be an integer"),
    ("python_agent_google", ["rateLimit", "perHour"], None, "rateLimit.perHour must be an integer"),
    ("python_agent_google", ["rateLimit", "perHour"], 0, "rateLimit.perHour must be an integer between 1"),
    ("python_agent_google", ["rateLimit", "perDay"], 100001, "rateLimit.perDay must be an integer between"),
    ("python_agent_google", ["tools"], [], "tools must be an object"),
    ("python_agent_google", ["tools", "create", "enabled"], "true", "tools.create.enabled must be a boolean"),
    ("python_agent_google", ["tools", "fix", "description"], 3, "tools.fix.description must be a string"),
    (
        "python_agent_google",
        ["tools", "fix", "userPromptTemplate"],
        {},
        "tools.fix.userPromptTemplate must be",
    ),
    ("document_agent_openai", ["tools", "update", "systemPrompt"], 1, "tools.update.systemPrompt must be"),
    ("provider_tools_agent_google", ["systemPrompt"], "", "systemPrompt must be a non-empty string"),
    ("chat_model_agent_google", ["capabilities", "fileInput"], "yes", "capabilities.fileInput must be"),
    (
        "chat_model_agent_google",
        ["tools", "documentAgent", "tool_input", "operation"],
        "x",
        "tool_input.operation",
    ),
    ("app_settings", ["activeProvider"], "xai", "activeProvider must be one of google, openai, anthropic"),
    ("app_settings", ["availableProviders"], ["google", "xai"], "availableProviders[] must be one of"),
    (
        "logging_settings",
        ["agent_activity_logging_enabled"],
        1,
        "agent_activity_logging_enabled must be a boolean",
    ),
    (
        "logging_settings",
        ["performance_settings", "batch_size"],
        0,
        "performance_settings.batch_size must be",
    ),
    (
        "logging_settings",
        ["performance_settings", "batch_interval_ms"],
        5,
        "batch_interval_ms must be an integer",
    ),
    (
        "logging_settings",
        ["performance_settings", "sampling_rate"],
        1.5,
        "sampling_rate must be a number between",
    ),
    ("logging_settings", ["category_toggles", "log_chat_events"], "on", "category_toggles.log_chat_events"),
]


@pytest.mark.parametrize(("key", "path", "value", "message"), BAD_CONFIGS)
async def test_wrong_config_shapes_are_rejected_and_change_nothing(
    pool: asyncpg.Pool, key: str, path: list[str], value: Any, message: str
) -> None:
    before = await pool.fetchval("select config_data from admin_config where config_key = $1", key)
    with pytest.raises(asyncpg.CheckViolationError) as raised:
        await pool.execute(
            "update admin_config"
            " set config_data = jsonb_set(config_data, $2::text[], coalesce($3::jsonb, 'null'))"
            " where config_key = $1",
            key,
            path,
            value,  # the pool's jsonb codec encodes it; None becomes JSON null through coalesce
        )
    assert raised.value.sqlstate == "23514"
    assert message in str(raised.value)
    assert key in str(raised.value)
    assert await pool.fetchval("select config_data from admin_config where config_key = $1", key) == before


async def test_missing_keys_and_unknown_config_keys_are_rejected(pool: asyncpg.Pool) -> None:
    with pytest.raises(asyncpg.CheckViolationError, match="rateLimit must be an object"):
        await pool.execute(
            "update admin_config set config_data = config_data - 'rateLimit'"
            " where config_key = 'git_mcp_agent_google'"
        )
    for bad_key in ("foo_agent_google", "python_agent_xai", "model_config_gpt", "python_agent"):
        with pytest.raises(asyncpg.CheckViolationError, match="is not known"):
            await pool.execute(
                "insert into admin_config (config_key, config_data) select $1, config_data"
                " from admin_config where config_key = 'python_agent_google'",
                bad_key,
            )
    assert await pool.fetchval("select count(*) from admin_config") == len(manifest.SEEDED_CONFIG_KEYS)


async def test_valid_config_changes_are_accepted(pool: asyncpg.Pool) -> None:
    status = await pool.execute(
        "update admin_config set config_data = jsonb_set(config_data, '{rateLimit,perMinute}', '7')"
        " where config_key = 'python_agent_google'"
    )
    assert status == "UPDATE 1"
    assert await pool.fetchval("select admin_config_problem('x_google', '{}')") is not None
    assert (
        await pool.fetchval(
            "select admin_config_problem(config_key, config_data) from admin_config"
            " where config_key = 'python_agent_google'"
        )
        is None
    )


# 4. get_user_role / is_current_user_admin read app metadata --------------------------------------------


async def test_user_metadata_role_does_not_make_an_admin(pool: asyncpg.Pool, make_user: Any) -> None:
    mallory = uuid.uuid4()
    await pool.execute(
        "insert into auth.users (id, email, raw_app_meta_data, raw_user_meta_data)"
        " values ($1, 'mallory@example.test', $2, $3)",
        mallory,
        {"role": "user"},
        {"role": "admin"},
    )
    self_promoted = claims(mallory, user_metadata={"role": "admin"}, app_metadata={"role": "user"})
    async with as_user(pool, self_promoted) as conn:
        assert await conn.fetchval("select get_user_role()") == "user"
        assert await conn.fetchval("select is_current_user_admin()") is False
        assert await conn.fetchval("select count(*) from admin_config") == 0

    admin = await make_user(role="admin")
    async with as_user(pool, app_claims(admin, "admin")) as conn:
        assert await conn.fetchval("select get_user_role()") == "admin"
        assert await conn.fetchval("select is_current_user_admin()") is True
        assert await conn.fetchval("select count(*) from admin_config") == len(manifest.SEEDED_CONFIG_KEYS)


# 5. Document versions point at their real parent -------------------------------------------------------


async def test_a_version_points_at_its_real_parent_version(pool: asyncpg.Pool, make_user: Any) -> None:
    alice = await make_user()
    doc, other = uuid.uuid4(), uuid.uuid4()
    insert = (
        'insert into "Document" (id, "createdAt", title, content, user_id, version_number,'
        " parent_version_id, parent_version_number)"
        " values ($1, now() + make_interval(secs => $2), 't', $3, $4,"
        " $5, $6, $7)"
    )
    async with as_user(pool, app_claims(alice)) as conn:
        await conn.execute(insert, doc, 0, "v1", alice, 1, None, None)
        await conn.execute(insert, doc, 1, "v2", alice, 2, doc, 1)
        await conn.execute(insert, doc, 2, "v3 = revert to v1", alice, 3, doc, 2)
        # A new document forked from version 2 of another one: different id, different createdAt.
        await conn.execute(insert, other, 3, "fork", alice, 1, doc, 2)
    rows = await pool.fetch(
        'select c.version_number, p.content as parent_content from "Document" c'
        ' left join "Document" p on (p.id, p.version_number) = (c.parent_version_id, c.parent_version_number)'
        " where c.id = $1 order by c.version_number",
        doc,
    )
    assert [(r["version_number"], r["parent_content"]) for r in rows] == [(1, None), (2, "v1"), (3, "v2")]
    fork_parent = await pool.fetchval(
        'select p.content from "Document" c join "Document" p'
        " on (p.id, p.version_number) = (c.parent_version_id, c.parent_version_number) where c.id = $1",
        other,
    )
    assert fork_parent == "v2"

    with pytest.raises(asyncpg.UniqueViolationError):
        await pool.execute(insert, doc, 9, "same number twice", alice, 3, doc, 2)
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await pool.execute(insert, doc, 10, "missing parent", alice, 4, doc, 99)


# 6. rate_limit_tracking counts fixed windows atomically ------------------------------------------------

COUNT_WINDOW = (
    "insert into rate_limit_tracking (user_id, agent_type, limit_type, period_start, period_end,"
    " request_count, limit_value) values ($1, 'python_agent', $2, $3, $4, 1, $5)"
    " on conflict (user_id, agent_type, limit_type, period_start)"
    " do update set request_count = rate_limit_tracking.request_count + 1"
    " returning request_count"
)


async def test_minute_windows_are_counted_by_one_statement(pool: asyncpg.Pool, make_user: Any) -> None:
    alice = await make_user()
    start = datetime(2026, 1, 1, 12, 0)

    async def hit() -> None:
        async with pool.acquire() as conn:
            await conn.fetchval(COUNT_WINDOW, alice, "minute", start, start + timedelta(minutes=1), 5)

    async with anyio.create_task_group() as group:
        for _ in range(8):
            group.start_soon(hit)
    assert (
        await pool.fetchval(
            "select request_count from rate_limit_tracking where user_id = $1 and limit_type = 'minute'",
            alice,
        )
        == 8
    )
    assert await pool.fetchval(COUNT_WINDOW, alice, "hourly", start, start + timedelta(hours=1), 50) == 1
    assert await pool.fetchval("select count(*) from rate_limit_tracking where user_id = $1", alice) == 2
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.fetchval(COUNT_WINDOW, alice, "weekly", start, start + timedelta(days=7), 50)


# 7. "System can ..." policies are for the server only --------------------------------------------------


async def test_users_cannot_forge_logs_or_touch_counters(pool: asyncpg.Pool, make_user: Any) -> None:
    alice, bob = await make_user(), await make_user()
    await pool.fetchval(COUNT_WINDOW, alice, "minute", datetime(2026, 1, 1), datetime(2026, 1, 1, 0, 1), 5)
    forgeries = [
        ("insert into usage_logs (user_id, agent_type) values ($1, 'python_agent')", bob),
        ("insert into usage_logs (user_id, agent_type) values ($1, 'python_agent')", alice),
        (
            "insert into agent_activity_logs (user_id, correlation_id, agent_type, operation_type,"
            " operation_category)"
            " values ($1, gen_random_uuid(), 'python_agent', 'code_generation', 'generation')",
            bob,
        ),
        (
            "insert into user_activity_logs (user_id, correlation_id, activity_type, activity_category)"
            " values ($1, gen_random_uuid(), 'chat_create', 'chat')",
            bob,
        ),
        (
            "insert into error_logs (user_id, error_type, error_category, error_message)"
            " values ($1, 'api', 'x', 'y')",
            bob,
        ),
        ("update rate_limit_tracking set request_count = 0 where user_id = $1", alice),
        ("delete from rate_limit_tracking where user_id = $1", alice),
        (
            "insert into rate_limit_tracking (user_id, agent_type, limit_type, period_start, period_end,"
            " limit_value) values ($1, 'python_agent', 'daily', now(), now(), 100000)",
            alice,
        ),
    ]
    for statement, target in forgeries:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with as_user(pool, app_claims(alice)) as conn:
                await conn.execute(statement, target)
    assert await pool.fetchval("select count(*) from usage_logs") == 0
    assert await pool.fetchval("select count(*) from agent_activity_logs") == 0
    assert await pool.fetchval("select request_count from rate_limit_tracking where user_id = $1", alice) == 1
    # Alice can still read her own counter.
    async with as_user(pool, app_claims(alice)) as conn:
        assert await conn.fetchval("select count(*) from rate_limit_tracking") == 1


async def test_anon_has_no_table_privileges(pool: asyncpg.Pool) -> None:
    for table in manifest.TABLES:
        for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            granted = await pool.fetchval(
                "select has_table_privilege('anon', format('public.%I', $1::text), $2)", table, privilege
            )
            assert granted is False, (table, privilege)


# 8. OpenAI and Anthropic rows have the working shape ---------------------------------------------------


def shape(value: Any) -> Any:
    """The keys of nested objects with the type names of their leaves."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    return type(value).__name__


EXPECTED_LIMITS = {
    ("openai", "chat_model_agent"): (5, 50, 200),
    ("openai", "provider_tools_agent"): (4, 40, 150),
    ("openai", "document_agent"): (3, 30, 100),
    ("openai", "python_agent"): (2, 20, 80),
    ("openai", "mermaid_agent"): (2, 15, 60),
    ("openai", "git_mcp_agent"): (1, 10, 40),
    ("anthropic", "chat_model_agent"): (4, 40, 150),
    ("anthropic", "provider_tools_agent"): (3, 30, 100),
    ("anthropic", "document_agent"): (2, 20, 80),
    ("anthropic", "python_agent"): (2, 15, 60),
    ("anthropic", "mermaid_agent"): (1, 10, 40),
    ("anthropic", "git_mcp_agent"): (1, 8, 30),
}

PROVIDER_TOOLS = {
    "google": {"googleSearch", "urlContext", "codeExecution"},
    "openai": {"webSearch", "codeInterpreter"},
    "anthropic": {"webSearch", "webFetch", "codeExecution"},
}


async def test_other_provider_rows_have_the_working_shape_and_can_be_enabled(pool: asyncpg.Pool) -> None:
    rows = {
        r["config_key"]: r["config_data"]
        for r in await pool.fetch("select config_key, config_data from admin_config")
    }
    for (provider, agent), (per_minute, per_hour, per_day) in EXPECTED_LIMITS.items():
        data, google = rows[f"{agent}_{provider}"], rows[f"{agent}_google"]
        assert data["enabled"] is False
        assert google["enabled"] is True
        assert data["rateLimit"] == {"perMinute": per_minute, "perHour": per_hour, "perDay": per_day}
        if agent == "provider_tools_agent":
            assert set(data["tools"]) == PROVIDER_TOOLS[provider]
            assert data.keys() == google.keys()
            assert {
                shape(tool) == {"enabled": "bool", "description": "str"} for tool in data["tools"].values()
            } == {True}
        else:
            assert shape(data) == shape(google)
    assert set(rows["provider_tools_agent_google"]["tools"]) == PROVIDER_TOOLS["google"]

    status = await pool.execute(
        "update admin_config set config_data = jsonb_set(config_data, '{enabled}', 'true')"
        " where config_key like '%\\_openai' or config_key like '%\\_anthropic'"
    )
    assert status == "UPDATE 12"


async def test_seed_checks_and_manifest_objects(pool: asyncpg.Pool) -> None:
    for label, sql in manifest.SEED_CHECKS:
        assert await pool.fetchval(sql) is True, label
    functions = {
        r[0]
        for r in await pool.fetch("select proname from pg_proc where pronamespace = 'public'::regnamespace")
    }
    assert set(manifest.FUNCTIONS) <= functions
    indexes = {r[0] for r in await pool.fetch("select indexname from pg_indexes where schemaname = 'public'")}
    assert set(manifest.INDEXES) <= indexes
    policies = {tuple(r) for r in await pool.fetch("select tablename, policyname from pg_policies")}
    assert set(manifest.POLICIES) <= policies
    logging = await pool.fetchval("select get_logging_config()")
    assert logging["agent_activity_logging_enabled"] is True
    assert await pool.fetchval("select is_agent_activity_logging_enabled()") is True
    assert await pool.fetchval("select is_user_activity_logging_enabled()") is False


# Hot reload -------------------------------------------------------------------------------------------


async def test_config_changes_notify_listeners(pool: asyncpg.Pool, database_url: str) -> None:
    received: list[dict[str, str]] = []
    all_arrived = anyio.Event()

    def on_notify(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        received.append(json.loads(payload))
        if len(received) == 3:
            all_arrived.set()

    listener = await asyncpg.connect(database_url)
    try:
        await listener.add_listener("artificer_config", on_notify)
        await pool.execute(
            "update admin_config set config_data = jsonb_set(config_data, '{enabled}', 'false')"
            " where config_key = 'mermaid_agent_google'"
        )
        await pool.execute("update model_config set is_active = true where model_id = 'gemma-3'")
        await pool.execute("delete from model_config where model_id = 'gemma-3'")
        with anyio.fail_after(5):
            await all_arrived.wait()
    finally:
        await listener.close()
    assert received == [
        {"table": "admin_config", "op": "UPDATE"},
        {"table": "model_config", "op": "UPDATE"},
        {"table": "model_config", "op": "DELETE"},
    ]
