"""Log writes: COPY (the LogWriter's path) vs INSERT (executemany, one statement per row) and vs the seed
design's index definitions, all in the same run, into agent_activity_logs with every named index.

Also counts the database round trips of the document store path and of the rate limiter, through a small
TCP relay on 127.0.0.1 that counts request turns (a client write that follows a server reply).

    uv run python bench/bench_log_writer.py [--rows 50000]

Database: a fresh database on ARTIFICER_BENCH_DATABASE_URL's server (created with a random name and
dropped afterwards), or an embedded Postgres in a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from artificer.storage import documents, rate_limits
from artificer.storage.database import as_user, init_connection
from artificer.storage.embedded import quote_identifier, start_embedded
from artificer.storage.log_writer import LogWriter
from artificer.storage.logs import AgentActivityRow, insert_sql, use_binary_json_codecs
from artificer.storage.migrations import migrate


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


@asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """DSN of a fresh, migrated database, removed afterwards."""
    server_url = os.environ.get("ARTIFICER_BENCH_DATABASE_URL")
    folder: Path | None = None
    embedded = None
    if not server_url:
        folder = Path(tempfile.mkdtemp(prefix="artificer-bench-", dir="/tmp"))
        embedded = start_embedded(folder / "pgdata", cleanup_mode="delete")
        server_url = embedded.server_uri("postgres")
    name = f"artificer_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f"create database {quote_identifier(name)}")
        dsn = _with_database(server_url, name)
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        yield dsn
    finally:
        await admin.execute(f"drop database if exists {quote_identifier(name)} with (force)")
        await admin.close()
        if embedded is not None:
            embedded.release()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


AGENTS = ("chat_model_agent", "provider_tools_agent", "document_agent", "python_agent", "mermaid_agent")
OPERATIONS = (
    ("document_generation", "generation"),
    ("tool_invocation", "tool_use"),
    ("streaming", "streaming"),
    ("code_execution", "execution"),
)

# agent_activity_logs' indexes as the seed design first defined them: the baseline of the same run.
SEED_INDEXES = (
    "(user_id)",
    "(correlation_id)",
    "(agent_type)",
    "(operation_type)",
    "(operation_category)",
    "(created_at DESC)",
    "(model_id, provider)",
    "(success, created_at DESC)",
    "(resource_type, resource_id)",
    "(agent_type, duration_ms) WHERE duration_ms IS NOT NULL",
    "(created_at DESC, total_cost) WHERE total_cost IS NOT NULL",
    "(agent_type, operation_type, created_at DESC)",
)


def make_rows(n: int, users: list[uuid.UUID]) -> list[AgentActivityRow]:
    """A mix of agents, operations and users; 2% failures; every row has a resource and a cost."""
    start = datetime(2026, 3, 1, 12, 0, 0)
    rows = []
    for i in range(n):
        operation, category = OPERATIONS[i % len(OPERATIONS)]
        rows.append(
            AgentActivityRow(
                agent_type=AGENTS[i % len(AGENTS)],
                operation_type=operation,
                operation_category=category,
                user_id=users[i % len(users)],
                operation_metadata={"tool_name": "create", "i": i},
                resource_id=uuid.uuid4(),
                resource_type="document",
                duration_ms=1200 + i % 100,
                start_time=start,
                end_time=start,
                model_id="gemini-2.0-flash",
                provider="google",
                input_tokens=1000,
                output_tokens=400,
                reasoning_tokens=0,
                total_tokens=1400,
                input_cost=Decimal("0.000075"),
                output_cost=Decimal("0.000120"),
                total_cost=Decimal("0.000195"),
                success=i % 50 != 0,
                error_type=None if i % 50 else "provider_error",
            )
        )
    return rows


REPEAT = 3  # every figure is the best of this many runs (the machine is shared; the median is shown too)


async def measure(label: str, rows: int, action, reset) -> float:
    """Best rows/s of REPEAT runs of `action()`, each after `reset()`."""
    rates = []
    for _ in range(REPEAT):
        await reset()
        started = time.perf_counter()
        await action()
        rates.append(rows / (time.perf_counter() - started))
    best, median = max(rates), statistics.median(rates)
    print(f"  {label:<48} {rows:>7} rows  best {best:>8,.0f} rows/s  median {median:>8,.0f}")
    return best


class CountingRelay:
    """Forwards 127.0.0.1:<port> to the database and counts request turns (client writes after replies)."""

    def __init__(self, target: tuple[str, int] | str) -> None:
        self.target = target
        self.turns = 0
        self._last_from_server = True
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if isinstance(self.target, str):
            up_reader, up_writer = await asyncio.open_unix_connection(self.target)
        else:
            up_reader, up_writer = await asyncio.open_connection(*self.target)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, from_client: bool) -> None:
            try:
                while data := await src.read(65536):
                    if from_client and self._last_from_server:
                        self.turns += 1
                    self._last_from_server = not from_client
                    dst.write(data)
                    await dst.drain()
            finally:
                dst.close()

        await asyncio.gather(
            pump(reader, up_writer, True), pump(up_reader, writer, False), return_exceptions=True
        )

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


def _upstream(dsn: str) -> tuple[tuple[str, int] | str, str, str]:
    parts = urlsplit(dsn)
    database = parts.path.lstrip("/")
    user = parts.username or "postgres"
    if parts.hostname:
        return (parts.hostname, parts.port or 5432), user, database
    query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
    host = query["host"]
    port = query.get("port", "5432")
    return f"{host}/.s.PGSQL.{port}", user, database


async def count_round_trips(dsn: str, user_id: uuid.UUID, *, statement_cache_size: int = 100) -> None:
    target, user, database = _upstream(dsn)
    relay = CountingRelay(target)
    await relay.start()
    password = urlsplit(dsn).password
    conn = await asyncpg.connect(
        host="127.0.0.1",
        port=relay.port,
        user=user,
        database=database,
        password=password,
        statement_cache_size=statement_cache_size,
    )
    await init_connection(conn)
    claims = {"sub": str(user_id), "role": "authenticated"}
    try:

        async def turns(label: str, action) -> None:
            await action()  # warm: statements prepared and cached (when the cache is on)
            before = relay.turns
            await action()
            print(f"  {label:<58} {relay.turns - before} round trip(s)")

        doc = await documents.store_version(
            conn, claims, document_id=None, title="t", content="c", kind="text"
        )

        async def store() -> None:
            await documents.store_version(conn, claims, document_id=doc.id, content="next")

        async def as_user_append() -> None:
            async with as_user(conn, claims) as c:
                await documents.add_version(c, doc.id, content="next")

        async def limit() -> None:
            await rate_limits.check_and_count(
                conn,
                user_id=user_id,
                agent_type="document_agent",
                per_minute=10**6,
                per_hour=10**6,
                per_day=10**6,
            )

        async def reset() -> None:
            await conn.reset()

        await turns("rate limit check_and_count", limit)
        await turns("document store_version (one statement, RLS inside)", store)
        await turns("document add_version inside as_user (BEGIN…COMMIT)", as_user_append)
        if statement_cache_size:
            await turns("pool release reset (asyncpg Connection.reset)", reset)
    finally:
        await conn.close()
        await relay.close()


async def main(rows: int, single_rows: int) -> None:
    async with fresh_database() as dsn:
        conn = await asyncpg.connect(dsn)
        await init_connection(conn)
        await use_binary_json_codecs(conn)
        print(f"server: {conn.get_server_version()}")
        users = [uuid.uuid4() for _ in range(20)]
        for number, user_id in enumerate(users):
            await conn.execute(
                "insert into auth.users (id, aud, role, email, raw_app_meta_data) "
                "values ($1, 'authenticated', 'authenticated', $2, '{\"role\": \"user\"}')",
                user_id,
                f"bench{number}@example.test",
            )
        user_id = users[0]
        data = make_rows(rows, users)
        records = [r.record() for r in data]
        sql = insert_sql(AgentActivityRow)
        columns = list(AgentActivityRow.columns())
        pool = await asyncpg.create_pool(dsn, min_size=2, max_size=2, init=init_connection)
        for pooled in [await pool.acquire(), await pool.acquire()]:
            await use_binary_json_codecs(pooled)
            await pool.release(pooled)

        async def truncate(table: str = "agent_activity_logs") -> None:
            await conn.execute(f"truncate {table}")
            await conn.execute("checkpoint")  # every figure starts from the same WAL position

        async def copy_batches(batch: int, table: str = "agent_activity_logs") -> None:
            for i in range(0, len(records), batch):
                await conn.copy_records_to_table(table, records=records[i : i + batch], columns=columns)

        async def copy_parallel(batch: int, table: str = "agent_activity_logs") -> None:
            async def lane(first: int) -> None:
                async with pool.acquire() as pooled:
                    for i in range(first, len(records), 2 * batch):
                        await pooled.copy_records_to_table(
                            table, records=records[i : i + batch], columns=columns
                        )

            await asyncio.gather(lane(0), lane(batch))

        indexes = await conn.fetchval(
            "select count(*) from pg_index where indrelid = 'agent_activity_logs'::regclass"
        )
        print(f"agent_activity_logs ({len(columns)} columns, {indexes} indexes incl. the primary key):")
        await copy_batches(1000)  # warm-up: codecs, caches
        results = {}
        # Baseline in the same run: the same table with the seed design's index definitions.
        await conn.execute("create table bench_seed_indexes (like agent_activity_logs including all)")
        for index in await conn.fetch(
            "select indexrelid::regclass::text as name from pg_index i "
            "where indrelid = 'bench_seed_indexes'::regclass and not indisprimary"
        ):
            await conn.execute(f"drop index {index['name']}")
        for definition in SEED_INDEXES:
            await conn.execute(f"create index on bench_seed_indexes {definition}")
        results["seed"] = await measure(
            "seed index definitions: COPY, batches of 1000",
            rows,
            lambda: copy_batches(1000, "bench_seed_indexes"),
            lambda: truncate("bench_seed_indexes"),
        )
        results["seed2"] = await measure(
            "seed index definitions: COPY on 2 connections",
            rows,
            lambda: copy_parallel(1000, "bench_seed_indexes"),
            lambda: truncate("bench_seed_indexes"),
        )
        await conn.execute("drop table bench_seed_indexes")
        results["copy"] = await measure("COPY, batches of 1000", rows, lambda: copy_batches(1000), truncate)
        results["copy100"] = await measure(
            "COPY, batches of 100 (seed batch_size)", rows, lambda: copy_batches(100), truncate
        )
        results["copy2"] = await measure(
            "COPY on 2 connections, batches of 1000", rows, lambda: copy_parallel(1000), truncate
        )
        await conn.execute("create table bench_no_indexes (like agent_activity_logs including defaults)")
        results["bare"] = await measure(
            f"COPY, same table without its {indexes} indexes",
            rows,
            lambda: copy_batches(1000, "bench_no_indexes"),
            lambda: truncate("bench_no_indexes"),
        )
        await conn.execute("drop table bench_no_indexes")

        try:

            async def through_writer(connections: int, batch_size: int = 1000) -> None:
                writer = LogWriter(
                    pool,
                    {
                        "agent_activity_logging_enabled": True,
                        "performance_settings": {"batch_size": batch_size, "batch_interval_ms": 1000},
                    },
                    copy_connections=connections,
                )
                await writer.start()
                for i in range(0, len(data), 100):  # rows arrive between awaits, as from request handlers
                    for row in data[i : i + 100]:
                        writer.log_activity(row)
                    await asyncio.sleep(0)
                await writer.aclose()
                assert writer.stats.written == rows, writer.stats

            results["writer100"] = await measure(
                "LogWriter, seed batch_size 100, 2 connections",
                rows,
                lambda: through_writer(2, 100),
                truncate,
            )
            results["writer1"] = await measure(
                "LogWriter (redaction + COPY), 1 connection", rows, lambda: through_writer(1), truncate
            )
            results["writer"] = await measure(
                "LogWriter (redaction + COPY), 2 connections", rows, lambda: through_writer(2), truncate
            )
        finally:
            await pool.close()
        written = await conn.fetchval("select count(*) from agent_activity_logs")
        assert written == rows, f"{written} rows in the table, expected {rows}"
        results["executemany"] = await measure(
            "INSERT executemany", rows, lambda: conn.executemany(sql, records), truncate
        )

        async def singles() -> None:
            for record in records[:single_rows]:
                await conn.execute(sql, *record)

        results["single"] = await measure("INSERT one statement per row", single_rows, singles, truncate)
        best_copy = max(results["copy"], results["copy2"])
        print(
            f"  COPY is {best_copy / results['executemany']:.1f}x executemany and "
            f"{best_copy / results['single']:.1f}x single INSERTs; "
            f"{best_copy / max(results['seed'], results['seed2']):.2f}x COPY with the seed index definitions"
        )
        print(
            f"  target >= 50,000 rows/s with every named index: LogWriter {results['writer']:,.0f} rows/s "
            f"{'met' if results['writer'] >= 50_000 else 'NOT met'}; COPY {best_copy:,.0f} rows/s "
            f"{'met' if best_copy >= 50_000 else 'NOT met'}"
        )
        print("round trips (after warm-up, statements cached):")
        await count_round_trips(dsn, user_id)
        print("round trips with statement_cache_size=0 (transaction poolers such as Supabase's port 6543):")
        await count_round_trips(dsn, user_id, statement_cache_size=0)
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--single-rows", type=int, default=3_000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.rows, arguments.single_rows))
