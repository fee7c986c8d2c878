"""The repair loop of the code agents (python_agent, mermaid_agent), through the MCP server: an answer that
fails the check goes back to the model with the checker's message; only an answer that passes is saved; every
model call is billed and logged; when every attempt fails, the call is a tool error, saves nothing and keeps
the caller's rate-limit slot. Real Postgres, the real google-genai SDK against the fake Gemini."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from fakes.gemini import FakeGemini
from fakes.llm import Turn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from mcp_harness import count_rows, in_process, make_settings

pytestmark = pytest.mark.anyio

PY_BROKEN = "def greet(name:\n    return name"
PY_UNDEFINED = 'def greet(name: str) -> str:\n    return f"{salutation}, {name}"'
PY_GOOD = 'import os\n\n\ndef greet(name: str) -> str:\n    return f"Hello, {name}"'
MM_BROKEN = "flowchart LR\n  A[Start --> B{Ready?}"
MM_UNDRAWABLE = "sankey-beta\nA,B,10\nB,A,5"  # parses, but Mermaid cannot draw a circular link
MM_GOOD = "flowchart LR\n  A[Start] --> B{Ready?}\n  B -->|yes| C((Done))"


async def enable_logs(pool, agent: str, per_minute: int = 100) -> None:
    await pool.execute(
        "update admin_config set config_data = config_data || "
        """'{"agent_activity_logging_enabled": true, "error_logging_enabled": true}'::jsonb """
        "where config_key = 'logging_settings'"
    )
    await pool.execute(
        "update admin_config set config_data = "
        "jsonb_set(config_data, '{rateLimit,perMinute}', to_jsonb($1::int)) where config_key = $2",
        per_minute,
        f"{agent}_google",
    )


def prompts(gemini: FakeGemini) -> list[str]:
    return [body["contents"][0]["parts"][0]["text"] for body in gemini.bodies()]


async def activity(pool, user: uuid.UUID) -> list[Any]:
    return await pool.fetch(
        "select success, error_type, error_message, operation_metadata, total_tokens "
        "from agent_activity_logs where user_id = $1 order by start_time",
        user,
    )


async def usage_rows(pool, user: uuid.UUID) -> list[Any]:
    return await pool.fetch(
        "select input_tokens, output_tokens, metadata from usage_logs where user_id = $1 "
        "order by request_timestamp",
        user,
    )


async def test_python_broken_then_fixed_is_saved_with_two_usage_rows(
    database_url, make_user, gemini, pool
) -> None:
    await enable_logs(pool, "python_agent")
    user = await make_user()
    async with in_process(make_settings(database_url, user, gemini)) as client:
        gemini.script(Turn(text=PY_BROKEN, input_tokens=30), Turn(text=PY_GOOD, input_tokens=50))
        result = await client.call_tool("python_agent", {"operation": "create", "instruction": "Greeter"})
        assert not result.is_error, result.content
        assert result.structured_content["code"] == PY_GOOD
        first, second = prompts(gemini)
        assert first == "Greeter"
        # the repair request: the original request, the failed answer and the checker's exact message
        assert second.startswith("Greeter") and PY_BROKEN in second
        assert "line 1, column 10: '(' was never closed" in second
    rows = await pool.fetch('select content, version_number from "Document" where user_id = $1', user)
    assert [(r["content"], r["version_number"]) for r in rows] == [(PY_GOOD, 1)]
    usage = await usage_rows(pool, user)
    assert [r["input_tokens"] for r in usage] == [30, 50]
    (row,) = await activity(pool, user)
    assert row["success"] is True
    assert row["total_tokens"] == 30 + 50 + 7 + 7
    assert row["operation_metadata"]["attempts"] == 2
    assert row["operation_metadata"]["check_errors"] == ["line 1, column 10: '(' was never closed"]


async def test_python_undefined_name_is_repaired_and_warnings_are_returned(
    database_url, make_user, gemini, pool
) -> None:
    await enable_logs(pool, "python_agent")
    user = await make_user()
    async with in_process(make_settings(database_url, user, gemini)) as client:
        gemini.script(Turn(text=PY_UNDEFINED), Turn(text=PY_GOOD))
        result = await client.call_tool("python_agent", {"operation": "generate", "instruction": "Greeter"})
        assert not result.is_error, result.content
        out = result.structured_content
        assert out["code"] == PY_GOOD
        # an unused import is a warning, not an error: returned, not repaired
        assert out["warnings"] == ["line 1, column 8: F401 `os` imported but unused"]
        repair = prompts(gemini)[1]
        assert PY_UNDEFINED in repair and "F821 Undefined name `salutation`" in repair
    (row,) = await activity(pool, user)
    assert row["operation_metadata"]["attempts"] == 2
    assert "F821" in row["operation_metadata"]["check_errors"][0]


async def test_a_passing_first_answer_calls_the_model_once(database_url, make_user, gemini, pool) -> None:
    await enable_logs(pool, "python_agent")
    user = await make_user()
    async with in_process(make_settings(database_url, user, gemini)) as client:
        gemini.script(Turn(text="print('hi')"))
        result = await client.call_tool("python_agent", {"operation": "create", "instruction": "hi"})
        assert not result.is_error, result.content
        assert "warnings" not in result.structured_content
    assert len(gemini.model_requests()) == 1
    (row,) = await activity(pool, user)
    assert (row["operation_metadata"]["attempts"], row["operation_metadata"]["check_errors"]) == (1, [])


async def test_broken_twice_is_an_error_saves_nothing_logs_both_and_keeps_the_slot(
    database_url, make_user, gemini, pool
) -> None:
    await enable_logs(pool, "mermaid_agent", per_minute=1)
    user = await make_user()
    async with in_process(make_settings(database_url, user, gemini)) as client:
        gemini.script(Turn(text=MM_BROKEN), Turn(text=MM_UNDRAWABLE))
        result = await client.call_tool("mermaid_agent", {"operation": "create", "instruction": "Release"})
        assert result.is_error
        text = result.content[0].text
        assert "not valid Mermaid after 2 attempts" in text and "nothing was saved" in text
        assert "circular link" in text, text  # the last checker message, quoted
        # the second request carried the first answer and Mermaid's parse error
        repair = prompts(gemini)[1]
        assert MM_BROKEN in repair and "Parse error on line 2" in repair
        # the model was used: the slot stays counted, so the next call is over the limit of 1 per minute
        again = await client.call_tool("mermaid_agent", {"operation": "create", "instruction": "Release"})
        assert again.is_error and "rate limit reached" in again.content[0].text
    assert len(gemini.model_requests()) == 2
    assert await count_rows(database_url, "Document") == 0
    assert await count_rows(database_url, "document_renderings") == 0
    assert len(await usage_rows(pool, user)) == 2
    (row,) = await activity(pool, user)
    assert row["success"] is False and row["error_type"] == "InvalidSource"
    meta = row["operation_metadata"]
    assert meta["attempts"] == 2
    assert len(meta["check_errors"]) == 2
    assert "Parse error on line 2" in meta["check_errors"][0] and "circular link" in meta["check_errors"][1]
    error = await pool.fetchrow("select error_type, error_message from error_logs where user_id = $1", user)
    assert error["error_type"] == "api" and "circular link" in error["error_message"]


async def test_attempts_follow_the_setting(database_url, make_user, gemini, pool) -> None:
    await enable_logs(pool, "mermaid_agent")
    user = await make_user()
    settings = make_settings(database_url, user, gemini, repair_attempts=3)
    async with in_process(settings) as client:
        gemini.script(Turn(text=MM_BROKEN), Turn(text=MM_UNDRAWABLE), Turn(text=MM_GOOD))
        result = await client.call_tool("mermaid_agent", {"operation": "create", "instruction": "Release"})
        assert not result.is_error, result.content
        assert result.structured_content["diagram"] == MM_GOOD
        # each repair request carries the latest failed answer only, with its own message
        third = prompts(gemini)[2]
        assert MM_UNDRAWABLE in third and "circular link" in third and MM_BROKEN not in third
    async with in_process(make_settings(database_url, user, gemini, repair_attempts=1)) as client:
        gemini.script(Turn(text=MM_BROKEN))
        result = await client.call_tool("mermaid_agent", {"operation": "create", "instruction": "Release"})
        assert result.is_error and "after 1 attempt " in result.content[0].text
    assert len(gemini.model_requests()) == 4
    assert len(await usage_rows(pool, user)) == 4
    assert await count_rows(database_url, "Document") == 1


async def test_update_repairs_and_fix_that_never_passes_leaves_the_versions(
    database_url, make_user, gemini, pool
) -> None:
    await enable_logs(pool, "python_agent")
    user = await make_user()
    async with in_process(make_settings(database_url, user, gemini)) as client:
        gemini.script(Turn(text="print('v1')"))
        created = await client.call_tool("python_agent", {"operation": "create", "instruction": "v1"})
        code_id = created.structured_content["id"]
        gemini.script(Turn(text="print(v2)"), Turn(text="print('v2')"))
        updated = await client.call_tool(
            "python_agent", {"operation": "update", "codeId": code_id, "instruction": "v2"}
        )
        assert not updated.is_error, updated.content
        assert (updated.structured_content["version"], updated.structured_content["code"]) == (
            2,
            "print('v2')",
        )
        assert "F821 Undefined name `v2`" in prompts(gemini)[-1]
        gemini.script(Turn(text="print(v3)"), Turn(text="print(v3)"))
        fixed = await client.call_tool(
            "python_agent", {"operation": "fix", "codeId": code_id, "instruction": "NameError"}
        )
        assert fixed.is_error and "still fails the check after 2 attempts" in fixed.content[0].text
        assert "F821 Undefined name `v3`" in fixed.content[0].text
    rows = await pool.fetch('select version_number, content from "Document" order by version_number')
    assert [tuple(r) for r in rows] == [(1, "print('v1')"), (2, "print('v2')")]


async def test_an_empty_answer_is_repaired_too(database_url, make_user, gemini, pool) -> None:
    await enable_logs(pool, "mermaid_agent")
    user = await make_user()
    async with in_process(make_settings(database_url, user, gemini)) as client:
        gemini.script(Turn(text="```mermaid\n```"), Turn(text=MM_GOOD))
        result = await client.call_tool("mermaid_agent", {"operation": "generate", "instruction": "flow"})
        assert not result.is_error, result.content
        assert result.structured_content["diagram"] == MM_GOOD
        assert "the answer contained no Mermaid" in prompts(gemini)[1]
    (row,) = await activity(pool, user)
    assert row["operation_metadata"]["check_errors"] == ["the answer contained no Mermaid"]
