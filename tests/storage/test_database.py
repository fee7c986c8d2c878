from __future__ import annotations

import socket
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from artificer.common.settings import Settings
from artificer.storage.database import (
    DatabaseError,
    DatabaseTarget,
    as_user,
    connect,
    create_pool,
    describe_server,
    redact_dsn,
    resolve_database,
    translate_connect_error,
)
from session_state import leftovers_after_release, session_leftovers  # type: ignore[import-not-found]

pytestmark = pytest.mark.anyio


def with_netloc(url: str, netloc: str) -> str:
    return urlunsplit(urlsplit(url)._replace(netloc=netloc))


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("dsn", "redacted"),
    [
        ("postgresql://u:p%40ss@h:5432/db?sslmode=require", "postgresql://u:***@h:5432/db?sslmode=require"),
        ("postgres://u@h/db", "postgres://u@h/db"),
        ("postgresql://u:@/db?host=/tmp/x", "postgresql://u:***@/db?host=/tmp/x"),
        (
            "postgresql://h/db?user=u&password=secret&sslmode=verify-full",
            "postgresql://h/db?user=u&password=***&sslmode=verify-full",
        ),
    ],
)
def test_redact_dsn(dsn: str, redacted: str) -> None:
    assert redact_dsn(dsn) == redacted


def test_describe_server() -> None:
    assert describe_server("postgresql://u:p@db.example.test:6543/postgres") == "db.example.test:6543"
    assert describe_server("postgresql://u:p@db.example.test/postgres") == "db.example.test:5432"
    assert describe_server("postgresql://postgres:@/app?host=/var/lib/x") == "the socket in /var/lib/x"


async def test_pool_decodes_json_and_jsonb_to_python_objects(pool: asyncpg.Pool) -> None:
    row = await pool.fetchrow("""select '{"a": [1, 2]}'::jsonb as b, '{"c": null}'::json as j""")
    assert row["b"] == {"a": [1, 2]} and row["j"] == {"c": None}
    assert await pool.fetchval("select $1::jsonb -> 'k'", {"k": "v"}) == "v"
    assert await pool.fetchval("select $1::json ->> 'k'", {"k": "é"}) == "é"
    async with pool.acquire() as conn:  # binary COPY needs binary codecs
        await conn.execute("create temp table copied (b jsonb, j json)")
        await conn.copy_records_to_table("copied", records=[({"x": [1]}, {"y": "z"})])
        assert await conn.fetchrow("select b, j from copied") == ({"x": [1]}, {"y": "z"})


async def test_as_user_runs_one_transaction_with_the_claims_and_role(pool: asyncpg.Pool, make_user) -> None:
    user_id = await make_user(role="admin", email="admin@example.test")
    assert await pool.fetchval("select raw_app_meta_data from auth.users where id = $1", user_id) == {
        "role": "admin"
    }
    claims = {"sub": str(user_id), "role": "authenticated", "email": "admin@example.test"}
    async with as_user(pool, claims) as conn:
        row = await conn.fetchrow("select current_user as who, auth.uid() as uid, auth.email() as email")
        assert conn.is_in_transaction()
    assert dict(row) == {"who": "authenticated", "uid": user_id, "email": "admin@example.test"}
    async with pool.acquire() as conn:
        after = await conn.fetchrow("select current_user as who, auth.uid() as uid")
    assert after["who"] != "authenticated" and after["uid"] is None


async def test_as_user_applies_row_level_security_and_rolls_back_on_error(
    database_url: str, make_user
) -> None:
    alice, bob = await make_user(), await make_user()
    single = await create_pool(database_url, min_size=1, max_size=1)  # every step on one session
    try:
        await single.execute(
            """
            create table public.rls_probe (owner uuid not null default auth.uid(), body text);
            alter table public.rls_probe enable row level security;
            grant select, insert, update on public.rls_probe to authenticated;
            create policy own on public.rls_probe for all to authenticated
              using ((select auth.uid()) = owner) with check ((select auth.uid()) = owner);
            """
        )
        await single.execute(
            "insert into public.rls_probe values ($1, 'of alice'), ($2, 'of bob')", alice, bob
        )
        async with as_user(single, {"sub": str(alice), "role": "authenticated"}) as conn:
            assert await conn.fetch("select body from public.rls_probe") == [("of alice",)]
            assert (
                await conn.execute("update public.rls_probe set body = 'x' where owner = $1", bob)
                == "UPDATE 0"
            )
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with conn.transaction():
                    await conn.execute("insert into public.rls_probe values ($1, 'forged')", bob)

        with pytest.raises(RuntimeError):
            async with as_user(single, {"sub": str(alice)}) as conn:
                await conn.execute("insert into public.rls_probe (body) values ('rolled back')")
                raise RuntimeError("boom")
        assert await single.fetchval("select count(*) from public.rls_probe") == 2

        conn = await single.acquire()
        try:  # a bare connection works too
            async with as_user(conn, {"sub": str(bob)}) as same:
                assert same is conn
                assert await same.fetchval("select body from public.rls_probe") == "of bob"
        finally:
            await single.release(conn)
    finally:
        await single.close()


