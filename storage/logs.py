"""Row types of the log tables (agent_activity_logs, user_activity_logs, usage_logs, error_logs), the
plain writes `LogWriter` uses (COPY, and a row-by-row INSERT fallback), and the caller's usage totals.

Writes run as the server's own role. Reads of the caller's own rows (`usage_totals`) run inside
`as_user(...)`, where RLS limits them to the caller.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any, ClassVar

import asyncpg
from asyncpg.pool import Pool


def utc_now() -> datetime:
    """Naive UTC, the form of the log tables' `timestamp` columns."""
    return datetime.now(UTC).replace(tzinfo=None)


# --- secrets ---------------------------------------------------------------------------------------

# A key names a secret when its last word does (after camelCase and dashes become snake_case): `api_key`,
# `x-api-key`, `accessToken`, `github_token`, `client_secret` … but not a count such as `reasoning_tokens`.
_SECRET_KEY = re.compile(
    r"(^|_)(api_?key|(secret|private|access)_key|token|secrets?|password|passwd|jwt|authorization"
    r"|cookies?|credentials?)$"
)
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SECRET_TEXT = re.compile(
    r"(eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}"  # JWTs
    r"|\bsk-[A-Za-z0-9_*.…-]{8,}"  # OpenAI / Anthropic keys, also masked (sk-proj-abcd****wxyz)
    r"|\bAIza[0-9A-Za-z_-]{30,}"  # Google API keys
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}|\bgithub_pat_[A-Za-z0-9_]{20,}"  # GitHub tokens
    r"|(?<![A-Za-z])(?i:token)[\s\"':=]+[0-9a-fA-F]{40}\b"  # 40-hex GitHub tokens: `token …`, `token=…`
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=*-]{8,})"
)
# The password of a URL (`postgresql://user:password@host`) and a `password=` parameter (DSN keywords).
_URL_PASSWORD = re.compile(r"(://[^\s:/?#@]*:)[^\s/?#@]+(?=@)|(\bpassword=)[^\s&]+", re.IGNORECASE)
REDACTED = "[redacted]"


# The shortest text _SECRET_TEXT can match ("sk-" and 8 characters): anything shorter is left as is.
_SHORTEST_SECRET = 11
_PLAIN_TYPES = frozenset({int, float, bool, type(None)})
_secret_keys: dict[str, bool] = {}  # key -> whether it names a secret (log metadata reuses few keys)


def redact_text(text: str | None) -> str | None:
    """`text` with anything that looks like a key, token or JWT replaced."""
    if not text or len(text) < _SHORTEST_SECRET:
        return text
    if "://" in text or "assword=" in text or "ASSWORD=" in text:
        text = _URL_PASSWORD.sub(_redact_password, text)
    return _SECRET_TEXT.sub(REDACTED, text)


def _redact_password(match: re.Match[str]) -> str:
    return (match[1] or match[2]) + REDACTED


