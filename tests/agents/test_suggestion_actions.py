"""accept_suggestion / reject_suggestion of the document agent through the MCP server (in-process client,
real Postgres, fake Gemini on 127.0.0.1): a version with the replacement applied (no model call), the
suggestion resolved, one transaction as the caller; bad input changes nothing."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import pytest
from fakes.gemini import FakeGemini
from fakes.llm import Turn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from mcp_harness import in_process, make_settings

pytestmark = pytest.mark.anyio

TEXT = "# Doc\n\nThe quick brown fox jumps over the lazy dog. The quick brown fox sleeps."


async def create_with_suggestions(client, gemini: FakeGemini, text: str = TEXT) -> tuple[dict, list[dict]]:
    gemini.script(Turn(text=text))
    created = await client.call_tool("document_agent", {"operation": "create", "instruction": "Doc"})
    assert not created.is_error, created.content
    doc = created.structured_content
    answer = {
        "suggestions": [
            {"originalText": "quick brown fox", "suggestedText": "swift fox", "description": "shorter"},
            {"originalText": "the lazy dog", "suggestedText": "a sleepy dog", "description": "livelier"},
        ]
    }
    gemini.script(Turn(text=json.dumps(answer)))
    suggested = await client.call_tool("document_agent", {"operation": "suggest", "documentId": doc["id"]})
    assert not suggested.is_error, suggested.content
    return doc, suggested.structured_content["suggestions"]


async def snapshot(pool) -> tuple:
    docs = await pool.fetch('select id, version_number, content from "Document" order by id, version_number')
    suggestions = await pool.fetch('select id, "isResolved" from "Suggestion" order by id')
    return [tuple(r) for r in docs], [tuple(r) for r in suggestions]


async def test_accept_writes_a_version_without_a_model_call_and_reject_writes_none(
    database_url, make_user, gemini, pool
) -> None:
    await pool.execute(
        "update admin_config set config_data = config_data || "
        """'{"agent_activity_logging_enabled": true}'::jsonb where config_key = 'logging_settings'"""
    )
    user = await make_user()
    async with in_process(make_settings(database_url, user, gemini)) as client:
        doc, (fox, dog) = await create_with_suggestions(client, gemini)
        calls = len(gemini.model_requests())
        accepted = await client.call_tool(
            "document_agent", {"operation": "accept_suggestion", "suggestionId": fox["id"]}
        )
        assert not accepted.is_error, accepted.content
        out = accepted.structured_content
        assert (out["id"], out["version"], out["operation"], out["suggestionId"]) == (
            doc["id"],
            2,
            "accept_suggestion",
            fox["id"],
        )
        # only the first occurrence is replaced
        assert out["content"] == TEXT.replace("quick brown fox", "swift fox", 1)
        rejected = await client.call_tool(
            "document_agent", {"operation": "reject_suggestion", "suggestionId": dog["id"]}
        )
        assert not rejected.is_error, rejected.content
        assert rejected.structured_content["version"] == 2 and "content" not in rejected.structured_content
        assert len(gemini.model_requests()) == calls, "accept and reject must not call the model"
    versions = await pool.fetch(
        'select version_number, content, metadata from "Document" where id = $1 order by version_number',
        uuid.UUID(doc["id"]),
    )
    assert [v["version_number"] for v in versions] == [1, 2]
    meta = versions[1]["metadata"]
    assert meta["updateType"] == "suggestion" and meta["suggestionId"] == fox["id"]
    assert meta["previousVersion"] == 1 and meta["modelUsed"] is None
    assert meta["agentInfo"] == "document-agent"
    resolved = await pool.fetch('select id, "isResolved" from "Suggestion"')
    assert {str(r["id"]): r["isResolved"] for r in resolved} == {fox["id"]: True, dog["id"]: True}
    activity = await pool.fetch(
        "select model_id, success from agent_activity_logs where user_id = $1 order by start_time", user
    )
    assert [(r["model_id"], r["success"]) for r in activity][-2:] == [(None, True), (None, True)]


async def test_stale_resolved_foreign_and_missing_suggestions_are_clear_errors_and_change_nothing(
    database_url, make_user, gemini, pool
) -> None:
    await pool.execute(
        "update admin_config set config_data = jsonb_set(config_data, '{rateLimit,perMinute}', '100') "
        "where config_key = 'document_agent_google'"
    )
    user = await make_user()
    other = await make_user()
    async with in_process(make_settings(database_url, other, gemini)) as client:
        _, (foreign, _) = await create_with_suggestions(client, gemini)
    async with in_process(make_settings(database_url, user, gemini)) as client:
        doc, (fox, dog) = await create_with_suggestions(client, gemini)
        # the document changes under the suggestion: its text no longer occurs
        gemini.script(Turn(text="Nothing about foxes any more, but the lazy dog stays."))
        updated = await client.call_tool(
            "document_agent", {"operation": "update", "documentId": doc["id"], "instruction": "rewrite"}
        )
        assert not updated.is_error, updated.content
        rejected = await client.call_tool(
            "document_agent", {"operation": "reject_suggestion", "suggestionId": dog["id"]}
        )
        assert not rejected.is_error, rejected.content
        before = await snapshot(pool)
        cases = [
            ({"operation": "accept_suggestion"}, "suggestionId"),
            ({"operation": "reject_suggestion"}, "suggestionId"),
            ({"operation": "accept_suggestion", "suggestionId": "nope"}, "suggestionId"),
            ({"operation": "accept_suggestion", "suggestionId": fox["id"]}, "no longer occurs"),
            ({"operation": "accept_suggestion", "suggestionId": dog["id"]}, "already resolved"),
            ({"operation": "reject_suggestion", "suggestionId": dog["id"]}, "already resolved"),
            ({"operation": "accept_suggestion", "suggestionId": foreign["id"]}, "not found"),
            ({"operation": "reject_suggestion", "suggestionId": foreign["id"]}, "not found"),
            ({"operation": "accept_suggestion", "suggestionId": str(uuid.uuid4())}, "not found"),
        ]
        for arguments, expected in cases:
            result = await client.call_tool("document_agent", arguments)
            assert result.is_error, arguments
            text = result.content[0].text
            assert expected in text, (arguments, text)
            assert "Traceback" not in text
        assert await snapshot(pool) == before
        # the stale suggestion can still be rejected
        result = await client.call_tool(
            "document_agent", {"operation": "reject_suggestion", "suggestionId": fox["id"]}
        )
        assert not result.is_error, result.content
    assert await pool.fetchval('select "isResolved" from "Suggestion" where id = $1', uuid.UUID(fox["id"]))


async def test_the_operations_follow_their_admin_config_toggles(
    database_url, make_user, gemini, pool
) -> None:
    for provider in ("google", "openai", "anthropic"):
        tools = await pool.fetchval(
            "select config_data -> 'tools' from admin_config where config_key = $1",
            f"document_agent_{provider}",
        )
        assert tools["acceptSuggestion"]["enabled"] is True and tools["rejectSuggestion"]["enabled"] is True
    await pool.execute(
        "update admin_config set config_data = jsonb_set(config_data, '{tools,acceptSuggestion,enabled}', "
        "'false') where config_key = 'document_agent_google'"
    )
    user = await make_user()
    async with in_process(make_settings(database_url, user, gemini)) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        enum = listed["document_agent"].input_schema["properties"]["operation"]["enum"]
        assert "reject_suggestion" in enum and "accept_suggestion" not in enum
        assert "accept_suggestion applies a saved suggestion" in (listed["document_agent"].description or "")
        described = listed["document_agent"].input_schema["properties"]["suggestionId"]["description"]
        assert described.startswith("UUID of a saved, open suggestion")
        _, (fox, _) = await create_with_suggestions(client, gemini)
        before = await snapshot(pool)
        result = await client.call_tool(
            "document_agent", {"operation": "accept_suggestion", "suggestionId": fox["id"]}
        )
        assert result.is_error and "accept_suggestion" in result.content[0].text
        assert await snapshot(pool) == before


async def test_concurrent_accepts_of_one_suggestion_write_one_version(
    database_url, make_user, gemini, pool
) -> None:
    import anyio

    await pool.execute(
        "update admin_config set config_data = jsonb_set(config_data, '{rateLimit,perMinute}', '100') "
        "where config_key = 'document_agent_google'"
    )
    user = await make_user()
    async with in_process(make_settings(database_url, user, gemini)) as client:
        doc, (fox, _) = await create_with_suggestions(client, gemini)
        results: list = []

        async def accept() -> None:
            results.append(
                await client.call_tool(
                    "document_agent", {"operation": "accept_suggestion", "suggestionId": fox["id"]}
                )
            )

        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(accept)
    assert sorted(r.is_error for r in results) == [False, True, True, True]
    assert all("already resolved" in r.content[0].text for r in results if r.is_error)
    count = await pool.fetchval('select count(*) from "Document" where id = $1', uuid.UUID(doc["id"]))
    assert count == 2


async def test_artifacts_lists_only_open_suggestions_of_own_documents(
    database_url, make_user, gemini, pool
) -> None:
    user = await make_user()
    other = await make_user()
    async with in_process(make_settings(database_url, other, gemini)) as client:
        foreign_doc, _ = await create_with_suggestions(client, gemini)
    async with in_process(make_settings(database_url, user, gemini)) as client:
        doc, (fox, dog) = await create_with_suggestions(client, gemini)
        listed = await client.call_tool("artifacts", {"action": "suggestions", "documentId": doc["id"]})
        # saved by one statement, so in no particular order between themselves
        assert {s["id"] for s in listed.structured_content["suggestions"]} == {fox["id"], dog["id"]}
        await client.call_tool(
            "document_agent", {"operation": "reject_suggestion", "suggestionId": dog["id"]}
        )
        listed = await client.call_tool("artifacts", {"action": "suggestions", "documentId": doc["id"]})
        assert [s["originalText"] for s in listed.structured_content["suggestions"]] == ["quick brown fox"]
        foreign = await client.call_tool(
            "artifacts", {"action": "suggestions", "documentId": foreign_doc["id"]}
        )
        assert foreign.is_error and "not found" in foreign.content[0].text
