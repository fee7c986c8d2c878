"""What one agent call costs and how it is logged: the activity row, one usage row per billed model
call, and the error row of a failed call — assembled here, enqueued on the log writer (never blocking the
call, never failing it).

The model calls logged are the ones the provider reported as billed (`CallRecord.model_calls`, filled in
by `metering.WatchedProvider` through `LLMRequest.on_billed`): one per provider call (`generate`,
`stream`, `run_functions` …), its round trips summed, whether the call then succeeded, failed or was
cancelled — never what an agent chose to keep. Costs come from `common.pricing.cost_of` (the one cost
function, the one rounding rule) per model call; the activity row adds the rounded per-call amounts, so its
total equals the sum of the usage rows. Cached input tokens and their cost (part of `input_tokens` and
`input_cost`) are in `usage_logs.metadata` and `agent_activity_logs.operation_metadata`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from artificer.agents.base import AgentCall, AgentOutcome, ModelChoice
from artificer.agents.providers.base import LLMResult
from artificer.common.pricing import ZERO_COST, Cost, cost_of
from artificer.server import audit
from artificer.server.identity import Caller
from artificer.storage.logs import AgentActivityRow, ErrorRow, UsageRow

logger = logging.getLogger(__name__)


class LogSink(Protocol):
    """What the pipeline needs from `storage.log_writer.LogWriter`: non-blocking enqueues."""

    def log_activity(self, row: AgentActivityRow) -> bool: ...

    def log_usage(self, row: UsageRow) -> bool: ...

    def log_error(self, row: ErrorRow) -> bool: ...


@dataclass
class CallRecord:
    """Bookkeeping of one call, turned into log rows at the end."""

    caller: Caller
    agent_type: str
    provider: str
    id_argument: str | None = None
    """The argument naming the artifact (`documentId`, `codeId`, `diagramId`), for failed calls' logs."""
    resource_type: str | None = None
    """The agent's `AgentSpec.resource_type`, for logs of calls without an outcome."""
    correlation_id: uuid.UUID = field(default_factory=uuid.uuid4)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: float = field(default_factory=time.perf_counter)
    model_calls: list[LLMResult] = field(default_factory=list)
    """Every model call the provider billed during the call, filled in by `metering.WatchedProvider`
    as the provider reports them: what is logged, one usage row each, however the call ended."""


def call_cost(result: LLMResult, model: ModelChoice | None) -> Cost | None:
    """What one model call cost at the model's `model_config` prices (None without a model)."""
    return cost_of(result.usage, model.pricing) if model is not None else None


def usage_columns(results: Sequence[LLMResult], model: ModelChoice | None) -> dict[str, Any]:
    """The token and cost columns of an activity row: sums over the call's model calls."""
    if not results:
        return dict.fromkeys(
            (
                "input_tokens",
                "output_tokens",
                "reasoning_tokens",
                "total_tokens",
                "input_cost",
                "output_cost",
                "total_cost",
            )
        )
    usage = [r.usage for r in results]
    row: dict[str, Any] = {
        "input_tokens": sum(u.input_tokens for u in usage),
        "output_tokens": sum(u.output_tokens for u in usage),
        "reasoning_tokens": sum(u.reasoning_tokens for u in usage),
        "total_tokens": sum(u.total for u in usage),
        "input_cost": None,
        "output_cost": None,
        "total_cost": None,
    }
    if model is not None:
        cost = sum((cost_of(u, model.pricing) for u in usage), ZERO_COST)
        row.update(input_cost=cost.input, output_cost=cost.output, total_cost=cost.total)
    return row


def cache_metadata(results: Sequence[LLMResult], model: ModelChoice | None) -> dict[str, Any]:
    """The cached input tokens of model calls (counted in `input_tokens`) and what they cost (part of
    `input_cost`), for `usage_logs.metadata` and `agent_activity_logs.operation_metadata`."""
    usage = [r.usage for r in results]
    cost = sum((cost_of(u, model.pricing) for u in usage), ZERO_COST) if model is not None else None
    return {
        "cache_read_tokens": sum(u.cache_read_tokens for u in usage),
        "cache_write_tokens": sum(u.cache_write_tokens for u in usage),
        "cache_read_cost": float(cost.cache_read) if cost is not None else None,
        "cache_write_cost": float(cost.cache_write) if cost is not None else None,
    }


