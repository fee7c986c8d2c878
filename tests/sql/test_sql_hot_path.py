"""sql/0031_hot_path.sql: the rate limiter and the document store do less per call, and behave the same."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
import pytest
from artificer.common.records import UnknownUser
from artificer.storage import documents, rate_limits

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 1, 1, 12, 0, 30)


def claims(user_id: uuid.UUID) -> dict[str, Any]:
    return {"sub": str(user_id), "role": "authenticated", "aud": "authenticated"}


async def test_store_inside_a_transaction_leaves_its_role_and_claims_behind(
    pool: asyncpg.Pool, make_user: Any
) -> None:
    user = await make_user()
    async with pool.acquire() as conn, conn.transaction():
        before = await conn.fetchrow(
            "select current_user as role, current_setting('request.jwt.claims', true) as claims"
        )
        doc = await documents.store_version(conn, claims(user), document_id=None, title="T", content="a")
        second = await documents.store_version(conn, claims(user), document_id=doc.id, content="b")
        after = await conn.fetchrow(
            "select current_user as role, current_setting('request.jwt.claims', true) as claims"
        )
        assert second.version_number == 2 and second.user_id == user
        assert after["role"] == before["role"] != "authenticated"
        assert (after["claims"] or "") == (before["claims"] or "")
        assert await conn.fetchval("select auth.uid()") is None


async def test_stored_row_is_the_row_in_the_table(pool: asyncpg.Pool, make_user: Any) -> None:
    user = await make_user()
    first = await documents.store_version(
        pool, claims(user), document_id=None, title="T", kind="sheet", content="a", metadata={"x": 1}
    )
    second = await documents.store_version(pool, claims(user), document_id=first.id, content="b")
    for stored in (first, second):
        async with pool.acquire() as conn:
            row = await conn.fetchrow(
                f'select {documents._COLUMNS} from "Document" where id = $1 and version_number = $2',
                stored.id,
                stored.version_number,
            )
        assert documents._document(row) == stored
    assert (second.parent_version_id, second.parent_version_number, second.kind) == (first.id, 1, "sheet")
    assert second.created_at > first.created_at


async def test_not_durable_store_commits_its_version(pool: asyncpg.Pool, make_user: Any) -> None:
    user = await make_user()
    doc = await documents.store_version(
        pool, claims(user), document_id=None, title="T", content="a", durable=False
    )
    async with pool.acquire() as conn:
        assert await conn.fetchval('select count(*) from "Document" where id = $1', doc.id) == 1
        assert await conn.fetchval("show synchronous_commit") == (
            await conn.fetchval("select reset_val from pg_settings where name = 'synchronous_commit'")
        )


async def test_counting_does_not_revalidate_the_user_but_writes_of_user_id_do(
    pool: asyncpg.Pool, make_user: Any
) -> None:
    user = await make_user()

    async def check(user_id: uuid.UUID) -> rate_limits.RateLimitDecision:
        return await rate_limits.check_and_count(
            pool,
            user_id=user_id,
            agent_type="document_agent",
            per_minute=5,
            per_hour=None,
            per_day=None,
            now=T0,
        )

    for expected in (4, 3):
        decision = await check(user)
        assert decision.allowed and decision.remaining_minute == expected
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute(
                "update rate_limit_tracking set user_id = $1 where user_id = $2", uuid.uuid4(), user
            )
    with pytest.raises(UnknownUser):  # a user without counters still reaches the INSERT trigger
        await check(uuid.uuid4())
