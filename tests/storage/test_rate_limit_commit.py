"""rate_limits.check_and_count commits its own transaction without waiting for the WAL flush, and never
changes the commit mode of a transaction it is called inside."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from artificer.storage import rate_limits
from artificer.storage.database import connect

pytestmark = pytest.mark.anyio

LIMITS = dict(agent_type="document_agent", per_minute=2, per_hour=None, per_day=None)


async def test_own_transaction_counts_at_once_and_leaves_the_session_alone(
    database_url: str, pool: asyncpg.Pool, make_user: Any
) -> None:
    user = await make_user()
    conn = await connect(database_url)
    try:
        before = await conn.fetchval("show synchronous_commit")
        assert (await rate_limits.check_and_count(conn, user_id=user, **LIMITS)).allowed
        assert await conn.fetchval("show synchronous_commit") == before  # transaction-local only
        # committed: another connection sees the count, so the limit stays exact across processes
        assert (await rate_limits.check_and_count(pool, user_id=user, **LIMITS)).allowed
        refused = await rate_limits.check_and_count(pool, user_id=user, **LIMITS)
        assert (refused.allowed, refused.window, refused.limit) == (False, "minute", 2)
    finally:
        await conn.close()


async def test_inside_a_callers_transaction_the_commit_mode_is_untouched(
    database_url: str, make_user: Any
) -> None:
    user = await make_user()
    conn = await connect(database_url)
    try:
        async with conn.transaction():
            await conn.execute("set local synchronous_commit = on")
            assert (await rate_limits.check_and_count(conn, user_id=user, **LIMITS)).allowed
            assert await conn.fetchval("show synchronous_commit") == "on"
    finally:
        await conn.close()
