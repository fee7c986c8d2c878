"""`provider_for`: the adapter of a provider, built from `Settings` (keys, base URLs, timeout, retries)."""

from __future__ import annotations

from artificer.agents.providers.base import LLMProvider, MissingAPIKey
from artificer.common.providers import KEY_VARIABLES, ProviderName
from artificer.common.settings import Settings


def api_key_for(name: ProviderName, settings: Settings) -> str:
    secret = {
        "google": settings.google_api_key,
        "openai": settings.openai_api_key,
        "anthropic": settings.anthropic_api_key,
    }[name]
    key = secret.get_secret_value().strip() if secret is not None else ""
    if not key:
        hint = (
            " (an OpenAI-compatible local server set by OPENAI_BASE_URL accepts any non-empty value)"
            if name == "openai"
            else ""
        )
        raise MissingAPIKey(
            f"no API key is configured; set {KEY_VARIABLES[name]} in the environment or .env{hint}",
            provider=name,
        )
    return key


def provider_for(name: ProviderName, settings: Settings, *, retry_initial_delay: float = 1.0) -> LLMProvider:
    """Build the adapter for `name`. Raises `MissingAPIKey` when its key is not set.

    `retry_initial_delay` is the first backoff of google-genai's retries (the openai and anthropic
    SDKs fix theirs at 0.5 s, or follow the server's `Retry-After`). The caller owns the adapter and
    closes it with `await provider.aclose()`.
    """
    key = api_key_for(name, settings)
    timeout = settings.provider_timeout_seconds
    retries = settings.provider_max_retries
    if name == "google":
        from artificer.agents.providers.google import GoogleProvider

        return GoogleProvider(
            api_key=key,
            base_url=settings.google_base_url,
            timeout=timeout,
            max_retries=retries,
            retry_initial_delay=retry_initial_delay,
        )
    if name == "openai":
        from artificer.agents.providers.openai import OpenAIProvider

        return OpenAIProvider(
            api_key=key, base_url=settings.openai_base_url, timeout=timeout, max_retries=retries
        )
    if name == "anthropic":
        from artificer.agents.providers.anthropic import AnthropicProvider

        return AnthropicProvider(
            api_key=key, base_url=settings.anthropic_base_url, timeout=timeout, max_retries=retries
        )
    raise ValueError(f"unknown provider {name!r}; use google, openai or anthropic")
