"""The one path every agent tool call takes: identity → config → rate limit → run → store → log.

`run_agent_tool` is written once; agent modules only declare an `AgentSpec` and run. It

1. takes the `Caller` the transport identified (stdio: the local user; HTTP: the verified JWT);
2. reads the cached catalog (admin_config / model_config of the active provider) — no query;
3. validates the arguments against the agent's input model and the enabled operations, and resolves the
   model (`model` argument, else the provider's default model) — no query;
4. counts the call against the agent's rateLimit (per minute / hour / day, per user and agent) in ONE
   statement; a refused call says which limit and when to retry, and runs nothing;
5. runs the operation (the agent streams from its provider, reporting progress, and stores the new version
   as the caller in ONE statement at the end, so a failed or cancelled call stores nothing); progress
   goes to the client at most once per `PROGRESS_INTERVAL_SECONDS` (plus whenever its message changes);
   when the agent refuses the caller's arguments (unknown or someone else's id, bad targetVersion,
   nothing to revert …) before any model call, the counted slot is given back (one statement), so a
   refused call changes nothing;
6. hands one `agent_activity_logs` row, one `usage_logs` row per model call, and on failure one
   `error_logs` row to the log writer, which batches them off the call's path.

Every failure the caller can act on comes back as a tool error (`is_error`) with a message; anything
unexpected is logged server-side and returned as a generic tool error, never a traceback.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import anyio
import asyncpg
import mcp_types as types
from artificer.agents.base import AgentCall, AgentInputError, AgentOutcome, ModelChoice, Operation, ProgressFn
from artificer.agents.providers.base import (
    FunctionTool,
    LLMProvider,
    LLMRequest,
    LLMResult,
    LLMStream,
    M,
    NativeTool,
    ObjectResult,
    ProviderError,
)
from artificer.server.catalog import Catalog, CatalogError, CatalogService
from artificer.server.identity import Caller
from artificer.server.settings import Settings
from artificer.storage import documents, rate_limits
from artificer.storage.logs import AgentActivityRow, ErrorRow, UsageRow
from pydantic import BaseModel, ValidationError

logger = logging.getLogger(__name__)


class LogSink(Protocol):
    """What the pipeline needs from `storage.log_writer.LogWriter`: non-blocking enqueues."""

    def log_activity(self, row: AgentActivityRow) -> bool: ...

    def log_usage(self, row: UsageRow) -> bool: ...

    def log_error(self, row: ErrorRow) -> bool: ...


ProviderFactory = Callable[[str], LLMProvider]


@dataclass
class PipelineDeps:
    """What the pipeline reads from the server's lifespan state."""

    pool: Any
    catalog: CatalogService
    logs: LogSink
    provider_for: ProviderFactory
    counters: dict[str, int] = field(default_factory=dict)
    settings: Settings | None = None
    """Handed to every agent call (`AgentCall.settings`)."""


class ToolRefused(Exception):
    """A call that must not run; the message goes to the client as a tool error."""


def tool_error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


UNKNOWN_ACCOUNT = (
    "your account is not known to this server (the token's user is not in this database's users); "
    "sign in with an account of this deployment"
)


def is_unknown_user(error: BaseException) -> bool:
    """The `validate_user_id` trigger refused a row: the caller's user id is not in `auth.users`."""
    return isinstance(error, asyncpg.ForeignKeyViolationError) and "auth.users" in str(error)


def is_unavailable(error: BaseException) -> bool:
    """The database cannot serve right now: down, restarting, connections gone, pool exhausted."""
    if isinstance(error, asyncpg.ObjectNotInPrerequisiteStateError):
        return "accepting connections" in str(error)  # the database refuses connections for now
    return isinstance(
        error,
        OSError
        | TimeoutError
        | asyncpg.InterfaceError
        | asyncpg.InternalClientError  # a connection the server dropped mid-protocol
        | asyncpg.PostgresConnectionError
        | asyncpg.OperatorInterventionError
        | asyncpg.InsufficientResourcesError,
    )


