"""`auth.users`: the stdio user, and reading a user.

On the embedded default the project's `auth` shim owns `auth.users`, so the local stdio user is created
when missing. On Supabase, GoTrue owns the table: the user must already exist and is never inserted.
These run as the server's own role.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from asyncpg.pool import Pool


@dataclass(frozen=True, slots=True)
class User:
    id: uuid.UUID
    email: str | None
    role: str  # 'admin' or 'user', from raw_app_meta_data.role (the server-controlled metadata)
    created_at: datetime | None
    app_metadata: dict[str, Any] = field(default_factory=dict)


def _json(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        return json.loads(value)
    return dict(value)


async def get_user(pool_or_conn: Pool | asyncpg.Connection, user_id: uuid.UUID) -> User | None:
    record = await pool_or_conn.fetchrow(
        "select id, email, raw_app_meta_data, created_at from auth.users where id = $1", user_id
    )
    if record is None:
        return None
    app_metadata = _json(record["raw_app_meta_data"])
    role = app_metadata.get("role")
    return User(
        id=record["id"],
        email=record["email"],
        role=role if role in ("admin", "user") else "user",
        created_at=record["created_at"],
        app_metadata=app_metadata,
    )


async def ensure_user(
    pool_or_conn: Pool | asyncpg.Connection,
    user_id: uuid.UUID,
    email: str | None,
    *,
    create: bool = True,
    role: str = "user",
) -> bool:
    """True when the user exists afterwards.

    `create=True` (the embedded default) inserts the user when missing; `create=False` (Supabase, where
    GoTrue owns auth.users) only checks.
    """
    if not create:
        return await pool_or_conn.fetchval("select exists (select from auth.users where id = $1)", user_id)
    await pool_or_conn.execute(
        "insert into auth.users (id, aud, role, email, raw_app_meta_data, raw_user_meta_data, "
        "created_at, updated_at) values ($1, 'authenticated', 'authenticated', $2, $3, $4, now(), now()) "
        "on conflict (id) do nothing",
        user_id,
        email,
        {"role": role, "provider": "artificer-local"},
        {},
    )
    return True
