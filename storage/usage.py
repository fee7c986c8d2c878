"""The caller's own usage: calls, tokens and cost from `usage_logs`, per agent.

`current_user_summary` runs `get_current_user_usage_summary` on a connection that runs as the caller
(`as_user(...)`): the function counts only `auth.uid()`'s rows, and RLS applies on top.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

_SUMMARY_SQL = (
    "select total_calls, total_input_tokens, total_output_tokens, total_tokens, total_cost, agent_breakdown "
    "from public.get_current_user_usage_summary("
    "coalesce($1::date, current_date - 30), coalesce($2::date, current_date))"
)


@dataclass(frozen=True, slots=True)
class UsageSummary:
    """Totals over a date range (both ends included) and the same per agent type."""

    total_calls: int = 0
    total_input_tokens: int = 0
    total_output_tokens: int = 0
    total_tokens: int = 0
    total_cost: Decimal = Decimal(0)
    by_agent: dict[str, Any] = field(default_factory=dict)
    """agent_type → {"calls", "tokens", "cost"}."""


def _breakdown(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):  # a connection without the json codec
        return dict(json.loads(value))
    return dict(value)


async def current_user_summary(
    conn: asyncpg.Connection, start: date | None = None, end: date | None = None
) -> UsageSummary:
    """The caller's usage from `start` (default: 30 days ago) to `end` (default: today), inclusive.

    `conn` must run as the caller (`as_user`); with no identity the summary is empty.
    """
    record = await conn.fetchrow(_SUMMARY_SQL, start, end)
    if record is None:
        return UsageSummary()
    return UsageSummary(
        total_calls=int(record["total_calls"] or 0),
        total_input_tokens=int(record["total_input_tokens"] or 0),
        total_output_tokens=int(record["total_output_tokens"] or 0),
        total_tokens=int(record["total_tokens"] or 0),
        total_cost=Decimal(record["total_cost"] or 0),
        by_agent=_breakdown(record["agent_breakdown"]),
    )
