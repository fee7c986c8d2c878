"""Admin tools across processes and transports: a change made through a tool reaches another server
process's catalog within a second; over HTTP only the token's app_metadata makes an admin; the audit trail
of tool calls and artifact reads."""

from __future__ import annotations

import time
import uuid
from typing import Any

import anyio
import jwt
import pytest
from artificer.server.admin import TOOLS
from fakes.gemini import FakeGemini
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp_harness import JWT_SECRET, doc_turn, in_process, make_settings, server_env
from test_admin import call, outcome
from test_hot_reload import wait_for_listener
from test_transports import ARTIFICER, http_client, running_http

pytestmark = pytest.mark.anyio

ADMIN_NAMES = sorted(t.name for t in TOOLS)


def token(user: uuid.UUID, **claims: Any) -> str:
    now = int(time.time())
    body = {"sub": str(user), "aud": "authenticated", "role": "authenticated", "iat": now, "exp": now + 600}
    body.update(claims)
    return jwt.encode(body, JWT_SECRET, algorithm="HS256")


def document_tool(tools: Any) -> Any:
    return next((t for t in tools.tools if t.name == "document_agent"), None)


async def test_every_change_reaches_another_process_within_a_second(
    database_url: str, make_user, gemini: FakeGemini, pool
) -> None:
    user = await make_user()
    admin = await make_user("admin")
    changed = anyio.Event()

    async def on_message(message: Any) -> None:
        if getattr(getattr(message, "root", message), "method", None) == "notifications/tools/list_changed":
            changed.set()

    params = StdioServerParameters(
        command=ARTIFICER, args=["serve"], env=server_env(database_url, user, gemini)
    )
    async with Client(params, mode="legacy", message_handler=on_message, read_timeout_seconds=30) as other:
        tool = document_tool(await other.list_tools())
        assert "suggest" in tool.input_schema["properties"]["operation"]["enum"]
        await wait_for_listener(pool, since=None)  # the other process listens (the only server so far)
        settings = make_settings(database_url, admin, gemini, openai_api_key="sk-test-0000000000")
        async with in_process(settings) as client:

            async def change(name: str, arguments: dict[str, Any]) -> Any:
                nonlocal changed
                changed = anyio.Event()
                await call(client, name, arguments)
                with anyio.fail_after(1.0):
                    await changed.wait()
                return await other.list_tools(cache_mode="bypass")

            tools = await change(
                "admin_agents",
                {
                    "action": "set",
                    "agent": "document_agent",
                    "changes": [{"path": "tools.suggestion.enabled", "value": False}],
                },
            )
            assert document_tool(tools).input_schema["properties"]["operation"]["enum"] == [
                "create",
                "update",
                "revert",
                "accept_suggestion",
                "reject_suggestion",
            ]
            tools = await change(
                "admin_agents",
                {
                    "action": "set",
                    "agent": "chat_model_agent",
                    "changes": [{"path": "tools.documentAgent.description", "value": "Makes documents."}],
                },
            )
            assert document_tool(tools).description.startswith("Makes documents.")
            tools = await change(
                "admin_models", {"action": "update", "modelId": "gemini-2.5-pro", "active": False}
            )
            assert "gemini-2.5-pro" not in document_tool(tools).input_schema["properties"]["model"]["enum"]
            tools = await change(
                "admin_models",
                {
                    "action": "add",
                    "modelId": "gemini-next",
                    "provider": "google",
                    "name": "Next",
                    "inputPrice": 1,
                    "outputPrice": 2,
                },
            )
            assert "gemini-next" in document_tool(tools).input_schema["properties"]["model"]["enum"]
            tools = await change("admin_models", {"action": "make_default", "modelId": "gemini-next"})
            model = document_tool(tools).input_schema["properties"]["model"]
            assert model["enum"][0] == "gemini-next" and "(gemini-next)" in model["description"]
            tools = await change(
                "admin_agents",
                {
                    "action": "set",
                    "agent": "document_agent",
                    "changes": [{"path": "enabled", "value": False}],
                },
            )
            assert document_tool(tools) is None
            tools = await change(
                "admin_agents",
                {"action": "set", "agent": "document_agent", "changes": [{"path": "enabled", "value": True}]},
            )
            assert document_tool(tools) is not None
            tools = await change("admin_provider", {"action": "set", "provider": "openai"})
            assert document_tool(tools) is None  # the openai agent rows are seeded disabled
            assert [t.name for t in tools.tools] == ["artifacts", "usage"]


