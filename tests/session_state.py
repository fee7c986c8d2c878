"""What a pooled connection's backend would hand the next checkout: the guard of `keep_session`.

`keep_session` (storage/database.py) skips asyncpg's reset query on release, on the claim that Artificer
never leaves session-level state on a pooled connection. `session_leftovers` lists such state.
"""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg


def custom_settings() -> list[str]:
    """Every custom (dotted) setting the code or the SQL reads or sets: pg_settings does not list them."""
    root = Path(__file__).resolve().parents[1]
    named = re.compile(r"(?:set_config|current_setting)\(\s*'([a-z_]+\.[a-z_.]+)'", re.IGNORECASE)
    sources = [*root.joinpath("sql").glob("*.sql")]
    for folder in ("common", "server", "agents", "storage"):
        sources += root.joinpath(folder).rglob("*.py")
    found = {name for path in sources for name in named.findall(path.read_text())}
    assert "request.jwt.claims" in found  # the scan works
    return sorted(found | {"artificer.probe"})


SESSION_LEFTOVERS = """
    select 'setting ' || name from pg_settings where source = 'session'
    union all select 'setting ' || name from unnest($1::text[]) as name
        where coalesce(current_setting(name, true), '') <> ''
    union all select 'temp table ' || relname from pg_class where relnamespace = pg_my_temp_schema()
    union all select 'prepared statement ' || name from pg_prepared_statements where from_sql
    union all select 'listen ' || channel from pg_listening_channels() as channel
    union all select 'advisory lock ' || objid from pg_locks
        where locktype = 'advisory' and pid = pg_backend_pid()
    union all select 'cursor ' || name from pg_cursors where is_holdable
    union all select 'role ' || current_user where current_user <> session_user
"""


async def session_leftovers(conn: asyncpg.Connection) -> list[str]:
    """Session-level state of `conn`'s backend that a later checkout would inherit."""
    query = f"select coalesce(array_agg(x), '{{}}') from ({SESSION_LEFTOVERS}) t(x)"
    return sorted(set(await conn.fetchval(query, CUSTOM_SETTINGS)))


CUSTOM_SETTINGS = custom_settings()


async def leftovers_after_release(pool: asyncpg.Pool, pid: int) -> list[str]:
    async with pool.acquire() as conn:
        assert await conn.fetchval("select pg_backend_pid()") == pid, "the pool replaced its connection"
        return await session_leftovers(conn)
