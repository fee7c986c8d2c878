"""Getting the database ready to serve: resolved (DATABASE_URL, or the embedded Postgres started or
joined) and migrated.

Light to import on purpose: `artificer serve` (stdio) calls `prepare_database_in_thread` before it imports
the server (the `mcp` SDK, the agents), so the embedded Postgres starts, in its own process, and the
migrations are checked while those imports run.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor

import anyio
from artificer.common.settings import Settings
from artificer.storage.database import DatabaseTarget, resolve_database
from artificer.storage.migrations import migrate

logger = logging.getLogger(__name__)


async def migrate_on_start(db: DatabaseTarget) -> None:
    """Apply pending migrations before serving (idempotent; waits for a concurrent migrate)."""
    conn = await db.connect()
    try:
        applied = await migrate(conn)
    finally:
        await conn.close()
    for migration in applied:
        logger.info("applied migration %s (%d ms)", migration.filename, migration.duration_ms)


async def prepare_database(settings: Settings) -> DatabaseTarget:
    """The database `settings` name, migrated unless ARTIFICER_AUTO_MIGRATE=false. The caller closes it."""
    db = await resolve_database(settings)
    try:
        if settings.auto_migrate:
            await migrate_on_start(db)
    except BaseException:
        await db.close()
        raise
    return db


def prepare_database_in_thread(settings: Settings) -> Future[DatabaseTarget]:
    """`prepare_database(settings)` on a thread (and event loop) of its own; its result, or its failure,
    is the future's."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="artificer-database")
    future = executor.submit(anyio.run, prepare_database, settings)
    executor.shutdown(wait=False)
    return future
