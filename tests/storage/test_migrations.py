from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import anyio
import asyncpg
import pytest
from artificer.storage.database import connect
from artificer.storage.migrations import (
    MIGRATION_LOCK_KEY,
    MIGRATIONS_TABLE,
    MigrationError,
    load_migrations,
    migrate,
    reset,
    status,
    verify,
)

pytestmark = pytest.mark.anyio

PROBE_SQL = """
create table public.probe (id int primary key, owner uuid, note text);
alter table public.probe enable row level security;
create function public.probe_touch() returns trigger language plpgsql as $$
begin new.note := coalesce(new.note, 'touched'); return new; end $$;
create trigger probe_touch before insert on public.probe for each row execute function public.probe_touch();
create index probe_note_idx on public.probe (note);
create policy probe_owner on public.probe for all using (owner is null);
insert into public.probe (id) values (1);
"""

PROBE_MANIFEST = SimpleNamespace(
    TABLES=("probe",),
    FUNCTIONS=("probe_touch",),
    INDEXES=("probe_note_idx",),
    TRIGGERS=(("public", "probe", "probe_touch"),),
    POLICIES=(("probe", "probe_owner"),),
    SEED_CHECKS=(("probe row 1 is touched", "select note = 'touched' from public.probe where id = 1"),),
)


