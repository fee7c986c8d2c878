"""The whole server on a pool of ONE connection leaves no session-level state on it.

`keep_session` skips asyncpg's reset query on release; this is the guard of its claim over the server's
real paths (tool calls that succeed and fail, the read-only tools, resources, the log writer, the catalog).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from artificer.server.app import build_server
from artificer.storage.database import DatabaseTarget
from asyncpg.pool import Pool
from fakes.gemini import FakeGemini  # type: ignore[import-not-found]
from fakes.llm import Failure  # type: ignore[import-not-found]
from mcp.client import Client
from mcp_harness import doc_turn, make_settings  # type: ignore[import-not-found]
from session_state import session_leftovers  # type: ignore[import-not-found]

pytestmark = pytest.mark.anyio


@dataclass(repr=False)
class RecordingTarget(DatabaseTarget):
    """The test database, keeping the pools the server makes so the test can look at their connection."""

    pools: list[Pool] = field(default_factory=list)

    async def create_pool(self, *, min_size: int = 1, max_size: int = 10) -> Pool:
        pool = await super().create_pool(min_size=min_size, max_size=max_size)
        self.pools.append(pool)
        return pool


async def test_the_server_leaves_no_session_state_on_its_pooled_connection(
    database_url: str, make_user, gemini: FakeGemini
) -> None:
    user = await make_user()
    settings = make_settings(database_url, user, gemini, pool_min_size=1, pool_max_size=1)
    target = RecordingTarget(dsn=database_url, location="the test database")
    gemini.script(doc_turn("# Plan\n\nStep one."), doc_turn("# Plan\n\nStep two."), Failure(status=400))
    async with Client(build_server(settings, target=target)) as client:
        (pool,) = target.pools
        async with pool.acquire() as conn:
            pid = await conn.fetchval("select pg_backend_pid()")
        await client.list_tools()
        created = await client.call_tool("document_agent", {"operation": "create", "instruction": "Plan"})
        assert not created.is_error, created.content
        doc_id = created.structured_content["id"]
        updated = await client.call_tool(
            "document_agent", {"operation": "update", "documentId": doc_id, "instruction": "two"}
        )
        assert not updated.is_error, updated.content
        failed = await client.call_tool("document_agent", {"operation": "create", "instruction": "fails"})
        assert failed.is_error
        refused = await client.call_tool("document_agent", {"operation": "suggest", "documentId": str(user)})
        assert refused.is_error
        assert not (await client.call_tool("artifacts", {"action": "list"})).is_error
        assert not (await client.call_tool("artifacts", {"action": "read", "documentId": doc_id})).is_error
        assert not (await client.call_tool("usage", {})).is_error
        await client.read_resource(f"artifact://{doc_id}")
        async with pool.acquire() as conn:
            assert await conn.fetchval("select pg_backend_pid()") == pid, "the pool replaced its connection"
            assert await session_leftovers(conn) == []
    assert len(gemini.model_requests()) == 3