def unexpected_failure_message(what: str, error: BaseException) -> str:
    """What the client is told about a failure it cannot act on; the details stay in the server log."""
    if is_unknown_user(error):
        return UNKNOWN_ACCOUNT
    if is_unavailable(error):
        return f"{what} is temporarily unavailable; try again in a moment"
    return (
        f"{what} failed with an internal error; nothing was saved. "
        "Try again, and tell an admin if it persists"
    )


def describe_validation_error(tool: str, error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in item["loc"]) or "arguments"
        parts.append(f"{where}: {item['msg']}")
    return f"invalid arguments for {tool}: " + "; ".join(parts)


def _required_arguments(spec_name: str, operation: Operation, args: BaseModel) -> None:
    """Static per-operation requirements, checked before anything is counted or run."""
    for name in operation.requires:
        if hasattr(args, name) and getattr(args, name) in (None, ""):
            raise ToolRefused(f"{spec_name} operation {operation.name} needs `{name}`")


PROGRESS_INTERVAL_SECONDS = 0.05
"""Least time between two progress notifications of one call (a stream yields many small deltas)."""


def throttled_progress(progress: ProgressFn, interval: float = PROGRESS_INTERVAL_SECONDS) -> ProgressFn:
    """`progress`, passing on the first report at once, then at most one per `interval` seconds; a
    report whose message differs from the last one passed on (`thinking` → `writing`) always goes out."""
    last_sent = -float("inf")
    last_message: str | None = None

    async def report(done: float, total: float | None, message: str | None) -> None:
        nonlocal last_sent, last_message
        now = time.monotonic()
        if now - last_sent < interval and message == last_message:
            return
        last_sent, last_message = now, message
        await progress(done, total, message)

    return report


def _retry_text(seconds: float | None) -> str:
    if seconds is None:
        return "later"
    seconds = max(1, int(seconds + 0.999))
    return f"in {seconds} s" if seconds < 120 else f"in {seconds // 60} min"


def _costs(results: Sequence[LLMResult], model: ModelChoice | None) -> dict[str, Any]:
    usage = [r.usage for r in results]
    input_tokens = sum(u.input_tokens for u in usage)
    output_tokens = sum(u.output_tokens for u in usage)
    reasoning = sum(u.reasoning_tokens for u in usage)
    total = sum(u.total_tokens or (u.input_tokens + u.output_tokens) for u in usage)
    row: dict[str, Any] = {
        "input_tokens": input_tokens if results else None,
        "output_tokens": output_tokens if results else None,
        "reasoning_tokens": reasoning if results else None,
        "total_tokens": total if results else None,
        "input_cost": None,
        "output_cost": None,
        "total_cost": None,
    }
    if results and model is not None:
        costs = [_usage_costs(r, model) for r in results]
        input_cost = sum((c[0] for c in costs), Decimal(0))
        output_cost = sum((c[1] for c in costs), Decimal(0))
        row.update(input_cost=input_cost, output_cost=output_cost, total_cost=input_cost + output_cost)
    return row


_MICRO = Decimal("0.000001")
_MILLION = Decimal(1_000_000)


def _usage_costs(result: LLMResult, model: ModelChoice) -> tuple[Decimal, Decimal]:
    u = result.usage
    input_cost = (Decimal(u.input_tokens) * model.pricing.input_per_million / _MILLION).quantize(_MICRO)
    output_cost = (Decimal(u.billable_output_tokens) * model.pricing.output_per_million / _MILLION).quantize(
        _MICRO
    )
    return input_cost, output_cost


def _error_type(error: BaseException) -> str:
    return type(error).__name__


