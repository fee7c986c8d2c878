"""Faults under real transports: the database going away and coming back, a provider that hangs, a client
that leaves mid-call, an exhausted pool. The server stays up and says what happened; nothing half-done is
saved. Every wait is bounded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import anyio
import asyncpg
import httpx2
import pytest
from artificer.server.identity import make_hs256_token
from fakes.gemini import FakeGemini
from fakes.llm import Turn
from http_harness import http_client, running_http
from mcp_harness import JWT_SECRET, doc_turn, in_process, make_settings

pytestmark = pytest.mark.anyio


def text_of(result: Any) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


async def until(condition: Any, seconds: float = 15.0) -> None:
    """Poll an awaitable-returning `condition()` until it is true, at most `seconds`."""
    with anyio.fail_after(seconds):
        while not await condition():  # noqa: ASYNC110 — a database row or a fake's record, no event
            await anyio.sleep(0.05)


@asynccontextmanager
async def admin_connection(url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(url)
    try:
        yield conn
    finally:
        await conn.close()


async def test_database_outage_during_calls_then_recovery(
    database_url: str, pg_admin_url: str, pool: asyncpg.Pool, make_user, gemini: FakeGemini
) -> None:
    """The database refuses connections and drops every open one while a call waits for the model: that
    call, and every call during the outage, fails with "temporarily unavailable"; the server stays up and
    the same client's calls succeed once the database is back."""
    user = await make_user()
    name = urlsplit(database_url).path.lstrip("/")
    settings = make_settings(database_url, None, gemini)
    async with (
        admin_connection(pg_admin_url) as admin,
        running_http(settings) as base,
        http_client(base, make_hs256_token(JWT_SECRET, user)) as client,
    ):
        gemini.script(doc_turn("# Before\n\nthe outage"))
        before = await client.call_tool("document_agent", {"operation": "create", "instruction": "x"})
        assert not before.is_error, before.content
        gemini.script(Turn(text="# During\n\nthe outage", delay=1.5))
        in_flight: list[Any] = []
        try:
            async with anyio.create_task_group() as tg:

                async def call() -> None:
                    args = {"operation": "create", "instruction": "y"}
                    in_flight.append(await client.call_tool("document_agent", args))

                tg.start_soon(call)

                async def model_reached() -> bool:
                    return len(gemini.model_requests()) == 2

                await until(model_reached)
                await admin.execute(f'alter database "{name}" with allow_connections false')
                await admin.execute(
                    "select pg_terminate_backend(pid) from pg_stat_activity"
                    " where datname = $1 and pid <> pg_backend_pid()",
                    name,
                )
            assert in_flight[0].is_error
            assert "temporarily unavailable" in text_of(in_flight[0]), in_flight[0].content
            for tool, args in (
                ("artifacts", {"action": "list"}),
                ("usage", {}),
                ("document_agent", {"operation": "create", "instruction": "z"}),
            ):
                refused = await client.call_tool(tool, args)
                assert refused.is_error and "temporarily unavailable" in text_of(refused), refused.content
            async with httpx2.AsyncClient() as plain:
                assert (await plain.get(f"{base}/health")).status_code == 200
        finally:
            await admin.execute(f'alter database "{name}" with allow_connections true')
        gemini.script(doc_turn("# After\n\nthe outage"))
        after = await client.call_tool("document_agent", {"operation": "create", "instruction": "w"})
        assert not after.is_error, after.content
        listed = await client.call_tool("artifacts", {"action": "list"})
        assert not listed.is_error, listed.content
        titles = sorted(a["title"] for a in listed.structured_content["artifacts"])
        assert titles == ["w", "x"], titles  # the call cut by the outage ("y") saved nothing
    assert len(gemini.model_requests()) == 3, "no model call may start while the database is away"


