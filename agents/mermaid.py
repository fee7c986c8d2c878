"""The mermaid agent: Mermaid diagram artifacts. Operations generate, create, update, fix, revert.

Prompts come from the agent row (`mermaid_agent_{provider}.tools.<op>`). Every diagram is checked and drawn
by Mermaid itself (mermaid.js, run by `artificer.agents.diagrams`; one engine round trip,
`check(render="svg")`) before it is returned or saved (generate included). A diagram Mermaid rejects, or
parses but cannot draw, fails the check: the answer goes back to the model with Mermaid's message (the
repair loop of `code_artifacts`), and when no answer passes the call is a tool error and saves nothing.

A saved version keeps its SVG (in the same statement as the version), readable as the resources
`artifact://{id}/v/{n}/diagram.svg` and `…/diagram.png` (made on demand); the tool result links both, and
embeds the PNG when `Settings.diagram_inline_png_max_bytes` allows. Revert copies an older version forward
without a model call, drawing it again.
"""

from __future__ import annotations

import logging
from typing import Literal
from uuid import UUID

from artificer.agents import code_artifacts, diagrams
from artificer.agents.artifacts import ArtifactAgent, ArtifactInput, Instruction, Title, artifact_uri
from artificer.agents.base import AgentCall, AgentOutcome, AgentSpec, InlineImage, Operation, ResourceRef
from artificer.agents.code_artifacts import CheckResult, SourceAgent, SourceResult
from artificer.common.records import Document
from pydantic import Field

logger = logging.getLogger(__name__)

DIAGRAM_FORMATS = {"svg": "image/svg+xml", "png": "image/png"}
"""The drawings of a saved diagram version, by the resource's extension, with their MIME types."""


def diagram_uri(document_id: UUID, version: int, fmt: str) -> str:
    """`artifact://{id}/v/{n}/diagram.{svg|png}`."""
    return f"{artifact_uri(document_id, version)}/diagram.{fmt}"


async def syntax_problem(source: str) -> str | None:
    """Mermaid's message about `source` (its parse error, or why the engine could not check it), or None."""
    if not source.strip():
        return "the diagram is empty"
    try:
        verdict = await diagrams.validate(source)
    except diagrams.DiagramEngineError as error:
        return f"Mermaid could not check it: {error}"
    return None if verdict.valid else verdict.error or "Mermaid rejected it"


async def check(source: str) -> CheckResult:
    """Mermaid's verdict and, for a valid diagram, its SVG (one engine round trip). A diagram Mermaid parses
    but cannot draw fails with the drawing's message, like a syntax error."""
    if not source.strip():
        return CheckResult(problem="the diagram is empty")
    try:
        checked = await diagrams.check(source, render="svg")
    except diagrams.DiagramEngineError as error:
        return CheckResult(problem=f"Mermaid could not check it: {error}")
    if not checked.verdict.valid:
        return CheckResult(problem=checked.verdict.error or "Mermaid rejected it")
    if not checked.svg:
        return CheckResult(problem="Mermaid accepted the diagram but drew nothing")
    return CheckResult(svg=checked.svg)


async def render(source: str) -> str | None:
    """The SVG of `source` for a revert; None when Mermaid no longer draws it (the copy is saved anyway)."""
    result = await check(source)
    if result.problem is not None:
        logger.warning("mermaid_agent revert: the copied version is not drawn: %s", result.problem)
    return result.svg


async def drawing(
    call: AgentCall, doc: Document, svg: str
) -> tuple[tuple[ResourceRef, ...], tuple[InlineImage, ...]]:
    """Links to the version's SVG and PNG; the PNG inline too when the settings allow one that small."""
    name = f"{doc.title} (v{doc.version_number})"
    links = tuple(
        ResourceRef(
            uri=diagram_uri(doc.id, doc.version_number, fmt),
            name=f"{name} diagram.{fmt}",
            mime_type=mime,
            description=f"The diagram drawn by Mermaid ({fmt.upper()})",
        )
        for fmt, mime in DIAGRAM_FORMATS.items()
    )
    limit = call.settings.diagram_inline_png_max_bytes if call.settings is not None else 0
    if limit <= 0:
        return links, ()
    try:
        png = await diagrams.rasterize(svg)
    except diagrams.DiagramEngineError as error:
        logger.warning("mermaid_agent: no inline PNG for %s: %s", name, error)
        return links, ()
    return links, ((InlineImage(png, DIAGRAM_FORMATS["png"]),) if len(png) <= limit else ())


class MermaidAgentInput(ArtifactInput):
    operation: Literal["generate", "create", "update", "fix", "revert"] = Field(description="What to do.")
    instruction: Instruction = Field(
        default=None,
        description="What to draw or change; fix: the renderer's error message.",
    )
    title: Title = Field(
        default=None,
        description="Title of a new diagram (create); default: the first line of the instruction.",
    )
    diagramId: UUID | None = Field(default=None, description="The diagram (update, fix, revert).")


class MermaidResult(SourceResult):
    generated: bool | None = Field(default=None, description="True for generate: the diagram was not saved.")
    id: UUID | None = Field(default=None, description="The diagram (absent for generate).")
    diagram: str = Field(description="The Mermaid source.")


AGENT = SourceAgent(
    artifact=ArtifactAgent(
        agent_type="mermaid_agent",
        kind="mermaid code",
        noun="diagram",
        plural="diagrams",
        edits="Mermaid diagrams",
        id_argument="diagramId",
        signature=("agent", "mermaid-agent"),
    ),
    language="Mermaid",
    content_field="diagram",
    check=check,
    resource_type="diagram",
    output_model=MermaidResult,
    drawing=drawing,
    render=render,
)


async def run(call: AgentCall) -> AgentOutcome:
    return await code_artifacts.run(call, AGENT)


def _op(name: str, requires: tuple[str, ...], **flags: bool) -> Operation:
    return Operation(name, name, "diagram_generation", "generation", requires=requires, **flags)


SPEC = AgentSpec(
    agent_type="mermaid_agent",
    chat_tool_key="mermaidAgent",
    title="Mermaid agent",
    operations=(
        _op("generate", ("instruction",), read_only=True),
        _op("create", ("instruction",)),
        _op("update", ("diagramId", "instruction")),
        _op("fix", ("diagramId", "instruction")),
        _op("revert", ("diagramId",), calls_model=False),
    ),
    input_model=MermaidAgentInput,
    output_model=MermaidResult,
    run=run,
    id_argument="diagramId",
    resource_type=AGENT.resource_type,
    parameter_keys={
        "operation": "operation",
        "instruction": "instruction",
        "diagramId": "diagramId",
        "targetVersion": "targetVersion",
    },
)
