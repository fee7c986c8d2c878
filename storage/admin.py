"""What the admin tools read and write: agent configs, models, analytics, errors, the audit trail.

Every function takes a connection inside `as_user(pool, claims)` (one transaction, the caller's claims),
so the seed's "Admins can ..." policies decide what is visible and writable; `require_admin` makes the
database itself confirm the caller is an admin (`get_user_role()`, from the token's app_metadata) before
anything else runs. Writes raise `AdminRefused` with the database's message (the validation trigger's, the
one-default trigger's) and change nothing: the caller's transaction rolls back.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
from artificer.storage.configs import APP_SETTINGS, LOGGING_SETTINGS, ConfigRow, _row
from artificer.storage.models import _COLUMNS as _MODEL_COLUMNS
from artificer.storage.models import ModelConfig, _model


class AdminRefused(Exception):
    """The database refused an admin read or change; the message says why. Nothing changed."""


class NotAdmin(AdminRefused):
    """The caller's claims do not carry the admin role."""


_REFUSALS = (
    asyncpg.CheckViolationError,
    asyncpg.RaiseError,
    asyncpg.UniqueViolationError,
    asyncpg.NotNullViolationError,
    asyncpg.NumericValueOutOfRangeError,
    asyncpg.StringDataRightTruncationError,
    asyncpg.InsufficientPrivilegeError,
    asyncpg.InvalidTextRepresentationError,
)


def _refused(error: asyncpg.PostgresError) -> AdminRefused:
    message = error.args[0] if error.args else str(error)
    hint = getattr(error, "hint", None)
    if isinstance(error, asyncpg.UniqueViolationError):
        detail = getattr(error, "detail", None)
        message = f"already exists: {detail}" if detail else message
    return AdminRefused(f"{message} ({hint})" if hint else str(message))


async def require_admin(conn: asyncpg.Connection) -> None:
    """Raise `NotAdmin` unless the transaction's claims make the caller an admin (`get_user_role()`)."""
    role = await conn.fetchval("select public.get_user_role()")
    if role != "admin":
        raise NotAdmin("this needs an admin: the caller's app_metadata.role is not 'admin'")


async def log_change(
    conn: asyncpg.Connection,
    *,
    resource_type: str,
    resource_id: uuid.UUID | None,
    metadata: Mapping[str, Any],
) -> uuid.UUID:
    """The `admin_config_update` audit row of a change, in the change's transaction."""
    try:
        value = await conn.fetchval(
            "select public.artificer_log_admin_change($1, $2, $3)", resource_type, resource_id, dict(metadata)
        )
    except _REFUSALS as error:
        raise _refused(error) from None
    return uuid.UUID(str(value))


# --- admin_config ----------------------------------------------------------------------------------

_CONFIG_COLUMNS = "id, config_key, config_data, updated_by, updated_at, created_at"


@dataclass(frozen=True, slots=True)
class ConfigRecord:
    id: uuid.UUID
    row: ConfigRow


def _config(record: asyncpg.Record) -> ConfigRecord:
    return ConfigRecord(id=record["id"], row=_row(record))


async def list_configs(conn: asyncpg.Connection) -> list[ConfigRecord]:
    """Every admin_config row the caller can read (all of them for an admin), by key."""
    records = await conn.fetch(f"select {_CONFIG_COLUMNS} from admin_config order by config_key")
    return [_config(r) for r in records]


async def get_config_for_update(conn: asyncpg.Connection, key: str) -> ConfigRecord | None:
    """One row, locked until the transaction ends (so a read-modify-write loses no concurrent change)."""
    record = await conn.fetchrow(
        f"select {_CONFIG_COLUMNS} from admin_config where config_key = $1 for update", key
    )
    return _config(record) if record is not None else None


