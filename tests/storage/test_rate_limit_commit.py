"""rate_limits.check_and_count commits its own transaction without waiting for the WAL flush, and never
changes the commit mode of a transaction it is called inside.

What a transaction commits with is read AT its commit: a deferred constraint trigger on the counter table
records `synchronous_commit` as it stands when the transaction commits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg
import pytest
from artificer.storage import rate_limits
from artificer.storage.database import connect

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 1, 1, 12, 0, 30)  # mid-minute, whatever the clock says
SYNC_ON = {"synchronous_commit": "on"}
LIMITS = dict(agent_type="document_agent", per_minute=2, per_hour=None, per_day=None, now=NOW)

RECORD_COMMIT_MODE = """
create table public.test_commit_modes (seq bigserial primary key, mode text not null);
create function public.test_record_commit_mode() returns trigger language plpgsql as $$
begin
    insert into public.test_commit_modes (mode) values (current_setting('synchronous_commit'));
    return null;
end $$;
create constraint trigger test_record_commit_mode
    after insert or update on public.rate_limit_tracking
    deferrable initially deferred
    for each row execute function public.test_record_commit_mode();
"""


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await connect(database_url)
    await connection.execute(RECORD_COMMIT_MODE)
    # the session default is "on" whatever the server's is (the embedded server runs with "off")
    await connection.execute("set synchronous_commit = on")
    try:
        yield connection
    finally:
        await connection.close()


async def commit_modes(conn: asyncpg.Connection) -> set[str]:
    """The commit modes recorded since the last call."""
    rows = await conn.fetch("delete from public.test_commit_modes returning mode")
    return {row["mode"] for row in rows}


async def test_own_transaction_commits_without_waiting_and_leaves_the_session_alone(
    conn: asyncpg.Connection, database_url: str, make_user: Any
) -> None:
    user = await make_user()
    before = await conn.fetchval("show synchronous_commit")
    assert before == "on"

    assert (await rate_limits.check_and_count(conn, user_id=user, **LIMITS)).allowed
    assert await commit_modes(conn) == {"off"}  # the statement's own transaction
    assert await conn.fetchval("show synchronous_commit") == before  # transaction-local only

    # the pool path too; and it is committed: the count is exact across connections
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1, server_settings=SYNC_ON)
    try:
        assert (await rate_limits.check_and_count(pool, user_id=user, **LIMITS)).allowed
        assert await commit_modes(conn) == {"off"}
        refused = await rate_limits.check_and_count(pool, user_id=user, **LIMITS)
        assert (refused.allowed, refused.window, refused.limit) == (False, "minute", 2)
        assert refused.retry_after_seconds == 30
        assert await pool.fetchval("show synchronous_commit") == "on"
    finally:
        await pool.close()


async def test_inside_a_callers_transaction_the_commit_mode_is_untouched(
    conn: asyncpg.Connection, make_user: Any
) -> None:
    user = await make_user()
    async with conn.transaction():
        await conn.execute("set local synchronous_commit = on")
        assert (await rate_limits.check_and_count(conn, user_id=user, **LIMITS)).allowed
        assert await conn.fetchval("show synchronous_commit") == "on"
    assert await commit_modes(conn) == {"on"}
