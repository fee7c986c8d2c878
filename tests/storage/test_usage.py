"""storage.usage: the caller's own usage summary, run as the caller."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from artificer.storage import usage
from artificer.storage.database import as_user

pytestmark = pytest.mark.anyio


def claims(user_id: uuid.UUID) -> dict[str, Any]:
    return {"sub": str(user_id), "role": "authenticated", "app_metadata": {"role": "user"}}


async def test_summary_counts_only_the_callers_rows_in_the_range(
    pool: asyncpg.Pool, make_user: Any, add_usage: Any
) -> None:
    alice, bob = await make_user(), await make_user()
    await add_usage(alice, "document_agent", 10, 20, "0.001000", 0)
    await add_usage(alice, "document_agent", 5, 5, "0.000500", 1)
    await add_usage(alice, "python_agent", 1, 2, "0.000100", 0)
    await add_usage(alice, "python_agent", 100, 100, "1.000000", 40)  # outside the default 30 days
    await add_usage(bob, "document_agent", 1000, 1000, "9.000000", 0)

    async with as_user(pool, claims(alice)) as conn:
        summary = await usage.current_user_summary(conn)
    assert isinstance(summary, usage.UsageSummary)
    assert (summary.total_calls, summary.total_input_tokens, summary.total_output_tokens) == (3, 16, 27)
    assert summary.total_tokens == 43
    assert summary.total_cost == Decimal("0.001600")
    assert set(summary.by_agent) == {"document_agent", "python_agent"}
    assert summary.by_agent["document_agent"]["calls"] == 2
    assert summary.by_agent["python_agent"]["tokens"] == 3

    today = date.today()
    async with as_user(pool, claims(alice)) as conn:
        older = await usage.current_user_summary(conn, today - timedelta(days=45), today - timedelta(days=35))
    assert (older.total_calls, older.total_tokens, set(older.by_agent)) == (1, 200, {"python_agent"})


async def test_summary_of_a_user_without_calls_is_empty(
    pool: asyncpg.Pool, make_user: Any, add_usage: Any
) -> None:
    carol = await make_user()
    await add_usage(await make_user(), "document_agent", 1, 1, "0.1", 0)
    async with as_user(pool, claims(carol)) as conn:
        summary = await usage.current_user_summary(conn)
    assert summary == usage.UsageSummary()
