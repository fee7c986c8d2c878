"""Admin tools: agent configs, models, the active provider, analytics, errors, logging and the audit trail.

Only a caller whose role is admin (the token's `app_metadata.role`, as `get_user_role()` reads it; never
`user_metadata`) sees these tools; for anyone else they are not listed, and calling one gets the answer an
unknown tool gets (`server.app` routes the name to the agent pipeline). The database enforces it as well:
every read and write runs as the caller (`as_user`, the caller's claims) under the seed's "Admins can ..."
policies, and `storage.admin.require_admin` asks the database whether the caller is an admin first.

Every change is one transaction: the validation trigger (admin_config) or the one-default trigger
(model_config) refuses a bad value with its message and nothing changes; `updated_by` is the caller; an
`admin_config_update` row goes to `user_activity_logs` in the same transaction, whatever the logging
toggles say. The NOTIFY triggers on admin_config / model_config make every server process reload its
catalog and announce the tool change.

`run_admin_tool` is the one code path: the MCP handler and `artificer admin …` (server/admin_cli.py) both
call it and get the same typed output model.

- `admin_agents`     list agents × providers; get one row; set fields by path.
- `admin_models`     list, add, update (prices, cached-input prices, active, thinking, metadata),
                     make_default.
- `admin_provider`   get / set `app_settings.activeProvider` (only a provider this server has a key for).
- `admin_analytics`  over all users in a date range: usage by day × agent, by model, top users by cost,
                     failures by error type, p50 / p95 duration by agent and operation.
- `admin_errors`     list error_logs (unresolved by default) by severity and type; resolve one with notes.
- `admin_logging`    get / set `logging_settings` by path (logging on/off, categories, sampling, retention).
- `admin_audit`      search `user_activity_logs` by user, type and date.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

import asyncpg
import mcp_types as types
from artificer.agents.providers.base import MissingAPIKey
from artificer.agents.providers.registry import api_key_for
from artificer.common.pricing import pricing_from_model_config
from artificer.common.providers import PROVIDERS, ProviderName
from artificer.common.settings import Settings
from artificer.server.errors import ToolRefused, describe_validation_error
from artificer.server.identity import Caller
from artificer.storage import admin as store
from artificer.storage.configs import APP_SETTINGS, LOGGING_SETTINGS
from artificer.storage.database import as_user
from artificer.storage.models import ModelConfig
from pydantic import BaseModel, ConfigDict, Field, ValidationError

ADMIN_ROLE = "admin"
AGENT_TYPES = (
    "chat_model_agent",
    "provider_tools_agent",
    "document_agent",
    "python_agent",
    "mermaid_agent",
    "git_mcp_agent",
)
SEVERITIES = ("info", "warning", "error", "critical")
ERROR_TYPES = ("auth", "api", "admin", "app", "user", "permission", "system")
ACTIVITY_TYPES = (
    "auth_login",
    "auth_logout",
    "auth_register",
    "chat_create",
    "chat_view",
    "chat_delete",
    "chat_message_send",
    "document_create",
    "document_view",
    "document_update",
    "document_delete",
    "admin_config_update",
    "admin_dashboard_view",
    "admin_provider_view",
    "vote_message",
    "suggestion_view",
    "file_upload",
    "artifact_create",
    "artifact_execute",
    "model_selection",
    "history_access",
    "history_delete",
)
CATEGORY_TOGGLES = (
    "log_auth_events",
    "log_chat_events",
    "log_document_events",
    "log_admin_events",
    "log_vote_events",
    "log_file_events",
    "log_artifact_events",
    "log_ai_operations",
    "log_tool_invocations",
    "log_code_execution",
)
CACHE_READ_KEY = "cacheReadPricingPerMillionTokens"
CACHE_WRITE_KEY = "cacheWritePricingPerMillionTokens"
MAX_PRICE = 999999.9999  # decimal(10, 4)
DEFAULT_DAYS = 30


def is_admin(caller: Caller) -> bool:
    """Whether the caller's claims carry the admin role where `get_user_role()` reads it."""
    app_metadata = caller.claims.get("app_metadata")
    return isinstance(app_metadata, Mapping) and app_metadata.get("role") == ADMIN_ROLE


@dataclass(frozen=True, slots=True)
class AdminDeps:
    pool: Any
    settings: Settings


# --- shared input parts ----------------------------------------------------------------------------


class Change(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        min_length=1, max_length=200, description="Dot path into the config, e.g. tools.suggestion.enabled."
    )
    value: Any = Field(description="The new JSON value at that path.")


class DateRange(BaseModel):
    startDate: date | None = Field(
        default=None, description="First day (YYYY-MM-DD, UTC); default 30 days ago."
    )
    endDate: date | None = Field(default=None, description="Last day (YYYY-MM-DD, UTC); default today.")

    def days(self) -> tuple[date, date]:
        end = self.endDate or datetime.now(UTC).date()
        start = self.startDate or end - timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise ToolRefused("startDate must not be after endDate")
        return start, end


