"""Monthly log partitions (sql/0060), retention by partition, the maintenance run (storage/maintenance)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import asyncpg
import pytest
from artificer.storage import maintenance
from artificer.storage.log_writer import LogWriter
from artificer.storage.logs import AgentActivityRow, ErrorRow, UsageRow
from artificer.storage.migrations import load_migrations, migrate, verify

pytestmark = pytest.mark.anyio

LOG_TABLES = ("agent_activity_logs", "user_activity_logs", "usage_logs", "error_logs")
KEY = {"usage_logs": "request_timestamp"}

CATALOG = """
select 'index ' || c.relname from pg_index i join pg_class c on c.oid = i.indexrelid
 where i.indrelid = $1::regclass and not i.indisprimary
union all select 'trigger ' || tgname from pg_trigger where tgrelid = $1::regclass and not tgisinternal
union all select 'policy ' || polname || ' ' || polcmd::text || ' ' || pg_get_expr(polqual, polrelid)
  from pg_policy where polrelid = $1::regclass
union all select 'fk ' || conname || ' ' || pg_get_constraintdef(oid) from pg_constraint
 where conrelid = $1::regclass and contype = 'f'
union all select 'check ' || conname || ' ' || pg_get_constraintdef(oid) from pg_constraint
 where conrelid = $1::regclass and contype = 'c'
union all select 'grant ' || a.grantee::regrole::text || ' ' || a.privilege_type
  from pg_class c, aclexplode(c.relacl) a where c.oid = $1::regclass and a.grantee <> c.relowner