class WatchedProvider:
    """The call's provider, noting whether the agent asked it for anything (`used`): a call that was
    refused before any model request gives its rate-limit slot back, one that reached the model not."""

    def __init__(self, inner: LLMProvider) -> None:
        self.inner = inner
        self.name = inner.name
        self.used = False

    async def generate(self, request: LLMRequest) -> LLMResult:
        self.used = True
        return await self.inner.generate(request)

    def stream(self, request: LLMRequest) -> LLMStream:
        self.used = True
        return self.inner.stream(request)

    async def generate_object(self, request: LLMRequest, schema: type[M]) -> ObjectResult[M]:
        self.used = True
        return await self.inner.generate_object(request, schema)

    async def generate_with_native_tools(self, request: LLMRequest, tools: Sequence[NativeTool]) -> LLMResult:
        self.used = True
        return await self.inner.generate_with_native_tools(request, tools)

    async def run_functions(
        self, request: LLMRequest, functions: Sequence[FunctionTool], *, max_steps: int = 5
    ) -> LLMResult:
        self.used = True
        return await self.inner.run_functions(request, functions, max_steps=max_steps)

    async def aclose(self) -> None:  # the provider is shared by the server; one call never closes it
        return None


@dataclass
class _Call:
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


async def run_agent_tool(
    deps: PipelineDeps,
    caller: Caller,
    name: str,
    arguments: Mapping[str, Any] | None,
    progress: ProgressFn,
) -> types.CallToolResult:
    """Serve one `tools/call` of an agent tool. Never raises except on cancellation."""
    try:
        return await _run_agent_tool(deps, caller, name, arguments, progress)
    except anyio.get_cancelled_exc_class():
        raise
    except Exception as error:  # the last line: nothing internal reaches the client
        logger.exception("%s failed outside its operation", name)
        return tool_error(unexpected_failure_message(name, error))


