"""Two users (and two would-be admins) over real HTTP: nobody reaches another user's artifacts.

A owns a document (with open suggestions), a Python file and a Mermaid diagram, and has usage and activity
rows. B, C (an admin by `app_metadata.role`) and D (`user_metadata.role=admin` only: a role the user can
edit, which grants nothing) then try every tool operation that takes an id, every resource and template,
`resources/list` and completions with A's ids. None of them can read, change or list anything of A's; no
model call is made for them; A's rows are unchanged. C alone gets the `admin_…` tools, and through them
sees what the seed's admin policies allow (usage and activity logs of all users), still not A's artifacts.
A, doing the same reads, gets everything: the refusals are about who asks, not about what is asked.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import anyio
import asyncpg
import jwt
import pytest
from fakes.gemini import FakeGemini
from fakes.llm import Turn
from http_harness import http_client, running_http
from mcp.client import Client
from mcp.shared.exceptions import MCPError
from mcp_harness import JWT_SECRET, make_settings
from mcp_types import PromptReference, ResourceTemplateReference

pytestmark = pytest.mark.anyio

TEXT = "# Secret plan\n\nThe quick brown fox jumps over the lazy dog. The quick brown fox sleeps."
CODE = 'def secret_function() -> str:\n    return "classified-python-body"\n'
DIAGRAM = "flowchart TD\n    A[Classified start] --> B[Classified end]\n"
SECRETS = ("Secret plan", "quick brown fox", "classified-python-body", "Classified start", "swift fox")


def token(user: uuid.UUID, **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "sub": str(user),
        "aud": "authenticated",
        "role": "authenticated",
        "iat": now,
        "exp": now + 600,
    }
    return jwt.encode({**payload, **claims}, JWT_SECRET, algorithm="HS256")


def text_of(result: Any) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


async def snapshot(pool: asyncpg.Pool) -> tuple[list[tuple[Any, ...]], ...]:
    docs = await pool.fetch('select id, version_number, content, user_id from "Document" order by 1, 2')
    sugg = await pool.fetch('select id, "isResolved", "suggestedText" from "Suggestion" order by 1')
    return [tuple(r) for r in docs], [tuple(r) for r in sugg]


async def owner_setup(client: Client, gemini: FakeGemini) -> dict[str, str]:
    """A's artifacts: a document with two suggestions, a Python file, a diagram. Their ids by role."""
    gemini.script(Turn(text=TEXT))
    doc = await client.call_tool("document_agent", {"operation": "create", "instruction": "plan"})
    assert not doc.is_error, doc.content
    doc_id = doc.structured_content["id"]
    answer = {
        "suggestions": [
            {"originalText": "quick brown fox", "suggestedText": "swift fox", "description": "shorter"},
            {"originalText": "the lazy dog", "suggestedText": "a sleepy dog", "description": "livelier"},
        ]
    }
    gemini.script(Turn(text=json.dumps(answer)))
    suggested = await client.call_tool("document_agent", {"operation": "suggest", "documentId": doc_id})
    assert not suggested.is_error, suggested.content
    suggestion_ids = [s["id"] for s in suggested.structured_content["suggestions"]]
    gemini.script(Turn(text=CODE))
    code = await client.call_tool("python_agent", {"operation": "create", "instruction": "code"})
    assert not code.is_error, code.content
    gemini.script(Turn(text=DIAGRAM))
    diagram = await client.call_tool("mermaid_agent", {"operation": "create", "instruction": "flow"})
    assert not diagram.is_error, diagram.content
    return {
        "doc": doc_id,
        "suggestion": suggestion_ids[0],
        "suggestion2": suggestion_ids[1],
        "code": code.structured_content["id"],
        "diagram": diagram.structured_content["id"],
    }


