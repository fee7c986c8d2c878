"""MCP prompts: a starting point per enabled agent operation, for a client's prompt menu.

`build_prompts` is pure and runs with `catalog.build_catalog`, so prompts follow the catalog: only the
enabled operations of the active provider's listed agents have one, and a reload that disables an operation
removes its prompt (the catalog's fingerprint covers prompts, and a change is announced as
`notifications/prompts/list_changed` with the tools one).

One prompt per operation of an agent with an `operation` argument (`python_create` "New Python script",
`mermaid_fix` "Fix this diagram" …); one per agent with a free-form `input` (`provider_tools`, `git_mcp`).
Its arguments are what the operation requires (the artifact id, the instruction), plus the optional
instruction and `model`. `render_prompt` (`prompts/get`) fills them in: a user message that asks for the
tool call with these arguments and shows the request the agent will send its model (the operation's own
`tools.<op>.userPromptTemplate`, its placeholders filled with what is known), and a link to the artifact.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import mcp_types as types
from artificer.agents.base import AgentSpec, ModelChoice, Operation

if TYPE_CHECKING:
    from artificer.server.catalog import AgentEntry


class PromptError(ValueError):
    """`prompts/get` names no listed prompt, or misses a required argument (the client's mistake)."""


NOUNS: Mapping[str, tuple[str, str]] = {
    "document_agent": ("document", "text"),
    "python_agent": ("Python script", "python code"),
    "mermaid_agent": ("diagram", "mermaid code"),
}
"""Per artifact agent: the word for one artifact in prompt titles, and its `Document.kind`."""

TITLES: Mapping[str, str] = {
    "create": "New {noun}",
    "generate": "Draft a {noun} (not saved)",
    "update": "Change this {noun}",
    "fix": "Fix this {noun}",
    "explain": "Explain this {noun}",
    "suggest": "Suggest edits to this {noun}",
    "revert": "Revert this {noun}",
    "accept_suggestion": "Accept a suggestion on this {noun}",
    "reject_suggestion": "Reject a suggestion on this {noun}",
}

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True, slots=True)
class PromptEntry:
    """One listed prompt and what `prompts/get` needs to render it."""

    prompt: types.Prompt
    agent_type: str
    operation: Operation | None
    """None for an agent without an `operation` argument."""
    id_argument: str | None
    """The argument naming the artifact, when the prompt takes one."""
    kind: str | None
    """`Document.kind` of the agent's artifacts (for completing the id argument)."""
    template: str | None
    """`tools.<op>.userPromptTemplate` of the agent row, if it has one."""
    config_key: str


def _field_description(spec: AgentSpec, name: str) -> str | None:
    field = spec.input_model.model_fields.get(name)
    return field.description if field is not None else None


def _argument(spec: AgentSpec, name: str, required: bool) -> types.PromptArgument:
    return types.PromptArgument(name=name, description=_field_description(spec, name), required=required)


def _entry(
    spec: AgentSpec,
    entry: AgentEntry,
    op: Operation,
    models: tuple[ModelChoice, ...],
    provider: str,
) -> PromptEntry:
    fields = spec.input_model.model_fields
    short = spec.agent_type.removesuffix("_agent")
    explicit = "operation" in fields
    noun, kind = NOUNS.get(spec.agent_type, (spec.title, None))
    names = [n for n in op.requires if n in fields]
    if not explicit:
        names = [n for n, f in fields.items() if f.is_required()]
    arguments = [_argument(spec, n, True) for n in names]
    if explicit and "instruction" in fields and "instruction" not in names and op.calls_model:
        arguments.append(_argument(spec, "instruction", False))
    if op.name == "revert" and "targetVersion" in fields and "targetVersion" not in names:
        arguments.append(_argument(spec, "targetVersion", False))
    if op.calls_model and models and "model" in fields:
        default = next((m.model_id for m in models if m.is_default), models[0].model_id)
        arguments.append(
            types.PromptArgument(
                name="model", description=f"Model to use; omit for the default ({default}).", required=False
            )
        )
    tool_config = entry.tool_config(op)
    template = tool_config.get("userPromptTemplate")
    if explicit:
        title = TITLES.get(op.name, "{noun}: " + op.name).format(noun=noun)
        title = title[0].upper() + title[1:]
        description = f"{title}: calls {spec.agent_type} with operation {op.name!r}."
    else:
        title = spec.title
        description = f"Ask the {spec.title}: calls {spec.agent_type} with your request."
    id_argument = spec.id_argument if spec.id_argument in names else None
    return PromptEntry(
        prompt=types.Prompt(
            name=f"{short}_{op.name}" if explicit else short,
            title=title,
            description=description,
            arguments=arguments,
        ),
        agent_type=spec.agent_type,
        operation=op if explicit else None,
        id_argument=id_argument,
        kind=kind if id_argument else None,
        template=template if isinstance(template, str) and template.strip() else None,
        config_key=f"{spec.agent_type}_{provider} tools.{op.config_key}",
    )


def build_prompts(
    agents: Iterable[AgentEntry], models: tuple[ModelChoice, ...], provider: str
) -> dict[str, PromptEntry]:
    """The prompts of the listed agents' enabled operations, by name, in catalog order."""
    prompts: dict[str, PromptEntry] = {}
    for entry in agents:
        spec = entry.spec
        operations = entry.enabled_operations
        if "operation" not in spec.input_model.model_fields:
            operations = operations[:1]  # one implicit operation: one prompt
        for op in operations:
            built = _entry(spec, entry, op, models, provider)
            prompts[built.prompt.name] = built
    return prompts


def _fill(template: str, values: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def render_prompt(entry: PromptEntry, arguments: Mapping[str, str] | None) -> types.GetPromptResult:
    """`prompts/get`: the prompt's user messages with `arguments` filled in."""
    given = {k: v for k, v in (arguments or {}).items() if isinstance(v, str) and v.strip()}
    missing = [a.name for a in entry.prompt.arguments or [] if a.required and a.name not in given]
    if missing:
        raise PromptError(f"prompt {entry.prompt.name!r} needs the argument(s): {', '.join(missing)}")
    known = {a.name for a in entry.prompt.arguments or []}
    call: dict[str, Any] = {}
    if entry.operation is not None:
        call["operation"] = entry.operation.name
    call.update({k: v for k, v in given.items() if k in known})
    instruction = given.get("instruction") or given.get("input")
    lines = [
        f"{entry.prompt.title}. Call the `{entry.agent_type}` tool with these arguments:",
        "",
        json.dumps(call, indent=2, ensure_ascii=False),
    ]
    if entry.template is not None:
        artifact = given.get(entry.id_argument or "")
        values = {
            "currentContent": f"<the current content of artifact://{artifact}>" if artifact else "<content>",
        }
        if instruction:
            values.update(instruction=instruction, updateInstruction=instruction, errorInfo=instruction)
        lines += [
            "",
            f"The agent sends its model this request (admin_config {entry.config_key}.userPromptTemplate):",
            "",
            _fill(entry.template, values),
        ]
    messages = [
        types.PromptMessage(role="user", content=types.TextContent(type="text", text="\n".join(lines)))
    ]
    if entry.id_argument and entry.id_argument in given:
        uri = f"artifact://{given[entry.id_argument]}"
        messages.append(
            types.PromptMessage(
                role="user", content=types.ResourceLink(type="resource_link", name=uri, uri=uri)
            )
        )
    return types.GetPromptResult(description=entry.prompt.description, messages=messages)
