"""Claude through the official `anthropic` SDK (Messages API).

- thinking: `thinking {type: enabled, budget_tokens}` (at least 1024); `max_tokens` is raised by
  the budget so the answer keeps its room, and `temperature` is not sent (extended thinking only
  allows the default). Thinking blocks go to `LLMResult.reasoning`, never to `text`.
- usage: `input_tokens` + `cache_creation_input_tokens` + `cache_read_input_tokens` → input (the
  API's `input_tokens` leaves the cached ones out; `Usage.input_tokens` counts them, as OpenAI and
  Gemini do), the last two → cache writes / reads, `output_tokens` → output (it includes thinking),
  `output_tokens_details.thinking_tokens` → reasoning, total = input + output.
  A stream reports the input tokens at `message_start` and the output at `message_delta`, so a
  stream that breaks or is cancelled mid-answer keeps at least the input tokens.
- retries: the SDK's own (`max_retries`; 408/409/429/5xx/529 and connection errors, honouring
  `Retry-After`/`retry-after-ms`).
- refusals: `stop_reason: "refusal"` → `Refused`.
- native tools: `web_search_20250305`, `web_fetch_20250910`, `code_execution_20250825`; a
  `pause_turn` (a long server-side tool turn) is continued up to 4 times.
- structured objects: `output_config.format` (JSON schema, via the SDK's `transform_schema`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Any

import anthropic
from artificer.agents.providers import failures
from artificer.agents.providers.base import (
    DEFAULT_THINKING_BUDGET,
    FunctionTool,
    LLMRequest,
    LLMResult,
    M,
    NativeTool,
    ObjectResult,
    ProviderError,
    Refused,
    SchemaMismatch,
    StreamDelta,
    ToolCall,
    Usage,
)
from artificer.agents.providers.loop import FunctionRequest, FunctionResult, Step, converse
from artificer.agents.providers.streaming import OPENED, ResultStream, StreamEnd, StreamItem, UsageReport
from artificer.agents.providers.structured import validate_object
from artificer.agents.providers.tracking import tracking_http_client

DEFAULT_MAX_TOKENS = 8192
MAX_PAUSE_CONTINUATIONS = 4
_NATIVE_TOOLS: dict[str, dict[str, Any]] = {
    "web_search": {"type": "web_search_20250305", "name": "web_search"},
    "url_context": {"type": "web_fetch_20250910", "name": "web_fetch"},
    "code_execution": {"type": "code_execution_20250825", "name": "code_execution"},
}


def _usage(usage: Any) -> Usage:
    if usage is None:
        return Usage()
    read = getattr(usage, "cache_read_input_tokens", None) or 0
    written = getattr(usage, "cache_creation_input_tokens", None) or 0
    prompt = (usage.input_tokens or 0) + read + written
    output = usage.output_tokens or 0
    details = getattr(usage, "output_tokens_details", None)
    thinking = (getattr(details, "thinking_tokens", None) or 0) if details is not None else 0
    return Usage(
        input_tokens=prompt,
        output_tokens=output,
        reasoning_tokens=thinking,
        total_tokens=prompt + output,
        cache_read_tokens=read,
        cache_write_tokens=written,
    )


def _refused(message: Any) -> Refused:
    details = getattr(message, "stop_details", None)
    explanation = getattr(details, "explanation", None) or ""
    category = getattr(details, "category", None) or ""
    said = ": " + " ".join(f"{category} {explanation}".split())[:300] if (category or explanation) else ""
    return Refused(f"the model refused to answer{said}; rephrase the request", provider="anthropic")


def _result_output(block: Any) -> tuple[str, bool]:
    """The readable output of a server tool result block, and whether it is an error."""
    content = getattr(block, "content", None)
    if content is None:
        return "", False
    error_code = getattr(content, "error_code", None)
    if error_code:
        return f"error: {error_code}", True
    if isinstance(content, list):
        lines = [
            f"{getattr(item, 'title', '') or ''} {getattr(item, 'url', '') or ''}".strip() for item in content
        ]
        return "\n".join(line for line in lines if line), False
    stdout = getattr(content, "stdout", None)
    if stdout is not None:
        stderr = getattr(content, "stderr", "") or ""
        code = getattr(content, "return_code", 0) or 0
        return stdout + (f"\n{stderr}" if stderr else ""), code != 0
    url = getattr(content, "url", None)
    if url:
        return str(url), False
    return "", False


class _Answer:
    def __init__(self) -> None:
        self.text: list[str] = []
        self.thinking: list[str] = []
        self.tool_calls: list[ToolCall] = []
        self.tool_uses: list[Any] = []

    def read(self, message: Any) -> None:
        if message.stop_reason == "refusal":
            raise _refused(message)
        pending: dict[str, ToolCall] = {}
        for block in message.content or []:
            kind = block.type
            if kind == "text":
                self.text.append(block.text)
            elif kind == "thinking":
                self.thinking.append(block.thinking)
            elif kind == "tool_use":
                self.tool_uses.append(block)
            elif kind == "server_tool_use":
                pending[block.id] = ToolCall(name=block.name, arguments=dict(block.input or {}), native=True)
                self.tool_calls.append(pending[block.id])
            elif kind.endswith("_tool_result"):
                started = pending.get(getattr(block, "tool_use_id", ""))
                output, error = _result_output(block)
                done = ToolCall(
                    name=started.name if started else kind.removesuffix("_tool_result"),
                    arguments=started.arguments if started else {},
                    output=output,
                    native=True,
                    error=error,
                )
                if started is not None:
                    self.tool_calls[self.tool_calls.index(started)] = done
                else:
                    self.tool_calls.append(done)


class AnthropicProvider:
    name = "anthropic"

    def __init__(
        self, *, api_key: str, base_url: str | None = None, timeout: float = 120.0, max_retries: int = 3
    ) -> None:
        self._max_retries = max_retries
        self._http = tracking_http_client(timeout=timeout)
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            http_client=self._http,
        )

    async def aclose(self) -> None:
        await self._client.close()

    # --- building requests ------------------------------------------------------------------------

    def _params(self, request: LLMRequest) -> dict[str, Any]:
        max_tokens = request.max_output_tokens or DEFAULT_MAX_TOKENS
        params: dict[str, Any] = {
            "model": request.model,
            "messages": [{"role": "user", "content": request.prompt}],
        }
        if request.system:
            params["system"] = request.system
        if request.thinking:
            budget = max(1024, request.thinking_budget or DEFAULT_THINKING_BUDGET)
            params["thinking"] = {"type": "enabled", "budget_tokens": budget}
            max_tokens += budget
        params["max_tokens"] = max_tokens
        return params

    def _translate(self, exc: BaseException, retries: int) -> ProviderError | None:
        """The typed error for an SDK or transport failure; None for anything else (a bug)."""
        return failures.from_sdk_error(anthropic, "anthropic", exc, retries)

    async def _converse(
        self,
        request: LLMRequest,
        params: dict[str, Any],
        functions: Sequence[FunctionTool] = (),
        max_steps: int = MAX_PAUSE_CONTINUATIONS + 1,
    ) -> LLMResult:
        """The call, continuing `pause_turn`s (long server-side tool turns) while steps remain."""
        return await converse(
            _Messages(self._client, params),
            request,
            provider="anthropic",
            translate=self._translate,
            functions=functions,
            max_steps=max_steps,
        )

    # --- the interface ----------------------------------------------------------------------------

    async def generate(self, request: LLMRequest) -> LLMResult:
        return await self._converse(request, self._params(request))

    def stream(self, request: LLMRequest) -> ResultStream:
        params = {**self._params(request), "stream": True}

        async def attempt() -> AsyncGenerator[StreamItem, None]:
            events = await self._client.messages.create(**params)
            yield OPENED
            input_usage: Any = None
            final_usage: Any = None
            model: str | None = None
            stop_reason: str | None = None
            finished = False
            try:
                async for event in events:
                    kind = event.type
                    if kind == "message_start":
                        input_usage = event.message.usage
                        model = event.message.model
                        yield UsageReport(_usage(input_usage), model)
                    elif kind == "content_block_delta":
                        delta = event.delta
                        if delta.type == "text_delta":
                            yield StreamDelta(delta.text)
                        elif delta.type == "thinking_delta":
                            yield StreamDelta(delta.thinking, "thinking")
                    elif kind == "message_delta":
                        final_usage = event.usage
                        yield UsageReport(_merge_stream_usage(input_usage, final_usage), model)
                        stop_reason = event.delta.stop_reason
                        if stop_reason == "refusal":
                            raise _refused(event.delta)
                    elif kind == "message_stop":
                        finished = True
            finally:
                await events.close()
            if finished:
                yield StreamEnd(usage=_merge_stream_usage(input_usage, final_usage), model=model)

        return ResultStream(
            provider="anthropic",
            request=request,
            attempt=attempt,
            translate=self._translate,
            is_dropped=_is_dropped,
            max_reissues=self._max_retries,
        )

    async def generate_object(self, request: LLMRequest, schema: type[M]) -> ObjectResult[M]:
        params = self._params(request)
        params["output_config"] = {
            "format": {"type": "json_schema", "schema": anthropic.transform_schema(schema)}
        }
        result = await self._converse(request, params)
        try:
            value = validate_object(result.text, schema, provider="anthropic", retries=result.retries)
        except SchemaMismatch as err:
            err.partial = result  # the full answer was billed
            raise
        return ObjectResult(value=value, result=result)

    async def generate_with_native_tools(self, request: LLMRequest, tools: Sequence[NativeTool]) -> LLMResult:
        params = self._params(request)
        native = [_NATIVE_TOOLS[t] for t in dict.fromkeys(tools)]
        if native:
            params["tools"] = native
        return await self._converse(request, params)

    async def run_functions(
        self, request: LLMRequest, functions: Sequence[FunctionTool], *, max_steps: int = 5
    ) -> LLMResult:
        params = self._params(request)
        params["tools"] = [
            {"name": f.name, "description": f.description, "input_schema": dict(f.parameters)}
            for f in functions
        ]
        return await self._converse(request, params, functions, max_steps)


class _Messages:
    """The `Exchange` of the Messages API: the messages so far, sent with the same parameters."""

    def __init__(self, client: anthropic.AsyncAnthropic, params: dict[str, Any]) -> None:
        self._client = client
        self._params = params

    async def send(self) -> Any:
        return await self._client.messages.create(**self._params)

    def billed(self, message: Any) -> tuple[Usage, str | None]:
        return _usage(message.usage), message.model

    def read(self, message: Any) -> Step:
        answer = _Answer()
        answer.read(message)
        return Step(
            text="".join(answer.text),
            reasoning="".join(answer.thinking),
            tool_calls=answer.tool_calls,
            functions=[
                FunctionRequest(use.name, use.input if isinstance(use.input, dict) else {}, use.id)
                for use in answer.tool_uses
            ],
            paused=message.stop_reason == "pause_turn",
            finish=f"stop reason {message.stop_reason or 'none'}",
        )

    def extend(self, message: Any, results: Sequence[FunctionResult]) -> None:
        messages: list[dict[str, Any]] = self._params["messages"]
        messages.append(
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in message.content]}
        )
        if results:
            messages.append(
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": r.request.id,
                            "content": r.call.output or "",
                            "is_error": r.call.error,
                        }
                        for r in results
                    ],
                }
            )


def _merge_stream_usage(start: Any, final: Any) -> Usage:
    """`message_start` carries the input tokens (and the cache reads/writes); `message_delta` the
    (cumulative) output tokens, and the input counts again when the API sends them there."""
    first = _usage(start)
    if final is None:
        return first
    prompt, read, written = first.input_tokens, first.cache_read_tokens, first.cache_write_tokens
    if getattr(final, "input_tokens", None):
        read = getattr(final, "cache_read_input_tokens", None) or 0
        written = getattr(final, "cache_creation_input_tokens", None) or 0
        prompt = (final.input_tokens or 0) + read + written
    output = final.output_tokens or 0
    details = getattr(final, "output_tokens_details", None)
    thinking = (
        (getattr(details, "thinking_tokens", None) or 0) if details is not None else first.reasoning_tokens
    )
    return Usage(
        input_tokens=prompt,
        output_tokens=output,
        reasoning_tokens=thinking,
        total_tokens=prompt + output,
        cache_read_tokens=read,
        cache_write_tokens=written,
    )


def _is_dropped(exc: BaseException) -> bool:
    """A broken connection, or an `overloaded_error`/`api_error` event in the middle of the stream."""
    if failures.is_transport_error(exc) or isinstance(exc, anthropic.APIConnectionError):
        return True
    if not isinstance(exc, anthropic.APIStatusError):
        return False
    body: dict[str, Any] = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error")
    kind = error.get("type") if isinstance(error, dict) else None
    return exc.status_code >= 500 or kind in ("overloaded_error", "api_error")
