"""A connection's liveness check (the idle LISTEN connection pings with it)."""

from __future__ import annotations

import asyncpg

PING_TIMEOUT_SECONDS = 5.0


async def ping(conn: asyncpg.Connection) -> None:
    """One round trip; raises when the connection is dead (a dead TCP peer never fires an event)."""
    await conn.fetchval("select 1", timeout=PING_TIMEOUT_SECONDS)
