"""Fixtures every test uses: a real Postgres, one migrated template per session, a fresh clone per test.

The test server is an embedded Postgres in a fresh folder under /tmp (deleted at the end), or the server
`ARTIFICER_TEST_DATABASE_URL` names. Databases made on it are named `artificer_test_<session>_<n>`, and every
one is dropped after its test and, at the latest, when pytest exits.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from artificer.storage.database import create_pool
from artificer.storage.embedded import quote_identifier, start_embedded
from artificer.storage.migrations import migrate
from fakes.gemini import FakeGemini

SESSION_TAG = uuid.uuid4().hex[:10]
DATABASE_PREFIX = f"artificer_test_{SESSION_TAG}"

TEMPLATE_BUILD_LOCK = 0x41525446_54455354  # "ARTF" "TEST"

_created_databases: set[str] = set()
_admin_url_for_exit: list[str] = []
_counter = iter(range(1, 1_000_000))

MakeUser = Callable[..., Awaitable[uuid.UUID]]


def database_dsn(server_url: str, database: str) -> str:
    """`server_url` pointed at another database (keeps host, port, user, password and query)."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path="/" + database))


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """Admin DSN of the test server (superuser on the embedded one)."""
    configured = os.environ.get("ARTIFICER_TEST_DATABASE_URL")
    if configured:
        _admin_url_for_exit.append(configured)
        yield configured
        return
    folder = Path(tempfile.mkdtemp(prefix="artificer-test-", dir="/tmp"))
    server = start_embedded(folder / "pgdata", cleanup_mode="delete")
    url = server.server_uri("postgres")
    # A throwaway cluster: no fsync makes CREATE/DROP DATABASE (checkpoints) ~10x cheaper.
    server.server.psql(
        "alter system set fsync = off; alter system set synchronous_commit = off;"
        " alter system set full_page_writes = off; select pg_reload_conf();"
    )
    _admin_url_for_exit.append(url)
    try:
        yield url
    finally:
        server.release()
        shutil.rmtree(folder, ignore_errors=True)


class SessionDatabases:
    """Creates and drops this session's databases on the test server over one admin connection.

    `clone()` hands out a copy of the migrated template and at once starts making the next copy, so the
    server copies while the current test runs (CREATE DATABASE is server-side work).
    """

    def __init__(self, admin: asyncpg.Connection) -> None:
        self.admin = admin
        self.lock = asyncio.Lock()  # one statement at a time on the admin connection
        self.template: str | None = None
        self._next_clone: asyncio.Task[str] | None = None

    async def create(self, template: str) -> str:
        # The default strategy (WAL_LOG on PG15+) measured faster than FILE_COPY for these small
        # databases: FILE_COPY pays two checkpoints per copy.
        name = f"{DATABASE_PREFIX}_{next(_counter)}"
        _created_databases.add(name)
        async with self.lock:
            await self.admin.execute(
                f"create database {quote_identifier(name)} template {quote_identifier(template)}"
            )
        return name

    async def drop(self, name: str) -> None:
        async with self.lock:
            await self.admin.execute(f"drop database if exists {quote_identifier(name)} with (force)")
        _created_databases.discard(name)

    async def clone(self) -> str:
        assert self.template is not None
        name = await self._take_next_clone()
        if name is None:
            name = await self.create(self.template)
        self._next_clone = asyncio.get_running_loop().create_task(self.create(self.template))
        return name

    async def _take_next_clone(self) -> str | None:
        task, self._next_clone = self._next_clone, None
        if task is None:
            return None
        try:
            return await task
        except Exception:  # made again below; a half-made database is dropped at exit
            return None

    async def discard_next_clone(self) -> None:
        name = await self._take_next_clone()
        if name is not None:
            await self.drop(name)


@pytest.fixture(scope="session")
async def _databases(pg_admin_url: str) -> AsyncIterator[SessionDatabases]:
    conn = await asyncpg.connect(pg_admin_url)
    databases = SessionDatabases(conn)
    try:
        yield databases
    finally:
        await databases.discard_next_clone()
        await conn.close()


