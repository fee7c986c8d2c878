"""Gemini through the official `google-genai` SDK (`client.aio.models.generate_content[_stream]`).

- thinking: `thinking_config {include_thoughts: true, thinking_budget}`; thought parts go to
  `LLMResult.reasoning`, never to `text`. Without `thinking` the model's default applies.
- usage: `promptTokenCount` (+ `toolUsePromptTokenCount`, billed as input) → input (it includes the
  cached tokens), `cachedContentTokenCount` → cache reads, `candidatesTokenCount` → output,
  `thoughtsTokenCount` → reasoning (reported apart from output, so billed on top of it),
  `totalTokenCount` → total.
  A stream carries `usageMetadata` on every chunk, so a stream that breaks or is cancelled keeps
  the last chunk's counts.
- retries: the SDK's `HttpRetryOptions` (408/429/5xx, connection errors). Its backoff ignores
  `Retry-After`, so our HTTP client waits out a `Retry-After` itself before the SDK retries.
- refusals: `promptFeedback.blockReason`, or a candidate finishing with SAFETY and kin → `Refused`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Any

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
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

_BLOCKING_FINISH = {
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
}
_RETRY_STATUSES = [408, 429, 500, 502, 503, 504]


class _RequestConfig(types.GenerateContentConfig):
    """`GenerateContentConfig` with a constant-time `in`; same fields, same wire request.

    The SDK turns the config into the request body by looking up ~35 field names with
    `name in config`. A pydantic model has no `__contains__`, so each lookup walks every
    (name, value) pair of the ~60 fields and never matches (a name is not a pair), before falling
    back to `getattr`. That walk was most of what a call through this adapter cost over a bare SDK
    call; answering False at once gives the SDK the same answer and the same body. The SDK's copies
    of the config (`model_copy`) and its request model keep this class.
    """

    def __contains__(self, key: object) -> bool:
        return False


def _usage(metadata: types.GenerateContentResponseUsageMetadata | None) -> Usage:
    if metadata is None:
        return Usage(reasoning_in_output=False)
    prompt = (metadata.prompt_token_count or 0) + (metadata.tool_use_prompt_token_count or 0)
    output = metadata.candidates_token_count or 0
    thoughts = metadata.thoughts_token_count or 0
    return Usage(
        input_tokens=prompt,
        output_tokens=output,
        reasoning_tokens=thoughts,
        total_tokens=metadata.total_token_count or prompt + output + thoughts,
        reasoning_in_output=False,
        cache_read_tokens=metadata.cached_content_token_count or 0,
    )


def _enum_name(value: Any) -> str:
    return str(getattr(value, "name", value) or "")


class _Answer:
    """What one response (or the chunks of one stream) said."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.thinking: list[str] = []
        self.tool_calls: list[ToolCall] = []
        self.function_calls: list[types.FunctionCall] = []
        self.usage = Usage(reasoning_in_output=False)
        self.model: str | None = None
        self.finish: str = ""

    def read(self, response: types.GenerateContentResponse) -> list[StreamDelta]:
        """Take in one response (or stream chunk); return its text pieces in order."""
        feedback = response.prompt_feedback
        if feedback is not None and feedback.block_reason is not None:
            reason = _enum_name(feedback.block_reason)
            raise Refused(
                f"the prompt was blocked by the safety filter ({reason}); rephrase the request",
                provider="google",
            )
        if response.usage_metadata is not None:
            self.usage = _usage(response.usage_metadata)
        self.model = response.model_version or self.model
        deltas: list[StreamDelta] = []
        if not response.candidates:
            return deltas
        candidate = response.candidates[0]
        if candidate.content is not None:
            for part in candidate.content.parts or []:
                if part.text is not None:
                    if part.thought:
                        self.thinking.append(part.text)
                        deltas.append(StreamDelta(part.text, "thinking"))
                    else:
                        self.text.append(part.text)
                        deltas.append(StreamDelta(part.text))
                elif part.executable_code is not None:
                    self.tool_calls.append(
                        ToolCall(
                            name="code_execution",
                            arguments={
                                "code": part.executable_code.code or "",
                                "language": _enum_name(part.executable_code.language),
                            },
                            native=True,
                        )
                    )
                elif part.code_execution_result is not None:
                    result = part.code_execution_result
                    failed = _enum_name(result.outcome) not in ("OUTCOME_OK", "")
                    if self.tool_calls and self.tool_calls[-1].name == "code_execution":
                        last = self.tool_calls.pop()
                        self.tool_calls.append(
                            ToolCall(
                                last.name, last.arguments, result.output or "", native=True, error=failed
                            )
                        )
                    else:
                        self.tool_calls.append(
                            ToolCall("code_execution", {}, result.output or "", native=True, error=failed)
                        )
                elif part.function_call is not None:
                    self.function_calls.append(part.function_call)
        grounding = candidate.grounding_metadata
        if grounding is not None and grounding.web_search_queries:
            sources = [
                f"{chunk.web.title or ''} {chunk.web.uri or ''}".strip()
                for chunk in grounding.grounding_chunks or []
                if chunk.web is not None
            ]
            self.tool_calls.append(
                ToolCall(
                    name="google_search",
                    arguments={"queries": list(grounding.web_search_queries)},
                    output="\n".join(sources),
                    native=True,
                )
            )
        url_meta = candidate.url_context_metadata
        if url_meta is not None and url_meta.url_metadata:
            self.tool_calls.append(
                ToolCall(
                    name="url_context",
                    arguments={"urls": [m.retrieved_url or "" for m in url_meta.url_metadata]},
                    output="\n".join(
                        f"{m.retrieved_url}: {_enum_name(m.url_retrieval_status)}"
                        for m in url_meta.url_metadata
                    ),
                    native=True,
                )
            )
        if candidate.finish_reason is not None:
            self.finish = _enum_name(candidate.finish_reason)
            if self.finish in _BLOCKING_FINISH:
                raise Refused(
                    f"the answer was blocked by the safety filter ({self.finish}); rephrase the request",
                    provider="google",
                )
        return deltas


