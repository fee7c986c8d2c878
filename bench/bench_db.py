"""Database start-up and migration figures, against a baseline measured in the same run.

    uv run python bench/bench_db.py [--runs 3] [--server postgresql://postgres@127.0.0.1:5432/postgres]

Embedded Postgres: cold start (initdb + start in a fresh folder), warm start (restart of a stopped
cluster), join of a running cluster from another process. Then, on the embedded server (and on --server
when given): a bare `CREATE DATABASE` + connect (the baseline), migrating that empty database, and the
test fixture's per-test cost (clone the migrated template, connect, drop; default strategy and FILE_COPY).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from artificer.storage.embedded import quote_identifier, start_embedded
from artificer.storage.migrations import load_migrations, migrate


def dsn_for(server_url: str, database: str) -> str:
    return urlunsplit(urlsplit(server_url)._replace(path="/" + database))


def row(label: str, seconds: list[float]) -> None:
    ms = [s * 1000 for s in seconds]
    spread = f"(min {min(ms):.1f}, max {max(ms):.1f}, n={len(ms)})"
    print(f"  {label:<52} median {statistics.median(ms):8.1f} ms   {spread}")


def embedded_starts(runs: int) -> None:
    print("embedded Postgres")
    cold, warm, joined = [], [], []
    for _ in range(runs):
        folder = Path(tempfile.mkdtemp(prefix="artificer-bench-", dir="/tmp")) / "pg"
        server = start_embedded(folder, cleanup_mode="delete")
        cold.append(server.started_in)
        server.release()
        shutil.rmtree(folder.parent, ignore_errors=True)
    keep = Path(tempfile.mkdtemp(prefix="artificer-bench-", dir="/tmp")) / "pg"
    start_embedded(keep).release()
    for _ in range(runs):
        server = start_embedded(keep)
        warm.append(server.started_in)
        server.release()
    server = start_embedded(keep)
    code = (
        "import sys; from pathlib import Path; from artificer.storage.embedded import start_embedded; "
        "pg = start_embedded(Path(sys.argv[1])); print(pg.started_in); pg.release()"
    )
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code, str(keep)], capture_output=True, text=True, check=True
        )
        joined.append(float(out.stdout))
    row("cold start (initdb + start, fresh folder)", cold)
    row("warm start (stopped cluster restarted)", warm)
    row("join a running cluster (another process)", joined)
    bench_server(server.server_uri(), "embedded", runs)
    server.release()
    shutil.rmtree(keep.parent, ignore_errors=True)


async def timed(action: Callable[[], Awaitable[None]], runs: int) -> list[float]:
    results = []
    for _ in range(runs):
        started = time.perf_counter()
        await action()
        results.append(time.perf_counter() - started)
    return results


async def server_figures(server_url: str, runs: int) -> None:
    admin = await asyncpg.connect(server_url)
    tag = uuid.uuid4().hex[:8]
    made: list[str] = []
    file_copy = " strategy file_copy" if admin.get_server_version().major >= 15 else ""
    migrations = load_migrations()
    counter = iter(range(1_000_000))

    async def fresh(template: str = "template0", strategy: str = "") -> str:
        name = f"artificer_bench_{tag}_{next(counter)}"
        made.append(name)
        await admin.execute(f"create database {quote_identifier(name)} template {template}{strategy}")
        return name

    async def drop(name: str) -> None:
        await admin.execute(f"drop database if exists {quote_identifier(name)} with (force)")

    try:

        async def bare() -> None:
            name = await fresh()
            conn = await asyncpg.connect(dsn_for(server_url, name))
            await conn.close()

        async def migrated() -> None:
            name = await fresh()
            conn = await asyncpg.connect(dsn_for(server_url, name))
            try:
                await migrate(conn, migrations)
            finally:
                await conn.close()

        row("baseline: CREATE DATABASE + connect", await timed(bare, runs))
        row(f"CREATE DATABASE + connect + migrate ({len(migrations)} files)", await timed(migrated, runs))
        template = made[-1]

        def clone(strategy: str) -> Callable[[], Awaitable[None]]:
            async def action() -> None:
                name = await fresh(quote_identifier(template), strategy)
                conn = await asyncpg.connect(dsn_for(server_url, name))
                await conn.close()
                await drop(name)

            return action

        row("per-test fixture: clone template + connect + drop", await timed(clone(""), runs))
        if file_copy:
            row("  the same with STRATEGY FILE_COPY", await timed(clone(file_copy), runs))
    finally:
        for name in made:
            await drop(name)
        await admin.close()


def bench_server(server_url: str, label: str, runs: int) -> None:
    print(f"databases on {label}")
    asyncio.run(server_figures(server_url, runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--server", help="also measure databases on this Postgres (admin DSN)")
    args = parser.parse_args()
    embedded_starts(args.runs)
    if args.server:
        bench_server(args.server, urlsplit(args.server).netloc.rpartition("@")[2], args.runs)


if __name__ == "__main__":
    main()
