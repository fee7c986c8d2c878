"""Token usage and what it costs: the one cost function and its one rounding rule.

`LLMResult.cost`, the activity row and every usage row all come from `cost_of`, so the figures a caller
sees and the ones logged always agree. Amounts are dollars quantized to 6 places (the DECIMAL(10,6)
columns), rounded half up, per model call (one provider call, however many round trips it took); a sum
over calls adds the rounded amounts.

Cached input tokens. `Usage.input_tokens` counts *every* prompt token, cached ones included (as OpenAI's
`prompt_tokens` and Gemini's `promptTokenCount` do; Anthropic's `input_tokens` excludes them, so its
adapter adds `cache_read_input_tokens` and `cache_creation_input_tokens` in). `cache_read_tokens` and
`cache_write_tokens` say how many of them were read from / written to the provider's prompt cache; they
are priced at `ModelPricing.cache_read_per_million` / `cache_write_per_million`, the rest at the input
price.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

_MICRO = Decimal("0.000001")
_MILLION = Decimal(1_000_000)
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts exactly as the provider reported them (summed over the steps of one call)."""

    input_tokens: int = 0
    """Every prompt token, the cached ones (`cache_read_tokens`, `cache_write_tokens`) included."""
    output_tokens: int = 0
    reasoning_tokens: int = 0
    total_tokens: int = 0
    reasoning_in_output: bool = True
    """True when `output_tokens` already includes the reasoning tokens (OpenAI, Anthropic);
    False when the provider reports them separately (Gemini)."""
    cache_read_tokens: int = 0
    """Of `input_tokens`: read from the prompt cache (Anthropic `cache_read_input_tokens`, OpenAI
    `cached_tokens`, Gemini `cachedContentTokenCount`)."""
    cache_write_tokens: int = 0
    """Of `input_tokens`: written to the prompt cache (Anthropic `cache_creation_input_tokens`)."""

    @property
    def uncached_input_tokens(self) -> int:
        """Input tokens billed at the plain input price."""
        return max(0, self.input_tokens - self.cache_read_tokens - self.cache_write_tokens)

    @property
    def billable_output_tokens(self) -> int:
        """Tokens billed at the output price: output plus reasoning, each counted once."""
        if self.reasoning_in_output:
            return self.output_tokens
        return self.output_tokens + self.reasoning_tokens

    @property
    def total(self) -> int:
        """`total_tokens` as reported, else input + billable output."""
        return self.total_tokens or (self.input_tokens + self.billable_output_tokens)

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            reasoning_in_output=self.reasoning_in_output,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
        )


@dataclass(frozen=True, slots=True)
class Cost:
    """Dollars of one model call (or a sum of calls): `total == input + output`.

    `cache_read` and `cache_write` are the parts of `input` paid for cached input tokens."""

    input: Decimal
    output: Decimal
    cache_read: Decimal = _ZERO
    cache_write: Decimal = _ZERO

    @property
    def total(self) -> Decimal:
        return self.input + self.output

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.input + other.input,
            self.output + other.output,
            self.cache_read + other.cache_read,
            self.cache_write + other.cache_write,
        )


ZERO_COST = Cost(_ZERO, _ZERO)


@dataclass(frozen=True, slots=True)
class ModelPricing:
    """Prices of one model, in dollars per million tokens (the `model_config` columns, and the cache
    prices of its `metadata`, see `pricing_from_model_config`)."""

    input_per_million: Decimal
    output_per_million: Decimal
    cache_read_per_million: Decimal | None = None
    """Input tokens read from the prompt cache; None: the input price."""
    cache_write_per_million: Decimal | None = None
    """Input tokens written to the prompt cache; None: the input price."""

    def input_cost(self, usage: Usage) -> Decimal:
        return cost_of(usage, self).input

    def output_cost(self, usage: Usage) -> Decimal:
        """Output *and* reasoning tokens at the output price (see `Usage.billable_output_tokens`)."""
        return cost_of(usage, self).output

    def cost(self, usage: Usage) -> Decimal:
        """Total dollar cost: `input_cost + output_cost` (so the three log columns add up)."""
        return cost_of(usage, self).total