class GoogleProvider:
    name = "google"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 3,
        retry_initial_delay: float = 1.0,
        retry_max_delay: float = 30.0,
    ) -> None:
        self._max_retries = max_retries
        self._http = tracking_http_client(timeout=timeout, honour_retry_after_within=max_retries + 1)
        options = types.HttpOptions(
            base_url=base_url,
            api_version="v1beta",
            timeout=int(timeout * 1000),
            retry_options=types.HttpRetryOptions(
                attempts=max_retries + 1,
                initial_delay=retry_initial_delay,
                max_delay=retry_max_delay,
                jitter=retry_initial_delay,
                http_status_codes=_RETRY_STATUSES,
            ),
            httpx_async_client=self._http,
        )
        self._client = genai.Client(api_key=api_key, http_options=options)

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- building requests ------------------------------------------------------------------------

    def _config(self, request: LLMRequest, **extra: Any) -> types.GenerateContentConfig:
        thinking = None
        if request.thinking:
            thinking = types.ThinkingConfig(
                include_thoughts=True, thinking_budget=request.thinking_budget or DEFAULT_THINKING_BUDGET
            )
        return _RequestConfig(
            system_instruction=request.system,
            temperature=request.temperature,
            max_output_tokens=request.max_output_tokens,
            thinking_config=thinking,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            **extra,
        )

    def _translate(self, exc: BaseException, retries: int) -> ProviderError | None:
        """The typed error for an SDK or transport failure; None for anything else (a bug)."""
        if isinstance(exc, ProviderError):
            exc.retries = retries
            return exc
        if isinstance(exc, genai_errors.APIError):
            return failures.from_status("google", exc.code, exc.message or exc.status or "", retries)
        if failures.is_transport_error(exc):
            return failures.from_transport("google", exc, retries)
        return None

    async def _converse(
        self,
        request: LLMRequest,
        config: types.GenerateContentConfig,
        functions: Sequence[FunctionTool] = (),
        max_steps: int = 1,
    ) -> LLMResult:
        return await converse(
            _Conversation(self._client, request, config),
            request,
            provider="google",
            translate=self._translate,
            functions=functions,
            max_steps=max_steps,
        )

    # --- the interface ----------------------------------------------------------------------------

    async def generate(self, request: LLMRequest) -> LLMResult:
        return await self._converse(request, self._config(request))

    def stream(self, request: LLMRequest) -> ResultStream:
        config = self._config(request)

        async def attempt() -> AsyncGenerator[StreamItem, None]:
            chunks = await self._client.aio.models.generate_content_stream(
                model=request.model, contents=request.prompt, config=config
            )
            yield OPENED
            answer = _Answer()
            try:
                async for chunk in chunks:
                    if chunk.usage_metadata is not None:  # on every chunk: the running count
                        yield UsageReport(_usage(chunk.usage_metadata), chunk.model_version or answer.model)
                    for delta in answer.read(chunk):
                        yield delta
            finally:
                close = getattr(chunks, "aclose", None)
                if close is not None:
                    await close()
            if answer.finish:
                yield StreamEnd(usage=answer.usage, model=answer.model, tool_calls=answer.tool_calls)

        return ResultStream(
            provider="google",
            request=request,
            attempt=attempt,
            translate=self._translate,
            is_dropped=failures.is_transport_error,
            max_reissues=self._max_retries,
        )

    async def generate_object(self, request: LLMRequest, schema: type[M]) -> ObjectResult[M]:
        config = self._config(
            request, response_mime_type="application/json", response_json_schema=schema.model_json_schema()
        )
        result = await self._converse(request, config)
        try:
            value = validate_object(result.text, schema, provider="google", retries=result.retries)
        except SchemaMismatch as err:
            err.partial = result  # the full answer was billed
            raise
        return ObjectResult(value=value, result=result)

    async def generate_with_native_tools(self, request: LLMRequest, tools: Sequence[NativeTool]) -> LLMResult:
        wanted = set(tools)
        native: list[types.Tool] = []
        if "web_search" in wanted:
            native.append(types.Tool(google_search=types.GoogleSearch()))
        if "url_context" in wanted:
            native.append(types.Tool(url_context=types.UrlContext()))
        if "code_execution" in wanted:
            native.append(types.Tool(code_execution=types.ToolCodeExecution()))
        return await self._converse(request, self._config(request, tools=native or None))

    async def run_functions(
        self, request: LLMRequest, functions: Sequence[FunctionTool], *, max_steps: int = 5
    ) -> LLMResult:
        declarations = [
            types.FunctionDeclaration(
                name=f.name, description=f.description, parameters_json_schema=dict(f.parameters)
            )
            for f in functions
        ]
        config = self._config(request, tools=[types.Tool(function_declarations=declarations)])
        return await self._converse(request, config, functions, max_steps)


