"""The MCP surface per protocol revision: down-levelled results, protocol errors, paging, resource events,
auth metadata. Real clients: the SDK's own over in-process, stdio and Streamable HTTP; a raw JSON-RPC
driver over the real stdio subprocess where a client library would hide the behaviour."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from artificer.server import paging
from artificer.server.app import build_server
from artificer.server.identity import make_hs256_token
from artificer.server.protocol import authorization_server, downlevel
from artificer.storage import documents
from fakes.gemini import FakeGemini
from mcp.client import Client
from mcp.shared.exceptions import MCPError
from mcp_harness import JWT_SECRET, doc_turn, make_settings, server_env
from test_transports import ARTIFICER, http_client, running_http

pytestmark = pytest.mark.anyio

LINK = {"type": "resource_link", "name": "Notes", "uri": "artifact://x/v/1", "mimeType": "text/markdown"}
CALL_RESULT = {
    "content": [{"type": "text", "text": "Created."}, LINK],
    "structuredContent": {"id": "x"},
    "isError": False,
}
TOOLS = {
    "tools": [
        {
            "name": "t",
            "title": "T",
            "inputSchema": {"type": "object"},
            "outputSchema": {"type": "object"},
            "annotations": {"readOnlyHint": True},
            "icons": [{"src": "https://x/i.png"}],
        }
    ]
}


# --- down-levelling (pure) ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2024-11-05", "2025-03-26"])
def test_old_clients_get_links_as_text_and_no_structured_output(version: str) -> None:
    out = downlevel("tools/call", version, CALL_RESULT)
    assert [c["type"] for c in out["content"]] == ["text", "text"]
    assert "artifact://x/v/1" in out["content"][1]["text"]
    assert "structuredContent" not in out
    tool = downlevel("tools/list", version, TOOLS)["tools"][0]
    assert set(tool) == (
        {"name", "inputSchema", "annotations"} if version == "2025-03-26" else {"name", "inputSchema"}
    )


def test_2025_06_18_keeps_links_and_structure_but_not_icons() -> None:
    assert downlevel("tools/call", "2025-06-18", CALL_RESULT) == CALL_RESULT
    tool = downlevel("tools/list", "2025-06-18", TOOLS)["tools"][0]
    assert "icons" not in tool and tool["outputSchema"] == {"type": "object"} and tool["title"] == "T"


@pytest.mark.parametrize("version", ["2025-11-25", "2026-07-28"])
def test_current_revisions_are_untouched(version: str) -> None:
    assert downlevel("tools/call", version, CALL_RESULT) == CALL_RESULT
    assert downlevel("tools/list", version, TOOLS) == TOOLS


# --- stdio, raw JSON-RPC --------------------------------------------------------------------------------


class RawStdio:
    def __init__(self, process: Any) -> None:
        self.process = process
        self.buffer = b""

    async def send(self, line: str | dict[str, Any] | list[Any]) -> None:
        text = line if isinstance(line, str) else json.dumps(line)
        await self.process.stdin.send((text + "\n").encode())

    async def receive(self) -> dict[str, Any]:
        """The next message that is not a notification."""
        while True:
            while b"\n" not in self.buffer:
                self.buffer += await self.process.stdout.receive()
            line, self.buffer = self.buffer.split(b"\n", 1)
            message = json.loads(line)
            if "id" in message:
                return message


@asynccontextmanager
async def raw_stdio(env: dict[str, str]) -> AsyncIterator[RawStdio]:
    process = await anyio.open_process([ARTIFICER, "serve"], env=env)
    try:
        yield RawStdio(process)
    finally:
        await process.stdin.aclose()
        with anyio.fail_after(20):
            await process.wait()


async def test_stdio_2025_03_26_client_and_protocol_errors(
    database_url: str, make_user, gemini: FakeGemini
) -> None:
    user = await make_user()
    gemini.script(doc_turn("# Old client\n\nBody."))
    async with raw_stdio(server_env(database_url, user, gemini)) as rpc:
        with anyio.fail_after(60):
            await rpc.send(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": "2025-03-26",
                        "capabilities": {},
                        "clientInfo": {"name": "ts-sdk-1.12", "version": "1.12.0"},
                    },
                }
            )
            init = await rpc.receive()
            assert init["result"]["protocolVersion"] == "2025-03-26"
            assert not {"title", "icons", "websiteUrl"} & set(init["result"]["serverInfo"])
            assert init["result"]["capabilities"]["resources"] == {"subscribe": True, "listChanged": True}
            await rpc.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

            await rpc.send({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
            tools = (await rpc.receive())["result"]["tools"]
            assert tools and all("outputSchema" not in t and "title" not in t for t in tools)

            arguments = {"operation": "create", "instruction": "Old client"}
            await rpc.send(
                {
                    "jsonrpc": "2.0",
                    "id": 3,
                    "method": "tools/call",
                    "params": {"name": "document_agent", "arguments": arguments},
                }
            )
            result = (await rpc.receive())["result"]
            assert result["isError"] is False
            assert "structuredContent" not in result
            assert {c["type"] for c in result["content"]} == {"text"}
            assert any("artifact://" in c["text"] for c in result["content"][1:])

            await rpc.send("this is not json")
            parse = await rpc.receive()
            assert parse["id"] is None and parse["error"]["code"] == -32700

            await rpc.send([{"jsonrpc": "2.0", "id": 4, "method": "ping"}])
            batch = await rpc.receive()
            assert batch["id"] is None and batch["error"]["code"] == -32600
            assert "batch" in batch["error"]["message"]

            await rpc.send({"jsonrpc": "2.0", "id": 5, "method": "no/such/method"})
            unknown_method = await rpc.receive()
            assert unknown_method["id"] == 5 and unknown_method["error"]["code"] == -32601

            await rpc.send(
                {
                    "jsonrpc": "2.0",
                    "id": 6,
                    "method": "tools/call",
                    "params": {"name": "nope", "arguments": {}},
                }
            )
            unknown_tool = await rpc.receive()
            assert unknown_tool["id"] == 6 and unknown_tool["error"]["code"] == -32602
            assert "nope" in unknown_tool["error"]["message"]

            await rpc.send({"jsonrpc": "2.0", "id": 7, "method": "ping"})  # still serving
            assert (await rpc.receive()) == {"jsonrpc": "2.0", "id": 7, "result": {}}


async def test_current_clients_still_get_resource_links(
    database_url: str, make_user, gemini: FakeGemini
) -> None:
    user = await make_user()
    gemini.script(doc_turn("# New client\n\nBody."))
    async with Client(build_server(make_settings(database_url, user, gemini)), mode="legacy") as client:
        result = await client.call_tool("document_agent", {"operation": "create", "instruction": "x"})
        assert any(c.type == "resource_link" for c in result.content)
        assert result.structured_content is not None
        with pytest.raises(MCPError) as raised:
            await client.call_tool("no_such_tool", {})
        assert raised.value.error.code == -32602


# --- paging ---------------------------------------------------------------------------------------------


async def add_documents(pool: Any, user: uuid.UUID, count: int) -> list[uuid.UUID]:
    claims = {"sub": str(user), "role": "authenticated"}
    ids = []
    for i in range(count):
        doc = await documents.store_version(
            pool, claims, document_id=None, title=f"Doc {i}", kind="text", content=f"body {i}"
        )
        ids.append(doc.id)
    return ids


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_resources_list_pages_with_a_cursor(
    database_url: str, make_user, gemini: FakeGemini, pool, mode: str
) -> None:
    user = await make_user()
    ids = await add_documents(pool, user, 103)
    async with Client(build_server(make_settings(database_url, user, gemini)), mode=mode) as client:
        first = await client.list_resources()
        assert len(first.resources) == 100 and first.next_cursor
        second = await client.list_resources(cursor=first.next_cursor)
        assert len(second.resources) == 3 and second.next_cursor is None
        listed = [r.name for r in first.resources + second.resources]
        assert sorted(listed) == sorted(str(i) for i in ids) and len(set(listed)) == 103
        assert first.resources[0].size == len(b"body 102")
        assert first.resources[0].annotations and first.resources[0].annotations.last_modified
        body, mac = first.next_cursor.split(".")
        tampered = paging._b64(paging._unb64(body).replace(b'"i":"', b'"i":"0'))
        with pytest.raises(MCPError) as raised:
            await client.list_resources(cursor=f"{tampered}.{mac}")
        assert raised.value.error.code == -32602 and "invalid cursor" in raised.value.error.message


async def test_artifacts_tool_pages_and_refuses_another_users_cursor(
    database_url: str, make_user, gemini: FakeGemini, pool
) -> None:
    user, other = await make_user(), await make_user()
    ids = await add_documents(pool, user, 5)
    await add_documents(pool, other, 3)
    seen: list[str] = []
    async with Client(build_server(make_settings(database_url, user, gemini))) as client:
        cursor = None
        for _ in range(3):
            args: dict[str, Any] = {"action": "list", "limit": 2}
            if cursor:
                args["cursor"] = cursor
            page = (await client.call_tool("artifacts", args)).structured_content
            assert page is not None
            seen += [a["id"] for a in page["artifacts"]]
            cursor = page.get("nextCursor")
        assert cursor is None and seen == [str(i) for i in reversed(ids)]
        mine = (await client.call_tool("artifacts", {"action": "list", "limit": 1})).structured_content
        assert mine is not None
    async with Client(build_server(make_settings(database_url, other, gemini))) as client:
        stolen = await client.call_tool("artifacts", {"action": "list", "cursor": mine["nextCursor"]})
        assert stolen.is_error and "invalid cursor" in stolen.content[0].text


# --- resource events ------------------------------------------------------------------------------------


class Recorder:
    """The resource notifications one handshake-era client received, and an event per URI updated."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str | None]] = []
        self.updated: dict[str, anyio.Event] = {}

    def expect(self, uri: str) -> anyio.Event:
        self.updated[uri] = anyio.Event()
        return self.updated[uri]

    async def __call__(self, message: Any) -> None:
        root = getattr(message, "root", message)
        method = getattr(root, "method", None)
        if method and method.startswith("notifications/resources/"):
            params = getattr(root, "params", None)
            uri = str(params.uri) if getattr(params, "uri", None) else None
            self.messages.append((method, uri))
            if uri in self.updated:
                self.updated[uri].set()


