"""Turning what went wrong on the wire into the typed `ProviderError`s of `base.py`."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import httpx2
from artificer.agents.providers.base import (
    AuthenticationFailed,
    BadRequest,
    ProviderError,
    ProviderName,
    ProviderUnavailable,
    RateLimited,
)

_KEY_SETTING: dict[str, str] = {
    "google": "GOOGLE_API_KEY",
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
}


def _trim(detail: str, limit: int = 300) -> str:
    detail = " ".join(detail.split())
    return detail if len(detail) <= limit else detail[: limit - 1] + "…"


def from_status(provider: ProviderName, status: int, detail: str, retries: int) -> ProviderError:
    """An HTTP error status the SDK gave up on (after its retries, for the retryable ones)."""
    said = f": {_trim(detail)}" if detail else ""
    if status == 429:
        return RateLimited(
            f"rate limited by the provider (HTTP 429){said}; wait a minute and try again, "
            "or raise the quota of the API key",
            provider=provider,
            retries=retries,
        )
    if status in (401, 403):
        # No provider text here: a rejected-key answer can echo (a masked form of) the key itself.
        return AuthenticationFailed(
            f"the provider rejected the API key (HTTP {status}): check {_KEY_SETTING[provider]} "
            "and the key's permissions",
            provider=provider,
            retries=retries,
        )
    if status == 408 or status >= 500:
        return ProviderUnavailable(
            f"the provider is unavailable (HTTP {status}){said}; try again later",
            provider=provider,
            retries=retries,
        )
    return BadRequest(
        f"the provider rejected the request (HTTP {status}){said}; check the model id and parameters",
        provider=provider,
        retries=retries,
    )


def from_transport(provider: ProviderName, exc: BaseException, retries: int) -> ProviderError:
    """A timeout or connection failure (the SDK's retries are already spent)."""
    if isinstance(exc, httpx2.TimeoutException) or "timed out" in str(exc).lower():
        return ProviderUnavailable(
            "the provider did not answer in time; try again, or raise ARTIFICER_PROVIDER_TIMEOUT",
            provider=provider,
            retries=retries,
        )
    return ProviderUnavailable(
        f"could not reach the provider ({type(exc).__name__}: {_trim(str(exc), 160)}); "
        "check the network and the base URL setting",
        provider=provider,
        retries=retries,
    )


def is_transport_error(exc: BaseException) -> bool:
    return isinstance(exc, httpx2.TransportError)


def from_sdk_error(
    sdk: ModuleType, provider: ProviderName, exc: BaseException, retries: int
) -> ProviderError | None:
    """The typed error for a failure of the `openai` or `anthropic` SDK (both raise `APIStatusError` with
    the JSON error body, `APIConnectionError` and `APIError`) or of the transport; None for anything
    else (a bug)."""
    if isinstance(exc, ProviderError):
        exc.retries = retries
        return exc
    if isinstance(exc, sdk.APIStatusError):
        return from_status(provider, exc.status_code, _status_message(exc), retries)
    if isinstance(exc, sdk.APIConnectionError):
        return from_transport(provider, exc.__cause__ or exc, retries)
    if isinstance(exc, sdk.APIError):
        return ProviderError(
            f"the provider reported an error: {exc.message}", provider=provider, retries=retries
        )
    if is_transport_error(exc):
        return from_transport(provider, exc, retries)
    return None


def _status_message(exc: Any) -> str:
    """The `error.message` of an SDK's `APIStatusError` body, else the SDK's own message."""
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return str(exc.message)
