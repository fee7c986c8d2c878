"""The mermaid agent: Mermaid diagram artifacts. Operations generate, create, update, fix, revert.

Prompts come from the agent row (`mermaid_agent_{provider}.tools.<op>`). Every diagram is checked by
Mermaid's own parser (mermaid.js, run by `artificer.agents.diagrams`) before it is returned or saved
(generate included); a diagram Mermaid rejects is a tool error carrying Mermaid's message, and saves nothing.
Revert copies an older version forward without a model call.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from artificer.agents import code_artifacts, diagrams
from artificer.agents.artifacts import ArtifactAgent, ArtifactInput, Instruction, Title
from artificer.agents.base import AgentCall, AgentOutcome, AgentSpec, Operation
from artificer.agents.code_artifacts import SourceAgent, SourceResult
from pydantic import Field


async def syntax_problem(source: str) -> str | None:
    """Mermaid's message about `source` (its parse error, or why the engine could not check it), or None."""
    if not source.strip():
        return "the diagram is empty"
    try:
        verdict = await diagrams.validate(source)
    except diagrams.DiagramEngineError as error:
        return f"Mermaid could not check it: {error}"
    return None if verdict.valid else verdict.error or "Mermaid rejected it"


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
    check=syntax_problem,
    resource_type="diagram",
    output_model=MermaidResult,
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
