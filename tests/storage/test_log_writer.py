from __future__ import annotations

import asyncio
import io
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from artificer.storage.database import as_user
from artificer.storage.log_writer import LogWriter, anonymize_ip
from artificer.storage.logs import AgentActivityRow, ErrorRow, UsageRow, UserActivityRow, usage_totals

pytestmark = pytest.mark.anyio


def settings(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "error_logging_enabled": True,
        "user_activity_logging_enabled": True,
        "agent_activity_logging_enabled": True,
        "category_toggles": {},
        "performance_settings": {"batch_writes": True, "batch_size": 1000, "batch_interval_ms": 60_000},
        "privacy_settings": {},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return base


def activity(user: uuid.UUID | None, **fields: Any) -> AgentActivityRow:
    values: dict[str, Any] = dict(
        agent_type="document_agent",
        operation_type="document_generation",
        operation_category="generation",
        user_id=user,
    )
    values.update(fields)
    return AgentActivityRow(**values)


async def count(pool: asyncpg.Pool, table: str) -> int:
    return await pool.fetchval(f"select count(*) from {table}")


async def test_copy_writes_every_column(pool: asyncpg.Pool, make_user) -> None:
    user = await make_user()
    correlation = uuid.uuid4()
    start = datetime(2026, 3, 1, 10, 0, 0)
    row = activity(
        user,
        correlation_id=correlation,
        operation_metadata={"tool_name": "create", "api_key": "sk-abcdefghijklmnopqrstuvwx"},
        resource_id=uuid.uuid4(),
        resource_type="document",
        duration_ms=1234,
        start_time=start,
        end_time=start + timedelta(milliseconds=1234),
        model_id="gemini-2.0-flash",
        provider="google",
        thinking_mode=True,
        input_tokens=100,
        output_tokens=50,
        reasoning_tokens=20,
        total_tokens=170,
        input_cost=Decimal("0.000008"),
        output_cost=Decimal("0.000021"),
        total_cost=Decimal("0.000029"),
        success=False,
        error_type="RateLimited",
        error_message="upstream said: Bearer abcdefghijklmnop refused",
        retry_count=2,
    )
    writer = LogWriter(pool, settings())
    await writer.start()
    assert writer.log_activity(row)
    assert writer.log_usage(
        UsageRow(user_id=user, agent_type="document_agent", model_used="gemini-2.0-flash", provider="google",
                 input_tokens=100, output_tokens=70, total_tokens=170, input_cost=Decimal("0.000008"),
                 output_cost=Decimal("0.000021"), total_cost=Decimal("0.000029"), duration_ms=1234,
                 metadata={"correlation_id": str(correlation)})
    )  # fmt: skip
    assert writer.log_error(
        ErrorRow(error_type="api", error_category="provider_error", error_message="boom", user_id=user,
                 error_details={"password": "hunter2", "where": "pipeline"})
    )  # fmt: skip
    assert await count(pool, "agent_activity_logs") == 0  # nothing written before a flush
    await writer.aclose()

    stored = await pool.fetchrow("select * from agent_activity_logs")
    assert stored["correlation_id"] == correlation and stored["user_id"] == user
    assert stored["operation_metadata"] == {"tool_name": "create", "api_key": "[redacted]"}
    assert stored["error_message"] == "upstream said: [redacted] refused"
    for name in ("duration_ms", "start_time", "end_time", "model_id", "provider", "thinking_mode",
                 "input_tokens", "output_tokens", "reasoning_tokens", "total_tokens", "input_cost",
                 "output_cost", "total_cost", "success", "error_type", "retry_count", "resource_id",
                 "resource_type"):  # fmt: skip
        assert stored[name] == getattr(row, name), name
    usage = await pool.fetchrow("select * from usage_logs")
    assert (usage["total_tokens"], usage["total_cost"]) == (170, Decimal("0.000029"))
    error = await pool.fetchrow("select * from error_logs")
    assert error["error_details"] == {"password": "[redacted]", "where": "pipeline"}
    async with as_user(pool, {"sub": str(user), "role": "authenticated"}) as conn:
        totals = await usage_totals(conn, since=datetime(2000, 1, 1))
    assert totals.calls == 1 and totals.total_cost == Decimal("0.000029")


async def test_aware_datetimes_are_stored_as_utc(pool: asyncpg.Pool, make_user) -> None:
    from datetime import UTC, timezone

    user = await make_user()
    paris = timezone(timedelta(hours=1))
    start = datetime(2026, 3, 1, 13, 0, 0, tzinfo=paris)
    writer = LogWriter(pool, settings())
    writer.log_activity(activity(user, start_time=start, end_time=datetime(2026, 3, 1, 12, 0, 1, tzinfo=UTC)))
    writer.log_usage(UsageRow(user_id=user, agent_type="document_agent", request_timestamp=start))
    await writer.aclose()
    row = await pool.fetchrow("select start_time, end_time from agent_activity_logs")
    assert (row["start_time"], row["end_time"]) == (
        datetime(2026, 3, 1, 12, 0, 0),
        datetime(2026, 3, 1, 12, 0, 1),
    )
    assert await pool.fetchval("select request_timestamp from usage_logs") == datetime(2026, 3, 1, 12, 0, 0)
    assert writer.stats.dropped_bad == 0


async def test_flushes_on_size_and_on_interval(pool: asyncpg.Pool, make_user) -> None:
    user = await make_user()
    writer = LogWriter(pool, settings(performance_settings={"batch_size": 5, "batch_interval_ms": 60_000}))
    await writer.start()
    for _ in range(5):
        writer.log_activity(activity(user))
    for _ in range(50):
        if await count(pool, "agent_activity_logs") == 5:
            break
        await asyncio.sleep(0.05)
    assert await count(pool, "agent_activity_logs") == 5
    writer.apply_settings(settings(performance_settings={"batch_size": 1000, "batch_interval_ms": 100}))
    writer.log_activity(activity(user))
    for _ in range(250):  # the 100 ms interval, not the batch size, writes it
        if await count(pool, "agent_activity_logs") == 6:
            break
        await asyncio.sleep(0.02)
    assert await count(pool, "agent_activity_logs") == 6
    writer.apply_settings(settings(performance_settings={"batch_writes": False, "batch_interval_ms": 60_000}))
    writer.log_activity(activity(user))
    for _ in range(50):
        if await count(pool, "agent_activity_logs") == 7:
            break
        await asyncio.sleep(0.02)
    assert await count(pool, "agent_activity_logs") == 7  # unbatched: written at once, off the call's path
    await writer.aclose()
    assert not writer.log_activity(activity(user))  # closed


async def test_enabled_flags_categories_and_sampling(pool: asyncpg.Pool, make_user) -> None:
    user = await make_user()
    writer = LogWriter(pool, settings(agent_activity_logging_enabled=False, error_logging_enabled=False))
    assert not writer.log_activity(activity(user))
    assert not writer.log_error(ErrorRow(error_type="app", error_category="x", error_message="y"))
    assert writer.log_usage(UsageRow(user_id=user, agent_type="python_agent"))  # usage is always kept

    writer.apply_settings(settings(category_toggles={"log_tool_invocations": False}))
    tool_row = activity(user, operation_type="mcp_operation", operation_category="tool_use")
    assert not writer.log_activity(tool_row)
    assert writer.log_activity(activity(user, operation_type="code_generation"))
    writer.apply_settings(settings(category_toggles={"log_document_events": False}))
    assert not writer.log_user_activity(
        UserActivityRow(user_id=user, activity_type="document_create", activity_category="document")
    )

    writer.apply_settings(settings(performance_settings={"sampling_enabled": True, "sampling_rate": 0.25}))
    kept = sum(writer.log_activity(activity(user)) for _ in range(2000))
    assert 350 < kept < 650
    for _ in range(20):  # errors and usage are never sampled
        assert writer.log_error(ErrorRow(error_type="app", error_category="x", error_message="y"))
        assert writer.log_usage(UsageRow(user_id=user, agent_type="python_agent"))
    await writer.aclose()
    assert await count(pool, "agent_activity_logs") == 1 + kept
    assert await count(pool, "usage_logs") == 21
    assert await count(pool, "error_logs") == 20


async def test_privacy_settings(pool: asyncpg.Pool, make_user) -> None:
    user = await make_user()
    writer = LogWriter(
        pool,
        settings(
            privacy_settings={
                "anonymize_ip": True,
                "hash_email": True,
                "log_user_agent": False,
                "exclude_sensitive_paths": ["/api/auth/callback"],
            }
        ),
    )
    assert writer.log_user_activity(
        UserActivityRow(user_id=user, activity_type="auth_login", activity_category="authentication",
                        ip_address="203.0.113.77", user_agent="curl/8", request_path="/mcp",
                        activity_metadata={"email": "Someone@Example.test"})
    )  # fmt: skip
    assert not writer.log_user_activity(
        UserActivityRow(user_id=user, activity_type="auth_login", activity_category="authentication",
                        request_path="/api/auth/callback?code=1")
    )  # fmt: skip
    await writer.aclose()
    row = await pool.fetchrow("select * from user_activity_logs")
    assert row["ip_address"] == "203.0.113.0" and row["user_agent"] is None
    assert row["activity_metadata"]["email"].startswith("sha256:")
    assert "someone" not in row["activity_metadata"]["email"].lower()
    assert anonymize_ip("2001:db8:abcd:12::1") == "2001:db8:abcd::"


async def test_a_bad_row_does_not_poison_the_batch(pool: asyncpg.Pool, make_user) -> None:
    user = await make_user()
    report = io.StringIO()
    writer = LogWriter(pool, settings(), report=report)
    await writer.start()
    for i in range(10):
        writer.log_activity(activity(user, operation_metadata={"i": i}))
    writer.log_activity(activity(user, operation_type="not_an_operation"))  # violates the CHECK constraint
    writer.log_activity(activity(user, model_id="m" * 500))  # too long for varchar(100)
    assert await writer.flush() == 10
    assert writer.stats.dropped_bad == 2
    assert "dropped a agent_activity_logs row" in report.getvalue()
    # later batches are fine
    writer.log_activity(activity(user))
    assert await writer.flush() == 1
    await writer.aclose()
    assert await count(pool, "agent_activity_logs") == 11


async def test_rows_are_kept_while_the_database_is_unreachable(pool: asyncpg.Pool, make_user) -> None:
    user = await make_user()
    dsn = pool._connect_args[0]  # type: ignore[attr-defined]
    dead = await asyncpg.create_pool(dsn, min_size=0, max_size=1)
    await dead.close()
    report = io.StringIO()
    writer = LogWriter(dead, settings(), report=report)
    writer.log_activity(activity(user))
    assert await writer.flush() == 0
    assert writer.pending == 1
    writer._pool = pool  # the database is back
    assert await writer.flush() == 1
    await writer.aclose()


async def test_a_backlog_is_written_on_two_connections_once(pool: asyncpg.Pool, make_user) -> None:
    user = await make_user()
    in_flight = 0
    most_in_flight = 0
    real_write = LogWriter._write_batch

    async def counting_write(self: LogWriter, row_type: Any, batch: list[Any]) -> int:
        nonlocal in_flight, most_in_flight
        in_flight += 1
        most_in_flight = max(most_in_flight, in_flight)
        try:
            return await real_write(self, row_type, batch)
        finally:
            in_flight -= 1

    writer = LogWriter(pool, settings(performance_settings={"batch_size": 100}))
    writer._write_batch = counting_write.__get__(writer)  # type: ignore[method-assign]
    for i in range(5000):
        writer.log_activity(activity(user, operation_metadata={"i": i}))
    assert await writer.flush() == 5000
    await writer.aclose()
    assert most_in_flight == 2
    assert writer.stats.batches == 5  # COPYs of at least 1000 rows, though batch_size is 100
    stored = await pool.fetchval(
        "select count(distinct (operation_metadata ->> 'i')::int) from agent_activity_logs"
    )
    assert stored == 5000 and await count(pool, "agent_activity_logs") == 5000


async def test_a_cancelled_backlog_flush_loses_no_row(pool: asyncpg.Pool, make_user) -> None:
    user = await make_user()
    writer = LogWriter(pool, settings())
    for i in range(6000):
        writer.log_activity(activity(user, operation_metadata={"i": i}))
    flush = asyncio.create_task(writer.flush())
    async with asyncio.timeout(5):
        while writer.pending == 6000:  # noqa: ASYNC110 — until the flush has taken its first batches
            await asyncio.sleep(0)
    flush.cancel()
    with pytest.raises(asyncio.CancelledError):
        await flush
    assert writer.pending > 0  # the batches in flight went back to the queue
    await writer.aclose()
    assert writer.pending == 0
    stored = await pool.fetchval(
        "select count(distinct (operation_metadata ->> 'i')::int) from agent_activity_logs"
    )
    assert stored == 6000


def test_short_text_fast_path_still_redacts_the_shortest_secret() -> None:
    from artificer.storage.logs import REDACTED, redact_text, redact_value

    assert redact_text("sk-abcdefgh") == REDACTED  # 11 characters, the shortest match
    assert redact_text("sk-abcdefg") == "sk-abcdefg"  # too short to be a key
    assert redact_text("Bearer abcdefgh") == REDACTED
    assert redact_text("Bearer abcdefg") == "Bearer abcdefg"  # too short to be a token
    assert redact_value({"note": "Bearer abcdefgh", "n": 1, "nested": {"token": "x"}}) == {
        "note": REDACTED,
        "n": 1,
        "nested": {"token": REDACTED},
    }


async def test_token_counts_survive_redaction_and_secret_keys_do_not(pool: asyncpg.Pool, make_user) -> None:
    user = await make_user()
    counts = {"input_tokens": 100, "output_tokens": 70, "reasoning_tokens": 20, "cachedTokens": 5}
    secrets = {
        "token": "t0",
        "access_token": "t1",
        "refreshToken": "t2",
        "apiKey": "k1",
        "x-api-key": "k2",
        "XApiKey": "k3",
        "client_secret": "s1",
        "Authorization": "Basic xyz",
        "github_token": "g1",
        "credentials": {"user": "u", "pass": "p"},
    }
    writer = LogWriter(pool, settings())
    await writer.start()
    assert writer.log_usage(
        UsageRow(user_id=user, agent_type="document_agent", metadata={**counts, **secrets, "note": "ok"})
    )
    assert writer.log_activity(activity(user, operation_metadata={**counts, **secrets}))
    await writer.aclose()

    expected = {**counts, **dict.fromkeys(secrets, "[redacted]")}
    usage = await pool.fetchval("select metadata from usage_logs where user_id = $1", user)
    assert usage == {**expected, "note": "ok"}
    stored = await pool.fetchval(
        "select operation_metadata from agent_activity_logs where user_id = $1", user
    )
    assert stored == expected


@pytest.mark.parametrize(
    "text",
    [
        "Incorrect API key provided: sk-proj-abcd********************wxyz. You can find your key",
        "Incorrect API key provided: sk-abcdefgh",
        "sent Authorization: Bearer abc.def-ghi",
        "header was 'authorization: bearer ****abcd1234'",
    ],
)
def test_key_shapes_in_text_are_redacted(text: str) -> None:
    from artificer.storage.logs import REDACTED, redact_text

    redacted = redact_text(text)
    assert redacted is not None and REDACTED in redacted
    assert "sk-" not in redacted and "abcd" not in redacted and "abc.def" not in redacted


def test_ordinary_words_are_not_redacted() -> None:
    from artificer.storage.logs import redact_text

    for text in ("the task-scheduler ran", "risk-assessment-report done", "input_tokens=100 bearer of news"):
        assert redact_text(text) == text


HEX_TOKEN = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    "text",
    [
        f"sent Authorization: token {HEX_TOKEN} to GitHub",
        f"AUTHORIZATION: Token {HEX_TOKEN}",
        f"https://api.github.test/user?access_token={HEX_TOKEN}",
        f'{{"token": "{HEX_TOKEN}"}}',
        "GITHUB_TOKEN=ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
        "github_pat_11ABCDEFG0123456789_"
        + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ01",
        "gho_" + "Z" * 36,
    ],
)
def test_github_tokens_in_text_are_redacted(text: str) -> None:
    from artificer.storage.logs import REDACTED, redact_text

    redacted = redact_text(text)
    assert redacted is not None and REDACTED in redacted
    for secret in (HEX_TOKEN, "ghp_", "github_pat_", "gho_"):
        assert secret not in redacted


def test_commit_shas_are_not_redacted() -> None:
    from artificer.storage.logs import redact_text

    for text in (f"commit {HEX_TOKEN} fixed it", f"sha={HEX_TOKEN}", f"tokens {HEX_TOKEN}"):
        assert redact_text(text) == text
