"""admin_config / model_config changes reach running servers within a second (LISTEN/NOTIFY)."""

from __future__ import annotations

import time
from datetime import datetime

import anyio
import pytest
from artificer.server import resources
from artificer.server.app import AGENTS, build_server
from artificer.server.catalog import LISTEN_APPLICATION_NAME, CatalogService, load_catalog
from artificer.server.identity import make_hs256_token
from fakes.gemini import FakeGemini
from mcp.client import Client
from mcp_harness import JWT_SECRET, make_settings
from test_transports import http_client, running_http

pytestmark = pytest.mark.anyio
WITHOUT_SUGGEST = ["create", "update", "revert", "accept_suggestion", "reject_suggestion"]
"""The document agent's operations once `tools.suggestion` is disabled."""

DISABLE_SUGGESTION = (
    "update admin_config set config_data = jsonb_set(config_data, '{tools,suggestion,enabled}', 'false') "
    "where config_key = 'document_agent_google'"
)


def operations(tools) -> list[str]:
    tool = next(t for t in tools.tools if t.name == "document_agent")
    return tool.input_schema["properties"]["operation"]["enum"]


async def test_handshake_client_gets_list_changed(
    database_url: str, make_user, gemini: FakeGemini, pool
) -> None:
    user = await make_user()
    changed = anyio.Event()

    async def on_message(message) -> None:
        if getattr(getattr(message, "root", message), "method", None) == "notifications/tools/list_changed":
            changed.set()

    settings = make_settings(database_url, user, gemini)
    async with Client(build_server(settings), mode="legacy", message_handler=on_message) as client:
        assert "suggest" in operations(await client.list_tools())
        started = time.perf_counter()
        await pool.execute(DISABLE_SUGGESTION)
        with anyio.fail_after(1.0):
            await changed.wait()
        elapsed = time.perf_counter() - started
        assert operations(await client.list_tools()) == WITHOUT_SUGGEST
        refused = await client.call_tool("document_agent", {"operation": "suggest", "documentId": str(user)})
        assert refused.is_error and "disabled" in refused.content[0].text
        print(f"list_changed after {elapsed * 1000:.0f} ms")

        # disabling the whole agent removes the tool, and a call says why
        changed = anyio.Event()
        await pool.execute(
            "update admin_config set config_data = jsonb_set(config_data, '{enabled}', 'false') "
            "where config_key = 'document_agent_google'"
        )
        with anyio.fail_after(1.0):
            await changed.wait()
        names = [t.name for t in (await client.list_tools()).tools]
        assert "document_agent" not in names
        refused = await client.call_tool("document_agent", {"operation": "create", "instruction": "x"})
        assert refused.is_error and "disabled" in refused.content[0].text


async def test_model_config_change_updates_model_enum(database_url: str, make_user, gemini, pool) -> None:
    user = await make_user()
    changed = anyio.Event()

    async def on_message(message) -> None:
        if getattr(getattr(message, "root", message), "method", None) == "notifications/tools/list_changed":
            changed.set()

    settings = make_settings(database_url, user, gemini)
    async with Client(build_server(settings), mode="legacy", message_handler=on_message) as client:
        tool = next(t for t in (await client.list_tools()).tools if t.name == "document_agent")
        before = tool.input_schema["properties"]["model"]["enum"]
        assert "gemini-2.5-pro" in before
        await pool.execute("update model_config set is_active = false where model_id = 'gemini-2.5-pro'")
        with anyio.fail_after(1.0):
            await changed.wait()
        tool = next(t for t in (await client.list_tools()).tools if t.name == "document_agent")
        assert "gemini-2.5-pro" not in tool.input_schema["properties"]["model"]["enum"]
        refused = await client.call_tool(
            "document_agent", {"operation": "create", "instruction": "x", "model": "gemini-2.5-pro"}
        )
        assert refused.is_error and "gemini-2.5-pro" in refused.content[0].text


