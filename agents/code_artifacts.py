"""The operations the code-like artifact agents share (python, mermaid): generate, create, update, fix,
explain, revert.

An agent module declares a `SourceAgent` (its `ArtifactAgent`, the result field that carries the source,
a syntax check, its output model) and runs its operations through `run`. Prompts come from the agent row
(`tools.<op>.systemPrompt`, optional `tools.<op>.userPromptTemplate`): create and generate send the
instruction (or fill `{instruction}`); update and explain fill `{currentContent}` and `{updateInstruction}`;
fix fills `{currentContent}` and `{errorInfo}`. The answer is streamed (progress notifications), one
Markdown fence is stripped, and the source must pass the syntax check before anything is saved or
returned. generate returns the source without saving it; the others save a new `Document` version with
the metadata the original wrote; revert copies an older version forward without a model call.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from artificer.agents import artifacts
from artificer.agents.artifacts import URI_DESCRIPTION, ArtifactAgent, artifact_uri, fill, title_from
from artificer.agents.base import AgentCall, AgentInputError, AgentOutcome
from artificer.common.records import Document
from pydantic import BaseModel, Field

SyntaxCheck = Callable[[str], str | None] | Callable[[str], Awaitable[str | None]]
"""Returns what is wrong with the source (one line a model can act on), or None when it is fine; a check
that asks an engine out of process (mermaid) is async."""


class InvalidSource(AgentInputError):
    """The model's answer does not pass the agent's syntax check; nothing was saved."""

    category = "api"


class SourceResult(BaseModel):
    """What every operation returns.

    A subclass adds the field carrying the source (`code`, …) and says in the descriptions of `generated`
    and `id` what its artifact is called.
    """

    operation: str
    generated: bool | None = None
    id: UUID | None = None
    title: str | None = None
    kind: str | None = None
    version: int | None = None
    uri: str | None = Field(default=None, description=URI_DESCRIPTION)
    revertedFrom: int | None = None
    revertedTo: int | None = None


@dataclass(frozen=True, slots=True)
class SourceAgent:
    artifact: ArtifactAgent
    language: str
    """For messages (`Python`, `Mermaid`)."""
    content_field: str
    """The result field carrying the source (`code`, `diagram`)."""
    check: SyntaxCheck
    output_model: type[SourceResult]
    resource_type: str
    """`agent_activity_logs.resource_type` of its artifacts (`code`, `diagram`); also its `AgentSpec`'s."""
    default_explain: str = ""
    """The explain instruction when the caller gives none."""


def _instruction(call: AgentCall) -> str | None:
    value = getattr(call.arguments, "instruction", None)
    return value if isinstance(value, str) and value.strip() else None


def _need_instruction(call: AgentCall, what: str) -> str:
    value = _instruction(call)
    if value is None:
        raise AgentInputError(f"operation {call.operation.name} needs `instruction`: {what}")
    return value


def _need_id(call: AgentCall, agent: SourceAgent) -> UUID:
    value = getattr(call.arguments, agent.artifact.id_argument, None)
    if not isinstance(value, UUID):
        raise AgentInputError(
            f"operation {call.operation.name} needs `{agent.artifact.id_argument}`: the id of one of your "
            f"{agent.artifact.plural} (list them with the `artifacts` tool)"
        )
    return value


def _config(call: AgentCall, agent: SourceAgent, key: str) -> str:
    return artifacts.required_config(call, agent.artifact.agent_type, key)


async def checked(agent: SourceAgent, source: str, *, fixing: bool = False) -> str:
    """The source if it passes the agent's syntax check, else an `InvalidSource` tool error."""
    problem = agent.check(source)
    if inspect.isawaitable(problem):
        problem = await problem
    if problem is None:
        return source
    if fixing:
        raise InvalidSource(
            f"the fixed {agent.language} still has a syntax error ({problem}); nothing was saved. "
            "Try again with the complete error message."
        )
    raise InvalidSource(
        f"the model's answer is not valid {agent.language} ({problem}); nothing was saved. "
        "Try again or rephrase the instruction."
    )


async def _write(
    call: AgentCall, agent: SourceAgent, system: str, prompt: str, *, fixing: bool = False
) -> str:
    source = await artifacts.stream_text(
        call,
        system,
        prompt,
        empty=f"the model returned no {agent.language}; try again or rephrase the instruction",
    )
    return await checked(agent, source, fixing=fixing)


def _result(
    agent: SourceAgent, operation: str, source: str, doc: Document | None, **extra: Any
) -> SourceResult:
    fields: dict[str, Any] = {"operation": operation, agent.content_field: source, **extra}
    if doc is not None:
        fields.update(
            id=doc.id,
            title=doc.title,
            kind=doc.kind,
            version=doc.version_number,
            uri=artifact_uri(doc.id, doc.version_number),
        )
    return agent.output_model(**fields)


def _outcome(agent: SourceAgent, doc: Document, result: BaseModel, summary: str, **meta: Any) -> AgentOutcome:
    uri = artifact_uri(doc.id, doc.version_number)
    return AgentOutcome(
        result=result,
        resource_id=doc.id,
        resource_type=agent.resource_type,
        resource_uri=uri,
        resource_title=f"{doc.title} (v{doc.version_number})",
        resource_mime_type=artifacts.mime_type(doc.kind),
        summary=summary,
        metadata={"document_id": str(doc.id), "version": doc.version_number, "kind": doc.kind, **meta},
    )


