"""The pipeline's two statements in isolation, before and after `sql/0031_hot_path.sql`, in one run.

    uv run python bench/bench_statements.py [--calls 400]

Two scratch databases are created on ARTIFICER_TEST_DATABASE_URL (or postgresql://postgres@127.0.0.1:5432/
postgres): `before` has every migration but 0031 (and any later one), `after` has them all. The same calls
are timed round-robin on both (a, b, c, a, b, c …, so that every series sees the same machine load), through
the storage layer's own functions and codecs (`rate_limits.check_and_count`, `documents.store_version`), each
in a transaction of its own as in the pipeline, plus reference statements:

- `select 1`: the round-trip floor;
- the bare INSERT of the same Document row as the server role (no function, no RLS), committed with
  `synchronous_commit` on and off: what the write itself and the WAL flush at commit cost;
- the store with `durable=False` (`synchronous_commit = off` set in the same statement): its cost without
  the flush.

Afterwards, per-function times from `track_functions = 'all'` (pg_stat_user_functions: calls, total and self
time per call, triggers included) show where each statement's server time goes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import asyncpg
from artificer.storage import documents, rate_limits
from artificer.storage.database import connect
from artificer.storage.migrations import load_migrations, migrate

ADMIN_URL = os.environ.get("ARTIFICER_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CONTENT = "# Bench\n\nA short document."
METADATA = {"updateType": "create", "agent": "document_agent", "model": "gemini-2.0-flash"}
FIRST_NEW_MIGRATION = "0031_"
INSERT_SQL = (
    'insert into "Document" (id, "createdAt", title, content, kind, user_id, metadata) '
    "select gen_random_uuid(), clock_timestamp()::timestamp, $1, $2, 'text', $3, $4 {source}returning *"
)


async def scratch(name: str, *, without_new: bool) -> str:
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()
    dsn = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    migrations = load_migrations()
    if without_new:
        migrations = [m for m in migrations if m.filename < FIRST_NEW_MIGRATION]
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn, migrations)
    finally:
        await conn.close()
    return dsn


async def drop(names: list[str]) -> None:
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        for name in names:
            await admin.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await admin.close()


async def add_user(conn: asyncpg.Connection) -> uuid.UUID:
    user = uuid.uuid4()
    await conn.execute(
        "insert into auth.users (id, aud, role, email, raw_app_meta_data, raw_user_meta_data, created_at, "
        "updated_at) values ($1, 'authenticated', 'authenticated', 'bench@example.test', "
        """'{"role": "user"}', '{}', now(), now())""",
        user,
    )
    return user


Call = Callable[[], Awaitable[Any]]


def calls_for(conn: asyncpg.Connection, user: uuid.UUID, label: str) -> dict[str, Call]:
    claims = {"sub": str(user), "role": "authenticated", "aud": "authenticated"}

    async def rate_limit() -> None:
        decision = await rate_limits.check_and_count(
            conn, user_id=user, agent_type="document_agent", per_minute=10**6, per_hour=10**7, per_day=10**8
        )
        assert decision.allowed

    async def store() -> None:
        await documents.store_version(
            conn, claims, document_id=None, title="Bench", kind="text", content=CONTENT, metadata=METADATA
        )

    async def store_async() -> None:
        await documents.store_version(
            conn,
            claims,
            document_id=None,
            title="Bench",
            kind="text",
            content=CONTENT,
            metadata=METADATA,
            durable=False,
        )

    return {
        f"rate limit ({label})": rate_limit,
        f"store, durable commit ({label})": store,
        f"store, synchronous_commit off ({label})": store_async,
    }


async def interleaved(calls: dict[str, Call], n: int, warmup: int = 20) -> dict[str, list[float]]:
    for _ in range(warmup):
        for call in calls.values():
            await call()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(n):
        for name, call in calls.items():
            start = time.perf_counter()
            await call()
            samples[name].append((time.perf_counter() - start) * 1000)
    return samples


FUNCTION_STATS = """
select funcname, calls, total_time, self_time from pg_stat_user_functions
where schemaname in ('public', 'auth') and calls > 0 order by total_time desc
"""


async def function_stats(dsn: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        for _ in range(20):  # a backend's function stats reach the shared view when it exits
            rows = await conn.fetch(FUNCTION_STATS)
            if rows:
                return rows
            await anyio.sleep(0.25)
        return []
    finally:
        await conn.close()


async def main(n: int) -> None:
    tag = uuid.uuid4().hex[:8]
    names = [f"artificer_stmt_before_{tag}", f"artificer_stmt_after_{tag}"]
    try:
        before_dsn = await scratch(names[0], without_new=True)
        after_dsn = await scratch(names[1], without_new=False)
        conns: list[asyncpg.Connection] = []
        calls: dict[str, Call] = {}
        for label, dsn in (("before", before_dsn), ("after", after_dsn)):
            conn = await connect(dsn)
            conns.append(conn)
            await conn.execute("set track_functions = 'all'")
            user = await add_user(conn)
            calls.update(calls_for(conn, user, label))
        plain = conns[1]  # the reference statements run on `after`, as its user

        async def select_1() -> None:
            await plain.fetchval("select 1")

        async def insert_sync() -> None:
            await plain.fetchrow(INSERT_SQL.format(source=""), "Bench", CONTENT, user, METADATA)

        async def insert_async() -> None:
            await plain.fetchrow(
                INSERT_SQL.format(source="from set_config('synchronous_commit', 'off', true) as a "),
                "Bench",
                CONTENT,
                user,
                METADATA,
            )

        calls = {
            "select 1": select_1,
            "bare INSERT, durable commit": insert_sync,
            "bare INSERT, synchronous_commit off": insert_async,
            **calls,
        }
        print(f"{n} calls per series, round-robin, after 20 warm-up rounds; Postgres at {ADMIN_URL}\n")
        samples = await interleaved(calls, n)
        for conn in conns:
            await conn.close()

        print(f"{'series':48s} {'median':>8s} {'p25':>8s} {'p75':>8s}   (ms per call, client side)")
        for name, values in samples.items():
            q = statistics.quantiles(values, n=4)
            print(f"{name:48s} {statistics.median(values):8.3f} {q[0]:8.3f} {q[2]:8.3f}")
        med = {name: statistics.median(v) for name, v in samples.items()}
        print()
        for what in ("rate limit", "store, durable commit", "store, synchronous_commit off"):
            b, a = med[f"{what} (before)"], med[f"{what} (after)"]
            print(f"  {what:32s} before {b:6.3f} ms  after {a:6.3f} ms  ({(a - b) / b * 100:+.0f} %)")
        flush = med["bare INSERT, durable commit"] - med["bare INSERT, synchronous_commit off"]
        print(f"  {'WAL flush at commit (bare INSERT durable - off)':48s} {flush:6.3f} ms")

        for label, dsn in (("before", before_dsn), ("after", after_dsn)):
            rows = await function_stats(dsn)
            print(f"\n== server-side function times, {label} (track_functions = 'all'; ms per call)")
            print(f"  {'function':40s} {'calls':>7s} {'total':>8s} {'self':>8s}")
            for r in rows:
                print(
                    f"  {r['funcname']:40s} {r['calls']:7d} {r['total_time'] / r['calls']:8.4f} "
                    f"{r['self_time'] / r['calls']:8.4f}"
                )
    finally:
        await drop(names)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=400)
    options = parser.parse_args()
    anyio.run(main, options.calls)