class RedactSecrets(logging.Filter):
    """A handler filter: the record's message (with its args), traceback and stack come out redacted.

    Attach it to handlers, not loggers: a logger's filters do not see records propagated from its children.
    """

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # bad args: the handler would print them in its "Logging error" report
            message = f"{record.msg} (arguments: {record.args!r})"
        record.msg, record.args = redact_text(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


def _is_secret_key(key: str) -> bool:
    secret = _secret_keys.get(key)
    if secret is None:
        words = _CAMEL_BOUNDARY.sub("_", key).replace("-", "_").replace(" ", "_").lower()
        secret = _SECRET_KEY.search(words) is not None
        if len(_secret_keys) < 4096:
            _secret_keys[key] = secret
    return secret


def redact_value(value: Any) -> Any:
    """A JSON-like value with secret-named keys and secret-looking strings replaced (a new object)."""
    if isinstance(value, dict):
        redacted: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and _is_secret_key(key):
                redacted[key] = REDACTED
            elif type(item) in _PLAIN_TYPES:
                redacted[key] = item
            elif type(item) is str:
                redacted[key] = redact_text(item)
            else:
                redacted[key] = redact_value(item)
        return redacted
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


# --- rows ------------------------------------------------------------------------------------------


class LogRow:
    """A row of one log table: TABLE, COLUMNS in field order, `record()` for COPY."""

    __slots__ = ()
    TABLE: ClassVar[str]

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        return _layout(cls).columns

    def record(self, **replace: Any) -> tuple[Any, ...]:
        """The row's values in column order (shallow), with `replace` overriding some of them.

        Timezone-aware datetimes become naive UTC, the form of the tables' `timestamp` columns.
        """
        layout = _LAYOUTS.get(type(self)) or _layout(type(self))
        values = list(layout.values(self))  # one C-level attribute fetch for every column
        for index in layout.datetime_positions:
            value = values[index]
            if isinstance(value, datetime) and value.tzinfo is not None:
                values[index] = _naive_utc(value)
        if replace:
            position = layout.position
            for name, new_value in replace.items():
                slot = position.get(name)
                if slot is not None:
                    values[slot] = _naive_utc(new_value)
        return tuple(values)


@dataclass(frozen=True, slots=True)
class _Layout:
    """How one row type turns into a COPY record (computed once per type)."""

    columns: tuple[str, ...]
    position: dict[str, int]
    values: Callable[[Any], tuple[Any, ...]]
    datetime_positions: tuple[int, ...]  # fields annotated as datetimes (the only ones holding them)


_LAYOUTS: dict[type, _Layout] = {}


def _layout(cls: type) -> _Layout:
    layout = _LAYOUTS.get(cls)
    if layout is None:
        row_fields = fields(cls)
        columns = tuple(f.name for f in row_fields)
        layout = _LAYOUTS[cls] = _Layout(
            columns=columns,
            position={name: i for i, name in enumerate(columns)},
            values=attrgetter(*columns),
            datetime_positions=tuple(
                i for i, f in enumerate(row_fields) if "datetime" in str(f.type) or f.type is datetime
            ),
        )
    return layout


def _naive_utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


@dataclass(frozen=True, slots=True)
class AgentActivityRow(LogRow):
    """One agent operation (agent_activity_logs)."""

    TABLE: ClassVar[str] = "agent_activity_logs"

    agent_type: str
    operation_type: str  # initialization | tool_invocation | code_generation | document_generation | ...
    operation_category: str  # generation | execution | tool_use | streaming | configuration
    correlation_id: uuid.UUID = field(default_factory=uuid.uuid4)
    user_id: uuid.UUID | None = None
    operation_metadata: dict[str, Any] = field(default_factory=dict)
    resource_id: uuid.UUID | None = None
    resource_type: str | None = None
    duration_ms: int | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    model_id: str | None = None
    provider: str | None = None
    thinking_mode: bool = False
    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    total_tokens: int | None = None
    input_cost: Decimal | None = None
    output_cost: Decimal | None = None
    total_cost: Decimal | None = None
    success: bool = True
    error_type: str | None = None
    error_message: str | None = None
    retry_count: int = 0
    created_at: datetime = field(default_factory=utc_now)


@dataclass(frozen=True, slots=True)
class UserActivityRow(LogRow):
    """One user action (user_activity_logs)."""

    TABLE: ClassVar[str] = "user_activity_logs"

    user_id: uuid.UUID
    activity_type: str
    activity_category: str
    correlation_id: uuid.UUID = field(default_factory=uuid.uuid4)
    activity_metadata: dict[str, Any] = field(default_factory=dict)
    resource_id: uuid.UUID | None = None
    resource_type: str | None = None
    ip_address: str | None = None
    user_agent: str | None = None
    request_path: str | None = None
    request_method: str | None = None
    session_id: str | None = None
    success: bool = True
    error_message: str | None = None
    created_at: datetime = field(default_factory=utc_now)


@dataclass(frozen=True, slots=True)
class UsageRow(LogRow):
    """One LLM call with its tokens and cost (usage_logs). Never sampled."""

    TABLE: ClassVar[str] = "usage_logs"

    user_id: uuid.UUID
    agent_type: str
    model_used: str | None = None
    provider: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    input_cost: Decimal | None = None
    output_cost: Decimal | None = None
    total_cost: Decimal | None = None
    request_timestamp: datetime = field(default_factory=utc_now)
    response_timestamp: datetime | None = None
    duration_ms: int | None = None
    metadata: dict[str, Any] | None = None
    chat_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class ErrorRow(LogRow):
    """One error (error_logs). Never sampled."""

    TABLE: ClassVar[str] = "error_logs"

    error_type: str  # auth | api | admin | app | user | permission | system
    error_category: str
    error_message: str
    user_id: uuid.UUID | None = None
    error_details: dict[str, Any] | None = None
    request_path: str | None = None
    request_method: str | None = None
    user_agent: str | None = None
    ip_address: str | None = None
    session_id: str | None = None
    severity: str = "error"  # info | warning | error | critical
    created_at: datetime = field(default_factory=utc_now)


LOG_ROW_TYPES: tuple[type[LogRow], ...] = (AgentActivityRow, UserActivityRow, UsageRow, ErrorRow)


# --- writes ----------------------------------------------------------------------------------------


async def copy_rows(
    conn: asyncpg.Connection, row_type: type[LogRow], records: Sequence[tuple[Any, ...]]
) -> None:
    """COPY `records` (tuples in `row_type.columns()` order) into the row type's table; all or nothing.

    COPY uses the binary format, so json/jsonb need binary codecs: a connection that has only the text
    ones gets binary codecs with the same Python behaviour (dicts in, dicts out) on first use.
    """
    columns = list(row_type.columns())
    try:
        await conn.copy_records_to_table(row_type.TABLE, records=records, columns=columns)
    except asyncpg.InternalClientError as error:
        if "no binary format encoder" not in str(error):
            raise
        await use_binary_json_codecs(conn)
        await conn.copy_records_to_table(row_type.TABLE, records=records, columns=columns)


def _encode_jsonb(value: Any) -> bytes:
    return b"\x01" + json.dumps(value).encode()


def _decode_jsonb(data: bytes) -> Any:
    return json.loads(data[1:])


def _encode_json(value: Any) -> bytes:
    return json.dumps(value).encode()


async def use_binary_json_codecs(conn: asyncpg.Connection) -> None:
    """json/jsonb as Python objects in the binary format (needed by COPY; same behaviour otherwise)."""
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=_encode_jsonb, decoder=_decode_jsonb, format="binary"
    )
    await conn.set_type_codec(
        "json", schema="pg_catalog", encoder=_encode_json, decoder=json.loads, format="binary"
    )