class _Conversation:
    """The `Exchange` of `generateContent`: the contents so far, sent with one config."""

    def __init__(
        self, client: genai.Client, request: LLMRequest, config: types.GenerateContentConfig
    ) -> None:
        self._client = client
        self._model = request.model
        self._config = config
        self._contents: list[types.Content] = [
            types.Content(role="user", parts=[types.Part(text=request.prompt)])
        ]

    async def send(self) -> types.GenerateContentResponse:
        return await self._client.aio.models.generate_content(
            model=self._model, contents=self._contents, config=self._config
        )

    def billed(self, response: types.GenerateContentResponse) -> tuple[Usage, str | None]:
        return _usage(response.usage_metadata), response.model_version

    def read(self, response: types.GenerateContentResponse) -> Step:
        answer = _Answer()
        answer.read(response)
        return Step(
            text="".join(answer.text),
            reasoning="".join(answer.thinking),
            tool_calls=answer.tool_calls,
            functions=[
                FunctionRequest(c.name or "", dict(c.args or {}), c.id) for c in answer.function_calls
            ],
            finish=f"finish reason {answer.finish or 'none'}",
        )

    def extend(self, response: types.GenerateContentResponse, results: Sequence[FunctionResult]) -> None:
        candidates = response.candidates or []
        if candidates and candidates[0].content is not None:
            self._contents.append(candidates[0].content)
        replies = [
            types.Part(
                function_response=types.FunctionResponse(
                    id=r.request.id,
                    name=r.request.name,
                    response={"error" if r.call.error else "result": r.call.output},
                )
            )
            for r in results
        ]
        if replies:
            self._contents.append(types.Content(role="user", parts=replies))
