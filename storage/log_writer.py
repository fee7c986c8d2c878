"""`LogWriter`: batched log writes off the call's path, by COPY, honouring `logging_settings`.

    writer = LogWriter(pool, logging_settings)
    await writer.start()
    writer.log_activity(AgentActivityRow(...))   # never blocks, never raises
    writer.log_usage(UsageRow(...))
    writer.log_error(ErrorRow(...))
    await writer.aclose()                        # flushes what is left

What the settings decide (re-read live with `apply_settings`):
- `agent_activity_logging_enabled` / `user_activity_logging_enabled` / `error_logging_enabled` switch a
  kind off. Usage rows (tokens and cost) are always written: they are the accounting.
- `category_toggles`: `log_ai_operations` (generation, streaming, initialization), `log_tool_invocations`
  (tool, search, url, MCP operations), `log_code_execution`; user activity categories map to
  `log_auth_events`, `log_chat_events`, `log_document_events`, `log_admin_events`, `log_vote_events`,
  `log_file_events`, `log_artifact_events`. A missing toggle means on.
- `performance_settings`: `batch_size` (rows that trigger a flush), `batch_interval_ms` (the longest a row
  waits), `batch_writes=false` (flush as soon as a row arrives, still off the call's path),
  `sampling_enabled` + `sampling_rate` (activity rows only; by correlation id, so the rows of one call stay
  together; errors and usage are never sampled).
- `privacy_settings`: `anonymize_ip` (IPv4 /24, IPv6 /48), `hash_email` (sha256 of any `email` field in
  metadata/details), `log_user_agent=false` drops user agents, `exclude_sensitive_paths` drops activity
  rows for those paths. Secrets (keys, tokens, JWTs, passwords) are always redacted.

A backlog (rows queued faster than they are written) goes out in COPYs of at least `COPY_ROWS` rows, on
up to `copy_connections` (constructor, default 2) pooled connections at once. A failing batch is retried
once; if it fails again, its rows are written one by one and only the rows the database refuses are
dropped (reported on stderr). When the database is unreachable, rows stay queued
(up to `max_queue` per table, oldest dropped first) and are written when it comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import ipaddress
import logging
import sys
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import asyncpg
from artificer.storage.logs import (
    LOG_ROW_TYPES,
    AgentActivityRow,
    ErrorRow,
    LogRow,
    UsageRow,
    UserActivityRow,
    copy_rows,
    insert_row,
    redact_text,
    redact_value,
)
from asyncpg.pool import Pool

DEFAULT_BATCH_SIZE = 100
DEFAULT_INTERVAL_MS = 5000
DEFAULT_MAX_QUEUE = 100_000
COPY_ROWS = 1000  # a backlog is written in COPYs of at least this many rows (fewer statements)

logger = logging.getLogger(__name__)

_OPERATION_TOGGLES = {
    "initialization": "log_ai_operations",
    "code_generation": "log_ai_operations",
    "document_generation": "log_ai_operations",
    "diagram_generation": "log_ai_operations",
    "streaming": "log_ai_operations",
    "tool_invocation": "log_tool_invocations",
    "search": "log_tool_invocations",
    "url_fetch": "log_tool_invocations",
    "mcp_operation": "log_tool_invocations",
    "code_execution": "log_code_execution",
}
_CATEGORY_TOGGLES = {
    "authentication": "log_auth_events",
    "chat": "log_chat_events",
    "history": "log_chat_events",
    "document": "log_document_events",
    "admin": "log_admin_events",
    "vote": "log_vote_events",
    "file": "log_file_events",
    "artifact": "log_artifact_events",
}
_CONNECTION_ERRORS = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
)


def _is_connection_error(error: BaseException) -> bool:
    """The database could not be reached (keep the rows), as opposed to a row it refused."""
    if isinstance(error, asyncpg.DataError | ValueError | TypeError):  # a bad value in a row
        return False
    return isinstance(error, _CONNECTION_ERRORS)


def _section(settings: dict[str, Any], name: str) -> dict[str, Any]:
    value = settings.get(name)
    return value if isinstance(value, dict) else {}


def _flag(value: Any, default: bool) -> bool:
    return value if isinstance(value, bool) else default


@dataclass(frozen=True, slots=True)
class LoggingPolicy:
    """The parts of `logging_settings` the writer applies, with the product's defaults."""

    agent_activity: bool = True
    user_activity: bool = False
    errors: bool = True
    toggles: dict[str, bool] = dataclasses.field(default_factory=dict)
    batch_writes: bool = True
    batch_size: int = DEFAULT_BATCH_SIZE
    interval_s: float = DEFAULT_INTERVAL_MS / 1000
    sampling_rate: float = 1.0
    anonymize_ip: bool = False
    hash_email: bool = False
    log_user_agent: bool = True
    excluded_paths: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: dict[str, Any] | None) -> LoggingPolicy:
        s = settings or {}
        perf = _section(s, "performance_settings")
        privacy = _section(s, "privacy_settings")
        toggles = _section(s, "category_toggles")
        batch_size = perf.get("batch_size", DEFAULT_BATCH_SIZE)
        interval = perf.get("batch_interval_ms", DEFAULT_INTERVAL_MS)
        rate = perf.get("sampling_rate", 1.0)
        sampling = _flag(perf.get("sampling_enabled"), False)
        paths = privacy.get("exclude_sensitive_paths")
        return cls(
            agent_activity=_flag(s.get("agent_activity_logging_enabled"), True),
            user_activity=_flag(s.get("user_activity_logging_enabled"), False),
            errors=_flag(s.get("error_logging_enabled"), True),
            toggles={k: v for k, v in toggles.items() if isinstance(v, bool)},
            batch_writes=_flag(perf.get("batch_writes"), True),
            batch_size=batch_size if isinstance(batch_size, int) and batch_size > 0 else DEFAULT_BATCH_SIZE,
            interval_s=(
                interval if isinstance(interval, int | float) and interval > 0 else DEFAULT_INTERVAL_MS
            )
            / 1000,
            sampling_rate=(
                min(max(float(rate), 0.0), 1.0) if sampling and isinstance(rate, int | float) else 1.0
            ),
            anonymize_ip=_flag(privacy.get("anonymize_ip"), False),
            hash_email=_flag(privacy.get("hash_email"), False),
            log_user_agent=_flag(privacy.get("log_user_agent"), True),
            excluded_paths=tuple(p for p in paths if isinstance(p, str)) if isinstance(paths, list) else (),
        )

    def toggle(self, name: str | None) -> bool:
        return True if name is None else self.toggles.get(name, True)