async def test_over_http_only_app_metadata_makes_an_admin(
    database_url: str, make_user, gemini: FakeGemini, pool
) -> None:
    user = await make_user()
    admin = await make_user("admin")
    settings = make_settings(database_url, None, gemini)
    configs = await pool.fetch("select config_key, config_data, updated_at from admin_config order by 1")
    async with running_http(settings) as base:
        forged = token(user, user_metadata={"role": "admin"}, app_metadata={"role": "user"})
        async with http_client(base, forged, mode="legacy") as client:
            names = [t.name for t in (await client.list_tools()).tools]
            assert not [n for n in names if n.startswith("admin_")]
            unknown = await outcome(client, "admin_nothing", {"action": "list"})
            assert "<name>" in unknown[-1]  # the unknown-tool answer names the tool
            for name in ADMIN_NAMES:
                assert await outcome(client, name, {"action": "list"}) == unknown
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
        async with http_client(base, token(admin, app_metadata={"role": "admin"}), mode="auto") as client:
            names = [t.name for t in (await client.list_tools()).tools]
            assert sorted(n for n in names if n.startswith("admin_")) == ADMIN_NAMES
            listed = await call(client, "admin_agents", {"action": "list"})
            assert any(a["key"] == "document_agent_google" for a in listed["agents"])
    assert (
        await pool.fetch("select config_key, config_data, updated_at from admin_config order by 1") == configs
    )
    assert await pool.fetchval("select count(*) from user_activity_logs") == 0


@pytest.mark.parametrize("logging_on", [True, False])
async def test_calls_and_reads_leave_linked_audit_rows(
    database_url: str, make_user, gemini: FakeGemini, pool, logging_on: bool
) -> None:
    user = await make_user()
    admin = await make_user("admin")
    if logging_on:
        await pool.execute(
            "update admin_config set config_data = config_data || $1 where config_key = 'logging_settings'",
            {"user_activity_logging_enabled": True},
        )
    gemini.script(doc_turn())
    async with in_process(make_settings(database_url, user, gemini)) as client:
        created = await client.call_tool("document_agent", {"operation": "create", "instruction": "Notes"})
        assert not created.is_error, created.content
        doc_id = uuid.UUID(created.structured_content["id"])
        read = await client.read_resource(f"artifact://{doc_id}")
        assert read.contents
        listed = await client.call_tool("artifacts", {"action": "list"})
        assert not listed.is_error
    # the server has closed: its log writer flushed everything queued
    activity = await pool.fetch("select * from agent_activity_logs where user_id = $1", user)
    assert len(activity) == 1
    rows = await pool.fetch("select * from user_activity_logs where user_id = $1 order by created_at", user)
    if not logging_on:
        assert rows == []
        return
    assert [r["activity_type"] for r in rows] == ["document_create", "document_view", "history_access"]
    create, view, history = rows
    assert create["correlation_id"] == activity[0]["correlation_id"]
    assert create["resource_id"] == doc_id == activity[0]["resource_id"]
    assert create["resource_type"] == "document" and create["activity_category"] == "document"
    assert create["activity_metadata"]["operation"] == "create"
    assert view["resource_id"] == doc_id and view["resource_type"] == "document"
    assert history["activity_category"] == "history"
    assert len({r["correlation_id"] for r in rows}) == 3

    async with in_process(make_settings(database_url, admin, gemini)) as client:
        trail = await call(client, "admin_audit", {"userId": str(user)})
        assert {e["id"] for e in trail["entries"]} == {str(r["id"]) for r in rows}
        creates = await call(client, "admin_audit", {"userId": str(user), "activityType": "document_create"})
        assert [e["correlationId"] for e in creates["entries"]] == [str(activity[0]["correlation_id"])]
        nobody = await call(client, "admin_audit", {"userId": str(admin)})
        assert nobody["entries"] == []