async def update_config(
    conn: asyncpg.Connection, key: str, data: dict[str, Any], *, updated_by: uuid.UUID
) -> ConfigRecord:
    """Replace one existing row's data; the validation trigger refuses a bad shape (`AdminRefused`)."""
    try:
        record = await conn.fetchrow(
            "update admin_config set config_data = $2, updated_by = $3 where config_key = $1 "
            f"returning {_CONFIG_COLUMNS}",
            key,
            data,
            updated_by,
        )
    except _REFUSALS as error:
        raise _refused(error) from None
    if record is None:
        raise AdminRefused(f"admin_config {key} does not exist (or is not visible to this caller)")
    return _config(record)


def is_agent_key(key: str) -> bool:
    return key not in (APP_SETTINGS, LOGGING_SETTINGS)


# --- model_config ----------------------------------------------------------------------------------


async def list_models(conn: asyncpg.Connection, provider: str | None = None) -> list[ModelConfig]:
    records = await conn.fetch(
        f"select {_MODEL_COLUMNS} from model_config where $1::text is null or provider = $1 "
        "order by provider, is_default desc, model_id",
        provider,
    )
    return [_model(r) for r in records]


async def get_model_for_update(conn: asyncpg.Connection, model_id: str) -> ModelConfig | None:
    record = await conn.fetchrow(
        f"select {_MODEL_COLUMNS} from model_config where model_id = $1 for update", model_id
    )
    return _model(record) if record is not None else None


_MODEL_FIELDS = (
    "name",
    "description",
    "provider",
    "is_active",
    "is_default",
    "thinking_enabled",
    "input_pricing_per_million_tokens",
    "output_pricing_per_million_tokens",
    "metadata",
)


async def insert_model(conn: asyncpg.Connection, model_id: str, values: Mapping[str, Any]) -> ModelConfig:
    columns = ["model_id", *(k for k in _MODEL_FIELDS if k in values)]
    args = [model_id, *(values[k] for k in _MODEL_FIELDS if k in values)]
    placeholders = ", ".join(f"${i}" for i in range(1, len(args) + 1))
    try:
        record = await conn.fetchrow(
            f"insert into model_config ({', '.join(columns)}) values ({placeholders}) "
            f"returning {_MODEL_COLUMNS}",
            *args,
        )
    except _REFUSALS as error:
        raise _refused(error) from None
    if record is None:
        raise AdminRefused(f"model {model_id} was not added (not allowed for this caller)")
    return _model(record)


async def update_model(conn: asyncpg.Connection, model_id: str, values: Mapping[str, Any]) -> ModelConfig:
    names = [k for k in _MODEL_FIELDS if k in values]
    if not names:
        raise AdminRefused("nothing to change")
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=2))
    try:
        record = await conn.fetchrow(
            f"update model_config set {sets} where model_id = $1 returning {_MODEL_COLUMNS}",
            model_id,
            *(values[k] for k in names),
        )
    except _REFUSALS as error:
        raise _refused(error) from None
    if record is None:
        raise AdminRefused(f"model {model_id} does not exist")
    return _model(record)


# --- analytics -------------------------------------------------------------------------------------


def _range(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, end+1 00:00) as naive UTC timestamps, the form of the log tables' columns."""
    return datetime(start.year, start.month, start.day), datetime(end.year, end.month, end.day) + timedelta(1)


@dataclass(frozen=True, slots=True)
class UsageBucket:
    key: tuple[Any, ...]
    calls: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost: Decimal


def _bucket(record: asyncpg.Record, keys: Sequence[str]) -> UsageBucket:
    return UsageBucket(
        key=tuple(record[k] for k in keys),
        calls=int(record["calls"]),
        input_tokens=int(record["input_tokens"]),
        output_tokens=int(record["output_tokens"]),
        total_tokens=int(record["total_tokens"]),
        cost=Decimal(record["cost"]),
    )


_USAGE_SUMS = (
    "count(*) as calls, coalesce(sum(input_tokens), 0) as input_tokens, "
    "coalesce(sum(output_tokens), 0) as output_tokens, "
    "coalesce(sum(coalesce(total_tokens, coalesce(input_tokens, 0) + coalesce(output_tokens, 0))), 0) "
    "as total_tokens, coalesce(sum(total_cost), 0) as cost"
)


