"""Every billed model call is reported, whatever happens after it: the real SDKs against the wire-level
fakes, once per provider, each call watched as the pipeline watches it (`WatchedProvider`, fed by
`LLMRequest.on_billed`). What the watcher collects is what the pipeline logs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import anyio
import pytest
from artificer.agents.providers.base import (
    EmptyAnswer,
    FunctionTool,
    LLMProvider,
    LLMRequest,
    LLMResult,
    ModelPricing,
    ProviderError,
    ProviderUnavailable,
    Refused,
    TooManySteps,
    Usage,
)
from artificer.common.pricing import cost_of, pricing_from_model_config
from artificer.server.metering import WatchedProvider
from fakes.llm import MAX_RETRIES, Failure, FakeLLM, Turn
from pydantic import BaseModel

pytestmark = pytest.mark.anyio

PRICING = ModelPricing(input_per_million=Decimal("2"), output_per_million=Decimal("8"))
REQUEST = LLMRequest(model="test-model-1", prompt="Count the widgets.", pricing=PRICING)


async def noop(arguments: dict[str, Any]) -> str:
    return "ok"


NOOP = FunctionTool("noop", "Do nothing.", {"type": "object", "properties": {}}, noop)


def asks(input_tokens: int, output_tokens: int) -> Turn:
    """A model turn that asks for the function."""
    return Turn(
        text="", function_calls=[("noop", {})], input_tokens=input_tokens, output_tokens=output_tokens
    )


def reported(fake: FakeLLM, *turns: Turn) -> Usage:
    """The usage the fake reported for `turns` (one model round trip each), as the adapter reads it."""
    return Usage(
        input_tokens=sum(t.input_tokens for t in turns),
        output_tokens=sum(t.output_tokens for t in turns),
        total_tokens=sum(t.input_tokens + t.output_tokens for t in turns),
        reasoning_in_output=fake.name != "google",
        cache_read_tokens=sum(t.cache_read_tokens for t in turns),
        cache_write_tokens=sum(t.cache_write_tokens for t in turns) if fake.name == "anthropic" else 0,
    )


def assert_billed(watched: WatchedProvider, fake: FakeLLM, usage: Usage) -> LLMResult:
    """The watcher has exactly one model call, with `usage` and its cost by the one cost function."""
    assert len(watched.billed) == 1
    [billed] = watched.billed
    assert billed.usage == usage
    assert (billed.provider, billed.model) == (fake.name, "test-model-1")
    assert billed.cost == cost_of(usage, PRICING).total and billed.cost > 0
    return billed


async def test_a_function_loop_that_runs_out_of_steps_reports_every_step(
    fake: FakeLLM, provider: LLMProvider
) -> None:
    turns = [asks(20, 4), asks(30, 6), asks(45, 9)]
    fake.script(*turns)
    watched = WatchedProvider(provider)

    with pytest.raises(TooManySteps) as caught:
        await watched.run_functions(REQUEST, [NOOP], max_steps=3)

    billed = assert_billed(watched, fake, reported(fake, *turns))
    assert caught.value.partial is not None and caught.value.partial.usage == billed.usage
    assert caught.value.partial.cost == billed.cost
    assert len(fake.model_requests()) == 3


async def test_a_failure_at_step_two_reports_step_one(fake: FakeLLM, provider: LLMProvider) -> None:
    fake.script(asks(25, 5), *[Failure(500) for _ in range(MAX_RETRIES + 1)])
    watched = WatchedProvider(provider)

    with pytest.raises(ProviderUnavailable) as caught:
        await watched.run_functions(REQUEST, [NOOP], max_steps=4)

    billed = assert_billed(watched, fake, reported(fake, asks(25, 5)))
    assert caught.value.retries == MAX_RETRIES
    assert caught.value.partial is not None and caught.value.partial.usage == billed.usage
    assert len(fake.model_requests()) == 1 + MAX_RETRIES + 1


async def test_a_finished_function_loop_is_one_model_call_with_every_step(
    fake: FakeLLM, provider: LLMProvider
) -> None:
    turns = [asks(20, 4), Turn(text="Done.", input_tokens=31, output_tokens=3)]
    fake.script(*turns)
    watched = WatchedProvider(provider)

    result = await watched.run_functions(REQUEST, [NOOP], max_steps=3)

    billed = assert_billed(watched, fake, reported(fake, *turns))
    assert (result.usage, result.cost, result.steps) == (billed.usage, billed.cost, 2)


class Count(BaseModel):
    widgets: int


@pytest.mark.parametrize("call", ["generate", "generate_object", "generate_with_native_tools"])
async def test_an_empty_answer_reports_its_tokens(fake: FakeLLM, provider: LLMProvider, call: str) -> None:
    turn = Turn(text="", input_tokens=33, output_tokens=2)
    fake.script(turn)
    watched = WatchedProvider(provider)

    with pytest.raises(EmptyAnswer) as caught:
        if call == "generate":
            await watched.generate(REQUEST)
        elif call == "generate_object":
            await watched.generate_object(REQUEST, Count)
        else:
            await watched.generate_with_native_tools(REQUEST, ["web_search"])

    billed = assert_billed(watched, fake, reported(fake, turn))
    assert caught.value.partial is not None and caught.value.partial.usage == billed.usage


async def test_a_refused_answer_reports_the_tokens_the_wire_reported(
    fake: FakeLLM, provider: LLMProvider
) -> None:
    fake.script(Turn(refusal=True, input_tokens=19, output_tokens=2))
    watched = WatchedProvider(provider)

    with pytest.raises(Refused) as caught:
        await watched.generate(REQUEST)

    # The Gemini fake's blocked prompt reports `promptTokenCount: 3` and nothing else.
    expected = (
        Usage(input_tokens=3, total_tokens=3, reasoning_in_output=False)
        if fake.name == "google"
        else reported(fake, Turn(input_tokens=19, output_tokens=2))
    )
    billed = assert_billed(watched, fake, expected)
    assert caught.value.partial is not None and caught.value.partial.usage == billed.usage


@pytest.mark.parametrize("call", ["generate", "stream", "generate_with_native_tools"])
async def test_cached_input_tokens_are_counted_and_priced(
    fake: FakeLLM, provider: LLMProvider, call: str
) -> None:
    turn = Turn(text=["Cached ", "answer."], input_tokens=1000, cache_read_tokens=600, cache_write_tokens=200)
    fake.script(turn)
    row = {
        "provider": fake.name,
        "input_pricing_per_million_tokens": Decimal("3"),
        "output_pricing_per_million_tokens": Decimal("15"),
        "metadata": {"cacheReadPricingPerMillionTokens": "0.5"},
    }
    pricing = pricing_from_model_config(row)
    request = LLMRequest(model="test-model-1", prompt="Again.", pricing=pricing)
    watched = WatchedProvider(provider)

    if call == "generate":
        result = await watched.generate(request)
    elif call == "stream":
        result = await watched.stream(request).collect()
    else:
        result = await watched.generate_with_native_tools(request, ["code_execution"])

    written = 200 if fake.name == "anthropic" else 0  # only Anthropic reports cache writes
    assert result.usage.input_tokens == 1000
    assert (result.usage.cache_read_tokens, result.usage.cache_write_tokens) == (600, written)
    cost = cost_of(result.usage, pricing)
    # 600 read at the metadata's $0.5; 200 written at the provider's default ratio to $3 (Anthropic 1.25×)
    assert cost.cache_read == Decimal("0.000300")
    assert cost.cache_write == (Decimal("0.000750") if fake.name == "anthropic" else 0)
    assert cost.input == Decimal(1000 - 600 - written) * 3 / 1_000_000 + cost.cache_read + cost.cache_write
    assert result.cost == cost.total
    [billed] = watched.billed
    assert (billed.usage, billed.cost) == (result.usage, result.cost)


async def test_a_stream_reissued_after_a_drop_counts_the_tokens_the_dropped_attempt_reported(
    fake: FakeLLM, provider: LLMProvider
) -> None:
    """Anthropic reports the input tokens at `message_start`, before the drop; Gemini and OpenAI
    reported nothing before it (the fakes drop before the first chunk / usage comes last)."""
    first = Turn(text=["lost"], input_tokens=10, cut_after_text=0)
    second = Turn(text=["Second ", "try."], input_tokens=10, output_tokens=2)
    fake.script(first, second)
    watched = WatchedProvider(provider)

    result = await watched.stream(REQUEST).collect()

    expected = reported(fake, second)
    if fake.name == "anthropic":
        expected = expected + Usage(input_tokens=10, output_tokens=1, total_tokens=11)
    assert result.usage == expected and result.retries == 1
    billed = assert_billed(watched, fake, expected)
    assert billed.cost == result.cost


async def test_a_cancelled_stream_reports_the_tokens_reported_so_far(
    fake: FakeLLM, provider: LLMProvider
) -> None:
    fake.script(Turn(text=["first ", "never sent"], input_tokens=17, hang=True))
    watched = WatchedProvider(provider)
    first = anyio.Event()

    async def consume() -> None:
        async with watched.stream(REQUEST) as stream:
            async for _ in stream:
                first.set()

    async with anyio.create_task_group() as group:
        group.start_soon(consume)
        await first.wait()
        group.cancel_scope.cancel()

    if fake.name == "openai":  # Chat Completions reports usage only in its last chunk
        assert watched.billed == []
    else:
        [billed] = watched.billed
        assert billed.usage.input_tokens == 17 and billed.cost == cost_of(billed.usage, PRICING).total


async def test_nothing_is_reported_when_the_provider_billed_nothing(
    fake: FakeLLM, provider: LLMProvider
) -> None:
    fake.script(*[Failure(500) for _ in range(MAX_RETRIES + 1)])
    watched = WatchedProvider(provider)

    with pytest.raises(ProviderError) as caught:
        await watched.generate(REQUEST)

    assert watched.billed == [] and caught.value.partial is None
    assert watched.used


async def test_the_callers_own_observer_is_told_too(fake: FakeLLM, provider: LLMProvider) -> None:
    fake.script(Turn(text="Hi.", input_tokens=8, output_tokens=2))
    told: list[LLMResult] = []
    watched = WatchedProvider(provider)

    result = await watched.generate(
        LLMRequest(model="m", prompt="Hi", pricing=PRICING, on_billed=told.append)
    )

    assert [r.usage for r in told] == [r.usage for r in watched.billed] == [result.usage]