def _stamp(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _clip(value: Any) -> Any:
    """A value for the audit row: long strings shortened."""
    return value[:200] + "…" if isinstance(value, str) and len(value) > 200 else value


def _set_path(data: dict[str, Any], path: str, value: Any, *, existing: tuple[int, ...]) -> Any:
    """Set `value` at dot `path` in `data` (in place); returns the old value. The parts at the positions
    in `existing` must already be there (a tool or parameter is changed, never invented)."""
    parts = path.split(".")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part) if isinstance(node, dict) else None
        if child is None and i not in existing:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ToolRefused(f"{'.'.join(parts[: i + 1])} does not exist in this config")
        node = child
    last = parts[-1]
    if len(parts) - 1 in existing and last not in node:
        raise ToolRefused(f"{path} does not exist in this config")
    old = node.get(last)
    node[last] = value
    return old


# --- admin_agents ----------------------------------------------------------------------------------

_NAME = r"[A-Za-z0-9_-]+"
_AGENT_PATHS = re.compile(
    rf"^(?:enabled|systemPrompt|userPromptTemplate|rateLimit\.(?:perMinute|perHour|perDay)"
    rf"|tools\.{_NAME}\.(?:enabled|description|systemPrompt|userPromptTemplate)"
    rf"|tools\.{_NAME}\.tool_input\.parameter_description"
    rf"|tools\.{_NAME}\.tool_input\.{_NAME}\.parameter_description)$"
)
AGENT_PATHS_TEXT = (
    "enabled, rateLimit.perMinute|perHour|perDay, systemPrompt, userPromptTemplate, "
    "tools.<tool>.enabled|description|systemPrompt|userPromptTemplate, "
    "tools.<tool>.tool_input[.<parameter>].parameter_description"
)


class AgentsInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["list", "get", "set"] = Field(
        description="list: every agent × provider; get: one config row; set: change fields by path."
    )
    agent: Literal[AGENT_TYPES] | None = Field(  # type: ignore[valid-type]
        default=None, description="Agent type (get, set), e.g. document_agent."
    )
    provider: ProviderName | None = Field(
        default=None, description="Provider (get, set; list: filter). Default for get/set: the active one."
    )
    changes: list[Change] | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description=f"set: the fields to change ({AGENT_PATHS_TEXT}).",
    )


class AgentSummary(BaseModel):
    key: str
    agentType: str
    provider: str
    enabled: bool
    operations: dict[str, bool]
    rateLimit: dict[str, Any]
    updatedAt: str | None = None
    updatedBy: UUID | None = None


class AgentConfig(BaseModel):
    key: str
    agentType: str
    provider: str
    config: dict[str, Any]
    updatedAt: str | None = None
    updatedBy: UUID | None = None


class AgentsOutput(BaseModel):
    action: str
    agents: list[AgentSummary] | None = None
    agent: AgentConfig | None = None
    changed: list[str] | None = None


def _split_key(key: str) -> tuple[str, str]:
    agent, _, provider = key.rpartition("_")
    return agent, provider


def _summary(record: store.ConfigRecord) -> AgentSummary:
    data = record.row.data
    agent, provider = _split_key(record.row.key)
    tools = data.get("tools") if isinstance(data.get("tools"), dict) else {}
    limits = data.get("rateLimit") if isinstance(data.get("rateLimit"), dict) else {}
    return AgentSummary(
        key=record.row.key,
        agentType=agent,
        provider=provider,
        enabled=data.get("enabled") is True,
        operations={k: isinstance(v, dict) and v.get("enabled") is True for k, v in (tools or {}).items()},
        rateLimit=dict(limits or {}),
        updatedAt=_stamp(record.row.updated_at),
        updatedBy=record.row.updated_by,
    )


def _agent_config(record: store.ConfigRecord) -> AgentConfig:
    agent, provider = _split_key(record.row.key)
    return AgentConfig(
        key=record.row.key,
        agentType=agent,
        provider=provider,
        config=record.row.data,
        updatedAt=_stamp(record.row.updated_at),
        updatedBy=record.row.updated_by,
    )


async def _active_provider(conn: asyncpg.Connection, settings: Settings) -> str:
    if settings.provider:
        return settings.provider
    for record in await store.list_configs(conn):
        if record.row.key == APP_SETTINGS:
            return str(record.row.data.get("activeProvider"))
    raise ToolRefused("app_settings has no activeProvider; pass `provider`")