def dollars(tokens: int, per_million: Decimal) -> Decimal:
    """`tokens` at `per_million` dollars per million, quantized to 6 places, half up."""
    return (Decimal(tokens) * per_million / _MILLION).quantize(_MICRO, rounding=ROUND_HALF_UP)


def cost_of(usage: Usage, pricing: ModelPricing) -> Cost:
    """The one cost function: what one model call's `usage` costs at `pricing`.

    Input: uncached input tokens at the input price, cache reads and writes at their prices (each part
    rounded, so the parts add up to `input`). Output: reasoning is added on top of output only where the
    provider reports it apart from output (Gemini's `thoughtsTokenCount`); where it is already inside
    the output count (OpenAI's `reasoning_tokens`, Anthropic's thinking) it is not counted twice.
    """
    read_price = pricing.cache_read_per_million
    write_price = pricing.cache_write_per_million
    read = dollars(usage.cache_read_tokens, pricing.input_per_million if read_price is None else read_price)
    write = dollars(
        usage.cache_write_tokens, pricing.input_per_million if write_price is None else write_price
    )
    return Cost(
        input=dollars(usage.uncached_input_tokens, pricing.input_per_million) + read + write,
        output=dollars(usage.billable_output_tokens, pricing.output_per_million),
        cache_read=read,
        cache_write=write,
    )


CACHE_READ_PRICE_KEY = "cacheReadPricingPerMillionTokens"
"""`model_config.metadata` key: dollars per million input tokens read from the prompt cache."""
CACHE_WRITE_PRICE_KEY = "cacheWritePricingPerMillionTokens"
"""`model_config.metadata` key: dollars per million input tokens written to the prompt cache."""

CACHE_PRICE_RATIOS: dict[str, tuple[Decimal, Decimal]] = {
    "anthropic": (Decimal("0.1"), Decimal("1.25")),
    "openai": (Decimal("0.5"), Decimal("1")),
    "google": (Decimal("0.25"), Decimal("1")),
}
"""(cache read, cache write) price as a multiple of the input price, used when the model row's metadata
names no cache price. The providers' published ratios:

- anthropic: cache reads 0.1×; writes 1.25× (the 5-minute cache; the 1-hour cache is 2×: set
  `cacheWritePricingPerMillionTokens` for a model used with it).
- openai: cached input 0.5× (gpt-4o, gpt-4o-mini, o1 — the models seeded here; gpt-4.1 is 0.25×, gpt-5
  0.1×: set `cacheReadPricingPerMillionTokens` for those). OpenAI charges nothing extra for writes.
- google: cached input 0.25× (Gemini 2.0; Gemini 2.5 is 0.1×: set `cacheReadPricingPerMillionTokens`
  for those). Implicit caching charges nothing extra for writes (explicit caches bill storage by the
  hour, which no call reports).
"""


def _price(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        return None
    return price if price.is_finite() and price >= 0 else None


def pricing_from_model_config(row: Mapping[str, Any]) -> ModelPricing:
    """`ModelPricing` from a `model_config` row: `input/output_pricing_per_million_tokens`, and the cache
    prices from `metadata` (`CACHE_READ_PRICE_KEY`, `CACHE_WRITE_PRICE_KEY`), else the `provider`'s
    `CACHE_PRICE_RATIOS` to the input price (None when the row names no provider)."""
    input_price = Decimal(str(row.get("input_pricing_per_million_tokens") or 0))
    metadata = row.get("metadata")
    if isinstance(metadata, str):
        metadata = json.loads(metadata)
    if not isinstance(metadata, Mapping):
        metadata = {}
    ratios = CACHE_PRICE_RATIOS.get(str(row.get("provider")))
    read = _price(metadata.get(CACHE_READ_PRICE_KEY))
    write = _price(metadata.get(CACHE_WRITE_PRICE_KEY))
    if ratios is not None:
        read = input_price * ratios[0] if read is None else read
        write = input_price * ratios[1] if write is None else write
    return ModelPricing(
        input_per_million=input_price,
        output_per_million=Decimal(str(row.get("output_pricing_per_million_tokens") or 0)),
        cache_read_per_million=read,
        cache_write_per_million=write,
    )
