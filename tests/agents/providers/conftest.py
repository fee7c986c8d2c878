"""Each provider test runs three times: the real SDK of google, openai and anthropic, pointed at
the matching wire-level fake on 127.0.0.1 through the base URL settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from artificer.agents.providers.base import LLMProvider
from artificer.agents.providers.registry import provider_for
from fakes.anthropic import FakeAnthropic
from fakes.gemini import FakeGemini
from fakes.llm import FakeLLM, settings_for
from fakes.openai import FakeOpenAI

FAKES: dict[str, type[FakeLLM]] = {"google": FakeGemini, "openai": FakeOpenAI, "anthropic": FakeAnthropic}


@pytest.fixture(params=sorted(FAKES))
def fake(request: pytest.FixtureRequest) -> Iterator[FakeLLM]:
    with FAKES[request.param]() as server:
        yield server  # type: ignore[misc]


@pytest.fixture
async def provider(fake: FakeLLM) -> AsyncIterator[LLMProvider]:
    adapter = provider_for(fake.name, settings_for(fake), retry_initial_delay=0.01)  # type: ignore[arg-type]
    try:
        yield adapter
    finally:
        await adapter.aclose()