async def agents_tool(deps: AdminDeps, caller: Caller, args: AgentsInput) -> tuple[AgentsOutput, str]:
    async with as_user(deps.pool, caller.rls_claims) as conn:
        await store.require_admin(conn)
        if args.action == "list":
            rows = [
                _summary(r)
                for r in await store.list_configs(conn)
                if store.is_agent_key(r.row.key)
                and (args.provider is None or _split_key(r.row.key)[1] == args.provider)
            ]
            text = "\n".join(
                f"{a.key}: {'enabled' if a.enabled else 'disabled'}; operations "
                + ", ".join(f"{k}{'' if v else ' (off)'}" for k, v in a.operations.items())
                for a in rows
            )
            return AgentsOutput(action="list", agents=rows), text or "no agent configs"
        if args.agent is None:
            raise ToolRefused(f"action {args.action} needs `agent` (one of {', '.join(AGENT_TYPES)})")
        provider = args.provider or await _active_provider(conn, deps.settings)
        key = f"{args.agent}_{provider}"
        record = await store.get_config_for_update(conn, key)
        if record is None:
            raise ToolRefused(f"admin_config {key} does not exist")
        if args.action == "get":
            out = AgentsOutput(action="get", agent=_agent_config(record))
            return out, f"{key}: {'enabled' if record.row.data.get('enabled') else 'disabled'}"
        if not args.changes:
            raise ToolRefused(f"action set needs `changes`: a list of {{path, value}} ({AGENT_PATHS_TEXT})")
        data = copy.deepcopy(record.row.data)
        audit: list[dict[str, Any]] = []
        for change in args.changes:
            if not _AGENT_PATHS.match(change.path):
                raise ToolRefused(
                    f"path {change.path!r} cannot be changed; changeable paths: {AGENT_PATHS_TEXT}"
                )
            existing: tuple[int, ...] = (0, 1) if change.path.startswith("tools.") else ()
            if ".tool_input." in change.path and change.path.count(".") == 4:
                existing = (0, 1, 2, 3)
            old = _set_path(data, change.path, change.value, existing=existing)
            audit.append({"path": change.path, "from": _clip(old), "to": _clip(change.value)})
        updated = await store.update_config(conn, key, data, updated_by=caller.user_id)
        await store.log_change(
            conn,
            resource_type="admin_config",
            resource_id=record.id,
            metadata={"tool": "admin_agents", "key": key, "changes": audit},
        )
    changed = [c.path for c in args.changes]
    out = AgentsOutput(action="set", agent=_agent_config(updated), changed=changed)
    return out, f"{key}: changed {', '.join(changed)}"


# --- admin_models ----------------------------------------------------------------------------------


class ModelsInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["list", "add", "update", "make_default"] = Field(
        description="list; add a model; update its fields; make_default (one default per provider)."
    )
    modelId: str | None = Field(
        default=None, min_length=1, max_length=100, description="The model (add, update, make_default)."
    )
    provider: ProviderName | None = Field(default=None, description="add: its provider; list: filter.")
    name: str | None = Field(
        default=None, min_length=1, max_length=200, description="Display name (add: required)."
    )
    description: str | None = Field(default=None, max_length=2000)
    inputPrice: float | None = Field(
        default=None, ge=0, le=MAX_PRICE, description="USD per million input tokens."
    )
    outputPrice: float | None = Field(
        default=None, ge=0, le=MAX_PRICE, description="USD per million output tokens."
    )
    cacheReadPrice: float | None = Field(
        default=None,
        ge=0,
        le=MAX_PRICE,
        description="USD per million cached input tokens read (null: remove).",
    )
    cacheWritePrice: float | None = Field(
        default=None,
        ge=0,
        le=MAX_PRICE,
        description="USD per million input tokens written to the cache (null: remove).",
    )
    active: bool | None = None
    thinking: bool | None = None
    metadata: dict[str, Any] | None = Field(
        default=None, description="Keys merged into the model's metadata; a null value removes its key."
    )


class ModelOut(BaseModel):
    modelId: str
    name: str
    description: str | None = None
    provider: str
    active: bool
    default: bool
    thinking: bool
    inputPrice: float
    outputPrice: float
    cacheReadPrice: float | None = None
    cacheWritePrice: float | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    updatedAt: str | None = None


class ModelsOutput(BaseModel):
    action: str
    models: list[ModelOut] | None = None
    model: ModelOut | None = None


def _model_out(model: ModelConfig) -> ModelOut:
    read = model.metadata.get(CACHE_READ_KEY)
    write = model.metadata.get(CACHE_WRITE_KEY)
    return ModelOut(
        modelId=model.model_id,
        name=model.name,
        description=model.description,
        provider=model.provider,
        active=model.is_active,
        default=model.is_default,
        thinking=model.thinking_enabled,
        inputPrice=float(model.pricing.input_per_million),
        outputPrice=float(model.pricing.output_per_million),
        cacheReadPrice=float(read) if isinstance(read, int | float) else None,
        cacheWritePrice=float(write) if isinstance(write, int | float) else None,
        metadata=model.metadata,
        updatedAt=_stamp(model.updated_at),
    )


