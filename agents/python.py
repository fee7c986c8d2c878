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
from artificer.agents.artifacts import MAX_TITLE_CHARS, MAX_VERSION, ArtifactAgent
from artificer.agents.base import AgentCall, AgentOutcome, AgentSpec, Operation
from artificer.agents.code_artifacts import SourceAgent
from pydantic import BaseModel, ConfigDict, Field

MAX_INSTRUCTION_CHARS = 20_000


class PythonAgentInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operation: Literal["generate", "create", "update", "fix", "explain", "revert"] = Field(
        description="What to do."
    )
    instruction: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_INSTRUCTION_CHARS,
        description="What the code should do or what to change; fix: the error message or traceback.",
    )
    codeId: UUID | None = Field(default=None, description="The code artifact (update, fix, explain, revert).")
    targetVersion: int | None = Field(
        default=None,
        ge=1,
        le=MAX_VERSION,
        description="Version to restore (revert); default: the previous version.",
    )
    title: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_TITLE_CHARS,
        description="Title of a new code artifact (create); default: the first line of the instruction.",
    )
    model: str | None = Field(default=None, description="Model to use.")


class PythonResult(BaseModel):
    operation: str
    code: str = Field(description="The Python source.")
    generated: bool | None = Field(default=None, description="True for generate: the code was not saved.")
    id: UUID | None = Field(default=None, description="The code artifact (absent for generate).")
    title: str | None = None
    kind: str | None = None
    version: int | None = None
    uri: str | None = Field(
        default=None, description="artifact://{id}/v/{version}: read it as an MCP resource."
    )
    revertedFrom: int | None = None
    revertedTo: int | None = None


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
