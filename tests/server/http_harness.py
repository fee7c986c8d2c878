"""An in-process uvicorn running `http_app` on 127.0.0.1, and raw HTTP requests against `/mcp`."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import uvicorn
from artificer.common.settings import Settings
from artificer.server.app import http_app
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"},
    },
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def running_http(settings: Settings, **app_options: Any) -> AsyncIterator[str]:
    """`http_app(settings)` served on a free loopback port; its base URL. Stops on exit."""
    port = free_port()
    settings = settings.model_copy(update={"http_port": port})
    config = uvicorn.Config(
        http_app(settings, **app_options), host="127.0.0.1", port=port, log_level="warning"
    )
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


async def initialize_status(base: str, token: str) -> int:
    """HTTP status of an `initialize` POST to /mcp carrying `token` as its bearer."""
    async with httpx2.AsyncClient(timeout=30) as plain:
        reply = await plain.post(
            f"{base}/mcp",
            json=INITIALIZE,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"},
        )
        if reply.status_code == 401:
            assert 'error="invalid_token"' in reply.headers["www-authenticate"]
        return reply.status_code


def http_client(base: str, token: str | None, **options: Any) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    http = httpx2.AsyncClient(headers=headers, timeout=30)
    transport = streamable_http_client(f"{base}/mcp", http_client=http)
    return Client(transport, **options)
