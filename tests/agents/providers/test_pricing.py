"""Usage arithmetic and the cost rule (no provider needed)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from artificer.agents.providers.base import ModelPricing, ProviderError, RateLimited, Usage
from artificer.common.pricing import cost_of, pricing_from_model_config

PRICING = ModelPricing(input_per_million=Decimal("0.30"), output_per_million=Decimal("2.50"))


def test_reasoning_reported_apart_from_output_is_billed_as_output() -> None:
    usage = Usage(input_tokens=1000, output_tokens=500, reasoning_tokens=200, reasoning_in_output=False)
    assert usage.billable_output_tokens == 700
    assert PRICING.input_cost(usage) == Decimal("0.000300")
    assert PRICING.output_cost(usage) == Decimal("0.001750")
    assert PRICING.cost(usage) == Decimal("0.002050")


def test_reasoning_inside_output_is_not_billed_twice() -> None:
    usage = Usage(input_tokens=1000, output_tokens=500, reasoning_tokens=200, reasoning_in_output=True)
    assert usage.billable_output_tokens == 500
    assert PRICING.cost(usage) == Decimal("0.001550")


def test_costs_are_quantized_to_six_places_and_add_up() -> None:
    usage = Usage(input_tokens=3, output_tokens=1)
    pricing = ModelPricing(Decimal("0.15"), Decimal("0.6"))
    # 3 × 0.15 / 1e6 = 0.00000045 → 0.000000 ; 1 × 0.6 / 1e6 = 0.0000006 → 0.000001
    assert pricing.input_cost(usage) == Decimal("0.000000")
    assert pricing.output_cost(usage) == Decimal("0.000001")
    assert pricing.cost(usage) == pricing.input_cost(usage) + pricing.output_cost(usage)
    assert pricing.cost(usage).as_tuple().exponent == -6


def test_usage_adds_up_over_steps() -> None:
    total = Usage(10, 5, 1, 16, reasoning_in_output=False) + Usage(20, 7, 2, 29, reasoning_in_output=False)
    assert total == Usage(30, 12, 3, 45, reasoning_in_output=False)


def test_pricing_from_a_model_config_row() -> None:
    row = {"input_pricing_per_million_tokens": Decimal("1.2500"), "output_pricing_per_million_tokens": 10}
    assert pricing_from_model_config(row) == ModelPricing(Decimal("1.2500"), Decimal("10"))


@pytest.mark.parametrize("retries, suffix", [(0, ""), (1, " (after 1 retry)"), (3, " (after 3 retries)")])
def test_errors_say_the_provider_and_the_retries(retries: int, suffix: str) -> None:
    err = RateLimited("rate limited; wait", provider="openai", retries=retries)
    assert isinstance(err, ProviderError)
    assert str(err) == f"openai: rate limited; wait{suffix}"


def test_one_token_each_way_is_rounded_half_up_per_call() -> None:
    # 1 × 0.5 / 1e6 = 0.0000005 → 0.000001 ; 1 × 2.5 / 1e6 = 0.0000025 → 0.000003
    cost = cost_of(Usage(input_tokens=1, output_tokens=1), ModelPricing(Decimal("0.5"), Decimal("2.5")))
    assert (cost.input, cost.output, cost.total) == (
        Decimal("0.000001"),
        Decimal("0.000003"),
        Decimal("0.000004"),
    )


def test_cached_input_tokens_are_priced_apart_and_add_up_to_the_input_cost() -> None:
    usage = Usage(input_tokens=10_000, output_tokens=100, cache_read_tokens=6_000, cache_write_tokens=1_000)
    pricing = ModelPricing(Decimal("3"), Decimal("15"), Decimal("0.30"), Decimal("3.75"))
    cost = cost_of(usage, pricing)
    assert usage.uncached_input_tokens == 3_000
    assert cost.cache_read == Decimal("0.001800")
    assert cost.cache_write == Decimal("0.003750")
    assert cost.input == Decimal("0.009000") + cost.cache_read + cost.cache_write
    assert cost.output == Decimal("0.001500")
    # without cache prices, cached tokens cost the input price
    assert cost_of(usage, ModelPricing(Decimal("3"), Decimal("15"))).input == Decimal("0.030000")


def test_cached_counts_add_up_over_steps() -> None:
    total = Usage(100, 5, cache_read_tokens=40, cache_write_tokens=10) + Usage(200, 7, cache_read_tokens=150)
    assert (total.input_tokens, total.cache_read_tokens, total.cache_write_tokens) == (300, 190, 10)


@pytest.mark.parametrize(
    ("provider", "read", "write"),
    [
        ("anthropic", Decimal("0.4"), Decimal("5")),  # 0.1× and 1.25× (5-minute cache)
        ("openai", Decimal("2"), Decimal("4")),  # 0.5×, no write surcharge
        ("google", Decimal("1"), Decimal("4")),  # 0.25× (Gemini 2.0), no write surcharge
    ],
)
def test_cache_prices_default_to_the_providers_ratios(provider: str, read: Decimal, write: Decimal) -> None:
    row = {
        "provider": provider,
        "input_pricing_per_million_tokens": Decimal("4"),
        "output_pricing_per_million_tokens": Decimal("16"),
        "metadata": {"contextWindow": 1000},
    }
    pricing = pricing_from_model_config(row)
    assert (pricing.cache_read_per_million, pricing.cache_write_per_million) == (read, write)


def test_cache_prices_come_from_the_model_rows_metadata() -> None:
    row = {
        "provider": "google",
        "input_pricing_per_million_tokens": Decimal("1.25"),
        "output_pricing_per_million_tokens": Decimal("10"),
        "metadata": '{"cacheReadPricingPerMillionTokens": 0.125, "cacheWritePricingPerMillionTokens": "1.5"}',
    }
    pricing = pricing_from_model_config(row)
    assert (pricing.cache_read_per_million, pricing.cache_write_per_million) == (
        Decimal("0.125"),
        Decimal("1.5"),
    )
    # an unreadable price falls back to the provider's ratio
    row["metadata"] = {"cacheReadPricingPerMillionTokens": "cheap"}
    assert pricing_from_model_config(row).cache_read_per_million == Decimal("0.3125")
