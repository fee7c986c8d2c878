"""Admin tools over a real MCP client and a real database: who sees them, what they change, what they refuse.

Every refusal is checked to change nothing: the rows it touches (and the audit table) are read before and
after and compared.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from artificer.server.admin import TOOLS
from artificer.storage import admin as store
from artificer.storage.database import as_user
from fakes.gemini import FakeGemini
from mcp.client import Client
from mcp.shared.exceptions import MCPError
from mcp_harness import in_process, make_settings

pytestmark = pytest.mark.anyio

ADMIN_NAMES = sorted(t.name for t in TOOLS)


async def outcome(client: Client, name: str, arguments: Mapping[str, Any] | None = None) -> tuple[Any, ...]:
    """What a client gets for a call, with the tool's name masked (to compare answers of two names)."""
    try:
        result = await client.call_tool(name, dict(arguments or {}))
    except MCPError as error:
        return ("error", error.error.code, error.error.message.replace(name, "<name>"))
    text = " ".join(c.text for c in result.content if c.type == "text")
    return ("result", result.is_error, text.replace(name, "<name>"))


async def call(client: Client, name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, dict(arguments))
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def refused(client: Client, name: str, arguments: Mapping[str, Any]) -> str:
    result = await client.call_tool(name, dict(arguments))
    assert result.is_error, result.structured_content
    return result.content[0].text


async def snapshot(pool: asyncpg.Pool) -> tuple[Any, ...]:
    """Everything an admin tool can change."""
    configs = await pool.fetch(
        "select config_key, config_data, updated_by, updated_at from admin_config order by 1"
    )
    models = await pool.fetch("select * from model_config order by model_id")
    errors = await pool.fetch("select * from error_logs order by id")
    audit = await pool.fetchval("select count(*) from user_activity_logs")
    return [tuple(r) for r in configs], [tuple(r) for r in models], [tuple(r) for r in errors], audit


async def audit_rows(pool: asyncpg.Pool, user: uuid.UUID) -> list[asyncpg.Record]:
    return await pool.fetch(
        "select * from user_activity_logs where user_id = $1 and activity_type = 'admin_config_update' "
        "order by created_at",
        user,
    )


# --- visibility -------------------------------------------------------------------------------------


async def test_a_non_admin_neither_lists_nor_calls_them(
    database_url: str, make_user, gemini: FakeGemini, pool
) -> None:
    user = await make_user()
    before = await snapshot(pool)
    async with in_process(make_settings(database_url, user, gemini)) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        assert not [n for n in names if n.startswith("admin_")], names
        unknown = await outcome(client, "admin_nonexistent", {"action": "list"})
        assert "<name>" in unknown[-1]  # the unknown-tool answer names the tool
        for name in ADMIN_NAMES:
            assert await outcome(client, name, {"action": "list"}) == unknown
        # arguments that would change something are answered the same way, and change nothing
        assert (
            await outcome(
                client,
                "admin_agents",
                {
                    "action": "set",
                    "agent": "document_agent",
                    "changes": [{"path": "enabled", "value": False}],
                },
            )
            == unknown
        )
    assert await snapshot(pool) == before


async def test_the_database_refuses_a_non_admin_too(pool, make_user) -> None:
    user = await make_user()
    claims = {"sub": str(user), "role": "authenticated", "user_metadata": {"role": "admin"}}
    with pytest.raises(store.NotAdmin):
        async with as_user(pool, claims) as conn:
            await store.require_admin(conn)
    async with as_user(pool, claims) as conn:  # the policies: nothing to read, nothing to write
        assert await store.list_configs(conn) == []
        updated = await conn.execute("update admin_config set updated_by = $1", user)
        assert updated == "UPDATE 0"
    with pytest.raises(store.AdminRefused, match="only an admin"):
        async with as_user(pool, claims) as conn:
            await store.log_change(conn, resource_type="admin_config", resource_id=None, metadata={})
    assert await pool.fetchval("select count(*) from user_activity_logs") == 0


async def test_an_admin_sees_them_and_the_other_tools_unchanged(
    database_url: str, make_user, gemini: FakeGemini
) -> None:
    user = await make_user()
    admin = await make_user("admin")
    async with in_process(make_settings(database_url, user, gemini)) as client:
        plain = [t.model_dump(by_alias=True, exclude_none=True) for t in (await client.list_tools()).tools]
    async with in_process(make_settings(database_url, admin, gemini)) as client:
        tools = [t.model_dump(by_alias=True, exclude_none=True) for t in (await client.list_tools()).tools]
    assert tools[: len(plain)] == plain
    assert sorted(t["name"] for t in tools[len(plain) :]) == ADMIN_NAMES


