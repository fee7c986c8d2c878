"""Billing through the MCP pipeline into `usage_logs` and `agent_activity_logs`: every billed model call
is logged with the tokens the provider reported and its cost by the one cost function, however the call
ended. Once per provider: the real SDK against its wire-level fake, real Postgres, the in-process client."""

from __future__ import annotations

import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from artificer.agents.providers.base import LLMRequest
from artificer.agents.providers.registry import provider_for
from artificer.common.pricing import Usage, cost_of
from artificer.storage import models
from fakes.anthropic import FakeAnthropic
from fakes.gemini import FakeGemini
from fakes.github import FakeGitHub
from fakes.llm import Failure, FakeLLM, Turn, settings_for
from fakes.openai import FakeOpenAI

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mcp_harness import in_process, make_settings

pytestmark = pytest.mark.anyio

FAKES: dict[str, type[FakeLLM]] = {"google": FakeGemini, "openai": FakeOpenAI, "anthropic": FakeAnthropic}
BAD_FUNCTION_CALL = ("get_issue", {"number": "seven"})
"""A function call the git agent answers with an error result, without asking GitHub."""


@pytest.fixture(params=sorted(FAKES))
def fake(request: pytest.FixtureRequest):
    server = FAKES[request.param]().start()
    yield server
    server.stop()


@pytest.fixture
def github():
    server = FakeGitHub(token="ghp_billing_test_token").start()
    yield server
    server.stop()


def settings(database_url: str, user: uuid.UUID, fake: FakeLLM, github: FakeGitHub | None = None) -> Any:
    gemini = fake if isinstance(fake, FakeGemini) else FakeGemini()  # only its URL is read
    extra: dict[str, Any] = {"provider": fake.name}
    if fake.name == "openai":
        extra.update(openai_api_key="test-key", openai_base_url=f"{fake.url}/v1")
    elif fake.name == "anthropic":
        extra.update(anthropic_api_key="test-key", anthropic_base_url=fake.url)
    if github is not None:
        extra.update(github_token="ghp_billing_test_token", github_base_url=github.url)
    return make_settings(database_url, user, gemini, **extra)


async def enable(pool: Any, agent_type: str, provider: str) -> None:
    """Enable the agent's row of `provider` (the OpenAI and Anthropic rows are seeded disabled), with
    room for a few calls, and log activity rows."""
    await pool.execute(
        "update admin_config set config_data = config_data || "
        """'{"enabled": true, "rateLimit": {"perMinute": 10, "perHour": 100, "perDay": 1000}}'::jsonb """
        "where config_key = $1",
        f"{agent_type}_{provider}",
    )
    await pool.execute(
        "update admin_config set config_data = config_data || "
        """'{"agent_activity_logging_enabled": true}'::jsonb where config_key = 'logging_settings'"""
    )


async def price_default_model(
    pool: Any, provider: str, input_price: str, output_price: str, metadata: dict[str, Any] | None = None
) -> models.ModelConfig:
    """Set the prices of the provider's default model (the one the calls use); return its row."""
    model_id = await pool.fetchval(
        "update model_config set input_pricing_per_million_tokens = $2, "
        "output_pricing_per_million_tokens = $3, metadata = metadata || $4::jsonb "
        "where provider = $1 and is_default returning model_id",
        provider,
        Decimal(input_price),
        Decimal(output_price),
        metadata or {},  # the pool's codec encodes jsonb
    )
    model = await models.get_model(pool, model_id)
    assert model is not None
    return model


async def logged(pool: Any, user: uuid.UUID) -> tuple[list[Any], Any]:
    """The caller's usage rows and their one activity row."""
    usage = await pool.fetch("select * from usage_logs where user_id = $1", user)
    [activity] = await pool.fetch("select * from agent_activity_logs where user_id = $1", user)
    return usage, activity


def reported(fake: FakeLLM, turn: Turn, times: int = 1) -> Usage:
    """What the provider reported for `times` round trips answering `turn`, as the adapter reads it."""
    return Usage(
        input_tokens=turn.input_tokens * times,
        output_tokens=turn.output_tokens * times,
        total_tokens=(turn.input_tokens + turn.output_tokens) * times,
        reasoning_in_output=fake.name != "google",
        cache_read_tokens=turn.cache_read_tokens * times,
        cache_write_tokens=turn.cache_write_tokens * times if fake.name == "anthropic" else 0,
    )


def assert_row(row: Any, usage: Usage, model: models.ModelConfig) -> None:
    """One log row (usage or activity) has `usage`'s tokens and its cost by `cost_of`."""
    cost = cost_of(usage, model.pricing)
    assert (row["input_tokens"], row["output_tokens"], row["total_tokens"]) == (
        usage.input_tokens,
        usage.output_tokens,
        usage.total,
    )
    assert (row["input_cost"], row["output_cost"], row["total_cost"]) == (cost.input, cost.output, cost.total)
    assert cost.total > 0


async def test_a_function_loop_that_runs_out_of_steps_logs_every_round_trip(
    database_url, make_user, fake, github, pool
) -> None:
    await enable(pool, "git_mcp_agent", fake.name)
    model = await price_default_model(pool, fake.name, "1", "4")
    user = await make_user()
    asks = Turn(text="", function_calls=[BAD_FUNCTION_CALL], input_tokens=20, output_tokens=3)
    fake.repeat = asks  # the model asks for a function every time
    async with in_process(settings(database_url, user, fake, github)) as client:
        result = await client.call_tool("git_mcp_agent", {"input": "read issue seven"})
        assert result.is_error and "after" in result.content[0].text and "steps" in result.content[0].text
    steps = len(fake.model_requests())
    assert steps > 1 and github.requests == []

    usage, activity = await logged(pool, user)
    [row] = usage  # one model call: its round trips summed
    assert_row(row, reported(fake, asks, steps), model)
    assert (row["model_used"], row["provider"]) == (model.model_id, fake.name)
    assert row["metadata"]["success"] is False
    assert_row(activity, reported(fake, asks, steps), model)
    assert (activity["success"], activity["error_type"]) == (False, "TooManySteps")


