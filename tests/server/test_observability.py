"""`/health`, `/ready` and Prometheus `/metrics` over real HTTP; a dropped log row in metrics and the log."""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import httpx2
import pytest
from artificer.server.identity import make_hs256_token
from artificer.server.observability import LOG_BACKLOG_LIMIT, Observability
from artificer.storage.log_writer import LogWriter
from artificer.storage.logs import UsageRow
from fakes.gemini import FakeGemini
from mcp.shared.exceptions import MCPError
from mcp_harness import JWT_SECRET, doc_turn, make_settings
from prometheus_client.parser import text_string_to_metric_families
from starlette.requests import Request
from test_transports import http_client, running_http

pytestmark = pytest.mark.anyio


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics page: (name, sorted labels) -> value."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_health_ready_and_metrics_over_http(database_url: str, make_user, gemini: FakeGemini) -> None:
    user = await make_user()
    pool = await asyncpg.connect(database_url)
    try:  # one call a minute for the document agent: the second call is refused
        await pool.execute(
            "update admin_config set config_data = jsonb_set(config_data, '{rateLimit,perMinute}', '1')"
            " where config_key = 'document_agent_google'"
        )
    finally:
        await pool.close()
    gemini.script(doc_turn("# Metrics\n\nCounted.", input_tokens=30, output_tokens=11))
    settings = make_settings(database_url, None, gemini)
    async with running_http(settings) as base, httpx2.AsyncClient(base_url=base) as plain:
        assert (await plain.get("/health")).status_code == 200
        ready = await plain.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {
            "status": "ready",
            "checks": {"database": "ok", "catalog": "ok", "log_backlog": "ok"},
        }
        async with http_client(base, make_hs256_token(JWT_SECRET, user)) as client:
            first = await client.call_tool("document_agent", {"operation": "create", "instruction": "M"})
            assert not first.is_error, first.content
            second = await client.call_tool("document_agent", {"operation": "create", "instruction": "M"})
            assert second.is_error and second.content[0].text.startswith("rate limit reached")
            listed = await client.call_tool("artifacts", {"action": "list"})
            assert not listed.is_error
            with pytest.raises(MCPError, match="Unknown tool"):
                await client.call_tool(f"no_such_tool_{uuid.uuid4().hex}", {})
        page = await plain.get("/metrics")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/plain")
    got = samples(page.text)
    doc = (("operation", "create"), ("tool", "document_agent"))
    assert got[("artificer_tool_calls_total", (*doc[:1], ("outcome", "ok"), doc[1]))] == 1
    assert got[("artificer_tool_calls_total", (*doc[:1], ("outcome", "rate_limited"), doc[1]))] == 1
    assert got[("artificer_rate_limit_refusals_total", (("tool", "document_agent"),))] == 1
    assert got[("artificer_tool_call_duration_seconds_count", doc)] == 2
    assert (
        got[("artificer_tool_calls_total", (("operation", "none"), ("outcome", "ok"), ("tool", "artifacts")))]
        == 1
    )
    # a name not in the catalog never becomes a label of its own
    assert not any("no_such_tool" in str(key) for key in got)
    assert (
        got[
            (
                "artificer_tool_calls_total",
                (("operation", "none"), ("outcome", "refused"), ("tool", "unknown")),
            )
        ]
        == 1
    )
    model = (("model", "gemini-2.0-flash"), ("provider", "google"))
    assert got[("artificer_model_tokens_total", (("kind", "input"), *model))] == 30
    assert got[("artificer_model_tokens_total", (("kind", "output"), *model))] == 11
    assert got[("artificer_model_cost_usd_total", model)] > 0
    assert got[("artificer_db_pool_max_size", ())] == 4
    assert ("artificer_db_pool_connections", (("state", "in_use"),)) in got
    assert got[("artificer_log_rows_dropped_total", (("reason", "overflow"),))] == 0


async def ready_of(service: Observability) -> tuple[int, dict[str, str]]:
    response = await service.ready(
        Request({"type": "http", "method": "GET", "path": "/ready", "headers": []})
    )
    import json

    return response.status_code, json.loads(bytes(response.body))["checks"]


class Loaded:
    current: object = object()


async def test_not_ready_before_start_with_a_backlog_or_without_the_database(pool: asyncpg.Pool) -> None:
    service = Observability()
    status, checks = await ready_of(service)
    assert status == 503 and checks["database"] == "not connected yet" and checks["catalog"] == "not loaded"

    writer = LogWriter(pool)  # never started: its rows stay queued, a backlog
    service.attach(pool=pool, logs=writer, catalog=Loaded())
    assert await ready_of(service) == (200, {"database": "ok", "catalog": "ok", "log_backlog": "ok"})
    user = uuid.uuid4()
    for _ in range(LOG_BACKLOG_LIMIT):
        writer.log_usage(UsageRow(user_id=user, agent_type="document_agent"))
    status, checks = await ready_of(service)
    assert (
        status == 503
        and checks["log_backlog"] == f"{LOG_BACKLOG_LIMIT} rows queued (limit {LOG_BACKLOG_LIMIT})"
    )

    closed = await asyncpg.create_pool(str(pool._connect_args[0]), min_size=1, max_size=1)  # type: ignore[attr-defined]
    await closed.close()
    service.attach(pool=closed, logs=LogWriter(pool), catalog=Loaded())
    status, checks = await ready_of(service)
    assert status == 503 and checks["database"].startswith("unreachable")


async def test_a_dropped_log_row_is_counted_and_logged(
    pool: asyncpg.Pool, make_user: Any, caplog: pytest.LogCaptureFixture
) -> None:
    service = Observability()
    writer = LogWriter(pool, max_queue=1)  # not started: the second row pushes the first out
    service.attach(pool=pool, logs=writer, catalog=Loaded())
    user = await make_user()
    with caplog.at_level(logging.WARNING, logger="artificer.storage.log_writer"):
        writer.log_usage(
            UsageRow(
                user_id=user,
                agent_type="document_agent",
                model_used="m",
                provider="google",
                input_tokens=5,
                total_cost=Decimal("0.25"),
            )
        )
        writer.log_usage(UsageRow(user_id=user, agent_type="document_agent"))
    assert any("dropped the oldest queued usage_logs row" in r.getMessage() for r in caplog.records)
    await writer.aclose()  # closed: one more row is dropped, counted and logged too
    with caplog.at_level(logging.WARNING, logger="artificer.storage.log_writer"):
        writer.log_usage(UsageRow(user_id=user, agent_type="document_agent"))
    assert any("the log writer is closed" in r.getMessage() for r in caplog.records)
    got = samples((await service.metrics(Request({"type": "http"}))).body.decode())
    assert got[("artificer_log_rows_dropped_total", (("reason", "overflow"),))] == 1
    assert got[("artificer_log_rows_dropped_total", (("reason", "closed"),))] == 1
    assert got[("artificer_log_rows_written_total", ())] == 1
    assert (
        got[("artificer_model_tokens_total", (("kind", "input"), ("model", "m"), ("provider", "google")))]
        == 5
    )
    assert got[("artificer_model_cost_usd_total", (("model", "m"), ("provider", "google")))] == 0.25
