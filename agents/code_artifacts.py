"""The operations the code-like artifact agents share (python, mermaid): generate, create, update, fix,
explain, revert.

An agent module declares a `SourceAgent` (its `ArtifactAgent`, the result field that carries the source,
a syntax check, its output model) and runs its operations through `run`. Prompts come from the agent row
(`tools.<op>.systemPrompt`, optional `tools.<op>.userPromptTemplate`): create and generate send the
instruction (or fill `{instruction}`); update and explain fill `{currentContent}` and `{updateInstruction}`;
fix fills `{currentContent}` and `{errorInfo}`. The answer is streamed (progress notifications), one
Markdown fence is stripped, and the source must pass the agent's check before anything is saved or
returned. generate returns the source without saving it; the others save a new `Document` version with
the metadata the original wrote; revert copies an older version forward without a model call.

The repair loop: an answer that fails the check goes back to the model, with the checker's exact message,
until one passes or `Settings.repair_attempts` answers (default 2, in all) have been tried. Every model
call is billed and logged by the pipeline (one usage row each); the activity row's metadata records
`attempts` and `check_errors`. When the last answer fails too, the call is an `InvalidSource` tool error
(category `api`: the model was used, so the caller's rate-limit slot stays counted) and nothing is saved.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from artificer.agents import artifacts
from artificer.agents.artifacts import URI_DESCRIPTION, ArtifactAgent, artifact_uri, fill, title_from
from artificer.agents.base import AgentCall, AgentInputError, AgentOutcome, InlineImage, ResourceRef
from artificer.common.records import Document
from pydantic import BaseModel, Field

DEFAULT_REPAIR_ATTEMPTS = 2
"""Model answers per call, in all, when the call carries no settings (`Settings.repair_attempts`)."""
MAX_LOGGED_ERROR_CHARS = 500
"""Each checker message kept in the activity row's metadata is cut to this."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What an agent's check says about a source."""

    problem: str | None = None
    """What is wrong (the checker's own message, which the model gets back), or None when it passes."""
    warnings: tuple[str, ...] = ()
    """Findings that do not fail the check (returned with the result)."""
    svg: str | None = None
    """The drawing the check made of a valid diagram, saved with the version."""


SourceCheck = Callable[[str], Awaitable[CheckResult]]
"""Checks one source; a check that asks a process (ruff, the Mermaid engine) does it off the event loop."""

Drawing = Callable[
    [AgentCall, Document, str], Awaitable[tuple[tuple[ResourceRef, ...], tuple[InlineImage, ...]]]
]
"""(call, saved version, its SVG) -> the resource links and inline images of the tool result."""


class InvalidSource(AgentInputError):
    """The model's answers do not pass the agent's check; nothing was saved."""

    category = "api"


@dataclass(frozen=True, slots=True)
class Written:
    """An answer that passed the check, and how many it took."""

    source: str
    check: CheckResult
    attempts: int
    errors: list[str] = field(default_factory=list)

    @property
    def metadata(self) -> dict[str, Any]:
        return {"attempts": self.attempts, "check_errors": self.errors}


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
    check: SourceCheck
    output_model: type[SourceResult]
    resource_type: str
    """`agent_activity_logs.resource_type` of its artifacts (`code`, `diagram`); also its `AgentSpec`'s."""
    default_explain: str = ""
    """The explain instruction when the caller gives none."""
    drawing: Drawing | None = None
    """For an agent whose check draws (mermaid): the links (and images) of a saved version's drawing."""
    render: Callable[[str], Awaitable[str | None]] | None = None
    """For revert: the drawing of the copied source (None when it cannot be drawn)."""


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


def _attempts(call: AgentCall) -> int:
    return call.settings.repair_attempts if call.settings is not None else DEFAULT_REPAIR_ATTEMPTS


def repair_prompt(agent: SourceAgent, prompt: str, answer: str, problem: str) -> str:
    """The request again, with the answer that failed and the checker's exact message."""
    return (
        f"{prompt}\n\n"
        f"---\nYour previous answer did not pass the {agent.language} check.\n\n"
        f"Your answer:\n```\n{answer}\n```\n\n"
        f"The checker said:\n{problem}\n\n"
        f"Answer again with the complete corrected {agent.language} only, no explanation."
    )


def _logged(problem: str) -> str:
    return problem if len(problem) <= MAX_LOGGED_ERROR_CHARS else problem[:MAX_LOGGED_ERROR_CHARS] + " …"


async def _write(
    call: AgentCall, agent: SourceAgent, system: str, prompt: str, *, fixing: bool = False
) -> Written:
    """Ask the model, check the answer, and send a failing answer back with the checker's message until
    one passes or the attempts run out (`InvalidSource`, with the attempts and errors for the log)."""
    attempts = _attempts(call)
    errors: list[str] = []
    request = prompt
    problem = ""
    for attempt in range(1, attempts + 1):
        empty = f"the answer contained no {agent.language}"
        try:
            source = await artifacts.stream_text(call, system, request, empty=empty)
        except AgentInputError as error:
            if str(error) != empty:
                raise
            source, result = "", CheckResult(problem=empty)
        else:
            result = await agent.check(source)
        if result.problem is None:
            return Written(source, result, attempt, errors)
        problem = result.problem
        errors.append(_logged(problem))
        request = repair_prompt(agent, prompt, source, problem)
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    if fixing:
        message = (
            f"the fixed {agent.language} still fails the check after {tries} ({problem}); nothing was "
            "saved. Try again with the complete error message."
        )
    else:
        message = (
            f"the model's answer is not valid {agent.language} after {tries} ({problem}); nothing was "
            "saved. Try again or rephrase the instruction."
        )
    raise InvalidSource(message, metadata={"attempts": attempts, "check_errors": errors})


def _result(
    agent: SourceAgent,
    operation: str,
    source: str,
    doc: Document | None,
    warnings: tuple[str, ...] = (),
    **extra: Any,
) -> SourceResult:
    fields: dict[str, Any] = {"operation": operation, agent.content_field: source, **extra}
    if warnings and "warnings" in agent.output_model.model_fields:
        fields["warnings"] = list(warnings)
    if doc is not None:
        fields.update(
            id=doc.id,
            title=doc.title,
            kind=doc.kind,
            version=doc.version_number,
            uri=artifact_uri(doc.id, doc.version_number),
        )
    return agent.output_model(**fields)


async def _outcome(
    call: AgentCall,
    agent: SourceAgent,
    doc: Document,
    result: BaseModel,
    summary: str,
    svg: str | None = None,
    **meta: Any,
) -> AgentOutcome:
    uri = artifact_uri(doc.id, doc.version_number)
    links: tuple[ResourceRef, ...] = ()
    images: tuple[InlineImage, ...] = ()
    if svg is not None and agent.drawing is not None:
        links, images = await agent.drawing(call, doc, svg)
    return AgentOutcome(
        links=links,
        images=images,
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
    written = await _write(call, agent, system, prompt)
    source = written.source
    return AgentOutcome(
        result=_result(agent, "generate", source, None, written.check.warnings, generated=True),
        summary=f"Generated {agent.language} ({len(source.splitlines())} lines), not saved:\n\n{source}",
        metadata={"generated": True, "output_length": len(source), **written.metadata},
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
    written = await _write(call, agent, system, prompt)
    source = written.source
    assert call.model is not None
    doc = await call.store.save_version(
        document_id=None,
        title=title,
        kind=agent.artifact.kind,
        content=source,
        metadata=_signed(agent, "create", createdAt=artifacts.now(), modelUsed=call.model.model_id),
        svg=written.check.svg,
    )
    return await _outcome(
        call,
        agent,
        doc,
        _result(agent, "create", source, doc, written.check.warnings),
        f"Created {doc.title!r} ({doc.id}), version 1.",
        written.check.svg,
        output_length=len(source),
        **written.metadata,
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
    written = await _write(call, agent, system, prompt, fixing=update_type == "fix")
    source = written.source
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
        svg=written.check.svg,
    )
    verb = {"update": "Updated", "explain": "Explained", "fix": "Fixed"}[update_type]
    return await _outcome(
        call,
        agent,
        doc,
        _result(agent, update_type, source, doc, written.check.warnings),
        f"{verb} {doc.title!r} ({doc.id}); now version {doc.version_number}.",
        written.check.svg,
        output_length=len(source),
        **written.metadata,
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
    reverted = await artifacts.revert(call, agent.artifact, document_id, target, render=agent.render)
    doc = reverted.document
    result = _result(
        agent,
        "revert",
        doc.content or "",
        doc,
        revertedFrom=reverted.reverted_from,
        revertedTo=reverted.reverted_to,
    )
    return await _outcome(
        call,
        agent,
        doc,
        result,
        f"Reverted {doc.title!r} ({doc.id}) to the content of version {reverted.reverted_to}; "
        f"now version {doc.version_number}.",
        reverted.svg,
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