union all select 'rls ' || relrowsecurity from pg_class where oid = $1::regclass
"""


async def catalog_of(conn: asyncpg.Connection, table: str) -> set[str]:
    return {r[0] for r in await conn.fetch(CATALOG, f"public.{table}")}


async def partitions_of(conn: asyncpg.Connection, table: str) -> list[str]:
    records = await conn.fetch(
        "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid"
        " where i.inhparent = $1::regclass order by 1",
        f"public.{table}",
    )
    return [r[0] for r in records]


def month_name(table: str, when: datetime) -> str:
    return f"{table}_p{when:%Y%m}"


async def add_user(conn: asyncpg.Connection) -> uuid.UUID:
    user = uuid.uuid4()
    await conn.execute("insert into auth.users (id) values ($1)", user)
    return user


async def add_rows(conn: asyncpg.Connection, user: uuid.UUID, days_ago: list[int | None]) -> None:
    """One row per entry in each log table, made that many days ago (None: no time at all)."""
    for days in days_ago:
        at = None if days is None else timedelta(days=days)
        await conn.execute(
            "insert into agent_activity_logs (user_id, correlation_id, agent_type, operation_type,"
            " operation_category, created_at) values ($1, gen_random_uuid(), 'document_agent',"
            " 'initialization', 'generation', now() - $2::interval)",
            user,
            at,
        )
        await conn.execute(
            "insert into user_activity_logs (user_id, correlation_id, activity_type, activity_category,"
            " created_at) values ($1, gen_random_uuid(), 'chat_view', 'chat', now() - $2::interval)",
            user,
            at,
        )
        await conn.execute(
            "insert into usage_logs (user_id, agent_type, request_timestamp)"
            " values ($1, 'document_agent', now() - $2::interval)",
            user,
            at,
        )
        await conn.execute(
            "insert into error_logs (user_id, error_type, error_category, error_message, resolved,"
            " created_at) values ($1, 'app', 'test', 'm', $3, now() - $2::interval)",
            user,
            at,
            days is not None and days % 2 == 0,
        )


async def test_conversion_keeps_every_row_and_object(empty_database_url: str) -> None:
    conn = await asyncpg.connect(empty_database_url)
    try:
        everything = load_migrations()
        before_0060 = [m for m in everything if m.filename < "0060"]
        await migrate(conn, before_0060)
        user = await add_user(conn)
        await add_rows(conn, user, [0, 3, 40, 75, 400, None])
        counts = {t: await conn.fetchval(f"select count(*) from {t}") for t in LOG_TABLES}
        ids = {t: set(await conn.fetch(f"select id from {t}")) for t in LOG_TABLES}
        objects = {t: await catalog_of(conn, t) for t in LOG_TABLES}

        await migrate(conn, [m for m in everything if m.filename <= "0060_log_partitions.sql"])

        now = await conn.fetchval("select localtimestamp")
        for table in LOG_TABLES:
            assert (
                await conn.fetchval(
                    "select count(*) from pg_partitioned_table where partrelid = $1::regclass",
                    f"public.{table}",
                )
                == 1
            )
            assert await conn.fetchval(f"select count(*) from {table}") == counts[table] == 6
            assert set(await conn.fetch(f"select id from {table}")) == ids[table]
            assert await catalog_of(conn, table) == objects[table], table
            parts = await partitions_of(conn, table)
            assert f"{table}_default" in parts
            for ahead in (0, 1, 2):  # this month and two ahead exist
                assert month_name(table, (now.replace(day=1) + timedelta(days=32 * ahead))) in parts
            assert month_name(table, now - timedelta(days=400)) in parts  # the oldest row's month too
            # the row with no time got the migration's; no row sits in the default partition
            assert await conn.fetchval(f"select count(*) from {table}_default") == 0
            assert (
                await conn.fetchval(
                    f"select count(*) from {table} where {KEY.get(table, 'created_at')} is null"
                )
                == 0
            )
            # partitions: no grants to anyone but the owner, RLS on
            for part in parts:
                grantees = await conn.fetch(
                    "select a.grantee from pg_class c, aclexplode(c.relacl) a"
                    " where c.oid = $1::regclass and a.grantee <> c.relowner",
                    part,
                )
                assert grantees == [], part
                assert await conn.fetchval(
                    "select relrowsecurity from pg_class where oid = $1::regclass", part
                )
        await migrate(conn, everything)
        report = await verify(conn)
        assert report.ok, report.missing
        # a second migrate is a no-op
        assert await migrate(conn) == []
    finally:
        await conn.close()


async def test_the_log_writer_copies_into_the_partitions(pool: asyncpg.Pool, make_user) -> None:
    user = await make_user()
    far = datetime.utcnow() + timedelta(days=200)  # past every partition made ahead: the default takes it
    async with LogWriter(pool) as writer:
        correlation = uuid.uuid4()
        writer.log_activity(
            AgentActivityRow(
                user_id=user,
                correlation_id=correlation,
                agent_type="document_agent",
                operation_type="document_generation",
                operation_category="generation",
            )
        )
        writer.log_usage(UsageRow(user_id=user, agent_type="document_agent", model_used="m"))
        writer.log_usage(
            UsageRow(user_id=user, agent_type="document_agent", model_used="m", request_timestamp=far)
        )
        writer.log_error(ErrorRow(user_id=user, error_type="app", error_category="t", error_message="boom"))
    assert writer.stats.written == 4 and writer.stats.dropped_bad == 0
    assert (
        await pool.fetchval("select count(*) from agent_activity_logs where correlation_id = $1", correlation)
        == 1
    )
    assert await pool.fetchval("select count(*) from usage_logs_default") == 1
    assert await pool.fetchval("select count(*) from error_logs") == 1
    # a partition made for that month takes the row over from the default partition
    assert await pool.fetchval("select artificer_ensure_log_partition('usage_logs', $1::date)", far.date())
    assert await pool.fetchval("select count(*) from usage_logs_default") == 0
    assert await pool.fetchval(f"select count(*) from {month_name('usage_logs', far)}") == 1
    assert await pool.fetchval("select count(*) from usage_logs") == 2


async def snapshot(pool: asyncpg.Pool) -> dict[str, object]:
    return {
        **{t: await pool.fetchval(f"select count(*) from {t}") for t in LOG_TABLES},
        "partitions": await pool.fetchval(
            "select count(*) from pg_inherits where inhparent = any(array['usage_logs', 'error_logs',"
            " 'agent_activity_logs', 'user_activity_logs']::regclass[])"
        ),
        "rate_limit_tracking": await pool.fetchval("select count(*) from rate_limit_tracking"),
    }


async def test_retention_drops_whole_months_and_dry_run_changes_nothing(
    pool: asyncpg.Pool, make_user
) -> None:
    user = await make_user()
    async with pool.acquire() as conn:
        for days in (0, 5, 20, 45, 80, 100, 200):
            await conn.execute(
                "select artificer_ensure_log_partition(t, (now() - make_interval(days => $1))::date)"
                " from unnest(array['usage_logs', 'error_logs', 'agent_activity_logs',"
                " 'user_activity_logs']) t",
                days,
            )
        await add_rows(conn, user, [0, 5, 20, 45, 80, 100, 200])
        await conn.execute(
            "insert into rate_limit_tracking (user_id, agent_type, period_start, period_end, limit_type,"
            " limit_value) select $1::uuid, 'document_agent', utc - interval '2 hours',"
            " utc - interval '1 hour', 'hourly', 5 from (select now() at time zone 'UTC' as utc) t union all"
            " select $1::uuid, 'document_agent', utc - interval '1 minute', utc + interval '1 day',"
            " 'daily', 5 from (select now() at time zone 'UTC' as utc) t",
            user,
        )
    before = await snapshot(pool)

    planned = await maintenance.run_maintenance(pool, dry_run=True)
    assert await snapshot(pool) == before  # nothing changed
    assert not planned.skipped and planned.rate_limit_windows == 1

    done = await maintenance.run_maintenance(pool)
    assert [(p.table, p.partition, p.action, p.rows) for p in done.purged] == [
        (p.table, p.partition, p.action, p.rows) for p in planned.purged
    ]
    assert done.rate_limit_windows == 1
    assert await pool.fetchval("select count(*) from rate_limit_tracking") == 1
    now = await pool.fetchval("select localtimestamp")
    # agent logs keep 7 days, user logs 30, errors 90 (resolved only), usage forever (no retention set)
    expect_left = {
        "agent_activity_logs": 2,  # 0, 5
        "user_activity_logs": 3,  # 0, 5, 20
        "usage_logs": 7,
        "error_logs": 5,  # 0..80; those of 100 and 200 days ago are resolved (even days), so they go
    }
    for table, left in expect_left.items():
        assert await pool.fetchval(f"select count(*) from {table}") == left, table
    dropped = {p.partition for p in done.purged if p.action == "drop"}
    assert month_name("agent_activity_logs", now - timedelta(days=200)) in dropped
    assert not any(name.startswith("usage_logs") for name in dropped)
    for name in dropped:
        assert await pool.fetchval("select to_regclass($1)", f"public.{name}") is None
    # the reports agree with what went away
    removed = {t: before[t] - await pool.fetchval(f"select count(*) from {t}") for t in LOG_TABLES}
    for table in LOG_TABLES:
        assert sum(p.rows for p in done.purged if p.table == table) == removed[table]
    # nothing left to do
    again = await maintenance.run_maintenance(pool)
    assert again.purged == [] and again.rate_limit_windows == 0 and again.partitions_created == []


async def test_unresolved_errors_and_configured_usage_retention(pool: asyncpg.Pool, make_user) -> None:
    user = await make_user()
    async with pool.acquire() as conn:
        for days in (200, 400):
            await conn.execute(
                "select artificer_ensure_log_partition(t, (now() - make_interval(days => $1))::date)"
                " from unnest(array['usage_logs', 'error_logs']) t",
                days,
            )
        await add_rows(conn, user, [201, 400])  # 201 unresolved (odd), 400 resolved
        await conn.execute(
            "update admin_config set config_data = jsonb_set(config_data, '{log_retention_days,usage_logs}',"
            " '365') where config_key = 'logging_settings'"
        )
    result = await pool.fetchrow("select * from purge_old_activity_logs()")
    assert dict(result) == {"user_logs_deleted": 2, "agent_logs_deleted": 2, "error_logs_deleted": 1}
    # the unresolved error stays; its month's partition with it
    assert await pool.fetchval("select count(*) from error_logs") == 1
    # purge_old_activity_logs leaves usage_logs alone; the maintenance run applies its 365 days
    assert await pool.fetchval("select count(*) from usage_logs") == 2
    report = await maintenance.run_maintenance(pool)
    assert [(p.table, p.action, p.rows) for p in report.purged] == [("usage_logs", "drop", 1)]
    assert await pool.fetchval("select count(*) from usage_logs") == 1


async def test_partitions_are_made_ahead_and_one_process_at_a_time(
    pool: asyncpg.Pool, database_url: str
) -> None:
    now = await pool.fetchval("select localtimestamp")
    ahead = month_name("error_logs", now.replace(day=1) + timedelta(days=62))
    await pool.execute(f"drop table {ahead}")

    other = await asyncpg.connect(database_url)
    try:
        async with other.transaction():
            assert await other.fetchval(
                "select pg_try_advisory_xact_lock($1)", maintenance.MAINTENANCE_LOCK_KEY
            )
            skipped = await maintenance.run_maintenance(pool)
            assert skipped.skipped and skipped.partitions_created == []
            assert await pool.fetchval("select to_regclass($1)", ahead) is None
    finally:
        await other.close()

    loop = maintenance.MaintenanceLoop(pool, interval=3600)
    async with loop.running():
        await loop.wait_for_run()
    assert loop.runs == 1 and loop.failures == 0
    assert await pool.fetchval("select to_regclass($1)", ahead) is not None
    assert await pool.fetchval("select relrowsecurity from pg_class where relname = $1", ahead)


async def test_bad_input_is_refused_and_changes_nothing(pool: asyncpg.Pool) -> None:
    with pytest.raises(ValueError, match="months_ahead"):
        await maintenance.run_maintenance(pool, months_ahead=-1)
    with pytest.raises(asyncpg.InvalidParameterValueError, match="not a partitioned log table"):
        await pool.fetchval("select artificer_ensure_log_partition('Chat', current_date)")
    with pytest.raises(asyncpg.InvalidParameterValueError, match="not a partitioned log table"):
        await pool.fetch("select * from artificer_purge_logs(false, array['Chat'])")
    with pytest.raises(ValueError, match="positive"):
        maintenance.MaintenanceLoop(pool, interval=0)


async def test_the_api_roles_cannot_reach_partitions_directly(pool: asyncpg.Pool, make_user) -> None:
    user = await make_user()
    async with pool.acquire() as conn:
        await add_rows(conn, user, [0])
    now = await pool.fetchval("select localtimestamp")
    part = month_name("usage_logs", now)
    async with pool.acquire() as conn:
        for role in ("anon", "authenticated"):
            async with conn.transaction():
                await conn.execute("select set_config('role', $1, true)", role)
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.fetchval(f"select count(*) from {part}")
    # created by maintenance too, with grants an owner's default privileges would add
    await pool.execute("alter default privileges in schema public grant all on tables to anon, authenticated")
    future = now.replace(day=1) + timedelta(days=120)
    assert await pool.fetchval("select artificer_ensure_log_partition('usage_logs', $1::date)", future.date())
    acl = await pool.fetchval(
        "select relacl::text from pg_class where relname = $1", month_name("usage_logs", future)
    )
    assert "anon" not in (acl or "") and "authenticated" not in (acl or "")
