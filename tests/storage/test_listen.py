"""`storage.listen`: the callback runs once LISTEN is in place, after notifications, after a reconnect."""

from __future__ import annotations

import anyio
import asyncpg
import pytest
from artificer.storage.listen import listen

pytestmark = pytest.mark.anyio

CHANNEL = "artificer_test_channel"
NAME = "artificer-test-listener"


async def test_calls_after_listen_after_notify_and_after_reconnect(
    database_url: str, pool: asyncpg.Pool
) -> None:
    calls = 0
    called = anyio.Event()

    async def on_change() -> None:
        nonlocal calls, called
        calls += 1
        called.set()
        called = anyio.Event()

    async def wait(event: anyio.Event) -> None:
        with anyio.fail_after(5):
            await event.wait()

    async with anyio.create_task_group() as tg:
        tg.start_soon(
            lambda: listen(database_url, CHANNEL, on_change, application_name=NAME, reconnect_delays=(0.05,))
        )
        await wait(called)  # once LISTEN is in place, before any notification
        assert calls == 1
        waiting = called
        await pool.execute("select pg_notify($1, 'changed')", CHANNEL)
        await wait(waiting)
        assert calls == 2

        waiting = called
        killed = await pool.fetchval(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity "
            "where datname = current_database() and application_name = $1",
            NAME,
        )
        assert killed == 1
        await wait(waiting)  # reconnected: called again once it listens, without any notification
        assert calls == 3
        waiting = called
        await pool.execute("select pg_notify($1, 'changed')", CHANNEL)
        await wait(waiting)  # and it listens again
        assert calls == 4
        tg.cancel_scope.cancel()
    with anyio.fail_after(5):  # cancelling closes the connection (its backend then exits)
        while await pool.fetchval(  # noqa: ASYNC110 — no event: the backend exits on its own
            "select count(*) from pg_stat_activity "
            "where datname = current_database() and application_name = $1",
            NAME,
        ):
            await anyio.sleep(0.02)