def anonymize_ip(value: str | None) -> str | None:
    """IPv4 to its /24, IPv6 to its /48; anything unparsable is dropped."""
    if not value:
        return value
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def _hash_emails(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (
                "sha256:" + hashlib.sha256(v.strip().lower().encode()).hexdigest()
                if isinstance(k, str) and k.lower().endswith("email") and isinstance(v, str)
                else _hash_emails(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_hash_emails(v) for v in value]
    return value


def _in_sample(correlation_id: uuid.UUID, rate: float) -> bool:
    if rate >= 1.0:
        return True
    return int.from_bytes(correlation_id.bytes[:4], "big") / 2**32 < rate


@dataclass
class WriterStats:
    queued: int = 0
    written: int = 0
    skipped_disabled: int = 0
    skipped_sampled: int = 0
    dropped_bad: int = 0
    dropped_overflow: int = 0
    dropped_closed: int = 0
    batches: int = 0
    batch_failures: int = 0


class LogWriter:
    """Batched, non-blocking writer of the log tables (see the module docstring)."""

    def __init__(
        self,
        pool: Pool,
        settings: dict[str, Any] | None = None,
        *,
        max_queue: int = DEFAULT_MAX_QUEUE,
        report: TextIO | None = None,
        close_timeout: float = 30.0,
        copy_connections: int = 2,
    ) -> None:
        self._pool = pool
        self._policy = LoggingPolicy.from_settings(settings)
        self._queues: dict[type[LogRow], deque[tuple[Any, ...]]] = {t: deque() for t in LOG_ROW_TYPES}
        self._max_queue = max_queue
        self._report = report
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._stopping = False
        self._close_timeout = close_timeout
        self._copy_connections = max(1, copy_connections)
        self._pending = 0  # rows queued since the last flush started (wakes the flusher at batch_size)
        self.stats = WriterStats()
        self.usage_observers: list[Callable[[UsageRow], None]] = []
        """Called with every usage row queued (metrics: tokens and cost by model); must not raise."""

    # --- settings -----------------------------------------------------------------------------
    @property
    def policy(self) -> LoggingPolicy:
        return self._policy

    def apply_settings(self, settings: dict[str, Any] | None) -> None:
        """Use new `logging_settings` from now on (rows already queued are written as they are)."""
        self._policy = LoggingPolicy.from_settings(settings)
        self._wake.set()  # a shorter interval or smaller batch takes effect at once

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="artificer-log-writer")

    async def __aenter__(self) -> LogWriter:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop taking rows, let the background task finish its flush, and write everything still queued.

        Waits at most `close_timeout` seconds (constructor) for the database; rows still queued after that
        are reported on stderr.
        """
        if self._closed:
            return
        self._closed = True
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        with contextlib.suppress(TimeoutError):
            if task is not None:
                with contextlib.suppress(TimeoutError):  # wait_for cancels it; its batch is put back
                    await asyncio.wait_for(task, self._close_timeout)
            await asyncio.wait_for(self.flush(), self._close_timeout)
        if self.pending:
            self._say(f"closed with {self.pending} log rows not written (database unreachable)")

    @property
    def pending(self) -> int:
        return sum(len(q) for q in self._queues.values())

    # --- logging (never blocks, never raises) ---------------------------------------------------
    def log_activity(self, row: AgentActivityRow) -> bool:
        """Queue an agent activity row; False when the settings skip it."""
        policy = self._policy
        if not policy.agent_activity or not policy.toggle(_OPERATION_TOGGLES.get(row.operation_type)):
            self.stats.skipped_disabled += 1
            return False
        if not _in_sample(row.correlation_id, policy.sampling_rate):
            self.stats.skipped_sampled += 1
            return False
        record = row.record(
            operation_metadata=self._clean(row.operation_metadata) or {},
            error_message=redact_text(row.error_message),
        )
        return self._enqueue(AgentActivityRow, record)

    def log_user_activity(self, row: UserActivityRow) -> bool:
        """Queue a user activity row; False when the settings skip it."""
        policy = self._policy
        if not policy.user_activity or not policy.toggle(_CATEGORY_TOGGLES.get(row.activity_category)):
            self.stats.skipped_disabled += 1
            return False
        if row.request_path and any(row.request_path.startswith(p) for p in policy.excluded_paths):
            self.stats.skipped_disabled += 1
            return False
        if not _in_sample(row.correlation_id, policy.sampling_rate):
            self.stats.skipped_sampled += 1
            return False
        record = row.record(
            activity_metadata=self._clean(row.activity_metadata) or {},
            ip_address=anonymize_ip(row.ip_address) if policy.anonymize_ip else row.ip_address,
            user_agent=row.user_agent if policy.log_user_agent else None,
            error_message=redact_text(row.error_message),
        )
        return self._enqueue(UserActivityRow, record)

    def log_usage(self, row: UsageRow) -> bool:
        """Queue a usage row (always: tokens and cost are never sampled or switched off)."""
        for observe in self.usage_observers:
            observe(row)
        return self._enqueue(UsageRow, row.record(metadata=self._clean(row.metadata)))

    def log_error(self, row: ErrorRow) -> bool:
        """Queue an error row; False when error logging is off."""
        policy = self._policy
        if not policy.errors:
            self.stats.skipped_disabled += 1
            return False
        record = row.record(
            error_message=redact_text(row.error_message) or "",
            error_details=self._clean(row.error_details),
            ip_address=anonymize_ip(row.ip_address) if policy.anonymize_ip else row.ip_address,
            user_agent=row.user_agent if policy.log_user_agent else None,
        )
        return self._enqueue(ErrorRow, record)

    def _clean(self, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if not value:
            return value
        cleaned = redact_value(value)
        return _hash_emails(cleaned) if self._policy.hash_email else cleaned

    def _enqueue(self, row_type: type[LogRow], record: tuple[Any, ...]) -> bool:
        if self._closed:
            self._say(f"log writer is closed; dropped a {row_type.TABLE} row")
            self.stats.dropped_closed += 1
            logger.warning("dropped a %s row: the log writer is closed", row_type.TABLE)
            return False
        queue = self._queues[row_type]
        if len(queue) >= self._max_queue:
            queue.popleft()
            self.stats.dropped_overflow += 1
            if self.stats.dropped_overflow % 1000 == 1:  # the first, then one warning per 1000
                logger.warning(
                    "dropped the oldest queued %s row: %d rows queued (the database is not keeping up); "
                    "%d rows dropped so far",
                    row_type.TABLE,
                    len(queue),
                    self.stats.dropped_overflow,
                )
        queue.append(record)
        self.stats.queued += 1
        self._pending += 1
        if not self._policy.batch_writes or self._pending >= self._policy.batch_size:
            self._wake.set()
        return True

    # --- flushing -----------------------------------------------------------------------------
    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._policy.interval_s)
            self._wake.clear()
            try:
                await self.flush()
            except Exception as error:  # never let the background task die
                self._say(f"log flush failed: {type(error).__name__}: {error}")
                if not self._stopping:
                    await asyncio.sleep(min(self._policy.interval_s, 1.0))

    async def flush(self) -> int:
        """Write everything queued now; returns the number of rows written.

        A backlog of several batches of one table is written on up to `copy_connections` pooled
        connections at once, each taking the next batch as soon as its COPY is done (each batch is
        still one COPY, all or nothing).
        """
        written = 0
        async with self._flush_lock:
            self._pending = 0
            for row_type, queue in self._queues.items():
                if not queue:
                    continue
                done, failure = await self._drain(row_type, queue)
                written += done
                if failure is not None:
                    if not _is_connection_error(failure):
                        raise failure
                    kept = len(queue)
                    self._say(f"log database unreachable ({type(failure).__name__}); {kept} rows kept")
                    return written
        return written

    async def _drain(
        self, row_type: type[LogRow], queue: deque[tuple[Any, ...]]
    ) -> tuple[int, BaseException | None]:
        """Write `queue` in batches on one or more lanes: (rows written, the error that stopped it).

        A batch that failed on the connection, or was cancelled, goes back to the front of the queue;
        one that failed for a row the database refused does not (`_write_batch` has already written
        what it could of it, row by row).
        """
        size = max(self._policy.batch_size, COPY_ROWS)
        written = 0
        failure: BaseException | None = None
        lanes: list[asyncio.Future[None]] = []

        async def lane() -> None:
            nonlocal written, failure
            while queue and failure is None:
                batch = [queue.popleft() for _ in range(min(size, len(queue)))]
                if len(queue) >= size and len(lanes) < self._copy_connections:
                    lanes.append(asyncio.ensure_future(lane()))  # a backlog: one more connection
                try:
                    count = await self._write_batch(row_type, batch)
                except asyncio.CancelledError:
                    queue.extendleft(reversed(batch))  # not lost when the task is cancelled
                    raise
                except Exception as error:
                    if _is_connection_error(error):
                        queue.extendleft(reversed(batch))  # keep them for the next flush
                    if failure is None or _is_connection_error(failure):
                        failure = error  # a refused row outranks an unreachable database
                    return
                written += count  # after the await: `written += await …` would lose the other lane's rows

        lanes.append(asyncio.ensure_future(lane()))
        try:
            while running := [f for f in lanes if not f.done()]:
                await asyncio.wait(running)
        except asyncio.CancelledError:
            for f in lanes:
                f.cancel()
            while running := [f for f in lanes if not f.done()]:  # each puts its batch back
                await asyncio.wait(running)
            raise
        return written, failure

    async def _write_batch(self, row_type: type[LogRow], batch: list[tuple[Any, ...]]) -> int:
        self.stats.batches += 1
        async with self._pool.acquire() as conn:
            for _attempt in range(2):
                try:
                    await copy_rows(conn, row_type, batch)
                    self.stats.written += len(batch)
                    return len(batch)
                except Exception as error:
                    if _is_connection_error(error) or not isinstance(
                        error, asyncpg.PostgresError | asyncpg.DataError | ValueError | TypeError
                    ):
                        raise
                    self.stats.batch_failures += 1
                    last = error
            self._say(
                f"COPY into {row_type.TABLE} failed twice ({type(last).__name__}: {last}); "
                f"writing its {len(batch)} rows one by one"
            )
            written = 0
            for record in batch:
                try:
                    await insert_row(conn, row_type, record)
                    written += 1
                except Exception as error:
                    if _is_connection_error(error) or not isinstance(
                        error, asyncpg.PostgresError | asyncpg.DataError | ValueError | TypeError
                    ):
                        raise
                    self.stats.dropped_bad += 1
                    self._say(f"dropped a {row_type.TABLE} row: {type(error).__name__}: {error}")
                    logger.warning(
                        "dropped a %s row the database refused: %s", row_type.TABLE, type(error).__name__
                    )
            self.stats.written += written
            return written

    def _say(self, message: str) -> None:
        print(f"artificer log writer: {message}", file=self._report or sys.stderr, flush=True)
