"""The installed `artificer` console script, run as a subprocess against real test databases."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import anyio
import anyio.abc
import asyncpg
import httpx2
import pytest
from anyio.streams.text import TextReceiveStream

pytestmark = pytest.mark.anyio

ARTIFICER = Path(sys.executable).parent / "artificer"


def clean_env(**overrides: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("ARTIFICER_") and key not in ("DATABASE_URL", "PYTEST_CURRENT_TEST")
    }
    env.update(overrides)
    return env


async def artificer(
    *args: str, env: dict[str, str], cwd: Path, stdin: int | None = subprocess.DEVNULL
) -> subprocess.CompletedProcess[bytes]:
    return await anyio.run_process([str(ARTIFICER), *args], env=env, cwd=cwd, stdin=stdin, check=False)


def one_error_line(result: subprocess.CompletedProcess[bytes]) -> str:
    """The stderr of a failed command: one `artificer: error:` line, no traceback."""
    stderr = result.stderr.decode()
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("artificer: error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


async def test_version(tmp_path: Path) -> None:
    result = await artificer("--version", env=clean_env(), cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.decode().startswith("artificer 0.")


async def test_migrate_status_and_a_second_migrate(empty_database_url: str, tmp_path: Path) -> None:
    env = clean_env(DATABASE_URL=empty_database_url)

    status_before = await artificer("db", "status", env=env, cwd=tmp_path)
    assert status_before.returncode == 0, status_before.stderr
    assert "applied: 0" in status_before.stdout.decode()

    first = await artificer("db", "migrate", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    applied = [line for line in first.stdout.decode().splitlines() if line.startswith("applied ")]
    assert applied and all(line.endswith(" ms)") for line in applied)
    assert "database: Postgres at" in first.stderr.decode()

    second = await artificer("db", "migrate", env=env, cwd=tmp_path)
    assert second.returncode == 0
    assert f"nothing to migrate: all {len(applied)} migrations are applied" in second.stdout.decode()

    status_after = await artificer("db", "status", env=env, cwd=tmp_path)
    assert f"applied: {len(applied)}, pending: 0" in status_after.stdout.decode()


async def test_migrate_goes_through_the_direct_url(
    empty_database_url: str, closed_port: int, tmp_path: Path
) -> None:
    # DATABASE_URL stands for a transaction pooler (here: nothing listens); migrations need a session.
    env = clean_env(
        DATABASE_URL=f"postgresql://app:pw@127.0.0.1:{closed_port}/pooled",
        ARTIFICER_DIRECT_DATABASE_URL=empty_database_url,
    )
    result = await artificer("db", "migrate", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    conn = await asyncpg.connect(empty_database_url)
    try:
        assert await conn.fetchval("select count(*) from public.artificer_schema_migrations") > 0
    finally:
        await conn.close()


async def test_verify_exit_codes(database_url: str, tmp_path: Path) -> None:
    manifest = pytest.importorskip("artificer.sql.manifest")
    env = clean_env(DATABASE_URL=database_url)
    ok = await artificer("db", "verify", env=env, cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout.decode()
    assert "❌" not in ok.stdout.decode()

    table = manifest.TABLES[0]
    conn = await asyncpg.connect(database_url)
    try:
        schema, _, name = table.rpartition(".")
        await conn.execute(f'drop table "{schema or "public"}"."{name}" cascade')
    finally:
        await conn.close()
    broken = await artificer("db", "verify", env=env, cwd=tmp_path)
    assert broken.returncode == 1
    assert f"❌ {table}" in broken.stdout.decode()


async def test_reset_refuses_without_yes_and_without_a_terminal(database_url: str, tmp_path: Path) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("create table public.keep_me (id int)")
        result = await artificer("db", "reset", env=clean_env(DATABASE_URL=database_url), cwd=tmp_path)
        assert result.returncode == 2
        assert "pass --yes" in one_error_line(result)
        assert await conn.fetchval("select to_regclass('public.keep_me')") is not None
    finally:
        await conn.close()


async def test_reset_asks_on_a_terminal_and_yes_resets(database_url: str, tmp_path: Path) -> None:
    env = clean_env(DATABASE_URL=database_url)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("create table public.stray (id int)")
        for answer, code, kept in ((b"n\n", 1, True), (b"y\n", 0, False)):
            primary, secondary = os.openpty()
            try:
                os.write(primary, answer)
                result = await artificer("db", "reset", env=env, cwd=tmp_path, stdin=secondary)
            finally:
                os.close(primary)
                os.close(secondary)
            assert result.returncode == code, result.stderr
            assert (await conn.fetchval("select to_regclass('public.stray')") is not None) is kept

        result = await artificer("db", "reset", "--yes", env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "reset done" in result.stdout.decode()
        assert await conn.fetchval("select count(*) from public.artificer_schema_migrations") > 0
    finally:
        await conn.close()


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield int(server.getsockname()[1])


async def test_unreachable_server_gives_one_line_without_password(closed_port: int, tmp_path: Path) -> None:
    env = clean_env(DATABASE_URL=f"postgresql://someone:s3cret-pw@127.0.0.1:{closed_port}/app")
    result = await artificer("db", "migrate", env=env, cwd=tmp_path)
    assert result.returncode == 2
    line = one_error_line(result)
    assert f"127.0.0.1:{closed_port}" in line and "connection refused" in line
    assert "s3cret-pw" not in result.stderr.decode() + result.stdout.decode()


async def test_a_server_that_never_answers_times_out(silent_server: int, tmp_path: Path) -> None:
    env = clean_env(
        DATABASE_URL=f"postgresql://someone:s3cret-pw@127.0.0.1:{silent_server}/app",
        ARTIFICER_CONNECT_TIMEOUT="0.5",
    )
    result = await artificer("db", "status", env=env, cwd=tmp_path)
    assert result.returncode == 2
    line = one_error_line(result)
    assert "timed out after 0.5 s" in line and f"127.0.0.1:{silent_server}" in line
    assert "s3cret-pw" not in result.stderr.decode()


@pytest.mark.parametrize(
    "url",
    ["mysql://root:s3cret-pw@db/app", "postgresql://root:s3cret-pw@db:notaport/app", "not a url at all"],
)
async def test_a_malformed_database_url_is_refused(url: str, tmp_path: Path) -> None:
    result = await artificer("db", "status", env=clean_env(DATABASE_URL=url), cwd=tmp_path)
    assert result.returncode == 2
    assert "malformed DATABASE_URL" in one_error_line(result)
    assert "s3cret-pw" not in result.stderr.decode()


async def test_wrong_credentials_name_the_user(pg_admin_url: str, tmp_path: Path) -> None:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(pg_admin_url)
    netloc = f"no_such_role_xyz:s3cret-pw@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    url = urlunsplit(parts._replace(netloc=netloc))
    result = await artificer("db", "status", env=clean_env(DATABASE_URL=url), cwd=tmp_path)
    assert result.returncode == 2
    line = one_error_line(result)
    assert "rejected user 'no_such_role_xyz'" in line
    assert "s3cret-pw" not in result.stderr.decode()


async def test_invalid_settings_are_one_line(tmp_path: Path) -> None:
    result = await artificer("db", "status", env=clean_env(ARTIFICER_POOL_MAX_SIZE="zero"), cwd=tmp_path)
    assert result.returncode == 2
    assert "invalid settings" in one_error_line(result)


async def test_embedded_by_default_says_where_the_data_lives(tmp_path: Path) -> None:
    data_dir = tmp_path / "data" / "pg"
    env = clean_env(ARTIFICER_DATA_DIR=str(data_dir), ARTIFICER_DATABASE_NAME="cli_test")
    result = await artificer("db", "migrate", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"database: embedded Postgres in {data_dir} (database 'cli_test')" in result.stderr.decode()
    assert (data_dir / "PG_VERSION").exists()
    again = await artificer("db", "status", env=env, cwd=tmp_path)
    assert ", pending: 0" in again.stdout.decode()


async def test_two_concurrent_migrates_share_one_fresh_embedded_cluster(tmp_path: Path) -> None:
    env = clean_env(ARTIFICER_DATA_DIR=str(tmp_path / "shared" / "pg"))
    results: list[subprocess.CompletedProcess[bytes]] = []

    async def migrate_once() -> None:
        results.append(await artificer("db", "migrate", env=env, cwd=tmp_path))

    async with anyio.create_task_group() as group:
        group.start_soon(migrate_once)
        group.start_soon(migrate_once)

    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    applied = [[ln for ln in r.stdout.decode().splitlines() if ln.startswith("applied ")] for r in results]
    assert sorted(len(lines) for lines in applied)[0] == 0  # one of them found nothing left to do
    assert max(len(lines) for lines in applied) > 0
    assert not (tmp_path / "shared" / "pg" / "postmaster.pid").exists()  # the last one out stopped it


async def test_serve_reports_a_refused_startup_migration_as_one_line(
    database_url: str, tmp_path: Path
) -> None:
    conn = await asyncpg.connect(database_url)
    try:  # an applied migration whose recorded checksum no longer matches its file
        await conn.execute(
            "update public.artificer_schema_migrations set checksum = 'tampered'"
            " where filename = (select min(filename) from public.artificer_schema_migrations)"
        )
    finally:
        await conn.close()
    env = clean_env(DATABASE_URL=database_url)
    with anyio.fail_after(60):
        result = await artificer("serve", env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "refusing to migrate" in one_error_line(result)


async def test_serve_reports_an_unreachable_database_as_one_line(closed_port: int, tmp_path: Path) -> None:
    env = clean_env(DATABASE_URL=f"postgresql://app:pw@127.0.0.1:{closed_port}/x")
    with anyio.fail_after(60):
        result = await artificer("serve", env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "cannot reach Postgres" in one_error_line(result)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, "ARTIFICER_JWT_SECRET"),
        ({"ARTIFICER_JWT_SECRET": "a-secret-long-enough-for-hs256-0123456789", "ARTIFICER_JWT_AUDIENCE": " "},
         "ARTIFICER_JWT_AUDIENCE is empty"),
    ],
)  # fmt: skip
async def test_serve_http_checks_token_verification_before_touching_the_database(
    empty_database_url: str, tmp_path: Path, settings: dict[str, str], expected: str
) -> None:
    env = clean_env(DATABASE_URL=empty_database_url, **settings)
    with anyio.fail_after(60):
        result = await artificer("serve", "--transport", "http", "--port", "0", env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert expected in one_error_line(result)
    conn = await asyncpg.connect(empty_database_url)
    try:  # nothing was migrated
        assert await conn.fetchval("select count(*) from pg_tables where schemaname = 'public'") == 0
        assert await conn.fetchval("select to_regnamespace('auth')") is None
    finally:
        await conn.close()


# --- secrets never reach the process's log ---------------------------------------------------------

SECRETS = {
    "openai": "sk-proj-s3cretKEYabcdefghijklmnop",
    "google": "AIzaS3cretKEYabcdefghijklmnopqrstuvwxyz0",
    "github": "ghp_S3cretTOKENabcdefghijklmnopqrstuv",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzM2NyZXQifQ.S3cretSIGNATUREabcdef",
    "bearer": "S3cretBEARERabcdefgh",
    "db": "s3cret-db-password",
}


def assert_no_secret(text: str) -> None:
    leaked = [name for name, secret in SECRETS.items() if secret in text or "3cret" in text]
    assert not leaked, f"{leaked} leaked into:\n{text}"


LOGGING_PROBE = f"""
import logging, sys
from artificer.server.cli import configure_logging