def _price(value: float) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.0001"))


def _model_values(args: ModelsInput, metadata: dict[str, Any]) -> dict[str, Any]:
    """Column values from the arguments given (and the merged metadata)."""
    given = args.model_fields_set
    values: dict[str, Any] = {}
    for field_name, column in (
        ("name", "name"),
        ("description", "description"),
        ("active", "is_active"),
        ("thinking", "thinking_enabled"),
    ):
        if field_name in given:
            value = getattr(args, field_name)
            if value is None and field_name != "description":
                raise ToolRefused(f"{field_name} cannot be null")
            values[column] = value
    for field_name, column in (
        ("inputPrice", "input_pricing_per_million_tokens"),
        ("outputPrice", "output_pricing_per_million_tokens"),
    ):
        if field_name in given:
            value = getattr(args, field_name)
            if value is None:
                raise ToolRefused(f"{field_name} cannot be null")
            values[column] = _price(value)
    merged = dict(metadata)
    for key, value in (args.metadata or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    for field_name, key in (("cacheReadPrice", CACHE_READ_KEY), ("cacheWritePrice", CACHE_WRITE_KEY)):
        if field_name in given:
            value = getattr(args, field_name)
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
    if merged != metadata or "metadata" in given:
        try:
            pricing_from_model_config(
                {
                    "input_pricing_per_million_tokens": 0,
                    "output_pricing_per_million_tokens": 0,
                    "metadata": merged,
                }
            )
        except Exception as error:  # a cache price the cost function cannot read
            raise ToolRefused(f"metadata cache prices are not usable: {error}") from None
        values["metadata"] = merged
    return values


async def models_tool(deps: AdminDeps, caller: Caller, args: ModelsInput) -> tuple[ModelsOutput, str]:
    async with as_user(deps.pool, caller.rls_claims) as conn:
        await store.require_admin(conn)
        if args.action == "list":
            models = [_model_out(m) for m in await store.list_models(conn, args.provider)]
            text = "\n".join(
                f"{m.provider} {m.modelId}{' (default)' if m.default else ''}"
                f"{'' if m.active else ' (inactive)'}: "
                f"${m.inputPrice}/${m.outputPrice} per M"
                for m in models
            )
            return ModelsOutput(action="list", models=models), text or "no models"
        if args.modelId is None:
            raise ToolRefused(f"action {args.action} needs `modelId`")
        if args.action == "add":
            missing = [
                f for f in ("provider", "name", "inputPrice", "outputPrice") if getattr(args, f) is None
            ]
            if missing:
                raise ToolRefused(f"action add needs {', '.join(missing)}")
            if await store.get_model_for_update(conn, args.modelId) is not None:
                raise ToolRefused(f"model {args.modelId} exists already; use action update")
            values = _model_values(args, {})
            values.setdefault("is_active", True)
            values.setdefault("thinking_enabled", False)
            values.setdefault("metadata", {})
            values["provider"] = args.provider
            values["is_default"] = False
            model = await store.insert_model(conn, args.modelId, values)
            what = "added"
        else:
            current = await store.get_model_for_update(conn, args.modelId)
            if current is None:
                raise ToolRefused(f"model {args.modelId} does not exist")
            if args.action == "make_default":
                if not current.is_active:
                    raise ToolRefused(
                        f"model {args.modelId} is inactive; activate it before making it the default"
                    )
                values = {"is_default": True}
                what = f"now the default {current.provider} model"
            else:
                if "provider" in args.model_fields_set and args.provider != current.provider:
                    raise ToolRefused("a model's provider cannot be changed; add a new model instead")
                values = _model_values(args, current.metadata)
                if not values:
                    raise ToolRefused("nothing to change: give at least one field")
                if values.get("is_active") is False and current.is_default:
                    raise ToolRefused(
                        f"model {args.modelId} is the default {current.provider} model; "
                        "make another model the default before deactivating it"
                    )
                what = "updated"
            model = await store.update_model(conn, args.modelId, values)
        await store.log_change(
            conn,
            resource_type="model_config",
            resource_id=model.id,
            metadata={
                "tool": "admin_models",
                "action": args.action,
                "model": args.modelId,
                "changes": {k: _clip(str(v) if isinstance(v, Decimal) else v) for k, v in values.items()},
            },
        )
    return ModelsOutput(action=args.action, model=_model_out(model)), f"model {args.modelId}: {what}"


# --- admin_provider --------------------------------------------------------------------------------


class ProviderInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["get", "set"] = Field(description="get: the active provider; set: switch to `provider`.")
    provider: ProviderName | None = Field(default=None, description="set: the provider to make active.")


class ProviderOutput(BaseModel):
    activeProvider: str | None
    availableProviders: list[str]
    keys: dict[str, bool] = Field(description="Which providers this server has an API key for.")
    overriddenBy: str | None = Field(
        default=None, description="ARTIFICER_PROVIDER, when it overrides the setting."
    )


def _has_key(name: ProviderName, settings: Settings) -> bool:
    try:
        api_key_for(name, settings)
    except MissingAPIKey:
        return False
    return True


async def provider_tool(deps: AdminDeps, caller: Caller, args: ProviderInput) -> tuple[ProviderOutput, str]:
    keys = {name: _has_key(name, deps.settings) for name in PROVIDERS}
    async with as_user(deps.pool, caller.rls_claims) as conn:
        await store.require_admin(conn)
        record = await store.get_config_for_update(conn, APP_SETTINGS)
        if record is None:
            raise ToolRefused("admin_config app_settings does not exist")
        data = dict(record.row.data)
        if args.action == "set":
            if args.provider is None:
                raise ToolRefused(f"action set needs `provider` (one of {', '.join(PROVIDERS)})")
            try:
                api_key_for(args.provider, deps.settings)
            except MissingAPIKey as error:
                raise ToolRefused(f"cannot switch to {args.provider}: this server has {error}") from None
            available = data.get("availableProviders")
            if isinstance(available, list) and args.provider not in available:
                raise ToolRefused(
                    f"{args.provider} is not in app_settings.availableProviders "
                    f"({', '.join(map(str, available))})"
                )
            previous = data.get("activeProvider")
            data["activeProvider"] = args.provider
            record = await store.update_config(conn, APP_SETTINGS, data, updated_by=caller.user_id)
            await store.log_change(
                conn,
                resource_type="admin_config",
                resource_id=record.id,
                metadata={
                    "tool": "admin_provider",
                    "key": APP_SETTINGS,
                    "changes": [{"path": "activeProvider", "from": previous, "to": args.provider}],
                },
            )
    active = record.row.data.get("activeProvider")
    available = record.row.data.get("availableProviders")
    out = ProviderOutput(
        activeProvider=str(active) if active is not None else None,
        availableProviders=[str(p) for p in available] if isinstance(available, list) else list(PROVIDERS),
        keys=keys,
        overriddenBy=f"ARTIFICER_PROVIDER={deps.settings.provider}" if deps.settings.provider else None,
    )
    text = f"active provider: {out.activeProvider}"
    if out.overriddenBy:
        text += f" (this server uses {deps.settings.provider}: {out.overriddenBy})"
    return out, text


# --- admin_analytics -------------------------------------------------------------------------------

Report = Literal["all", "usage_by_day", "by_model", "top_users", "failures", "durations"]


class AnalyticsInput(DateRange):
    model_config = ConfigDict(extra="forbid")

    report: Report = Field(default="all", description="Which figures; all: every report.")
    limit: int = Field(default=10, ge=1, le=100, description="top_users: how many users.")


class UsageFigures(BaseModel):
    calls: int = Field(description="Billed model calls (usage_logs rows).")
    inputTokens: int
    outputTokens: int
    totalTokens: int
    cost: float = Field(description="USD.")


class DayAgentUsage(UsageFigures):
    day: date
    agentType: str


class ModelUsage(UsageFigures):
    model: str | None
    provider: str | None


class UserUsage(UsageFigures):
    userId: UUID


class Failures(BaseModel):
    agentType: str
    errorType: str
    failures: int


class Durations(BaseModel):
    agentType: str
    operation: str
    calls: int
    p50Ms: float
    p95Ms: float


class AnalyticsOutput(BaseModel):
    startDate: date
    endDate: date
    usageByDay: list[DayAgentUsage] | None = None
    byModel: list[ModelUsage] | None = None
    topUsers: list[UserUsage] | None = None
    failures: list[Failures] | None = None
    durations: list[Durations] | None = None


def _figures(bucket: store.UsageBucket) -> dict[str, Any]:
    return {
        "calls": bucket.calls,
        "inputTokens": bucket.input_tokens,
        "outputTokens": bucket.output_tokens,
        "totalTokens": bucket.total_tokens,
        "cost": float(bucket.cost),
    }


async def analytics_tool(
    deps: AdminDeps, caller: Caller, args: AnalyticsInput
) -> tuple[AnalyticsOutput, str]:
    start, end = args.days()
    out = AnalyticsOutput(startDate=start, endDate=end)
    wanted = args.report
    async with as_user(deps.pool, caller.rls_claims) as conn:
        await store.require_admin(conn)
        if wanted in ("all", "usage_by_day"):
            out.usageByDay = [
                DayAgentUsage(day=b.key[0], agentType=b.key[1], **_figures(b))
                for b in await store.usage_by_day_agent(conn, start, end)
            ]
        if wanted in ("all", "by_model"):
            out.byModel = [
                ModelUsage(model=b.key[0], provider=b.key[1], **_figures(b))
                for b in await store.usage_by_model(conn, start, end)
            ]
        if wanted in ("all", "top_users"):
            out.topUsers = [
                UserUsage(userId=b.key[0], **_figures(b))
                for b in await store.top_users(conn, start, end, args.limit)
            ]
        if wanted in ("all", "failures"):
            out.failures = [
                Failures(agentType=f.agent_type, errorType=f.error_type, failures=f.failures)
                for f in await store.failures(conn, start, end)
            ]
        if wanted in ("all", "durations"):
            out.durations = [
                Durations(
                    agentType=d.agent_type,
                    operation=d.operation,
                    calls=d.calls,
                    p50Ms=d.p50_ms,
                    p95Ms=d.p95_ms,
                )
                for d in await store.durations(conn, start, end)
            ]
    cost = sum(u.cost for u in out.usageByDay or out.byModel or [])
    return out, f"{start} – {end}: report {wanted}" + (f", total cost ${cost:.6f}" if cost else "")


# --- admin_errors ----------------------------------------------------------------------------------


class ErrorsInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["list", "resolve"] = Field(description="list errors; resolve one with notes.")
    severity: Literal[SEVERITIES] | None = Field(default=None, description="list: only this severity.")  # type: ignore[valid-type]
    errorType: Literal[ERROR_TYPES] | None = Field(default=None, description="list: only this type.")  # type: ignore[valid-type]
    resolved: bool = Field(default=False, description="list: resolved ones instead of unresolved ones.")
    limit: int = Field(default=50, ge=1, le=500)
    errorId: UUID | None = Field(default=None, description="resolve: the error.")
    notes: str | None = Field(default=None, max_length=4000, description="resolve: what was done (required).")


class ErrorOut(BaseModel):
    id: UUID
    createdAt: str | None
    userId: UUID | None
    errorType: str
    errorCategory: str
    severity: str
    message: str
    details: dict[str, Any] | None = None
    resolved: bool
    resolvedBy: UUID | None = None
    resolvedAt: str | None = None
    resolutionNotes: str | None = None


class ErrorCount(BaseModel):
    severity: str
    errorType: str
    count: int


class ErrorsOutput(BaseModel):
    action: str
    errors: list[ErrorOut] | None = None
    counts: list[ErrorCount] | None = None
    error: ErrorOut | None = None


def _error_out(entry: store.ErrorEntry) -> ErrorOut:
    return ErrorOut(
        id=entry.id,
        createdAt=_stamp(entry.created_at),
        userId=entry.user_id,
        errorType=entry.error_type,
        errorCategory=entry.error_category,
        severity=entry.severity,
        message=entry.message,
        details=entry.details,
        resolved=entry.resolved,
        resolvedBy=entry.resolved_by,
        resolvedAt=_stamp(entry.resolved_at),
        resolutionNotes=entry.resolution_notes,
    )


async def errors_tool(deps: AdminDeps, caller: Caller, args: ErrorsInput) -> tuple[ErrorsOutput, str]:
    if args.action == "resolve":
        if args.errorId is None:
            raise ToolRefused("action resolve needs `errorId`")
        if not args.notes or not args.notes.strip():
            raise ToolRefused("action resolve needs `notes`: what was done about it")
    async with as_user(deps.pool, caller.rls_claims) as conn:
        await store.require_admin(conn)
        if args.action == "list":
            entries, counts = await store.list_errors(
                conn,
                resolved=args.resolved,
                severity=args.severity,
                error_type=args.errorType,
                limit=args.limit,
            )
            order = {s: i for i, s in enumerate(reversed(SEVERITIES))}
            count_rows = sorted(
                (ErrorCount(severity=s, errorType=t, count=n) for (s, t), n in counts.items()),
                key=lambda c: (order.get(c.severity, 9), c.errorType),
            )
            out = ErrorsOutput(action="list", errors=[_error_out(e) for e in entries], counts=count_rows)
            text = ", ".join(f"{c.count} {c.severity} {c.errorType}" for c in count_rows) or "no errors"
            return out, text
        assert args.errorId is not None and args.notes is not None
        entry = await store.resolve_error(conn, args.errorId, args.notes.strip(), resolved_by=caller.user_id)
        await store.log_change(
            conn,
            resource_type="error_logs",
            resource_id=entry.id,
            metadata={"tool": "admin_errors", "action": "resolve", "notes": _clip(args.notes.strip())},
        )
    return ErrorsOutput(action="resolve", error=_error_out(entry)), f"error {entry.id} resolved"


# --- admin_logging ---------------------------------------------------------------------------------

_LOGGING_PATHS = re.compile(
    r"^(?:error_logging_enabled|user_activity_logging_enabled|agent_activity_logging_enabled"
    r"|log_retention_days\.(?:error_logs|user_activity_logs|agent_activity_logs)"
    rf"|category_toggles\.(?:{'|'.join(CATEGORY_TOGGLES)})"
    r"|performance_settings\.(?:sampling_enabled|sampling_rate|batch_writes|batch_size|batch_interval_ms)"
    r"|privacy_settings\.(?:anonymize_ip|hash_email|log_user_agent))$"
)
LOGGING_PATHS_TEXT = (
    "error_logging_enabled, user_activity_logging_enabled, agent_activity_logging_enabled, "
    "log_retention_days.error_logs|user_activity_logs|agent_activity_logs (days, 1-3650), "
    f"category_toggles.{'|'.join(CATEGORY_TOGGLES)}, "
    "performance_settings.sampling_enabled|sampling_rate (0-1)|batch_writes|batch_size|batch_interval_ms, "
    "privacy_settings.anonymize_ip|hash_email|log_user_agent"
)


class LoggingInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["get", "set"] = Field(description="get the logging settings; set fields by path.")
    changes: list[Change] | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description=f"set: the fields to change ({LOGGING_PATHS_TEXT}).",
    )


