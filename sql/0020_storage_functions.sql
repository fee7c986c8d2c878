-- Functions the storage layer calls on its hot paths: the one-statement document store and the
-- one-statement rate limiter.
--
--   artificer_append_document_version(...)  SECURITY INVOKER, runs as whoever calls it (RLS applies).
--   artificer_save_document_version(...)    server-only entry point: sets the caller's claims and
--                                           role = authenticated for its own duration, then appends.
--   artificer_rate_limit_check_and_count(.) server-only: checks minute/hour/day windows and counts the
--                                           call only when every window still has room.
--
-- SQLSTATEs raised here (storage/documents.py maps them to exceptions):
--   ART01  document not found (or not visible to the caller)
--   ART02  version conflict (p_expected_version is not the latest version)
--   ART03  invalid argument (no caller identity, bad kind, empty title)

-- Documents --------------------------------------------------------------------------------------------

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
        INSERT INTO "Document" (id, "createdAt", title, content, kind, user_id, chat_id,
                                parent_version_id, parent_version_number, version_number, metadata)
        VALUES (gen_random_uuid(), clock_timestamp()::timestamp, p_title, p_content,
                coalesce(p_kind, 'text'), v_user, p_chat_id, NULL, NULL, 1, coalesce(p_metadata, '{}'))
        RETURNING * INTO v_row;
        RETURN v_row;
    END IF;

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

    INSERT INTO "Document" (id, "createdAt", title, content, kind, user_id, chat_id,
                            parent_version_id, parent_version_number, version_number, metadata)
    VALUES (p_id,
            -- strictly after the previous version, even if the clock stepped back
            greatest(clock_timestamp()::timestamp, v_latest."createdAt" + interval '1 microsecond'),
            coalesce(nullif(btrim(p_title), ''), v_latest.title),
            p_content,
            coalesce(p_kind, v_latest.kind),
            v_user,
            coalesce(p_chat_id, v_latest.chat_id),
            p_id,
            v_latest.version_number,
            v_latest.version_number + 1,
            coalesce(p_metadata, '{}'))
    RETURNING * INTO v_row;
    RETURN v_row;
END;
$$;

COMMENT ON FUNCTION public.artificer_append_document_version(uuid, text, text, text, jsonb, integer, uuid) IS
    'Appends the next version of document p_id (or creates version 1 when p_id is null) as the current '
    'caller (auth.uid()); RLS applies. p_expected_version, when given, must equal the latest version.';

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
-- The SET clause makes every set_config(..., true) below end when this function returns, so the caller's
-- session is back to the server role for the rest of its transaction.
SET search_path = public, pg_temp
AS $$
BEGIN
    IF p_claims IS NULL OR coalesce(p_claims ->> 'sub', '') = '' THEN
        RAISE EXCEPTION 'p_claims must carry the caller''s sub' USING ERRCODE = 'ART03';
    END IF;
    PERFORM set_config('request.jwt.claims', p_claims::text, true);
    PERFORM set_config('role', 'authenticated', true);
    RETURN public.artificer_append_document_version(
        p_id, p_title, p_kind, p_content, p_metadata, p_expected_version, p_chat_id);
END;
$$;

COMMENT ON FUNCTION public.artificer_save_document_version(jsonb, uuid, text, text, text, jsonb, integer, uuid) IS
    'Server-only, one round trip: stores a document version as the user the claims name '
    '(role authenticated, RLS applies). Never granted to anon/authenticated: they could forge claims.';

-- Rate limits ------------------------------------------------------------------------------------------

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
    v_types text[];
    v_names text[];
    v_starts timestamp[];
    v_ends timestamp[];
    v_limits integer[];
    v_ids uuid[] := '{}';
    v_left integer;
    v_row record;
    v_allowed boolean := true;
    v_window text;
    v_limit integer;
    v_retry double precision;
    v_rem_minute integer;
    v_rem_hour integer;
    v_rem_day integer;