async def _run_agent_tool(
    deps: PipelineDeps,
    caller: Caller,
    name: str,
    arguments: Mapping[str, Any] | None,
    progress: ProgressFn,
) -> types.CallToolResult:
    try:
        catalog = deps.catalog.get()
    except CatalogError as error:
        return tool_error(f"{name} is not available: {error}")
    entry = catalog.agents.get(name)
    if entry is None:
        reason = catalog.refusals.get(name)
        return tool_error(f"{reason}; ask an admin to enable it" if reason else f"unknown tool {name!r}")
    spec = entry.spec

    # --- arguments (no query) ---------------------------------------------------------------------
    try:
        args = spec.input_model.model_validate(dict(arguments or {}))
    except ValidationError as error:
        return tool_error(describe_validation_error(name, error))
    op_name = getattr(args, "operation", None)
    operation = entry.operations_by_name.get(str(op_name)) if op_name is not None else spec.operations[0]
    if operation is None or operation not in entry.enabled_operations:
        enabled = ", ".join(op.name for op in entry.enabled_operations)
        return tool_error(
            f"operation {op_name!r} of {name} is disabled by the administrator; enabled operations: {enabled}"
        )
    try:
        _required_arguments(name, operation, args)
    except ToolRefused as error:
        return tool_error(str(error))
    model: ModelChoice | None = None
    provider: LLMProvider | None = None
    requested_model = getattr(args, "model", None)
    if operation.calls_model:
        model = catalog.model(requested_model)
        if model is None:
            choices = ", ".join(m.model_id for m in catalog.models) or "none"
            return tool_error(
                f"model {requested_model!r} is not an active {catalog.provider} model; use one of: {choices}"
            )
        try:
            provider = deps.provider_for(catalog.provider)
        except ProviderError as error:
            return tool_error(f"{name} cannot reach its model provider: {error}")

    # --- rate limit (one statement) ---------------------------------------------------------------
    per_minute, per_hour, per_day = entry.limits
    call = _Call(
        caller=caller,
        agent_type=spec.agent_type,
        provider=catalog.provider,
        id_argument=spec.id_argument,
        resource_type=spec.resource_type,
    )
    try:
        decision = await rate_limits.check_and_count(
            deps.pool,
            user_id=caller.user_id,
            agent_type=spec.agent_type,
            per_minute=per_minute,
            per_hour=per_hour,
            per_day=per_day,
        )
    except Exception as error:
        if is_unknown_user(error):
            logger.warning("%s refused: user %s is not in auth.users", name, caller.user_id)
        else:
            logger.exception("%s: the rate-limit check failed", name)
        return tool_error(unexpected_failure_message(name, error))
    if not decision.allowed:
        return tool_error(
            f"rate limit reached for {name}: {decision.limit} calls per {decision.window}; "
            f"retry {_retry_text(decision.retry_after_seconds)}"
        )

    # --- run + store --------------------------------------------------------------------------------
    watched = WatchedProvider(provider) if provider is not None else None
    agent_call = AgentCall(
        operation=operation,
        arguments=args,
        user_id=caller.user_id,
        tool_config=entry.tool_config(operation),
        agent_config=entry.config,
        provider=watched,
        model=model,
        progress=throttled_progress(progress),
        pool=deps.pool,
        claims=caller.rls_claims,
        settings=deps.settings,
    )
    try:
        outcome = await spec.run(agent_call)
    except anyio.get_cancelled_exc_class():
        # Enqueueing is synchronous, so the cancellation cannot interrupt it; nothing was stored.
        _log(deps, call, catalog, agent_call, None, "cancelled", "the call was cancelled by the client")
        raise
    except AgentInputError as error:  # `api`: the model's answer, not the caller's input, was wrong
        if error.category == "user":
            await _refund(deps, call, decision, watched)
        return _failed(deps, call, catalog, agent_call, error, str(error), category=error.category)
    except documents.VersionConflict as error:
        await _refund(deps, call, decision, watched)
        return _failed(
            deps, call, catalog, agent_call, error, f"{error}; read it again and retry", category="user"
        )
    except documents.DocumentError as error:
        await _refund(deps, call, decision, watched)
        return _failed(deps, call, catalog, agent_call, error, str(error), category="user")
    except ProviderError as error:
        if error.partial is not None and error.partial not in agent_call.llm_calls:
            agent_call.llm_calls.append(error.partial)  # billed tokens are logged on failure too
        return _failed(
            deps, call, catalog, agent_call, error, f"the model call failed: {error}", category="api"
        )
    except Exception as error:
        logger.exception("%s %s failed", name, operation.name)
        return _failed(
            deps,
            call,
            catalog,
            agent_call,
            error,
            unexpected_failure_message(f"{name} {operation.name}", error),
            category="system",
        )

    # --- log (enqueued, written off the call's path) ------------------------------------------------
    _log(deps, call, catalog, agent_call, outcome, None, None)
    return _result(outcome)


async def _refund(
    deps: PipelineDeps,
    call: _Call,
    decision: rate_limits.RateLimitDecision,
    provider: WatchedProvider | None,
) -> None:
    """Give back the slot of a call refused for the caller's arguments, unless it reached the model."""
    if provider is not None and provider.used:
        return
    try:
        await rate_limits.refund(deps.pool, decision, user_id=call.caller.user_id, agent_type=call.agent_type)
    except anyio.get_cancelled_exc_class():
        raise
    except Exception:  # the refusal still goes to the caller; the slot stays used
        logger.exception("%s: could not give back the rate-limit slot of a refused call", call.agent_type)


def _result(outcome: AgentOutcome) -> types.CallToolResult:
    structured = outcome.result.model_dump(mode="json", exclude_none=True)
    content: list[Any] = [
        types.TextContent(type="text", text=outcome.summary or outcome.result.model_dump_json())
    ]
    if outcome.resource_uri:
        content.append(
            types.ResourceLink(
                type="resource_link",
                name=outcome.resource_title or outcome.resource_uri,
                uri=outcome.resource_uri,
                mime_type=outcome.resource_mime_type or "text/plain",
            )
        )
    return types.CallToolResult(content=content, structured_content=structured)


