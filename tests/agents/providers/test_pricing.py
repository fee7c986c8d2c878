"""Usage arithmetic and the cost rule (no provider needed)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from artificer.agents.providers.base import ModelPricing, ProviderError, RateLimited, Usage
from artificer.agents.providers.pricing import pricing_from_model_config

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