def insert_sql(row_type: type[LogRow]) -> str:
    columns = row_type.columns()
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    return f"insert into {row_type.TABLE} ({', '.join(columns)}) values ({placeholders})"


async def insert_row(conn: asyncpg.Connection, row_type: type[LogRow], record: tuple[Any, ...]) -> None:
    """One INSERT (the fallback that isolates a bad row)."""
    await conn.execute(insert_sql(row_type), *record)


# --- reads -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UsageTotals:
    calls: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    total_cost: Decimal
    by_agent: dict[str, dict[str, Any]]


async def usage_totals(
    pool_or_conn: Pool | asyncpg.Connection, *, since: datetime, user_id: uuid.UUID | None = None
) -> UsageTotals:
    """Usage since `since` (naive UTC): inside `as_user` RLS limits it to the caller; `user_id` narrows."""
    records = await pool_or_conn.fetch(
        "select agent_type, count(*) as calls, coalesce(sum(input_tokens), 0) as input_tokens, "
        "coalesce(sum(output_tokens), 0) as output_tokens, coalesce(sum(total_tokens), 0) as total_tokens, "
        "coalesce(sum(total_cost), 0) as total_cost from usage_logs "
        "where request_timestamp >= $1 and ($2::uuid is null or user_id = $2) group by agent_type "
        "order by agent_type",
        since,
        user_id,
    )
    by_agent = {
        r["agent_type"]: {
            "calls": r["calls"],
            "input_tokens": int(r["input_tokens"]),
            "output_tokens": int(r["output_tokens"]),
            "total_tokens": int(r["total_tokens"]),
            "total_cost": Decimal(r["total_cost"]),
        }
        for r in records
    }
    return UsageTotals(
        calls=sum(v["calls"] for v in by_agent.values()),
        input_tokens=sum(v["input_tokens"] for v in by_agent.values()),
        output_tokens=sum(v["output_tokens"] for v in by_agent.values()),
        total_tokens=sum(v["total_tokens"] for v in by_agent.values()),
        total_cost=sum((v["total_cost"] for v in by_agent.values()), Decimal(0)),
        by_agent=by_agent,
    )
