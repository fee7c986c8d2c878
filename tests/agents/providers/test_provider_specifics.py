"""Wire details only one provider has: its own refusal shapes, mid-stream error events, pause_turn."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from artificer.agents.providers.base import FunctionTool, LLMProvider, LLMRequest, Refused, StreamInterrupted
from artificer.agents.providers.registry import provider_for
from fakes.anthropic import FakeAnthropic
from fakes.gemini import FakeGemini
from fakes.http import Reply
from fakes.llm import FakeLLM, Turn, settings_for, sse
from fakes.openai import FakeOpenAI

pytestmark = pytest.mark.anyio

REQUEST = LLMRequest(model="test-model-1", prompt="Hello?")


async def started(fake: FakeLLM) -> AsyncIterator[LLMProvider]:
    adapter = provider_for(fake.name, settings_for(fake), retry_initial_delay=0.01)  # type: ignore[arg-type]
    try:
        yield adapter
    finally:
        await adapter.aclose()


@pytest.fixture
def gemini() -> Any:
    with FakeGemini() as fake:
        yield fake


@pytest.fixture
def openai_fake() -> Any:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def claude() -> Any:
    with FakeAnthropic() as fake:
        yield fake


async def test_gemini_answer_blocked_for_safety_is_refused(gemini: FakeGemini) -> None:
    gemini.script(
        Reply.of_json(
            {
                "candidates": [{"content": {"role": "model", "parts": []}, "finishReason": "SAFETY"}],
                "usageMetadata": {"promptTokenCount": 4, "totalTokenCount": 4},
            }
        )
    )
    async for provider in started(gemini):
        with pytest.raises(Refused) as caught:
            await provider.generate(REQUEST)
    assert "SAFETY" in str(caught.value)


async def test_openai_content_filter_is_refused(openai_fake: FakeOpenAI) -> None:
    openai_fake.script(
        Reply.of_json(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 0,
                "model": "test-model-1",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": ""},
                        "finish_reason": "content_filter",
                    }
                ],
                "usage": {"prompt_tokens": 3, "completion_tokens": 0, "total_tokens": 3},
            }
        )
    )
    async for provider in started(openai_fake):
        with pytest.raises(Refused):
            await provider.generate(REQUEST)


async def test_openai_arguments_that_are_not_json_go_back_as_an_error(openai_fake: FakeOpenAI) -> None:
    calls: list[dict[str, Any]] = []

    async def record(arguments: dict[str, Any]) -> str:
        calls.append(arguments)
        return "ok"

    openai_fake.script(
        Reply.of_json(
            {
                "id": "chatcmpl-2",
                "object": "chat.completion",
                "created": 0,
                "model": "test-model-1",
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": None,
                            "tool_calls": [
                                {
                                    "id": "call_1",
                                    "type": "function",
                                    "function": {"name": "f", "arguments": "{oops"},
                                }
                            ],
                        },
                        "finish_reason": "tool_calls",
                    }
                ],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
            }
        ),
        Turn(text="Sorry."),
    )
    tool = FunctionTool("f", "A function.", {"type": "object", "properties": {}}, record)
    async for provider in started(openai_fake):
        result = await provider.run_functions(REQUEST, [tool])
    assert calls == []
    assert result.tool_calls[0].error
    assert "not a JSON object" in json.dumps(openai_fake.bodies()[-1]["messages"])


def _claude_stream(*, error_after_text: bool) -> Reply:
    start = sse(
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "test-model-1",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 5, "output_tokens": 1},
            },
        },
        "message_start",
    )
    events = [start]
    if error_after_text:
        events.append(
            sse(
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                "content_block_start",
            )
        )
        events.append(
            sse(
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Half"}},
                "content_block_delta",
            )
        )
    events.append(
        sse({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "error")
    )
    return Reply.of_sse(events)


async def test_claude_overloaded_event_before_text_is_reissued(claude: FakeAnthropic) -> None:
    claude.script(_claude_stream(error_after_text=False), Turn(text=["All ", "good."]))
    async for provider in started(claude):
        async with provider.stream(REQUEST) as stream:
            texts = [d.text async for d in stream]
    assert texts == ["All ", "good."]
    assert stream.result.retries == 1


async def test_claude_overloaded_event_after_text_interrupts(claude: FakeAnthropic) -> None:
    claude.script(_claude_stream(error_after_text=True))
    received: list[str] = []
    async for provider in started(claude):
        with pytest.raises(StreamInterrupted):
            async with provider.stream(REQUEST) as stream:
                async for delta in stream:
                    received.append(delta.text)
    assert received == ["Half"]


async def test_claude_pause_turn_is_continued(claude: FakeAnthropic) -> None:
    claude.script(
        Reply.of_json(
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "test-model-1",
                "content": [
                    {
                        "type": "server_tool_use",
                        "id": "srvtoolu_1",
                        "name": "web_search",
                        "input": {"query": "q"},
                    }
                ],
                "stop_reason": "pause_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 10, "output_tokens": 3},
            }
        ),
        Turn(text="Found it.", input_tokens=20, output_tokens=4),
    )
    async for provider in started(claude):
        result = await provider.generate_with_native_tools(REQUEST, ["web_search"])
    assert result.text == "Found it."
    assert result.steps == 2
    assert (result.usage.input_tokens, result.usage.output_tokens) == (30, 7)
    second = claude.bodies()[-1]
    assert second["messages"][-1]["role"] == "assistant"
    assert second["messages"][-1]["content"][0]["type"] == "server_tool_use"
