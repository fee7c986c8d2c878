"""The provider layer, on the real SDKs against the wire-level fakes, once per provider."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import anyio
import pytest
from artificer.agents.providers.base import (
    AuthenticationFailed,
    EmptyAnswer,
    FunctionTool,
    LLMProvider,
    LLMRequest,
    MissingAPIKey,
    ModelPricing,
    ProviderUnavailable,
    RateLimited,
    Refused,
    SchemaMismatch,
    StreamDelta,
    StreamInterrupted,
    TooManySteps,
)
from artificer.agents.providers.registry import provider_for
from fakes.http import RecordedRequest
from fakes.llm import MAX_RETRIES, Failure, FakeLLM, NativeUse, Turn, settings_for
from pydantic import BaseModel

pytestmark = pytest.mark.anyio

PRICING = ModelPricing(input_per_million=Decimal("1.25"), output_per_million=Decimal("10"))


class Outline(BaseModel):
    title: str
    points: list[str]


# --- what the SDK sent, read from the wire in each provider's format ------------------------------


def sent(fake: FakeLLM, request: RecordedRequest | None = None) -> dict[str, Any]:
    """The parts of a model request the tests check, whatever the provider."""
    request = request or fake.model_requests()[-1]
    body = request.json
    if fake.name == "google":
        generation = body.get("generationConfig", {})
        thinking = generation.get("thinkingConfig")
        system = body.get("systemInstruction", {}).get("parts", [{}])[0].get("text")
        return {
            "model": request.path.rsplit("/", 1)[-1].split(":")[0],
            "system": system,
            "temperature": generation.get("temperature"),
            "thinking": (thinking or {}).get("thinking_budget", (thinking or {}).get("thinkingBudget")),
            "tools": sorted(k for tool in body.get("tools", []) for k in tool if k != "functionDeclarations"),
            "functions": [
                f["name"] for t in body.get("tools", []) for f in t.get("functionDeclarations", [])
            ],
            "schema": generation.get("responseJsonSchema"),
            "text": json.dumps(body.get("contents")),
        }
    if fake.name == "openai":
        if request.path.endswith("/responses"):
            return {
                "model": body["model"],
                "system": body.get("instructions"),
                "temperature": body.get("temperature"),
                "thinking": (body.get("reasoning") or {}).get("effort"),
                "tools": sorted(t["type"] for t in body.get("tools", [])),
                "functions": [],
                "schema": None,
                "text": json.dumps(body.get("input")),
            }
        system = next((m["content"] for m in body["messages"] if m["role"] == "system"), None)
        return {
            "model": body["model"],
            "system": system,
            "temperature": body.get("temperature"),
            "thinking": body.get("reasoning_effort"),
            "tools": [],
            "functions": [t["function"]["name"] for t in body.get("tools", [])],
            "schema": ((body.get("response_format") or {}).get("json_schema") or {}).get("schema"),
            "text": json.dumps(body["messages"]),
        }
    thinking = body.get("thinking")
    tools = body.get("tools", [])
    return {
        "model": body["model"],
        "system": body.get("system"),
        "temperature": body.get("temperature"),
        "thinking": (thinking or {}).get("budget_tokens"),
        "tools": sorted(t["type"] for t in tools if "type" in t),
        "functions": [t["name"] for t in tools if "input_schema" in t],
        "schema": ((body.get("output_config") or {}).get("format") or {}).get("schema"),
        "text": json.dumps(body["messages"]),
    }


NATIVE_TOOLS_SENT = {
    "google": ["codeExecution", "googleSearch", "urlContext"],
    "openai": ["code_interpreter", "web_search"],
    "anthropic": ["code_execution_20250825", "web_fetch_20250910", "web_search_20250305"],
}


def request_for(**changes: Any) -> LLMRequest:
    values: dict[str, Any] = {
        "model": "test-model-1",
        "prompt": "Say hello.",
        "system": "You are terse.",
        "temperature": 0.3,
        "pricing": PRICING,
    }
    values.update(changes)
    return LLMRequest(**values)


# --- text, stream, object ---------------------------------------------------------------------------


async def test_generate_returns_text_usage_and_cost(fake: FakeLLM, provider: LLMProvider) -> None:
    fake.script(Turn(text="Hello there.", input_tokens=40, output_tokens=8))

    result = await provider.generate(request_for())

    assert result.text == "Hello there."
    assert result.provider == fake.name
    assert result.model == "test-model-1"
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.reasoning_tokens) == (
        40,
        8,
        0,
    )
    assert result.usage.total_tokens == 48
    assert result.retries == 0
    assert result.duration_ms >= 0
    # 40 × 1.25 / 1e6 + 8 × 10 / 1e6
    assert result.cost == Decimal("0.000130")
    wire = sent(fake)
    assert (wire["model"], wire["system"]) == ("test-model-1", "You are terse.")
    # The anthropic SDK has no temperature parameter any more; the others send it.
    assert wire["temperature"] == (None if fake.name == "anthropic" else 0.3)
    assert "Say hello." in wire["text"]
    assert wire["thinking"] is None
    assert "test-key-not-secret" not in json.dumps(fake.model_requests()[-1].json)


async def test_stream_yields_deltas_then_the_result(fake: FakeLLM, provider: LLMProvider) -> None:
    fake.script(Turn(text=["Once ", "upon ", "a time."], input_tokens=9, output_tokens=6))

    deltas: list[StreamDelta] = []
    async with provider.stream(request_for()) as stream:
        with pytest.raises(RuntimeError):
            _ = stream.result
        async for delta in stream:
            deltas.append(delta)

    assert [d.text for d in deltas if d.kind == "text"] == ["Once ", "upon ", "a time."]
    result = stream.result
    assert result.text == "Once upon a time."
    assert (result.usage.input_tokens, result.usage.output_tokens) == (9, 6)
    assert result.cost == PRICING.cost(result.usage)
    assert result.retries == 0


async def test_generate_object_validates_against_the_model(fake: FakeLLM, provider: LLMProvider) -> None:
    fake.script(Turn(text='{"title": "Plan", "points": ["one", "two"]}'))

    outcome = await provider.generate_object(request_for(prompt="Outline a plan."), Outline)

    assert outcome.value == Outline(title="Plan", points=["one", "two"])
    assert outcome.result.text.startswith("{")
    schema = sent(fake)["schema"]
    assert schema is not None
    assert set(schema["properties"]) == {"title", "points"}


async def test_an_answer_that_does_not_fit_the_schema_is_an_error(
    fake: FakeLLM, provider: LLMProvider
) -> None:
    fake.script(Turn(text='{"title": "Plan"}'))

    with pytest.raises(SchemaMismatch) as caught:
        await provider.generate_object(request_for(), Outline)
    assert "points" in str(caught.value)


# --- thinking -------------------------------------------------------------------------------------


async def test_thinking_is_asked_for_and_kept_apart_from_the_answer(
    fake: FakeLLM, provider: LLMProvider
) -> None:
    fake.script(Turn(text="42", thinking="Let me think about it.", output_tokens=2, reasoning_tokens=30))

    result = await provider.generate(request_for(thinking=True, thinking_budget=4096))

    assert result.text == "42"
    assert result.reasoning == "Let me think about it."
    assert result.usage.reasoning_tokens == 30
    assert result.usage.billable_output_tokens == 32
    assert result.cost == (Decimal(12) * Decimal("1.25") + Decimal(32) * 10) / 1_000_000
    wire = sent(fake)
    assert wire["thinking"] == {"google": 4096, "openai": "medium", "anthropic": 4096}[fake.name]
    # OpenAI reasoning models take no temperature, nor does the anthropic SDK; Gemini keeps it.
    assert wire["temperature"] == (0.3 if fake.name == "google" else None)
    if fake.name == "anthropic":
        assert fake.model_requests()[-1].json["max_tokens"] > 4096


async def test_streamed_thinking_comes_as_thinking_deltas(fake: FakeLLM, provider: LLMProvider) -> None:
    fake.script(Turn(text=["The ", "answer."], thinking="Hmm.", reasoning_tokens=5))

    async with provider.stream(request_for(thinking=True)) as stream:
        deltas = [d async for d in stream]

    assert [d.text for d in deltas if d.kind == "thinking"] == ["Hmm."]
    assert stream.result.text == "The answer."
    assert stream.result.reasoning == "Hmm."
    assert stream.result.usage.reasoning_tokens == 5


# --- native tools and functions -------------------------------------------------------------------


async def test_native_tools_are_sent_and_their_use_reported(fake: FakeLLM, provider: LLMProvider) -> None:
    fake.script(
        Turn(
            text="Python 3.14 is out; 2 + 2 = 4.",
            native=[
                NativeUse("web_search", "latest python", "https://python.example/news"),
                NativeUse("code_execution", "print(2 + 2)", "4"),
            ],
        )
    )

    result = await provider.generate_with_native_tools(
        request_for(), ["web_search", "url_context", "code_execution"]
    )

    assert result.text == "Python 3.14 is out; 2 + 2 = 4."
    assert sent(fake)["tools"] == NATIVE_TOOLS_SENT[fake.name]
    assert all(call.native for call in result.tool_calls)
    outputs = " ".join(call.output or "" for call in result.tool_calls)
    assert "https://python.example/news" in outputs
    assert "4" in outputs
    assert len(result.tool_calls) == 2


async def test_function_loop_runs_the_function_and_feeds_the_result_back(
    fake: FakeLLM, provider: LLMProvider
) -> None:
    seen: list[dict[str, Any]] = []

    async def add(arguments: dict[str, Any]) -> dict[str, int]:
        seen.append(arguments)
        return {"sum": arguments["a"] + arguments["b"]}

    adder = FunctionTool(
        name="add",
        description="Add two integers.",
        parameters={
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
        handler=add,
    )
    fake.script(
        Turn(text="", function_calls=[("add", {"a": 2, "b": 3})], input_tokens=20, output_tokens=4),
        Turn(text="The sum is 5.", input_tokens=30, output_tokens=6),
    )

    result = await provider.run_functions(request_for(prompt="What is 2 + 3?"), [adder], max_steps=3)

    assert seen == [{"a": 2, "b": 3}]
    assert result.text == "The sum is 5."
    assert result.steps == 2
    assert [(c.name, c.output, c.native) for c in result.tool_calls] == [("add", '{"sum": 5}', False)]
    assert (result.usage.input_tokens, result.usage.output_tokens) == (50, 10)
    assert result.cost == PRICING.cost(result.usage)
    first, second = fake.model_requests()
    assert sent(fake, first)["functions"] == ["add"]
    assert '\\"sum\\": 5' in sent(fake, second)["text"] or '"sum": 5' in sent(fake, second)["text"]


async def test_a_failing_function_is_reported_to_the_model(fake: FakeLLM, provider: LLMProvider) -> None:
    async def broken(arguments: dict[str, Any]) -> str:
        raise LookupError("repository not found")

    tool = FunctionTool("lookup", "Look a repository up.", {"type": "object", "properties": {}}, broken)
    fake.script(Turn(text="", function_calls=[("lookup", {})]), Turn(text="It does not exist."))

    result = await provider.run_functions(request_for(), [tool])

    assert result.tool_calls[0].error
    assert "repository not found" in sent(fake)["text"]
    assert result.text == "It does not exist."


async def test_the_function_loop_stops_after_max_steps(fake: FakeLLM, provider: LLMProvider) -> None:
    async def noop(arguments: dict[str, Any]) -> str:
        return "ok"

    tool = FunctionTool("noop", "Do nothing.", {"type": "object", "properties": {}}, noop)
    fake.script(*[Turn(text="", function_calls=[("noop", {})]) for _ in range(2)])

    with pytest.raises(TooManySteps):
        await provider.run_functions(request_for(), [tool], max_steps=2)
    assert len(fake.model_requests()) == 2


# --- failures ---------------------------------------------------------------------------------------


async def test_429_is_retried_after_retry_after(fake: FakeLLM, provider: LLMProvider) -> None:
    fake.script(Failure(429, retry_after="0.3"), Turn(text="Made it."))

    result = await provider.generate(request_for())

    assert result.text == "Made it."
    assert result.retries == 1
    assert result.duration_ms >= 300
    assert len(fake.model_requests()) == 2


async def test_5xx_is_retried_and_counted(fake: FakeLLM, provider: LLMProvider) -> None:
    fake.script(Failure(500), Failure(503), Turn(text="Back."))

    result = await provider.generate(request_for())

    assert (result.text, result.retries) == ("Back.", 2)


async def test_retries_are_counted_per_call(fake: FakeLLM, provider: LLMProvider) -> None:
    fake.script(Failure(500), Turn(text="one"), Turn(text="two"))

    first = await provider.generate(request_for())
    second = await provider.generate(request_for())

    assert (first.retries, second.retries) == (1, 0)


async def test_rate_limit_that_persists_is_a_typed_error(fake: FakeLLM, provider: LLMProvider) -> None:
    fake.script(*[Failure(429) for _ in range(MAX_RETRIES + 1)])

    with pytest.raises(RateLimited) as caught:
        await provider.generate(request_for())

    assert caught.value.retries == MAX_RETRIES
    assert "429" in str(caught.value)
    assert len(fake.model_requests()) == MAX_RETRIES + 1


async def test_server_errors_that_persist_are_a_typed_error(fake: FakeLLM, provider: LLMProvider) -> None:
    fake.script(*[Failure(500) for _ in range(MAX_RETRIES + 1)])

    with pytest.raises(ProviderUnavailable) as caught:
        await provider.generate(request_for())
    assert caught.value.retries == MAX_RETRIES


async def test_a_rejected_key_is_not_retried(fake: FakeLLM, provider: LLMProvider) -> None:
    fake.script(Failure(401, retry_after=None, message="invalid x-api-key"))

    with pytest.raises(AuthenticationFailed) as caught:
        await provider.generate(request_for())
    assert caught.value.retries == 0
    assert "test-key-not-secret" not in str(caught.value)


KEY_SETTING = {"google": "GOOGLE_API_KEY", "openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}


@pytest.mark.parametrize("status", [401, 403])
async def test_a_rejected_key_error_carries_no_provider_text(
    fake: FakeLLM, provider: LLMProvider, status: int
) -> None:
    # A provider's 401 can echo (a masked form of) the key it was given.
    fake.script(Failure(status, retry_after=None, message="Incorrect API key provided: sk-proj-abcd****wxyz"))

    with pytest.raises(AuthenticationFailed) as caught:
        await provider.generate(request_for())
    message = str(caught.value)
    assert "sk-proj" not in message and "Incorrect API key" not in message
    assert KEY_SETTING[fake.name] in message


async def test_a_refusal_is_a_typed_error(fake: FakeLLM, provider: LLMProvider) -> None:
    fake.script(Turn(refusal=True), Turn(refusal=True))

    with pytest.raises(Refused):
        await provider.generate(request_for())
    with pytest.raises(Refused):
        async with provider.stream(request_for()) as stream:
            async for _ in stream:
                pass


async def test_an_empty_answer_is_a_typed_error(fake: FakeLLM, provider: LLMProvider) -> None:
    fake.script(Turn(text=""), Turn(text="   "))

    with pytest.raises(EmptyAnswer):
        await provider.generate(request_for())
    with pytest.raises(EmptyAnswer):
        async with provider.stream(request_for()) as stream:
            async for _ in stream:
                pass


async def test_a_stream_is_retried_by_the_sdk_before_it_opens(fake: FakeLLM, provider: LLMProvider) -> None:
    fake.script(Failure(429), Failure(503), Turn(text=["Made ", "it."]))

    result = await provider.stream(request_for()).collect()

    assert (result.text, result.retries) == ("Made it.", 2)
    assert len(fake.model_requests()) == 3


async def test_a_stream_cut_before_any_text_is_reissued(fake: FakeLLM, provider: LLMProvider) -> None:
    fake.script(Turn(text=["lost"], cut_after_text=0), Turn(text=["Second ", "try."]))

    async with provider.stream(request_for()) as stream:
        texts = [d.text async for d in stream if d.kind == "text"]

    assert texts == ["Second ", "try."]
    assert stream.result.retries == 1
    assert len(fake.model_requests()) == 2


async def test_a_stream_cut_mid_answer_raises_stream_interrupted(
    fake: FakeLLM, provider: LLMProvider
) -> None:
    fake.script(Turn(text=["Part one, ", "part two."], cut_after_text=1), Turn(text="not used"))
    received: list[str] = []

    with pytest.raises(StreamInterrupted):
        async with provider.stream(request_for()) as stream:
            async for delta in stream:
                received.append(delta.text)

    assert received == ["Part one, "]
    assert len(fake.model_requests()) == 1


async def test_leaving_a_stream_early_closes_the_connection(fake: FakeLLM, provider: LLMProvider) -> None:
    fake.script(Turn(text=["first ", "never sent"], hang=True))

    async with provider.stream(request_for()) as stream:
        async for delta in stream:
            if delta.kind == "text":
                break

    assert await anyio.to_thread.run_sync(fake.disconnected.wait, 5)


async def test_cancelling_a_stream_closes_the_connection(fake: FakeLLM, provider: LLMProvider) -> None:
    fake.script(Turn(text=["first ", "never sent"], hang=True))
    first = anyio.Event()
    received: list[str] = []

    async def consume() -> None:
        async with provider.stream(request_for()) as stream:
            async for delta in stream:
                received.append(delta.text)
                first.set()

    async with anyio.create_task_group() as group:
        group.start_soon(consume)
        await first.wait()
        group.cancel_scope.cancel()

    assert received == ["first "]
    assert await anyio.to_thread.run_sync(fake.disconnected.wait, 5)


async def test_a_missing_key_names_the_variable_to_set(fake: FakeLLM) -> None:
    settings = settings_for(fake, **{f"{fake.name}_api_key": None})
    variable = {"google": "GOOGLE_API_KEY", "openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}

    with pytest.raises(MissingAPIKey) as caught:
        provider_for(fake.name, settings)  # type: ignore[arg-type]
    assert variable[fake.name] in str(caught.value)


async def test_concurrent_calls_keep_their_own_retry_counts(fake: FakeLLM, provider: LLMProvider) -> None:
    fake.script(Failure(500, retry_after="0.2"), *[Turn(text=f"answer {i}") for i in range(4)])
    results: list[Any] = []

    async def call() -> None:
        results.append(await provider.generate(request_for()))

    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(call)

    assert sorted(r.retries for r in results) == [0, 0, 0, 1]


async def test_a_call_that_times_out_is_retried_then_a_typed_error(fake: FakeLLM) -> None:
    settings = settings_for(fake, provider_timeout_seconds=0.3, provider_max_retries=1)
    adapter = provider_for(fake.name, settings, retry_initial_delay=0.01)  # type: ignore[arg-type]
    fake.script(Turn(text="late", delay=1.0), Turn(text="late", delay=1.0))
    try:
        with pytest.raises(ProviderUnavailable) as caught:
            await adapter.generate(request_for())
    finally:
        await adapter.aclose()

    assert "did not answer in time" in str(caught.value)
    assert caught.value.retries == 1
    assert len(fake.model_requests()) == 2
