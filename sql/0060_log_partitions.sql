-- Bounded log tables: agent_activity_logs, user_activity_logs, error_logs (by created_at) and usage_logs (by
-- request_timestamp) become tables partitioned by month, so retention drops whole partitions instead of
-- deleting rows one by one.
--
-- The conversion keeps every row and every object by name: each table is renamed aside, a partitioned table
-- with the same columns, defaults, checks and comments takes its name, its indexes, triggers, foreign keys,
-- policies, grants, RLS flags and publications are created again from the catalog (so whatever an earlier
-- migration changed is carried over), the rows are copied into monthly partitions, and the old table is
-- dropped. The primary key becomes (id, <time column>): a partitioned table's unique keys must contain the
-- partition key, so the time column is now NOT NULL (rows that had none get the migration's time; the log
-- writer and the column defaults always set it).
--
-- Partitions are named <table>_pYYYYMM; <table>_default takes rows outside every monthly range (a clock far
-- ahead, or maintenance that has not run), and `artificer_ensure_log_partition` moves them into the month's
-- partition when it creates it. Partitions get no grants and RLS on: callers reach rows through the parent
-- only, under its policies (on Supabase, default privileges would otherwise give the API roles the partitions).

CREATE FUNCTION public.artificer_log_partition_key(parent text)
RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = '' AS $$
    SELECT CASE parent
        WHEN 'usage_logs' THEN 'request_timestamp'
        WHEN 'error_logs' THEN 'created_at'
        WHEN 'user_activity_logs' THEN 'created_at'
        WHEN 'agent_activity_logs' THEN 'created_at'
    END
$$;

COMMENT ON FUNCTION public.artificer_log_partition_key(text) IS
    'The partition key (time column) of a monthly partitioned log table; NULL for any other name.';

CREATE FUNCTION public.artificer_seal_log_partition(part text)
RETURNS void
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
    -- reachable only through the parent: no grants (not even those default privileges add), RLS on
    EXECUTE format('REVOKE ALL ON TABLE public.%I FROM PUBLIC', part);
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'anon') THEN
        EXECUTE format('REVOKE ALL ON TABLE public.%I FROM anon, authenticated, service_role', part);
    END IF;
    EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', part);
END
$$;

CREATE FUNCTION public.artificer_ensure_log_partition(parent text, month date)
RETURNS boolean
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
    key text := public.artificer_log_partition_key(parent);
    part text := parent || '_p' || to_char(month, 'YYYYMM');
    lo timestamp := date_trunc('month', month::timestamp);
    hi timestamp := date_trunc('month', month::timestamp) + interval '1 month';
    strays bigint := 0;