async def usage_by_day_agent(conn: asyncpg.Connection, start: date, end: date) -> list[UsageBucket]:
    """usage_logs by (day, agent) — idx_usage_logs_date_agent's shape."""
    low, high = _range(start, end)
    records = await conn.fetch(
        f"select request_timestamp::date as day, agent_type, {_USAGE_SUMS} from usage_logs "
        "where request_timestamp >= $1 and request_timestamp < $2 group by 1, 2 order by 1, 2",
        low,
        high,
    )
    return [_bucket(r, ("day", "agent_type")) for r in records]


async def usage_by_model(conn: asyncpg.Connection, start: date, end: date) -> list[UsageBucket]:
    """usage_logs by (model, provider) — idx_usage_logs_model_provider's shape."""
    low, high = _range(start, end)
    records = await conn.fetch(
        f"select model_used, provider, {_USAGE_SUMS} from usage_logs "
        "where request_timestamp >= $1 and request_timestamp < $2 group by 1, 2 "
        "order by cost desc, model_used nulls last, provider nulls last",
        low,
        high,
    )
    return [_bucket(r, ("model_used", "provider")) for r in records]


async def top_users(conn: asyncpg.Connection, start: date, end: date, limit: int) -> list[UsageBucket]:
    """The users who cost most in the range — idx_usage_logs_user_timestamp's shape."""
    low, high = _range(start, end)
    records = await conn.fetch(
        f"select user_id, {_USAGE_SUMS} from usage_logs "
        "where request_timestamp >= $1 and request_timestamp < $2 group by 1 "
        "order by cost desc, user_id limit $3",
        low,
        high,
        limit,
    )
    return [_bucket(r, ("user_id",)) for r in records]


@dataclass(frozen=True, slots=True)
class FailureCount:
    agent_type: str
    error_type: str
    failures: int


async def failures(conn: asyncpg.Connection, start: date, end: date) -> list[FailureCount]:
    """Failed agent calls by (agent, error type) — the partial indexes on `not success`."""
    low, high = _range(start, end)
    records = await conn.fetch(
        "select agent_type, coalesce(error_type, 'unknown') as error_type, count(*) as failures "
        "from agent_activity_logs where not success and created_at >= $1 and created_at < $2 "
        "group by 1, 2 order by failures desc, 1, 2",
        low,
        high,
    )
    return [FailureCount(r["agent_type"], r["error_type"], int(r["failures"])) for r in records]


@dataclass(frozen=True, slots=True)
class DurationStats:
    agent_type: str
    operation: str
    calls: int
    p50_ms: float
    p95_ms: float


async def durations(conn: asyncpg.Connection, start: date, end: date) -> list[DurationStats]:
    """p50 / p95 of `duration_ms` (linear interpolation, percentile_cont) by agent and operation name."""
    low, high = _range(start, end)
    records = await conn.fetch(
        "select agent_type, coalesce(operation_metadata ->> 'operation', operation_type) as operation, "
        "count(*) as calls, "
        "percentile_cont(0.5) within group (order by duration_ms) as p50, "
        "percentile_cont(0.95) within group (order by duration_ms) as p95 "
        "from agent_activity_logs where duration_ms is not null and created_at >= $1 and created_at < $2 "
        "group by 1, 2 order by 1, 2",
        low,
        high,
    )
    return [
        DurationStats(r["agent_type"], r["operation"], int(r["calls"]), float(r["p50"]), float(r["p95"]))
        for r in records
    ]


# --- error_logs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErrorEntry:
    id: uuid.UUID
    created_at: datetime | None
    user_id: uuid.UUID | None
    error_type: str
    error_category: str
    severity: str
    message: str
    details: dict[str, Any] | None
    resolved: bool
    resolved_by: uuid.UUID | None
    resolved_at: datetime | None
    resolution_notes: str | None


_ERROR_COLUMNS = (
    "id, created_at, user_id, error_type, error_category, severity, error_message, error_details, "
    "coalesce(resolved, false) as resolved, resolved_by, resolved_at, resolution_notes"
)


