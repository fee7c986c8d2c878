"""The shape every agent module declares, and what the pipeline hands it for one call.

An agent module (`agents/document.py`, later python/mermaid/…) exports one `AgentSpec`:

- `agent_type`: the `admin_config` key prefix and the MCP tool name (`document_agent`);
- `chat_tool_key`: its entry under `chat_model_agent_{provider}.tools` (`documentAgent`), whose
  description and parameter descriptions the tool shows;
- `operations`: each with the config toggle that enables it (`suggestion` ↔ `suggest`), its annotations,
  and whether it calls a model;
- `input_model` / `output_model`: pydantic models for the tool's input and structured output;
- `run`: `async (AgentCall) -> AgentOutcome`.

The pipeline (server/pipeline.py) owns identity, config, rate limiting and logging; an agent only builds
prompts, calls its provider, and reads and writes through `AgentCall.store`, bound to the caller.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

from artificer.agents.providers.base import LLMProvider, LLMResult, ModelPricing
from artificer.agents.store import Store
from artificer.common.settings import Settings
from pydantic import BaseModel

OperationCategory = Literal["generation", "execution", "tool_use", "streaming", "configuration"]
"""The values `agent_activity_logs.operation_category` allows."""


ErrorCategory = Literal["user", "api"]
"""Whose fault a refused call is: the caller's arguments (`user`) or the model's answer (`api`)."""


class AgentInputError(Exception):
    """The caller's arguments cannot be served (unknown id, wrong kind, bad version …).

    The message says what to change; the pipeline returns it as a tool error and writes nothing.
    `category` is the `error_logs.error_type` it is logged as: `user` (the default) for the caller's
    arguments, `api` for a model answer that cannot be used (a subclass or `category=` says so). A `user`
    error raised before any model call gives the caller's rate-limit slot back.
    """

    category: ErrorCategory = "user"

    def __init__(
        self,
        message: str,
        *,
        category: ErrorCategory | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        if category is not None:
            self.category = category
        self.metadata: Mapping[str, Any] = dict(metadata or {})
        """Extra `operation_metadata` for the failed call's activity row (as `AgentOutcome.metadata`)."""


@dataclass(frozen=True, slots=True)
class Operation:
    """One value of a tool's `operation` argument."""

    name: str
    """What the client sends (`suggest`)."""
    config_key: str
    """The key under the agent row's `tools` that enables it (`suggestion`)."""
    operation_type: str
    """`agent_activity_logs.operation_type` (`document_generation` …)."""
    category: OperationCategory
    """`agent_activity_logs.operation_category`."""
    requires: tuple[str, ...] = ()
    """Arguments this operation cannot run without (checked before anything is counted or run)."""
    calls_model: bool = True
    """False for operations that never call a provider (revert): no model is resolved or logged."""
    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False
    open_world: bool = False


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """One active `model_config` row of the active provider."""

    model_id: str
    pricing: ModelPricing
    thinking: bool
    is_default: bool = False


ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]


@dataclass(slots=True)
class AgentCall:
    """Everything one operation needs, assembled by the pipeline."""

    operation: Operation
    arguments: BaseModel
    """A validated instance of the spec's `input_model`."""
    user_id: UUID
    tool_config: Mapping[str, Any]
    """`tools.<config_key>` of the agent row (systemPrompt, userPromptTemplate, …)."""
    agent_config: Mapping[str, Any]
    provider: LLMProvider | None
    model: ModelChoice | None
    progress: ProgressFn
    store: Store
    """The caller's artifacts and repositories, bound to the caller by the pipeline (RLS applies)."""
    llm_calls: list[LLMResult] = field(default_factory=list)
    """The provider results the agent used, in order. Not what is billed: the pipeline logs every model
    call the provider reported (`server.metering.WatchedProvider`), failed and cancelled ones too."""
    settings: Settings | None = None
    """The server's settings, for agents that reach services besides the model (GitHub)."""


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """A further resource the tool result links to (besides `AgentOutcome.resource_uri`)."""

    uri: str
    name: str
    mime_type: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class InlineImage:
    """An image the tool result carries inline (base64 image content)."""

    data: bytes
    mime_type: str


@dataclass(frozen=True, slots=True)
class AgentOutcome:
    """What one operation produced: the structured result and the resource it touched."""

    result: BaseModel
    """An instance of the spec's `output_model`."""
    resource_id: UUID | None = None
    resource_type: str | None = None
    resource_uri: str | None = None
    resource_title: str | None = None
    resource_mime_type: str | None = None
    """The MIME type of the resource's content (`artifacts.mime_type(kind)`)."""
    summary: str = ""
    """One line for the text content of the tool result."""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    """Extra `operation_metadata` for the activity log (no secrets, no document text)."""
    links: tuple[ResourceRef, ...] = ()
    """More resource links for the tool result (a diagram's SVG and PNG)."""
    images: tuple[InlineImage, ...] = ()
    """Images for the tool result's content (a small diagram PNG, when the settings ask for it)."""


@dataclass(frozen=True, slots=True)
class AgentSpec:
    agent_type: str
    chat_tool_key: str
    title: str
    operations: tuple[Operation, ...]
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    run: Callable[[AgentCall], Awaitable[AgentOutcome]]
    id_argument: str | None = None
    """The argument naming the artifact the operation works on (`documentId`), for logs."""
    resource_type: str | None = None
    """`agent_activity_logs.resource_type` of what the agent works on (`document`, `code`, `diagram`);
    None for agents that touch no artifact. An outcome's own `resource_type` takes precedence."""
    parameter_keys: Mapping[str, str] = field(default_factory=dict)
    """Input property → key under `chat_model_agent_{provider}.tools.<chat_tool_key>.tool_input`
    whose `parameter_description` becomes that property's description (a flat `tool_input`
    `{parameter_name, parameter_description}` describes the property its `parameter_name` names)."""
    enabled_when: Callable[[str, Mapping[str, Any]], bool] | None = None
    """For an agent without an `operation` argument (one implicit operation whose toggles are not
    operations, e.g. the native tools of provider_tools_agent): whether `(provider, tools of the agent
    row)` enable it. None: each operation is enabled by its own `tools.<config_key>.enabled`."""

    def operation(self, name: str) -> Operation | None:
        return next((op for op in self.operations if op.name == name), None)

    def annotations_for(self, enabled: tuple[Operation, ...]) -> dict[str, bool]:
        """Tool annotations that are true of every enabled operation (read-only only if all are…)."""
        ops = enabled or self.operations
        return {
            "read_only_hint": all(op.read_only for op in ops),
            "destructive_hint": any(op.destructive for op in ops),
            "idempotent_hint": all(op.idempotent for op in ops),
            "open_world_hint": any(op.open_world for op in ops),
        }
