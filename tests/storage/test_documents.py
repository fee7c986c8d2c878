from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg
import pytest
from artificer.storage import documents
from artificer.storage.database import as_user
from artificer.storage.documents import (
    DocumentNotFound,
    InvalidDocument,
    SuggestionDraft,
    VersionConflict,
)

pytestmark = pytest.mark.anyio


def claims(user_id: uuid.UUID) -> dict[str, str]:
    return {"sub": str(user_id), "role": "authenticated", "aud": "authenticated"}


async def test_create_and_read_back(pool: asyncpg.Pool, make_user) -> None:
    alice = await make_user()
    meta = {"updateType": "create", "agentInfo": "document-agent", "modelUsed": "m-1"}
    async with as_user(pool, claims(alice)) as conn:
        doc = await documents.create(conn, title="Plan", kind="text", content="# Plan", metadata=meta)
        assert doc.version_number == 1
        assert doc.user_id == alice
        assert doc.metadata == meta
        assert doc.parent_version_id is None
        latest = await documents.get_latest(conn, doc.id)
    assert latest == doc


async def test_versions_history_and_lookup(pool: asyncpg.Pool, make_user) -> None:
    alice = await make_user()
    async with as_user(pool, claims(alice)) as conn:
        doc = await documents.create(conn, title="Code", kind="python code", content="print(1)")
        v2 = await documents.add_version(
            conn, doc.id, content="print(22)", metadata={"updateType": "update", "previousVersion": 1}
        )
        v3 = await documents.add_version(
            conn, doc.id, content="print(1)", metadata={"updateType": "revert"}, expected_version=2
        )
        assert (v2.version_number, v3.version_number) == (2, 3)
        assert v2.kind == "python code" and v2.title == "Code"
        assert (v3.parent_version_id, v3.parent_version_number) == (doc.id, 2)
        assert v3.created_at > v2.created_at > doc.created_at
        history = await documents.list_versions(conn, doc.id)
        assert [(h.version_number, h.update_type, h.length) for h in history] == [
            (1, None, 8),
            (2, "update", 9),
            (3, "revert", 8),
        ]
        assert (await documents.get_version(conn, doc.id, 2)).content == "print(22)"
        with pytest.raises(DocumentNotFound):
            await documents.get_version(conn, doc.id, 4)


async def test_expected_version_conflict_changes_nothing(pool: asyncpg.Pool, make_user) -> None:
    alice = await make_user()
    async with as_user(pool, claims(alice)) as conn:
        doc = await documents.create(conn, title="T", kind="text", content="a")
        await documents.add_version(conn, doc.id, content="b")
    with pytest.raises(VersionConflict, match="version 2, not 1"):
        async with as_user(pool, claims(alice)) as conn:
            await documents.add_version(conn, doc.id, content="c", expected_version=1)
    async with as_user(pool, claims(alice)) as conn:
        assert (await documents.get_latest(conn, doc.id)).content == "b"


async def test_bad_kind_is_refused(pool: asyncpg.Pool, make_user) -> None:
    alice = await make_user()
    async with as_user(pool, claims(alice)) as conn:
        with pytest.raises(InvalidDocument):
            await documents.create(conn, title="T", kind="image", content="x")  # type: ignore[arg-type]
    with pytest.raises(InvalidDocument):
        async with as_user(pool, claims(alice)) as conn:
            await documents.create(conn, title="  ", kind="text", content="x")


async def test_fifty_concurrent_updates_give_gapless_versions(pool: asyncpg.Pool, make_user) -> None:
    alice = await make_user()
    async with as_user(pool, claims(alice)) as conn:
        doc = await documents.create(conn, title="Busy", kind="text", content="v1")

    big_pool = await asyncpg.create_pool(
        dsn=pool._connect_args[0],  # type: ignore[attr-defined]
        min_size=10,
        max_size=10,
        init=pool._init,  # type: ignore[attr-defined]
    )
    try:

        async def update(i: int) -> int:
            async with as_user(big_pool, claims(alice)) as conn:
                saved = await documents.add_version(conn, doc.id, content=f"update {i}")
                return saved.version_number

        async def store(i: int) -> int:  # the one-statement path, racing with the other
            saved = await documents.store_version(
                big_pool, claims(alice), document_id=doc.id, content=f"store {i}"
            )
            return saved.version_number

        results = await asyncio.gather(*(update(i) if i % 2 else store(i) for i in range(50)))
    finally:
        await big_pool.close()

    assert sorted(results) == list(range(2, 52))
    rows = await pool.fetch('select version_number, "createdAt" from "Document" where id = $1', doc.id)
    assert sorted(r["version_number"] for r in rows) == list(range(1, 52))
    assert len({r["createdAt"] for r in rows}) == 51


async def test_rls_hides_other_users_documents(pool: asyncpg.Pool, make_user) -> None:
    alice, bob = await make_user(), await make_user()
    async with as_user(pool, claims(bob)) as conn:
        bobs = await documents.create(conn, title="Bob's", kind="text", content="secret")
    async with as_user(pool, claims(alice)) as conn:
        with pytest.raises(DocumentNotFound):
            await documents.get_latest(conn, bobs.id)
        assert await documents.list_versions(conn, bobs.id) == []
        assert await documents.list_documents(conn) == []
        with pytest.raises(DocumentNotFound):
            await documents.add_version(conn, bobs.id, content="overwritten by alice")
    async with as_user(pool, claims(bob)) as conn:
        assert [d.id for d in await documents.list_documents(conn)] == [bobs.id]
        assert (await documents.get_latest(conn, bobs.id)).version_number == 1