class LoggingOutput(BaseModel):
    settings: dict[str, Any]
    updatedAt: str | None = None
    updatedBy: UUID | None = None
    changed: list[str] | None = None


async def logging_tool(deps: AdminDeps, caller: Caller, args: LoggingInput) -> tuple[LoggingOutput, str]:
    async with as_user(deps.pool, caller.rls_claims) as conn:
        await store.require_admin(conn)
        record = await store.get_config_for_update(conn, LOGGING_SETTINGS)
        if record is None:
            raise ToolRefused("admin_config logging_settings does not exist")
        if args.action == "set":
            if not args.changes:
                raise ToolRefused(
                    f"action set needs `changes`: a list of {{path, value}} ({LOGGING_PATHS_TEXT})"
                )
            data = copy.deepcopy(record.row.data)
            audit = []
            for change in args.changes:
                if not _LOGGING_PATHS.match(change.path):
                    raise ToolRefused(
                        f"path {change.path!r} cannot be changed; changeable paths: {LOGGING_PATHS_TEXT}"
                    )
                if change.value is None:
                    raise ToolRefused(f"{change.path} cannot be null")
                old = _set_path(data, change.path, change.value, existing=())
                audit.append({"path": change.path, "from": old, "to": change.value})
            record = await store.update_config(conn, LOGGING_SETTINGS, data, updated_by=caller.user_id)
            await store.log_change(
                conn,
                resource_type="admin_config",
                resource_id=record.id,
                metadata={"tool": "admin_logging", "key": LOGGING_SETTINGS, "changes": audit},
            )
    changed = [c.path for c in args.changes or []] if args.action == "set" else None
    out = LoggingOutput(
        settings=record.row.data,
        updatedAt=_stamp(record.row.updated_at),
        updatedBy=record.row.updated_by,
        changed=changed,
    )
    data = record.row.data
    text = (
        f"user activity {'on' if data.get('user_activity_logging_enabled') else 'off'}, "
        f"agent activity {'on' if data.get('agent_activity_logging_enabled') else 'off'}, "
        f"errors {'on' if data.get('error_logging_enabled') else 'off'}"
    )
    return out, (f"changed {', '.join(changed)}; " if changed else "") + text


