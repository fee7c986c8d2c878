from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import asyncpg
import pytest
from artificer.storage import rate_limits

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 1, 12, 30, 15)


async def count_rows(pool: asyncpg.Pool, user_id, agent: str = "document_agent") -> dict[str, int]:
    rows = await pool.fetch(
        "select limit_type, request_count from rate_limit_tracking where user_id = $1 and agent_type = $2",
        user_id,
        agent,
    )
    return {r["limit_type"]: r["request_count"] for r in rows}


async def test_allows_up_to_the_limit_and_refusals_are_not_counted(pool: asyncpg.Pool, make_user) -> None:
    user = await make_user()
    args = dict(user_id=user, agent_type="document_agent", per_minute=3, per_hour=50, per_day=200, now=T0)
    decisions = [await rate_limits.check_and_count(pool, **args) for _ in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert [d.remaining_minute for d in decisions[:3]] == [2, 1, 0]
    assert decisions[0].remaining_hour == 49 and decisions[0].remaining == 2
    refused = decisions[3]
    assert (refused.window, refused.limit) == ("minute", 3)
    assert refused.retry_after_seconds == pytest.approx(45.0)
    assert await count_rows(pool, user) == {"minute": 3, "hourly": 3, "daily": 3}


async def test_window_rollover(pool: asyncpg.Pool, make_user) -> None:
    user = await make_user()
    args = dict(user_id=user, agent_type="python_agent", per_minute=2, per_hour=3, per_day=100)
    assert (await rate_limits.check_and_count(pool, **args, now=T0)).allowed
    assert (await rate_limits.check_and_count(pool, **args, now=T0 + timedelta(seconds=10))).allowed
    assert not (await rate_limits.check_and_count(pool, **args, now=T0 + timedelta(seconds=40))).allowed
    # next minute: the minute window is fresh, the hour window has one call left
    next_minute = T0 + timedelta(seconds=50)
    assert (await rate_limits.check_and_count(pool, **args, now=next_minute)).allowed
    hour_full = await rate_limits.check_and_count(pool, **args, now=next_minute + timedelta(seconds=1))
    assert (hour_full.allowed, hour_full.window, hour_full.limit) == (False, "hour", 3)
    assert hour_full.retry_after_seconds == pytest.approx(28 * 60 + 54)
    # an aware `now` is the same instant in UTC
    aware = datetime(2026, 3, 1, 13, 31, 7, tzinfo=timezone(timedelta(hours=1)))
    assert not (await rate_limits.check_and_count(pool, **args, now=aware)).allowed
    # next hour: allowed again
    next_hour = datetime(2026, 3, 1, 13, 0, 0)
    ok = await rate_limits.check_and_count(pool, **args, now=next_hour)
    assert ok.allowed and ok.remaining_hour == 2 and ok.remaining_day == 96  # refusals were not counted
    # purge drops the windows that ended before `now`
    assert await rate_limits.purge_expired(pool, now=next_hour) == 3  # two minute rows and one hour row
    assert {c.window for c in await rate_limits.current_counts(pool, user_id=user, now=next_hour)} == {
        "minute",
        "hour",
        "day",
    }


async def test_exact_under_many_concurrent_connections(pool: asyncpg.Pool, make_user) -> None:
    user = await make_user()
    dsn = pool._connect_args[0]  # type: ignore[attr-defined]
    connections = await asyncio.gather(*(asyncpg.connect(dsn) for _ in range(12)))
    try:

        async def burst(conn: asyncpg.Connection, n: int) -> list[bool]:
            out = []
            for _ in range(n):
                decision = await rate_limits.check_and_count(
                    conn, user_id=user, agent_type="mermaid_agent", per_minute=1000, per_hour=37, per_day=1000
                )
                out.append(decision.allowed)
            return out

        results = await asyncio.gather(*(burst(c, 8) for c in connections))
    finally:
        await asyncio.gather(*(c.close() for c in connections))
    allowed = sum(sum(r) for r in results)
    assert allowed == 37
    assert await count_rows(pool, user, "mermaid_agent") == {"minute": 37, "hourly": 37, "daily": 37}


async def test_first_calls_racing_on_a_new_window(pool: asyncpg.Pool, make_user) -> None:
    user = await make_user()
    dsn = pool._connect_args[0]  # type: ignore[attr-defined]
    connections = await asyncio.gather(*(asyncpg.connect(dsn) for _ in range(10)))
    try:
        decisions = await asyncio.gather(
            *(
                rate_limits.check_and_count(
                    c,
                    user_id=user,
                    agent_type="git_mcp_agent",
                    per_minute=4,
                    per_hour=None,
                    per_day=None,
                    now=T0,
                )
                for c in connections
            )
        )
    finally:
        await asyncio.gather(*(c.close() for c in connections))
    assert sum(d.allowed for d in decisions) == 4
    assert await count_rows(pool, user, "git_mcp_agent") == {"minute": 4}


async def test_unlimited_zero_and_reset(pool: asyncpg.Pool, make_user) -> None:
    user = await make_user()
    free = await rate_limits.check_and_count(
        pool, user_id=user, agent_type="document_agent", per_minute=None, per_hour=None, per_day=None
    )
    assert free.allowed and free.remaining is None
    blocked = await rate_limits.check_and_count(
        pool, user_id=user, agent_type="document_agent", per_minute=0, per_hour=10, per_day=10, now=T0
    )
    assert (blocked.allowed, blocked.window) == (False, "minute")
    await rate_limits.check_and_count(
        pool, user_id=user, agent_type="python_agent", per_minute=5, per_hour=10, per_day=10, now=T0
    )
    assert await rate_limits.reset_for_user(pool, user_id=user, agent_type="python_agent") == 3
    assert await rate_limits.reset_for_user(pool, user_id=user) == 3
    with pytest.raises(ValueError):
        await rate_limits.check_and_count(
            pool, user_id=user, agent_type="python_agent", per_minute=-1, per_hour=1, per_day=1
        )


async def test_callers_cannot_run_the_limiter(pool: asyncpg.Pool, make_user) -> None:
    from artificer.storage.database import as_user

    user = await make_user()
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with as_user(pool, {"sub": str(user), "role": "authenticated"}) as conn:
            await rate_limits.check_and_count(
                conn, user_id=user, agent_type="python_agent", per_minute=5, per_hour=10, per_day=10
            )


async def test_refund_gives_back_exactly_the_counted_windows(pool: asyncpg.Pool, make_user) -> None:
    user = await make_user()
    args = dict(user_id=user, agent_type="document_agent")
    first = await rate_limits.check_and_count(pool, **args, per_minute=2, per_hour=5, per_day=None, now=T0)
    assert first.allowed and first.counted_at == T0 and first.counted_windows == ("minute", "hour")
    # the next minute's call, in another minute window but the same hour
    later = T0 + timedelta(minutes=1)
    second = await rate_limits.check_and_count(
        pool, **args, per_minute=2, per_hour=5, per_day=None, now=later
    )
    # giving back the first call (after its minute has ended) changes its own minute and the hour only
    assert await rate_limits.refund(pool, first, **args) == 2
    counts = await pool.fetch(
        "select limit_type, period_start, request_count from rate_limit_tracking "
        "where user_id = $1 order by limit_type, period_start",
        user,
    )
    assert [(r["limit_type"], r["period_start"], r["request_count"]) for r in counts] == [
        ("hourly", datetime(2026, 3, 1, 12, 0), 1),
        ("minute", datetime(2026, 3, 1, 12, 30), 0),
        ("minute", datetime(2026, 3, 1, 12, 31), 1),
    ]
    # never below zero; another agent's counters are not touched
    await rate_limits.check_and_count(
        pool, user_id=user, agent_type="python_agent", per_minute=2, per_hour=5, per_day=5, now=T0
    )
    assert await rate_limits.refund(pool, first, **args) == 2
    assert await rate_limits.refund(pool, second, **args) == 2
    assert await count_rows(pool, user) == {"minute": 0, "hourly": 0}
    assert await count_rows(pool, user, "python_agent") == {"minute": 1, "hourly": 1, "daily": 1}


async def test_refund_of_an_uncounted_call_does_nothing(pool: asyncpg.Pool, make_user) -> None:
    user = await make_user()
    args = dict(user_id=user, agent_type="document_agent")
    ok = await rate_limits.check_and_count(pool, **args, per_minute=1, per_hour=9, per_day=9, now=T0)
    refused = await rate_limits.check_and_count(pool, **args, per_minute=1, per_hour=9, per_day=9, now=T0)
    assert not refused.allowed and refused.counted_windows == ()
    assert await rate_limits.refund(pool, refused, **args) == 0
    free = await rate_limits.check_and_count(pool, **args, per_minute=None, per_hour=None, per_day=None)
    assert free.allowed and free.counted_windows == ()
    assert await rate_limits.refund(pool, free, **args) == 0
    assert await count_rows(pool, user) == {"minute": 1, "hourly": 1, "daily": 1}
    # a call counted on the database clock is given back in the windows of that clock
    assert await rate_limits.reset_for_user(pool, user_id=user) == 3
    now_counted = await rate_limits.check_and_count(pool, **args, per_minute=5, per_hour=9, per_day=9)
    assert now_counted.counted_at is not None and now_counted.counted_at.tzinfo is None
    assert await rate_limits.refund(pool, now_counted, **args) == 3
    assert await count_rows(pool, user) == {"minute": 0, "hourly": 0, "daily": 0}
    assert ok.allowed
