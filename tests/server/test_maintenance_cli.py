"""`artificer db purge [--dry-run]`, run as the installed console script against a real test database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anyio
import asyncpg
import pytest

pytestmark = pytest.mark.anyio

ARTIFICER = Path(sys.executable).parent / "artificer"


def env_for(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTIFICER_") and k != "DATABASE_URL"}
    env["DATABASE_URL"] = database_url
    return env


async def purge(database_url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return await anyio.run_process(
        [str(ARTIFICER), "db", "purge", *args], env=env_for(database_url), cwd=cwd, check=False
    )


async def test_purge_dry_run_then_purge(database_url: str, tmp_path: Path) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "select artificer_ensure_log_partition('agent_activity_logs',"
            " (now() - interval '100 days')::date)"
        )
        await conn.execute(
            "insert into agent_activity_logs (correlation_id, agent_type, operation_type, operation_category,"
            " created_at) values (gen_random_uuid(), 'document_agent', 'initialization', 'generation',"
            " now() - interval '100 days'), (gen_random_uuid(), 'document_agent', 'initialization',"
            " 'generation', now())"
        )
        old = await conn.fetchval(
            "select tableoid::regclass::text from agent_activity_logs"
            " where created_at < now() - interval '50 days'"
        )

        dry = await purge(database_url, tmp_path, "--dry-run")
        assert dry.returncode == 0, dry.stderr.decode()
        out = dry.stdout.decode()
        assert f"would drop partition {old} (1 rows of agent_activity_logs)" in out
        assert "dry run: nothing changed" in out
        assert await conn.fetchval("select count(*) from agent_activity_logs") == 2

        done = await purge(database_url, tmp_path)
        assert done.returncode == 0, done.stderr.decode()
        assert f"dropped partition {old} (1 rows of agent_activity_logs)" in done.stdout.decode()
        assert await conn.fetchval("select count(*) from agent_activity_logs") == 1
        assert await conn.fetchval("select to_regclass($1)", old) is None

        # another process holds the maintenance lock: exit 1, nothing done
        from artificer.storage.maintenance import MAINTENANCE_LOCK_KEY

        async with conn.transaction():
            await conn.execute("select pg_advisory_xact_lock($1)", MAINTENANCE_LOCK_KEY)
            busy = await purge(database_url, tmp_path)
        assert busy.returncode == 1
        assert "skipped: another process is running maintenance" in busy.stdout.decode()
    finally:
        await conn.close()


async def test_purge_rejects_unknown_options(database_url: str, tmp_path: Path) -> None:
    result = await purge(database_url, tmp_path, "--days", "3")
    assert result.returncode == 2
    assert "unrecognized arguments: --days" in result.stderr.decode()