async def test_statement_cache_can_be_off_for_transaction_poolers(database_url: str) -> None:
    no_cache = await create_pool(database_url, statement_cache_size=0, min_size=1, max_size=2)
    try:
        for _ in range(3):
            assert await no_cache.fetchval("select $1::int + 1", 41) == 42
        async with no_cache.acquire() as conn:
            assert conn._stmt_cache.get_max_size() == 0  # the setting reached asyncpg
    finally:
        await no_cache.close()


async def test_connect_errors_are_typed_and_redacted(pg_admin_url: str) -> None:
    port = closed_port()
    with pytest.raises(DatabaseError, match=f"cannot reach Postgres at 127.0.0.1:{port}") as refused:
        await connect(f"postgresql://u:s3cret@127.0.0.1:{port}/db")
    assert "s3cret" not in str(refused.value)

    with pytest.raises(DatabaseError, match="malformed DATABASE_URL") as malformed:
        await connect("postgresql://u:s3cret@host:port/db")
    assert "s3cret" not in str(malformed.value)

    parts = urlsplit(pg_admin_url)
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    with pytest.raises(DatabaseError, match="rejected user 'nobody_here_xyz'"):
        await connect(with_netloc(pg_admin_url, f"nobody_here_xyz:s3cret@{host}"))
    missing = f"no_such_db_{uuid.uuid4().hex[:8]}"
    with pytest.raises(DatabaseError, match=f"database '{missing}' does not exist"):
        await connect(urlunsplit(parts._replace(path="/" + missing)))
    with pytest.raises(DatabaseError, match="cannot reach"):
        await create_pool(f"postgresql://u:s3cret@127.0.0.1:{port}/db", min_size=1)
    with pytest.raises(DatabaseError, match=r"malformed DATABASE_URL.*sslmode"):
        await connect(f"postgresql://u:s3cret@127.0.0.1:{port}/db?sslmode=sometimes")


async def test_sslmode_is_honoured(pg_admin_url: str) -> None:
    conn = await connect(pg_admin_url)
    try:
        server_has_ssl = await conn.fetchval("select current_setting('ssl') = 'on'")
    finally:
        await conn.close()
    if server_has_ssl:
        pytest.skip("this test server speaks SSL; the refusal below needs one without it")
    separator = "&" if "?" in pg_admin_url else "?"
    if "host=/" in pg_admin_url:
        pytest.skip("unix sockets never use SSL")
    with pytest.raises(DatabaseError, match=r"SSL with Postgres at .* failed.*check \?sslmode="):
        await connect(f"{pg_admin_url}{separator}sslmode=require")
    conn = await connect(f"{pg_admin_url}{separator}sslmode=prefer")  # falls back to plain
    await conn.close()


async def test_resolve_database_prefers_database_url(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ARTIFICER_STATEMENT_CACHE_SIZE", "0")
    settings = Settings(_env_file=None)
    async with await resolve_database(settings) as target:
        assert target.embedded is None
        assert target.dsn == database_url
        assert target.statement_cache_size == 0
        assert "(DATABASE_URL)" in target.location
        conn = await target.connect()
        try:
            assert await conn.fetchval("select '[1]'::jsonb") == [1]
        finally:
            await conn.close()


async def test_resolve_database_rejects_a_malformed_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "https://user:s3cret@example.test/db")
    with pytest.raises(DatabaseError, match="postgresql://") as error:
        await resolve_database(Settings(_env_file=None))
    assert "s3cret" not in str(error.value)


async def test_resolve_database_starts_the_embedded_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("ARTIFICER_DATABASE_URL", raising=False)
    monkeypatch.setenv("ARTIFICER_DATA_DIR", str(tmp_path / "pg"))
    monkeypatch.setenv("ARTIFICER_DATABASE_NAME", "resolve_probe")
    async with await resolve_database(Settings(_env_file=None)) as target:
        assert target.embedded is not None
        assert str(tmp_path / "pg") in target.location
        pool = await target.create_pool(min_size=1, max_size=2)
        try:
            assert await pool.fetchval("select current_database()") == "resolve_probe"
        finally:
            await pool.close()
    assert not (tmp_path / "pg" / "postmaster.pid").exists()  # the last handle stopped the server


