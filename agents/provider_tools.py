"""The provider tools agent: one free-form request answered with the provider's native server-side tools.

The tool takes `input` (a self-contained request) and an optional `model`; there is no `operation`. The
system prompt is `provider_tools_agent_{provider}.systemPrompt`; the native tools offered are those whose
`tools.<name>.enabled` is true in that row (`NATIVE_TOOLS` maps each provider's toggles to web search,
URL context and code execution). When none is enabled the tool is not listed. The provider runs the tools
on its side (search, fetch, sandboxed code); this server runs no code and stores nothing: the answer, a
summary of each tool use and the source URLs come back as the structured result.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from artificer.agents.base import AgentCall, AgentInputError, AgentOutcome, AgentSpec, Operation
from artificer.agents.providers.base import LLMRequest, NativeTool, ToolCall
from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_INPUT_CHARS = 20_000
MAX_SUMMARY_CHARS = 2_000
"""Longest argument value or tool output kept in a tool call summary (longer ones are cut)."""

NATIVE_TOOLS: Mapping[str, Mapping[str, NativeTool]] = {
    "google": {"googleSearch": "web_search", "urlContext": "url_context", "codeExecution": "code_execution"},
    "openai": {"webSearch": "web_search", "codeInterpreter": "code_execution"},
    "anthropic": {"webSearch": "web_search", "webFetch": "url_context", "codeExecution": "code_execution"},
}
"""Per provider: toggle under `provider_tools_agent_{provider}.tools` → the native tool it enables."""

_KIND_OF_CALL: Mapping[str, NativeTool] = {
    "google_search": "web_search",
    "web_search": "web_search",
    "url_context": "url_context",
    "web_fetch": "url_context",
    "code_execution": "code_execution",
    "code_interpreter": "code_execution",
    "bash_code_execution": "code_execution",
    "text_editor_code_execution": "code_execution",
}
"""The provider's name of a tool use → what it does."""

_URL = re.compile(r"https?://[^\s<>\"'`]+")


def enabled_native_tools(provider: str, tools: Mapping[str, Any]) -> tuple[NativeTool, ...]:
    """The native tools the agent row's `tools` enables for `provider`, in a fixed order, no repeats."""
    wanted: dict[NativeTool, None] = {}
    for toggle, native in NATIVE_TOOLS.get(provider, {}).items():
        value = tools.get(toggle)
        if isinstance(value, Mapping) and value.get("enabled") is True:
            wanted[native] = None
    return tuple(wanted)


class ProviderToolsInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: str = Field(
        min_length=1,
        max_length=MAX_INPUT_CHARS,
        description="A complete, self-contained request in plain language.",
    )
    model: str | None = Field(default=None, description="Model to use.")

    @field_validator("input")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the request is blank; say what to search, read or compute")
        return value


class NativeToolCall(BaseModel):
    name: str = Field(description="The provider's name of the tool (google_search, web_fetch, …).")
    kind: str | None = Field(
        default=None, description="What it does: web_search, url_context or code_execution."
    )
    native: bool = Field(default=True, description="Always true: the provider ran it on its side.")
    arguments: dict[str, Any] = Field(
        default_factory=dict, description="What the model asked for (queries, URLs, code); long values cut."
    )
    output: str | None = Field(default=None, description="What the tool returned; long outputs cut.")
    error: bool = False


class ProviderToolsResult(BaseModel):
    answer: str = Field(description="The model's answer.")
    toolCalls: list[NativeToolCall] = Field(
        default_factory=list, description="The native tools the model used, in order."
    )
    sources: list[str] | None = Field(
        default=None, description="URLs the answer is grounded in (search results, fetched pages)."
    )


def _cut(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_SUMMARY_CHARS:
        return value[:MAX_SUMMARY_CHARS] + "…"
    if isinstance(value, list):
        return [_cut(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _cut(v) for k, v in value.items()}
    return value


def summarise(call: ToolCall) -> NativeToolCall:
    return NativeToolCall(
        name=call.name,
        kind=_KIND_OF_CALL.get(call.name),
        native=call.native,
        arguments=_cut(dict(call.arguments)),
        output=_cut(call.output) if call.output is not None else None,
        error=call.error,
    )


def sources_of(calls: Sequence[ToolCall]) -> list[str]:
    """URLs that search and fetch tool uses returned (not code output), in order, each once."""
    found: dict[str, None] = {}
    for call in calls:
        if _KIND_OF_CALL.get(call.name) not in ("web_search", "url_context") or call.error:
            continue
        texts = [call.output or ""]
        urls = call.arguments.get("urls")
        if isinstance(urls, list):
            texts.extend(str(u) for u in urls)
        for text in texts:
            for match in _URL.findall(text):
                found[match.rstrip(".,;:)]}")] = None
    return list(found)


def _summary_text(result: ProviderToolsResult) -> str:
    if not result.sources:
        return result.answer
    return result.answer + "\n\nSources:\n" + "\n".join(f"- {url}" for url in result.sources)


async def run(call: AgentCall) -> AgentOutcome:
    assert call.provider is not None and call.model is not None
    provider = call.provider.name
    config = call.agent_config
    key = f"provider_tools_agent_{provider}"
    system = config.get("systemPrompt")
    if not isinstance(system, str) or not system.strip():
        raise AgentInputError(
            f"provider_tools_agent is misconfigured: admin_config {key} has no systemPrompt; "
            "ask an admin to set it"
        )
    tools_value = config.get("tools")
    native = enabled_native_tools(provider, tools_value if isinstance(tools_value, Mapping) else {})
    if not native:
        raise AgentInputError(
            f"every tool of provider_tools_agent is disabled (admin_config {key}); ask an admin to enable one"
        )
    args = call.arguments
    assert isinstance(args, ProviderToolsInput)
    request = LLMRequest(
        model=call.model.model_id,
        prompt=args.input,
        system=system,
        temperature=0.7,
        thinking=call.model.thinking,
        pricing=call.model.pricing,
    )
    await call.progress(0.0, None, "working with " + ", ".join(native))
    result = await call.provider.generate_with_native_tools(request, native)
    call.llm_calls.append(result)
    calls = [c for c in result.tool_calls if c.native]
    sources = sources_of(calls)
    output = ProviderToolsResult(
        answer=result.text,
        toolCalls=[summarise(c) for c in calls],
        sources=sources or None,
    )
    return AgentOutcome(
        result=output,
        summary=_summary_text(output),
        metadata={
            "nativeTools": list(native),
            "toolCalls": [c.name for c in calls],
            "sources": len(sources),
        },
    )


def _enabled_when(provider: str, tools: Mapping[str, Any]) -> bool:
    return bool(enabled_native_tools(provider, tools))


SPEC = AgentSpec(
    agent_type="provider_tools_agent",
    chat_tool_key="providerToolsAgent",
    title="Provider tools agent",
    operations=(
        Operation(
            name="answer",
            config_key="",  # enabled by the native tool toggles (`enabled_when`), not one toggle
            operation_type="tool_invocation",
            category="tool_use",
            read_only=True,
            open_world=True,
        ),
    ),
    input_model=ProviderToolsInput,
    output_model=ProviderToolsResult,
    run=run,
    resource_type=None,  # answers only: no artifact
    parameter_keys={"input": "input"},
    enabled_when=_enabled_when,
)
