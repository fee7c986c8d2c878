"""Per-user, per-agent rate limits over fixed minute / hour / day windows in `rate_limit_tracking`.

`check_and_count` is ONE statement (`artificer_rate_limit_check_and_count`): it makes sure the counter
row of each window exists, locks the rows in a fixed order, and counts the call only when every window
still has room. A refused call is not counted. Because the counters live in Postgres and are row-locked,
the limit stays exact across any number of server processes sharing the database.

`refund` gives a counted call back (one statement): the pipeline calls it when the call was refused by
the agent for the caller's arguments before any model call, so a refused call uses up no slot.

These functions run as the server's own role (a pool connection outside `as_user`), never as the caller.

Commit latency: when the check runs in a transaction of its own (the pool, or a connection not inside a
transaction), that transaction commits with `synchronous_commit = off`, set in the same statement, so the
call does not wait for the WAL flush (about a third of the statement's time on this kind of hardware).
Locks and visibility are unchanged, so the limit stays exact across processes; what a *database crash*
can lose is the last fraction of a second of counted calls (at most 3 × `wal_writer_delay`), i.e. a few
calls too many in the current window. Inside a caller's transaction the caller's setting is left alone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import asyncpg
from artificer.storage.database import acquire_connection
from artificer.storage.errors import typed_errors
from asyncpg.pool import Pool

Window = Literal["minute", "hour", "day"]

_CHECK_COLUMNS = (
    "allowed, limited_window, limit_value, retry_after_seconds, "
    "remaining_minute, remaining_hour, remaining_day, "
    "coalesce($6::timestamp, now() at time zone 'UTC') as counted_at"
)
"""`counted_at` is the instant the function's windows were taken from (its `v_now`: `now()` is the
transaction's start, the same inside and outside the function)."""
_CHECK_CALL = "public.artificer_rate_limit_check_and_count($1, $2, $3, $4, $5, $6)"
_CHECK_SQL = f"select {_CHECK_COLUMNS} from {_CHECK_CALL}"
_CHECK_ASYNC_COMMIT_SQL = (
    f"select {_CHECK_COLUMNS} "
    f"from set_config('synchronous_commit', 'off', true) as async_commit, {_CHECK_CALL}"
)
"""The same check, committing without waiting for the WAL flush (only for a transaction of its own)."""


@dataclass(frozen=True, slots=True)
class RateLimitDecision:
    """The outcome of one check. When refused: the window that is full, its limit and when it resets."""

    allowed: bool
    window: Window | None
    limit: int | None
    retry_after_seconds: float | None
    remaining_minute: int | None
    remaining_hour: int | None
    remaining_day: int | None
    counted_at: datetime | None = None
    """The instant (naive UTC) whose windows were checked; `refund` gives back the same windows."""
    counted_windows: tuple[Window, ...] = ()
    """The windows the call was counted in (those with a limit; none when refused)."""

    @property
    def remaining(self) -> int | None:
        """Calls left before some window refuses (None when no window is limited)."""
        windows = (self.remaining_minute, self.remaining_hour, self.remaining_day)
        values = [v for v in windows if v is not None]
        return min(values) if values else None


async def check_and_count(
    pool_or_conn: Pool | asyncpg.Connection,
    *,
    user_id: uuid.UUID,
    agent_type: str,
    per_minute: int | None,
    per_hour: int | None,
    per_day: int | None,
    now: datetime | None = None,
) -> RateLimitDecision:
    """Count one call of `user_id` on `agent_type` if all windows have room; one round trip.

    A limit of None leaves that window unlimited. `now` (naive UTC, or aware) is for tests of window rollover;
    the database clock is used otherwise.
    """
    for name, value in (("per_minute", per_minute), ("per_hour", per_hour), ("per_day", per_day)):
        if value is not None and value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    if now is not None and now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    args = (user_id, agent_type, per_minute, per_hour, per_day, now)
    with typed_errors():  # an unknown user (`UnknownUser`), a database that is down (`DatabaseUnavailable`)
        if isinstance(pool_or_conn, Pool):
            async with acquire_connection(pool_or_conn) as conn:
                record = await conn.fetchrow(_CHECK_ASYNC_COMMIT_SQL, *args)
        elif pool_or_conn.is_in_transaction():
            record = await pool_or_conn.fetchrow(_CHECK_SQL, *args)
        else:
            record = await pool_or_conn.fetchrow(_CHECK_ASYNC_COMMIT_SQL, *args)
    assert record is not None
    limits: tuple[tuple[Window, int | None], ...] = (
        ("minute", per_minute),
        ("hour", per_hour),
        ("day", per_day),
    )
    return RateLimitDecision(
        allowed=record["allowed"],
        window=record["limited_window"],
        limit=record["limit_value"],
        retry_after_seconds=record["retry_after_seconds"],
        remaining_minute=record["remaining_minute"],
        remaining_hour=record["remaining_hour"],
        remaining_day=record["remaining_day"],
        counted_at=record["counted_at"],
        counted_windows=tuple(w for w, lim in limits if lim is not None) if record["allowed"] else (),
    )


