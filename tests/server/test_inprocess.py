from __future__ import annotations

import uuid

import pytest
from fakes.gemini import FakeGemini
from mcp_harness import doc_turn, in_process, make_settings

pytestmark = pytest.mark.anyio


async def test_create_document_in_process(database_url: str, make_user, gemini: FakeGemini, pool) -> None:
    user = await make_user()
    settings = make_settings(database_url, user, gemini)
    gemini.script(doc_turn("# Plan\n\nStep one."))
    async with in_process(settings) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert "document_agent" in tools
        schema = tools["document_agent"].input_schema
        operations = ["create", "update", "suggest", "revert", "accept_suggestion", "reject_suggestion"]
        assert schema["properties"]["operation"]["enum"] == operations
        args = {"operation": "create", "instruction": "Plan\nmore"}
        result = await client.call_tool("document_agent", args)
        assert not result.is_error, result.content
        doc = result.structured_content
        assert doc["title"] == "Plan" and doc["version"] == 1 and doc["content"] == "# Plan\n\nStep one."
        row = await pool.fetchrow('select * from "Document" where id = $1', uuid.UUID(doc["id"]))
        assert row["user_id"] == user and row["metadata"]["updateType"] == "create"
