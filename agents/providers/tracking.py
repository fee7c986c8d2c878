"""Per-call bookkeeping shared by the adapters: HTTP attempts (to count the SDK's retries), the
responses a call opened (so a cancelled call closes them), timing, and building the `LLMResult`.

Every SDK here sends through an `httpx2.AsyncClient` we build (`tracking_http_client`). Its event
hooks find the `CallTracker` of the running call through a context variable that the adapter sets
only around its own awaits on the SDK (`with tracker.active(): ...`), so concurrent calls on one
client never mix their counts.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar

import anyio
import httpx2
from artificer.agents.providers.base import (
    LLMRequest,
    LLMResult,
    ProviderError,
    ProviderName,
    ToolCall,
    Usage,
)

_current: ContextVar[CallTracker | None] = ContextVar("artificer_provider_call", default=None)

MAX_RETRY_AFTER_SECONDS = 60.0


class CallTracker:
    """Counts what one provider call did on the wire."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.attempts = 0
        """HTTP requests sent (first tries and SDK retries)."""
        self.requests = 0
        """Logical requests the adapter made (one per model round trip)."""
        self.reissues = 0
        """Streams re-issued by us after a drop before any output."""
        self.request_attempts = 0
        """HTTP attempts of the current logical request."""
        self.responses: list[httpx2.Response] = []

    @property
    def retries(self) -> int:
        return max(0, self.attempts - self.requests) + self.reissues

    @property
    def duration_ms(self) -> int:
        return round((time.perf_counter() - self.started) * 1000)

    def begin_request(self) -> None:
        self.requests += 1
        self.request_attempts = 0

    @contextlib.contextmanager
    def active(self) -> Iterator[CallTracker]:
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)

    @contextlib.contextmanager
    def request(
        self, translate: Callable[[BaseException, int], ProviderError | None]
    ) -> Iterator[CallTracker]:
        """One logical request: counted, visible to the HTTP hooks (`active`), and an SDK or transport
        failure inside it raised as the typed `ProviderError` that `translate` gives (anything it does
        not know is re-raised as it is)."""
        self.begin_request()
        try:
            with self.active():
                yield self
        except Exception as exc:
            error = translate(exc, self.retries)
            if error is None:
                raise
            raise error from exc

    async def close_responses(self) -> None:
        """Close every response this call opened (a no-op for the ones already closed)."""
        responses, self.responses = self.responses, []
        for response in responses:
            if not response.is_closed:
                with anyio.CancelScope(shield=True):
                    await response.aclose()

    def result(
        self,
        request: LLMRequest,
        *,
        provider: ProviderName,
        text: str,
        usage: Usage,
        model: str | None,
        reasoning: str | None = None,
        tool_calls: Sequence[ToolCall] = (),
        steps: int = 1,
    ) -> LLMResult:
        return LLMResult(
            text=text,
            usage=usage,
            model=model or request.model,
            provider=provider,
            duration_ms=self.duration_ms,
            retries=self.retries,
            cost=request.pricing.cost(usage) if request.pricing is not None else None,
            reasoning=reasoning or None,
            tool_calls=tuple(tool_calls),
            steps=steps,
        )


def current_tracker() -> CallTracker | None:
    return _current.get()


def _retry_after_seconds(headers: httpx2.Headers) -> float | None:
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            continue
        if 0 < seconds <= MAX_RETRY_AFTER_SECONDS:
            return seconds
    return None


def tracking_http_client(
    *, timeout: float, honour_retry_after_within: int | None = None
) -> httpx2.AsyncClient:
    """An `httpx2.AsyncClient` whose hooks count attempts and keep the responses of the current call.

    `honour_retry_after_within`: for SDKs whose own backoff ignores `Retry-After` (google-genai), the
    number of attempts a call may make; while more attempts remain, a 429/503 carrying
    `Retry-After` (or `retry-after-ms`) waits that long before the SDK's own backoff.
    """

    async def on_request(request: httpx2.Request) -> None:
        tracker = _current.get()
        if tracker is not None:
            tracker.attempts += 1
            tracker.request_attempts += 1

    async def on_response(response: httpx2.Response) -> None:
        tracker = _current.get()
        if tracker is None:
            return
        tracker.responses.append(response)
        if (
            honour_retry_after_within is not None
            and response.status_code in (429, 503)
            and tracker.request_attempts < honour_retry_after_within
        ):
            delay = _retry_after_seconds(response.headers)
            if delay is not None:
                await anyio.sleep(delay)

    return httpx2.AsyncClient(
        timeout=httpx2.Timeout(timeout, connect=min(timeout, 10.0)),
        follow_redirects=True,
        limits=httpx2.Limits(max_connections=1000, max_keepalive_connections=100),
        event_hooks={"request": [on_request], "response": [on_response]},
    )
