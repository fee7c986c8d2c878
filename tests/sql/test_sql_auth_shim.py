"""The auth shim: creates Supabase's roles and `auth` objects where missing, touches nothing that exists."""

from __future__ import annotations

from importlib.resources import files

import asyncpg
import pytest
from artificer.sql import manifest
from artificer.storage.migrations import migrate

pytestmark = pytest.mark.anyio

SHIM = (files("artificer.sql") / "0001_auth_shim.sql").read_text()

# What a Supabase project already has, reduced: auth.users owned by Supabase Auth with more columns than
# the shim creates, and auth functions with the older `request.jwt.claim.sub` bodies.
SUPABASE_LIKE_AUTH = """
create schema auth;
create table auth.users (
    id uuid primary key, email varchar(255), raw_app_meta_data jsonb, raw_user_meta_data jsonb,
    created_at timestamptz, updated_at timestamptz, confirmation_token varchar(255)
);
create function auth.uid() returns uuid language sql stable as $$
    select nullif(current_setting('request.jwt.claim.sub', true), '')::uuid  -- supabase original
$$;
create function auth.role() returns text language sql stable as $$
    select nullif(current_setting('request.jwt.claim.role', true), '')::text  -- supabase original
$$;
create function auth.email() returns text language sql stable as $$
    select nullif(current_setting('request.jwt.claim.email', true), '')::text  -- supabase original
$$;
create function auth.jwt() returns jsonb language sql stable as $$
    select nullif(current_setting('request.jwt.claims', true), '')::jsonb  -- supabase original
$$;
"""


async def auth_objects(conn: asyncpg.Connection) -> dict[str, str]:
    rows = await conn.fetch(
        "select p.proname as name, p.prosrc as body from pg_proc p"
        " where p.pronamespace = 'auth'::regnamespace"
        " union all select 'users.' || a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a"
        " where a.attrelid = 'auth.users'::regclass and a.attnum > 0 and not a.attisdropped"
    )
    return {row["name"]: row["body"] for row in rows}


async def test_shim_creates_auth_on_plain_postgres_and_runs_twice(empty_database_url: str) -> None:
    conn = await asyncpg.connect(empty_database_url)
    try:
        async with conn.transaction():
            await conn.execute(SHIM)
        first = await auth_objects(conn)
        async with conn.transaction():
            await conn.execute(SHIM)
        assert await auth_objects(conn) == first
        assert {"uid", "role", "email", "jwt", "users.raw_app_meta_data"} <= set(first)
        roles = await conn.fetch(
            "select rolname, rolbypassrls from pg_roles"
            " where rolname in ('anon', 'authenticated', 'service_role')"
        )
        assert {r["rolname"]: r["rolbypassrls"] for r in roles}["service_role"] is True
        assert len(roles) == 3
        async with conn.transaction():
            await conn.execute(
                "select set_config('request.jwt.claims', $1, true)",
                '{"sub": "00000000-0000-0000-0000-000000000001", "role": "authenticated", "email": "a@b.c"}',
            )
            assert str(await conn.fetchval("select auth.uid()")) == "00000000-0000-0000-0000-000000000001"
            assert await conn.fetchval("select auth.email()") == "a@b.c"
            assert await conn.fetchval("select auth.role()") == "authenticated"
    finally:
        await conn.close()


async def test_shim_leaves_an_existing_supabase_auth_alone(empty_database_url: str) -> None:
    conn = await asyncpg.connect(empty_database_url)
    try:
        await conn.execute(SUPABASE_LIKE_AUTH)
        before = await auth_objects(conn)
        await migrate(conn)  # every migration, the shim first
        assert await auth_objects(conn) == before
        assert "supabase original" in before["uid"]
        triggers = await conn.fetch(
            "select tgname from pg_trigger where tgrelid = 'auth.users'::regclass and not tgisinternal"
        )
        assert [t["tgname"] for t in triggers] == ["on_auth_user_deleted"]
        tables = await conn.fetch("select tablename from pg_tables where schemaname = 'public'")
        assert set(manifest.TABLES) <= {t["tablename"] for t in tables}
    finally:
        await conn.close()