# --- agent configs ----------------------------------------------------------------------------------


async def test_agent_configs_list_get_set(database_url: str, make_user, gemini: FakeGemini, pool) -> None:
    admin = await make_user("admin")
    async with in_process(make_settings(database_url, admin, gemini)) as client:
        listed = await call(client, "admin_agents", {"action": "list"})
        keys = {a["key"] for a in listed["agents"]}
        expected = await pool.fetch(
            "select config_key from admin_config where config_key not in ('app_settings', 'logging_settings')"
        )
        assert keys == {r["config_key"] for r in expected}
        doc = next(a for a in listed["agents"] if a["key"] == "document_agent_google")
        assert doc["enabled"] is True and doc["operations"]["suggestion"] is True
        assert doc["rateLimit"]["perMinute"] >= 1
        only_openai = await call(client, "admin_agents", {"action": "list", "provider": "openai"})
        assert {a["provider"] for a in only_openai["agents"]} == {"openai"}

        got = await call(client, "admin_agents", {"action": "get", "agent": "document_agent"})
        stored = await pool.fetchval(
            "select config_data from admin_config where config_key = 'document_agent_google'"
        )
        assert got["agent"]["config"] == stored

        changes = [
            {"path": "tools.suggestion.enabled", "value": False},
            {"path": "rateLimit.perMinute", "value": 7},
            {"path": "tools.create.systemPrompt", "value": "Write plainly."},
            {"path": "tools.create.userPromptTemplate", "value": "Task: {instruction}"},
        ]
        changed = await call(
            client, "admin_agents", {"action": "set", "agent": "document_agent", "changes": changes}
        )
        assert changed["changed"] == [c["path"] for c in changes]
        row = await pool.fetchrow(
            "select config_data, updated_by from admin_config where config_key = 'document_agent_google'"
        )
        data = row["config_data"]
        assert data["tools"]["suggestion"]["enabled"] is False
        assert data["rateLimit"]["perMinute"] == 7
        assert data["tools"]["create"]["systemPrompt"] == "Write plainly."
        assert data["tools"]["create"]["userPromptTemplate"] == "Task: {instruction}"
        assert row["updated_by"] == admin
        # the rest of the row is as it was
        stored["tools"]["suggestion"]["enabled"] = False
        stored["rateLimit"]["perMinute"] = 7
        stored["tools"]["create"]["systemPrompt"] = "Write plainly."
        stored["tools"]["create"]["userPromptTemplate"] = "Task: {instruction}"
        assert data == stored

        # the description clients see (chat_model_agent_<provider>.tools.<chatToolKey>.description)
        await call(
            client,
            "admin_agents",
            {
                "action": "set",
                "agent": "chat_model_agent",
                "changes": [{"path": "tools.documentAgent.description", "value": "Makes documents."}],
            },
        )
        described = await pool.fetchval(
            "select config_data #>> '{tools,documentAgent,description}' from admin_config "
            "where config_key = 'chat_model_agent_google'"
        )
        assert described == "Makes documents."  # what clients see: test_admin_reload.py

    audit = await audit_rows(pool, admin)
    assert len(audit) == 2
    assert audit[0]["activity_category"] == "admin"
    assert audit[0]["resource_type"] == "admin_config"
    assert audit[0]["activity_metadata"]["key"] == "document_agent_google"
    assert [c["path"] for c in audit[0]["activity_metadata"]["changes"]] == [c["path"] for c in changes]
    assert audit[0]["resource_id"] == await pool.fetchval(
        "select id from admin_config where config_key = 'document_agent_google'"
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            [{"path": "rateLimit.perMinute", "value": 0}],
            "rateLimit.perMinute must be an integer between 1 and 1000",
        ),
        ([{"path": "enabled", "value": "yes"}], "enabled must be a boolean"),
        ([{"path": "tools.create.description", "value": 5}], "tools.create.description must be a string"),
        # a valid change first: the refused one rolls it back too
        (
            [{"path": "enabled", "value": False}, {"path": "rateLimit.perDay", "value": 10**6}],
            "rateLimit.perDay must be an integer between 1 and 100000",
        ),
        ([{"path": "tools.nosuchtool.enabled", "value": True}], "tools.nosuchtool does not exist"),
        ([{"path": "capabilities.fileInput", "value": True}], "cannot be changed"),
        ([{"path": "tools", "value": {}}], "cannot be changed"),
    ],
)
async def test_agent_config_refusals_change_nothing(
    database_url: str, make_user, gemini: FakeGemini, pool, changes: list[dict[str, Any]], message: str
) -> None:
    admin = await make_user("admin")
    before = await snapshot(pool)
    async with in_process(make_settings(database_url, admin, gemini)) as client:
        text = await refused(
            client, "admin_agents", {"action": "set", "agent": "document_agent", "changes": changes}
        )
    assert message in text, text
    assert "nothing changed" in text or "cannot be changed" in text or "does not exist" in text
    assert await snapshot(pool) == before


