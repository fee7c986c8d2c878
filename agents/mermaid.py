"""The mermaid agent: Mermaid diagram artifacts. Operations generate, create, update, fix, revert.

Prompts come from the agent row (`mermaid_agent_{provider}.tools.<op>`). Every diagram is syntax-checked
before it is returned or saved (generate included): the first line that is not a comment, directive or
front matter declares a known diagram type, and quotes and brackets are balanced where the diagram type
gives them structure. A diagram that fails is a tool error and saves nothing. Revert copies an older
version forward without a model call.
"""

from __future__ import annotations

import re
from typing import Literal
from uuid import UUID

from artificer.agents import code_artifacts
from artificer.agents.artifacts import ArtifactAgent, ArtifactInput, Instruction, Title
from artificer.agents.base import AgentCall, AgentOutcome, AgentSpec, Operation
from artificer.agents.code_artifacts import SourceAgent, SourceResult
from pydantic import Field

DIAGRAM_TYPES = frozenset(
    {
        "graph",
        "flowchart",
        "sequenceDiagram",
        "classDiagram",
        "classDiagram-v2",
        "stateDiagram",
        "stateDiagram-v2",
        "erDiagram",
        "journey",
        "gantt",
        "pie",
        "gitGraph",
        "mindmap",
        "timeline",
        "sankey",
        "sankey-beta",
        "quadrantChart",
        "requirementDiagram",
        "C4Context",
        "C4Container",
        "C4Component",
        "C4Dynamic",
        "C4Deployment",
        "xychart-beta",
        "block-beta",
    }
)
FLOW_DIRECTIONS = frozenset({"TB", "TD", "BT", "RL", "LR"})

COLON_TEXT = frozenset(
    {
        "sequenceDiagram",
        "classDiagram",
        "classDiagram-v2",
        "stateDiagram",
        "stateDiagram-v2",
        "erDiagram",
        "requirementDiagram",
        "gitGraph",
    }
)
"""Types whose lines may end in free text after `:` (messages, labels, members); it is not checked."""

BRACKETED = frozenset(
    {
        "graph",
        "flowchart",
        "classDiagram",
        "classDiagram-v2",
        "stateDiagram",
        "stateDiagram-v2",
        "erDiagram",
        "requirementDiagram",
        "C4Context",
        "C4Container",
        "C4Component",
        "C4Dynamic",
        "C4Deployment",
        "xychart-beta",
        "block-beta",
        "gitGraph",
    }
)
"""Types whose brackets are structure (node shapes, blocks, calls), so they must nest and close."""

_QUOTED = re.compile(r'"[^"\n]*"')
_PIPE_LABEL = re.compile(r"\|[^|\n]*\|")
_ER_CARDINALITY = re.compile(r"(?:\|o|\|\||\}o|\}\|)(?:--|\.\.)(?:o\||\|\||o\{|\|\{)")
_CLASS_LOLLIPOP = re.compile(r"\(\)(?=\s*--)|(?<=--)\s*\(\)")
_ASYMMETRIC_SHAPE = re.compile(r"(?<=[A-Za-z0-9_])>")
_PAIRS = {")": "(", "]": "[", "}": "{"}


def _strip_comment(line: str) -> str:
    index = line.find("%%")
    return line if index < 0 else line[:index]


def _body_lines(source: str) -> list[tuple[int, str]]:
    """(line number, text) of the lines that are not blank, comments, directives or front matter."""
    lines = source.splitlines()
    start = 0
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
        if end is None:
            return []
        start = end + 1
    body = []
    for number, line in enumerate(lines[start:], start=start + 1):
        text = _strip_comment(line).strip()
        if text:
            body.append((number, text))
    return body


def _before_free_text(line: str) -> str:
    """The line up to its first `:` outside double quotes (what follows is a message or label)."""
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            return line[:index]
    return line


def syntax_problem(source: str) -> str | None:
    """What is wrong with `source` as a Mermaid diagram (one line), or None."""
    body = _body_lines(source)
    if not body:
        return "the diagram is empty"
    number, header = body[0]
    words = header.replace(";", " ").split()
    kind = words[0]
    if kind not in DIAGRAM_TYPES:
        near = next((t for t in DIAGRAM_TYPES if t.lower() == kind.lower()), None)
        hint = (
            f"; did you mean {near!r}?"
            if near
            else f"; start with one of: {', '.join(sorted(DIAGRAM_TYPES))}"
        )
        return f"line {number}: the first line must declare the diagram type, not {kind!r}{hint}"
    rest = words[1:]
    if kind in ("graph", "flowchart") and rest and rest[0] not in FLOW_DIRECTIONS:
        return f"line {number}: {kind} direction must be one of TB, TD, BT, RL, LR, not {rest[0]!r}"
    if len(body) == 1 and not (kind in ("graph", "flowchart") and len(rest) > 1):
        return f"the diagram has nothing after its {kind!r} line"
    stack: list[tuple[str, int]] = []
    for number, text in body:
        structure = _before_free_text(text) if kind in COLON_TEXT else text
        if structure.count('"') % 2:
            return f'line {number}: unbalanced double quote (")'
        structure = _QUOTED.sub('""', structure)
        if kind not in BRACKETED:
            continue
        if kind in ("graph", "flowchart"):
            structure = _ASYMMETRIC_SHAPE.sub("[", _PIPE_LABEL.sub("", structure))
        elif kind == "erDiagram":
            structure = _ER_CARDINALITY.sub("", structure)
        elif kind.startswith("classDiagram"):
            structure = _CLASS_LOLLIPOP.sub("", structure)
        for char in structure:
            if char in "([{":
                stack.append((char, number))
            elif char in _PAIRS:
                if not stack:
                    return f"line {number}: {char!r} closes nothing that is open"
                opened, where = stack.pop()
                if opened != _PAIRS[char]:
                    return f"line {number}: {char!r} does not close the {opened!r} opened on line {where}"
    if stack:
        char, number = stack[-1]
        return f"line {number}: {char!r} is never closed"
    return None


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