# --- admin_audit -----------------------------------------------------------------------------------


class AuditInput(DateRange):
    model_config = ConfigDict(extra="forbid")

    userId: UUID | None = Field(default=None, description="Only this user's activity.")
    activityType: Literal[ACTIVITY_TYPES] | None = Field(default=None, description="Only this type.")  # type: ignore[valid-type]
    limit: int = Field(default=100, ge=1, le=1000)


class ActivityOut(BaseModel):
    id: UUID
    createdAt: str | None
    userId: UUID
    correlationId: UUID
    activityType: str
    activityCategory: str
    resourceId: UUID | None = None
    resourceType: str | None = None
    success: bool
    metadata: dict[str, Any] = Field(default_factory=dict)


class AuditOutput(BaseModel):
    startDate: date
    endDate: date
    entries: list[ActivityOut]


async def audit_tool(deps: AdminDeps, caller: Caller, args: AuditInput) -> tuple[AuditOutput, str]:
    start, end = args.days()
    async with as_user(deps.pool, caller.rls_claims) as conn:
        await store.require_admin(conn)
        entries = await store.search_activity(
            conn, user_id=args.userId, activity_type=args.activityType, start=start, end=end, limit=args.limit
        )
    out = AuditOutput(
        startDate=start,
        endDate=end,
        entries=[
            ActivityOut(
                id=e.id,
                createdAt=_stamp(e.created_at),
                userId=e.user_id,
                correlationId=e.correlation_id,
                activityType=e.activity_type,
                activityCategory=e.activity_category,
                resourceId=e.resource_id,
                resourceType=e.resource_type,
                success=e.success,
                metadata=e.metadata,
            )
            for e in entries
        ],
    )
    return out, f"{len(out.entries)} activity rows ({start} – {end})"


