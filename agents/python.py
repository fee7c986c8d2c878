"""The python agent: Python code artifacts. Operations generate, create, update, fix, explain, revert.

Prompts come from the agent row (`python_agent_{provider}.tools.<op>`). Every answer is checked before it
is returned or saved: it must parse (`ast.parse`), and ruff's pyflakes rules (`--select F`, run as a
subprocess, off the event loop) must find no error. Which F codes are errors (`LINT_ERRORS`): the ones that
fail at run time or hide what a name is — undefined names (F821, F822, F823), star imports (F403, F405, F406:
the names they bring in cannot be checked), `%` / `.format` calls that raise (F501–F503, F505–F509, F521,
F524, F525), statements misplaced or impossible (F621, F622, F633, F701, F702, F704, F706, F707, F722), an
unknown `__future__` feature (F407) and `raise NotImplemented` (F901). Every other F finding (unused
imports and variables, redefinitions, f-strings without placeholders, `is` with a literal, …) is a warning,
returned in the result's `warnings`. An answer with an error goes back to the model with the message (the
repair loop of `code_artifacts`); when none passes, the call is a tool error and saves nothing.
generate returns the code without saving it; create/update/fix/explain save a new version (kind
`python code`); revert copies an older version forward without a model call. The server never runs code.
"""

from __future__ import annotations

import ast
import json
import logging
import warnings
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

import anyio
from artificer.agents import code_artifacts
from artificer.agents.artifacts import ArtifactAgent, ArtifactInput, Instruction, Title
from artificer.agents.base import AgentCall, AgentOutcome, AgentSpec, Operation
from artificer.agents.code_artifacts import CheckResult, SourceAgent, SourceResult
from pydantic import Field

logger = logging.getLogger(__name__)


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
    warnings: list[str] | None = Field(
        default=None,
        description="What ruff's pyflakes rules found that is not an error (unused imports, …), if anything.",
    )


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


LINT_ERRORS = frozenset(
    {
        *("F403", "F405", "F406", "F407"),
        *("F501", "F502", "F503", "F505", "F506", "F507", "F508", "F509", "F521", "F524", "F525"),
        *("F621", "F622", "F633", "F701", "F702", "F704", "F706", "F707", "F722"),
        *("F821", "F822", "F823", "F901"),
    }
)
"""The pyflakes (F) codes that fail the check; every other F code is a warning (see the module's doc)."""
LINT_TIME_LIMIT = 20.0
"""Seconds ruff may take on one answer."""
MAX_REPORTED = 5
"""At most this many errors go into one checker message."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One ruff finding."""

    code: str
    message: str
    line: int
    column: int

    @property
    def error(self) -> bool:
        return self.code in LINT_ERRORS

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.code} {self.message}"


class LintUnavailable(Exception):
    """ruff could not check the code (missing, crashed, too slow); the message says which."""


async def lint(code: str) -> list[Finding]:
    """ruff's pyflakes findings on `code` (`ruff check --select F`, isolated from any project config)."""
    from ruff.__main__ import find_ruff_bin

    try:
        ruff = find_ruff_bin()
    except FileNotFoundError as error:
        raise LintUnavailable(f"ruff is not installed ({error})") from None
    command = [
        ruff, "check", "--isolated", "--no-cache", "--quiet", "--select", "F", "--output-format", "json",
        "--stdin-filename", "generated.py", "-",
    ]  # fmt: skip
    try:
        with anyio.fail_after(LINT_TIME_LIMIT):
            done = await anyio.run_process(command, input=code.encode(), check=False)
    except TimeoutError:
        raise LintUnavailable(f"ruff took over {LINT_TIME_LIMIT:g} s") from None
    except OSError as error:
        raise LintUnavailable(f"ruff could not be run ({error})") from None
    if done.returncode not in (0, 1):
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        raise LintUnavailable(f"ruff failed (exit {done.returncode}): {detail[-1] if detail else ''}")
    try:
        items = json.loads(done.stdout or b"[]")
        return [
            Finding(
                code=str(item["code"]),
                message=str(item["message"]),
                line=int(item["location"]["row"]),
                column=int(item["location"]["column"]),
            )
            for item in items
            # syntax errors come as `invalid-syntax`: ast.parse reported those already
            if str(item.get("code") or "").startswith("F")
        ]
    except (ValueError, KeyError, TypeError) as error:
        raise LintUnavailable(f"ruff's report could not be read ({error})") from None


async def check(code: str) -> CheckResult:
    """Parses `code`, then runs ruff's F rules: errors fail the check (with their lines), the rest warn."""
    problem = syntax_problem(code)
    if problem is not None:
        return CheckResult(problem=problem)
    try:
        findings = await lint(code)
    except LintUnavailable as error:
        logger.warning("python_agent: the code was not linted: %s", error)
        return CheckResult(warnings=(f"not linted: {error}",))
    errors = [str(f) for f in findings if f.error]
    found = tuple(str(f) for f in findings if not f.error)
    if errors:
        more = f" (and {len(errors) - MAX_REPORTED} more)" if len(errors) > MAX_REPORTED else ""
        return CheckResult(problem="; ".join(errors[:MAX_REPORTED]) + more, warnings=found)
    return CheckResult(warnings=found)


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
    check=check,
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