def _error(record: asyncpg.Record) -> ErrorEntry:
    return ErrorEntry(
        id=record["id"],
        created_at=record["created_at"],
        user_id=record["user_id"],
        error_type=record["error_type"],
        error_category=record["error_category"],
        severity=record["severity"],
        message=record["error_message"],
        details=record["error_details"],
        resolved=bool(record["resolved"]),
        resolved_by=record["resolved_by"],
        resolved_at=record["resolved_at"],
        resolution_notes=record["resolution_notes"],
    )


async def list_errors(
    conn: asyncpg.Connection,
    *,
    resolved: bool,
    severity: str | None,
    error_type: str | None,
    limit: int,
) -> tuple[list[ErrorEntry], dict[tuple[str, str], int]]:
    """Errors (newest first, at most `limit`) and the count of all matching ones by (severity, type)."""
    where = (
        "coalesce(resolved, false) = $1 and ($2::text is null or severity = $2) "
        "and ($3::text is null or error_type = $3)"
    )
    records = await conn.fetch(
        f"select {_ERROR_COLUMNS} from error_logs where {where} order by created_at desc, id limit $4",
        resolved,
        severity,
        error_type,
        limit,
    )
    counts = await conn.fetch(
        f"select severity, error_type, count(*) as n from error_logs where {where} group by 1, 2",
        resolved,
        severity,
        error_type,
    )
    return [_error(r) for r in records], {(r["severity"], r["error_type"]): int(r["n"]) for r in counts}


async def resolve_error(
    conn: asyncpg.Connection, error_id: uuid.UUID, notes: str, *, resolved_by: uuid.UUID
) -> ErrorEntry:
    """Mark one unresolved error resolved; `AdminRefused` when it does not exist or is resolved already."""
    record = await conn.fetchrow(
        "update error_logs set resolved = true, resolved_by = $2, resolved_at = now() at time zone 'utc', "
        f"resolution_notes = $3 where id = $1 and not coalesce(resolved, false) returning {_ERROR_COLUMNS}",
        error_id,
        resolved_by,
        notes,
    )
    if record is None:
        exists = await conn.fetchval(
            "select coalesce(resolved, false) from error_logs where id = $1", error_id
        )
        if exists is None:
            raise AdminRefused(f"error {error_id} does not exist")
        raise AdminRefused(f"error {error_id} is resolved already")
    return _error(record)


# --- user_activity_logs ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActivityEntry:
    id: uuid.UUID
    created_at: datetime | None
    user_id: uuid.UUID
    correlation_id: uuid.UUID
    activity_type: str
    activity_category: str
    resource_id: uuid.UUID | None
    resource_type: str | None
    success: bool
    metadata: dict[str, Any]


async def search_activity(
    conn: asyncpg.Connection,
    *,
    user_id: uuid.UUID | None,
    activity_type: str | None,
    start: date,
    end: date,
    limit: int,
) -> list[ActivityEntry]:
    """The audit trail, newest first — idx_user_activity_user_created / _user_type_date's shapes."""
    low, high = _range(start, end)
    records = await conn.fetch(
        "select id, created_at, user_id, correlation_id, activity_type, activity_category, resource_id, "
        "resource_type, coalesce(success, true) as success, coalesce(activity_metadata, '{}') as metadata "
        "from user_activity_logs where created_at >= $1 and created_at < $2 "
        "and ($3::uuid is null or user_id = $3) and ($4::text is null or activity_type = $4) "
        "order by created_at desc, id limit $5",
        low,
        high,
        user_id,
        activity_type,
        limit,
    )
    return [
        ActivityEntry(
            id=r["id"],
            created_at=r["created_at"],
            user_id=r["user_id"],
            correlation_id=r["correlation_id"],
            activity_type=r["activity_type"],
            activity_category=r["activity_category"],
            resource_id=r["resource_id"],
            resource_type=r["resource_type"],
            success=bool(r["success"]),
            metadata=r["metadata"] or {},
        )
        for r in records
    ]
