"""The document agent through the MCP server (in-process client, real Postgres, fake Gemini on 127.0.0.1)."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import anyio
import pytest
from fakes.gemini import FakeGemini
from fakes.llm import Failure, Turn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from mcp_harness import count_rows, in_process, make_settings

pytestmark = pytest.mark.anyio


async def create(
    client, gemini: FakeGemini, text: str = "# Doc\n\nThe quick brown fox jumps over the lazy dog.", **args
):
    gemini.script(Turn(text=text))
    result = await client.call_tool("document_agent", {"operation": "create", "instruction": "Doc", **args})
    assert not result.is_error, result.content
    return result.structured_content


async def snapshot(pool) -> tuple:
    docs = await pool.fetch('select id, version_number, content from "Document" order by id, version_number')
    suggestions = await pool.fetchval('select count(*) from "Suggestion"')
    return [tuple(r) for r in docs], suggestions


async def test_create_uses_config_prompt_and_title(database_url, make_user, gemini, pool) -> None:
    user = await make_user()
    async with in_process(make_settings(database_url, user, gemini)) as client:
        doc = await create(client, gemini, text="```markdown\n# Fenced\n\nBody\n```", title="Explicit title")
    assert doc["title"] == "Explicit title" and doc["content"] == "# Fenced\n\nBody"
    body = gemini.bodies()[-1]
    config = await pool.fetchval(
        "select config_data -> 'tools' -> 'create' from admin_config "
        "where config_key = 'document_agent_google'"
    )
    assert body["systemInstruction"]["parts"][0]["text"] == config["systemPrompt"]
    expected = (
        config["userPromptTemplate"].replace("{title}", "Explicit title").replace("{instruction}", "Doc")
    )
    assert body["contents"][0]["parts"][0]["text"] == expected
    row = await pool.fetchrow('select * from "Document" where id = $1', uuid.UUID(doc["id"]))
    meta = row["metadata"]
    assert meta["updateType"] == "create" and meta["modelUsed"] == "gemini-2.0-flash" and "createdAt" in meta


async def test_title_is_first_line_truncated(database_url, make_user, gemini) -> None:
    user = await make_user()
    instruction = "A" * 150 + "\nsecond line"
    async with in_process(make_settings(database_url, user, gemini)) as client:
        gemini.script(Turn(text="body"))
        result = await client.call_tool("document_agent", {"operation": "create", "instruction": instruction})
    assert result.structured_content["title"] == "A" * 100


async def test_update_revert_and_history(database_url, make_user, gemini, pool) -> None:
    user = await make_user()
    async with in_process(make_settings(database_url, user, gemini)) as client:
        doc = await create(client, gemini, text="version one")
        gemini.script(Turn(text="version two"))
        updated = await client.call_tool(
            "document_agent", {"operation": "update", "documentId": doc["id"], "instruction": "make it two"}
        )
        assert updated.structured_content["version"] == 2
        assert "version one" in gemini.bodies()[-1]["contents"][0]["parts"][0]["text"]
        calls_before = len(gemini.model_requests())
        reverted = await client.call_tool("document_agent", {"operation": "revert", "documentId": doc["id"]})
        assert not reverted.is_error, reverted.content
        assert len(gemini.model_requests()) == calls_before, "revert must not call the model"
        out = reverted.structured_content
        assert (out["version"], out["content"], out["revertedFrom"], out["revertedTo"]) == (
            3,
            "version one",
            2,
            1,
        )
        history = await client.call_tool("artifacts", {"action": "history", "documentId": doc["id"]})
        assert [v["updateType"] for v in history.structured_content["versions"]] == [
            "create",
            "update",
            "revert",
        ]
        v2 = await client.read_resource(f"artifact://{doc['id']}/v/2")
        assert v2.contents[0].text == "version two"
    meta = await pool.fetchval(
        'select metadata from "Document" where id = $1 and version_number = 2', uuid.UUID(doc["id"])
    )
    assert (
        meta["updateType"] == "update"
        and meta["previousVersion"] == 1
        and meta["updateInstruction"] == "make it two"
    )


async def test_suggest_saves_only_suggestions_found_in_the_text(
    database_url, make_user, gemini, pool
) -> None:
    user = await make_user()
    answer = {
        "suggestions": [
            {"originalText": "quick brown fox", "suggestedText": "swift fox", "description": "shorter"},
            {"originalText": "not in the document", "suggestedText": "x", "description": "invented"},
        ]
    }
    async with in_process(make_settings(database_url, user, gemini)) as client:
        doc = await create(client, gemini)
        gemini.script(Turn(text=json.dumps(answer)))
        result = await client.call_tool("document_agent", {"operation": "suggest", "documentId": doc["id"]})
    assert not result.is_error, result.content
    out = result.structured_content
    assert [s["originalText"] for s in out["suggestions"]] == ["quick brown fox"]
    assert out["droppedSuggestions"] == 1
    rows = await pool.fetch('select "originalText", user_id from "Suggestion"')
    assert [(r["originalText"], r["user_id"]) for r in rows] == [("quick brown fox", user)]


async def test_bad_arguments_are_tool_errors_and_change_nothing(
    database_url, make_user, gemini, pool
) -> None:
    await pool.execute(
        "update admin_config set config_data = jsonb_set(config_data, '{rateLimit,perMinute}', '100') "
        "where config_key = 'document_agent_google'"
    )
    user = await make_user()
    other = await make_user()
    async with in_process(make_settings(database_url, other, gemini)) as client:
        foreign = await create(client, gemini)
    async with in_process(make_settings(database_url, user, gemini)) as client:
        mine = await create(client, gemini)
        before = await snapshot(pool)
        cases = [
            ({}, "operation"),
            ({"operation": "create"}, "instruction"),
            ({"operation": "create", "instruction": 42}, "instruction"),
            ({"operation": "create", "instruction": "x" * 20_001}, "instruction"),
            ({"operation": "update", "instruction": "x"}, "documentId"),
            ({"operation": "update", "documentId": "not-a-uuid", "instruction": "x"}, "documentId"),
            ({"operation": "update", "documentId": str(uuid.uuid4()), "instruction": "x"}, "not found"),
            ({"operation": "update", "documentId": foreign["id"], "instruction": "x"}, "not found"),
            ({"operation": "revert", "documentId": foreign["id"]}, "not found"),
            ({"operation": "revert", "documentId": mine["id"]}, "nothing to revert"),
            ({"operation": "revert", "documentId": mine["id"], "targetVersion": 0}, "targetVersion"),
            ({"operation": "suggest", "documentId": foreign["id"]}, "not found"),
            ({"operation": "fly"}, "operation"),
            ({"operation": "create", "instruction": "x", "model": "no-such-model"}, "no-such-model"),
            ({"operation": "create", "instruction": "x", "unknown": 1}, "unknown"),
        ]
        for arguments, expected in cases:
            result = await client.call_tool("document_agent", arguments)
            assert result.is_error, arguments
            text = result.content[0].text
            assert expected in text, (arguments, text)
            assert "Traceback" not in text
        assert await snapshot(pool) == before
        assert len(gemini.model_requests()) == 2  # only the two creates reached the model


async def test_provider_failure_mid_stream_leaves_no_version(database_url, make_user, gemini, pool) -> None:
    user = await make_user()
    async with in_process(make_settings(database_url, user, gemini)) as client:
        gemini.script(Turn(text=["part one ", "part two ", "part three"], cut_after_text=1))
        result = await client.call_tool("document_agent", {"operation": "create", "instruction": "x"})
        assert result.is_error and "model call failed" in result.content[0].text
        gemini.script(Failure(500), Failure(500), Failure(500), Failure(500))
        result = await client.call_tool("document_agent", {"operation": "create", "instruction": "x"})
        assert result.is_error
    assert await count_rows(database_url, "Document") == 0


async def test_cancelled_call_writes_nothing(database_url, make_user, gemini, pool) -> None:
    user = await make_user()
    async with in_process(make_settings(database_url, user, gemini)) as client:
        gemini.script(Turn(text=["first ", "second"], hang=True))
        with anyio.move_on_after(1.5) as scope:
            await client.call_tool("document_agent", {"operation": "create", "instruction": "x"})
        assert scope.cancelled_caught
        with anyio.fail_after(5):
            while not gemini.disconnected.is_set():  # noqa: ASYNC110 — a threading.Event set by the fake
                await anyio.sleep(0.05)
    assert await count_rows(database_url, "Document") == 0
    # the tokens Gemini reported before the call was cancelled were billed: one usage row records them
    usage = await pool.fetch("select * from usage_logs where user_id = $1", user)
    assert len(usage) == 1 and usage[0]["input_tokens"] > 0
    assert usage[0]["metadata"]["success"] is False


async def test_one_activity_row_per_operation_and_one_usage_row_per_model_call(
    database_url, make_user, gemini, pool
) -> None:
    await pool.execute(
        "update admin_config set config_data = config_data || "
        """'{"agent_activity_logging_enabled": true, "error_logging_enabled": true}'::jsonb """
        "where config_key = 'logging_settings'"
    )
    user = await make_user()
    async with in_process(make_settings(database_url, user, gemini)) as client:
        gemini.script(Turn(text="one", input_tokens=100, output_tokens=50, reasoning_tokens=10))
        doc = (
            await client.call_tool("document_agent", {"operation": "create", "instruction": "x"})
        ).structured_content
        await client.call_tool(
            "document_agent", {"operation": "revert", "documentId": doc["id"]}
        )  # fails: v1 only
    activity = await pool.fetch(
        "select * from agent_activity_logs where user_id = $1 order by start_time", user
    )
    assert [(r["operation_type"], r["success"]) for r in activity] == [
        ("document_generation", True),
        ("document_generation", False),
    ]
    ok, failed = activity
    assert (ok["input_tokens"], ok["output_tokens"], ok["reasoning_tokens"]) == (100, 50, 10)
    assert ok["model_id"] == "gemini-2.0-flash" and ok["provider"] == "google" and ok["thinking_mode"] is True
    # gemini-2.0-flash: $0.075 / $0.30 per million; reasoning billed as output (Gemini reports it apart)
    assert float(ok["total_cost"]) == pytest.approx((100 * 0.075 + 60 * 0.30) / 1e6, abs=1e-6)
    assert ok["resource_id"] == uuid.UUID(doc["id"]) and ok["end_time"] >= ok["start_time"]
    assert failed["error_type"] == "AgentInputError" and "nothing to revert" in failed["error_message"]
    usage = await pool.fetch("select * from usage_logs where user_id = $1", user)
    assert (
        len(usage) == 1 and usage[0]["input_tokens"] == 100 and usage[0]["model_used"] == "gemini-2.0-flash"
    )
    errors = await pool.fetch("select * from error_logs where user_id = $1", user)
    assert len(errors) == 1 and errors[0]["error_category"] == "document_agent.revert"


async def test_resources_and_usage_tool(database_url, make_user, gemini, pool) -> None:
    user = await make_user()
    other = await make_user()
    async with in_process(make_settings(database_url, other, gemini)) as client:
        await create(client, gemini)
    async with in_process(make_settings(database_url, user, gemini)) as client:
        gemini.script(Turn(text="mine", input_tokens=40, output_tokens=20))
        mine = (
            await client.call_tool("document_agent", {"operation": "create", "instruction": "Mine"})
        ).structured_content
        listed = await client.list_resources()
        assert [str(r.uri) for r in listed.resources] == [f"artifact://{mine['id']}"]
        templates = await client.list_resource_templates()
        assert {t.uri_template for t in templates.resource_templates} == {
            "artifact://{id}",
            "artifact://{id}/v/{version}",
            "artifact://{id}/v/{version}/diagram.svg",
            "artifact://{id}/v/{version}/diagram.png",
        }
    # the log writer flushed at shutdown; usage is the caller's only
    async with in_process(make_settings(database_url, user, gemini)) as client:
        usage = await client.call_tool("usage", {})
        assert not usage.is_error, usage.content
        assert usage.structured_content["totalCalls"] == 1
        assert usage.structured_content["totalInputTokens"] == 40
        bad = await client.call_tool("usage", {"startDate": "2026-02-01", "endDate": "2026-01-01"})
        assert bad.is_error and "startDate" in bad.content[0].text
        tool = next(t for t in (await client.list_tools()).tools if t.name == "usage")
        assert tool.annotations.read_only_hint is True


async def test_cancelled_while_storing_leaves_no_version(database_url, make_user, gemini, pool) -> None:
    """The stream has ended; the call is cancelled while its one store statement waits: nothing is stored."""
    user = await make_user()
    async with in_process(make_settings(database_url, user, gemini)) as client:
        gemini.script(Turn(text="complete answer"))
        blocker = await pool.acquire()
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute('lock table "Document" in access exclusive mode')
        try:
            async with anyio.create_task_group() as tg:

                async def call() -> None:
                    await client.call_tool("document_agent", {"operation": "create", "instruction": "x"})

                tg.start_soon(call)
                with anyio.fail_after(10):
                    while not await pool.fetchval(  # noqa: ASYNC110 — the store waits for the lock
                        "select count(*) from pg_stat_activity where wait_event_type = 'Lock' "
                        "and datname = current_database()"
                    ):
                        await anyio.sleep(0.02)
                assert len(gemini.model_requests()) == 1  # the answer was streamed to its end
                tg.cancel_scope.cancel()
        finally:
            await transaction.rollback()
            await pool.release(blocker)
        with anyio.fail_after(10):  # a store that was not cancelled lands (or fails) before its backend idles
            while await pool.fetchval(  # noqa: ASYNC110 — no event: wait for the server's backends to go idle
                "select count(*) from pg_stat_activity where datname = current_database() "
                "and backend_type = 'client backend' and state <> 'idle' and pid <> pg_backend_pid()"
            ):
                await anyio.sleep(0.02)
    assert await count_rows(database_url, "Document") == 0


async def test_schema_mismatch_after_a_full_answer_logs_the_billed_tokens(
    database_url, make_user, gemini, pool
) -> None:
    user = await make_user()
    async with in_process(make_settings(database_url, user, gemini)) as client:
        doc = await create(client, gemini)
        gemini.script(Turn(text='{"suggestions": "not a list"}', input_tokens=333, output_tokens=44))
        result = await client.call_tool("document_agent", {"operation": "suggest", "documentId": doc["id"]})
        assert result.is_error and "model call failed" in result.content[0].text
    usage = await pool.fetch("select * from usage_logs where user_id = $1 and input_tokens = 333", user)
    assert len(usage) == 1 and usage[0]["output_tokens"] == 44
    assert usage[0]["metadata"]["success"] is False and usage[0]["metadata"]["operation"] == "suggest"
    failed = await pool.fetchrow(
        "select * from agent_activity_logs where user_id = $1 and success = false", user
    )
    assert failed is not None and failed["input_tokens"] == 333
    assert failed["resource_id"] == uuid.UUID(doc["id"])


async def rate_counts(pool, user) -> dict[str, int]:
    rows = await pool.fetch(
        "select limit_type, request_count from rate_limit_tracking "
        "where user_id = $1 and agent_type = 'document_agent'",
        user,
    )
    return {r["limit_type"]: r["request_count"] for r in rows}


async def test_calls_refused_before_the_model_give_their_rate_limit_slot_back(
    database_url, make_user, gemini, pool
) -> None:
    await pool.execute(
        "update admin_config set config_data = "
        "jsonb_set(jsonb_set(config_data, '{rateLimit,perMinute}', '100'), '{rateLimit,perHour}', '3') "
        "where config_key = 'document_agent_google'"
    )
    user, other = await make_user(), await make_user()
    async with in_process(make_settings(database_url, other, gemini)) as client:
        foreign = await create(client, gemini)
    async with in_process(make_settings(database_url, user, gemini)) as client:
        mine = await create(client, gemini)
        assert await rate_counts(pool, user) == {"minute": 1, "hourly": 1, "daily": 1}
        refusals = [
            ({"operation": "update", "documentId": str(uuid.uuid4()), "instruction": "x"}, "not found"),
            ({"operation": "update", "documentId": foreign["id"], "instruction": "x"}, "not found"),
            ({"operation": "suggest", "documentId": foreign["id"]}, "not found"),
            ({"operation": "revert", "documentId": str(uuid.uuid4())}, "not found"),
            ({"operation": "revert", "documentId": mine["id"]}, "nothing to revert"),
            ({"operation": "revert", "documentId": mine["id"], "targetVersion": 5}, "nothing to revert"),
        ]
        for arguments, expected in refusals * 2:  # more refusals than the hour allows calls
            result = await client.call_tool("document_agent", arguments)
            assert result.is_error and expected in result.content[0].text, (arguments, result.content)
        assert await rate_counts(pool, user) == {"minute": 1, "hourly": 1, "daily": 1}
        # a refusal after the model answered (an empty document) keeps its slot: the model was used
        gemini.script(Turn(text="```\n   \n```"))
        empty = await client.call_tool(
            "document_agent", {"operation": "update", "documentId": mine["id"], "instruction": "x"}
        )
        assert empty.is_error and "empty document" in empty.content[0].text
        assert await rate_counts(pool, user) == {"minute": 2, "hourly": 2, "daily": 2}
        # the limit stays exact: one more call is allowed, the next is refused
        await create(client, gemini)
        gemini.script(Turn(text="never sent"))
        refused = await client.call_tool("document_agent", {"operation": "create", "instruction": "x"})
        assert refused.is_error and "3 calls per hour" in refused.content[0].text
    assert await rate_counts(pool, user) == {"minute": 3, "hourly": 3, "daily": 3}
    assert await rate_counts(pool, other) == {"minute": 1, "hourly": 1, "daily": 1}
    assert len(gemini.model_requests()) == 4  # two creates of mine, the foreign one, the empty update
