"""The provider an agent call is given: the server's shared provider, watched for the pipeline."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from artificer.agents.providers.base import (
    FunctionTool,
    LLMProvider,
    LLMRequest,
    LLMResult,
    LLMStream,
    M,
    NativeTool,
    ObjectResult,
)


class WatchedProvider:
    """The call's provider, noting whether the agent asked it for anything (`used`: a call that was
    refused before any model request gives its rate-limit slot back, one that reached the model not),
    and every model call the provider billed (`billed`).

    `billed` holds one `LLMResult` per provider call (`generate`, `stream`, `run_functions` …) that
    reported usage: its round trips summed, as `LLMRequest.on_billed` last told it. The provider tells
    it after every round trip, before anything can fail or cancel the call, so the tokens of a call that
    ended in an error, a refusal, an empty answer, too many function steps or a cancellation are there
    too: the pipeline logs exactly these, one usage row each, whatever the agent did with the results.
    """

    def __init__(self, inner: LLMProvider, billed: list[LLMResult] | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.used = False
        self.billed: list[LLMResult] = billed if billed is not None else []

    def _watch(self, request: LLMRequest) -> LLMRequest:
        """`request`, reporting its billed usage into a slot of `billed` of its own."""
        self.used = True
        slot: int | None = None
        also = request.on_billed

        def billed(result: LLMResult) -> None:
            nonlocal slot
            if slot is None:
                slot = len(self.billed)
                self.billed.append(result)
            else:
                self.billed[slot] = result  # the same call, more round trips
            if also is not None:
                also(result)

        return dataclasses.replace(request, on_billed=billed)

    async def generate(self, request: LLMRequest) -> LLMResult:
        return await self.inner.generate(self._watch(request))

    def stream(self, request: LLMRequest) -> LLMStream:
        return self.inner.stream(self._watch(request))

    async def generate_object(self, request: LLMRequest, schema: type[M]) -> ObjectResult[M]:
        return await self.inner.generate_object(self._watch(request), schema)

    async def generate_with_native_tools(self, request: LLMRequest, tools: Sequence[NativeTool]) -> LLMResult:
        return await self.inner.generate_with_native_tools(self._watch(request), tools)

    async def run_functions(
        self, request: LLMRequest, functions: Sequence[FunctionTool], *, max_steps: int = 5
    ) -> LLMResult:
        return await self.inner.run_functions(self._watch(request), functions, max_steps=max_steps)

    async def aclose(self) -> None:  # the provider is shared by the server; one call never closes it
        return None