async def test_store_version_applies_rls_inside_the_function(pool: asyncpg.Pool, make_user) -> None:
    alice, bob = await make_user(), await make_user()
    bobs = await documents.store_version(
        pool, claims(bob), document_id=None, title="B", content="b", kind="text"
    )
    assert bobs.user_id == bob and bobs.version_number == 1
    with pytest.raises(DocumentNotFound):
        await documents.store_version(pool, claims(alice), document_id=bobs.id, content="forged")
    # Even a direct insert of a row owned by Bob, as Alice, is refused by RLS inside the function's role.
    async with pool.acquire() as conn:
        count = await conn.fetchval('select count(*) from "Document" where id = $1', bobs.id)
        assert count == 1
        # after the call the session is the server role again (the function's SET clause ends its settings)
        await documents.store_version(conn, claims(alice), document_id=None, title="A", content="a")
        assert await conn.fetchval("select current_user") != "authenticated"
        assert await conn.fetchval("select auth.uid()") is None


async def test_store_version_is_not_callable_by_api_roles(pool: asyncpg.Pool, make_user) -> None:
    alice, bob = await make_user(), await make_user()
    async with as_user(pool, claims(alice)) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await documents.store_version(conn, claims(bob), document_id=None, title="x", content="x")


async def test_suggestions_saved_and_listed(pool: asyncpg.Pool, make_user) -> None:
    alice, bob = await make_user(), await make_user()
    async with as_user(pool, claims(alice)) as conn:
        doc = await documents.create(conn, title="Essay", kind="text", content="The quick brown fox.")
        v2 = await documents.add_version(conn, doc.id, content="The quick brown fox jumps.")
        saved = await documents.save_suggestions(
            conn,
            v2,
            [
                SuggestionDraft("quick brown fox", "swift auburn fox", "more vivid"),
                SuggestionDraft("jumps", "leaps", None),
            ],
        )
        assert [s.suggested_text for s in saved] == ["swift auburn fox", "leaps"]
        assert all(s.user_id == alice and s.document_created_at == v2.created_at for s in saved)
        assert {s.id for s in await documents.list_suggestions(conn, doc.id)} == {s.id for s in saved}
        assert await documents.list_suggestions(conn, doc.id, version_number=1) == []
        assert len(await documents.list_suggestions(conn, doc.id, version_number=2)) == 2
    async with as_user(pool, claims(bob)) as conn:
        assert await documents.list_suggestions(conn, doc.id) == []
        with pytest.raises(DocumentNotFound):
            await documents.save_suggestions(conn, v2, [SuggestionDraft("a", "b")])


async def test_a_user_cannot_squat_on_anothers_document_id(pool: asyncpg.Pool, make_user) -> None:
    alice, bob = await make_user(), await make_user()
    doc = await documents.store_version(pool, claims(alice), document_id=None, title="A", content="v1")
    # Bob inserts straight into the table (as the Data API lets a signed-in user), under Alice's id with
    # the next version number: RLS would hide his row from Alice, the unique key would not.
    squat = (
        'insert into "Document" (id, title, content, user_id, version_number) '
        "values ($1, 'squat', 'x', $2, 2)"
    )
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="belong to another user"):
        async with as_user(pool, claims(bob)) as conn:
            await conn.execute(squat, doc.id, bob)
    # Alice's next versions still land; Bob's own documents still work.
    v2 = await documents.store_version(pool, claims(alice), document_id=doc.id, content="v2")
    assert (v2.version_number, v2.user_id) == (2, alice)
    async with as_user(pool, claims(bob)) as conn:
        await conn.execute(squat.replace("$1", "gen_random_uuid()").replace("$2", "$1"), bob)
        # and Bob cannot take the id over by moving his own row onto it
        mine = await conn.fetchval('select id from "Document" where user_id = $1', bob)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with as_user(pool, claims(bob)) as conn:
            await conn.execute(
                'update "Document" set id = $1, version_number = 9 where id = $2', doc.id, mine
            )
    owners = await pool.fetch('select distinct user_id from "Document" where id = $1', doc.id)
    assert [r["user_id"] for r in owners] == [alice]


async def test_a_unique_violation_on_the_version_is_a_version_conflict(pool: asyncpg.Pool, make_user) -> None:
    alice = await make_user()
    doc = await documents.store_version(pool, claims(alice), document_id=None, title="A", content="v1")
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        await conn.execute(
            "select set_config('request.jwt.claims', $1, true), set_config('role', 'authenticated', true)",
            json.dumps(claims(alice)),
        )
        # the snapshot is taken now; another writer then saves version 2
        assert (await documents.get_latest(conn, doc.id)).version_number == 1
        await documents.store_version(pool, claims(alice), document_id=doc.id, content="v2 elsewhere")
        with pytest.raises(VersionConflict, match="at the same time"):
            await documents.add_version(conn, doc.id, content="v2 here")
    latest = await pool.fetchrow(
        'select version_number, content from "Document" where id = $1 order by version_number desc limit 1',
        doc.id,
    )
    assert tuple(latest) == (2, "v2 elsewhere")