@pytest.fixture(scope="session")
async def _template_database(_databases: SessionDatabases, pg_admin_url: str) -> AsyncIterator[str]:
    """One database per session with every migration applied; tests get clones of it."""
    name = await _databases.create("template0")
    # Roles belong to the whole server: two test sessions on one shared server must not run the auth shim's
    # CREATE ROLEs at the same moment, so template builds take turns (a lock in the admin database).
    await _databases.admin.execute("select pg_advisory_lock($1)", TEMPLATE_BUILD_LOCK)
    try:
        conn = await asyncpg.connect(database_dsn(pg_admin_url, name))
        try:
            await migrate(conn)
        finally:
            await conn.close()
    finally:
        await _databases.admin.execute("select pg_advisory_unlock($1)", TEMPLATE_BUILD_LOCK)
    _databases.template = name
    try:
        yield name
    finally:
        await _databases.discard_next_clone()
        await _databases.drop(name)


@pytest.fixture
async def database_url(
    _databases: SessionDatabases, _template_database: str, pg_admin_url: str
) -> AsyncIterator[str]:
    """A fresh database with all migrations applied, dropped after the test."""
    name = await _databases.clone()
    try:
        yield database_dsn(pg_admin_url, name)
    finally:
        await _databases.drop(name)


@pytest.fixture
async def empty_database_url(_databases: SessionDatabases, pg_admin_url: str) -> AsyncIterator[str]:
    """A fresh empty database (from template0), dropped after the test."""
    name = await _databases.create("template0")
    try:
        yield database_dsn(pg_admin_url, name)
    finally:
        await _databases.drop(name)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """asyncpg pool on `database_url` with Artificer's codecs (json/jsonb as Python objects)."""
    test_pool = await create_pool(database_url, min_size=1, max_size=5)
    try:
        yield test_pool
    finally:
        await test_pool.close()


@pytest.fixture
def make_user(pool: asyncpg.Pool) -> MakeUser:
    """`await make_user(role="user"|"admin", email=None) -> uuid.UUID`: a new auth.users row."""

    async def make(role: str = "user", email: str | None = None, **app_meta_data: Any) -> uuid.UUID:
        user_id = uuid.uuid4()
        await pool.execute(
            "insert into auth.users (id, aud, role, email, raw_app_meta_data, raw_user_meta_data,"
            " created_at, updated_at)"
            " values ($1, 'authenticated', 'authenticated', $2, $3, $4, now(), now())",
            user_id,
            email if email is not None else f"{role}-{user_id.hex[:12]}@example.test",
            {"role": role, **app_meta_data},
            {},
        )
        return user_id

    return make


AddUsage = Callable[..., Awaitable[None]]


@pytest.fixture
def add_usage(pool: asyncpg.Pool) -> AddUsage:
    """`await add_usage(user, agent, tokens_in, tokens_out, cost, days_ago=0)`: one `usage_logs` row of a
    gemini-2.0-flash call (`cost` a decimal string, total tokens their sum) made `days_ago` days ago."""

    async def add(
        user: uuid.UUID, agent: str, tokens_in: int, tokens_out: int, cost: str, days_ago: int = 0
    ) -> None:
        await pool.execute(
            "insert into usage_logs (user_id, agent_type, model_used, provider, input_tokens, output_tokens,"
            " total_tokens, total_cost, request_timestamp)"
            " values ($1, $2, 'gemini-2.0-flash', 'google', $3, $4, $5, $6,"
            " now() - make_interval(days => $7))",
            user,
            agent,
            tokens_in,
            tokens_out,
            tokens_in + tokens_out,
            Decimal(cost),
            days_ago,
        )

    return add


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM (a CI timeout, `kill`) interrupts like Ctrl-C, so fixture teardown still drops databases."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread() and (
        signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):

        def interrupt(signum: int, frame: object) -> None:
            raise KeyboardInterrupt(f"signal {signum}")

        signal.signal(signal.SIGTERM, interrupt)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Last line of defence: drop any test database a crashed or interrupted fixture left behind."""
    if not _created_databases or not _admin_url_for_exit:
        return
    import asyncio

    async def drop_leftovers() -> None:
        try:
            conn = await asyncpg.connect(_admin_url_for_exit[0], timeout=5)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return  # the embedded server is already gone, and its databases with it
        try:
            for name in sorted(_created_databases):
                await conn.execute(f"drop database if exists {quote_identifier(name)} with (force)")
            _created_databases.clear()
        finally:
            await conn.close()

    asyncio.run(drop_leftovers())


@pytest.fixture
def gemini() -> Iterator[FakeGemini]:
    """A fake Gemini server on 127.0.0.1 (tests/fakes), scripted by the test; stopped after it."""
    fake = FakeGemini().start()
    yield fake
    fake.stop()
