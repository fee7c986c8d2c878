"""Usage reported before a stream stopped (broken, refused, cancelled) is kept: the real SDKs against
the wire-level fakes, once per provider, and once through the MCP pipeline into `usage_logs`."""

from __future__ import annotations

import sys
import uuid
from decimal import Decimal
from pathlib import Path

import anyio
import pytest
from artificer.agents.providers.base import (
    LLMProvider,
    LLMRequest,
    LLMResult,
    ModelPricing,
    Refused,
    StreamInterrupted,
    Usage,
)
from fakes.llm import FakeLLM, Turn

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "server"))
from mcp_harness import count_rows, in_process, make_settings

pytestmark = pytest.mark.anyio

PRICING = ModelPricing(input_per_million=Decimal("2"), output_per_million=Decimal("8"))
REQUEST = LLMRequest(model="test-model-1", prompt="Write three parts.", pricing=PRICING)


def reported_before_the_cut(provider: str, input_tokens: int, text_deltas_sent: int) -> Usage | None:
    """What each wire format had reported when the stream stopped after `text_deltas_sent` deltas.

    google: the last chunk's `usageMetadata` (the fake counts one output token per text chunk);
    anthropic: `message_start` (its input tokens, and the 1 output token it reports);
    openai: nothing, Chat Completions reports usage only in its last chunk.
    """
    if provider == "google":
        return Usage(
            input_tokens=input_tokens,
            output_tokens=text_deltas_sent,
            total_tokens=input_tokens + text_deltas_sent,
            reasoning_in_output=False,
        )
    if provider == "anthropic":
        return Usage(input_tokens=input_tokens, output_tokens=1, total_tokens=input_tokens + 1)
    return None


def assert_partial(partial: LLMResult | None, fake: FakeLLM, expected: Usage | None, text: str) -> None:
    if expected is None:
        assert partial is None
        return
    assert partial is not None
    assert partial.usage == expected
    assert (partial.provider, partial.model, partial.retries) == (fake.name, "test-model-1", 0)
    assert partial.cost == PRICING.cost(expected) and partial.cost > 0
    assert partial.duration_ms >= 0
    assert partial.text == text


async def test_a_stream_cut_mid_answer_keeps_the_usage_reported_so_far(
    fake: FakeLLM, provider: LLMProvider
) -> None:
    fake.script(
        Turn(text=["One, ", "two, ", "three."], input_tokens=21, output_tokens=9, cut_after_text=2),
        Turn(text="not used"),
    )
    received: list[str] = []

    with pytest.raises(StreamInterrupted) as caught:
        async with provider.stream(REQUEST) as stream:
            async for delta in stream:
                received.append(delta.text)

    assert received == ["One, ", "two, "]
    expected = reported_before_the_cut(fake.name, 21, 2)
    assert_partial(caught.value.partial, fake, expected, "One, two, ")
    assert stream.partial_result == caught.value.partial
    assert stream.latest_usage == expected
    assert len(fake.model_requests()) == 1


async def test_a_cancelled_stream_keeps_the_usage_reported_so_far(
    fake: FakeLLM, provider: LLMProvider
) -> None:
    fake.script(Turn(text=["first ", "never sent"], input_tokens=17, hang=True))
    first = anyio.Event()
    partial: list[LLMResult | None] = []

    async def consume() -> None:
        stream = provider.stream(REQUEST)
        try:
            async with stream:
                async for _ in stream:
                    first.set()
        finally:  # where a caller logs the billed tokens of a call it gives up on
            partial.append(stream.partial_result)

    async with anyio.create_task_group() as group:
        group.start_soon(consume)
        await first.wait()
        group.cancel_scope.cancel()

    assert_partial(partial[0], fake, reported_before_the_cut(fake.name, 17, 1), "first ")
    assert await anyio.to_thread.run_sync(fake.disconnected.wait, 5)


async def test_a_finished_stream_has_no_partial_result(fake: FakeLLM, provider: LLMProvider) -> None:
    fake.script(Turn(text=["All ", "of it."], input_tokens=5, output_tokens=4))

    async with provider.stream(REQUEST) as stream:
        async for _ in stream:
            pass

    assert stream.partial_result is None
    assert (stream.result.usage.input_tokens, stream.result.usage.output_tokens) == (5, 4)
    assert stream.latest_usage is not None and stream.latest_usage.input_tokens == 5


# --- through the MCP pipeline ---------------------------------------------------------------------


async def test_a_cut_stream_logs_the_reported_tokens_and_stores_nothing(
    database_url, make_user, gemini, pool
) -> None:
    user = await make_user()
    async with in_process(make_settings(database_url, user, gemini)) as client:
        gemini.script(
            Turn(
                text=["part one ", "part two ", "part three"],
                input_tokens=321,
                output_tokens=30,
                cut_after_text=2,
            )
        )
        result = await client.call_tool("document_agent", {"operation": "create", "instruction": "x"})
        assert result.is_error and "model call failed" in result.content[0].text
    # the log writer flushed at shutdown
    assert await count_rows(database_url, "Document") == 0
    rows = await pool.fetch("select * from usage_logs where user_id = $1", user)
    assert len(rows) == 1
    row = rows[0]
    assert (row["input_tokens"], row["output_tokens"], row["total_tokens"]) == (321, 2, 323)
    assert (row["model_used"], row["provider"]) == ("gemini-2.0-flash", "google")
    # gemini-2.0-flash: $0.075 / $0.30 per million
    assert float(row["total_cost"]) == pytest.approx((321 * 0.075 + 2 * 0.30) / 1e6, abs=1e-6)
    assert row["metadata"]["success"] is False and row["metadata"]["operation"] == "create"
    failed = await pool.fetchrow("select * from agent_activity_logs where user_id = $1", user)
    assert failed is not None and failed["success"] is False and failed["input_tokens"] == 321
    assert failed["error_type"] == "StreamInterrupted"
    assert failed["correlation_id"] == uuid.UUID(row["metadata"]["correlation_id"])


async def test_a_refusal_mid_stream_carries_the_billed_tokens(fake: FakeLLM, provider: LLMProvider) -> None:
    """Claude refuses at `message_delta`, after `message_start` reported the input tokens; Gemini and
    OpenAI refuse before any usage is reported (prompt feedback / a refusal delta), so they carry none."""
    fake.script(Turn(text="", refusal=True, input_tokens=44, output_tokens=3))

    with pytest.raises(Refused) as caught:
        async with provider.stream(REQUEST) as stream:
            async for _ in stream:
                pass

    partial = caught.value.partial
    if fake.name == "anthropic":
        assert partial is not None
        assert (partial.usage.input_tokens, partial.usage.output_tokens) == (44, 3)
        assert partial.cost == PRICING.cost(partial.usage)
    else:
        assert partial is None