def log_call(
    logs: LogSink,
    call: CallRecord,
    agent_call: AgentCall,
    outcome: AgentOutcome | None,
    error_type: str | None,
    error_message: str | None,
    extra_metadata: Mapping[str, Any] | None = None,
) -> None:
    """Enqueue the activity row and one usage row per billed model call (`call.model_calls`);
    `extra_metadata` (a failed call's, e.g. `AgentInputError.metadata`) joins `operation_metadata`."""
    ended_at = datetime.now(UTC)
    duration_ms = int((time.perf_counter() - call.started) * 1000)
    model = agent_call.model
    results = list(call.model_calls)
    metadata: dict[str, Any] = {"operation": agent_call.operation.name, "transport": call.caller.transport}
    if results:
        metadata.update(cache_metadata(results, model))
    if extra_metadata:
        metadata.update(extra_metadata)
    if outcome is not None:
        metadata.update(outcome.metadata)
        resource_id = outcome.resource_id
        resource_type = outcome.resource_type or call.resource_type
    else:
        resource_id = getattr(agent_call.arguments, call.id_argument, None) if call.id_argument else None
        resource_type = call.resource_type
    try:
        logs.log_activity(
            AgentActivityRow(
                **{
                    "user_id": call.caller.user_id,
                    "correlation_id": call.correlation_id,
                    "agent_type": call.agent_type,
                    "operation_type": agent_call.operation.operation_type,
                    "operation_category": agent_call.operation.category,
                    "operation_metadata": metadata,
                    "resource_id": resource_id,
                    "resource_type": resource_type,
                    "duration_ms": duration_ms,
                    "start_time": call.started_at,
                    "end_time": ended_at,
                    "model_id": model.model_id if model else None,
                    "provider": call.provider if agent_call.operation.calls_model else None,
                    "thinking_mode": bool(model and model.thinking),
                    **usage_columns(results, model),
                    "success": error_type is None,
                    "error_type": error_type,
                    "error_message": error_message,
                    "retry_count": sum(r.retries for r in results),
                }
            )
        )
        for result in results:
            cost = call_cost(result, model)
            logs.log_usage(
                UsageRow(
                    **{
                        "user_id": call.caller.user_id,
                        "agent_type": call.agent_type,
                        "model_used": result.model,
                        "provider": result.provider,
                        "input_tokens": result.usage.input_tokens,
                        "output_tokens": result.usage.output_tokens,
                        "total_tokens": result.usage.total,
                        "input_cost": cost.input if cost else None,
                        "output_cost": cost.output if cost else None,
                        "total_cost": cost.total if cost else None,
                        "duration_ms": result.duration_ms,
                        "request_timestamp": call.started_at,
                        "response_timestamp": ended_at,
                        "metadata": {
                            "success": error_type is None,
                            "correlation_id": str(call.correlation_id),
                            "operation": agent_call.operation.name,
                            "reasoning_tokens": result.usage.reasoning_tokens,
                            "retries": result.retries,
                            **cache_metadata([result], model),
                        },
                    }
                )
            )
    except Exception:  # logging must never fail the call
        logger.exception("could not enqueue log rows")
    audit.record(  # the user-activity row, linked to the activity row by the correlation id
        logs,
        call.caller,
        audit.agent_activity_type(agent_call.operation.name, call.resource_type),
        correlation_id=call.correlation_id,
        resource_id=resource_id,
        resource_type=resource_type,
        metadata={"tool": call.agent_type, "operation": agent_call.operation.name},
        success=error_type is None,
        error_message=error_message,
    )


def log_failure(
    logs: LogSink,
    call: CallRecord,
    agent_call: AgentCall,
    error: BaseException,
    message: str,
    *,
    category: str,
) -> None:
    """Enqueue the rows of a failed call: activity and usage (`log_call`) and one `error_logs` row."""
    log_call(logs, call, agent_call, None, type(error).__name__, message, getattr(error, "metadata", None))
    try:
        logs.log_error(
            ErrorRow(
                **{
                    "user_id": call.caller.user_id,
                    "error_type": category,
                    "error_category": f"{call.agent_type}.{agent_call.operation.name}",
                    "error_message": message,
                    "error_details": {
                        "exception": type(error).__name__,
                        "correlation_id": str(call.correlation_id),
                        "provider": call.provider,
                    },
                    "severity": "warning" if category == "user" else "error",
                }
            )
        )
    except Exception:  # logging must never fail the call
        logger.exception("could not enqueue the error log row")
