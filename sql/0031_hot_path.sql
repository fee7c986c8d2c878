-- The two statements every agent call runs (the rate-limit check before the model call, the document store
-- after it), with less work per call. Measured with bench/bench_statements.py (before/after in one run).
-- The same arguments, results, SQLSTATEs, locks, RLS policies and triggers (validate_rate_limit_user_id
-- keeps its name and purpose; only when it fires changes), with two fixes:
--   * artificer_save_document_version now ends the caller's role and claims when it returns, as 0020 said it
--     did; inside a transaction they used to last until its end;
--   * the rate limiter refuses to decide (serialization_failure, retryable) when a caller's REPEATABLE READ
--     snapshot hides a counter row; before, that window was silently neither checked nor counted.
-- The time that remains is mostly not in these statements: a durable commit waits for the WAL flush
-- (see storage/documents.py, `store_version(durable=...)`).

-- Rate limits -------------------------------------------------------------------------------------------
--
-- Before: four statements and six trigger calls per check (build the windows with an aggregate, INSERT ...
-- ON CONFLICT DO NOTHING of all three counter rows, whose BEFORE INSERT trigger fires even for the rows that
-- conflict, SELECT ... FOR UPDATE, UPDATE ... WHERE id = ANY(...) firing the UPDATE trigger three times,
-- and RETURN QUERY). The UPDATE found its rows by id (the primary key, or a sequential scan), visiting
-- dead versions of the counters too: they are updated on every call, and on a busy table, or while an old
-- snapshot holds back pruning, that is hundreds of heap pages.
-- Now: the windows are plpgsql variables; the INSERT filters out the rows that exist (an index probe each),
-- so on the usual path it inserts nothing and fires no trigger, and only a window's first call inserts (and
-- checks the user, as before); one SELECT ... FOR UPDATE locks and reads the rows in the same order as before;
-- one UPDATE counts them by ctid (a TID scan: exactly the locked versions); the OUT parameters are returned
-- without a query. A counter row exists only for a user that exists (the INSERT trigger checked it, and
-- deleting the user deletes their rows in the same transaction), so an unknown user still reaches the
-- trigger and fails with foreign_key_violation as before.
--
-- ctid is safe here: the rows are locked FOR UPDATE by this transaction, so no one else can update, delete or
-- move them before the UPDATE, and the UPDATE (a new statement, a new snapshot in READ COMMITTED) sees the
-- version that was locked.

CREATE OR REPLACE FUNCTION public.artificer_rate_limit_check_and_count(
    p_user_id uuid,
    p_agent_type text,
    p_per_minute integer,
    p_per_hour integer,
    p_per_day integer,
    p_now timestamp DEFAULT NULL
) RETURNS TABLE (
    allowed boolean,
    limited_window text,
    limit_value integer,
    retry_after_seconds double precision,
    remaining_minute integer,
    remaining_hour integer,
    remaining_day integer
)
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
DECLARE
    v_now timestamp := coalesce(p_now, (now() AT TIME ZONE 'UTC'));
    -- the windows that apply (a NULL limit means "no limit on this window"), in lock order
    v_types text[] := '{}';
    v_starts timestamp[] := '{}';
    v_ends timestamp[] := '{}';
    v_limits integer[] := '{}';
    v_ctids tid[];
    v_counts integer[];
    v_left integer;
    v_retry double precision;
    i integer;
