"""Shared pieces of the MCP server tests: settings for a test database and a fake Gemini, and a client."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from artificer.common.settings import Settings
from artificer.server.app import build_server
from fakes.gemini import FakeGemini  # type: ignore[import-not-found]
from fakes.llm import Turn  # type: ignore[import-not-found]
from mcp.client import Client

JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"


def make_settings(database_url: str, user_id: uuid.UUID | None, gemini: FakeGemini, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "user_id": str(user_id) if user_id else None,
        "google_api_key": "test-key",
        "google_base_url": gemini.url,
        "provider_max_retries": 0,
        "provider_timeout_seconds": 10,
        "jwt_secret": JWT_SECRET,
        "pool_max_size": 4,
    }
    values.update(extra)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def server_env(database_url: str, user_id: uuid.UUID, gemini: FakeGemini, **extra: str) -> dict[str, str]:
    """Environment for an `artificer serve` subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARTIFICER_", "GOOGLE_", "OPENAI_"))}
    env.update(
        DATABASE_URL=database_url,
        ARTIFICER_USER_ID=str(user_id),
        GOOGLE_API_KEY="test-key",
        GOOGLE_BASE_URL=gemini.url,
        ARTIFICER_PROVIDER_MAX_RETRIES="0",
        ARTIFICER_POOL_MAX_SIZE="4",
        ARTIFICER_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


@asynccontextmanager
async def in_process(settings: Settings, **client_options: Any) -> AsyncIterator[Client]:
    async with Client(build_server(settings), **client_options) as client:
        yield client


def doc_turn(text: str = "# Title\n\nBody of the document.", **options: Any) -> Turn:
    return Turn(text=text, **options)


async def count_rows(database_url: str, table: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval(f'select count(*) from "{table}"'))
    finally:
        await conn.close()


def sent_prompts(gemini: FakeGemini) -> tuple[str, str]:
    """(system prompt, user prompt) of the last model call the fake received."""
    body = gemini.bodies()[-1]
    return body["systemInstruction"]["parts"][0]["text"], body["contents"][0]["parts"][0]["text"]


async def tool_config(pool: Any, config_key: str, op: str) -> Any:
    """`config_data.tools.<op>` of one admin_config row."""
    return await pool.fetchval(
        "select config_data -> 'tools' -> $2::text from admin_config where config_key = $1", config_key, op
    )
