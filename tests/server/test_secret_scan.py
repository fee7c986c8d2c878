"""After a run with API keys, a GitHub token and JWTs in play, none of them is anywhere: not in any text
or json column of any table, not in the server's stdout or stderr (at DEBUG), even though the provider's
error answer quotes the key back and a forged token was tried."""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import anyio
import asyncpg
import httpx2
import jwt
import pytest
from artificer.server.identity import make_hs256_token
from fakes.gemini import FakeGemini
from fakes.http import Reply
from http_harness import free_port, http_client, initialize_status
from mcp_harness import doc_turn, server_env
from test_transports import ARTIFICER

pytestmark = pytest.mark.anyio

GOOGLE_KEY = "AIzaSyFAKE-google-" + uuid.uuid4().hex
OPENAI_KEY = "sk-proj-FAKE" + uuid.uuid4().hex
ANTHROPIC_KEY = "sk-ant-api03-FAKE" + uuid.uuid4().hex
GITHUB_TOKEN = "ghp_FAKE" + uuid.uuid4().hex
JWT_SECRET = "jwt-secret-" + uuid.uuid4().hex + uuid.uuid4().hex


def start_server(command: list[str], env: dict[str, str], out: Path, err: Path) -> subprocess.Popen[bytes]:
    with out.open("wb") as stdout, err.open("wb") as stderr:
        return subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the log writer flushes on the way out); SIGKILL if it has not ended in 30 s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def read_logs(out: Path, err: Path) -> str:
    return out.read_text(errors="replace") + err.read_text(errors="replace")


async def text_columns(conn: asyncpg.Connection) -> list[tuple[str, str, str]]:
    rows = await conn.fetch(
        "select c.table_schema, c.table_name, c.column_name from information_schema.columns c"
        " join information_schema.tables t using (table_schema, table_name)"
        " where t.table_type = 'BASE TABLE' and c.table_schema not in ('pg_catalog', 'information_schema')"
        " and (c.data_type in ('text', 'character varying', 'json', 'jsonb', 'character', 'bytea')"
        " or c.data_type = 'ARRAY' or c.data_type = 'USER-DEFINED')"
    )
    return [(r[0], r[1], r[2]) for r in rows]


async def found_in_tables(database_url: str, needles: dict[str, str]) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        hits = []
        for schema, table, column in await text_columns(conn):
            for label, needle in needles.items():
                count = await conn.fetchval(
                    f'select count(*) from "{schema}"."{table}" where strpos("{column}"::text, $1) > 0',
                    needle,
                )
                if count:
                    hits.append(f"{label} in {schema}.{table}.{column}")
        return hits
    finally:
        await conn.close()


async def test_no_secret_reaches_a_table_or_the_logs(
    database_url: str, make_user, gemini: FakeGemini
) -> None:
    user = await make_user()
    port = free_port()
    env = server_env(
        database_url,
        user,
        gemini,
        GOOGLE_API_KEY=GOOGLE_KEY,
        OPENAI_API_KEY=OPENAI_KEY,
        ANTHROPIC_API_KEY=ANTHROPIC_KEY,
        GITHUB_TOKEN=GITHUB_TOKEN,
        ARTIFICER_JWT_SECRET=JWT_SECRET,
        ARTIFICER_LOG_LEVEL="DEBUG",
    )
    good = make_hs256_token(JWT_SECRET, user)
    forged = make_hs256_token("f" * 48, user)
    now = int(time.time())
    expired = jwt.encode({"sub": str(user), "aud": "authenticated", "exp": now - 3600}, JWT_SECRET)
    with tempfile.TemporaryDirectory() as folder:
        out, err = Path(folder, "stdout"), Path(folder, "stderr")
        command = [ARTIFICER, "serve", "--transport", "http", "--host", "127.0.0.1", "--port", str(port)]
        process = await anyio.to_thread.run_sync(start_server, command, env, out, err)
        base = f"http://127.0.0.1:{port}"
        try:
            async with httpx2.AsyncClient() as plain:
                with anyio.fail_after(60):
                    while True:
                        assert process.poll() is None, "the server exited at start-up"
                        try:
                            if (await plain.get(f"{base}/health")).status_code == 200:
                                break
                        except httpx2.TransportError:
                            pass
                        await anyio.sleep(0.1)
            assert await initialize_status(base, forged) == 401
            assert await initialize_status(base, expired) == 401
            # the provider's error answer quotes the key back, as real ones do
            gemini.script(
                Reply.of_json({"error": {"code": 400, "message": f"API key not valid: {GOOGLE_KEY}"}}, 400),
                doc_turn("# Fine\n\nA document."),
            )
            async with http_client(base, good) as client:
                failed = await client.call_tool("document_agent", {"operation": "create", "instruction": "a"})
                assert failed.is_error
                assert GOOGLE_KEY not in str(failed.content)
                ok = await client.call_tool("document_agent", {"operation": "create", "instruction": "b"})
                assert not ok.is_error, ok.content
            assert gemini.requests[0].headers.get("x-goog-api-key") == GOOGLE_KEY, "the key was in play"
        finally:
            await anyio.to_thread.run_sync(stop_server, process)
        logs = await anyio.to_thread.run_sync(read_logs, out, err)
    needles = {
        "google key": GOOGLE_KEY,
        "openai key": OPENAI_KEY,
        "anthropic key": ANTHROPIC_KEY,
        "github token": GITHUB_TOKEN,
        "jwt secret": JWT_SECRET,
        "good jwt": good,
        "good jwt signature": good.rsplit(".", 1)[1],
        "forged jwt signature": forged.rsplit(".", 1)[1],
        "expired jwt signature": expired.rsplit(".", 1)[1],
    }
    assert "bearer token rejected" in logs, "the server's log was captured (the refusals are logged)"
    assert [label for label, needle in needles.items() if needle in logs] == [], logs[-3000:]
    assert await found_in_tables(database_url, needles) == []
    # the scan does find what is there: the saved document's text
    assert "A document. in public.Document.content" in await found_in_tables(
        database_url, {"A document.": "A document."}
    )
