"""What an operator watches: `/health` (alive), `/ready` (able to serve) and Prometheus `/metrics`.

    service = Observability()               # on the server: build_server puts it in Server.middleware
    service.attach(pool=..., logs=..., catalog=...)   # by the lifespan, once they exist
    routes = service.routes()               # GET /ready and GET /metrics, for the HTTP app

`/ready` answers 200 when the database answers within `READY_TIMEOUT_SECONDS`, the tool catalog is loaded
and the log writer's backlog is under `LOG_BACKLOG_LIMIT` rows; otherwise 503 with the failing checks.

Metrics (one registry per server, so several servers in one process do not collide):
- `artificer_tool_calls_total{tool,operation,outcome}` (outcome: ok, error, rate_limited, refused,
  cancelled) and `artificer_tool_call_duration_seconds{tool,operation}`;
- `artificer_rate_limit_refusals_total{tool}`;
- `artificer_model_tokens_total{provider,model,kind}` (kind: input, output) and
  `artificer_model_cost_usd_total{provider,model}`, from the usage rows the calls log;
- `artificer_log_rows_written_total`, `artificer_log_rows_dropped_total{reason}` (bad, overflow, closed),
  `artificer_log_rows_queued`;
- `artificer_db_pool_connections{state}` (in_use, idle) and `artificer_db_pool_max_size`.
Label values that come from callers (tool, operation) are bounded: a name not in the catalog is `unknown`,
and operations beyond `MAX_OPERATIONS` distinct values are `other`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import anyio
from artificer.storage.log_writer import LogWriter
from artificer.storage.logs import UsageRow
from mcp.server.context import CallNext, ServerRequestContext
from mcp.shared.exceptions import MCPError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

READY_TIMEOUT_SECONDS = 2.0
LOG_BACKLOG_LIMIT = 10_000
"""Rows queued in the log writer above which the server reports itself not ready (the database is not
keeping up: rows would soon be dropped)."""
MAX_OPERATIONS = 32
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
RATE_LIMITED = "rate limit reached for "
"""How the pipeline's refusal of a rate-limited call begins (server/pipeline.py)."""
_OPERATION = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class _LiveState(Collector):
    """Gauges and counters read at scrape time: the log writer's stats, the pool."""

    def __init__(self, service: Observability) -> None:
        self._service = service

    def collect(self) -> Iterator[Any]:
        logs, pool = self._service.logs, self._service.pool
        if logs is not None:
            stats = logs.stats
            written = CounterMetricFamily("artificer_log_rows_written", "Log rows written to the database.")
            written.add_metric([], stats.written)
            yield written
            dropped = CounterMetricFamily(
                "artificer_log_rows_dropped", "Log rows dropped, by reason.", labels=["reason"]
            )
            dropped.add_metric(["bad"], stats.dropped_bad)
            dropped.add_metric(["overflow"], stats.dropped_overflow)
            dropped.add_metric(["closed"], stats.dropped_closed)
            yield dropped
            queued = GaugeMetricFamily("artificer_log_rows_queued", "Log rows waiting to be written.")
            queued.add_metric([], logs.pending)
            yield queued
        if pool is not None:
            size, idle = pool.get_size(), pool.get_idle_size()
            connections = GaugeMetricFamily(
                "artificer_db_pool_connections", "Database pool connections.", labels=["state"]
            )
            connections.add_metric(["in_use"], size - idle)
            connections.add_metric(["idle"], idle)
            yield connections
            most = GaugeMetricFamily("artificer_db_pool_max_size", "The pool's largest size.")
            most.add_metric([], pool.get_max_size())
            yield most


