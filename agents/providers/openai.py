"""OpenAI through the official `openai` SDK.

Text, streams, structured objects and the function loop use Chat Completions, which every
OpenAI-compatible server (Ollama, vLLM, …) speaks, so `OPENAI_BASE_URL` can point at one of them.
Native tools (web search, code interpreter) exist only in the Responses API, so that call uses it.

- thinking: `reasoning_effort` (Responses: `reasoning {effort, summary: auto}`), from the token
  budget: ≤2048 low, ≤16384 medium, above high. Reasoning models reject `temperature`, so it is not
  sent when thinking is on. Reasoning summaries (Responses) and the `reasoning_content` some
  compatible servers return go to `LLMResult.reasoning`, never to `text`.
- usage: `prompt_tokens`/`input_tokens` → input (it includes the cached tokens),
  `prompt_tokens_details`/`input_tokens_details.cached_tokens` → cache reads,
  `completion_tokens`/`output_tokens` → output (it already includes the reasoning tokens),
  `reasoning_tokens` → reasoning, `total_tokens` → total.
  A Chat Completions stream (`stream_options.include_usage`) reports usage only in its last chunk,
  after the answer: a stream that breaks or is cancelled before it carries no usage (nothing is
  estimated), so no partial usage is logged for it.
- retries: the SDK's own (`max_retries`; 408/409/429/5xx and connection errors, honouring
  `Retry-After`/`retry-after-ms`).
- refusals: a `refusal` message, or finish reason `content_filter` → `Refused`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Any

import openai
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
from artificer.agents.providers.functions import parse_arguments
from artificer.agents.providers.loop import FunctionRequest, FunctionResult, Step, converse
from artificer.agents.providers.streaming import OPENED, ResultStream, StreamEnd, StreamItem, UsageReport
from artificer.agents.providers.structured import validate_object
from artificer.agents.providers.tracking import tracking_http_client
from openai.lib._pydantic import to_strict_json_schema


def reasoning_effort(request: LLMRequest) -> str:
    budget = request.thinking_budget or DEFAULT_THINKING_BUDGET
    if budget <= 2048:
        return "low"
    if budget <= 16384:
        return "medium"
    return "high"


def _chat_usage(usage: Any) -> Usage:
    if usage is None:
        return Usage()
    details = getattr(usage, "completion_tokens_details", None)
    reasoning = (getattr(details, "reasoning_tokens", None) or 0) if details is not None else 0
    prompt = usage.prompt_tokens or 0
    completion = usage.completion_tokens or 0
    return Usage(
        input_tokens=prompt,
        output_tokens=completion,
        reasoning_tokens=reasoning,
        total_tokens=usage.total_tokens or prompt + completion,
        cache_read_tokens=_cached(getattr(usage, "prompt_tokens_details", None)),
    )


def _responses_usage(usage: Any) -> Usage:
    if usage is None:
        return Usage()
    details = getattr(usage, "output_tokens_details", None)
    reasoning = (getattr(details, "reasoning_tokens", None) or 0) if details is not None else 0
    return Usage(
        input_tokens=usage.input_tokens or 0,
        output_tokens=usage.output_tokens or 0,
        reasoning_tokens=reasoning,
        total_tokens=usage.total_tokens or (usage.input_tokens or 0) + (usage.output_tokens or 0),
        cache_read_tokens=_cached(getattr(usage, "input_tokens_details", None)),
    )


def _cached(details: Any) -> int:
    """`cached_tokens` of `prompt_tokens_details` / `input_tokens_details` (part of the prompt count)."""
    return (getattr(details, "cached_tokens", None) or 0) if details is not None else 0


def _extra(obj: Any, *names: str) -> str:
    """A field some compatible servers add (e.g. `reasoning_content`), if present."""
    extra = getattr(obj, "model_extra", None) or {}
    for name in names:
        value = extra.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def _refused(detail: str) -> Refused:
    detail = " ".join(detail.split())[:300]
    return Refused(
        f"the model refused to answer{': ' + detail if detail else ''}; rephrase the request",
        provider="openai",
    )


class OpenAIProvider:
    name = "openai"

    def __init__(
        self, *, api_key: str, base_url: str | None = None, timeout: float = 120.0, max_retries: int = 3
    ) -> None:
        self._max_retries = max_retries
        self._http = tracking_http_client(timeout=timeout)
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            http_client=self._http,
        )

    async def aclose(self) -> None:
        await self._client.close()

    # --- building requests ------------------------------------------------------------------------

    def _chat_params(self, request: LLMRequest) -> dict[str, Any]:
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.append({"role": "user", "content": request.prompt})
        params: dict[str, Any] = {"model": request.model, "messages": messages}
        if request.thinking:
            params["reasoning_effort"] = reasoning_effort(request)
        elif request.temperature is not None:
            params["temperature"] = request.temperature
        if request.max_output_tokens is not None:
            params["max_completion_tokens"] = request.max_output_tokens
        return params

    def _translate(self, exc: BaseException, retries: int) -> ProviderError | None:
        """The typed error for an SDK or transport failure; None for anything else (a bug)."""
        return failures.from_sdk_error(openai, "openai", exc, retries)

    async def _converse(
        self,
        request: LLMRequest,
        params: dict[str, Any],
        functions: Sequence[FunctionTool] = (),
        max_steps: int = 1,
    ) -> LLMResult:
        return await converse(
            _Chat(self._client, params),
            request,
            provider="openai",
            translate=self._translate,
            functions=functions,
            max_steps=max_steps,
        )

    # --- the interface ----------------------------------------------------------------------------

    async def generate(self, request: LLMRequest) -> LLMResult:
        return await self._converse(request, self._chat_params(request))

    def stream(self, request: LLMRequest) -> ResultStream:
        params = {**self._chat_params(request), "stream": True, "stream_options": {"include_usage": True}}

        async def attempt() -> AsyncGenerator[StreamItem, None]:
            chunks = await self._client.chat.completions.create(**params)
            yield OPENED
            finish: str | None = None
            usage = Usage()
            model: str | None = None
            try:
                async for chunk in chunks:
                    model = chunk.model or model
                    if chunk.usage is not None:
                        usage = _chat_usage(chunk.usage)
                        yield UsageReport(usage, model)
                    for choice in chunk.choices:
                        delta = choice.delta
                        if getattr(delta, "refusal", None):
                            raise _refused(delta.refusal)
                        thought = _extra(delta, "reasoning_content", "reasoning")
                        if thought:
                            yield StreamDelta(thought, "thinking")
                        if delta.content:
                            yield StreamDelta(delta.content)
                        if choice.finish_reason:
                            finish = choice.finish_reason
                            if finish == "content_filter":
                                raise _refused("the content filter stopped the answer")
            finally:
                await chunks.close()
            if finish is not None:
                yield StreamEnd(usage=usage, model=model)

        return ResultStream(
            provider="openai",
            request=request,
            attempt=attempt,
            translate=self._translate,
            is_dropped=_is_dropped,
            max_reissues=self._max_retries,
        )

    async def generate_object(self, request: LLMRequest, schema: type[M]) -> ObjectResult[M]:
        params = self._chat_params(request)
        params["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": schema.__name__, "schema": to_strict_json_schema(schema), "strict": True},
        }
        result = await self._converse(request, params)
        try:
            value = validate_object(result.text, schema, provider="openai", retries=result.retries)
        except SchemaMismatch as err:
            err.partial = result  # the full answer was billed
            raise
        return ObjectResult(value=value, result=result)

    async def generate_with_native_tools(self, request: LLMRequest, tools: Sequence[NativeTool]) -> LLMResult:
        wanted = set(tools)
        native: list[dict[str, Any]] = []
        include: list[str] = []
        if wanted & {"web_search", "url_context"}:
            native.append({"type": "web_search"})
            include.append("web_search_call.action.sources")
        if "code_execution" in wanted:
            native.append({"type": "code_interpreter", "container": {"type": "auto"}})
            include.append("code_interpreter_call.outputs")
        params: dict[str, Any] = {"model": request.model, "input": request.prompt}
        if request.system:
            params["instructions"] = request.system
        if request.thinking:
            params["reasoning"] = {"effort": reasoning_effort(request), "summary": "auto"}
        elif request.temperature is not None:
            params["temperature"] = request.temperature
        if request.max_output_tokens is not None:
            params["max_output_tokens"] = request.max_output_tokens
        if native:
            params["tools"] = native
            params["include"] = include
        return await converse(
            _Responses(self._client, params), request, provider="openai", translate=self._translate
        )

    async def run_functions(
        self, request: LLMRequest, functions: Sequence[FunctionTool], *, max_steps: int = 5
    ) -> LLMResult:
        params = self._chat_params(request)
        params["tools"] = [
            {
                "type": "function",
                "function": {"name": f.name, "description": f.description, "parameters": dict(f.parameters)},
            }
            for f in functions
        ]
        return await self._converse(request, params, functions, max_steps)


class _Chat:
    """The `Exchange` of Chat Completions: the messages so far, sent with the same parameters."""

    def __init__(self, client: openai.AsyncOpenAI, params: dict[str, Any]) -> None:
        self._client = client
        self._params = params

    async def send(self) -> Any:
        return await self._client.chat.completions.create(**self._params)

    def billed(self, completion: Any) -> tuple[Usage, str | None]:
        return _chat_usage(completion.usage), completion.model

    def read(self, completion: Any) -> Step:
        if not completion.choices:
            return Step(finish="finish reason none")
        choice = completion.choices[0]
        message = choice.message
        if getattr(message, "refusal", None):
            raise _refused(message.refusal)
        if choice.finish_reason == "content_filter":
            raise _refused("the content filter stopped the answer")
        return Step(
            text=message.content or "",
            reasoning=_extra(message, "reasoning_content", "reasoning"),
            functions=[
                FunctionRequest(c.function.name, parse_arguments(c.function.arguments), c.id)
                for c in message.tool_calls or []
            ],
            finish=f"finish reason {choice.finish_reason or 'none'}",
        )

    def extend(self, completion: Any, results: Sequence[FunctionResult]) -> None:
        message = completion.choices[0].message
        messages: list[dict[str, Any]] = self._params["messages"]
        messages.append(
            {
                "role": "assistant",
                "content": message.content,
                "tool_calls": [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.function.name, "arguments": c.function.arguments},
                    }
                    for c in message.tool_calls or []
                ],
            }
        )
        for result in results:
            messages.append(
                {"role": "tool", "tool_call_id": result.request.id, "content": result.call.output}
            )


class _Responses:
    """The `Exchange` of the Responses API (native tools): one request, no functions, no pauses."""

    def __init__(self, client: openai.AsyncOpenAI, params: dict[str, Any]) -> None:
        self._client = client
        self._params = params

    async def send(self) -> Any:
        return await self._client.responses.create(**self._params)

    def billed(self, response: Any) -> tuple[Usage, str | None]:
        return _responses_usage(response.usage), response.model

    def read(self, response: Any) -> Step:
        return _read_response(response)

    def extend(self, response: Any, results: Sequence[FunctionResult]) -> None:
        raise NotImplementedError("a Responses call here is one round trip")


def _is_dropped(exc: BaseException) -> bool:
    """A broken connection while reading the stream (the SDK wraps it in `APIConnectionError`)."""
    return failures.is_transport_error(exc) or isinstance(exc, openai.APIConnectionError)


def _read_response(response: Any) -> Step:
    """Text, reasoning summary and native tool calls of a Responses API answer."""
    text: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    for item in response.output or []:
        kind = item.type
        if kind == "message":
            for content in item.content or []:
                if content.type == "output_text":
                    text.append(content.text or "")
                elif content.type == "refusal":
                    raise _refused(content.refusal or "")
        elif kind == "reasoning":
            reasoning.extend(s.text for s in item.summary or [] if getattr(s, "text", None))
        elif kind == "web_search_call":
            action = getattr(item, "action", None)
            query = getattr(action, "query", None) or ""
            sources = getattr(action, "sources", None) or []
            calls.append(
                ToolCall(
                    name="web_search",
                    arguments={"query": query},
                    output="\n".join(getattr(s, "url", "") or "" for s in sources),
                    native=True,
                    error=item.status == "failed",
                )
            )
        elif kind == "code_interpreter_call":
            outputs = [getattr(o, "logs", None) or getattr(o, "url", None) or "" for o in item.outputs or []]
            calls.append(
                ToolCall(
                    name="code_interpreter",
                    arguments={"code": item.code or ""},
                    output="\n".join(outputs),
                    native=True,
                    error=item.status == "failed",
                )
            )
    incomplete = getattr(response, "incomplete_details", None)
    if incomplete is not None and getattr(incomplete, "reason", None) == "content_filter":
        raise _refused("the content filter stopped the answer")
    return Step(
        text="".join(text),
        reasoning="\n".join(reasoning),
        tool_calls=calls,
        finish=f"finish reason {getattr(incomplete, 'reason', None) or response.status or 'none'}",
    )
