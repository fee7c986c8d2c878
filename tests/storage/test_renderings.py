"""Diagram renderings (sql/0040): saved with their version in one statement, as the caller, under RLS."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from artificer.storage import documents
from artificer.storage.caller_store import CallerStore
from artificer.storage.database import as_user
from artificer.storage.documents import DocumentNotFound, InvalidDocument, VersionConflict

pytestmark = pytest.mark.anyio

SVG = '<svg xmlns="http://www.w3.org/2000/svg"><text>A</text></svg>'


def claims(user_id: uuid.UUID) -> dict[str, str]:
    return {"sub": str(user_id), "role": "authenticated", "aud": "authenticated"}


async def rows(pool: asyncpg.Pool) -> list[tuple]:
    found = await pool.fetch(
        "select document_id, version_number, user_id, svg from document_renderings "
        "order by document_id, version_number"
    )
    return [tuple(r) for r in found]


async def test_a_version_and_its_svg_are_saved_together(pool: asyncpg.Pool, make_user) -> None:
    alice = await make_user()
    store = CallerStore(pool, claims(alice))
    v1 = await store.save_version(
        document_id=None, title="D", kind="mermaid code", content="graph TD; A-->B", svg=SVG
    )
    v2 = await store.save_version(document_id=v1.id, content="graph TD; A-->C", expected_version=1)
    assert (v1.user_id, v1.version_number, v2.version_number) == (alice, 1, 2)
    assert await rows(pool) == [(v1.id, 1, alice, SVG)]
    async with as_user(pool, claims(alice)) as conn:
        assert await documents.get_rendering(conn, v1.id, 1) == (v1, SVG)
        assert await documents.get_rendering(conn, v1.id, 2) == (v2, None)
        with pytest.raises(DocumentNotFound):
            await documents.get_rendering(conn, v1.id, 3)
    # deleting the version deletes its drawing
    await pool.execute('delete from "Document" where id = $1 and version_number = 1', v1.id)
    assert await rows(pool) == []


async def test_a_refused_store_writes_neither(pool: asyncpg.Pool, make_user) -> None:
    alice = await make_user()
    bob = await make_user()
    store = CallerStore(pool, claims(alice))
    doc = await store.save_version(document_id=None, title="D", kind="mermaid code", content="a", svg=SVG)
    before = (await pool.fetchval('select count(*) from "Document"'), await rows(pool))
    with pytest.raises(VersionConflict):
        await store.save_version(document_id=doc.id, content="b", expected_version=7, svg=SVG)
    with pytest.raises(InvalidDocument):
        await store.save_version(document_id=doc.id, content="b", svg="")
    with pytest.raises(DocumentNotFound):  # another user's document: RLS, inside the function
        await CallerStore(pool, claims(bob)).save_version(document_id=doc.id, content="forged", svg=SVG)
    assert (await pool.fetchval('select count(*) from "Document"'), await rows(pool)) == before


async def test_rls_hides_and_guards_other_users_renderings(pool: asyncpg.Pool, make_user) -> None:
    alice = await make_user()
    bob = await make_user()
    doc = await CallerStore(pool, claims(alice)).save_version(
        document_id=None, title="D", kind="mermaid code", content="a", svg=SVG
    )
    async with as_user(pool, claims(bob)) as conn:
        assert await conn.fetchval("select count(*) from document_renderings") == 0
        with pytest.raises(DocumentNotFound):
            await documents.get_rendering(conn, doc.id, 1)
    # bob cannot attach a drawing to alice's version, not even under his own user id
    await pool.execute("delete from document_renderings")
    async with as_user(pool, claims(bob)) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                "insert into document_renderings (document_id, version_number, user_id, svg) "
                "values ($1, 1, $2, 'x')",
                doc.id,
                bob,
            )
    assert await rows(pool) == []


async def test_the_save_function_is_not_callable_by_users(pool: asyncpg.Pool, make_user) -> None:
    alice = await make_user()
    async with as_user(pool, claims(alice)) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetchrow(
                "select * from artificer_save_rendered_version($1, null, 'T', 'mermaid code', 'a', '{}', "
                "null, null, 'x')",
                claims(alice),
            )
