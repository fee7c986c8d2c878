"""What the artifact agents (document, python, mermaid) share: prompts, streaming, loading, revert.

Every artifact agent keeps its versions in `Document` (one `kind` per agent) and writes them as the
caller. `ArtifactAgent` names what differs between them (kind, the word for one artifact, its id argument,
the metadata key that names the agent); the functions here take it so the messages say the right thing.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from artificer.agents.base import AgentCall, AgentInputError
from artificer.agents.providers.base import LLMRequest
from artificer.common.records import Document, DocumentKind, DocumentNotFound
from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True, slots=True)
class ArtifactAgent:
    """What one artifact agent is called and what it stores."""

    agent_type: str
    """The tool name (`python_agent`)."""
    kind: DocumentKind
    """`Document.kind` of its artifacts (`python code`)."""
    noun: str
    """One artifact in messages (`code artifact`)."""
    plural: str
    """Several of them in messages (`code artifacts`)."""
    edits: str
    """What it edits, for the wrong-kind message (`Python code`)."""
    id_argument: str
    """The argument naming the artifact (`codeId`)."""
    signature: tuple[str, str]
    """Metadata key and value naming the agent in every version it writes (`("agent", "python-agent")`)."""


@dataclass(frozen=True, slots=True)
class Reverted:
    """A revert: the new version and the versions it went from and to."""

    document: Document
    reverted_from: int
    reverted_to: int
    svg: str | None = None
    """The drawing saved with the new version (`render`), if any."""


MIME_TYPES = {"text": "text/markdown", "python code": "text/x-python", "mermaid code": "text/vnd.mermaid"}
"""The MIME type of each `Document.kind`'s content."""


def mime_type(kind: str) -> str:
    return MIME_TYPES.get(kind, "text/plain")


MAX_TITLE_CHARS = 100
MAX_VERSION = 2**31 - 1
"""The largest version number (`Document.version_number` is an int4); bigger arguments are refused."""


MAX_INSTRUCTION_CHARS = 20_000

Instruction = Annotated[str | None, Field(min_length=1, max_length=MAX_INSTRUCTION_CHARS)]
"""The `instruction` argument's type and limits; each agent describes it (`= Field(default=None, …)`)."""
Title = Annotated[str | None, Field(min_length=1, max_length=MAX_TITLE_CHARS)]
"""The `title` argument's type and limits; each agent describes it."""


class ArtifactInput(BaseModel):
    """The arguments every artifact agent takes.

    A subclass narrows `operation` to its `Literal`, adds its id argument (`documentId`, …) and gives
    `instruction` and `title` their descriptions. An override keeps the field's place in the JSON schema;
    the id argument, a new field, comes after `model` (property order carries no meaning).
    """

    model_config = ConfigDict(extra="forbid")

    operation: str = Field(description="What to do.")
    instruction: Instruction = None
    targetVersion: int | None = Field(
        default=None,
        ge=1,
        le=MAX_VERSION,
        description="Version to restore (revert); default: the previous version.",
    )
    title: Title = None
    model: str | None = Field(default=None, description="Model to use.")


URI_DESCRIPTION = "artifact://{id}/v/{version}: read it as an MCP resource."
"""How every artifact result describes its `uri`."""


def title_from(instruction: str) -> str:
    """First non-empty line of the instruction, at most 100 characters."""
    first = next((line.strip() for line in instruction.splitlines() if line.strip()), "Untitled")
    return first[:MAX_TITLE_CHARS]


def artifact_uri(document_id: UUID, version: int | None = None) -> str:
    return f"artifact://{document_id}" if version is None else f"artifact://{document_id}/v/{version}"


_FENCE = re.compile(r"^\s*```[\w+-]*\s*\n(.*?)\n?```\s*$", re.DOTALL)


def strip_fences(text: str) -> str:
    match = _FENCE.match(text)
    return (match.group(1) if match else text).strip()