def _signed(agent: SourceAgent, update_type: str, **fields: Any) -> dict[str, Any]:
    key, value = agent.artifact.signature
    return {"updateType": update_type, key: value, **fields}


async def generate(call: AgentCall, agent: SourceAgent) -> AgentOutcome:
    instruction = _need_instruction(call, f"say what the {agent.language} should do")
    system = _config(call, agent, "systemPrompt")
    template = call.tool_config.get("userPromptTemplate")
    prompt = fill(template, {"instruction": instruction}) if isinstance(template, str) else instruction
    source = await _write(call, agent, system, prompt)
    return AgentOutcome(
        result=_result(agent, "generate", source, None, generated=True),
        summary=f"Generated {agent.language} ({len(source.splitlines())} lines), not saved:\n\n{source}",
        metadata={"generated": True, "output_length": len(source)},
    )


async def create(call: AgentCall, agent: SourceAgent) -> AgentOutcome:
    instruction = _need_instruction(call, f"say what the {agent.language} should do")
    given_title = getattr(call.arguments, "title", None)
    title = (
        given_title.strip()
        if isinstance(given_title, str) and given_title.strip()
        else title_from(instruction)
    )
    system = _config(call, agent, "systemPrompt")
    template = call.tool_config.get("userPromptTemplate")
    values = {"instruction": instruction, "title": title}
    prompt = fill(template, values) if isinstance(template, str) else instruction
    source = await _write(call, agent, system, prompt)
    assert call.model is not None
    doc = await call.store.save_version(
        document_id=None,
        title=title,
        kind=agent.artifact.kind,
        content=source,
        metadata=_signed(agent, "create", createdAt=artifacts.now(), modelUsed=call.model.model_id),
    )
    return _outcome(
        agent,
        doc,
        _result(agent, "create", source, doc),
        f"Created {doc.title!r} ({doc.id}), version 1.",
        output_length=len(source),
    )


async def _revise(call: AgentCall, agent: SourceAgent, update_type: str) -> AgentOutcome:
    """update, explain and fix: the latest version and the instruction in, a new version out."""
    document_id = _need_id(call, agent)
    if update_type == "explain":
        instruction = _instruction(call) or agent.default_explain
    elif update_type == "fix":
        instruction = _need_instruction(call, "paste the error message or traceback to fix")
    else:
        instruction = _need_instruction(call, "say what to change")
    system = _config(call, agent, "systemPrompt")
    template = _config(call, agent, "userPromptTemplate")
    current = await artifacts.latest(call, agent.artifact, document_id)
    prompt = fill(
        template,
        {
            "currentContent": current.content or "",
            "updateInstruction": instruction,
            "errorInfo": instruction,
            "instruction": instruction,
        },
    )
    source = await _write(call, agent, system, prompt, fixing=update_type == "fix")
    assert call.model is not None
    if update_type == "fix":
        metadata = _signed(
            agent,
            "fix",
            fixedAt=artifacts.now(),
            modelUsed=call.model.model_id,
            previousVersion=current.version_number,
            errorFixed=instruction,
        )
    else:
        metadata = _signed(
            agent,
            update_type,
            updatedAt=artifacts.now(),
            modelUsed=call.model.model_id,
            previousVersion=current.version_number,
        )
    doc = await call.store.save_version(
        document_id=document_id,
        content=source,
        expected_version=current.version_number,
        metadata=metadata,
    )
    verb = {"update": "Updated", "explain": "Explained", "fix": "Fixed"}[update_type]
    return _outcome(
        agent,
        doc,
        _result(agent, update_type, source, doc),
        f"{verb} {doc.title!r} ({doc.id}); now version {doc.version_number}.",
        output_length=len(source),
    )


async def update(call: AgentCall, agent: SourceAgent) -> AgentOutcome:
    return await _revise(call, agent, "update")


async def explain(call: AgentCall, agent: SourceAgent) -> AgentOutcome:
    return await _revise(call, agent, "explain")


async def fix(call: AgentCall, agent: SourceAgent) -> AgentOutcome:
    return await _revise(call, agent, "fix")


async def revert(call: AgentCall, agent: SourceAgent) -> AgentOutcome:
    document_id = _need_id(call, agent)
    target = getattr(call.arguments, "targetVersion", None)
    reverted = await artifacts.revert(call, agent.artifact, document_id, target)
    doc = reverted.document
    result = _result(
        agent,
        "revert",
        doc.content or "",
        doc,
        revertedFrom=reverted.reverted_from,
        revertedTo=reverted.reverted_to,
    )
    return _outcome(
        agent,
        doc,
        result,
        f"Reverted {doc.title!r} ({doc.id}) to the content of version {reverted.reverted_to}; "
        f"now version {doc.version_number}.",
        reverted_from=reverted.reverted_from,
        reverted_to=reverted.reverted_to,
    )


RUNNERS: dict[str, Callable[[AgentCall, SourceAgent], Awaitable[AgentOutcome]]] = {
    "generate": generate,
    "create": create,
    "update": update,
    "fix": fix,
    "explain": explain,
    "revert": revert,
}


async def run(call: AgentCall, agent: SourceAgent) -> AgentOutcome:
    return await RUNNERS[call.operation.name](call, agent)