# --- tools -----------------------------------------------------------------------------------------

Handler = Callable[[AdminDeps, Caller, Any], Awaitable[tuple[BaseModel, str]]]


@dataclass(frozen=True, slots=True)
class AdminTool:
    tool: types.Tool
    input_model: type[BaseModel]
    handler: Handler


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    return schema


def _tool(
    name: str,
    title: str,
    description: str,
    input_model: type[BaseModel],
    output_model: type[BaseModel],
    handler: Handler,
    *,
    read_only: bool,
) -> AdminTool:
    annotations = types.ToolAnnotations(
        title=title,
        read_only_hint=read_only,
        destructive_hint=False,
        idempotent_hint=read_only,
        open_world_hint=False,
    )
    tool = types.Tool(
        name=name,
        title=title,
        description=description + " Admins only.",
        input_schema=_schema(input_model),
        output_schema=_schema(output_model),
        annotations=annotations,
    )
    return AdminTool(tool=tool, input_model=input_model, handler=handler)


ADMIN_TOOLS: dict[str, AdminTool] = {
    t.tool.name: t
    for t in (
        _tool(
            "admin_agents",
            "Agent configs",
            "List every agent × provider config (enabled, operations, rate limits), read one, or change "
            f"fields by path ({AGENT_PATHS_TEXT}). Every server reloads and announces the tool change.",
            AgentsInput,
            AgentsOutput,
            agents_tool,
            read_only=False,
        ),
        _tool(
            "admin_models",
            "Models and prices",
            "List, add or update models (prices per million tokens, cached-input prices, active, thinking, "
            "metadata) and make one the default of its provider.",
            ModelsInput,
            ModelsOutput,
            models_tool,
            read_only=False,
        ),
        _tool(
            "admin_provider",
            "Active provider",
            "Show or switch the active model provider (app_settings.activeProvider); switching needs the "
            "provider's API key on this server.",
            ProviderInput,
            ProviderOutput,
            provider_tool,
            read_only=False,
        ),
        _tool(
            "admin_analytics",
            "Usage analytics",
            "Over all users and a date range: calls, tokens and cost by day × agent, by model and provider, "
            "top users by cost, failures by error type, p50 / p95 duration by agent and operation.",
            AnalyticsInput,
            AnalyticsOutput,
            analytics_tool,
            read_only=True,
        ),
        _tool(
            "admin_errors",
            "Errors",
            "List logged errors (unresolved by default) by severity and type, or resolve one with notes.",
            ErrorsInput,
            ErrorsOutput,
            errors_tool,
            read_only=False,
        ),
        _tool(
            "admin_logging",
            "Logging settings",
            "Show or change logging_settings: activity logging on/off, categories, sampling, retention days.",
            LoggingInput,
            LoggingOutput,
            logging_tool,
            read_only=False,
        ),
        _tool(
            "admin_audit",
            "Audit trail",
            "Search user_activity_logs by user, activity type and date range (newest first).",
            AuditInput,
            AuditOutput,
            audit_tool,
            read_only=True,
        ),
    )
}
TOOLS: tuple[types.Tool, ...] = tuple(t.tool for t in ADMIN_TOOLS.values())