async def test_a_hanging_provider_times_out_with_a_clear_error(
    database_url: str, pool: asyncpg.Pool, make_user, gemini: FakeGemini
) -> None:
    user = await make_user()
    settings = make_settings(database_url, user, gemini, provider_timeout_seconds=1.0)
    gemini.script(Turn(text=["# Hangs\n", "never sent"], input_tokens=17, hang=True))
    async with in_process(settings) as client:
        with anyio.fail_after(15):
            result = await client.call_tool("document_agent", {"operation": "create", "instruction": "x"})
    assert result.is_error
    message = text_of(result)
    assert "timed out" in message and "ARTIFICER_PROVIDER_TIMEOUT" in message, message
    assert await pool.fetchval('select count(*) from "Document"') == 0

    async def logged() -> bool:
        return bool(await pool.fetchval("select count(*) from agent_activity_logs where user_id = $1", user))

    await until(logged)
    usage = await pool.fetch("select input_tokens, output_tokens from usage_logs where user_id = $1", user)
    assert len(usage) == 1 and usage[0]["input_tokens"] == 17, usage  # the partial answer is billed


async def test_a_client_that_leaves_mid_call_gets_no_version_written(
    database_url: str, pool: asyncpg.Pool, make_user, gemini: FakeGemini
) -> None:
    """The client disconnects while the model is still answering; the answer then arrives complete. The
    server must not save a version nobody asked for any more."""
    user = await make_user()
    settings = make_settings(database_url, None, gemini)
    gemini.script(Turn(text=["# Left\n", "\nbehind"], delay=1.0))
    async with running_http(settings) as base:
        async with anyio.create_task_group() as tg:

            async def call() -> None:
                async with http_client(base, make_hs256_token(JWT_SECRET, user)) as client:
                    await client.call_tool("document_agent", {"operation": "create", "instruction": "x"})

            tg.start_soon(call)

            async def model_reached() -> bool:
                return len(gemini.model_requests()) == 1

            await until(model_reached)
            tg.cancel_scope.cancel()  # the client goes away: its HTTP connections close

        async def finished() -> bool:
            return bool(
                await pool.fetchval("select count(*) from agent_activity_logs where user_id = $1", user)
            )

        await until(finished)
    assert await pool.fetchval('select count(*) from "Document"') == 0


async def test_an_exhausted_pool_answers_busy_instead_of_hanging(
    database_url: str, pool: asyncpg.Pool, make_user, gemini: FakeGemini
) -> None:
    """ARTIFICER_POOL_MAX_SIZE=1, its one connection held by a call blocked on a lock: a second call
    fails within the acquire timeout with "temporarily unavailable"; once the lock goes, both work."""
    user = await make_user()
    settings = make_settings(
        database_url, user, gemini, pool_min_size=1, pool_max_size=1, pool_acquire_timeout_seconds=0.5
    )
    async with in_process(settings) as client, admin_connection(database_url) as locker:
        first = await client.call_tool("usage", {})
        assert not first.is_error, first.content
        tx = locker.transaction()
        await tx.start()
        await locker.execute('lock table "Document" in access exclusive mode')
        held: list[Any] = []
        try:
            async with anyio.create_task_group() as tg:

                async def blocked() -> None:
                    held.append(await client.call_tool("artifacts", {"action": "list"}))

                tg.start_soon(blocked)

                async def waiting_on_lock() -> bool:
                    return bool(
                        await pool.fetchval(
                            "select count(*) from pg_locks l join pg_class c on c.oid = l.relation"
                            " where c.relname = 'Document' and not l.granted"
                        )
                    )

                await until(waiting_on_lock)
                with anyio.fail_after(10):
                    busy = await client.call_tool("usage", {})
                assert busy.is_error and "temporarily unavailable" in text_of(busy), busy.content
                await tx.rollback()
        finally:
            if locker.is_in_transaction():
                await tx.rollback()
        assert held and not held[0].is_error, held
        again = await client.call_tool("usage", {})
        assert not again.is_error, again.content
