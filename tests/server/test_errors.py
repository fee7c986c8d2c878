"""The one exception → client answer mapping (`server.errors`), on the handler wrappers the server uses.

End to end (real clients, a database that goes away, bad URIs) it is tested in test_failures.py; here
each kind of failure a handler can raise is checked once, on both answers: a tool error and a JSON-RPC
error.
"""

from __future__ import annotations

import uuid

import anyio
import asyncpg
import mcp_types as types
import pytest
from artificer.common.records import DatabaseUnavailable, DocumentNotFound, UnknownUser
from artificer.server.errors import (
    UNKNOWN_ACCOUNT,
    ToolRefused,
    answer_request_failures,
    answer_tool_failures,
)
from artificer.server.identity import IdentityError
from artificer.server.resources import ResourceNotFound
from mcp.shared.exceptions import MCPError

pytestmark = pytest.mark.anyio

PARAMS = types.CallToolRequestParams(name="artifacts", arguments={})

SECRET = "password=hunter2 at 10.0.0.7"
"""Driver text that must never reach a client."""


def raising(error: BaseException):
    async def handler(ctx: object, params: object) -> types.CallToolResult:
        raise error

    return handler


async def tool_answer(error: BaseException) -> str:
    result = await answer_tool_failures(raising(error))(None, PARAMS)
    assert result.is_error
    text = result.content[0].text
    assert SECRET not in text and "Traceback" not in text
    return text


async def request_answer(error: BaseException) -> types.ErrorData:
    with pytest.raises(MCPError) as caught:
        await answer_request_failures("reading artifacts", raising(error))(None, None)
    assert SECRET not in caught.value.error.message
    return caught.value.error


async def test_failures_the_caller_can_act_on_keep_their_message() -> None:
    assert (
        await tool_answer(ToolRefused("action read needs `documentId`")) == "action read needs `documentId`"
    )
    assert await tool_answer(IdentityError("no verified bearer token")) == "no verified bearer token"
    missing = f"document {uuid.uuid4()} not found"
    assert await tool_answer(DocumentNotFound(missing)) == f"{missing}: it does not exist or is not yours"

    refused = await request_answer(ResourceNotFound("unknown resource 'x'"))
    assert (refused.code, refused.message) == (types.INVALID_PARAMS, "unknown resource 'x'")
    anonymous = await request_answer(IdentityError("no verified bearer token"))
    assert (anonymous.code, anonymous.message) == (types.INVALID_REQUEST, "no verified bearer token")


async def test_unexpected_failures_are_generic_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    text = await tool_answer(RuntimeError(SECRET))
    assert text.startswith("the tool failed with an internal error; nothing was saved")
    error = await request_answer(RuntimeError(SECRET))
    assert error.code == types.INTERNAL_ERROR
    assert error.message.startswith("reading artifacts failed with an internal error")
    logged = [r for r in caplog.records if r.exc_info and SECRET in str(r.exc_info[1])]
    assert len(logged) == 2, "the details go to the server log"


async def test_storage_failures_say_what_to_do() -> None:
    for error in (DatabaseUnavailable("down"), asyncpg.ConnectionDoesNotExistError(SECRET), OSError(SECRET)):
        assert "temporarily unavailable; try again" in await tool_answer(error)
        assert "temporarily unavailable; try again" in (await request_answer(error)).message
    assert await tool_answer(UnknownUser("gone")) == UNKNOWN_ACCOUNT
    assert (await request_answer(UnknownUser("gone"))).message == UNKNOWN_ACCOUNT


async def test_protocol_errors_and_cancellation_pass_through() -> None:
    protocol = MCPError(types.INVALID_PARAMS, "Invalid request parameters")
    with pytest.raises(MCPError) as caught:
        await answer_tool_failures(raising(protocol))(None, PARAMS)
    assert caught.value is protocol
    with pytest.raises(MCPError) as caught:
        await answer_request_failures("listing artifacts", raising(protocol))(None, None)
    assert caught.value is protocol

    answered: list[object] = []

    async def slow(ctx: object, params: object) -> types.CallToolResult:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    with anyio.CancelScope() as scope:
        scope.cancel()
        answered.append(await answer_tool_failures(slow)(None, PARAMS))
    assert scope.cancelled_caught and answered == [], "a cancelled call is not answered as a tool error"