BEGIN
    -- The windows that apply (a NULL limit means "no limit on this window"), as parallel arrays.
    SELECT array_agg(w.limit_type ORDER BY w.ord), array_agg(w.window_name ORDER BY w.ord),
           array_agg(date_trunc(w.unit, v_now) ORDER BY w.ord),
           array_agg(date_trunc(w.unit, v_now) + w.span ORDER BY w.ord), array_agg(w.lim ORDER BY w.ord)
      INTO v_types, v_names, v_starts, v_ends, v_limits
      FROM (VALUES ('minute', 'minute', 1, 'minute', interval '1 minute', p_per_minute),
                   ('hourly', 'hour',   2, 'hour',   interval '1 hour',   p_per_hour),
                   ('daily',  'day',    3, 'day',    interval '1 day',    p_per_day))
           AS w(limit_type, window_name, ord, unit, span, lim)
     WHERE w.lim IS NOT NULL;
    IF v_types IS NULL THEN
        RETURN QUERY SELECT true, NULL::text, NULL::integer, NULL::double precision,
                            NULL::integer, NULL::integer, NULL::integer;
        RETURN;
    END IF;

    -- Make sure each window's counter row exists (a concurrent insert of the same key waits, then skips).
    INSERT INTO rate_limit_tracking (user_id, agent_type, period_start, period_end, request_count,
                                     limit_type, limit_value)
    SELECT p_user_id, p_agent_type, w.period_start, w.period_end, 0, w.limit_type, w.lim
      FROM unnest(v_types, v_starts, v_ends, v_limits) WITH ORDINALITY
           AS w(limit_type, period_start, period_end, lim, ord)
     ORDER BY w.ord
    ON CONFLICT (user_id, agent_type, limit_type, period_start) DO NOTHING;

    -- Lock the counters in a fixed order (minute, hour, day), read their counts, and decide.
    FOR v_row IN
        SELECT t.id, coalesce(t.request_count, 0) AS request_count, w.lim, w.window_name, w.period_end
          FROM rate_limit_tracking t
          JOIN unnest(v_types, v_names, v_starts, v_ends, v_limits) WITH ORDINALITY
               AS w(limit_type, window_name, period_start, period_end, lim, ord)
            ON t.limit_type = w.limit_type AND t.period_start = w.period_start
         WHERE t.user_id = p_user_id AND t.agent_type = p_agent_type
         ORDER BY w.ord
           FOR UPDATE OF t
    LOOP
        v_ids := v_ids || v_row.id;
        v_left := v_row.lim - v_row.request_count;
        IF v_left <= 0 THEN
            IF v_allowed OR extract(epoch FROM v_row.period_end - v_now) > v_retry THEN
                v_window := v_row.window_name;
                v_limit := v_row.lim;
                v_retry := extract(epoch FROM v_row.period_end - v_now);
            END IF;
            v_allowed := false;
        END IF;
        -- remaining after this call (if it is allowed); fixed below when it is refused
        CASE v_row.window_name
            WHEN 'minute' THEN v_rem_minute := v_left;
            WHEN 'hour' THEN v_rem_hour := v_left;
            ELSE v_rem_day := v_left;
        END CASE;
    END LOOP;

    IF v_allowed THEN
        UPDATE rate_limit_tracking t
           SET request_count = coalesce(t.request_count, 0) + 1
         WHERE t.id = ANY (v_ids);
        v_rem_minute := v_rem_minute - 1;
        v_rem_hour := v_rem_hour - 1;
        v_rem_day := v_rem_day - 1;
    END IF;

    RETURN QUERY SELECT v_allowed, v_window, v_limit, v_retry,
                        greatest(v_rem_minute, 0), greatest(v_rem_hour, 0), greatest(v_rem_day, 0);
END;
$$;

COMMENT ON FUNCTION public.artificer_rate_limit_check_and_count(uuid, text, integer, integer, integer, timestamp) IS
    'Server-only: counts one call of (user, agent) in its minute/hour/day windows when all of them have '
    'room; a refused call is not counted. Windows are fixed (date_trunc of p_now, UTC).';

-- Privileges: the entry points that take an identity as an argument are for the server's own role only.
REVOKE ALL ON FUNCTION public.artificer_save_document_version(jsonb, uuid, text, text, text, jsonb, integer, uuid)
    FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION public.artificer_rate_limit_check_and_count(uuid, text, integer, integer, integer, timestamp)
    FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION public.artificer_append_document_version(uuid, text, text, text, jsonb, integer, uuid)
    FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION public.artificer_append_document_version(uuid, text, text, text, jsonb, integer, uuid)
    TO authenticated;

