"""`admin_config`: agent configs per provider (`{agent}_{provider}`), `app_settings`, `logging_settings`.

Reads run as the server's own role (configs are not the caller's to see). Writes go through the
database's validation trigger: a bad shape raises `InvalidConfig` with the trigger's message, and
nothing changes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from asyncpg.pool import Pool

APP_SETTINGS = "app_settings"
LOGGING_SETTINGS = "logging_settings"

_COLUMNS = "config_key, config_data, updated_by, updated_at, created_at"


class InvalidConfig(Exception):
    """The database refused a configuration; `message` is the validation trigger's text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class ConfigRow:
    key: str
    data: dict[str, Any]
    updated_by: uuid.UUID | None
    updated_at: datetime | None
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class ProviderConfigs:
    """Everything the server needs for one provider, loaded in one query."""

    provider: str
    agents: dict[str, ConfigRow] = field(default_factory=dict)  # agent type -> its `{agent}_{provider}` row
    app_settings: dict[str, Any] = field(default_factory=dict)
    logging_settings: dict[str, Any] = field(default_factory=dict)


def _row(record: asyncpg.Record) -> ConfigRow:
    data = record["config_data"]
    if isinstance(data, str):  # a connection without the json codec
        import json

        data = json.loads(data)
    return ConfigRow(
        key=record["config_key"],
        data=data,
        updated_by=record["updated_by"],
        updated_at=record["updated_at"],
        created_at=record["created_at"],
    )


async def load_provider(pool_or_conn: Pool | asyncpg.Connection, provider: str) -> ProviderConfigs:
    """All `{agent}_{provider}` rows plus app_settings and logging_settings, in one query."""
    if not provider or "%" in provider or "_" in provider:
        raise ValueError(f"not a provider name: {provider!r}")
    suffix = "_" + provider
    records = await pool_or_conn.fetch(
        f"select {_COLUMNS} from admin_config "
        "where right(config_key, length($1)) = $1 or config_key = any($2::text[]) order by config_key",
        suffix,
        [APP_SETTINGS, LOGGING_SETTINGS],
    )
    agents: dict[str, ConfigRow] = {}
    app_settings: dict[str, Any] = {}
    logging_settings: dict[str, Any] = {}
    for record in records:
        row = _row(record)
        if row.key == APP_SETTINGS:
            app_settings = row.data
        elif row.key == LOGGING_SETTINGS:
            logging_settings = row.data
        else:
            agents[row.key[: -len(suffix)]] = row
    return ProviderConfigs(
        provider=provider, agents=agents, app_settings=app_settings, logging_settings=logging_settings
    )


async def get_config(pool_or_conn: Pool | asyncpg.Connection, key: str) -> ConfigRow | None:
    record = await pool_or_conn.fetchrow(f"select {_COLUMNS} from admin_config where config_key = $1", key)
    return _row(record) if record is not None else None


async def put_config(
    pool_or_conn: Pool | asyncpg.Connection,
    key: str,
    data: dict[str, Any],
    *,
    updated_by: uuid.UUID | None = None,
) -> ConfigRow:
    """Insert or replace one config row; the trigger validates it (InvalidConfig, nothing changed)."""
    if not isinstance(data, dict):
        raise InvalidConfig(f"admin_config {key}: config_data must be a JSON object")
    try:
        record = await pool_or_conn.fetchrow(
            "insert into admin_config (config_key, config_data, updated_by) values ($1, $2, $3) "
            "on conflict (config_key) do update set config_data = excluded.config_data, "
            f"updated_by = excluded.updated_by returning {_COLUMNS}",
            key,
            data,
            updated_by,
        )
    except (asyncpg.CheckViolationError, asyncpg.RaiseError, asyncpg.StringDataRightTruncationError) as error:
        raise InvalidConfig(error.args[0] if error.args else str(error)) from None
    assert record is not None
    return _row(record)
