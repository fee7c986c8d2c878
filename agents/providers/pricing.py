"""Model prices as `model_config` stores them, turned into `ModelPricing`."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from artificer.agents.providers.base import ModelPricing


def pricing_from_model_config(row: Mapping[str, Any]) -> ModelPricing:
    """`ModelPricing` from a `model_config` row (`input/output_pricing_per_million_tokens`)."""
    return ModelPricing(
        input_per_million=Decimal(str(row["input_pricing_per_million_tokens"])),
        output_per_million=Decimal(str(row["output_pricing_per_million_tokens"])),
    )