def fill(template: str, values: dict[str, str]) -> str:
    """Replace `{name}` placeholders literally (artifact text may hold braces)."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


def now() -> str:
    return datetime.now(UTC).isoformat()


def required_config(call: AgentCall, agent_type: str, key: str) -> str:
    """`tools.<op>.<key>` of the agent row, or a tool error that tells an admin what to set."""
    value = call.tool_config.get(key)
    if not isinstance(value, str) or not value.strip():
        raise AgentInputError(
            f"{agent_type} {call.operation.name} is misconfigured: admin_config has no "
            f"tools.{call.operation.config_key}.{key}; ask an admin to set it"
        )
    return value


def not_found(agent: ArtifactAgent, document_id: UUID) -> AgentInputError:
    return AgentInputError(
        f"{agent.noun} {document_id} not found: it does not exist or is not yours "
        f"(list your {agent.plural} with the `artifacts` tool)"
    )


async def latest(call: AgentCall, agent: ArtifactAgent, document_id: UUID) -> Document:
    """The caller's latest version of `document_id`, which must be of the agent's kind."""
    try:
        doc = await call.store.latest(document_id)
    except DocumentNotFound:
        raise not_found(agent, document_id) from None
    if doc.kind != agent.kind:
        raise AgentInputError(
            f"{agent.noun} {document_id} is a {doc.kind!r} artifact; "
            f"{agent.agent_type} edits {agent.edits} only"
        )
    return doc


async def stream_text(call: AgentCall, system: str, prompt: str, *, empty: str) -> str:
    """Stream the answer (progress: characters written so far), keep the result, strip one fence.

    `empty` is the tool error when nothing is left of the answer.
    """
    assert call.provider is not None and call.model is not None
    request = LLMRequest(
        model=call.model.model_id,
        prompt=prompt,
        system=system,
        temperature=0.7,
        thinking=call.model.thinking,
        pricing=call.model.pricing,
    )
    chars = 0
    # A stream that fails or is cancelled mid-answer reports its billed tokens to the pipeline itself
    # (`LLMRequest.on_billed`), so only the finished result is kept here.
    async with call.provider.stream(request) as stream:
        async for delta in stream:
            if delta.kind == "text":
                chars += len(delta.text)
            await call.progress(float(chars), None, "writing" if delta.kind == "text" else "thinking")
        result = stream.result
    call.llm_calls.append(result)
    text = strip_fences(result.text)
    if not text:
        raise AgentInputError(empty)
    return text


async def revert(
    call: AgentCall,
    agent: ArtifactAgent,
    document_id: UUID,
    target_version: int | None,
    *,
    render: Callable[[str], Awaitable[str | None]] | None = None,
) -> Reverted:
    """Copy version `target_version` (default: the one before the latest) forward as a new version.

    No model call. The new version's metadata: updateType revert, the agent's signature, revertedFrom,
    revertedTo, revertedAt, modelUsed null. A concurrent write in between is a `VersionConflict`.
    """
    current = await latest(call, agent, document_id)
    target = target_version if target_version is not None else current.version_number - 1
    if target < 1 or target >= current.version_number:
        raise AgentInputError(
            f"{agent.noun} {document_id} is at version {current.version_number}: "
            f"targetVersion must be between 1 and {current.version_number - 1}"
            if current.version_number > 1
            else f"{agent.noun} {document_id} has only version 1; there is nothing to revert to"
        )
    try:
        old = await call.store.version(document_id, target)
    except DocumentNotFound:
        raise AgentInputError(f"{agent.noun} {document_id} has no version {target}") from None
    key, value = agent.signature
    metadata: dict[str, Any] = {
        "updateType": "revert",
        key: value,
        "revertedFrom": current.version_number,
        "revertedTo": target,
        "revertedAt": now(),
        "modelUsed": None,
    }
    svg = await render(old.content or "") if render is not None else None  # a diagram's drawing
    doc = await call.store.save_version(
        document_id=document_id,
        content=old.content or "",
        expected_version=current.version_number,
        metadata=metadata,
        svg=svg,
    )
    return Reverted(doc, current.version_number, target, svg)
