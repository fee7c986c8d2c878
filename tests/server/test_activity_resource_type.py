"""Activity rows name the kind of resource each agent works on, for failed calls too, and error rows say
whose fault a refusal was (the caller's arguments: user; the model's answer: api)."""

from __future__ import annotations

import uuid

import pytest
from fakes.llm import Failure, Turn
from mcp_harness import in_process, make_settings

pytestmark = pytest.mark.anyio


async def test_resource_type_of_successful_and_failed_calls(database_url, make_user, gemini, pool) -> None:
    await pool.execute(
        "update admin_config set config_data = config_data || "
        """'{"agent_activity_logging_enabled": true, "error_logging_enabled": true}'::jsonb """
        "where config_key = 'logging_settings'"
    )
    user = await make_user()
    unknown = str(uuid.uuid4())
    async with in_process(make_settings(database_url, user, gemini)) as client:
        gemini.script(Turn(text="print('hello')"))
        created = await client.call_tool("python_agent", {"operation": "create", "instruction": "hello"})
        assert not created.is_error, created.content
        calls = [
            ("python_agent", {"operation": "revert", "codeId": unknown}),
            ("mermaid_agent", {"operation": "revert", "diagramId": unknown}),
            ("document_agent", {"operation": "revert", "documentId": unknown}),
        ]
        for tool, arguments in calls:
            result = await client.call_tool(tool, arguments)
            assert result.is_error and "not found" in result.content[0].text, (tool, result.content)
        gemini.script(Turn(text="def broken(:\n"), Turn(text="def broken(:\n"))  # answer and repair
        invalid = await client.call_tool("python_agent", {"operation": "create", "instruction": "x"})
        assert invalid.is_error and "not valid Python" in invalid.content[0].text
        gemini.script(Failure(500, message="backend exploded"))
        failed = await client.call_tool("provider_tools_agent", {"input": "What is new?"})
        assert failed.is_error
    rows = await pool.fetch(
        "select agent_type, success, resource_type, resource_id from agent_activity_logs "
        "where user_id = $1 order by start_time",
        user,
    )
    assert [(r["agent_type"], r["success"], r["resource_type"]) for r in rows] == [
        ("python_agent", True, "code"),
        ("python_agent", False, "code"),
        ("mermaid_agent", False, "diagram"),
        ("document_agent", False, "document"),
        ("python_agent", False, "code"),
        ("provider_tools_agent", False, None),
    ]
    assert rows[0]["resource_id"] == uuid.UUID(created.structured_content["id"])
    assert [r["resource_id"] for r in rows[1:4]] == [uuid.UUID(unknown)] * 3
    errors = await pool.fetch(
        "select error_category, error_type, severity from error_logs where user_id = $1", user
    )
    assert sorted((r["error_category"], r["error_type"], r["severity"]) for r in errors) == sorted(
        [
            ("python_agent.revert", "user", "warning"),
            ("mermaid_agent.revert", "user", "warning"),
            ("document_agent.revert", "user", "warning"),
            ("python_agent.create", "api", "error"),
            ("provider_tools_agent.answer", "api", "error"),
        ]
    )
    # the invalid answer reached the model: its slot stays counted; the three refusals gave theirs back
    counts = await pool.fetch(
        "select agent_type, request_count from rate_limit_tracking "
        "where user_id = $1 and limit_type = 'daily'",
        user,
    )
    assert {r["agent_type"]: r["request_count"] for r in counts} == {
        "python_agent": 2,
        "mermaid_agent": 0,
        "document_agent": 0,
        "provider_tools_agent": 1,
    }
