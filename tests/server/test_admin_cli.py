"""`artificer admin …` as a subprocess: the same code path as the tools, as an admin user only."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from fakes.gemini import FakeGemini
from mcp_harness import in_process, make_settings
from test_admin import call, snapshot
from test_cli import ARTIFICER, clean_env, one_error_line

pytestmark = pytest.mark.anyio


async def admin_cli(
    database_url: str, tmp_path: Path, *args: str, user: uuid.UUID | None = None
) -> subprocess.CompletedProcess[bytes]:
    import anyio

    env = clean_env(DATABASE_URL=database_url, ARTIFICER_LOG_LEVEL="WARNING")
    if user is not None:
        env["ARTIFICER_USER_ID"] = str(user)
    return await anyio.run_process(
        [str(ARTIFICER), "admin", *args], env=env, cwd=tmp_path, stdin=subprocess.DEVNULL, check=False
    )


def output(result: subprocess.CompletedProcess[bytes]) -> Any:
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout)


async def test_set_by_path_as_an_admin(database_url: str, make_user, pool, tmp_path: Path) -> None:
    admin = await make_user("admin")
    result = await admin_cli(
        database_url,
        tmp_path,
        "--as",
        str(admin),
        "agents",
        "set",
        "document_agent",
        "tools.suggestion.enabled=false",
        "rateLimit.perHour=50",
        "tools.create.systemPrompt=Write plainly, and briefly.",
    )
    out = output(result)
    assert out["changed"] == ["tools.suggestion.enabled", "rateLimit.perHour", "tools.create.systemPrompt"]
    row = await pool.fetchrow(
        "select config_data, updated_by from admin_config where config_key = 'document_agent_google'"
    )
    assert row["config_data"]["tools"]["suggestion"]["enabled"] is False
    assert row["config_data"]["rateLimit"]["perHour"] == 50
    assert row["config_data"]["tools"]["create"]["systemPrompt"] == "Write plainly, and briefly."
    assert row["updated_by"] == admin
    assert await pool.fetchval("select count(*) from user_activity_logs where user_id = $1", admin) == 1


async def test_refusals_change_nothing(database_url: str, make_user, pool, tmp_path: Path) -> None:
    admin = await make_user("admin")
    user = await make_user()
    before = await snapshot(pool)
    not_admin = await admin_cli(
        database_url, tmp_path, "--as", str(user), "agents", "set", "document_agent", "enabled=false"
    )
    assert not_admin.returncode == 2
    assert "is not an admin" in one_error_line(not_admin)
    nobody = await admin_cli(database_url, tmp_path, "--as", str(uuid.uuid4()), "agents", "list")
    assert nobody.returncode == 2 and "no such user" in one_error_line(nobody)
    bad = await admin_cli(
        database_url, tmp_path, "--as", str(admin), "agents", "set", "document_agent", "rateLimit.perMinute=0"
    )
    assert bad.returncode == 2
    assert "rateLimit.perMinute must be an integer between 1 and 1000" in one_error_line(bad)
    no_key = await admin_cli(database_url, tmp_path, "--as", str(admin), "provider", "set", "anthropic")
    assert no_key.returncode == 2 and "ANTHROPIC_API_KEY" in one_error_line(no_key)
    assert await snapshot(pool) == before


async def test_the_local_user_and_the_same_results_as_the_tool(
    database_url: str, make_user, pool, gemini: FakeGemini, tmp_path: Path, add_usage
) -> None:
    admin = await make_user("admin")
    user = await make_user()
    await add_usage(user, "document_agent", 100, 20, "0.001234")
    await add_usage(user, "python_agent", 50, 5, "0.000100", days_ago=1)
    cli = output(await admin_cli(database_url, tmp_path, "analytics", user=admin))
    async with in_process(make_settings(database_url, admin, gemini)) as client:
        tool = await call(client, "admin_analytics", {})
    assert cli == tool
    assert sum(r["cost"] for r in cli["byModel"]) == pytest.approx(0.001334)

    error_id = await pool.fetchval(
        "insert into error_logs (error_type, error_category, error_message) "
        "values ('api', 'x', 'y') returning id"
    )
    listed = output(await admin_cli(database_url, tmp_path, "errors", "list", "--type", "api", user=admin))
    assert [e["id"] for e in listed["errors"]] == [str(error_id)]
    resolved = output(
        await admin_cli(
            database_url, tmp_path, "errors", "resolve", str(error_id), "--notes", "fixed", user=admin
        )
    )
    assert resolved["error"]["resolvedBy"] == str(admin)
    models = output(
        await admin_cli(
            database_url,
            tmp_path,
            "models",
            "update",
            "gpt-4o-mini",
            "--cache-read-price",
            "1.25",
            "--inactive",
            user=admin,
        )
    )
    assert models["model"]["cacheReadPrice"] == 1.25 and models["model"]["active"] is False
    default = output(
        await admin_cli(database_url, tmp_path, "models", "default", "gemini-2.5-pro", user=admin)
    )
    assert default["model"]["default"] is True
    logging_out = output(
        await admin_cli(
            database_url, tmp_path, "logging", "set", "user_activity_logging_enabled=true", user=admin
        )
    )
    assert logging_out["settings"]["user_activity_logging_enabled"] is True
    trail = output(await admin_cli(database_url, tmp_path, "audit", "--user", str(admin), user=admin))
    assert len(trail["entries"]) == 4  # resolve, update, default, logging
