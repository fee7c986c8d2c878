"""The python agent through the MCP server (in-process client, real Postgres, fake Gemini on 127.0.0.1)."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest
from fakes.gemini import FakeGemini
from fakes.llm import Turn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from mcp_harness import count_rows, in_process, make_settings, sent_prompts, tool_config

pytestmark = pytest.mark.anyio

V1 = 'def greet(name: str) -> str:\n    """Say hello."""\n    return f"Hello, {name}"'
V2 = 'def greet(name: str) -> str:\n    """Say hello loudly."""\n    return f"HELLO, {name}!"'
V3 = 'def greet(name: str) -> str:\n    """Say hello loudly."""\n    return f"HELLO, {name.strip()}!"'
V4 = "# Explained\n" + V3
BROKEN = "def greet(name:\n    return name"


async def versions(pool, code_id: str) -> list:
    return await pool.fetch(
        'select version_number, kind, content, metadata from "Document" '
        "where id = $1 order by version_number",
        uuid.UUID(code_id),
    )


async def snapshot(pool) -> list:
    rows = await pool.fetch('select id, version_number, content from "Document" order by id, version_number')
    return [tuple(r) for r in rows]


async def create(client, gemini: FakeGemini, code: str = V1, **args) -> dict:
    gemini.script(Turn(text=code))
    result = await client.call_tool("python_agent", {"operation": "create", "instruction": "Greeter", **args})
    assert not result.is_error, result.content
    return result.structured_content


async def test_every_operation_saves_versions_with_metadata(database_url, make_user, gemini, pool) -> None:
    await pool.execute(
        "update admin_config set config_data = jsonb_set(config_data, '{rateLimit,perMinute}', '100') "
        "where config_key = 'python_agent_google'"
    )
    user = await make_user()
    progress: list[float] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(done)

    async with in_process(make_settings(database_url, user, gemini)) as client:
        # create: streamed in pieces (progress), one fence stripped, system prompt from the row
        gemini.script(Turn(text=["```python\n", V1[:20], V1[20:], "\n```"]))
        created = await client.call_tool(
            "python_agent",
            {"operation": "create", "instruction": "Write a greeter\nwith a docstring"},
            progress_callback=on_progress,
        )
        assert not created.is_error, created.content
        out = created.structured_content
        assert (out["code"], out["version"], out["kind"], out["title"]) == (
            V1,
            1,
            "python code",
            "Write a greeter",
        )
        assert progress, "no progress notification while the code streamed"
        assert sent_prompts(gemini) == (
            (await tool_config(pool, "python_agent_google", "create"))["systemPrompt"],
            "Write a greeter\nwith a docstring",
        )
        code_id = out["id"]

        # update: {currentContent} and {updateInstruction}
        gemini.script(Turn(text=V2))
        updated = await client.call_tool(
            "python_agent", {"operation": "update", "codeId": code_id, "instruction": "shout"}
        )
        assert updated.structured_content["version"] == 2, updated.content
        config = await tool_config(pool, "python_agent_google", "update")
        expected = (
            config["userPromptTemplate"]
            .replace("{currentContent}", V1)
            .replace("{updateInstruction}", "shout")
        )
        assert sent_prompts(gemini) == (config["systemPrompt"], expected)

        # fix: the instruction is {errorInfo}
        error = "AttributeError: 'NoneType' object has no attribute 'strip'"
        gemini.script(Turn(text=V3))
        fixed = await client.call_tool(
            "python_agent", {"operation": "fix", "codeId": code_id, "instruction": error}
        )
        assert fixed.structured_content["version"] == 3, fixed.content
        config = await tool_config(pool, "python_agent_google", "fix")
        expected = config["userPromptTemplate"].replace("{currentContent}", V2).replace("{errorInfo}", error)
        assert sent_prompts(gemini) == (config["systemPrompt"], expected)

        # explain: no instruction needed; a default focus fills {updateInstruction}
        gemini.script(Turn(text=V4))
        explained = await client.call_tool("python_agent", {"operation": "explain", "codeId": code_id})
        assert explained.structured_content["version"] == 4, explained.content
        system, prompt = sent_prompts(gemini)
        assert system == (await tool_config(pool, "python_agent_google", "explain"))["systemPrompt"]
        assert V3 in prompt and "{updateInstruction}" not in prompt and "comments" in prompt

        # revert: no model call
        calls = len(gemini.model_requests())
        reverted = await client.call_tool(
            "python_agent", {"operation": "revert", "codeId": code_id, "targetVersion": 2}
        )
        assert not reverted.is_error, reverted.content
        assert len(gemini.model_requests()) == calls, "revert must not call the model"
        out = reverted.structured_content
        assert (out["version"], out["code"], out["revertedFrom"], out["revertedTo"]) == (5, V2, 4, 2)
        link = next(c for c in reverted.content if c.type == "resource_link")
        assert str(link.uri) == f"artifact://{code_id}/v/5"
        v5 = await client.read_resource(f"artifact://{code_id}/v/5")
        assert v5.contents[0].text == V2 and v5.contents[0].mime_type == "text/x-python"

    rows = await versions(pool, code_id)
    assert [(r["version_number"], r["kind"], r["content"]) for r in rows] == [
        (1, "python code", V1),
        (2, "python code", V2),
        (3, "python code", V3),
        (4, "python code", V4),
        (5, "python code", V2),
    ]
    meta = [r["metadata"] for r in rows]
    assert [m["updateType"] for m in meta] == ["create", "update", "fix", "explain", "revert"]
    assert all(m["agent"] == "python-agent" for m in meta)
    assert meta[0]["modelUsed"] == "gemini-2.0-flash" and "createdAt" in meta[0]
    assert meta[1]["previousVersion"] == 1 and "updatedAt" in meta[1]
    assert meta[2]["previousVersion"] == 2 and meta[2]["errorFixed"] == error and "fixedAt" in meta[2]
    assert meta[3]["previousVersion"] == 3 and "updatedAt" in meta[3]
    assert (meta[4]["revertedFrom"], meta[4]["revertedTo"], meta[4]["modelUsed"]) == (4, 2, None)
    assert "revertedAt" in meta[4]


async def test_generate_returns_code_and_saves_nothing(database_url, make_user, gemini, pool) -> None:
    await pool.execute(
        "update admin_config set config_data = config_data || "
        """'{"agent_activity_logging_enabled": true}'::jsonb where config_key = 'logging_settings'"""
    )
    user = await make_user()
    async with in_process(make_settings(database_url, user, gemini)) as client:
        gemini.script(Turn(text="```py\nprint(sum(range(10)))\n```"))
        result = await client.call_tool("python_agent", {"operation": "generate", "instruction": "sum 0..9"})
        assert not result.is_error, result.content
        out = result.structured_content
        assert out == {"operation": "generate", "code": "print(sum(range(10)))", "generated": True}
        assert "print(sum(range(10)))" in result.content[0].text
        assert not [c for c in result.content if c.type == "resource_link"]
        assert sent_prompts(gemini) == (
            (await tool_config(pool, "python_agent_google", "generate"))["systemPrompt"],
            "sum 0..9",
        )
    assert await count_rows(database_url, "Document") == 0
    # the log writer flushed at shutdown: one activity row, no resource, and the model's usage
    activity = await pool.fetch("select * from agent_activity_logs where user_id = $1", user)
    assert [(r["agent_type"], r["operation_type"], r["success"]) for r in activity] == [
        ("python_agent", "code_generation", True)
    ]
    assert activity[0]["resource_id"] is None and activity[0]["operation_metadata"]["generated"] is True
    assert await pool.fetchval("select count(*) from usage_logs where user_id = $1", user) == 1


async def test_unparsable_answer_is_a_tool_error_and_saves_nothing(
    database_url, make_user, gemini, pool
) -> None:
    user = await make_user()
    async with in_process(make_settings(database_url, user, gemini)) as client:
        for operation in ("create", "generate"):
            gemini.script(Turn(text=BROKEN), Turn(text=BROKEN))  # the answer, and the repaired answer
            result = await client.call_tool("python_agent", {"operation": operation, "instruction": "x"})
            assert result.is_error, operation
            assert "not valid Python" in result.content[0].text and "line 1" in result.content[0].text
        assert await count_rows(database_url, "Document") == 0

        doc = await create(client, gemini)
        before = await snapshot(pool)
        for operation, text in (("update", "make it shout"), ("fix", "SyntaxError somewhere")):
            gemini.script(Turn(text=BROKEN), Turn(text=BROKEN))
            result = await client.call_tool(
                "python_agent", {"operation": operation, "codeId": doc["id"], "instruction": text}
            )
            assert result.is_error, operation
            message = result.content[0].text
            assert "nothing was saved" in message and "Traceback" not in message
        assert "still fails the check after 2 attempts" in message  # the fix wording
        assert await snapshot(pool) == before


async def test_bad_arguments_are_tool_errors_and_change_nothing(
    database_url, make_user, gemini, pool
) -> None:
    await pool.execute(
        "update admin_config set config_data = jsonb_set(config_data, '{rateLimit,perMinute}', '100') "
        "where config_key = 'python_agent_google'"
    )
    user = await make_user()
    other = await make_user()
    async with in_process(make_settings(database_url, other, gemini)) as client:
        foreign = await create(client, gemini)
    async with in_process(make_settings(database_url, user, gemini)) as client:
        mine = await create(client, gemini)
        gemini.script(Turn(text="# A text document"))
        text_doc = await client.call_tool("document_agent", {"operation": "create", "instruction": "Notes"})
        assert not text_doc.is_error, text_doc.content
        before = await snapshot(pool)
        requests_before = len(gemini.model_requests())
        cases = [
            ({"operation": "update", "instruction": "x"}, "codeId"),
            ({"operation": "fix", "codeId": mine["id"]}, "instruction"),
            ({"operation": "explain"}, "codeId"),
            ({"operation": "revert"}, "codeId"),
            ({"operation": "generate"}, "instruction"),
            ({"operation": "update", "codeId": "not-a-uuid", "instruction": "x"}, "codeId"),
            ({"operation": "update", "codeId": str(uuid.uuid4()), "instruction": "x"}, "not found"),
            ({"operation": "update", "codeId": foreign["id"], "instruction": "x"}, "not found"),
            ({"operation": "fix", "codeId": foreign["id"], "instruction": "x"}, "not found"),
            ({"operation": "revert", "codeId": foreign["id"]}, "not found"),
            ({"operation": "explain", "codeId": text_doc.structured_content["id"]}, "'text' artifact"),
            ({"operation": "revert", "codeId": mine["id"]}, "nothing to revert"),
            ({"operation": "revert", "codeId": mine["id"], "targetVersion": 0}, "targetVersion"),
            ({"operation": "suggest", "codeId": mine["id"]}, "operation"),
            ({"operation": "update", "documentId": mine["id"], "instruction": "x"}, "documentId"),
        ]
        for arguments, expected in cases:
            result = await client.call_tool("python_agent", arguments)
            assert result.is_error, arguments
            text = result.content[0].text
            assert expected in text, (arguments, text)
            assert "Traceback" not in text
        assert await snapshot(pool) == before
        assert len(gemini.model_requests()) == requests_before, "no bad call may reach the model"


async def test_listed_with_enabled_operations_only(database_url, make_user, gemini, pool) -> None:
    user = await make_user()
    async with in_process(make_settings(database_url, user, gemini)) as client:
        tool = next(t for t in (await client.list_tools()).tools if t.name == "python_agent")
    props = tool.input_schema["properties"]
    assert props["operation"]["enum"] == ["generate", "create", "update", "fix", "explain", "revert"]
    chat = await pool.fetchval(
        "select config_data -> 'tools' -> 'pythonAgent' from admin_config "
        "where config_key = 'chat_model_agent_google'"
    )
    assert tool.description.startswith(chat["description"])
    assert props["codeId"]["description"] == chat["tool_input"]["codeId"]["parameter_description"]
    assert tool.annotations.read_only_hint is False

    await pool.execute(
        "update admin_config set config_data = jsonb_set(config_data, '{tools,explain,enabled}', 'false') "
        "where config_key = 'python_agent_google'"
    )
    async with in_process(make_settings(database_url, user, gemini)) as client:
        tool = next(t for t in (await client.list_tools()).tools if t.name == "python_agent")
        assert tool.input_schema["properties"]["operation"]["enum"] == [
            "generate",
            "create",
            "update",
            "fix",
            "revert",
        ]
        refused = await client.call_tool(
            "python_agent", {"operation": "explain", "codeId": str(uuid.uuid4())}
        )
        assert refused.is_error and "disabled" in refused.content[0].text

    # only generate left: the tool does not write, and says so
    await pool.execute(
        "update admin_config set config_data = config_data || jsonb_build_object('tools', ("
        "select jsonb_object_agg(key, case when key = 'generate' then value "
        "else jsonb_set(value, '{enabled}', 'false') end) "
        "from jsonb_each(config_data -> 'tools'))) where config_key = 'python_agent_google'"
    )
    async with in_process(make_settings(database_url, user, gemini)) as client:
        tool = next(t for t in (await client.list_tools()).tools if t.name == "python_agent")
    assert tool.input_schema["properties"]["operation"]["enum"] == ["generate"]
    assert tool.annotations.read_only_hint is True
    assert gemini.model_requests() == []


async def test_link_mime_type_and_failed_call_logs(database_url, make_user, gemini, pool) -> None:
    await pool.execute(
        "update admin_config set config_data = config_data || "
        """'{"agent_activity_logging_enabled": true, "error_logging_enabled": true}'::jsonb """
        "where config_key = 'logging_settings'"
    )
    user = await make_user()
    async with in_process(make_settings(database_url, user, gemini)) as client:
        gemini.script(Turn(text=V1))
        created = await client.call_tool("python_agent", {"operation": "create", "instruction": "add"})
        assert not created.is_error, created.content
        links = [c for c in created.content if c.type == "resource_link"]
        assert links and links[0].mime_type == "text/x-python"
        code_id = created.structured_content["id"]
        gemini.script(Turn(text="def broken(:\n"), Turn(text="def broken(:\n"))
        failed = await client.call_tool(
            "python_agent", {"operation": "update", "codeId": code_id, "instruction": "break it"}
        )
        assert failed.is_error and "not valid Python" in failed.content[0].text
    row = await pool.fetchrow(
        "select * from agent_activity_logs where user_id = $1 and success = false", user
    )
    assert row["resource_id"] == uuid.UUID(code_id) and row["error_type"] == "InvalidSource"
    error = await pool.fetchrow("select * from error_logs where user_id = $1", user)
    assert error["error_type"] == "api" and "not valid Python" in error["error_message"]
