"""The model providers Artificer speaks to, named once."""

from __future__ import annotations

from typing import Literal, get_args

ProviderName = Literal["google", "openai", "anthropic"]

PROVIDERS: tuple[ProviderName, ...] = get_args(ProviderName)
"""Every provider, in the order messages list them."""

KEY_VARIABLES: dict[ProviderName, str] = {
    "google": "GOOGLE_API_KEY (or GEMINI_API_KEY)",
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
}
"""The environment variable that holds each provider's API key."""


def is_provider(name: object) -> bool:
    return name in PROVIDERS