async def test_a_failure_at_step_two_logs_step_one(database_url, make_user, fake, github, pool) -> None:
    await enable(pool, "git_mcp_agent", fake.name)
    model = await price_default_model(pool, fake.name, "1", "4")
    user = await make_user()
    asks = Turn(text="", function_calls=[BAD_FUNCTION_CALL], input_tokens=40, output_tokens=6)
    fake.script(asks, Failure(400, retry_after=None, message="the conversation is too long"))
    async with in_process(settings(database_url, user, fake, github)) as client:
        result = await client.call_tool("git_mcp_agent", {"input": "read issue seven"})
        assert result.is_error and "model call failed" in result.content[0].text
    assert len(fake.model_requests()) == 2

    usage, activity = await logged(pool, user)
    [row] = usage
    assert_row(row, reported(fake, asks), model)
    assert_row(activity, reported(fake, asks), model)
    assert (activity["success"], activity["error_type"]) == (False, "BadRequest")
    assert activity["correlation_id"] == uuid.UUID(row["metadata"]["correlation_id"])


async def test_an_empty_answer_logs_its_tokens(database_url, make_user, fake, pool) -> None:
    await enable(pool, "provider_tools_agent", fake.name)
    model = await price_default_model(pool, fake.name, "1", "4")
    user = await make_user()
    empty = Turn(text="", input_tokens=33, output_tokens=2)
    fake.script(empty)
    async with in_process(settings(database_url, user, fake)) as client:
        result = await client.call_tool("provider_tools_agent", {"input": "What is new?"})
        assert result.is_error and "no answer text" in result.content[0].text

    usage, activity = await logged(pool, user)
    [row] = usage
    assert_row(row, reported(fake, empty), model)
    assert_row(activity, reported(fake, empty), model)
    assert (activity["success"], activity["error_type"]) == (False, "EmptyAnswer")


async def test_cached_input_tokens_are_logged_with_their_cost(database_url, make_user, fake, pool) -> None:
    await enable(pool, "provider_tools_agent", fake.name)
    # cache reads at the metadata's price; cache writes at the provider's default (Anthropic: 1.25×)
    model = await price_default_model(pool, fake.name, "1", "2", {"cacheReadPricingPerMillionTokens": 0.2})
    user = await make_user()
    turn = Turn(
        text="Cached answer.",
        input_tokens=1000,
        output_tokens=10,
        cache_read_tokens=600,
        cache_write_tokens=200,
    )
    fake.script(turn)
    async with in_process(settings(database_url, user, fake)) as client:
        result = await client.call_tool("provider_tools_agent", {"input": "Again, please."})
        assert not result.is_error, result.content

    usage, activity = await logged(pool, user)
    [row] = usage
    expected = reported(fake, turn)
    assert_row(row, expected, model)
    assert_row(activity, expected, model)
    written = 200 if fake.name == "anthropic" else 0  # only Anthropic reports cache writes
    uncached = Decimal(1000 - 600 - written) / 1_000_000
    assert (
        row["input_cost"] == uncached + Decimal("0.000120") + Decimal(written) * Decimal("1.25") / 1_000_000
    )
    cached = {
        "cache_read_tokens": 600,
        "cache_write_tokens": written,
        "cache_read_cost": 0.00012,  # 600 × $0.2 / 1e6
        "cache_write_cost": 0.00025 if written else 0.0,  # 200 × $1.25 / 1e6
    }
    assert {k: row["metadata"][k] for k in cached} == cached
    assert {k: activity["operation_metadata"][k] for k in cached} == cached


async def test_one_token_costs_the_same_in_the_result_and_in_the_logs(
    database_url, make_user, fake, pool
) -> None:
    await enable(pool, "provider_tools_agent", fake.name)
    model = await price_default_model(pool, fake.name, "0.5", "2.5")
    user = await make_user()
    fake.script(Turn(text="One.", input_tokens=1, output_tokens=1))
    async with in_process(settings(database_url, user, fake)) as client:
        result = await client.call_tool("provider_tools_agent", {"input": "One word."})
        assert not result.is_error, result.content
    usage, activity = await logged(pool, user)
    [row] = usage
    # 1 × 0.5 / 1e6 → 0.000001 and 1 × 2.5 / 1e6 → 0.000003, half up, per call
    for logged_row in (row, activity):
        assert (logged_row["input_cost"], logged_row["output_cost"], logged_row["total_cost"]) == (
            Decimal("0.000001"),
            Decimal("0.000003"),
            Decimal("0.000004"),
        )

    # the same model row's pricing gives the same `LLMResult.cost` on the provider
    fake.script(Turn(text="One.", input_tokens=1, output_tokens=1))
    adapter = provider_for(fake.name, settings_for(fake))  # type: ignore[arg-type]
    try:
        answer = await adapter.generate(LLMRequest(model=model.model_id, prompt="x", pricing=model.pricing))
    finally:
        await adapter.aclose()
    assert answer.cost == row["total_cost"] == activity["total_cost"]