# --- models -----------------------------------------------------------------------------------------


async def test_models_add_update_default(database_url: str, make_user, gemini: FakeGemini, pool) -> None:
    admin = await make_user("admin")
    async with in_process(make_settings(database_url, admin, gemini)) as client:
        listed = await call(client, "admin_models", {"action": "list", "provider": "google"})
        assert {m["modelId"] for m in listed["models"]} == {
            r["model_id"]
            for r in await pool.fetch("select model_id from model_config where provider = 'google'")
        }
        added = await call(
            client,
            "admin_models",
            {
                "action": "add",
                "modelId": "gemini-3-test",
                "provider": "google",
                "name": "Gemini 3 (test)",
                "inputPrice": 0.5,
                "outputPrice": 2.25,
                "cacheReadPrice": 0.125,
                "thinking": True,
                "metadata": {"contextWindow": 1000000},
            },
        )
        assert added["model"]["default"] is False and added["model"]["active"] is True
        row = await pool.fetchrow("select * from model_config where model_id = 'gemini-3-test'")
        assert row["input_pricing_per_million_tokens"] == Decimal("0.5")
        assert row["output_pricing_per_million_tokens"] == Decimal("2.25")
        assert row["metadata"] == {"contextWindow": 1000000, "cacheReadPricingPerMillionTokens": 0.125}
        assert row["thinking_enabled"] is True

        updated = await call(
            client,
            "admin_models",
            {
                "action": "update",
                "modelId": "gemini-3-test",
                "outputPrice": 3,
                "cacheReadPrice": None,
                "cacheWritePrice": 0.75,
                "metadata": {"contextWindow": None, "maxOutputTokens": 4096},
            },
        )
        assert updated["model"]["outputPrice"] == 3.0
        row = await pool.fetchrow("select * from model_config where model_id = 'gemini-3-test'")
        assert row["metadata"] == {"maxOutputTokens": 4096, "cacheWritePricingPerMillionTokens": 0.75}
        assert row["input_pricing_per_million_tokens"] == Decimal("0.5")  # untouched

        made = await call(client, "admin_models", {"action": "make_default", "modelId": "gemini-3-test"})
        assert made["model"]["default"] is True
        defaults = await pool.fetch(
            "select model_id from model_config where provider = 'google' and is_default"
        )
        assert [r["model_id"] for r in defaults] == ["gemini-3-test"]
    audit = await audit_rows(pool, admin)
    assert [r["activity_metadata"]["action"] for r in audit] == ["add", "update", "make_default"]
    assert {r["resource_type"] for r in audit} == {"model_config"}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"action": "make_default", "modelId": "gemma-3"}, "inactive"),
        ({"action": "update", "modelId": "gemini-2.0-flash", "active": False}, "the default google model"),
        ({"action": "update", "modelId": "gpt-4o", "provider": "google"}, "provider cannot be changed"),
        ({"action": "update", "modelId": "no-such-model", "inputPrice": 1}, "does not exist"),
        (
            {
                "action": "add",
                "modelId": "gpt-4o",
                "provider": "openai",
                "name": "x",
                "inputPrice": 1,
                "outputPrice": 1,
            },
            "exists already",
        ),
        (
            {"action": "add", "modelId": "m", "provider": "openai", "name": "x", "inputPrice": 1},
            "outputPrice",
        ),
        ({"action": "update", "modelId": "gpt-4o", "inputPrice": -1}, "greater than or equal to 0"),
        ({"action": "update", "modelId": "gpt-4o", "cacheReadPrice": -0.1}, "greater than or equal to 0"),
        ({"action": "update", "modelId": "gpt-4o", "name": None}, "name cannot be null"),
        ({"action": "update", "modelId": "gpt-4o"}, "nothing to change"),
    ],
)
async def test_model_refusals_change_nothing(
    database_url: str, make_user, gemini: FakeGemini, pool, arguments: dict[str, Any], message: str
) -> None:
    admin = await make_user("admin")
    before = await snapshot(pool)
    async with in_process(make_settings(database_url, admin, gemini)) as client:
        text = await refused(client, "admin_models", arguments)
    assert message in text, text
    assert await snapshot(pool) == before


