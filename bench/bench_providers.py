"""What the provider layer adds over a bare SDK call, per provider, against the same local fake.

    uv run python bench/bench_providers.py [calls]

For each provider: N sequential text calls through the bare SDK client, then N through the
adapter (`generate`), then N streamed through each; prints the median per call and the ratio.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import anthropic
import openai
from artificer.agents.providers.base import LLMRequest
from artificer.agents.providers.registry import provider_for
from artificer.common.settings import Settings
from fakes.anthropic import FakeAnthropic
from fakes.gemini import FakeGemini
from fakes.llm import FakeLLM, Turn
from fakes.openai import FakeOpenAI
from google import genai
from google.genai import types

CALLS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
WARMUP = 20
MODEL = "bench-model"
PROMPT = "Say hello."


async def median_ms(call: Callable[[], Awaitable[Any]]) -> float:
    for _ in range(WARMUP):
        await call()
    times: list[float] = []
    for _ in range(CALLS):
        start = time.perf_counter()
        await call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def bare_calls(fake: FakeLLM) -> tuple[Callable[[], Awaitable[Any]], Callable[[], Awaitable[Any]], Any]:
    """A bare SDK text call and a bare streamed call (read to the end), and the client."""
    if fake.name == "google":
        client = genai.Client(
            api_key="bench", http_options=types.HttpOptions(base_url=fake.url, api_version="v1beta")
        )

        async def text() -> Any:
            return (await client.aio.models.generate_content(model=MODEL, contents=PROMPT)).text

        async def stream() -> Any:
            async for _ in await client.aio.models.generate_content_stream(model=MODEL, contents=PROMPT):
                pass

        return text, stream, client
    if fake.name == "openai":
        oa = openai.AsyncOpenAI(api_key="bench", base_url=f"{fake.url}/v1")
        messages: Any = [{"role": "user", "content": PROMPT}]

        async def text() -> Any:
            return (
                (await oa.chat.completions.create(model=MODEL, messages=messages)).choices[0].message.content
            )

        async def stream() -> Any:
            chunks = await oa.chat.completions.create(
                model=MODEL, messages=messages, stream=True, stream_options={"include_usage": True}
            )
            async for _ in chunks:
                pass

        return text, stream, oa
    an = anthropic.AsyncAnthropic(api_key="bench", base_url=fake.url)
    an_messages: Any = [{"role": "user", "content": PROMPT}]

    async def anthropic_text() -> Any:
        return (await an.messages.create(model=MODEL, max_tokens=8192, messages=an_messages)).content

    async def anthropic_stream() -> Any:
        events = await an.messages.create(model=MODEL, max_tokens=8192, messages=an_messages, stream=True)
        async for _ in events:
            pass

    return anthropic_text, anthropic_stream, an


async def bench(fake: FakeLLM) -> None:
    fake.repeat = Turn(text=["Hello ", "from ", "the ", "bench."])
    bare_text, bare_stream, _client = bare_calls(fake)
    base = {"google": fake.url, "openai": f"{fake.url}/v1", "anthropic": fake.url}[fake.name]
    settings = Settings(
        _env_file=None,
        **{f"{fake.name}_api_key": "bench", f"{fake.name}_base_url": base},
    )
    provider = provider_for(fake.name, settings)
    request = LLMRequest(model=MODEL, prompt=PROMPT)

    async def layer_text() -> Any:
        return (await provider.generate(request)).text

    async def layer_stream() -> Any:
        async with provider.stream(request) as stream:
            async for _ in stream:
                pass

    try:
        rows = [
            ("text", await median_ms(bare_text), await median_ms(layer_text)),
            ("stream", await median_ms(bare_stream), await median_ms(layer_stream)),
        ]
    finally:
        await provider.aclose()
    for kind, bare, layer in rows:
        print(
            f"{fake.name:<10} {kind:<7} bare SDK {bare:7.3f} ms   layer {layer:7.3f} ms   "
            f"overhead {layer - bare:+7.3f} ms   ratio {layer / bare:5.2f}"
        )


async def main() -> None:
    print(f"median of {CALLS} sequential calls each (after {WARMUP} warm-up calls), local fake server")
    for fake_class in (FakeGemini, FakeOpenAI, FakeAnthropic):
        with fake_class() as fake:
            await bench(fake)


if __name__ == "__main__":
    asyncio.run(main())
