"""`ResultStream`: the one `LLMStream` implementation, shared by the adapters.

An adapter supplies `attempt()`, an async generator that makes the SDK call and yields, in order:
`OPENED` once the SDK returned a stream (the HTTP response started), then `StreamDelta`s, a
`UsageReport` whenever the wire reports usage before the end, then one `StreamEnd` with the usage.
`ResultStream` adds what is common:

- a drop after `OPENED` but before any delta re-issues the request (up to `max_reissues` times);
  a drop after a delta raises `StreamInterrupted` (the caller already has part of the answer);
- failures before `OPENED` were already retried by the SDK and are translated to `ProviderError`s;
- leaving early or being cancelled closes the SDK stream and every HTTP response the call opened;
- a call that does not finish keeps the usage reported so far: the `partial` of the `ProviderError`
  it raises, or `partial_result` after a cancellation, holds the billed tokens (with model,
  duration, retries and cost). What is reported mid-stream depends on the wire: Gemini sends
  `usageMetadata` on every chunk, Anthropic the input tokens at `message_start` (and the output at
  `message_delta`), OpenAI Chat Completions only in its last chunk; nothing is estimated;
- billing: each attempt's usage is billed (`CallTracker.bill`, which tells `LLMRequest.on_billed`)
  when the attempt ends — finished, broken, refused, re-issued, left or cancelled — so an attempt
  that was dropped and re-issued still counts the tokens it reported, in the call's usage too.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TypeAlias

import httpx2
from artificer.agents.providers.base import (
    EmptyAnswer,
    LLMRequest,
    LLMResult,
    ProviderError,
    ProviderName,
    StreamDelta,
    StreamInterrupted,
    ToolCall,
    Usage,
)
from artificer.agents.providers.tracking import CallTracker


class Opened:
    """Marker: the SDK returned a stream; a drop from here on is a dropped stream."""


OPENED = Opened()


@dataclass(frozen=True, slots=True)
class StreamEnd:
    usage: Usage
    model: str | None = None
    tool_calls: Sequence[ToolCall] = ()


@dataclass(frozen=True, slots=True)
class UsageReport:
    """The usage the provider reported so far in this stream (cumulative: each replaces the last)."""

    usage: Usage
    model: str | None = None


class StreamEndedEarly(Exception):
    """The stream ended without its final event (the connection was closed cleanly mid-answer)."""


StreamItem: TypeAlias = Opened | StreamDelta | UsageReport | StreamEnd
Translate = Callable[[BaseException, int], ProviderError | None]
IsDropped = Callable[[BaseException], bool]


class ResultStream:
    def __init__(
        self,
        *,
        provider: ProviderName,
        request: LLMRequest,
        attempt: Callable[[], AsyncGenerator[StreamItem, None]],
        translate: Translate,
        is_dropped: IsDropped,
        max_reissues: int,
    ) -> None:
        self._provider = provider
        self._request = request
        self._attempt = attempt
        self._translate = translate
        self._is_dropped = is_dropped
        self._max_reissues = max_reissues
        self._tracker = CallTracker(request, provider)
        self._result: LLMResult | None = None
        self._iterator: AsyncGenerator[StreamDelta, None] | None = None
        self._latest: UsageReport | None = None
        self._unbilled: UsageReport | None = None
        """The current attempt's usage so far, until the attempt ends and it is billed."""
        self._text: list[str] = []
        self._thinking: list[str] = []
        self._partial: LLMResult | None = None

    @property
    def result(self) -> LLMResult:
        if self._result is None:
            raise RuntimeError("the stream has not been read to its end yet")
        return self._result

    @property
    def latest_usage(self) -> Usage | None:
        """The usage the provider reported so far in the current attempt; None before any report."""
        return self._latest.usage if self._latest is not None else None

    @property
    def partial_result(self) -> LLMResult | None:
        """The call as far as it went, when it did not finish (cancelled, left early, failed) and the
        provider had reported usage: the billed tokens with model, duration, retries and cost, and the
        text received so far. None once `result` is available, or when nothing was reported (OpenAI
        reports usage only in its last chunk). Read it in a cancel/finally path to log the tokens."""
        if self._result is not None:
            return None
        return self._partial or self._partial_now()

    def _partial_now(self) -> LLMResult | None:
        tracker, unbilled = self._tracker, self._unbilled
        if unbilled is None:
            return tracker.partial(text="".join(self._text), reasoning="".join(self._thinking))
        return tracker.result(
            text="".join(self._text),
            reasoning="".join(self._thinking),
            usage=unbilled.usage if tracker.usage is None else tracker.usage + unbilled.usage,
            model=unbilled.model,
        )

    def _bill_attempt(self) -> None:
        """The current attempt ended: bill the usage it reported (once)."""
        if self._unbilled is not None:
            report, self._unbilled = self._unbilled, None
            self._tracker.bill(report.usage, report.model)

    def _settle_partial(self) -> LLMResult | None:
        """Bill the attempt that stopped and freeze the partial result (its duration ends here)."""
        if self._partial is None:
            self._bill_attempt()
            self._partial = self._partial_now()
        return self._partial

    def __aiter__(self) -> AsyncIterator[StreamDelta]:
        if self._iterator is None:
            self._iterator = self._run()
        return self._iterator

    async def aclose(self) -> None:
        if self._iterator is not None:
            await self._iterator.aclose()
        await self._tracker.close_responses()

    async def __aenter__(self) -> ResultStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def collect(self) -> LLMResult:
        """Read the whole stream and return the result."""
        async with self:
            async for _ in self:
                pass
        return self.result

    async def _run(self) -> AsyncGenerator[StreamDelta, None]:
        tracker = self._tracker
        while True:
            tracker.begin_request()
            source = self._attempt()
            opened = False
            delivered = False
            self._latest = None
            self._text = text = []
            self._thinking = thinking = []
            end: StreamEnd | None = None
            try:
                while True:
                    with tracker.active():
                        try:
                            item = await source.__anext__()
                        except StopAsyncIteration:
                            break
                    if isinstance(item, Opened):
                        opened = True
                    elif isinstance(item, UsageReport):
                        self._latest = self._unbilled = item
                    elif isinstance(item, StreamEnd):
                        end = item
                        self._unbilled = None
                        tracker.bill(end.usage, end.model)
                    else:
                        if item.kind == "text":
                            text.append(item.text)
                        else:
                            thinking.append(item.text)
                        if item.text:
                            delivered = True
                            yield item
                if end is None:
                    raise StreamEndedEarly("the stream ended before its final event")
            except ProviderError as err:
                err.retries = tracker.retries
                partial = self._settle_partial()
                if err.partial is None:
                    err.partial = partial
                raise
            except Exception as exc:
                dropped = opened and (isinstance(exc, StreamEndedEarly) or self._is_dropped(exc))
                if dropped and not delivered and tracker.reissues < self._max_reissues:
                    tracker.reissues += 1
                    self._bill_attempt()
                    continue
                if dropped and delivered:
                    stalled = isinstance(exc, httpx2.TimeoutException) or "timed out" in str(exc).lower()
                    raise StreamInterrupted(
                        (
                            "the provider stopped sending the answer and timed out after part of it was "
                            f"sent ({len(''.join(text))} characters); try again, or raise "
                            "ARTIFICER_PROVIDER_TIMEOUT"
                        )
                        if stalled
                        else "the answer stream broke after part of the answer was sent "
                        f"({len(''.join(text))} characters); run the call again",
                        provider=self._provider,
                        retries=tracker.retries,
                        partial=self._settle_partial(),
                    ) from exc
                partial = self._settle_partial()
                error = self._translate(exc, tracker.retries)
                if error is None:
                    raise
                if error.partial is None:
                    error.partial = partial
                raise error from exc
            except BaseException:  # cancelled, or the caller left the stream early
                self._settle_partial()
                raise
            finally:
                with tracker.active():
                    await source.aclose()
                await tracker.close_responses()
            answer = "".join(text)
            if not answer.strip():
                raise EmptyAnswer(
                    "the model returned no answer text; rephrase the request or try another model",
                    provider=self._provider,
                    retries=tracker.retries,
                    partial=tracker.partial(  # the provider reported (and billed) the empty answer
                        reasoning="".join(thinking), tool_calls=end.tool_calls
                    ),
                )
            self._result = tracker.result(text=answer, reasoning="".join(thinking), tool_calls=end.tool_calls)
            return