BEGIN
    IF p_per_minute IS NOT NULL THEN
        v_types := v_types || 'minute'::text;
        v_starts := v_starts || date_trunc('minute', v_now);
        v_ends := v_ends || (date_trunc('minute', v_now) + interval '1 minute');
        v_limits := v_limits || p_per_minute;
    END IF;
    IF p_per_hour IS NOT NULL THEN
        v_types := v_types || 'hourly'::text;
        v_starts := v_starts || date_trunc('hour', v_now);
        v_ends := v_ends || (date_trunc('hour', v_now) + interval '1 hour');
        v_limits := v_limits || p_per_hour;
    END IF;
    IF p_per_day IS NOT NULL THEN
        v_types := v_types || 'daily'::text;
        v_starts := v_starts || date_trunc('day', v_now);
        v_ends := v_ends || (date_trunc('day', v_now) + interval '1 day');
        v_limits := v_limits || p_per_day;
    END IF;
    allowed := true;
    IF cardinality(v_types) = 0 THEN
        RETURN NEXT;
        RETURN;
    END IF;

    -- Make sure each window's counter row exists, inserting only the missing ones (a window's first call),
    -- so the INSERT trigger runs for new rows only. No row is locked yet, as before: a concurrent insert of
    -- the same key waits for the other inserter, then skips.
    INSERT INTO rate_limit_tracking (user_id, agent_type, period_start, period_end, request_count,
                                     limit_type, limit_value)
    SELECT p_user_id, p_agent_type, w.period_start, w.period_end, 0, w.limit_type, w.lim
      FROM unnest(v_types, v_starts, v_ends, v_limits) WITH ORDINALITY
           AS w(limit_type, period_start, period_end, lim, ord)
     WHERE NOT EXISTS (SELECT FROM rate_limit_tracking e
                        WHERE e.user_id = p_user_id AND e.agent_type = p_agent_type
                          AND e.limit_type = w.limit_type AND e.period_start = w.period_start)
     ORDER BY w.ord
    ON CONFLICT (user_id, agent_type, limit_type, period_start) DO NOTHING;

    -- Lock the counters in a fixed order (minute, hour, day) and read their counts.
    SELECT array_agg(c.ctid ORDER BY c.ord), array_agg(c.request_count ORDER BY c.ord)
      INTO v_ctids, v_counts
      FROM (SELECT t.ctid, coalesce(t.request_count, 0) AS request_count, w.ord
              FROM rate_limit_tracking t
              JOIN unnest(v_types, v_starts) WITH ORDINALITY AS w(limit_type, period_start, ord)
                ON t.limit_type = w.limit_type AND t.period_start = w.period_start
             WHERE t.user_id = p_user_id AND t.agent_type = p_agent_type
             ORDER BY w.ord
               FOR UPDATE OF t) AS c;
    IF coalesce(cardinality(v_ctids), 0) <> cardinality(v_types) THEN
        -- Only in a caller's REPEATABLE READ / SERIALIZABLE transaction whose snapshot predates another
        -- transaction's insert of a counter row: refuse to decide on a partial view (retryable).
        RAISE EXCEPTION 'rate limit counters of % / % changed concurrently; retry', p_user_id, p_agent_type
            USING ERRCODE = 'serialization_failure';
    END IF;

    -- Decide: refused when any window is full; the one reported is the full window that resets last.
    FOR i IN 1..cardinality(v_types) LOOP
        v_left := v_limits[i] - v_counts[i];
        IF v_left <= 0 THEN
            v_retry := extract(epoch FROM v_ends[i] - v_now);
            IF allowed OR v_retry > retry_after_seconds THEN
                limited_window := CASE v_types[i] WHEN 'minute' THEN 'minute' WHEN 'hourly' THEN 'hour'
                                                  ELSE 'day' END;
                limit_value := v_limits[i];
                retry_after_seconds := v_retry;
            END IF;
            allowed := false;
        END IF;
        CASE v_types[i]
            WHEN 'minute' THEN remaining_minute := v_left;
            WHEN 'hourly' THEN remaining_hour := v_left;
            ELSE remaining_day := v_left;
        END CASE;
    END LOOP;

    IF allowed THEN
        UPDATE rate_limit_tracking t
           SET request_count = coalesce(t.request_count, 0) + 1
         WHERE t.ctid = ANY (v_ctids);
        GET DIAGNOSTICS i = ROW_COUNT;
        IF i <> cardinality(v_ctids) THEN  -- cannot happen while the rows are locked; never count silently less
            RAISE EXCEPTION 'rate limit counters of % / % moved while locked', p_user_id, p_agent_type;
        END IF;
        remaining_minute := remaining_minute - 1;
        remaining_hour := remaining_hour - 1;
        remaining_day := remaining_day - 1;
    END IF;
    remaining_minute := greatest(remaining_minute, 0);
    remaining_hour := greatest(remaining_hour, 0);
    remaining_day := greatest(remaining_day, 0);
    RETURN NEXT;
