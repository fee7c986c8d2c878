"""Which database Artificer talks to, the asyncpg pool, and transactions run as a user.

`DATABASE_URL` (plain Postgres or Supabase, `?sslmode=` honoured by asyncpg) wins; without it the embedded
Postgres in `ARTIFICER_DATA_DIR` is started or joined. Every failure to reach or log into the database is a
`DatabaseError` whose message names the server (never the password) and what to check.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

import anyio
import asyncpg
from artificer.common.settings import Settings
from artificer.storage.embedded import EmbeddedError, EmbeddedPostgres, ensure_database, start_embedded
from asyncpg.pool import Pool

DEFAULT_CONNECT_TIMEOUT = 10.0

DEFAULT_ACQUIRE_TIMEOUT = 10.0
"""Longest wait for a free pool connection: an exhausted pool answers `DatabaseUnavailable` (via
`TimeoutError`, storage.errors) instead of holding the call forever."""


class BoundedPool(Pool):
    """An asyncpg `Pool` that knows how long a caller may wait for one of its connections."""

    __slots__ = ("acquire_timeout",)


def set_acquire_timeout(pool: Any, seconds: float) -> None:
    """Bound `acquire_connection(pool)` by `seconds` (a pool this module made; others keep the default)."""
    if isinstance(pool, BoundedPool):
        pool.acquire_timeout = seconds


def acquire_connection(pool: Pool) -> Any:
    """`pool.acquire()` bounded by the pool's acquire timeout (`create_pool(acquire_timeout=…)`); raises
    `TimeoutError` when no connection is free in time."""
    return pool.acquire(timeout=getattr(pool, "acquire_timeout", DEFAULT_ACQUIRE_TIMEOUT))


class DatabaseError(Exception):
    """The database could not be resolved, reached or logged into. The message is one line, safe to print."""


def redact_dsn(dsn: str) -> str:
    """The DSN with any password replaced by `***` (also `password=` query parameters)."""
    redacted = re.sub(r"(://[^:/@?#]*:)[^@/?#]*@", r"\1***@", dsn)
    return re.sub(r"((?:^|[?&])password=)[^&]*", r"\1***", redacted)


def _passwords_of(dsn: str) -> set[str]:
    """The password(s) in `dsn`, as written and decoded (the URL's and any `password=` parameter)."""
    parts = urlsplit(dsn)
    written = [parts.password or "", *parse_qs(parts.query).get("password", [])]
    return {form for value in written if value for form in (value, unquote(value))}


def without_password(dsn: str, text: str) -> str:
    """`text` (e.g. a driver's error message about `dsn`) with every copy of the DSN's password masked."""
    try:
        passwords = _passwords_of(dsn)
    except ValueError:
        passwords = set()
    for password in sorted(passwords, key=len, reverse=True):
        text = text.replace(password, "***")
    return redact_dsn(text)


def _split_dsn(dsn: str) -> SplitResult:
    try:
        parts = urlsplit(dsn)
        parts.port  # noqa: B018 — raises ValueError for a port that is not a number
    except ValueError as error:
        raise DatabaseError(without_password(dsn, f"malformed DATABASE_URL {dsn}: {error}")) from None
    if parts.scheme not in ("postgres", "postgresql"):
        raise DatabaseError(
            f"malformed DATABASE_URL {redact_dsn(dsn)}: it must start with postgresql:// (or postgres://)"
        )
    return parts


def describe_server(dsn: str) -> str:
    """`host:port` (or the socket folder) the DSN points at, for messages."""
    parts = _split_dsn(dsn)
    query = parse_qs(parts.query)
    host = parts.hostname or (query.get("host") or ["localhost"])[0]
    port = parts.port or int((query.get("port") or ["5432"])[0])
    if host.startswith("/"):
        return f"the socket in {host}"
    return f"{host}:{port}"


def validate_dsn(dsn: str) -> str:
    """Return `dsn` when it looks like a Postgres URL; raise DatabaseError otherwise."""
    parts = _split_dsn(dsn)
    if not parts.hostname and "host=" not in parts.query:
        raise DatabaseError(f"malformed DATABASE_URL {redact_dsn(dsn)}: it names no host")
    return dsn


def _user_of(dsn: str) -> str:
    parts = urlsplit(dsn)
    return unquote(parts.username) if parts.username else "(default user)"


def _database_of(dsn: str) -> str:
    path = urlsplit(dsn).path.lstrip("/")
    return unquote(path) if path else "(default database)"


def translate_connect_error(dsn: str, error: BaseException, timeout: float) -> DatabaseError:
    """A one-line DatabaseError for an exception raised while connecting to `dsn` (never its password)."""
    translated = _translate_connect_error(dsn, error, timeout)
    return DatabaseError(without_password(dsn, str(translated)))


def _translate_connect_error(dsn: str, error: BaseException, timeout: float) -> DatabaseError:
    where = describe_server(dsn)
    if isinstance(error, TimeoutError):
        return DatabaseError(
            f"timed out after {timeout:g} s connecting to Postgres at {where}: check the host, the port, "
            "firewalls, and that the server is up"
        )
    if isinstance(error, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError):
        return DatabaseError(
            f"Postgres at {where} rejected user {_user_of(dsn)!r}: check the user name and password "
            "in DATABASE_URL"
        )
    if isinstance(error, asyncpg.InvalidCatalogNameError):
        return DatabaseError(f"database {_database_of(dsn)!r} does not exist on Postgres at {where}")
    if isinstance(error, asyncpg.ClientConfigurationError | ValueError):
        return DatabaseError(f"malformed DATABASE_URL {redact_dsn(dsn)}: {error}")
    if isinstance(error, ssl.SSLError) or (isinstance(error, OSError) and "SSL" in str(error)):
        return DatabaseError(
            f"SSL with Postgres at {where} failed ({error}): check ?sslmode= in DATABASE_URL "
            "(require/verify-full need a server with SSL; disable for a local server without it)"
        )
    if isinstance(error, OSError):
        if isinstance(error, ConnectionRefusedError) or "Connect call failed" in str(error):
            reason = "connection refused"
        else:
            reason = error.strerror or str(error) or type(error).__name__
        return DatabaseError(
            f"cannot reach Postgres at {where} ({reason}): check that the server runs and that "
            "DATABASE_URL's host and port are right"
        )
    if isinstance(error, asyncpg.PostgresError):
        return DatabaseError(f"Postgres at {where} refused the connection: {error}")
    return DatabaseError(f"cannot connect to Postgres at {where}: {type(error).__name__}: {error}")


def _encode_jsonb(value: Any) -> bytes:
    return b"\x01" + json.dumps(value).encode()  # binary jsonb: format version 1, then the text


def _decode_jsonb(data: bytes) -> Any:
    return json.loads(data[1:])


def _encode_json(value: Any) -> bytes:
    return json.dumps(value).encode()


async def init_connection(conn: asyncpg.Connection) -> None:
    """Codecs every Artificer connection uses: json/jsonb as Python objects (dicts, lists …).

    Binary format, so `copy_records_to_table` (binary COPY) can encode them too.
    """
    await conn.set_type_codec(
        "jsonb", encoder=_encode_jsonb, decoder=_decode_jsonb, schema="pg_catalog", format="binary"
    )
    await conn.set_type_codec(
        "json", encoder=_encode_json, decoder=json.loads, schema="pg_catalog", format="binary"
    )


async def connect(
    dsn: str, *, statement_cache_size: int = 100, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
) -> asyncpg.Connection:
    """One connection with Artificer's codecs; connection failures become DatabaseError."""
    validate_dsn(dsn)
    try:
        conn = await asyncpg.connect(dsn, timeout=connect_timeout, statement_cache_size=statement_cache_size)
    except Exception as error:
        raise translate_connect_error(dsn, error, connect_timeout) from None
    await init_connection(conn)
    return conn


async def create_pool(
    dsn: str,
    *,
    statement_cache_size: int = 100,
    min_size: int = 1,
    max_size: int = 10,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    acquire_timeout: float = DEFAULT_ACQUIRE_TIMEOUT,
) -> Pool:
    """An asyncpg pool whose connections decode json/jsonb to Python objects; `acquire_connection` waits
    at most `acquire_timeout` seconds for one of them.

    `statement_cache_size=0` for transaction poolers (Supabase port 6543). Failures become DatabaseError.
    """
    validate_dsn(dsn)
    try:
        bounded = BoundedPool(  # what asyncpg.create_pool makes, with the acquire timeout on it
            dsn,
            min_size=min_size,
            max_size=max_size,
            max_queries=50000,
            max_inactive_connection_lifetime=300.0,
            loop=None,
            connection_class=asyncpg.Connection,
            record_class=asyncpg.Record,
            statement_cache_size=statement_cache_size,
            timeout=connect_timeout,
            init=init_connection,
            reset=keep_session,
        )
        bounded.acquire_timeout = acquire_timeout
        pool = await bounded
    except Exception as error:
        raise translate_connect_error(dsn, error, connect_timeout) from None
    assert pool is not None
    return pool


async def keep_session(conn: asyncpg.Connection) -> None:
    """Pool release without asyncpg's reset query (advisory unlock, CLOSE ALL, UNLISTEN, RESET ALL).

    Every setting Artificer makes on a pooled connection is transaction-local (`set_config(..., true)`,
    advisory *xact* locks), and asyncpg still rolls back a transaction left open before calling this, so
    there is no session state to undo: skipping the query saves one round trip per checkout.
    """


@asynccontextmanager
async def as_user(
    pool_or_conn: Pool | asyncpg.Connection, claims: dict[str, Any], *, role: str = "authenticated"
) -> AsyncIterator[asyncpg.Connection]:
    """A connection inside ONE transaction that runs with the caller's JWT claims and `role`.

    Row-level security sees `auth.uid()` = claims["sub"]. Both settings are transaction-local, so they end
    at commit or rollback, also under a transaction pooler. Roll back by raising out of the block.
    """
    async with _acquire(pool_or_conn) as conn, conn.transaction():
        await conn.execute(
            "select set_config('request.jwt.claims', $1, true), set_config('role', $2, true)",
            json.dumps(claims),
            role,
        )
        yield conn


@asynccontextmanager
async def _acquire(pool_or_conn: Pool | asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    if isinstance(pool_or_conn, Pool):
        async with acquire_connection(pool_or_conn) as conn:
            yield conn
    else:
        yield pool_or_conn


@dataclass(repr=False)
class DatabaseTarget:
    """Where the database is. Owns the embedded server handle, if any, until `close()`.

    Use as `async with await resolve_database(settings) as target:` or call `close()` yourself.
    """

    dsn: str
    location: str
    embedded: EmbeddedPostgres | None = None
    statement_cache_size: int = 100
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    direct_dsn: str | None = None
    """ARTIFICER_DIRECT_DATABASE_URL: a session connection when `dsn` goes through a transaction pooler."""

    @property
    def redacted_dsn(self) -> str:
        return redact_dsn(self.dsn)

    def __repr__(self) -> str:  # the DSNs without their passwords
        direct = redact_dsn(self.direct_dsn) if self.direct_dsn is not None else None
        return (
            f"DatabaseTarget(dsn={self.redacted_dsn!r}, location={self.location!r}, "
            f"embedded={self.embedded!r}, statement_cache_size={self.statement_cache_size!r}, "
            f"connect_timeout={self.connect_timeout!r}, direct_dsn={direct!r})"
        )

    @property
    def session_dsn(self) -> str:
        """The DSN for work that needs one backend for a whole session (migrations' advisory lock, LISTEN):
        the direct URL when one is set, else `dsn`."""
        return self.direct_dsn or self.dsn

    async def connect(self) -> asyncpg.Connection:
        """One session connection (on `session_dsn`), for migrations and other session-level work."""
        return await connect(
            self.session_dsn,
            statement_cache_size=self.statement_cache_size,
            connect_timeout=self.connect_timeout,
        )

    async def create_pool(self, *, min_size: int = 1, max_size: int = 10) -> Pool:
        return await create_pool(
            self.dsn,
            statement_cache_size=self.statement_cache_size,
            min_size=min_size,
            max_size=max_size,
            connect_timeout=self.connect_timeout,
        )

    async def close(self) -> None:
        if self.embedded is not None:
            await anyio.to_thread.run_sync(self.embedded.release)

    async def __aenter__(self) -> DatabaseTarget:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


async def resolve_database(settings: Settings) -> DatabaseTarget:
    """DATABASE_URL when set; otherwise start/join the embedded cluster and create its database."""
    timeout = settings.connect_timeout_seconds
    if settings.database_url is not None:
        dsn = validate_dsn(settings.database_url.get_secret_value())
        location = f"Postgres at {describe_server(dsn)} (DATABASE_URL)"
        direct = settings.direct_database_url
        direct_dsn = validate_dsn(direct.get_secret_value()) if direct is not None else None
        if direct_dsn is not None:
            location += f", sessions via {describe_server(direct_dsn)} (ARTIFICER_DIRECT_DATABASE_URL)"
        return DatabaseTarget(
            dsn=dsn,
            location=location,
            statement_cache_size=settings.statement_cache_size,
            connect_timeout=timeout,
            direct_dsn=direct_dsn,
        )
    try:
        embedded = await anyio.to_thread.run_sync(start_embedded, settings.data_dir)
    except EmbeddedError as error:
        raise DatabaseError(str(error)) from None
    try:
        await ensure_database(embedded.server_uri(), settings.database_name)
    except Exception as error:
        await anyio.to_thread.run_sync(embedded.release)
        raise DatabaseError(f"cannot create database {settings.database_name!r}: {error}") from None
    return DatabaseTarget(
        dsn=embedded.server_uri(settings.database_name),
        location=f"embedded Postgres in {embedded.data_dir} (database {settings.database_name!r})",
        embedded=embedded,
        statement_cache_size=settings.statement_cache_size,
        connect_timeout=timeout,
    )
