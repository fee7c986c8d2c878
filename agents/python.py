"""The python agent: Python code artifacts. Operations generate, create, update, fix, explain, revert.

Prompts come from the agent row (`python_agent_{provider}.tools.<op>`). Every answer must parse
(`ast.parse`) before it is returned or saved; an answer that does not is a tool error and saves nothing.
generate returns the code without saving it; create/update/fix/explain save a new version (kind
`python code`); revert copies an older version forward without a model call. The server never runs code.
"""

from __future__ import annotations

import ast
import warnings
from typing import Literal
from uuid import UUID

from artificer.agents import code_artifacts
from artificer.agents.artifacts import ArtifactAgent, ArtifactInput, Instruction, Title
from artificer.agents.base import AgentCall, AgentOutcome, AgentSpec, Operation
from artificer.agents.code_artifacts import SourceAgent, SourceResult
from pydantic import Field


class PythonAgentInput(ArtifactInput):
    operation: Literal["generate", "create", "update", "fix", "explain", "revert"] = Field(
        description="What to do."
    )
    instruction: Instruction = Field(
        default=None,
        description="What the code should do or what to change; fix: the error message or traceback.",
    )
    title: Title = Field(
        default=None,
        description="Title of a new code artifact (create); default: the first line of the instruction.",
    )
    codeId: UUID | None = Field(default=None, description="The code artifact (update, fix, explain, revert).")


class PythonResult(SourceResult):
    generated: bool | None = Field(default=None, description="True for generate: the code was not saved.")
    id: UUID | None = Field(default=None, description="The code artifact (absent for generate).")
    code: str = Field(description="The Python source.")


def syntax_problem(code: str) -> str | None:
    """What keeps `code` from parsing as Python (line, column, message), or None."""
    if not code.strip():
        return "the code is empty"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences and the like are not errors
            ast.parse(code, filename="<code>")
    except SyntaxError as error:
        where = f"line {error.lineno}" if error.lineno else "somewhere"
        if error.lineno and error.offset:
            where += f", column {error.offset}"
        return f"{where}: {error.msg}"
    except ValueError as error:  # e.g. null bytes
        return str(error)
    return None


AGENT = SourceAgent(
    artifact=ArtifactAgent(
        agent_type="python_agent",
        kind="python code",
        noun="code artifact",
        plural="code artifacts",
        edits="Python code",
        id_argument="codeId",
        signature=("agent", "python-agent"),
    ),
    language="Python",
    content_field="code",
    check=syntax_problem,
    resource_type="code",
    output_model=PythonResult,
    default_explain=(
        "Add detailed comments and docstrings that explain what each part of the code does and why."
    ),
)


async def run(call: AgentCall) -> AgentOutcome:
    return await code_artifacts.run(call, AGENT)


def _op(name: str, requires: tuple[str, ...], **flags: bool) -> Operation:
    return Operation(name, name, "code_generation", "generation", requires=requires, **flags)


SPEC = AgentSpec(
    agent_type="python_agent",
    chat_tool_key="pythonAgent",
    title="Python agent",
    operations=(
        _op("generate", ("instruction",), read_only=True),
        _op("create", ("instruction",)),
        _op("update", ("codeId", "instruction")),
        _op("fix", ("codeId", "instruction")),
        _op("explain", ("codeId",)),
        _op("revert", ("codeId",), calls_model=False),
    ),
    input_model=PythonAgentInput,
    output_model=PythonResult,
    run=run,
    id_argument="codeId",
    resource_type=AGENT.resource_type,
    parameter_keys={
        "operation": "operation",
        "instruction": "instruction",
        "codeId": "codeId",
        "targetVersion": "targetVersion",
    },
)