def id_calls(ids: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """Every tool operation that takes one of A's ids (changes and reads)."""
    doc, code, diagram = ids["doc"], ids["code"], ids["diagram"]
    return [
        ("document_agent", {"operation": "update", "documentId": doc, "instruction": "leak it"}),
        ("document_agent", {"operation": "suggest", "documentId": doc}),
        ("document_agent", {"operation": "revert", "documentId": doc, "targetVersion": 1}),
        ("document_agent", {"operation": "accept_suggestion", "suggestionId": ids["suggestion"]}),
        ("document_agent", {"operation": "reject_suggestion", "suggestionId": ids["suggestion2"]}),
        ("python_agent", {"operation": "update", "codeId": code, "instruction": "leak it"}),
        ("python_agent", {"operation": "fix", "codeId": code, "instruction": "leak it"}),
        ("python_agent", {"operation": "explain", "codeId": code}),
        ("python_agent", {"operation": "revert", "codeId": code, "targetVersion": 1}),
        ("mermaid_agent", {"operation": "update", "diagramId": diagram, "instruction": "leak it"}),
        ("mermaid_agent", {"operation": "fix", "diagramId": diagram, "instruction": "leak it"}),
        ("mermaid_agent", {"operation": "revert", "diagramId": diagram, "targetVersion": 1}),
        *[("artifacts", {"action": "read", "documentId": i}) for i in (doc, code, diagram)],
        *[("artifacts", {"action": "read", "documentId": i, "version": 1}) for i in (doc, code, diagram)],
        *[("artifacts", {"action": "history", "documentId": i}) for i in (doc, code, diagram)],
    ]


def resource_uris(ids: dict[str, str]) -> list[str]:
    uris = []
    for i in (ids["doc"], ids["code"], ids["diagram"]):
        uris += [f"artifact://{i}", f"artifact://{i}/v/1"]
    d = ids["diagram"]
    return [*uris, f"artifact://{d}/v/1/diagram.svg", f"artifact://{d}/v/1/diagram.png"]


async def completions(client: Client, ids: dict[str, str]) -> list[str]:
    """Every value any completion offers, with A's ids as context and as typed prefixes."""
    values: list[str] = []
    template = ResourceTemplateReference(type="ref/resource", uri="artifact://{id}/v/{version}")
    for prefix in ("", ids["doc"][:4], ids["code"][:4], ids["diagram"][:4]):
        values += (await client.complete(template, {"name": "id", "value": prefix})).completion.values
    for i in (ids["doc"], ids["code"], ids["diagram"]):
        got = await client.complete(template, {"name": "version", "value": ""}, {"id": i})
        values += got.completion.values
    for prompt in (await client.list_prompts()).prompts:
        ref = PromptReference(type="ref/prompt", name=prompt.name)
        names = {a.name for a in prompt.arguments or []}
        for id_arg in names & {"documentId", "codeId", "diagramId"}:
            values += (await client.complete(ref, {"name": id_arg, "value": ""})).completion.values
            if "targetVersion" in names:
                for i in (ids["doc"], ids["code"], ids["diagram"]):
                    got = await client.complete(ref, {"name": "targetVersion", "value": ""}, {id_arg: i})
                    values += got.completion.values
    return values


async def reads_everything(
    client: Client, ids: dict[str, str], model: FakeGemini | None = None
) -> dict[str, Any]:
    """What a client gets for all the reads: tool calls' (is_error, text), resources, lists, completions.
    `model`: script the answer of `explain` (the owner's call reaches the model)."""
    out: dict[str, Any] = {}
    for name, args in id_calls(ids):
        if "operation" in args and args["operation"] not in ("explain",):
            continue  # changes are tried separately (they would change A's rows when A tries them)
        if model is not None and "operation" in args:
            model.script(Turn(text=CODE))
        result = await client.call_tool(name, args)
        out[f"{name} {json.dumps(args)}"] = (result.is_error, text_of(result))
    for uri in resource_uris(ids):
        try:
            read = await client.read_resource(uri)
            out[uri] = (False, " ".join(getattr(c, "text", None) or "blob" for c in read.contents))
        except MCPError as error:
            out[uri] = (True, str(error))
    listed = await client.call_tool("artifacts", {"action": "list"})
    out["artifacts list"] = [a["id"] for a in listed.structured_content["artifacts"]]
    out["resources/list"] = [str(r.uri) for r in (await client.list_resources()).resources]
    out["completions"] = await completions(client, ids)
    usage = await client.call_tool("usage", {})
    out["usage calls"] = usage.structured_content["totalCalls"]
    return out


async def admin_call(client: Client, name: str, args: dict[str, Any]) -> tuple[bool, str]:
    """(refused, what came back): a non-admin gets "unknown tool", as for any name not listed to them."""
    try:
        result = await client.call_tool(name, args)
    except MCPError as error:
        assert "unknown tool" in str(error).lower(), error
        return True, str(error)
    return result.is_error, json.dumps(result.structured_content) if not result.is_error else text_of(result)


async def wait_for_rows(pool: asyncpg.Pool, sql: str, at_least: int, *args: Any) -> None:
    """Until the log writer has flushed: `sql` counts at least `at_least` (bounded: 15 s)."""
    with anyio.fail_after(15):
        while await pool.fetchval(sql, *args) < at_least:  # noqa: ASYNC110 — rows of a batched writer
            await anyio.sleep(0.05)


async def test_nobody_reaches_another_users_artifacts(
    database_url: str, pool: asyncpg.Pool, make_user, gemini: FakeGemini
) -> None:
    a, b, c, d = (await make_user(), await make_user(), await make_user(role="admin"), await make_user())
    await pool.execute(
        "update admin_config set config_data = config_data || "
        """'{"agent_activity_logging_enabled": true, "user_activity_logging_enabled": true}'::jsonb """
        "where config_key = 'logging_settings'"
    )
    await pool.execute('update auth.users set raw_user_meta_data = \'{"role": "admin"}\' where id = $1', d)
    tokens = {
        "B": token(b),
        "C": token(c, app_metadata={"role": "admin"}),
        "D": token(d, user_metadata={"role": "admin"}, app_metadata={"provider": "email"}),
    }
    settings = make_settings(database_url, None, gemini)
    async with running_http(settings) as base:
        async with http_client(base, token(a)) as owner:
            ids = await owner_setup(owner, gemini)
            await wait_for_rows(pool, "select count(*) from usage_logs where user_id = $1", 4, a)
            await wait_for_rows(pool, "select count(*) from user_activity_logs where user_id = $1", 4, a)
            mine = await reads_everything(owner, ids, gemini)
        # A, the control: every read succeeds, every list and completion names A's artifacts
        assert all(not v[0] for k, v in mine.items() if isinstance(v, tuple)), mine
        artifact_ids = {ids["doc"], ids["code"], ids["diagram"]}
        assert set(mine["artifacts list"]) == artifact_ids
        assert {u.removeprefix("artifact://") for u in mine["resources/list"]} >= artifact_ids
        assert artifact_ids <= set(mine["completions"]) and "1" in mine["completions"]
        assert mine["usage calls"] == 4
        before = await snapshot(pool)
        model_calls = len(gemini.model_requests())
        seen: dict[str, dict[str, Any]] = {}
        for who, bearer in tokens.items():
            async with http_client(base, bearer) as client:
                for name, args in id_calls(ids):
                    result = await client.call_tool(name, args)  # nothing scripted: a model call fails
                    assert result.is_error, (who, name, args, result.content)
                    message = text_of(result)
                    assert "not found" in message or "not yours" in message, (who, name, args, message)
                theirs = await reads_everything(client, ids)
                seen[who] = theirs
                tool_names = {t.name for t in (await client.list_tools()).tools}
                seen[who]["admin tools"] = sorted(n for n in tool_names if n.startswith("admin_"))
                seen[who]["audit"] = await admin_call(client, "admin_audit", {"userId": str(a)})
                seen[who]["analytics"] = await admin_call(client, "admin_analytics", {"report": "top_users"})
        assert await snapshot(pool) == before, "another user changed A's documents or suggestions"
        assert len(gemini.model_requests()) == model_calls, "a model was called for another user's artifact"
    for who, theirs in seen.items():
        for key, value in theirs.items():
            if isinstance(value, tuple) and key not in ("audit", "analytics"):
                assert value[0], (who, key, value)
                assert "not found" in value[1] or "not yours" in value[1], (who, key, value)
        assert theirs["artifacts list"] == [] and theirs["resources/list"] == [], who
        assert not artifact_ids & set(theirs["completions"]) and theirs["completions"] == [], who
        assert theirs["usage calls"] == 0, who
        assert not any(s in json.dumps(theirs, default=str) for s in SECRETS if who != "C"), who
    # only C is an admin: the admin tools, and the logs the seed's admin policies let admins read
    for who in ("B", "D"):
        assert seen[who]["admin tools"] == [], who
        assert seen[who]["audit"][0] and seen[who]["analytics"][0], who
    assert "admin_audit" in seen["C"]["admin tools"]
    audit_error, audit_text = seen["C"]["audit"]
    audit = json.loads(audit_text)
    assert not audit_error and audit["entries"], audit
    assert {row["userId"] for row in audit["entries"]} == {str(a)}
    assert not seen["C"]["analytics"][0] and str(a) in seen["C"]["analytics"][1]