BEGIN
    IF key IS NULL THEN
        RAISE EXCEPTION 'artificer_ensure_log_partition: % is not a partitioned log table', parent
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_regclass(format('public.%I', part)) IS NOT NULL THEN
        RETURN false;
    END IF;
    IF to_regclass(format('public.%I', parent || '_default')) IS NOT NULL THEN
        EXECUTE format('SELECT count(*) FROM public.%I WHERE %I >= $1 AND %I < $2', parent || '_default', key, key)
            INTO strays USING lo, hi;
    END IF;
    IF strays = 0 THEN
        EXECUTE format('CREATE TABLE public.%I PARTITION OF public.%I FOR VALUES FROM (%L) TO (%L)',
                       part, parent, lo, hi);
    ELSE
        -- the default partition holds rows of this month: move them, then attach (ATTACH checks the default)
        EXECUTE format('CREATE TABLE public.%I (LIKE public.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                       part, parent);
        EXECUTE format('WITH moved AS (DELETE FROM public.%I WHERE %I >= $1 AND %I < $2 RETURNING *) '
                       'INSERT INTO public.%I SELECT * FROM moved', parent || '_default', key, key, part)
            USING lo, hi;
        EXECUTE format('ALTER TABLE public.%I ATTACH PARTITION public.%I FOR VALUES FROM (%L) TO (%L)',
                       parent, part, lo, hi);
    END IF;
    PERFORM public.artificer_seal_log_partition(part);
    RETURN true;
END
$$;

COMMENT ON FUNCTION public.artificer_ensure_log_partition(text, date) IS
    'Creates the partition of `month` of a log table unless it exists (moving rows the default partition '
    'holds for that month into it); true when it was created.';

CREATE FUNCTION public.artificer_ensure_log_partitions(months_ahead integer DEFAULT 2)
RETURNS SETOF text
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
    parent text;
    first date := date_trunc('month', localtimestamp)::date;
    step integer;
BEGIN
    IF months_ahead IS NULL OR months_ahead < 0 OR months_ahead > 120 THEN
        RAISE EXCEPTION 'months_ahead must be between 0 and 120, not %', months_ahead
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH parent IN ARRAY ARRAY['agent_activity_logs', 'user_activity_logs', 'usage_logs', 'error_logs'] LOOP
        FOR step IN 0 .. months_ahead LOOP
            IF public.artificer_ensure_log_partition(parent, (first + make_interval(months => step))::date) THEN
                RETURN NEXT parent || '_p' || to_char(first + make_interval(months => step), 'YYYYMM');
            END IF;
        END LOOP;
    END LOOP;
END
$$;

COMMENT ON FUNCTION public.artificer_ensure_log_partitions(integer) IS
    'Creates the monthly partitions of every log table from this month to `months_ahead` months ahead; '
    'returns the names of those it created.';

-- The conversion ------------------------------------------------------------------------------------------
DO $convert$
DECLARE
    t record;
    rel oid;
    legacy text;
    statements text[];
    statement text;
    owner oid;
    first_month date;
    month date;
BEGIN
    FOR t IN SELECT * FROM (VALUES ('agent_activity_logs'), ('user_activity_logs'), ('usage_logs'),
                                    ('error_logs')) AS v(name) LOOP
        rel := format('public.%I', t.name)::regclass;
        IF EXISTS (SELECT FROM pg_catalog.pg_partitioned_table WHERE partrelid = rel) THEN
            CONTINUE;
        END IF;
        legacy := t.name || '_unpartitioned';
        SELECT relowner INTO owner FROM pg_catalog.pg_class WHERE oid = rel;
        -- everything to create again on the new table, written out while the names still point at the old one
        statements := ARRAY(
            SELECT pg_catalog.pg_get_indexdef(i.indexrelid) FROM pg_catalog.pg_index i
             WHERE i.indrelid = rel AND NOT i.indisprimary ORDER BY i.indexrelid)
          || ARRAY(
            SELECT format('ALTER TABLE public.%I ADD CONSTRAINT %I %s', t.name, c.conname,
                          pg_catalog.pg_get_constraintdef(c.oid))
              FROM pg_catalog.pg_constraint c WHERE c.conrelid = rel AND c.contype = 'f' ORDER BY c.oid)
          || ARRAY(
            SELECT pg_catalog.pg_get_triggerdef(g.oid) FROM pg_catalog.pg_trigger g
             WHERE g.tgrelid = rel AND NOT g.tgisinternal ORDER BY g.oid)
          || ARRAY(
            SELECT format('CREATE POLICY %I ON public.%I AS %s FOR %s TO %s', p.policyname, t.name, p.permissive,
                          p.cmd, (SELECT string_agg(quote_ident(r), ', ') FROM unnest(p.roles) r))
                   || coalesce(' USING (' || p.qual || ')', '')
                   || coalesce(' WITH CHECK (' || p.with_check || ')', '')
              FROM pg_catalog.pg_policies p WHERE p.schemaname = 'public' AND p.tablename = t.name
             ORDER BY p.policyname)
          || ARRAY(
            SELECT format('GRANT %s ON public.%I TO %s', a.privilege_type, t.name,
                          CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(a.grantee::regrole::text) END)
              FROM pg_catalog.pg_class c, aclexplode(c.relacl) a
             WHERE c.oid = rel AND a.grantee <> owner)
          || ARRAY(
            SELECT format('ALTER PUBLICATION %I ADD TABLE public.%I', p.pubname, t.name)
              FROM pg_catalog.pg_publication_rel r JOIN pg_catalog.pg_publication p ON p.oid = r.prpubid
             WHERE r.prrelid = rel)
          || ARRAY(
            SELECT format('COMMENT ON TABLE public.%I IS %L', t.name, d.description)
              FROM pg_catalog.pg_description d
             WHERE d.objoid = rel AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0)
          || ARRAY(
            SELECT format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', t.name)
              FROM pg_catalog.pg_class c WHERE c.oid = rel AND c.relrowsecurity)
          || ARRAY(
            SELECT format('ALTER TABLE public.%I FORCE ROW LEVEL SECURITY', t.name)
              FROM pg_catalog.pg_class c WHERE c.oid = rel AND c.relforcerowsecurity);

        EXECUTE format('ALTER TABLE public.%I RENAME TO %I', t.name, legacy);
        -- free the index and constraint names for the new table (the old table goes at the end)
        FOR statement IN
            SELECT format('DROP INDEX public.%I', x.relname) FROM pg_catalog.pg_index i
              JOIN pg_catalog.pg_class x ON x.oid = i.indexrelid
             WHERE i.indrelid = rel AND NOT i.indisprimary
               AND NOT EXISTS (SELECT FROM pg_catalog.pg_constraint c WHERE c.conindid = i.indexrelid)
            UNION ALL
            SELECT format('ALTER TABLE public.%I DROP CONSTRAINT %I', legacy, c.conname)
              FROM pg_catalog.pg_constraint c WHERE c.conrelid = rel AND c.contype IN ('p', 'u', 'x')
        LOOP
            EXECUTE statement;
        END LOOP;
        EXECUTE format('UPDATE public.%I SET %I = now() WHERE %I IS NULL', legacy,
                       public.artificer_log_partition_key(t.name), public.artificer_log_partition_key(t.name));

        EXECUTE format('CREATE TABLE public.%I (LIKE public.%I INCLUDING ALL EXCLUDING INDEXES) '
                       'PARTITION BY RANGE (%I)', t.name, legacy, public.artificer_log_partition_key(t.name));
        EXECUTE format('ALTER TABLE public.%I ALTER COLUMN %I SET NOT NULL', t.name,
                       public.artificer_log_partition_key(t.name));
        EXECUTE format('ALTER TABLE public.%I ADD CONSTRAINT %I PRIMARY KEY (id, %I)', t.name, t.name || '_pkey',
                       public.artificer_log_partition_key(t.name));
        EXECUTE format('CREATE TABLE public.%I PARTITION OF public.%I DEFAULT', t.name || '_default', t.name);
        PERFORM public.artificer_seal_log_partition(t.name || '_default');

        -- one partition per month from the oldest row to two months ahead, then the rows
        EXECUTE format('SELECT date_trunc(''month'', min(%I))::date FROM public.%I',
                       public.artificer_log_partition_key(t.name), legacy) INTO first_month;
        month := least(coalesce(first_month, date_trunc('month', localtimestamp)::date),
                       date_trunc('month', localtimestamp)::date);
        WHILE month <= (date_trunc('month', localtimestamp) + interval '2 months')::date LOOP
            PERFORM public.artificer_ensure_log_partition(t.name, month);
            month := (month + interval '1 month')::date;
        END LOOP;
        EXECUTE format('INSERT INTO public.%I SELECT * FROM public.%I', t.name, legacy);

        FOREACH statement IN ARRAY statements LOOP
            EXECUTE statement;
        END LOOP;
        EXECUTE format('DROP TABLE public.%I', legacy);
    END LOOP;
END
$convert$;

-- Retention by partition ----------------------------------------------------------------------------------
CREATE FUNCTION public.artificer_purge_logs(
    dry_run boolean DEFAULT false,
    tables text[] DEFAULT ARRAY['agent_activity_logs', 'user_activity_logs', 'error_logs', 'usage_logs']
)
RETURNS TABLE (table_name text, partition_name text, action text, row_count bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    retention jsonb := coalesce(public.get_logging_config() -> 'log_retention_days', '{}'::jsonb);
    parent text;
    key text;
    days integer;
    cutoff timestamp;
    p record;
    bounds text[];
    n bigint;
    unresolved bigint;
    only_resolved text;
BEGIN
    FOREACH parent IN ARRAY tables LOOP
        key := public.artificer_log_partition_key(parent);
        IF key IS NULL THEN
            RAISE EXCEPTION 'artificer_purge_logs: % is not a partitioned log table', parent
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        -- the seed's defaults; usage_logs (the accounting) is kept unless a retention is set for it
        days := coalesce((retention ->> parent)::integer,
                         CASE parent WHEN 'user_activity_logs' THEN 30 WHEN 'agent_activity_logs' THEN 7
                                     WHEN 'error_logs' THEN 90 END);
        CONTINUE WHEN days IS NULL;
        cutoff := now() - make_interval(days => days);
        -- error_logs: only resolved errors expire (the seed's contract)
        only_resolved := CASE WHEN parent = 'error_logs' THEN ' AND resolved' ELSE '' END;
        FOR p IN
            SELECT c.relname::text AS name, pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS bound
              FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = format('public.%I', parent)::regclass
             ORDER BY c.relname
        LOOP
            bounds := regexp_match(p.bound, 'FROM \(''([^'']+)''\) TO \(''([^'']+)''\)');
            IF bounds IS NOT NULL AND bounds[2]::timestamp <= cutoff THEN
                -- the whole month is past retention
                EXECUTE format('SELECT count(*), %s FROM public.%I',
                               CASE WHEN parent = 'error_logs'
                                    THEN 'count(*) FILTER (WHERE resolved IS NOT TRUE)' ELSE '0' END, p.name)
                    INTO n, unresolved;
                IF parent <> 'error_logs' OR unresolved = 0 THEN
                    IF NOT dry_run THEN
                        EXECUTE format('DROP TABLE public.%I', p.name);
                    END IF;
                    RETURN QUERY SELECT parent, p.name, 'drop'::text, n;
                    CONTINUE;
                END IF;
            ELSIF bounds IS NOT NULL AND bounds[1]::timestamp >= cutoff THEN
                CONTINUE;  -- entirely within retention
            END IF;
            -- a month that straddles the cutoff, the default partition, or errors still unresolved: row by row
            IF dry_run THEN
                EXECUTE format('SELECT count(*) FROM public.%I WHERE %I < $1%s', p.name, key, only_resolved)
                    INTO n USING cutoff;
            ELSE
                EXECUTE format('DELETE FROM public.%I WHERE %I < $1%s', p.name, key, only_resolved) USING cutoff;
                GET DIAGNOSTICS n = ROW_COUNT;
            END IF;
            IF n > 0 THEN
                RETURN QUERY SELECT parent, p.name, 'delete'::text, n;
            END IF;
        END LOOP;
    END LOOP;
END
$$;

COMMENT ON FUNCTION public.artificer_purge_logs(boolean, text[]) IS
    'Applies logging_settings.log_retention_days: drops the monthly partitions wholly past retention, deletes '
    'the expired rows of the others (error_logs: resolved errors only; usage_logs only when a retention is set '
    'for it). One row per partition touched; with dry_run, what it would do, changing nothing.';

CREATE OR REPLACE FUNCTION public.purge_old_activity_logs()
RETURNS TABLE (user_logs_deleted bigint, agent_logs_deleted bigint, error_logs_deleted bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    RETURN QUERY
    SELECT coalesce(sum(r.row_count) FILTER (WHERE r.table_name = 'user_activity_logs'), 0)::bigint,
           coalesce(sum(r.row_count) FILTER (WHERE r.table_name = 'agent_activity_logs'), 0)::bigint,
           coalesce(sum(r.row_count) FILTER (WHERE r.table_name = 'error_logs'), 0)::bigint
      FROM public.artificer_purge_logs(false, ARRAY['user_activity_logs', 'agent_activity_logs', 'error_logs']) r;
END
$$;

REVOKE ALL ON FUNCTION public.artificer_log_partition_key(text) FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION public.artificer_seal_log_partition(text) FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION public.artificer_ensure_log_partition(text, date) FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION public.artificer_ensure_log_partitions(integer) FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION public.artificer_purge_logs(boolean, text[]) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.artificer_purge_logs(boolean, text[]) TO service_role;
