"""The one model-call loop of every non-streamed call (`generate`, `generate_object`,
`generate_with_native_tools`, `run_functions`), shared by the adapters.

An adapter supplies an `Exchange`: one conversation in its provider's wire format — send it once,
say what a response billed, read a response into a `Step`, and append the model's turn and the
results of the functions it asked for. `converse` does the rest, once for every provider:

- the loop: send, bill, read; run the functions the model asked for and send again (at most
  `max_steps` round trips, then `TooManySteps`); go on after a paused turn (Anthropic `pause_turn`);
- billing: every round trip's usage is added to the call and reported to `LLMRequest.on_billed` as
  soon as the response is in (`CallTracker.bill`), before reading it can refuse or find it empty, so
  a call that fails later (a refusal, an empty answer, a failed later step, too many steps) still
  has every billed token reported, and its `ProviderError.partial` holds them;
- retries: the SDK's HTTP retries, counted per call (`CallTracker.retries`, also on the error);
- cancellation and failure: every HTTP response the call opened is closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from artificer.agents.providers.base import (
    EmptyAnswer,
    FunctionTool,
    LLMRequest,
    LLMResult,
    ProviderError,
    ProviderName,
    ToolCall,
    TooManySteps,
    Usage,
)
from artificer.agents.providers.functions import by_name, call_function
from artificer.agents.providers.streaming import Translate
from artificer.agents.providers.tracking import CallTracker

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class FunctionRequest:
    """One function the model asked for."""

    name: str
    arguments: dict[str, Any] | None
    """None when the model sent arguments that are not a JSON object."""
    id: str | None = None
    """The provider's id of the request, echoed in the result."""


@dataclass(frozen=True, slots=True)
class Step:
    """What one response said, read by the adapter."""

    text: str = ""
    reasoning: str = ""
    tool_calls: Sequence[ToolCall] = ()
    """Native (server-side) tool uses."""
    functions: Sequence[FunctionRequest] = ()
    """Functions the model asks us to run before it answers."""
    paused: bool = False
    """The model's turn is not over (Anthropic `pause_turn`): send the conversation again."""
    finish: str = ""
    """Why the model stopped, in the provider's words (`finish reason STOP`), for an empty answer."""


@dataclass(frozen=True, slots=True)
class FunctionResult:
    """A function the model asked for and what running it gave."""

    request: FunctionRequest
    call: ToolCall


class Exchange(Protocol[R]):
    """One conversation with the model in one provider's wire format: what differs between adapters."""

    async def send(self) -> R:
        """Send the conversation as it is now (the SDK call; `converse` counts it and translates its
        failures)."""
        ...

    def billed(self, response: R) -> tuple[Usage, str | None]:
        """The usage a response reports and the model version that answered."""
        ...

    def read(self, response: R) -> Step:
        """What a response said; raises `Refused` when the model or a filter refused."""
        ...

    def extend(self, response: R, results: Sequence[FunctionResult]) -> None:
        """Append the model's turn and the results of the functions it asked for (none after a paused
        turn) to the conversation."""
        ...


@dataclass
class _Answer:
    """What the steps of one call said so far."""

    text: list[str] = field(default_factory=list)
    """The answer of the current turn (a paused turn goes on with the same answer)."""
    reasoning: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)


async def converse(
    exchange: Exchange[Any],
    request: LLMRequest,
    *,
    provider: ProviderName,
    translate: Translate,
    functions: Sequence[FunctionTool] = (),
    max_steps: int = 1,
) -> LLMResult:
    """Run the conversation to the model's answer: at most `max_steps` round trips (see the module)."""
    table = by_name(functions)
    tracker = CallTracker(request, provider)
    answer = _Answer()
    step = 0
    try:
        for step in range(1, max_steps + 1):
            with tracker.request(translate):
                response = await exchange.send()
            tracker.bill(*exchange.billed(response))
            said = exchange.read(response)
            if said.reasoning:
                answer.reasoning.append(said.reasoning)
            answer.tool_calls.extend(said.tool_calls)
            if said.functions:
                results = [FunctionResult(f, await _run(table, f)) for f in said.functions]
                answer.tool_calls.extend(r.call for r in results)
                answer.text.clear()
                exchange.extend(response, results)
                continue
            answer.text.append(said.text)
            if said.paused and step < max_steps:
                exchange.extend(response, ())
                continue
            text = "".join(answer.text)
            if not text.strip():
                raise EmptyAnswer(
                    f"the model returned no answer text ({said.finish or 'no finish reason'}); "
                    "rephrase the request or raise the output token limit",
                    provider=provider,
                )
            return tracker.result(
                text=text, reasoning="\n".join(answer.reasoning), tool_calls=answer.tool_calls, steps=step
            )
        raise TooManySteps(
            f"the model still wanted to call functions after {max_steps} steps; "
            "narrow the request or allow more steps",
            provider=provider,
        )
    except ProviderError as err:
        err.retries = tracker.retries
        if err.partial is None:  # the billed round trips, for the logs
            err.partial = tracker.partial(
                reasoning="\n".join(answer.reasoning), tool_calls=answer.tool_calls, steps=step
            )
        raise
    finally:
        await tracker.close_responses()


async def _run(table: dict[str, FunctionTool], wanted: FunctionRequest) -> ToolCall:
    if wanted.arguments is None:
        return ToolCall(
            name=wanted.name,
            output="Error: the arguments were not a JSON object; call the function again",
            error=True,
        )
    return await call_function(table, wanted.name, wanted.arguments)