def is_admin_tool(name: str) -> bool:
    return name in ADMIN_TOOLS


async def run_admin_tool(
    deps: AdminDeps, caller: Caller, name: str, arguments: Mapping[str, Any] | None
) -> tuple[BaseModel, str]:
    """Validate the arguments and run one admin tool as `caller`: (typed output, one-line summary).

    Raises `ToolRefused` for bad arguments and refused changes (nothing changed)."""
    admin_tool = ADMIN_TOOLS.get(name)
    if admin_tool is None:
        raise ToolRefused(f"unknown tool {name!r}")
    try:
        args = admin_tool.input_model.model_validate(dict(arguments or {}))
    except ValidationError as error:
        raise ToolRefused(describe_validation_error(name, error)) from None
    try:
        return await admin_tool.handler(deps, caller, args)
    except store.AdminRefused as error:
        raise ToolRefused(f"{name}: {error}; nothing changed") from None


async def call_admin_tool(
    deps: AdminDeps, caller: Caller, name: str, arguments: Mapping[str, Any] | None
) -> types.CallToolResult:
    """The MCP answer of one admin tool call (a refusal raises `ToolRefused`, answered by server.errors)."""
    out, text = await run_admin_tool(deps, caller, name, arguments)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content=out.model_dump(mode="json", exclude_none=True),
    )
