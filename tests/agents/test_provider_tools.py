"""The provider tools agent through the MCP server (in-process client, real Postgres, fake providers)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from fakes.anthropic import FakeAnthropic
from fakes.gemini import FakeGemini
from fakes.llm import Failure, FakeLLM, NativeUse, Turn
from fakes.openai import FakeOpenAI

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from mcp_harness import count_rows, in_process, make_settings

pytestmark = pytest.mark.anyio

TOOL = "provider_tools_agent"
FAKES: dict[str, type[FakeLLM]] = {"google": FakeGemini, "openai": FakeOpenAI, "anthropic": FakeAnthropic}
SEARCH_TOGGLE = {"google": "googleSearch", "openai": "webSearch", "anthropic": "webSearch"}
ANSWER = "PostgreSQL 18.1 is the latest release."
SOURCE = "https://www.postgresql.org/about/news/"


TOGGLES = {
    "google": {"googleSearch": "web_search", "urlContext": "url_context", "codeExecution": "code_execution"},
    "openai": {"webSearch": "web_search", "codeInterpreter": "code_execution"},
    "anthropic": {"webSearch": "web_search", "webFetch": "url_context", "codeExecution": "code_execution"},
}


def offered(provider: str, row: dict[str, Any]) -> list[str]:
    """The native tools the agent row enables, sorted."""
    return sorted(TOGGLES[provider][t] for t, value in row["tools"].items() if value["enabled"] is True)


def sent_tools(fake: FakeLLM) -> list[str]:
    """The native tools the last model request offered, in our words (each provider's wire format)."""
    body = fake.bodies()[-1]
    if fake.name == "google":
        names = {"googleSearch": "web_search", "urlContext": "url_context", "codeExecution": "code_execution"}
        return sorted(names[next(iter(t))] for t in body.get("tools", []))
    if fake.name == "openai":
        names = {"web_search": "web_search", "code_interpreter": "code_execution"}
        return sorted(names[t["type"]] for t in body.get("tools", []))
    names = {"web_search": "web_search", "web_fetch": "url_context", "code_execution": "code_execution"}
    return sorted(names[t["name"]] for t in body.get("tools", []))


def sent_prompts(fake: FakeLLM) -> tuple[str, str]:
    """(system prompt, user prompt) of the last model request."""
    body = fake.bodies()[-1]
    if fake.name == "google":
        return body["systemInstruction"]["parts"][0]["text"], body["contents"][0]["parts"][0]["text"]
    if fake.name == "openai":
        return body["instructions"], body["input"]
    system = body["system"]
    system = system if isinstance(system, str) else "".join(b["text"] for b in system)
    content = body["messages"][0]["content"]
    prompt = content if isinstance(content, str) else "".join(b["text"] for b in content)
    return system, prompt


async def agent_row(pool, provider: str) -> dict[str, Any]:
    return await pool.fetchval(
        "select config_data from admin_config where config_key = $1", f"provider_tools_agent_{provider}"
    )


async def set_toggle(pool, provider: str, toggle: str, enabled: bool) -> None:
    await pool.execute(
        "update admin_config set config_data = jsonb_set(config_data, $2::text[], $3::jsonb) "
        "where config_key = $1",
        f"provider_tools_agent_{provider}",
        ["tools", toggle, "enabled"],
        enabled,
    )


async def use_provider(pool, provider: str) -> None:
    """Enable the provider's agent row (the OpenAI and Anthropic rows are seeded disabled)."""
    await pool.execute(
        "update admin_config set config_data = jsonb_set(config_data, '{enabled}', 'true') "
        "where config_key = $1",
        f"provider_tools_agent_{provider}",
    )


def settings(database_url: str, user, fake: FakeLLM):
    gemini = fake if isinstance(fake, FakeGemini) else FakeGemini()  # only its URL is read
    extra: dict[str, Any] = {"provider": fake.name}
    if fake.name == "openai":
        extra.update(openai_api_key="test-key", openai_base_url=f"{fake.url}/v1")
    elif fake.name == "anthropic":
        extra.update(anthropic_api_key="test-key", anthropic_base_url=fake.url)
    return make_settings(database_url, user, gemini, **extra)


@pytest.fixture(params=sorted(FAKES))
def fake(request):
    server = FAKES[request.param]().start()
    yield server
    server.stop()


async def test_answers_with_the_enabled_native_tools(database_url, make_user, fake, pool) -> None:
    provider = fake.name
    await use_provider(pool, provider)
    user = await make_user()
    row = await agent_row(pool, provider)
    enabled = offered(provider, row)
    assert enabled, "the seed row enables at least one native tool"
    chat = await pool.fetchval(
        "select config_data -> 'tools' -> 'providerToolsAgent' from admin_config where config_key = $1",
        f"chat_model_agent_{provider}",
    )
    fake.script(
        Turn(
            text=ANSWER,
            native=[
                NativeUse("web_search", "latest postgresql release", SOURCE),
                NativeUse("code_execution", "print(17 + 1)", "18"),
            ],
            input_tokens=40,
            output_tokens=11,
        )
    )
    async with in_process(settings(database_url, user, fake)) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        tool = listed[TOOL]
        assert set(tool.input_schema["properties"]) == {"input", "model"}
        assert tool.input_schema["required"] == ["input"]
        described = chat["tool_input"]["parameter_description"]
        assert tool.input_schema["properties"]["input"]["description"] == described
        assert tool.description == chat["description"]
        hints = tool.annotations
        assert hints.read_only_hint is True and hints.open_world_hint is True
        assert hints.idempotent_hint is False and hints.destructive_hint is False

        result = await client.call_tool(TOOL, {"input": "What is the latest PostgreSQL release?"})
        assert not result.is_error, result.content
        out = result.structured_content
        assert out["answer"] == ANSWER
        calls = {c["kind"]: c for c in out["toolCalls"]}  # in the order the provider reports them
        assert sorted(calls) == ["code_execution", "web_search"] and len(out["toolCalls"]) == 2
        assert all(c["native"] is True and c["error"] is False for c in calls.values())
        assert SOURCE in calls["web_search"]["output"] and calls["code_execution"]["output"].strip() == "18"
        assert out["sources"] == [SOURCE]
        assert ANSWER in result.content[0].text and SOURCE in result.content[0].text

    assert sent_tools(fake) == enabled
    assert sent_prompts(fake) == (row["systemPrompt"], "What is the latest PostgreSQL release?")
    assert await count_rows(database_url, "Document") == 0
    activity = await pool.fetch("select * from agent_activity_logs where user_id = $1", user)
    assert [
        (r["agent_type"], r["operation_type"], r["operation_category"], r["success"]) for r in activity
    ] == [(TOOL, "tool_invocation", "tool_use", True)]
    assert activity[0]["resource_id"] is None and activity[0]["provider"] == provider
    assert activity[0]["operation_metadata"]["nativeTools"] == sorted(
        enabled, key=["web_search", "url_context", "code_execution"].index
    )
    usage = await pool.fetch("select * from usage_logs where user_id = $1", user)
    assert [(r["agent_type"], r["provider"], r["input_tokens"]) for r in usage] == [(TOOL, provider, 40)]


async def test_a_disabled_native_tool_is_not_offered(database_url, make_user, fake, pool) -> None:
    provider = fake.name
    await use_provider(pool, provider)
    await set_toggle(pool, provider, SEARCH_TOGGLE[provider], False)
    user = await make_user()
    expected = offered(provider, await agent_row(pool, provider))
    assert "web_search" not in expected and "code_execution" in expected
    fake.script(Turn(text="42", native=[NativeUse("code_execution", "print(6 * 7)", "42")]))
    async with in_process(settings(database_url, user, fake)) as client:
        result = await client.call_tool(TOOL, {"input": "Compute 6 * 7 by running code"})
        assert not result.is_error, result.content
        assert result.structured_content["answer"] == "42"
        assert "sources" not in result.structured_content
    assert sent_tools(fake) == expected


async def test_every_native_tool_enabled_is_offered(database_url, make_user, gemini, pool) -> None:
    await set_toggle(pool, "google", "urlContext", True)
    user = await make_user()
    gemini.script(Turn(text="Read it.", native=[NativeUse("url_context", "https://example.com/post", "")]))
    async with in_process(settings(database_url, user, gemini)) as client:
        result = await client.call_tool(TOOL, {"input": "Summarise https://example.com/post"})
        assert not result.is_error, result.content
        out = result.structured_content
        assert [c["kind"] for c in out["toolCalls"]] == ["url_context"]
        assert out["sources"] == ["https://example.com/post"]
    assert sent_tools(gemini) == ["code_execution", "url_context", "web_search"]


async def test_all_native_tools_disabled_hides_the_tool(database_url, make_user, gemini, pool) -> None:
    for toggle in ("googleSearch", "urlContext", "codeExecution"):
        await set_toggle(pool, "google", toggle, False)
    user = await make_user()
    async with in_process(settings(database_url, user, gemini)) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert TOOL not in names and "python_agent" in names
        result = await client.call_tool(TOOL, {"input": "anything"})
        assert result.is_error
        message = result.content[0].text
        assert "disabled" in message and "provider_tools_agent_google" in message
    assert gemini.model_requests() == []
    assert await pool.fetchval("select count(*) from agent_activity_logs where user_id = $1", user) == 0


async def test_toggles_of_another_provider_do_not_enable_it(database_url, make_user, gemini, pool) -> None:
    """An OpenAI toggle name in the Google row enables nothing: the tool stays hidden."""
    for toggle in ("googleSearch", "urlContext", "codeExecution"):
        await set_toggle(pool, "google", toggle, False)
    await pool.execute(
        "update admin_config set config_data = jsonb_set(config_data, '{tools,codeInterpreter}', "
        """'{"enabled": true, "description": "x"}') where config_key = 'provider_tools_agent_google'"""
    )
    user = await make_user()
    async with in_process(settings(database_url, user, gemini)) as client:
        assert TOOL not in {t.name for t in (await client.list_tools()).tools}


async def test_a_provider_error_is_a_clean_tool_error(database_url, make_user, gemini, pool) -> None:
    user = await make_user()
    gemini.script(Failure(500, message="backend exploded"))
    async with in_process(settings(database_url, user, gemini)) as client:
        result = await client.call_tool(TOOL, {"input": "What is new in PostgreSQL?"})
        assert result.is_error
        message = result.content[0].text
        assert message.startswith("the model call failed") and "Traceback" not in message
    assert await count_rows(database_url, "Document") == 0
    assert await pool.fetchval("select count(*) from usage_logs where user_id = $1", user) == 0
    activity = await pool.fetch(
        "select success, operation_type from agent_activity_logs where user_id = $1", user
    )
    assert [(r["success"], r["operation_type"]) for r in activity] == [(False, "tool_invocation")]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({}, "input"),
        ({"input": ""}, "input"),
        ({"input": "   \n"}, "blank"),
        ({"input": "x" * 20_001}, "20000"),
        ({"input": 42}, "input"),
        ({"input": "hi", "operation": "search"}, "operation"),
        ({"input": "hi", "model": "no-such-model"}, "no-such-model"),
    ],
)
async def test_bad_input_is_a_tool_error_and_changes_nothing(
    database_url, make_user, gemini, pool, arguments, expected
) -> None:
    user = await make_user()
    async with in_process(settings(database_url, user, gemini)) as client:
        result = await client.call_tool(TOOL, arguments)
        assert result.is_error
        assert expected in result.content[0].text
    assert gemini.model_requests() == []
    assert await pool.fetchval("select count(*) from agent_activity_logs where user_id = $1", user) == 0
    assert await pool.fetchval("select count(*) from usage_logs where user_id = $1", user) == 0
    assert await pool.fetchval("select count(*) from rate_limit_tracking") == 0