async def test_session_work_goes_to_the_direct_url(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pooler = "postgresql://app:secret@127.0.0.1:1/pooled"  # nothing listens there
    monkeypatch.setenv("DATABASE_URL", pooler)
    monkeypatch.delenv("ARTIFICER_DIRECT_DATABASE_URL", raising=False)
    async with await resolve_database(Settings(_env_file=None)) as target:
        assert target.session_dsn == target.dsn == pooler
        with pytest.raises(DatabaseError, match=r"127\.0\.0\.1:1\b"):
            await target.connect()

    monkeypatch.setenv("ARTIFICER_DIRECT_DATABASE_URL", database_url)
    async with await resolve_database(Settings(_env_file=None)) as target:
        assert target.dsn == pooler  # the pool still goes through DATABASE_URL
        assert target.session_dsn == database_url
        assert "ARTIFICER_DIRECT_DATABASE_URL" in target.location and "secret" not in target.location
        conn = await target.connect()
        try:
            direct = await asyncpg.connect(database_url)
            try:
                expected = await direct.fetchval("select current_database()")
            finally:
                await direct.close()
            assert await conn.fetchval("select current_database()") == expected
        finally:
            await conn.close()


def test_database_target_repr_hides_the_passwords() -> None:
    target = DatabaseTarget(
        dsn="postgresql://app:s3cret-pool@pooler.example.test:6543/db?sslmode=require",
        location="Postgres at pooler.example.test:6543 (DATABASE_URL)",
        direct_dsn="postgresql://app@db.example.test/db?password=s3cret-direct",
    )
    shown = f"{target!r} {target} {[target]}"
    assert "s3cret" not in shown
    assert "postgresql://app:***@pooler.example.test:6543/db?sslmode=require" in shown
    assert "postgresql://app@db.example.test/db?password=***" in shown


@pytest.mark.parametrize(
    "error",
    [
        ValueError("invalid value 's3cret/pw' in postgresql://u:s3cret%2Fpw@h/db"),
        asyncpg.PostgresError("password s3cret/pw did not work"),
        RuntimeError("driver echoed postgresql://u:s3cret%2Fpw@h/db"),
    ],
)
def test_a_connect_error_that_echoes_the_password_is_masked(error: Exception) -> None:
    message = str(translate_connect_error("postgresql://u:s3cret%2Fpw@h/db", error, 1.0))
    assert "s3cret" not in message
    assert "***" in message


# --- the pool's skipped reset ----------------------------------------------------------------------
# `keep_session` skips asyncpg's reset query on release, on the claim that Artificer never leaves
# session-level state on a pooled connection. The first test shows the pool really keeps such state (so the
# checker, tests/session_state.py, can fail); the next, and tests/server/test_pool_session_state.py with the
# whole server, demand that Artificer's own pooled work leaves none.


@pytest.mark.parametrize(
    ("statement", "leftover"),
    [
        ("set application_name = 'leaked'", "setting application_name"),
        ("set statement_timeout = '1s'", "setting statement_timeout"),
        ("set artificer.probe = 'x'", "setting artificer.probe"),
        ("select set_config('request.jwt.claims', '{}', false)", "setting request.jwt.claims"),
        ("set role pg_read_all_data", "role pg_read_all_data"),
        ("create temp table leaked (x int)", "temp table leaked"),
        ("prepare leaked as select 1", "prepared statement leaked"),
        ("listen leaked", "listen leaked"),
        ("select pg_advisory_lock(4242)", "advisory lock 4242"),
        ("begin; declare leaked cursor with hold for select 1; commit", "cursor leaked"),
    ],
)
async def test_the_pool_keeps_session_state_across_a_release(
    database_url: str, statement: str, leftover: str
) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            pid = await conn.fetchval("select pg_backend_pid()")
            assert await session_leftovers(conn) == []
            await conn.execute(statement)
        assert await leftovers_after_release(pool, pid) == [leftover]
    finally:
        await pool.close()


async def test_transaction_local_settings_end_with_the_checkout(database_url: str, make_user) -> None:
    user = await make_user()
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            pid = await conn.fetchval("select pg_backend_pid()")
        async with as_user(pool, {"sub": str(user), "role": "authenticated"}) as conn:
            assert await conn.fetchval("select current_user") == "authenticated"
            await conn.execute("select pg_advisory_xact_lock(4242)")
        with pytest.raises(RuntimeError):
            async with as_user(pool, {"sub": str(user)}) as conn:
                await conn.execute("set local statement_timeout = '1s'")
                raise RuntimeError("roll back")
        assert await leftovers_after_release(pool, pid) == []
        async with pool.acquire() as conn:
            assert await conn.fetchval("select current_setting('request.jwt.claims', true)") in (None, "")
            assert await conn.fetchval("select current_user") != "authenticated"
    finally:
        await pool.close()