async def test_modern_client_gets_listen_event(
    database_url: str, make_user, gemini: FakeGemini, pool
) -> None:
    user = await make_user()
    settings = make_settings(database_url, None, gemini)
    token = make_hs256_token(JWT_SECRET, user)
    async with running_http(settings) as base, http_client(base, token, mode="auto") as client:
        assert client.protocol_version == "2026-07-28"
        async with client.listen(tools_list_changed=True) as subscription:
            await pool.execute(DISABLE_SUGGESTION)
            with anyio.fail_after(1.0):
                async for _event in subscription:
                    break
            assert operations(await client.list_tools(cache_mode="bypass")) == WITHOUT_SUGGEST


async def wait_for_listener(pool, *, since: datetime | None) -> None:
    """Until the server's LISTEN connection (one that started after `since`) is in pg_stat_activity."""
    with anyio.fail_after(5.0):
        while not await pool.fetchval(  # noqa: ASYNC110 — no event: the server connects on its own
            "select count(*) from pg_stat_activity where datname = current_database() "
            "and application_name = $1 and ($2::timestamptz is null or backend_start > $2)",
            LISTEN_APPLICATION_NAME,
            since,
        ):
            await anyio.sleep(0.02)


async def test_listen_reconnects_after_connection_loss(database_url: str, make_user, gemini, pool) -> None:
    user = await make_user()
    changed = anyio.Event()

    async def on_message(message) -> None:
        if getattr(getattr(message, "root", message), "method", None) == "notifications/tools/list_changed":
            changed.set()

    settings = make_settings(database_url, user, gemini)
    async with Client(build_server(settings), mode="legacy", message_handler=on_message) as client:
        # the server opens its LISTEN connection in the background once it serves
        await wait_for_listener(pool, since=None)
        # kill the server's LISTEN connection, as a database restart would
        killed_at = await pool.fetchval("select clock_timestamp()")
        killed = await pool.fetchval(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity "
            "where datname = current_database() and application_name = $1",
            LISTEN_APPLICATION_NAME,
        )
        assert killed >= 1
        await wait_for_listener(pool, since=killed_at)  # back: a new connection (the catalog LISTENs on it)
        await pool.execute(DISABLE_SUGGESTION)
        with anyio.fail_after(3.0):
            await changed.wait()
        assert operations(await client.list_tools()) == WITHOUT_SUGGEST


async def test_handshake_http_session_gets_list_changed(database_url: str, make_user, gemini, pool) -> None:
    user = await make_user()
    changed = anyio.Event()

    async def on_message(message) -> None:
        if getattr(getattr(message, "root", message), "method", None) == "notifications/tools/list_changed":
            changed.set()

    settings = make_settings(database_url, None, gemini)
    token = make_hs256_token(JWT_SECRET, user)
    async with (
        running_http(settings) as base,
        http_client(base, token, mode="legacy", message_handler=on_message) as client,
    ):
        assert client.server_capabilities.tools.list_changed is True
        assert "suggest" in operations(await client.list_tools())
        await pool.execute(DISABLE_SUGGESTION)
        with anyio.fail_after(1.0):
            await changed.wait()
        assert operations(await client.list_tools()) == WITHOUT_SUGGEST


async def test_a_change_between_startup_load_and_listen_is_not_missed(
    database_url: str, gemini: FakeGemini, pool
) -> None:
    settings = make_settings(database_url, None, gemini)
    service = CatalogService(
        loader=lambda: load_catalog(pool, settings, AGENTS, extra_tools=resources.READ_ONLY_TOOLS),
        listen_dsn=database_url,
    )
    first = await service.reload()
    assert "suggest" in [op.name for op in first.agents["document_agent"].enabled_operations]
    await pool.execute(DISABLE_SUGGESTION)  # its NOTIFY goes out while nobody listens yet
    async with anyio.create_task_group() as tg:
        tg.start_soon(service.run)
        with anyio.fail_after(10):
            await service.listening.wait()
        enabled = [op.name for op in service.get().agents["document_agent"].enabled_operations]
        tg.cancel_scope.cancel()
    assert "suggest" not in enabled, enabled
