"""The server over its real transports: stdio subprocess, Streamable HTTP (both protocol eras)."""

from __future__ import annotations

import shutil
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
import uvicorn
from artificer.server.app import http_app
from artificer.server.identity import make_hs256_token
from fakes.gemini import FakeGemini
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_harness import JWT_SECRET, doc_turn, make_settings, server_env

pytestmark = pytest.mark.anyio

ARTIFICER = shutil.which("artificer") or str(Path(__file__).resolve().parents[2] / ".venv/bin/artificer")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def running_http(settings) -> AsyncIterator[str]:
    port = free_port()
    settings = settings.model_copy(update={"http_port": port})
    config = uvicorn.Config(http_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(20):
            while not server.started:  # noqa: ASYNC110 — uvicorn exposes a flag, not an event
                await anyio.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True


def http_client(base: str, token: str | None, **options) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    http = httpx2.AsyncClient(headers=headers, timeout=30)
    transport = streamable_http_client(f"{base}/mcp", http_client=http)
    return Client(transport, **options)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_stdio_subprocess(database_url: str, make_user, gemini: FakeGemini, mode: str) -> None:
    user = await make_user()
    gemini.script(doc_turn(["# Notes\n", "\nFirst ", "point."]))
    env = server_env(database_url, user, gemini)
    params = StdioServerParameters(command=ARTIFICER, args=["serve"], env=env)
    progress: list[float] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(done)

    async with Client(params, mode=mode, read_timeout_seconds=30) as client:
        if mode == "legacy":
            assert client.server_capabilities.tools is not None
            assert client.server_capabilities.tools.list_changed is True
        names = [t.name for t in (await client.list_tools()).tools]
        assert names[0] == "document_agent" and "artifacts" in names and "usage" in names
        result = await client.call_tool(
            "document_agent", {"operation": "create", "instruction": "Notes"}, progress_callback=on_progress
        )
        assert not result.is_error, result.content
        assert result.structured_content["content"] == "# Notes\n\nFirst point."
        links = [c for c in result.content if c.type == "resource_link"]
        assert links and str(links[0].uri) == f"artifact://{result.structured_content['id']}/v/1"
        assert progress, "no progress notification reached the client"
        read = await client.read_resource(f"artifact://{result.structured_content['id']}")
        assert read.contents[0].text == "# Notes\n\nFirst point."


async def test_stdio_without_user_fails_clearly(database_url: str, gemini: FakeGemini) -> None:
    env = server_env(database_url, uuid.uuid4(), gemini)
    del env["ARTIFICER_USER_ID"]
    result = await anyio.run_process([ARTIFICER, "serve"], env=env, check=False, input=b"")
    assert result.returncode == 2
    assert b"ARTIFICER_USER_ID" in result.stderr
    assert b"Traceback" not in result.stderr


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_streamable_http_with_jwt(database_url: str, make_user, gemini: FakeGemini, mode: str) -> None:
    user = await make_user()
    other = await make_user()
    settings = make_settings(database_url, None, gemini)
    gemini.script(doc_turn(["# Web\n", "\nServed over HTTP."]))
    async with running_http(settings) as base:
        async with httpx2.AsyncClient() as plain:
            health = await plain.get(f"{base}/health")
            assert health.status_code == 200 and health.json()["status"] == "ok"
            ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
            unauthenticated = await plain.post(f"{base}/mcp", json=ping)
            assert unauthenticated.status_code == 401
        progress: list[float] = []

        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            progress.append(done)

        async with http_client(base, make_hs256_token(JWT_SECRET, user), mode=mode) as client:
            result = await client.call_tool(
                "document_agent", {"operation": "create", "instruction": "Web"}, progress_callback=on_progress
            )
            assert not result.is_error, result.content
            doc_id = result.structured_content["id"]
            assert progress
        # another user cannot see it
        async with http_client(base, make_hs256_token(JWT_SECRET, other), mode=mode) as client:
            listed = await client.call_tool("artifacts", {"action": "list"})
            assert listed.structured_content["artifacts"] == []
            read = await client.call_tool("artifacts", {"action": "read", "documentId": doc_id})
            assert read.is_error and "not found" in read.content[0].text
        # a user the database does not know gets a clear tool error, and nothing runs
        stranger = uuid.uuid4()
        async with http_client(base, make_hs256_token(JWT_SECRET, stranger), mode=mode) as client:
            unknown = await client.call_tool("document_agent", {"operation": "create", "instruction": "x"})
            assert unknown.is_error
            assert "your account is not known to this server" in unknown.content[0].text
            assert "auth.users" not in unknown.content[0].text.split("(")[0]
            assert "asyncpg" not in unknown.content[0].text
        # a token signed with another secret is refused with 401 invalid_token, before any MCP handling
        async with httpx2.AsyncClient() as plain:
            initialize = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "t", "version": "0"},
                },
            }
            forged = await plain.post(
                f"{base}/mcp",
                json=initialize,
                headers={
                    "Authorization": f"Bearer {make_hs256_token('x' * 40, user)}",
                    "Accept": "application/json, text/event-stream",
                },
            )
            assert forged.status_code == 401
            assert 'error="invalid_token"' in forged.headers["www-authenticate"]
        with pytest.raises(BaseException) as refused:
            async with http_client(base, make_hs256_token("x" * 40, user), mode=mode) as client:
                await client.list_tools()
        assert (
            refused.group_contains(MCPError)
            if isinstance(refused.value, BaseExceptionGroup)
            else (isinstance(refused.value, MCPError))
        )
    assert len(gemini.model_requests()) == 1, "the unknown user's call must not reach the model"
