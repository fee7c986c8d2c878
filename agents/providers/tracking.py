"""Per-call bookkeeping shared by the adapters: HTTP attempts (to count the SDK's retries), the
responses a call opened (so a cancelled call closes them), timing, the usage billed so far (reported to
`LLMRequest.on_billed` after every round trip), and building the `LLMResult`.

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
from artificer.common.pricing import cost_of

_current: ContextVar[CallTracker | None] = ContextVar("artificer_provider_call", default=None)

MAX_RETRY_AFTER_SECONDS = 60.0


class CallTracker:
    """Counts what one provider call did on the wire, and what it was billed."""

    def __init__(self, request: LLMRequest, provider: ProviderName) -> None:
        self.llm_request = request
        """The call's request (its model, pricing and `on_billed`)."""
        self.provider = provider
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
        self.usage: Usage | None = None
        """What the round trips billed so far, summed; None before the first."""
        self.model: str | None = None
        """The model version the provider last reported."""

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

    def bill(self, usage: Usage, model: str | None) -> None:
        """A model round trip ended having reported `usage`, so it was billed: add it to the call, and
        tell `LLMRequest.on_billed` at once (the call so far), before anything can fail or cancel the call."""
        self.usage = usage if self.usage is None else self.usage + usage
        self.model = model or self.model
        on_billed = self.llm_request.on_billed
        if on_billed is not None:
            on_billed(self.result(text=""))

    def partial(
        self, *, text: str = "", reasoning: str = "", tool_calls: Sequence[ToolCall] = (), steps: int = 1
    ) -> LLMResult | None:
        """The call as far as it was billed (for `ProviderError.partial`); None when nothing was."""
        if self.usage is None:
            return None
        return self.result(text=text, reasoning=reasoning, tool_calls=tool_calls, steps=steps)

    async def close_responses(self) -> None:
        """Close every response this call opened (a no-op for the ones already closed)."""
        responses, self.responses = self.responses, []
        for response in responses:
            if not response.is_closed:
                with anyio.CancelScope(shield=True):
                    await response.aclose()

    def result(
        self,
        *,
        text: str,
        reasoning: str | None = None,
        tool_calls: Sequence[ToolCall] = (),
        steps: int = 1,
        usage: Usage | None = None,
        model: str | None = None,
    ) -> LLMResult:
        """The call's `LLMResult`: by default with the usage billed so far and the last model reported;
        its cost is `cost_of` that usage (the rule the log rows use)."""
        if usage is None:
            usage = self.usage if self.usage is not None else Usage()
        request = self.llm_request
        return LLMResult(
            text=text,
            usage=usage,
            model=model or self.model or request.model,
            provider=self.provider,
            duration_ms=self.duration_ms,
            retries=self.retries,
            cost=cost_of(usage, request.pricing).total if request.pricing is not None else None,
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
