"""Keeping the data bounded: monthly log partitions made ahead, retention, expired rate-limit windows.

    report = await run_maintenance(pool)              # or a connection; dry_run=True changes nothing
    async with MaintenanceLoop(pool).running(): ...   # at start, then every `interval` seconds

One maintenance runs at a time across every replica on a database: each step takes a transaction-level
advisory lock (`pg_try_advisory_xact_lock`, safe under a transaction pooler) and a replica that does not get
it skips the step (another one is doing it). Retention is `logging_settings.log_retention_days`, applied by
`artificer_purge_logs` (sql/0060): whole monthly partitions past retention are dropped, the expired rows of
the month that straddles the cutoff are deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import anyio
import asyncpg
from artificer.storage.rate_limits import purge_expired
from asyncpg.pool import Pool

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key: the first 8 bytes of sha256("artificer.maintenance"), as a signed bigint.
MAINTENANCE_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"artificer.maintenance").digest()[:8], "big", signed=True
)
MONTHS_AHEAD = 2
"""Partitions exist from this month to this many months ahead (a month is never written without one)."""
DEFAULT_INTERVAL_SECONDS = 3600.0
LOCK_TIMEOUT = "5s"
"""The longest a step waits for a table lock (dropping a partition locks its parent briefly); it is tried
again at the next run rather than holding up the log writer."""

PARTITIONED_LOGS: tuple[str, ...] = ("agent_activity_logs", "user_activity_logs", "usage_logs", "error_logs")


@dataclass(frozen=True, slots=True)
class PurgedPartition:
    table: str
    partition: str
    action: str  # "drop" (the whole partition) or "delete" (its expired rows)
    rows: int


@dataclass
class MaintenanceReport:
    dry_run: bool
    skipped: bool = False
    """Another process held the maintenance lock: nothing was done here."""
    partitions_created: list[str] = field(default_factory=list)
    purged: list[PurgedPartition] = field(default_factory=list)
    rate_limit_windows: int = 0

    @property
    def rows_purged(self) -> int:
        return sum(p.rows for p in self.purged)

    def render(self) -> str:
        if self.skipped:
            return "skipped: another process is running maintenance on this database"
        would = "would " if self.dry_run else ""
        verb = {
            "drop": "drop" if self.dry_run else "dropped",
            "delete": "delete" if self.dry_run else "deleted",
        }
        lines = [
            f"{would}create partition {name}" if self.dry_run else f"created partition {name}"
            for name in self.partitions_created
        ]
        for p in self.purged:
            what = f"partition {p.partition}" if p.action == "drop" else f"expired rows of {p.partition}"
            lines.append(f"{would}{verb[p.action]} {what} ({p.rows} rows of {p.table})")
        windows = self.rate_limit_windows
        lines.append(f"{would}{'delete' if self.dry_run else 'deleted'} {windows} expired rate-limit windows")
        made = len(self.partitions_created)
        if self.dry_run:
            lines.append(
                f"dry run: nothing changed; {made} partitions to create, {self.rows_purged} log rows to purge"
            )
        else:
            lines.append(f"{made} partitions created, {self.rows_purged} log rows purged")
        return "\n".join(lines)


async def _locked(conn: asyncpg.Connection) -> bool:
    """Take the maintenance lock for this transaction; False when another process holds it."""
    await conn.execute(f"set local lock_timeout = '{LOCK_TIMEOUT}'")
    return bool(await conn.fetchval("select pg_try_advisory_xact_lock($1)", MAINTENANCE_LOCK_KEY))


async def _missing_partitions(conn: asyncpg.Connection, months_ahead: int) -> list[str]:
    records = await conn.fetch(
        "select t.parent || '_p' || to_char(date_trunc('month', localtimestamp) + make_interval(months => s),"
        " 'YYYYMM') as name from unnest($1::text[]) with ordinality as t(parent, n),"
        " generate_series(0, $2) as s order by t.n, s",
        list(PARTITIONED_LOGS),
        months_ahead,
    )
    names = [r["name"] for r in records]
    present = await conn.fetch(
        "select relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = 'public' and c.relname = any($1::text[])",
        names,
    )
    exists = {r["relname"] for r in present}
    return [name for name in names if name not in exists]


async def _count_expired_windows(conn: asyncpg.Connection) -> int:
    return int(
        await conn.fetchval(
            "select count(*) from rate_limit_tracking where period_end <= now() at time zone 'UTC'"
        )
    )


async def run_maintenance(
    pool_or_conn: Pool | asyncpg.Connection, *, dry_run: bool = False, months_ahead: int = MONTHS_AHEAD
) -> MaintenanceReport:
    """Create the coming months' log partitions, apply log retention and delete expired rate-limit windows.

    `dry_run`: report what would be done and change nothing. When another process holds the maintenance
    lock, the report says `skipped` and nothing was done.
    """
    if not 0 <= months_ahead <= 120:
        raise ValueError(f"months_ahead must be between 0 and 120, not {months_ahead}")
    report = MaintenanceReport(dry_run=dry_run)
    async with _acquire(pool_or_conn) as conn:
        async with conn.transaction():
            if not await _locked(conn):
                report.skipped = True
                return report
            if dry_run:
                report.partitions_created = await _missing_partitions(conn, months_ahead)
            else:
                records = await conn.fetch("select * from artificer_ensure_log_partitions($1)", months_ahead)
                report.partitions_created = [r[0] for r in records]
        async with conn.transaction():
            if not await _locked(conn):
                report.skipped = True
                return report
            records = await conn.fetch(
                "select table_name, partition_name, action, row_count from artificer_purge_logs($1)", dry_run
            )
            report.purged = [
                PurgedPartition(r["table_name"], r["partition_name"], r["action"], r["row_count"])
                for r in records
            ]
            if dry_run:
                report.rate_limit_windows = await _count_expired_windows(conn)
            else:
                report.rate_limit_windows = await purge_expired(conn)
    return report


@contextlib.asynccontextmanager
async def _acquire(pool_or_conn: Pool | asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    if isinstance(pool_or_conn, Pool):
        async with pool_or_conn.acquire() as conn:
            yield conn
    else:
        yield pool_or_conn


class MaintenanceLoop:
    """`run_maintenance` at start and then every `interval` seconds, in the background; a failed run is
    logged (warning) and tried again at the next interval."""

    def __init__(
        self,
        pool: Pool,
        *,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        on_report: Callable[[MaintenanceReport], None] | None = None,
        first_delay: float = 0.0,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"the maintenance interval must be positive, not {interval}")
        self._pool = pool
        self._interval = interval
        self._on_report = on_report
        self._first_delay = first_delay
        """Seconds before the first run: a server that starts and stops at once leaves its data alone."""
        self.runs = 0
        self.failures = 0
        self._ran = asyncio.Event()

    async def run_once(self) -> MaintenanceReport | None:
        try:
            # A run is short (each step gives up on a lock after 5 s): a shutdown waits for it rather than
            # cutting its transaction, whose connection the closing pool would then have to reset.
            with anyio.CancelScope(shield=True):
                report = await run_maintenance(self._pool)
        except Exception as error:  # a background task: never let it take the server down
            self.failures += 1
            logger.warning("log maintenance failed (%s: %s); trying again later", type(error).__name__, error)
            return None
        finally:
            self.runs += 1
            self._ran.set()
        if not report.skipped and (report.partitions_created or report.purged or report.rate_limit_windows):
            logger.info(
                "log maintenance: %d partitions created, %d log rows purged, %d rate-limit windows deleted",
                len(report.partitions_created),
                report.rows_purged,
                report.rate_limit_windows,
            )
        if self._on_report is not None:
            self._on_report(report)
        return report

    async def wait_for_run(self) -> None:
        """Until a run has finished (for tests and readiness)."""
        await self._ran.wait()

    async def run(self) -> None:
        await asyncio.sleep(self._first_delay)
        while True:
            await self.run_once()
            await asyncio.sleep(self._interval)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[MaintenanceLoop]:
        task = asyncio.create_task(self.run(), name="artificer-maintenance")
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
