"""Each provider test runs three times: the real SDK of google, openai and anthropic, pointed at
the matching wire-level fake on 127.0.0.1 through the base URL settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from artificer.agents.providers.base import LLMProvider
from artificer.agents.providers.registry import provider_for
from artificer.server.settings import Settings
from fakes.anthropic import FakeAnthropic
from fakes.gemini import FakeGemini
from fakes.llm import FakeLLM
from fakes.openai import FakeOpenAI

FAKES: dict[str, type[FakeLLM]] = {"google": FakeGemini, "openai": FakeOpenAI, "anthropic": FakeAnthropic}
MAX_RETRIES = 2


def settings_for(fake: FakeLLM, **overrides: Any) -> Settings:
    base = {"google": fake.url, "openai": f"{fake.url}/v1", "anthropic": fake.url}[fake.name]
    values: dict[str, Any] = {
        "google_api_key": None,
        "openai_api_key": None,
        "anthropic_api_key": None,
        f"{fake.name}_api_key": "test-key-not-secret",
        f"{fake.name}_base_url": base,
        "provider_max_retries": MAX_RETRIES,
        "provider_timeout_seconds": 10.0,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


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
