"""Failures the client cannot act on come back as clean errors: no driver text, no traceback."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import asyncpg
import pytest
from fakes.gemini import FakeGemini
from mcp.shared.exceptions import MCPError
from mcp_harness import doc_turn, in_process, make_settings

pytestmark = pytest.mark.anyio

INTERNAL_WORDS = ("asyncpg", "Traceback", "connection", "Error(", "ValueError", "badly formed")


def assert_clean(text: str) -> None:
    for word in INTERNAL_WORDS:
        assert word not in text, text


async def test_database_unavailable_gives_clean_errors(
    database_url: str, pg_admin_url: str, make_user, gemini: FakeGemini
) -> None:
    user = await make_user()
    name = urlsplit(database_url).path.lstrip("/")
    admin = await asyncpg.connect(pg_admin_url)
    try:
        async with in_process(make_settings(database_url, user, gemini)) as client:
            gemini.script(doc_turn("# Works\n\nbefore the outage"))
            ok = await client.call_tool("document_agent", {"operation": "create", "instruction": "Works"})
            assert not ok.is_error, ok.content
            await admin.execute(f'alter database "{name}" with allow_connections false')
            await admin.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity "
                "where datname = $1 and pid <> pg_backend_pid()",
                name,
            )
            try:
                result = await client.call_tool("document_agent", {"operation": "create", "instruction": "x"})
                assert result.is_error
                text = result.content[0].text
                assert "temporarily unavailable" in text and "try again" in text, text
                assert_clean(text)
                listed = await client.call_tool("artifacts", {"action": "list"})
                assert listed.is_error and "temporarily unavailable" in listed.content[0].text
                assert_clean(listed.content[0].text)
                with pytest.raises(MCPError) as caught:
                    await client.list_resources()
                assert "temporarily unavailable" in str(caught.value)
                assert_clean(str(caught.value))
                with pytest.raises(MCPError) as caught:
                    await client.read_resource(f"artifact://{ok.structured_content['id']}")
                assert "temporarily unavailable" in str(caught.value)
                assert_clean(str(caught.value))
            finally:
                await admin.execute(f'alter database "{name}" with allow_connections true')
    finally:
        await admin.close()
    assert len(gemini.model_requests()) == 1, "a call that could not be counted must not run"


async def test_bad_resource_uris_are_clean_errors(database_url: str, make_user, gemini: FakeGemini) -> None:
    user = await make_user()
    cases = {
        "artifact://------------------------------------": "not a uuid",
        f"artifact://{uuid.uuid4()}/v/0": "versions start at 1",
        "artifact://nope": "unknown resource",
        f"artifact://{uuid.uuid4()}": "not found",
        f"artifact://{uuid.uuid4()}/v/999999999": "not found",
    }
    async with in_process(make_settings(database_url, user, gemini)) as client:
        for uri, expected in cases.items():
            with pytest.raises(MCPError) as caught:
                await client.read_resource(uri)
            assert expected in str(caught.value), (uri, str(caught.value))
            assert_clean(str(caught.value))


async def test_versions_beyond_int4_are_refused_as_arguments(
    database_url: str, make_user, gemini: FakeGemini
) -> None:
    user = await make_user()
    async with in_process(make_settings(database_url, user, gemini)) as client:
        doc = await client.call_tool(
            "artifacts", {"action": "read", "documentId": str(uuid.uuid4()), "version": 2**31}
        )
        assert doc.is_error and "version" in doc.content[0].text
        assert "internal error" not in doc.content[0].text
        for agent, id_argument in (
            ("document_agent", "documentId"),
            ("python_agent", "codeId"),
            ("mermaid_agent", "diagramId"),
        ):
            result = await client.call_tool(
                agent, {"operation": "revert", id_argument: str(uuid.uuid4()), "targetVersion": 2**31}
            )
            assert result.is_error and "targetVersion" in result.content[0].text, (agent, result.content)
            assert "internal error" not in result.content[0].text