@pytest.fixture
async def conn(empty_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await connect(empty_database_url)
    try:
        yield connection
    finally:
        await connection.close()


def write_files(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


async def recorded(conn: asyncpg.Connection) -> list[tuple[str, str]]:
    rows = await conn.fetch(f"select filename, checksum from {MIGRATIONS_TABLE} order by filename")
    return [(row["filename"], row["checksum"]) for row in rows]


async def test_the_real_migrations_apply_in_order_and_twice_is_a_no_op(conn: asyncpg.Connection) -> None:
    files = load_migrations()
    assert files, "sql/ holds no migrations"
    assert [m.filename for m in files] == sorted(m.filename for m in files)

    applied = await migrate(conn)

    assert [m.filename for m in applied] == [m.filename for m in files]
    expected = [(m.filename, hashlib.sha256(m.sql.encode()).hexdigest()) for m in files]
    assert await recorded(conn) == expected
    applied_at = await conn.fetch(f"select filename, applied_at from {MIGRATIONS_TABLE}")

    assert await migrate(conn) == []
    assert await conn.fetch(f"select filename, applied_at from {MIGRATIONS_TABLE}") == applied_at
    state = await status(conn)
    assert state.pending == [] and state.changed == [] and len(state.applied) == len(files)


async def test_files_are_read_from_disk_and_sorted_by_name(tmp_path: Path) -> None:
    folder = write_files(tmp_path, {"0002_b.sql": "select 2;", "0001_a.sql": "select 1;", "notes.txt": "x"})
    files = load_migrations(folder)
    assert [m.filename for m in files] == ["0001_a.sql", "0002_b.sql"]
    assert files[0].checksum == hashlib.sha256(b"select 1;").hexdigest()


async def test_an_applied_file_that_was_edited_is_refused_and_nothing_runs(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    folder = write_files(tmp_path, {"0001_probe.sql": "create table public.t1 (id int);"})
    await migrate(conn, load_migrations(folder))
    edited = {
        "0001_probe.sql": "create table public.t1 (id bigint);",
        "0002_next.sql": "create table public.t2 ();",
    }
    write_files(folder, edited)

    with pytest.raises(MigrationError, match=r"0001_probe\.sql changed after it was applied"):
        await migrate(conn, load_migrations(folder))

    assert await conn.fetchval("select to_regclass('public.t2')") is None
    state = await status(conn, load_migrations(folder))
    assert state.changed == ["0001_probe.sql"]
    assert state.pending == ["0002_next.sql"]


async def test_a_failing_file_is_rolled_back_and_not_recorded(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    folder = write_files(
        tmp_path,
        {
            "0001_ok.sql": "create table public.ok (id int);",
            "0002_bad.sql": "create table public.half (id int);\nselect * from no_such_table;",
            "0003_later.sql": "create table public.later (id int);",
        },
    )
    with pytest.raises(MigrationError, match=r"0002_bad\.sql failed and was rolled back.*no_such_table"):
        await migrate(conn, load_migrations(folder))

    assert [name for name, _ in await recorded(conn)] == ["0001_ok.sql"]
    assert await conn.fetchval("select to_regclass('public.half')") is None
    assert await conn.fetchval("select to_regclass('public.later')") is None


async def test_two_concurrent_migrates_apply_each_file_once(empty_database_url: str, tmp_path: Path) -> None:
    folder = write_files(
        tmp_path,
        {
            "0001_slow.sql": "select pg_sleep(0.3); create table public.counter (n int);",
            "0002_count.sql": "insert into public.counter values (1);",
        },
    )
    files = load_migrations(folder)
    results: list[list[str]] = []

    async def run() -> None:
        connection = await connect(empty_database_url)
        try:
            results.append([m.filename for m in await migrate(connection, files)])
        finally:
            await connection.close()

    async with anyio.create_task_group() as group:
        group.start_soon(run)
        group.start_soon(run)

    assert sorted(results) == [[], ["0001_slow.sql", "0002_count.sql"]]
    check = await connect(empty_database_url)
    try:
        assert await check.fetchval("select count(*) from public.counter") == 1
    finally:
        await check.close()


async def test_migrate_gives_up_with_a_clear_error_while_another_holds_the_lock(
    empty_database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    folder = write_files(tmp_path, {"0001_t.sql": "create table public.t (id int);"})
    holder = await connect(empty_database_url)
    try:
        await holder.execute("select pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        with pytest.raises(MigrationError, match="another migrate is running"):
            await migrate(conn, load_migrations(folder), lock_timeout=0.2)
    finally:
        await holder.close()
    applied = await migrate(conn, load_migrations(folder), lock_timeout=1)
    assert [m.filename for m in applied] == ["0001_t.sql"]


async def test_verify_passes_then_names_each_missing_object(conn: asyncpg.Connection, tmp_path: Path) -> None:
    files = load_migrations(write_files(tmp_path, {"0001_probe.sql": PROBE_SQL}))
    await migrate(conn, files)

    report = await verify(conn, PROBE_MANIFEST, files)
    assert report.ok, report.render()
    assert report.missing == []
    assert "✅ PASSED - Tables" in report.render()

    await conn.execute("drop policy probe_owner on public.probe")
    report = await verify(conn, PROBE_MANIFEST, files)
    assert not report.ok
    assert report.missing == ["RLS policies: probe_owner on probe"]
    assert "❌ probe_owner on probe" in report.render()

    await conn.execute("alter table public.probe disable row level security")
    assert "Row level security: probe" in (await verify(conn, PROBE_MANIFEST, files)).missing

    await conn.execute("drop function public.probe_touch() cascade")
    missing = (await verify(conn, PROBE_MANIFEST, files)).missing
    assert "Functions: probe_touch" in missing
    assert "Triggers: probe_touch on public.probe" in missing
    assert "Seed data: probe row 1 is touched" not in missing

    await conn.execute("drop table public.probe")
    report = await verify(conn, PROBE_MANIFEST, files)
    assert set(report.missing) == {
        "Tables: probe",
        "Functions: probe_touch",
        "Indexes: probe_note_idx",
        "Triggers: probe_touch on public.probe",
        "Row level security: probe",
        "RLS policies: probe_owner on probe",
        "Seed data: probe row 1 is touched",
    }
    assert "❌ FAILED - Seed Data".lower() in report.render().lower()


async def test_verify_names_pending_and_edited_migrations(conn: asyncpg.Connection, tmp_path: Path) -> None:
    folder = write_files(tmp_path, {"0001_a.sql": "select 1;", "0002_b.sql": "select 2;"})
    await migrate(conn, load_migrations(folder)[:1])
    write_files(folder, {"0001_a.sql": "select 11;"})

    report = await verify(conn, SimpleNamespace(), load_migrations(folder))

    assert not report.ok
    assert report.missing == ["Migrations: 0001_a.sql", "Migrations: 0002_b.sql"]
    rendered = report.render()
    assert "❌ 0001_a.sql — edited after it was applied" in rendered
    assert "❌ 0002_b.sql — pending: run `artificer db migrate`" in rendered


async def test_verify_passes_on_a_freshly_migrated_database(database_url: str) -> None:
    pytest.importorskip("artificer.sql.manifest")
    connection = await connect(database_url)
    try:
        report = await verify(connection)
        assert report.ok, report.render()
        assert sum(len(section.results) for section in report.sections) > 0
    finally:
        await connection.close()


async def test_reset_drops_public_contents_and_migrates_again(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    files = load_migrations(write_files(tmp_path, {"0001_probe.sql": PROBE_SQL}))
    await migrate(conn, files)
    await conn.execute("create table public.stray (id int); create type public.mood as enum ('ok');")
    await conn.execute("update public.probe set note = 'edited' where id = 1")
    await conn.execute("create schema elsewhere; create table elsewhere.kept (id int)")

    applied = await reset(conn, files)

    assert [m.filename for m in applied] == ["0001_probe.sql"]
    assert await conn.fetchval("select to_regclass('public.stray')") is None
    assert await conn.fetchval("select to_regtype('public.mood')") is None
    assert await conn.fetchval("select note from public.probe where id = 1") == "touched"
    assert await conn.fetchval("select to_regclass('elsewhere.kept')") is not None
    assert (await verify(conn, PROBE_MANIFEST, files)).ok


async def test_reset_of_the_real_schema_keeps_auth_users_and_verifies(database_url: str, make_user) -> None:
    user_id = await make_user(role="admin")
    conn = await connect(database_url)
    try:
        applied_before = len(await recorded(conn))
        await conn.execute("create table public.stray (id int)")

        applied = await reset(conn)

        assert len(applied) == applied_before
        assert await conn.fetchval("select to_regclass('public.stray')") is None
        assert await conn.fetchval("select raw_app_meta_data from auth.users where id = $1", user_id) == {
            "role": "admin"
        }
        report = await verify(conn)
        assert report.ok, report.render()
        assert await migrate(conn) == []
    finally:
        await conn.close()


async def test_a_connection_that_breaks_mid_migration_reports_the_migration(
    empty_database_url: str, tmp_path: Path
) -> None:
    folder = write_files(tmp_path, {"0001_breaks.sql": "select pg_terminate_backend(pg_backend_pid());"})
    conn = await connect(empty_database_url)
    try:
        # The lock release in the runner's cleanup must not replace this error with "connection is closed".
        with pytest.raises(MigrationError, match=r"0001_breaks\.sql failed"):
            await migrate(conn, load_migrations(folder))
    finally:
        await conn.close()
    # the server dropped the broken session's lock: the next migrate takes it at once
    fresh = await connect(empty_database_url)
    try:
        assert await fresh.fetchval("select pg_try_advisory_lock($1)", MIGRATION_LOCK_KEY)
    finally:
        await fresh.close()