async def store_until(pool: Any, user: uuid.UUID, doc_id: uuid.UUID, arrived: Any) -> None:
    """Store versions of `doc_id` as `user` until `arrived()` returns (a server's LISTEN connection
    opens in the background, so a version stored before it listens is announced to nobody)."""
    claims = {"sub": str(user), "role": "authenticated"}
    with anyio.fail_after(15):
        while True:
            await documents.store_version(pool, claims, document_id=doc_id, content="next")
            with anyio.move_on_after(1):
                await arrived()
                return


async def test_handshake_events_reach_only_the_owner(
    database_url: str, make_user, gemini: FakeGemini, pool
) -> None:
    owner, other = await make_user(), await make_user()
    owner_doc = (await add_documents(pool, owner, 1))[0]
    other_doc = (await add_documents(pool, other, 1))[0]
    owner_uri, other_uri = f"artifact://{owner_doc}", f"artifact://{other_doc}"
    owner_seen, other_seen = Recorder(), Recorder()
    owner_server = build_server(make_settings(database_url, owner, gemini))
    other_server = build_server(make_settings(database_url, other, gemini))
    async with (
        Client(owner_server, mode="legacy", message_handler=owner_seen) as owner_client,
        Client(other_server, mode="legacy", message_handler=other_seen) as other_client,
    ):
        resources_capability = owner_client.server_capabilities.resources
        assert resources_capability is not None and resources_capability.subscribe is True
        assert resources_capability.list_changed is True
        await owner_client.session.subscribe_resource(owner_uri)
        await other_client.session.subscribe_resource(owner_uri)  # someone else's: must never fire
        await other_client.session.subscribe_resource(other_uri)
        await store_until(pool, other, other_doc, other_seen.expect(other_uri).wait)
        other_seen.messages.clear()
        # stored outside both servers (as by another replica): the owner's server tells the owner
        await store_until(pool, owner, owner_doc, owner_seen.expect(owner_uri).wait)
        assert ("notifications/resources/list_changed", None) in owner_seen.messages
        assert all(uri in (None, owner_uri) for _, uri in owner_seen.messages)
        # the other user's next own change arrives after anything of the owner's would have (NOTIFY order)
        await store_until(pool, other, other_doc, other_seen.expect(other_uri).wait)
        assert ("notifications/resources/updated", owner_uri) not in other_seen.messages
        assert other_seen.messages[-1] == ("notifications/resources/updated", other_uri)