async def test_the_one_default_trigger_speaks_through_the_tool(pool, make_user) -> None:
    """A direct is_default=false on the default is the trigger's to refuse; its message comes back whole."""
    admin = await make_user("admin")
    claims = {"sub": str(admin), "role": "authenticated", "app_metadata": {"role": "admin"}}
    before = await snapshot(pool)
    with pytest.raises(store.AdminRefused, match="must keep exactly one default model"):
        async with as_user(pool, claims) as conn:
            await store.update_model(conn, "gemini-2.0-flash", {"is_default": False})
    assert await snapshot(pool) == before


# --- provider ---------------------------------------------------------------------------------------


async def test_switching_the_provider_needs_its_key(
    database_url: str, make_user, gemini: FakeGemini, pool
) -> None:
    admin = await make_user("admin")
    before = await snapshot(pool)
    async with in_process(make_settings(database_url, admin, gemini)) as client:
        got = await call(client, "admin_provider", {"action": "get"})
        assert got["activeProvider"] == "google"
        assert got["keys"] == {"google": True, "openai": False, "anthropic": False}
        text = await refused(client, "admin_provider", {"action": "set", "provider": "openai"})
        assert "OPENAI_API_KEY" in text and "nothing changed" not in text.split("OPENAI")[0]
    assert await snapshot(pool) == before
    async with in_process(
        make_settings(database_url, admin, gemini, openai_api_key="sk-test-0000000000")
    ) as client:
        switched = await call(client, "admin_provider", {"action": "set", "provider": "openai"})
        assert switched["activeProvider"] == "openai"
    row = await pool.fetchrow(
        "select config_data, updated_by from admin_config where config_key = 'app_settings'"
    )
    assert row["config_data"]["activeProvider"] == "openai" and row["updated_by"] == admin
    assert len(await audit_rows(pool, admin)) == 1


# --- logging ----------------------------------------------------------------------------------------


async def test_logging_settings(database_url: str, make_user, gemini: FakeGemini, pool) -> None:
    admin = await make_user("admin")
    async with in_process(make_settings(database_url, admin, gemini)) as client:
        got = await call(client, "admin_logging", {"action": "get"})
        assert got["settings"]["user_activity_logging_enabled"] is False
        changes = [
            {"path": "user_activity_logging_enabled", "value": True},
            {"path": "category_toggles.log_chat_events", "value": False},
            {"path": "performance_settings.sampling_rate", "value": 0.5},
            {"path": "log_retention_days.user_activity_logs", "value": 14},
        ]
        await call(client, "admin_logging", {"action": "set", "changes": changes})
        before = await snapshot(pool)
        for bad, message in (
            ({"path": "log_retention_days.error_logs", "value": 0}, "between 1 and 3650"),
            ({"path": "performance_settings.sampling_rate", "value": 1.5}, "between 0 and 1"),
            ({"path": "error_logging_enabled", "value": "no"}, "must be a boolean"),
            ({"path": "category_toggles.log_everything", "value": True}, "cannot be changed"),
            ({"path": "user_activity_logging_enabled", "value": None}, "cannot be null"),
        ):
            text = await refused(client, "admin_logging", {"action": "set", "changes": [bad]})
            assert message in text, text
        assert await snapshot(pool) == before
    row = await pool.fetchrow(
        "select config_data, updated_by from admin_config where config_key = 'logging_settings'"
    )
    data = row["config_data"]
    assert data["user_activity_logging_enabled"] is True
    assert data["category_toggles"]["log_chat_events"] is False
    assert data["performance_settings"]["sampling_rate"] == 0.5
    assert data["log_retention_days"]["user_activity_logs"] == 14
    assert row["updated_by"] == admin
    assert len(await audit_rows(pool, admin)) == 1