def _failed(
    deps: PipelineDeps,
    call: _Call,
    catalog: Catalog,
    agent_call: AgentCall,
    error: BaseException,
    message: str,
    *,
    category: str,
) -> types.CallToolResult:
    _log(deps, call, catalog, agent_call, None, _error_type(error), message)
    try:
        deps.logs.log_error(
            ErrorRow(
                **{
                    "user_id": call.caller.user_id,
                    "error_type": category,
                    "error_category": f"{call.agent_type}.{agent_call.operation.name}",
                    "error_message": message,
                    "error_details": {
                        "exception": _error_type(error),
                        "correlation_id": str(call.correlation_id),
                        "provider": call.provider,
                    },
                    "severity": "warning" if category == "user" else "error",
                }
            )
        )
    except Exception:  # logging must never fail the call
        logger.exception("could not enqueue the error log row")
    return tool_error(message)


def _log(
    deps: PipelineDeps,
    call: _Call,
    catalog: Catalog,
    agent_call: AgentCall,
    outcome: AgentOutcome | None,
    error_type: str | None,
    error_message: str | None,
) -> None:
    ended_at = datetime.now(UTC)
    duration_ms = int((time.perf_counter() - call.started) * 1000)
    model = agent_call.model
    results = list(agent_call.llm_calls)
    retries = sum(r.retries for r in results)
    metadata: dict[str, Any] = {"operation": agent_call.operation.name, "transport": call.caller.transport}
    if outcome is not None:
        metadata.update(outcome.metadata)
    if outcome is not None:
        resource_id = outcome.resource_id
        resource_type = outcome.resource_type or call.resource_type
    else:
        resource_id = getattr(agent_call.arguments, call.id_argument, None) if call.id_argument else None
        resource_type = call.resource_type
    try:
        deps.logs.log_activity(
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
                    **_costs(results, model),
                    "success": error_type is None,
                    "error_type": error_type,
                    "error_message": error_message,
                    "retry_count": retries,
                }
            )
        )
        for result in results:
            costs = _usage_costs(result, model) if model else (None, None)
            deps.logs.log_usage(
                UsageRow(
                    **{
                        "user_id": call.caller.user_id,
                        "agent_type": call.agent_type,
                        "model_used": result.model,
                        "provider": result.provider,
                        "input_tokens": result.usage.input_tokens,
                        "output_tokens": result.usage.output_tokens,
                        "total_tokens": result.usage.total_tokens
                        or (result.usage.input_tokens + result.usage.output_tokens),
                        "input_cost": costs[0],
                        "output_cost": costs[1],
                        "total_cost": (costs[0] + costs[1])
                        if costs[0] is not None and costs[1] is not None
                        else None,
                        "duration_ms": result.duration_ms,
                        "request_timestamp": call.started_at,
                        "response_timestamp": ended_at,
                        "metadata": {
                            "success": error_type is None,
                            "correlation_id": str(call.correlation_id),
                            "operation": agent_call.operation.name,
                            "reasoning_tokens": result.usage.reasoning_tokens,
                            "retries": result.retries,
                        },
                    }
                )
            )
    except Exception:  # logging must never fail the call
        logger.exception("could not enqueue log rows")


ReadOnlyHandler = Callable[[Caller, Mapping[str, Any]], Awaitable[types.CallToolResult]]


async def run_read_only_tool(
    handler: ReadOnlyHandler, caller: Caller, arguments: Mapping[str, Any] | None
) -> types.CallToolResult:
    """The read-only helpers: identity → run as the caller; errors become tool errors."""
    try:
        return await handler(caller, dict(arguments or {}))
    except ToolRefused as error:
        return tool_error(str(error))
    except documents.DocumentNotFound as error:
        return tool_error(f"{error}: it does not exist or is not yours")
    except anyio.get_cancelled_exc_class():
        raise
    except Exception as error:
        logger.exception("read-only tool failed")
        return tool_error(unexpected_failure_message("the tool", error))