async def test_listen_stream_gets_the_owners_resource_events(
    database_url: str, make_user, gemini: FakeGemini, pool
) -> None:
    owner, other = await make_user(), await make_user()
    owner_doc = (await add_documents(pool, owner, 1))[0]
    other_doc = (await add_documents(pool, other, 1))[0]
    owner_uri, other_uri = f"artifact://{owner_doc}", f"artifact://{other_doc}"
    settings = make_settings(database_url, None, gemini)
    async with (
        running_http(settings) as base,
        http_client(base, make_hs256_token(JWT_SECRET, owner)) as client,
        http_client(base, make_hs256_token(JWT_SECRET, other)) as other_client,
    ):
        assert client.protocol_version == "2026-07-28"
        async with (
            client.listen(resources_list_changed=True, resource_subscriptions=[owner_uri]) as sub,
            other_client.listen(resource_subscriptions=[owner_uri, other_uri]) as other_sub,
        ):
            events: list[Any] = []

            async def owner_updated() -> None:
                while getattr(events[-1] if events else None, "uri", None) != owner_uri:
                    events.append(await sub.__anext__())

            await store_until(pool, owner, owner_doc, owner_updated)
            assert any(type(e).__name__ == "ResourcesListChanged" for e in events)
            other_events: list[Any] = []

            async def other_updated() -> None:
                while getattr(other_events[-1] if other_events else None, "uri", None) != other_uri:
                    other_events.append(await other_sub.__anext__())

            await store_until(pool, other, other_doc, other_updated)
            assert all(getattr(e, "uri", None) != owner_uri for e in other_events)