# --- errors -----------------------------------------------------------------------------------------


async def add_error(pool, user, error_type: str, severity: str, *, resolved: bool = False) -> uuid.UUID:
    return await pool.fetchval(
        "insert into error_logs (user_id, error_type, error_category, error_message, severity, resolved) "
        "values ($1, $2, 'test.case', 'it broke', $3, $4) returning id",
        user,
        error_type,
        severity,
        resolved,
    )


async def test_errors_list_and_resolve(database_url: str, make_user, gemini: FakeGemini, pool) -> None:
    admin = await make_user("admin")
    user = await make_user()
    seeded = [
        ("api", "error"),
        ("api", "error"),
        ("api", "critical"),
        ("user", "warning"),
        ("system", "error"),
    ]
    ids = [await add_error(pool, user, t, s) for t, s in seeded]
    await add_error(pool, user, "api", "error", resolved=True)
    async with in_process(make_settings(database_url, admin, gemini)) as client:
        listed = await call(client, "admin_errors", {"action": "list"})
        assert sorted(e["id"] for e in listed["errors"]) == sorted(str(i) for i in ids)
        counts = {(c["severity"], c["errorType"]): c["count"] for c in listed["counts"]}
        expected: dict[tuple[str, str], int] = {}
        for error_type, severity in seeded:
            expected[(severity, error_type)] = expected.get((severity, error_type), 0) + 1
        assert counts == expected
        assert listed["counts"][0]["severity"] == "critical"  # most severe first
        api_errors = await call(
            client, "admin_errors", {"action": "list", "errorType": "api", "severity": "error"}
        )
        assert len(api_errors["errors"]) == 2

        before = await snapshot(pool)
        assert "notes" in await refused(client, "admin_errors", {"action": "resolve", "errorId": str(ids[0])})
        assert "notes" in await refused(
            client, "admin_errors", {"action": "resolve", "errorId": str(ids[0]), "notes": "  "}
        )
        assert "does not exist" in await refused(
            client, "admin_errors", {"action": "resolve", "errorId": str(uuid.uuid4()), "notes": "x"}
        )
        assert await snapshot(pool) == before

        resolved = await call(
            client, "admin_errors", {"action": "resolve", "errorId": str(ids[0]), "notes": "rotated the key"}
        )
        assert resolved["error"]["resolved"] is True
        before = await snapshot(pool)
        assert "resolved already" in await refused(
            client, "admin_errors", {"action": "resolve", "errorId": str(ids[0]), "notes": "again"}
        )
        assert await snapshot(pool) == before
        remaining = await call(client, "admin_errors", {"action": "list"})
        assert str(ids[0]) not in {e["id"] for e in remaining["errors"]}
    row = await pool.fetchrow("select * from error_logs where id = $1", ids[0])
    assert row["resolved"] is True and row["resolved_by"] == admin
    assert row["resolution_notes"] == "rotated the key"
    assert abs(row["resolved_at"] - datetime.utcnow()) < timedelta(minutes=1)
    audit = await audit_rows(pool, admin)
    assert [(r["resource_type"], r["resource_id"]) for r in audit] == [("error_logs", ids[0])]


# --- analytics --------------------------------------------------------------------------------------