END;
$$;

COMMENT ON FUNCTION public.artificer_rate_limit_check_and_count(uuid, text, integer, integer, integer, timestamp) IS
    'Server-only: counts one call of (user, agent) in its minute/hour/day windows when all of them have '
    'room; a refused call is not counted. Windows are fixed (date_trunc of p_now, UTC).';

-- CREATE OR REPLACE keeps the function's privileges (server-only, as 0020 set them).

-- validate_rate_limit_user_id: only when user_id is written. The counting UPDATE (and the refund) set
-- request_count only, and validate_user_id() returned at once for an UPDATE that keeps user_id; now it is
-- not called at all for those (it was three plpgsql SECURITY DEFINER calls per check). Every INSERT, and
-- every UPDATE that sets user_id, is still checked.
DROP TRIGGER validate_rate_limit_user_id ON rate_limit_tracking;
CREATE TRIGGER validate_rate_limit_user_id
    BEFORE INSERT OR UPDATE OF user_id ON rate_limit_tracking
    FOR EACH ROW EXECUTE FUNCTION public.validate_user_id();

-- Documents ----------------------------------------------------------------------------------------------
--
-- artificer_append_document_version builds the stored row itself instead of reading it back with
-- RETURNING *: every column is given explicitly, and no trigger on "Document" changes NEW (validate_user_id
-- and artificer_check_document_owner only check), so the row is the same. What RETURNING cost: the SELECT
-- policy check of the returned row (a second `(SELECT auth.uid())` per INSERT, a non-inlinable SQL function
-- call, about 0.05 ms each here) and the projection. The WITH CHECK policy still checks the row, with the
-- same condition (auth.uid() = user_id) that the SELECT policy would have applied to it.

CREATE OR REPLACE FUNCTION public.artificer_append_document_version(
    p_id uuid,
    p_title text,
    p_kind text,
    p_content text,
    p_metadata jsonb,
    p_expected_version integer DEFAULT NULL,
    p_chat_id uuid DEFAULT NULL
) RETURNS "Document"
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
DECLARE
    v_user uuid := auth.uid();
    v_latest "Document";
    v_row "Document";
BEGIN
    IF v_user IS NULL THEN
        RAISE EXCEPTION 'no caller identity: run as a user (request.jwt.claims with a sub)'
            USING ERRCODE = 'ART03';
    END IF;

    IF p_id IS NULL THEN
        -- A new document: version 1 under a fresh id.
        IF p_title IS NULL OR btrim(p_title) = '' THEN
            RAISE EXCEPTION 'a new document needs a non-empty title' USING ERRCODE = 'ART03';
        END IF;
        IF p_expected_version IS NOT NULL AND p_expected_version <> 0 THEN
            RAISE EXCEPTION 'a new document has no version %', p_expected_version USING ERRCODE = 'ART02';
        END IF;
        v_row.id := gen_random_uuid();
        v_row."createdAt" := clock_timestamp()::timestamp;
        v_row.title := p_title;
        v_row.content := p_content;
        v_row.kind := coalesce(p_kind, 'text');
        v_row.user_id := v_user;
        v_row.chat_id := p_chat_id;
        v_row.version_number := 1;
        v_row.metadata := coalesce(p_metadata, '{}');
    ELSE
        -- One writer per document at a time; the lock ends with the transaction, and the statements below
        -- take their snapshots after it is granted, so they see every version committed before.
        PERFORM pg_advisory_xact_lock(hashtextextended('artificer.document:' || p_id::text, 0));

        SELECT * INTO v_latest
          FROM "Document"
         WHERE id = p_id
         ORDER BY version_number DESC
         LIMIT 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'document % not found', p_id USING ERRCODE = 'ART01';
        END IF;
        IF p_expected_version IS NOT NULL AND p_expected_version <> v_latest.version_number THEN
            RAISE EXCEPTION 'document % is at version %, not %: it changed since it was read',
                p_id, v_latest.version_number, p_expected_version
                USING ERRCODE = 'ART02';
        END IF;
        v_row.id := p_id;
        -- strictly after the previous version, even if the clock stepped back
        v_row."createdAt" := greatest(clock_timestamp()::timestamp,
                                      v_latest."createdAt" + interval '1 microsecond');
        v_row.title := coalesce(nullif(btrim(p_title), ''), v_latest.title);
        v_row.content := p_content;
        v_row.kind := coalesce(p_kind, v_latest.kind);
        v_row.user_id := v_user;
        v_row.chat_id := coalesce(p_chat_id, v_latest.chat_id);
        v_row.parent_version_id := p_id;
        v_row.parent_version_number := v_latest.version_number;
        v_row.version_number := v_latest.version_number + 1;
        v_row.metadata := coalesce(p_metadata, '{}');
    END IF;

    INSERT INTO "Document" (id, "createdAt", title, content, kind, user_id, chat_id,
                            parent_version_id, parent_version_number, version_number, metadata)
    VALUES (v_row.id, v_row."createdAt", v_row.title, v_row.content, v_row.kind, v_row.user_id,
            v_row.chat_id, v_row.parent_version_id, v_row.parent_version_number, v_row.version_number,
            v_row.metadata);
    RETURN v_row;
