"""The rate limit is exact across server processes sharing one database."""

from __future__ import annotations

import anyio
import pytest
from fakes.gemini import FakeGemini
from fakes.llm import Turn
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp_harness import count_rows, server_env
from test_transports import ARTIFICER

pytestmark = pytest.mark.anyio

PER_HOUR = 5
CALLS_PER_PROCESS = 6


@pytest.fixture
def gemini():
    fake = FakeGemini().start()
    fake.repeat = Turn(text="a document")
    yield fake
    fake.stop()


async def test_limit_is_exact_with_concurrent_calls_from_two_processes(
    database_url, make_user, gemini, pool
) -> None:
    await pool.execute(
        "update admin_config set config_data = "
        "jsonb_set(jsonb_set(config_data, '{rateLimit,perMinute}', '100'), "
        "'{rateLimit,perHour}', $1::text::jsonb) "
        "where config_key = 'document_agent_google'",
        str(PER_HOUR),
    )
    user = await make_user()
    params = StdioServerParameters(
        command=ARTIFICER, args=["serve"], env=server_env(database_url, user, gemini)
    )
    results: list = []

    async def one_call(client: Client, i: int) -> None:
        results.append(
            await client.call_tool("document_agent", {"operation": "create", "instruction": f"doc {i}"})
        )

    async with (
        Client(params, read_timeout_seconds=60) as first,
        Client(params, read_timeout_seconds=60) as second,
        anyio.create_task_group() as tg,
    ):
        for i in range(CALLS_PER_PROCESS):
            tg.start_soon(one_call, first, i)
            tg.start_soon(one_call, second, 100 + i)
    allowed = [r for r in results if not r.is_error]
    refused = [r for r in results if r.is_error]
    assert len(allowed) == PER_HOUR
    assert len(refused) == 2 * CALLS_PER_PROCESS - PER_HOUR
    for result in refused:
        text = result.content[0].text
        assert f"{PER_HOUR} calls per hour" in text and "retry in" in text
    assert await count_rows(database_url, "Document") == PER_HOUR
    assert len(gemini.model_requests()) == PER_HOUR  # refused calls run nothing