secrets = {SECRETS!r}
configure_logging("DEBUG")
log = logging.getLogger("artificer.probe")
dsn = "postgresql://app:" + secrets["db"] + "@db.example.test:5432/app"
log.warning("key %s and google %s", secrets["openai"], secrets["google"])
log.info("github token " + secrets["github"] + " and a JWT %s", secrets["jwt"])
log.error("sent Authorization: Bearer %s to %s", secrets["bearer"], dsn)
logging.getLogger("uvicorn.error").warning("dsn %r; keyword form password=%s", dsn, secrets["db"])
try:
    raise RuntimeError("upstream refused " + secrets["openai"] + " at " + dsn)
except RuntimeError:
    log.exception("call failed")
log.warning("stack", stack_info=True, extra={{"note": secrets["github"]}})
log.warning("bad arguments %d", secrets["github"])  # formatting fails: the handler's error report
print("probe done", file=sys.stderr)
"""


async def test_the_log_handler_redacts_secrets_in_messages_args_and_tracebacks(tmp_path: Path) -> None:
    result = await anyio.run_process(
        [sys.executable, "-c", LOGGING_PROBE], env=clean_env(), cwd=tmp_path, check=False
    )
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr
    assert stderr.rstrip().endswith("probe done"), stderr
    lines = stderr.splitlines()
    for expected in (
        "WARNING artificer.probe: key [redacted] and google [redacted]",
        "INFO artificer.probe: github token [redacted] and a JWT [redacted]",
        "ERROR artificer.probe: sent Authorization: [redacted] to postgresql://app:[redacted]@db.example.test",
        "WARNING uvicorn.error: dsn 'postgresql://app:[redacted]@db.example.test:5432/app'; "
        "keyword form password=[redacted]",
        "RuntimeError: upstream refused [redacted] at postgresql://app:[redacted]@db.example.test:5432/app",
    ):
        assert any(expected in line for line in lines), f"{expected!r} not in:\n{stderr}"
    assert "Traceback (most recent call last)" in stderr  # the traceback is kept, redacted
    assert_no_secret(stderr)


async def _read_until(stream: anyio.abc.ByteReceiveStream, seen: list[str], pattern: str) -> re.Match[str]:
    """Read `stream` into `seen` until the text read so far matches `pattern`."""
    async for chunk in TextReceiveStream(stream):
        seen.append(chunk)
        match = re.search(pattern, "".join(seen))
        if match:
            return match
    raise AssertionError(f"the output ended before {pattern!r}:\n{''.join(seen)}")


async def test_serve_http_logs_requests_with_their_secrets_redacted(
    database_url: str, tmp_path: Path
) -> None:
    parts = urlsplit(database_url)
    if not parts.password:  # the test servers trust local connections: a password is not checked
        user, server = parts.username or "postgres", parts.netloc.rpartition("@")[2]
        database_url = urlunsplit(parts._replace(netloc=f"{user}:{SECRETS['db']}@{server}"))
    env = clean_env(
        DATABASE_URL=database_url,
        ARTIFICER_JWT_SECRET="a-secret-long-enough-for-hs256-0123456789",
        ARTIFICER_LOG_LEVEL="INFO",
    )
    query = "&".join(
        [
            f"key={SECRETS['openai']}",
            f"google={SECRETS['google']}",
            f"token={SECRETS['github']}",
            f"jwt={SECRETS['jwt']}",
            f"db=postgresql://app:{SECRETS['db']}@db.example.test/app",
        ]
    )
    seen: list[str] = []
    command = [str(ARTIFICER), "serve", "--transport", "http", "--port", "0"]
    with anyio.fail_after(60):
        async with await anyio.open_process(command, env=env, cwd=tmp_path) as process:
            assert process.stderr is not None
            try:
                started = await _read_until(
                    process.stderr, seen, r"Uvicorn running on http://127\.0\.0\.1:(\d+)"
                )
                async with httpx2.AsyncClient() as client:
                    response = await client.get(f"http://127.0.0.1:{started[1]}/health?{query}")
                assert response.status_code == 200
                await _read_until(process.stderr, seen, r'"GET /health\?[^"]*" 200')
            finally:
                with contextlib.suppress(ProcessLookupError):  # it may have exited (a failed start)
                    process.send_signal(signal.SIGINT)
                async for chunk in TextReceiveStream(process.stderr):
                    seen.append(chunk)
        assert process.returncode == 130, "".join(seen)  # interrupted: `artificer: interrupted`
    stderr = "".join(seen)
    access = next(line for line in stderr.splitlines() if "GET /health?" in line)
    assert "key=[redacted]&google=[redacted]&token=[redacted]&jwt=[redacted]" in access, access
    assert "db=postgresql://app:[redacted]@db.example.test/app" in access, access
    assert_no_secret(stderr)


async def test_an_unknown_log_level_is_one_line(tmp_path: Path) -> None:
    result = await artificer("db", "status", env=clean_env(ARTIFICER_LOG_LEVEL="chatty"), cwd=tmp_path)
    assert result.returncode == 2
    assert "invalid ARTIFICER_LOG_LEVEL 'chatty'" in one_error_line(result)
