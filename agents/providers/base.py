"""The one small interface every LLM provider adapter implements, and the types it speaks.

An agent builds an `LLMRequest`, asks a provider (`provider_for(...)` in `registry.py`) to

- `generate` text,
- `stream` text (an async iterator of `StreamDelta`; the `LLMResult` is available at the end),
- `generate_object` against a pydantic model (the SDK's native structured-output mode, then validated),
- `generate_with_native_tools` (the provider's server-side tools: web search, URL fetch, code execution),
- `run_functions` (a function-calling loop: the model asks, we run an async callable, feed the result back).

Every call returns token usage as the provider reported it, the model id, the duration, the number of
HTTP retries the SDK made, and a cost when the request carries `ModelPricing`. The usage of every round
trip the provider billed is also reported to `LLMRequest.on_billed` at once, whatever happens to the call
after it. Every failure is a `ProviderError` subclass whose message says what to do next; no call ever
passes on an empty answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, Literal, Protocol, TypeVar, runtime_checkable

from artificer.common.pricing import ModelPricing, Usage
from artificer.common.providers import ProviderName
from pydantic import BaseModel

__all__ = ["ModelPricing", "ProviderName", "Usage"]  # re-exported: the leaf types adapters speak


NativeTool = Literal["web_search", "url_context", "code_execution"]
"""Server-side tools, by what they do. Per provider:

- google: `google_search`, `url_context`, `code_execution`
- openai (Responses API): `web_search` (also serves `url_context`: it opens pages), `code_interpreter`
- anthropic: `web_search`, `web_fetch` (for `url_context`), `code_execution`
"""

DEFAULT_THINKING_BUDGET = 8192
"""Thinking tokens asked for when `LLMRequest.thinking` is on and no budget is given."""

M = TypeVar("M", bound=BaseModel)


# --- request ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LLMRequest:
    """One call to a model. `thinking` is True only when `model_config.thinking_enabled` says so."""

    model: str
    prompt: str
    system: str | None = None
    temperature: float | None = None
    max_output_tokens: int | None = None
    thinking: bool = False
    thinking_budget: int | None = None
    """Thinking tokens (Gemini budget, Anthropic budget_tokens); OpenAI maps it to a reasoning effort."""
    pricing: ModelPricing | None = None
    """When given, `LLMResult.cost` is filled in."""
    on_billed: Callable[[LLMResult], None] | None = field(default=None, compare=False, repr=False)
    """Told about the call's billed usage as it happens: after every model round trip the provider
    reported usage for (a stream: when it ends, breaks, is left or cancelled), with the call so far —
    usage, model, duration, retries and cost summed over its round trips; each report replaces the
    previous one. It is told before anything can fail or cancel the call after the round trip (a
    refusal, an empty answer, a later step, too many steps), so every billed token is reported once."""


# --- results ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool use during a call: a native server-side tool, or one of our functions."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    output: str | None = None
    native: bool = False
    error: bool = False


@dataclass(frozen=True, slots=True)
class LLMResult:
    """The answer of one call. `text` is never empty (an empty answer raises `EmptyAnswer`)."""

    text: str
    usage: Usage
    model: str
    provider: ProviderName
    duration_ms: int
    retries: int = 0
    cost: Decimal | None = None
    reasoning: str | None = None
    """Thinking / reasoning summary text when the provider returned it; never part of `text`."""
    tool_calls: tuple[ToolCall, ...] = ()
    steps: int = 1
    """Model round trips made (more than one only in `run_functions`)."""


@dataclass(frozen=True, slots=True)
class ObjectResult(Generic[M]):
    """A validated structured answer and the call that produced it (`result.text` is the raw JSON)."""

    value: M
    result: LLMResult


@dataclass(frozen=True, slots=True)
class StreamDelta:
    """A piece of a streamed answer: answer text, or thinking text (for progress only)."""

    text: str
    kind: Literal["text", "thinking"] = "text"


@runtime_checkable
class LLMStream(Protocol):
    """`async with provider.stream(req) as s: async for d in s: ...`; then `s.result`.

    Leaving the `async with` early (or cancelling the task) closes the HTTP response.
    """

    def __aiter__(self) -> AsyncIterator[StreamDelta]: ...

    @property
    def result(self) -> LLMResult:
        """The final result; raises `RuntimeError` before the stream was read to its end."""
        ...

    @property
    def partial_result(self) -> LLMResult | None:
        """The call so far when it did not finish (cancelled, left early): the usage the provider
        reported before it stopped, with model, duration, retries and cost; None once `result` is
        there or when the provider reported nothing yet. Read it in a cancel/finally path."""
        ...

    async def aclose(self) -> None: ...

    async def collect(self) -> LLMResult:
        """Read the whole stream (no progress) and return the result."""
        ...

    async def __aenter__(self) -> LLMStream: ...

    async def __aexit__(self, *exc: object) -> None: ...


FunctionHandler = Callable[[dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class FunctionTool:
    """A function the model may call in `run_functions`.

    `parameters` is a JSON schema (type object). `handler` receives the parsed arguments and returns
    anything JSON-serialisable (a `str` is passed as is). An exception from the handler is fed back
    to the model as an error result (the loop goes on); `ProviderError`s propagate.
    """

    name: str
    description: str
    parameters: Mapping[str, Any]
    handler: FunctionHandler


# --- errors -------------------------------------------------------------------------------------


class ProviderError(Exception):
    """Base of every provider failure. `str(err)` is a message a model or user can act on."""

    def __init__(
        self,
        message: str,
        *,
        provider: ProviderName | None = None,
        retries: int = 0,
        partial: LLMResult | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.retries = retries
        self.partial = partial
        """The call as far as the provider answered it, when it reported usage before the failure (a
        structured answer that does not fit the schema, an empty answer, a stream that broke or was
        refused mid-answer): tokens that were billed. For streams it holds what the wire reported up
        to the failure (see `streaming.py`); None when nothing was reported."""

    def __str__(self) -> str:
        where = f"{self.provider}: " if self.provider else ""
        tries = f" (after {self.retries} retr{'y' if self.retries == 1 else 'ies'})" if self.retries else ""
        return f"{where}{self.message}{tries}"


class MissingAPIKey(ProviderError):
    """No key configured; the message names the environment variable to set."""


class AuthenticationFailed(ProviderError):
    """The provider rejected the key (401/403)."""


class BadRequest(ProviderError):
    """The provider rejected the request itself (400/404/422): wrong model id, bad parameter."""


class RateLimited(ProviderError):
    """429 still returned after the retries."""


class ProviderUnavailable(ProviderError):
    """5xx, timeouts or connection failures still happening after the retries."""


class Refused(ProviderError):
    """The model refused, or a safety filter blocked the prompt or the answer."""


class EmptyAnswer(ProviderError):
    """The model returned no answer text."""


class SchemaMismatch(ProviderError):
    """The structured answer is not valid JSON for the requested model."""


class StreamInterrupted(ProviderError):
    """The stream broke after some of the answer was already delivered (not retried, to avoid
    duplicating output). Re-run the call."""


class UnsupportedFeature(ProviderError):
    """The provider (or its SDK) cannot do what was asked, e.g. a native tool it does not have."""


class TooManySteps(ProviderError):
    """`run_functions` reached `max_steps` while the model still wanted to call functions."""


# --- the interface ------------------------------------------------------------------------------


@runtime_checkable
class LLMProvider(Protocol):
    """One provider adapter (google, openai, anthropic). Build one with `registry.provider_for`."""

    name: ProviderName

    async def generate(self, request: LLMRequest) -> LLMResult: ...

    def stream(self, request: LLMRequest) -> LLMStream: ...

    async def generate_object(self, request: LLMRequest, schema: type[M]) -> ObjectResult[M]: ...

    async def generate_with_native_tools(
        self, request: LLMRequest, tools: Sequence[NativeTool]
    ) -> LLMResult: ...

    async def run_functions(
        self, request: LLMRequest, functions: Sequence[FunctionTool], *, max_steps: int = 5
    ) -> LLMResult: ...

    async def aclose(self) -> None: ...
