"""Exceptions → what the client is told, written once for agent tools, read-only tools and resources.

A failure the caller can act on (bad arguments, a refused call, an artifact that is not theirs) comes
back with its own message; anything else is logged server-side and answered with a generic message that
names the operation and says whether a retry can help — never a traceback or driver text.

The server's handlers raise; `answer_tool_failures` (tools/call: a tool error, `is_error`) and
`answer_request_failures` (resources: a JSON-RPC error) wrap them and answer with `tool_failure` /
`request_failure`. They wrap the handlers rather than sit in `Server.middleware`, which also sees the SDK's
own failures (unknown method, malformed params) and whose results skip the SDK's result shaping.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import mcp_types as types
from artificer.common.records import DatabaseUnavailable, DocumentNotFound, StorageError, UnknownUser
from artificer.server.identity import IdentityError
from artificer.storage.errors import translate
from artificer.storage.logs import redact_text
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

logger = logging.getLogger(__name__)


class Refused(Exception):
    """A request the caller can fix (bad arguments, an unknown resource): the message goes to the client."""


class ToolRefused(Refused):
    """A call that must not run; the message goes to the client as a tool error."""


UNKNOWN_ACCOUNT = (
    "your account is not known to this server (the token's user is not in this database's users); "
    "sign in with an account of this deployment"
)


def tool_error(message: str) -> types.CallToolResult:
    """A tool error; keys, tokens and JWTs in it (a provider's error text can quote the API key) are
    redacted, as in the logs."""
    text = redact_text(message) or message
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


def as_storage_error(error: BaseException) -> StorageError | None:
    """The typed storage error `error` is or stands for (a driver failure storage did not wrap)."""
    return translate(error)


def unexpected_failure_message(what: str, error: BaseException) -> str:
    """What the client is told about a failure it cannot act on; the details stay in the server log."""
    typed = as_storage_error(error)
    if isinstance(typed, UnknownUser):
        return UNKNOWN_ACCOUNT
    if isinstance(typed, DatabaseUnavailable):
        return f"{what} is temporarily unavailable; try again in a moment"
    return (
        f"{what} failed with an internal error; nothing was saved. "
        "Try again, and tell an admin if it persists"
    )


def describe_validation_error(tool: str, error: ValidationError) -> str:
    """Every problem of a pydantic validation, one `where: what` each, without the input values."""
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in item["loc"]) or "arguments"
        parts.append(f"{where}: {item['msg']}")
    return f"invalid arguments for {tool}: " + "; ".join(parts)


def client_message(what: str, error: BaseException) -> str | None:
    """The message for a failure the caller can act on, or None for an unexpected one."""
    if isinstance(error, Refused | IdentityError):
        return str(error)
    if isinstance(error, ValidationError):
        return describe_validation_error(what, error)
    if isinstance(error, DocumentNotFound):
        return f"{error}: it does not exist or is not yours"
    return None


def _unexpected(what: str, error: BaseException) -> str:
    logger.error("%s failed", what, exc_info=error)
    return unexpected_failure_message(what, error)


def tool_failure(what: str, error: BaseException) -> types.CallToolResult:
    """A tool's failure as the tool error the client sees; an unexpected one is logged here."""
    return tool_error(client_message(what, error) or _unexpected(what, error))


def unknown_tool(name: str) -> MCPError:
    """A `tools/call` of a name this server has no tool for: a JSON-RPC INVALID_PARAMS error, as the spec
    asks for unknown tools (a tool error, `is_error`, is for a tool that was called and failed)."""
    return MCPError(types.INVALID_PARAMS, f"Unknown tool: {name}")


def request_failure(what: str, error: BaseException) -> MCPError:
    """A request's failure as the JSON-RPC error the client sees: no identity is INVALID_REQUEST, another
    failure the caller can act on INVALID_PARAMS, an unexpected one (logged here) INTERNAL_ERROR."""
    if isinstance(error, IdentityError):
        return MCPError(types.INVALID_REQUEST, str(error))
    message = client_message(what, error)
    if message is not None:
        return MCPError(types.INVALID_PARAMS, message)
    return MCPError(types.INTERNAL_ERROR, _unexpected(what, error))


Ctx = TypeVar("Ctx")
Params = TypeVar("Params")
Result = TypeVar("Result")

ToolHandler = Callable[[Ctx, types.CallToolRequestParams], Awaitable[types.CallToolResult]]


def answer_tool_failures(handler: ToolHandler[Ctx]) -> ToolHandler[Ctx]:
    """The tools/call `handler`, answering what it raises as a tool error (cancellation propagates)."""

    async def call_tool(ctx: Ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
        try:
            return await handler(ctx, params)
        except MCPError:
            raise
        except Exception as error:
            return tool_failure("the tool", error)

    return call_tool


def answer_request_failures(
    what: str, handler: Callable[[Ctx, Params], Awaitable[Result]]
) -> Callable[[Ctx, Params], Awaitable[Result]]:
    """The request `handler`, answering what it raises as a JSON-RPC error about `what` (e.g. "reading
    artifacts"); cancellation propagates."""

    async def handle(ctx: Ctx, params: Params) -> Result:
        try:
            return await handler(ctx, params)
        except MCPError:
            raise
        except Exception as error:
            raise request_failure(what, error) from None

    return handle
