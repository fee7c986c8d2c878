"""Applies `sql/*.sql` in name order, records them with a checksum, and verifies the result by name.

Each file runs in its own transaction together with its row in `public.artificer_schema_migrations`, so a
file is either applied and recorded or not at all. A session-level advisory lock serialises concurrent
runs: the second waits (up to `lock_timeout` seconds), then finds nothing left to do. A file that was
applied and then edited is refused: write a new file instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import time
from dataclasses import dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import asyncpg

MIGRATIONS_TABLE = "public.artificer_schema_migrations"
# pg_advisory_lock key: the first 8 bytes of sha256("artificer.migrations"), as a signed bigint.
MIGRATION_LOCK_KEY = int.from_bytes(hashlib.sha256(b"artificer.migrations").digest()[:8], "big", signed=True)
DEFAULT_LOCK_TIMEOUT = 60.0


class MigrationError(Exception):
    """A migration could not run; the message names the file and the reason."""


@dataclass(frozen=True)
class MigrationFile:
    filename: str
    sql: str
    checksum: str


@dataclass(frozen=True)
class AppliedMigration:
    filename: str
    checksum: str
    applied_at: Any
    duration_ms: int | None


@dataclass
class MigrationStatus:
    applied: list[AppliedMigration]
    pending: list[str]
    changed: list[str]  # applied, but the file on disk differs now
    unknown: list[str]  # recorded as applied, but no such file any more

    def render(self) -> str:
        lines = [f"applied: {len(self.applied)}, pending: {len(self.pending)}"]
        lines += [f"  ✅ {m.filename}  ({m.applied_at:%Y-%m-%d %H:%M:%S})" for m in self.applied]
        lines += [f"  ⏳ {name}  (pending)" for name in self.pending]
        lines += [f"  ❌ {name}  (edited after it was applied)" for name in self.changed]
        lines += [f"  ❔ {name}  (applied, but the file is gone)" for name in self.unknown]
        return "\n".join(lines)


def load_migrations(source: Traversable | Path | None = None) -> list[MigrationFile]:
    """The `*.sql` files of `source` (default: the installed `artificer.sql` package), by name."""
    folder = source if source is not None else files("artificer.sql")
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql") and entry.is_file():
            data = entry.read_bytes()
            found.append(
                MigrationFile(
                    filename=entry.name,
                    sql=data.decode("utf-8"),
                    checksum=hashlib.sha256(data).hexdigest(),
                )
            )
    return sorted(found, key=lambda m: m.filename)


async def _acquire_lock(conn: asyncpg.Connection, wait_seconds: float) -> None:
    deadline = time.monotonic() + wait_seconds
    while not await conn.fetchval("select pg_try_advisory_lock($1)", MIGRATION_LOCK_KEY):
        if time.monotonic() >= deadline:
            raise MigrationError(
                f"another migrate is running on this database (waited {wait_seconds:g} s for its lock); "
                "try again when it has finished"
            )
        await anyio.sleep(0.05)


async def _release_lock(conn: asyncpg.Connection) -> None:
    """Unlock, in the runner's `finally`. When the connection broke, the server has already dropped the
    session's locks, and the error that broke it (in flight) is the one to report, not "connection closed"."""
    if conn.is_closed():
        return
    with contextlib.suppress(asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError):
        await conn.execute("select pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)


async def _ensure_table(conn: asyncpg.Connection) -> None:
    await conn.execute(
        f"""
        create table if not exists {MIGRATIONS_TABLE} (
            filename text primary key,
            checksum text not null,
            applied_at timestamptz not null default now(),
            duration_ms int
        );
        alter table {MIGRATIONS_TABLE} enable row level security;
        """
    )


async def _table_exists(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("select to_regclass($1) is not null", MIGRATIONS_TABLE))


async def _applied(conn: asyncpg.Connection) -> list[AppliedMigration]:
    if not await _table_exists(conn):
        return []
    rows = await conn.fetch(
        f"select filename, checksum, applied_at, duration_ms from {MIGRATIONS_TABLE} order by filename"
    )
    return [AppliedMigration(**dict(row)) for row in rows]


def _compare(applied: list[AppliedMigration], migrations: list[MigrationFile]) -> MigrationStatus:
    on_disk = {m.filename: m for m in migrations}
    recorded = {m.filename: m for m in applied}
    return MigrationStatus(
        applied=applied,
        pending=[m.filename for m in migrations if m.filename not in recorded],
        changed=[
            m.filename
            for m in applied
            if m.filename in on_disk and on_disk[m.filename].checksum != m.checksum
        ],
        unknown=[m.filename for m in applied if m.filename not in on_disk],
    )


async def status(conn: asyncpg.Connection, migrations: list[MigrationFile] | None = None) -> MigrationStatus:
    """Which migrations are applied, pending, edited since, or recorded without a file."""
    migrations = load_migrations() if migrations is None else migrations
    return _compare(await _applied(conn), migrations)


async def migrate(
    conn: asyncpg.Connection,
    migrations: list[MigrationFile] | None = None,
    *,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> list[AppliedMigration]:
    """Apply every pending migration in name order; returns those applied now (empty: nothing to do)."""
    migrations = load_migrations() if migrations is None else migrations
    await _acquire_lock(conn, lock_timeout)
    try:
        await _ensure_table(conn)
        current = _compare(await _applied(conn), migrations)
        if current.changed:
            names = ", ".join(current.changed)
            raise MigrationError(
                f"refusing to migrate: {names} changed after it was applied (checksum differs); "
                "restore the file and put the change in a new migration"
            )
        done = []
        pending = set(current.pending)
        for migration in migrations:
            if migration.filename not in pending:
                continue
            started = time.perf_counter()
            try:
                async with conn.transaction():
                    # A role's statement_timeout (Supabase sets some) must not cut a long migration short.
                    await conn.execute("set local statement_timeout = 0")
                    await conn.execute(migration.sql)
                    duration_ms = round((time.perf_counter() - started) * 1000)
                    row = await conn.fetchrow(
                        f"insert into {MIGRATIONS_TABLE} (filename, checksum, duration_ms)"
                        " values ($1, $2, $3) returning filename, checksum, applied_at, duration_ms",
                        migration.filename,
                        migration.checksum,
                        duration_ms,
                    )
            except (asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                # A connection that broke inside the file surfaces as "cannot call Transaction.__aexit__"
                # (InterfaceError); the server error that broke it is its context.
                if isinstance(error, asyncpg.InterfaceError):
                    if not isinstance(error.__context__, asyncpg.PostgresError):
                        raise
                    error = error.__context__
                position = getattr(error, "position", None)
                where = f" (at character {position})" if position else ""
                raise MigrationError(
                    f"{migration.filename} failed and was rolled back{where}: {type(error).__name__}: {error}"
                ) from None
            done.append(AppliedMigration(**dict(row)))
        return done
    finally:
        await _release_lock(conn)


async def reset(
    conn: asyncpg.Connection,
    migrations: list[MigrationFile] | None = None,
    *,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> list[AppliedMigration]:
    """Drop everything in schema public (tables, views, functions, types, the migrations table) and
    migrate again. The schema itself and its grants stay; schema auth is left alone."""
    migrations = load_migrations() if migrations is None else migrations
    await _acquire_lock(conn, lock_timeout)
    try:
        async with conn.transaction():
            await _drop_public_contents(conn)
    finally:
        await _release_lock(conn)
    return await migrate(conn, migrations, lock_timeout=lock_timeout)


_NOT_FROM_EXTENSION = """
    not exists (select from pg_depend d where d.objid = {oid} and d.deptype = 'e')
"""


async def _drop_public_contents(conn: asyncpg.Connection) -> None:
    relations = await conn.fetch(
        f"""
        select c.relname, c.relkind::text as relkind
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
          and not c.relispartition and {_NOT_FROM_EXTENSION.format(oid="c.oid")}
        """
    )
    kinds = {"r": "table", "p": "table", "v": "view", "m": "materialized view", "f": "foreign table"}
    for row in relations:
        kind = kinds.get(row["relkind"], "sequence")
        await conn.execute(f"drop {kind} if exists public.{_quote(row['relname'])} cascade")
    routines = await conn.fetch(
        f"""
        select p.oid::regprocedure::text as signature, p.prokind::text as prokind from pg_proc p
        join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = 'public' and {_NOT_FROM_EXTENSION.format(oid="p.oid")}
        """
    )
    for row in routines:
        kind = {"p": "procedure", "a": "aggregate"}.get(row["prokind"], "function")
        if await conn.fetchval("select to_regprocedure($1) is not null", row["signature"]):
            await conn.execute(f"drop {kind} {row['signature']} cascade")
    types = await conn.fetch(
        f"""
        select t.typname, t.typtype::text as typtype
        from pg_type t join pg_namespace n on n.oid = t.typnamespace
        where n.nspname = 'public' and t.typtype in ('e', 'd', 'c', 'r', 'm')
          and (t.typtype <> 'c' or (select c.relkind from pg_class c where c.oid = t.typrelid) = 'c')
          and {_NOT_FROM_EXTENSION.format(oid="t.oid")}
        """
    )
    for row in types:
        kind = "domain" if row["typtype"] == "d" else "type"
        await conn.execute(f"drop {kind} if exists public.{_quote(row['typname'])} cascade")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --- verify --------------------------------------------------------------------------------------


@dataclass
class VerifySection:
    title: str
    results: list[tuple[str, bool, str]] = field(default_factory=list)  # (object, ok, detail)

    @property
    def ok(self) -> bool:
        return all(ok for _, ok, _ in self.results)

    @property
    def missing(self) -> list[str]:
        return [name for name, ok, _ in self.results if not ok]


@dataclass
class VerifyReport:
    sections: list[VerifySection]

    @property
    def ok(self) -> bool:
        return all(section.ok for section in self.sections)

    @property
    def missing(self) -> list[str]:
        """Every object that failed, as `Section: object`."""
        return [f"{section.title}: {name}" for section in self.sections for name in section.missing]

    def render(self) -> str:
        lines: list[str] = []
        for section in self.sections:
            lines.append(f"{section.title} ({len(section.results)})")
            for name, ok, detail in section.results:
                mark = "✅" if ok else "❌"
                lines.append(f"  {mark} {name}" + (f" — {detail}" if detail else ""))
        lines.append("")
        for section in self.sections:
            verdict = "✅ PASSED" if section.ok else "❌ FAILED"
            lines.append(f"{verdict} - {section.title}")
        return "\n".join(lines)


def _split_name(name: str, default_schema: str = "public") -> tuple[str, str]:
    """'auth.users' → ('auth', 'users'); 'Chat' → ('public', 'Chat'); quotes and '(args)' dropped."""
    bare = name.split("(", 1)[0].strip()
    schema, _, relation = bare.rpartition(".")
    return (schema.strip('"') or default_schema, relation.strip('"'))


def load_manifest() -> ModuleType:
    return importlib.import_module("artificer.sql.manifest")


async def verify(
    conn: asyncpg.Connection,
    manifest: ModuleType | Any | None = None,
    migrations: list[MigrationFile] | None = None,
) -> VerifyReport:
    """Check that every migration is applied unedited, every object the manifest names exists (by name, in
    pg_catalog), and RLS is on for every table. Defaults: the installed sql/ files and manifest."""
    migrations = load_migrations() if migrations is None else migrations
    state = await status(conn, migrations)
    section_migrations = VerifySection("Migrations")
    changed = set(state.changed)
    for applied in state.applied:
        if applied.filename in changed:
            section_migrations.results.append((applied.filename, False, "edited after it was applied"))
        elif applied.filename not in state.unknown:
            section_migrations.results.append((applied.filename, True, ""))
    section_migrations.results += [
        (name, False, "pending: run `artificer db migrate`") for name in state.pending
    ]
    if manifest is None:
        try:
            manifest = load_manifest()
        except ModuleNotFoundError:
            raise MigrationError("artificer.sql.manifest is missing: nothing to verify against") from None
    tables: tuple[str, ...] = tuple(getattr(manifest, "TABLES", ()))
    functions: tuple[str, ...] = tuple(getattr(manifest, "FUNCTIONS", ()))
    indexes: tuple[str, ...] = tuple(getattr(manifest, "INDEXES", ()))
    triggers: tuple[tuple[str, str, str], ...] = tuple(getattr(manifest, "TRIGGERS", ()))
    policies: tuple[tuple[str, str], ...] = tuple(getattr(manifest, "POLICIES", ()))
    seed_checks: tuple[tuple[str, str], ...] = tuple(getattr(manifest, "SEED_CHECKS", ()))

    section_tables = VerifySection("Tables")
    section_rls = VerifySection("Row level security")
    for name in tables:
        schema, relation = _split_name(name)
        row = await conn.fetchrow(
            "select c.relrowsecurity from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = $1 and c.relname = $2 and c.relkind in ('r', 'p')",
            schema,
            relation,
        )
        section_tables.results.append((name, row is not None, "" if row is not None else "missing"))
        enabled = row is not None and row["relrowsecurity"]
        detail = "" if enabled else ("table missing" if row is None else "RLS not enabled")
        section_rls.results.append((name, enabled, detail))

    section_functions = VerifySection("Functions")
    for name in functions:
        schema, function = _split_name(name)
        found = await conn.fetchval(
            "select exists (select from pg_proc p join pg_namespace n on n.oid = p.pronamespace"
            " where n.nspname = $1 and p.proname = $2)",
            schema,
            function,
        )
        section_functions.results.append((name, found, "" if found else "missing"))

    section_indexes = VerifySection("Indexes")
    for name in indexes:
        schema, index = _split_name(name)
        found = await conn.fetchval(
            "select exists (select from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = $1 and c.relname = $2 and c.relkind in ('i', 'I'))",
            schema,
            index,
        )
        section_indexes.results.append((name, found, "" if found else "missing"))

    section_triggers = VerifySection("Triggers")
    for schema, table, trigger in triggers:
        found = await conn.fetchval(
            "select exists (select from pg_trigger t join pg_class c on c.oid = t.tgrelid"
            " join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = $1 and c.relname = $2 and t.tgname = $3 and not t.tgisinternal)",
            schema,
            table,
            trigger,
        )
        section_triggers.results.append((f"{trigger} on {schema}.{table}", found, "" if found else "missing"))

    section_policies = VerifySection("RLS policies")
    for table_name, policy in policies:
        schema, table = _split_name(table_name)
        found = await conn.fetchval(
            "select exists (select from pg_policy p join pg_class c on c.oid = p.polrelid"
            " join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = $1 and c.relname = $2 and p.polname = $3)",
            schema,
            table,
            policy,
        )
        section_policies.results.append((f"{policy} on {table_name}", found, "" if found else "missing"))

    section_seed = VerifySection("Seed data")
    for label, query in seed_checks:
        try:
            async with conn.transaction():
                value = await conn.fetchval(query)
        except asyncpg.PostgresError as error:
            section_seed.results.append((label, False, f"{type(error).__name__}: {error}"))
            continue
        section_seed.results.append((label, value is True, "" if value is True else f"returned {value!r}"))

    return VerifyReport(
        [
            section_migrations,
            section_tables,
            section_functions,
            section_indexes,
            section_triggers,
            section_rls,
            section_policies,
            section_seed,
        ]
    )