class Observability:
    """Metrics, the call-observing middleware, and the `/ready` and `/metrics` routes of one server."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.pool: Any = None
        self.logs: LogWriter | None = None
        self.catalog: Any = None
        self._operations: set[str] = set()
        self.calls = Counter(
            "artificer_tool_calls",
            "Tool calls, by tool, operation and outcome.",
            ["tool", "operation", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "artificer_tool_call_duration_seconds",
            "Tool call latency.",
            ["tool", "operation"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "artificer_rate_limit_refusals",
            "Calls refused by the rate limit.",
            ["tool"],
            registry=self.registry,
        )
        self.tokens = Counter(
            "artificer_model_tokens",
            "Model tokens, by provider, model and kind (input, output).",
            ["provider", "model", "kind"],
            registry=self.registry,
        )
        self.cost = Counter(
            "artificer_model_cost_usd", "Model cost in USD.", ["provider", "model"], registry=self.registry
        )
        self.registry.register(_LiveState(self))

    # --- wiring -------------------------------------------------------------------------------------
    def attach(self, *, pool: Any, logs: LogWriter, catalog: Any) -> None:
        """Called by the lifespan once the pool, the log writer and the catalog service exist."""
        self.pool, self.logs, self.catalog = pool, logs, catalog
        logs.usage_observers.append(self.observe_usage)

    def detach(self) -> None:
        self.pool = self.logs = self.catalog = None

    def observe_usage(self, row: UsageRow) -> None:
        provider, model = row.provider or "unknown", row.model_used or "unknown"
        if row.input_tokens:
            self.tokens.labels(provider, model, "input").inc(row.input_tokens)
        if row.output_tokens:
            self.tokens.labels(provider, model, "output").inc(row.output_tokens)
        if row.total_cost:
            self.cost.labels(provider, model).inc(float(row.total_cost))

    # --- the middleware -----------------------------------------------------------------------------
    def _labels(self, params: Any) -> tuple[str, str]:
        params = params if isinstance(params, dict) else {}
        name = params.get("name")
        catalog = self.catalog.current if self.catalog is not None else None
        known = isinstance(name, str) and catalog is not None and any(t.name == name for t in catalog.tools())
        tool = name if known and isinstance(name, str) else "unknown"
        arguments = params.get("arguments")
        operation = arguments.get("operation") if isinstance(arguments, dict) else None
        if not isinstance(operation, str) or not _OPERATION.match(operation):
            return tool, "none" if operation is None else "other"
        if operation not in self._operations:
            if len(self._operations) >= MAX_OPERATIONS:
                return tool, "other"
            self._operations.add(operation)
        return tool, operation

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
        if ctx.method != "tools/call":
            return await call_next(ctx)
        tool, operation = self._labels(ctx.params)
        started = time.perf_counter()
        outcome = "cancelled"
        try:
            result = await call_next(ctx)
            outcome = _outcome(result)
            return result
        except MCPError:
            outcome = "refused"
            raise
        except anyio.get_cancelled_exc_class():
            outcome = "cancelled"
            raise
        except Exception:
            outcome = "error"
            raise
        finally:
            self.calls.labels(tool, operation, outcome).inc()
            self.latency.labels(tool, operation).observe(time.perf_counter() - started)
            if outcome == "rate_limited":
                self.rate_limited.labels(tool).inc()

    # --- the routes ---------------------------------------------------------------------------------
    async def ready(self, _: Request) -> JSONResponse:
        checks: dict[str, str] = {}
        if self.pool is None:
            checks["database"] = "not connected yet"
        else:
            try:
                with anyio.fail_after(READY_TIMEOUT_SECONDS):
                    await self.pool.fetchval("select 1")
                checks["database"] = "ok"
            except Exception as error:  # unreachable, timed out, pool closed
                checks["database"] = f"unreachable ({type(error).__name__})"
        loaded = self.catalog is not None and self.catalog.current is not None
        checks["catalog"] = "ok" if loaded else "not loaded"
        backlog = self.logs.pending if self.logs is not None else None
        if backlog is None:
            checks["log_backlog"] = "no log writer yet"
        elif backlog >= LOG_BACKLOG_LIMIT:
            checks["log_backlog"] = f"{backlog} rows queued (limit {LOG_BACKLOG_LIMIT})"
        else:
            checks["log_backlog"] = "ok"
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503
        )

    async def metrics(self, _: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    def routes(self) -> list[Route]:
        return [
            Route("/ready", self.ready, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
        ]


def _outcome(result: Any) -> str:
    """ok, error or rate_limited, from a tools/call result (a model, or the dict a middleware made of it)."""
    if isinstance(result, dict):
        is_error, content = result.get("isError"), result.get("content") or []
    else:
        is_error, content = getattr(result, "is_error", False), getattr(result, "content", None) or []
    if not is_error:
        return "ok"
    first = content[0] if content else None
    text = first.get("text") if isinstance(first, dict) else getattr(first, "text", None)
    return "rate_limited" if isinstance(text, str) and text.startswith(RATE_LIMITED) else "error"
