"""The one path every agent tool call takes: identity → config → rate limit → run → store → log.

`run_agent_tool` is written once; agent modules only declare an `AgentSpec` and run. It

1. takes the `Caller` the transport identified (stdio: the local user; HTTP: the verified JWT);
2. reads the cached catalog (admin_config / model_config of the active provider) — no query;
3. validates the arguments against the agent's input model and the enabled operations, and resolves the
   model (`model` argument, else the provider's default model) — no query;
4. counts the call against the agent's rateLimit (per minute / hour / day, per user and agent) in ONE
   statement; a refused call says which limit and when to retry, and runs nothing;
5. runs the operation with a store bound to the caller (`storage.caller_store.CallerStore`: reads run under
   RLS as the caller, a new version is ONE statement at the end, so a failed or cancelled call stores
   nothing; the agent never holds the pool). The agent streams from its provider, reporting progress;
   progress
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

import base64
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import mcp_types as types
from artificer.agents.base import AgentCall, AgentInputError, AgentOutcome, ModelChoice, Operation, ProgressFn
from artificer.agents.providers.base import LLMProvider, ProviderError
from artificer.common.records import (
    DatabaseUnavailable,
    DocumentError,
    UnknownUser,
    VersionConflict,
)
from artificer.common.settings import Settings
from artificer.server.accounting import CallRecord, LogSink, log_call, log_failure
from artificer.server.catalog import CatalogError, CatalogService
from artificer.server.errors import (
    ToolRefused,
    as_storage_error,
    describe_validation_error,
    tool_error,
    unexpected_failure_message,
)
from artificer.server.identity import Caller
from artificer.server.metering import WatchedProvider
from artificer.storage import rate_limits
from artificer.storage.caller_store import CallerStore
from pydantic import BaseModel, ValidationError

logger = logging.getLogger(__name__)


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
    call = CallRecord(
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
        if isinstance(as_storage_error(error), UnknownUser):
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
    watched = WatchedProvider(provider, call.model_calls) if provider is not None else None
    agent_call = AgentCall(
        operation=operation,
        arguments=args,
        user_id=caller.user_id,
        tool_config=entry.tool_config(operation),
        agent_config=entry.config,
        provider=watched,
        model=model,
        progress=throttled_progress(progress),
        store=CallerStore(deps.pool, caller.rls_claims),
        settings=deps.settings,
    )
    try:
        outcome = await spec.run(agent_call)
    except anyio.get_cancelled_exc_class():
        # Enqueueing is synchronous, so the cancellation cannot interrupt it; nothing was stored.
        log_call(deps.logs, call, agent_call, None, "cancelled", "the call was cancelled by the client")
        raise
    except AgentInputError as error:  # `api`: the model's answer, not the caller's input, was wrong
        if error.category == "user":
            await _refund(deps, call, decision, watched)
        return _failed(deps, call, agent_call, error, str(error), category=error.category)
    except VersionConflict as error:
        await _refund(deps, call, decision, watched)
        return _failed(deps, call, agent_call, error, f"{error}; read it again and retry", category="user")
    except DocumentError as error:
        await _refund(deps, call, decision, watched)
        return _failed(deps, call, agent_call, error, str(error), category="user")
    except ProviderError as error:  # its billed tokens are in `call.model_calls` already
        return _failed(deps, call, agent_call, error, f"the model call failed: {error}", category="api")
    except (DatabaseUnavailable, UnknownUser) as error:  # storage's typed errors: no traceback to log
        logger.warning("%s %s failed: %s", name, operation.name, error)
        return _failed(
            deps,
            call,
            agent_call,
            error,
            unexpected_failure_message(f"{name} {operation.name}", error),
            category="system",
        )
    except Exception as error:
        logger.exception("%s %s failed", name, operation.name)
        return _failed(
            deps,
            call,
            agent_call,
            error,
            unexpected_failure_message(f"{name} {operation.name}", error),
            category="system",
        )

    # --- log (enqueued, written off the call's path) ------------------------------------------------
    log_call(deps.logs, call, agent_call, outcome, None, None)
    return _result(outcome)


async def _refund(
    deps: PipelineDeps,
    call: CallRecord,
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
    for link in outcome.links:
        content.append(
            types.ResourceLink(
                type="resource_link",
                name=link.name,
                uri=link.uri,
                mime_type=link.mime_type,
                description=link.description,
            )
        )
    for image in outcome.images:
        data = base64.b64encode(image.data).decode("ascii")
        content.append(types.ImageContent(type="image", data=data, mime_type=image.mime_type))
    return types.CallToolResult(content=content, structured_content=structured)


def _failed(
    deps: PipelineDeps,
    call: CallRecord,
    agent_call: AgentCall,
    error: BaseException,
    message: str,
    *,
    category: str,
) -> types.CallToolResult:
    log_failure(deps.logs, call, agent_call, error, message, category=category)
    return tool_error(message)