def percentile(values: list[int], q: float) -> float:
    """Linear interpolation between closest ranks (what percentile_cont computes)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


async def test_analytics_equal_independent_sums(
    database_url: str, make_user, gemini: FakeGemini, pool
) -> None:
    admin = await make_user("admin")
    users = [await make_user() for _ in range(3)]
    today = datetime.utcnow().replace(hour=12, minute=0, second=0, microsecond=0)
    usage: list[tuple[uuid.UUID, str, str, str, int, int, Decimal, datetime]] = []
    agents = ("document_agent", "python_agent", "mermaid_agent")
    models = (("gemini-2.0-flash", "google"), ("gemini-2.5-pro", "google"), ("gpt-4o", "openai"))
    for i in range(40):
        user = users[i % 3]
        agent = agents[(i * 7) % 3]
        model, provider = models[(i * 5) % 3]
        stamp = today - timedelta(days=i % 4, minutes=i)
        usage.append((user, agent, model, provider, 100 + i, 10 * i, Decimal(f"0.{i:04d}01"), stamp))
    usage.append(
        (
            users[0],
            "document_agent",
            "gemini-2.0-flash",
            "google",
            5,
            5,
            Decimal("9"),
            today - timedelta(days=40),
        )
    )
    await pool.executemany(
        "insert into usage_logs (user_id, agent_type, model_used, provider, input_tokens, output_tokens, "
        "total_tokens, total_cost, request_timestamp) "
        "values ($1, $2, $3, $4, $5, $6, $5::int + $6::int, $7, $8)",
        usage,
    )
    activity = []
    for i in range(30):
        agent = agents[i % 3]
        operation = ("create", "update")[i % 2]
        success = i % 5 != 0
        error_type = None if success else ("ProviderError", "VersionConflict")[i % 2]
        stamp = today - timedelta(days=i % 3)
        activity.append((users[i % 3], agent, operation, 50 + (i * 37) % 400, success, error_type, stamp))
    activity.append((users[0], "document_agent", "create", 99999, False, "Old", today - timedelta(days=60)))
    await pool.executemany(
        "insert into agent_activity_logs (user_id, correlation_id, agent_type, operation_type, "
        "operation_category, operation_metadata, duration_ms, success, error_type, created_at) "
        "values ($1, gen_random_uuid(), $2, 'document_generation', 'generation', "
        "jsonb_build_object('operation', $3::text), $4, $5, $6, $7)",
        activity,
    )
    start, end = (today - timedelta(days=10)).date(), today.date()
    in_range = [u for u in usage if start <= u[7].date() <= end]
    in_range_activity = [a for a in activity if start <= a[6].date() <= end]

    async with in_process(make_settings(database_url, admin, gemini)) as client:
        out = await call(
            client,
            "admin_analytics",
            {"startDate": start.isoformat(), "endDate": end.isoformat(), "limit": 2},
        )

    def sums(rows: list[tuple[Any, ...]]) -> dict[str, Any]:
        return {
            "calls": len(rows),
            "inputTokens": sum(r[4] for r in rows),
            "outputTokens": sum(r[5] for r in rows),
            "totalTokens": sum(r[4] + r[5] for r in rows),
            "cost": float(sum((r[6] for r in rows), Decimal(0))),
        }

    by_day: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
    for u in in_range:
        by_day.setdefault((u[7].date().isoformat(), u[1]), []).append(u)
    assert {(r["day"], r["agentType"]): {k: r[k] for k in sums([])} for r in out["usageByDay"]} == {
        key: sums(rows) for key, rows in by_day.items()
    }
    by_model: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
    for u in in_range:
        by_model.setdefault((u[2], u[3]), []).append(u)
    assert {(r["model"], r["provider"]): {k: r[k] for k in sums([])} for r in out["byModel"]} == {
        key: sums(rows) for key, rows in by_model.items()
    }
    per_user = {user: sums([u for u in in_range if u[0] == user]) for user in users}
    top = sorted(per_user.items(), key=lambda item: -item[1]["cost"])[:2]
    assert [(r["userId"], r["cost"]) for r in out["topUsers"]] == [(str(u), s["cost"]) for u, s in top]
    failures: dict[tuple[str, str], int] = {}
    for a in in_range_activity:
        if not a[4]:
            failures[(a[1], a[5])] = failures.get((a[1], a[5]), 0) + 1
    assert {(r["agentType"], r["errorType"]): r["failures"] for r in out["failures"]} == failures
    durations: dict[tuple[str, str], list[int]] = {}
    for a in in_range_activity:
        durations.setdefault((a[1], a[2]), []).append(a[3])
    got = {(r["agentType"], r["operation"]): (r["calls"], r["p50Ms"], r["p95Ms"]) for r in out["durations"]}
    assert got.keys() == durations.keys()
    for key, values in durations.items():
        calls, p50, p95 = got[key]
        assert calls == len(values)
        assert p50 == pytest.approx(percentile(values, 0.5))
        assert p95 == pytest.approx(percentile(values, 0.95))
    assert out["startDate"] == start.isoformat() and out["endDate"] == end.isoformat()


async def test_analytics_refuses_a_backwards_range(database_url: str, make_user, gemini: FakeGemini) -> None:
    admin = await make_user("admin")
    async with in_process(make_settings(database_url, admin, gemini)) as client:
        text = await refused(
            client, "admin_analytics", {"startDate": date(2026, 5, 2).isoformat(), "endDate": "2026-05-01"}
        )
    assert "startDate must not be after endDate" in text