# --- auth metadata --------------------------------------------------------------------------------------


def test_authorization_server_is_configured_or_derived_or_none() -> None:
    assert authorization_server("https://auth.example.com/", None) == "https://auth.example.com"
    jwks = "https://abcd.supabase.co/auth/v1/.well-known/jwks.json"
    assert authorization_server(None, jwks) == "https://abcd.supabase.co/auth/v1"
    assert authorization_server(None, "https://idp.example.com/keys") is None
    assert authorization_server(None, None) is None


@pytest.mark.parametrize("issuer", [None, "https://abcd.supabase.co/auth/v1"])
async def test_protected_resource_metadata_names_a_real_issuer_or_nothing(
    database_url: str, gemini: FakeGemini, issuer: str | None
) -> None:
    settings = make_settings(database_url, None, gemini, auth_issuer_url=issuer)
    async with running_http(settings) as base, httpx2.AsyncClient() as plain:
        metadata = await plain.get(f"{base}/.well-known/oauth-protected-resource/mcp")
        refused = await plain.post(f"{base}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert refused.status_code == 401
    challenge = refused.headers.get("www-authenticate", "")
    if issuer is None:
        assert metadata.status_code == 404
        assert "resource_metadata" not in challenge
    else:
        assert metadata.status_code == 200 and metadata.json()["authorization_servers"] == [issuer]
        assert "resource_metadata=" in challenge


async def test_tool_descriptions_name_the_operations_the_enum_accepts(
    database_url: str, make_user, gemini: FakeGemini
) -> None:
    user = await make_user()
    async with Client(build_server(make_settings(database_url, user, gemini))) as client:
        tool = next(t for t in (await client.list_tools()).tools if t.name == "document_agent")
    operation = tool.input_schema["properties"]["operation"]
    assert "suggest" in operation["enum"] and "suggestion" not in operation["enum"]
    for name in operation["enum"]:
        assert name in operation["description"]
    assert "suggestion or revert" not in operation["description"]
    assert tool.description is not None and "; suggestion proposes" not in tool.description


# --- completions, logging, icons ------------------------------------------------------------------------


async def test_completions_offer_the_callers_artifacts_by_title_prefix(
    database_url: str, make_user, gemini: FakeGemini, pool
) -> None:
    user, other = await make_user(), await make_user()
    claims = {"sub": str(user), "role": "authenticated"}
    report = await documents.store_version(
        pool, claims, document_id=None, title="Report Q3", kind="text", content="a"
    )
    await documents.store_version(pool, claims, document_id=report.id, content="b")
    await documents.store_version(
        pool, claims, document_id=None, title="Notes_100%", kind="text", content="c"
    )
    theirs = await documents.store_version(
        pool,
        {"sub": str(other), "role": "authenticated"},
        document_id=None,
        title="Report",
        kind="text",
        content="d",
    )
    async with Client(build_server(make_settings(database_url, user, gemini)), mode="legacy") as client:
        assert client.server_capabilities.completions is not None
        ref = types.ResourceTemplateReference(uri="artifact://{id}")
        found = await client.complete(ref, {"name": "id", "value": "rep"})
        assert found.completion.values == [str(report.id)]  # not the other user's "Report"
        assert str(theirs.id) not in found.completion.values
        assert (await client.complete(ref, {"name": "id", "value": "Notes_1"})).completion.values
        assert (await client.complete(ref, {"name": "id", "value": "Notes%"})).completion.values == []
        by_id = await client.complete(ref, {"name": "id", "value": str(report.id)[:8]})
        assert by_id.completion.values == [str(report.id)]
        versions = await client.complete(
            types.ResourceTemplateReference(uri="artifact://{id}/v/{version}"),
            {"name": "version", "value": ""},
            context_arguments={"id": str(report.id)},
        )
        assert versions.completion.values == ["2", "1"]


async def test_logging_level_and_server_icon(database_url: str, make_user, gemini: FakeGemini) -> None:
    user = await make_user()
    gemini.script(doc_turn("# Logged\n\nBody."))
    logged: list[Any] = []

    async def on_log(params: Any) -> None:
        logged.append(params)

    server = build_server(make_settings(database_url, user, gemini, public_url="https://artificer.example"))
    async with Client(server, mode="legacy", logging_callback=on_log) as client:
        assert client.server_capabilities.logging is not None
        info = client.server_info
        assert info is not None and info.icons and info.website_url == "https://artificer.example"
        await client.call_tool("document_agent", {"operation": "create", "instruction": "x"})
        assert logged == []  # nothing below warning until the client asks
        with pytest.warns(Warning):
            await client.set_logging_level("info")
        gemini.script(doc_turn("# Logged again\n\nBody."))
        await client.call_tool("document_agent", {"operation": "create", "instruction": "y"})
        assert [entry.level for entry in logged] == ["info"]
        assert logged[0].data["tool"] == "document_agent"