END;
$$;

COMMENT ON FUNCTION public.artificer_append_document_version(uuid, text, text, text, jsonb, integer, uuid) IS
    'Appends the next version of document p_id (or creates version 1 when p_id is null) as the current '
    'caller (auth.uid()); RLS applies. p_expected_version, when given, must equal the latest version.';

-- artificer_save_document_version switches to the caller through its SET clause (role = authenticated, and
-- request.jwt.claims saved) instead of two set_config calls: one statement less per store, and both
-- settings are now restored when the function returns. Before, set_config(..., true) inside the function
-- outlived it until the end of the caller's transaction (the SET clause restores only the parameters it
-- names, search_path), so a store inside a transaction left that transaction running as `authenticated`
-- with the caller's claims. The EXECUTE privilege is checked for the server's role, before the SET applies;
-- the server's login must be allowed to `SET ROLE authenticated`, as before (set_config('role') needed it).

CREATE OR REPLACE FUNCTION public.artificer_save_document_version(
    p_claims jsonb,
    p_id uuid,
    p_title text,
    p_kind text,
    p_content text,
    p_metadata jsonb,
    p_expected_version integer DEFAULT NULL,
    p_chat_id uuid DEFAULT NULL
) RETURNS "Document"
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
BEGIN
    IF p_claims IS NULL OR coalesce(p_claims ->> 'sub', '') = '' THEN
        RAISE EXCEPTION 'p_claims must carry the caller''s sub' USING ERRCODE = 'ART03';
    END IF;
    PERFORM set_config('request.jwt.claims', p_claims::text, true);
    RETURN public.artificer_append_document_version(
        p_id, p_title, p_kind, p_content, p_metadata, p_expected_version, p_chat_id);
END;
$$;

COMMENT ON FUNCTION public.artificer_save_document_version(jsonb, uuid, text, text, text, jsonb, integer, uuid) IS
    'Server-only, one round trip: stores a document version as the user the claims name '
    '(role authenticated, RLS applies; both end when it returns). Never granted to anon/authenticated: '
    'they could forge claims.';

-- The SET clause is added by ALTER: CREATE FUNCTION checks the body with the SET clause in force, i.e. as
-- `authenticated`, which may not execute this function.
ALTER FUNCTION public.artificer_save_document_version(jsonb, uuid, text, text, text, jsonb, integer, uuid)
    SET role = 'authenticated';
ALTER FUNCTION public.artificer_save_document_version(jsonb, uuid, text, text, text, jsonb, integer, uuid)
    SET "request.jwt.claims" = '';
