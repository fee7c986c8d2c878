"""Running the functions a model asks for in `run_functions` (the loop is `loop.converse`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from artificer.agents.providers.base import FunctionTool, ProviderError, ToolCall

log = logging.getLogger(__name__)


def by_name(functions: Sequence[FunctionTool]) -> dict[str, FunctionTool]:
    table: dict[str, FunctionTool] = {}
    for function in functions:
        if function.name in table:
            raise ValueError(f"two functions are named {function.name!r}")
        table[function.name] = function
    return table


def as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, ensure_ascii=False)


async def call_function(
    functions: Mapping[str, FunctionTool], name: str, arguments: Mapping[str, Any]
) -> ToolCall:
    """Run one requested function. Its failure becomes an error result the model can read."""
    function = functions.get(name)
    if function is None:
        known = ", ".join(sorted(functions)) or "none"
        return ToolCall(
            name=name,
            arguments=dict(arguments),
            output=f"Error: there is no function named {name!r}; the functions are: {known}",
            error=True,
        )
    try:
        value = await function.handler(dict(arguments))
    except ProviderError:
        raise
    except Exception as exc:
        log.info("function %s failed: %s", name, type(exc).__name__)
        return ToolCall(name=name, arguments=dict(arguments), output=f"Error: {exc}", error=True)
    return ToolCall(name=name, arguments=dict(arguments), output=as_text(value))


def parse_arguments(raw: str | None) -> dict[str, Any] | None:
    """Arguments sent as a JSON string (OpenAI): {} when there are none, None when they are not a JSON
    object (the model is told so and may call again)."""
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
