"""`model_config`: the models of each provider, their default, and their prices (Decimal, per million tokens).

Reads run as the server's own role.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from artificer.common.pricing import ModelPricing, pricing_from_model_config
from asyncpg.pool import Pool

_COLUMNS = (
    "id, model_id, name, description, provider, is_active, is_default, thinking_enabled, "
    "input_pricing_per_million_tokens, output_pricing_per_million_tokens, metadata, created_at, updated_at"
)


@dataclass(frozen=True, slots=True)
class ModelConfig:
    id: uuid.UUID
    model_id: str
    name: str
    description: str | None
    provider: str
    is_active: bool
    is_default: bool
    thinking_enabled: bool
    pricing: ModelPricing
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def context_window(self) -> int | None:
        value = self.metadata.get("contextWindow")
        return value if isinstance(value, int) else None

    @property
    def max_output_tokens(self) -> int | None:
        value = self.metadata.get("maxOutputTokens")
        return value if isinstance(value, int) else None


def _model(record: asyncpg.Record) -> ModelConfig:
    metadata = record["metadata"]
    if isinstance(metadata, str):
        metadata = json.loads(metadata)
    return ModelConfig(
        id=record["id"],
        model_id=record["model_id"],
        name=record["name"],
        description=record["description"],
        provider=record["provider"],
        is_active=bool(record["is_active"]),
        is_default=bool(record["is_default"]),
        thinking_enabled=bool(record["thinking_enabled"]),
        pricing=pricing_from_model_config({**record, "metadata": metadata}),  # cache prices: metadata
        metadata=metadata or {},
        created_at=record["created_at"],
        updated_at=record["updated_at"],
    )


async def active_models(pool_or_conn: Pool | asyncpg.Connection, provider: str) -> list[ModelConfig]:
    """The provider's active models, the default first, then by name."""
    records = await pool_or_conn.fetch(
        f"select {_COLUMNS} from model_config where provider = $1 and is_active "
        "order by is_default desc, name, model_id",
        provider,
    )
    return [_model(r) for r in records]


async def default_model(pool_or_conn: Pool | asyncpg.Connection, provider: str) -> ModelConfig | None:
    """The provider's default model (None when the provider has none)."""
    record = await pool_or_conn.fetchrow(
        f"select {_COLUMNS} from model_config where provider = $1 and is_default "
        "order by is_active desc, model_id limit 1",
        provider,
    )
    return _model(record) if record is not None else None


async def get_model(pool_or_conn: Pool | asyncpg.Connection, model_id: str) -> ModelConfig | None:
    record = await pool_or_conn.fetchrow(f"select {_COLUMNS} from model_config where model_id = $1", model_id)
    return _model(record) if record is not None else None