_LIMIT_TYPE: dict[Window, str] = {"minute": "minute", "hour": "hourly", "day": "daily"}
"""`rate_limit_tracking.limit_type` of each window."""

_REFUND_SQL = (
    "update rate_limit_tracking t set request_count = greatest(coalesce(t.request_count, 0) - 1, 0) "
    "from unnest($3::text[], $4::text[]) as w(limit_type, unit) "
    "where t.user_id = $1 and t.agent_type = $2 and t.limit_type = w.limit_type "
    "and t.period_start = date_trunc(w.unit, $5::timestamp)"
)


async def refund(
    pool_or_conn: Pool | asyncpg.Connection,
    decision: RateLimitDecision,
    *,
    user_id: uuid.UUID,
    agent_type: str,
) -> int:
    """Give back the call `decision` counted for `user_id` on `agent_type`: one less in exactly the
    windows it was counted in, those that contained `decision.counted_at` (even if they have ended since),
    never below zero. One statement, as the server's role. Returns the number of counters changed (0 when
    nothing was counted: a refused or unlimited call)."""
    if not decision.allowed or not decision.counted_windows or decision.counted_at is None:
        return 0
    windows = decision.counted_windows
    with typed_errors():
        status = await pool_or_conn.execute(
            _REFUND_SQL,
            user_id,
            agent_type,
            [_LIMIT_TYPE[w] for w in windows],
            list(windows),
            decision.counted_at,
        )
    return int(status.split()[-1])


@dataclass(frozen=True, slots=True)
class WindowCount:
    agent_type: str
    window: Window
    period_start: datetime
    period_end: datetime
    request_count: int
    limit_value: int


_WINDOW_OF = {"minute": "minute", "hourly": "hour", "daily": "day"}


async def current_counts(
    pool_or_conn: Pool | asyncpg.Connection, *, user_id: uuid.UUID, now: datetime | None = None
) -> list[WindowCount]:
    """The user's counters of the windows that contain `now` (default: the database clock)."""
    records = await pool_or_conn.fetch(
        "select agent_type, limit_type, period_start, period_end, "
        "coalesce(request_count, 0) as request_count, limit_value from rate_limit_tracking "
        "where user_id = $1 and period_start <= coalesce($2, now() at time zone 'UTC') "
        "and period_end > coalesce($2, now() at time zone 'UTC') order by agent_type, period_start desc",
        user_id,
        now,
    )
    return [
        WindowCount(
            agent_type=r["agent_type"],
            window=_WINDOW_OF[r["limit_type"]],  # type: ignore[arg-type]
            period_start=r["period_start"],
            period_end=r["period_end"],
            request_count=r["request_count"],
            limit_value=r["limit_value"],
        )
        for r in records
    ]


async def reset_for_user(
    pool_or_conn: Pool | asyncpg.Connection, *, user_id: uuid.UUID, agent_type: str | None = None
) -> int:
    """Forget a user's counters (all agents, or one); returns the number of rows deleted."""
    status = await pool_or_conn.execute(
        "delete from rate_limit_tracking where user_id = $1 and ($2::text is null or agent_type = $2)",
        user_id,
        agent_type,
    )
    return int(status.split()[-1])


async def purge_expired(pool_or_conn: Pool | asyncpg.Connection, *, now: datetime | None = None) -> int:
    """Delete counters whose window has ended; returns the number of rows deleted."""
    status = await pool_or_conn.execute(
        "delete from rate_limit_tracking where period_end <= coalesce($1, now() at time zone 'UTC')", now
    )
    return int(status.split()[-1])
