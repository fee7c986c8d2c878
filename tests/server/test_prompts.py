"""MCP prompts: one per enabled agent operation, built from admin_config, reloaded with the catalog, with
completions for their arguments. Real clients: the SDK's, in process (both protocol eras) and over stdio."""

from __future__ import annotations

from typing import Any

import anyio
import mcp_types as types
import pytest
from artificer.server.app import build_server
from artificer.storage import documents
from fakes.gemini import FakeGemini
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError
from mcp_harness import make_settings, server_env
from test_transports import ARTIFICER

pytestmark = pytest.mark.anyio

DISABLE_FIX = (
    "update admin_config set config_data = jsonb_set(config_data, '{tools,fix,enabled}', 'false') "
    "where config_key = 'mermaid_agent_google'"
)


def by_name(listed: types.ListPromptsResult) -> dict[str, types.Prompt]:
    return {p.name: p for p in listed.prompts}


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_prompts_per_enabled_operation_render_from_the_template(
    database_url: str, make_user, gemini: FakeGemini, pool, mode: str
) -> None:
    user = await make_user()
    claims = {"sub": str(user), "role": "authenticated"}
    diagram = await documents.store_version(
        pool, claims, document_id=None, title="Flow", kind="mermaid code", content="graph TD; A-->"
    )
    async with Client(build_server(make_settings(database_url, user, gemini)), mode=mode) as client:
        assert client.server_capabilities.prompts is not None
        prompts = by_name(await client.list_prompts())
        assert prompts["python_create"].title == "New Python script"
        assert prompts["mermaid_fix"].title == "Fix this diagram"
        assert {"document_create", "document_suggest", "python_explain", "provider_tools", "git_mcp"} <= set(
            prompts
        )
        fix_args = {a.name: a.required for a in prompts["mermaid_fix"].arguments or []}
        assert fix_args["diagramId"] is True and fix_args["instruction"] is True
        assert fix_args.get("model") is False

        got = await client.get_prompt(
            "mermaid_fix", {"diagramId": str(diagram.id), "instruction": "Parse error on line 1"}
        )
        text = got.messages[0].content
        assert isinstance(text, types.TextContent)
        assert '"operation": "fix"' in text.text and str(diagram.id) in text.text
        # the seeded tools.fix.userPromptTemplate, its placeholders filled
        assert f"<the current content of artifact://{diagram.id}>" in text.text
        assert "Error:\nParse error on line 1" in text.text
        link = got.messages[1].content
        assert isinstance(link, types.ResourceLink) and str(link.uri) == f"artifact://{diagram.id}"

        with pytest.raises(MCPError) as missing:
            await client.get_prompt("mermaid_fix", {"instruction": "x"})
        assert missing.value.error.code == types.INVALID_PARAMS and "diagramId" in str(missing.value)
        with pytest.raises(MCPError) as unknown:
            await client.get_prompt("no_such_prompt", {})
        assert unknown.value.error.code == types.INVALID_PARAMS


async def test_prompt_argument_completions(database_url: str, make_user, gemini: FakeGemini, pool) -> None:
    user, other = await make_user(), await make_user()
    claims = {"sub": str(user), "role": "authenticated"}
    flow = await documents.store_version(
        pool, claims, document_id=None, title="Flow chart", kind="mermaid code", content="graph TD; A-->B"
    )
    await documents.store_version(pool, claims, document_id=flow.id, content="graph TD; A-->C")
    script = await documents.store_version(
        pool, claims, document_id=None, title="Flow script", kind="python code", content="print(1)"
    )
    theirs = await documents.store_version(
        pool,
        {"sub": str(other), "role": "authenticated"},
        document_id=None,
        title="Flow other",
        kind="mermaid code",
        content="graph TD; X",
    )
    async with Client(build_server(make_settings(database_url, user, gemini)), mode="legacy") as client:
        fix = types.PromptReference(name="mermaid_fix")
        found = (await client.complete(fix, {"name": "diagramId", "value": "flo"})).completion.values
        assert found == [str(flow.id)]  # a diagram of the caller's: not the script, not the other user's
        assert str(script.id) not in found and str(theirs.id) not in found
        explain = types.PromptReference(name="python_explain")
        assert (await client.complete(explain, {"name": "codeId", "value": "FLOW"})).completion.values == [
            str(script.id)
        ]
        models = (await client.complete(fix, {"name": "model", "value": ""})).completion.values
        assert models and all(m.startswith("gemini") for m in models)
        narrowed = (await client.complete(fix, {"name": "model", "value": models[-1]})).completion.values
        assert narrowed == [models[-1]]
        versions = await client.complete(
            types.PromptReference(name="mermaid_revert"),
            {"name": "targetVersion", "value": ""},
            context_arguments={"diagramId": str(flow.id)},
        )
        assert versions.completion.values == ["2", "1"]
        nothing = await client.complete(types.PromptReference(name="nope"), {"name": "model", "value": ""})
        assert nothing.completion.values == []


async def test_disabled_operation_prompt_vanishes_and_stdio_client_is_told(
    database_url: str, make_user, gemini: FakeGemini, pool
) -> None:
    user = await make_user()
    changed = anyio.Event()

    async def on_message(message: Any) -> None:
        if getattr(getattr(message, "root", message), "method", None) == "notifications/prompts/list_changed":
            changed.set()

    params = StdioServerParameters(
        command=ARTIFICER, args=["serve"], env=server_env(database_url, user, gemini)
    )
    async with Client(params, mode="legacy", message_handler=on_message, read_timeout_seconds=30) as client:
        assert client.server_capabilities.prompts is not None
        assert client.server_capabilities.prompts.list_changed is True
        assert "mermaid_fix" in by_name(await client.list_prompts())
        # LISTEN may not be up yet: the server reloads once it listens, so the change is announced either way
        await pool.execute(DISABLE_FIX)
        with anyio.fail_after(5):
            await changed.wait()
        prompts = by_name(await client.list_prompts())
        assert "mermaid_fix" not in prompts and "mermaid_create" in prompts
        with pytest.raises(MCPError):
            await client.get_prompt("mermaid_fix", {"diagramId": str(user), "instruction": "x"})


async def test_2026_clients_hear_prompts_changed_on_listen(
    database_url: str, make_user, gemini: FakeGemini, pool
) -> None:
    user = await make_user()
    async with Client(build_server(make_settings(database_url, user, gemini))) as client:
        assert client.protocol_version == "2026-07-28"
        assert "mermaid_fix" in by_name(await client.list_prompts())
        async with client.listen(prompts_list_changed=True) as sub:
            await pool.execute(DISABLE_FIX)
            with anyio.fail_after(5):
                event = await sub.__anext__()
            assert type(event).__name__ == "PromptsListChanged"
        assert "mermaid_fix" not in by_name(await client.list_prompts())
