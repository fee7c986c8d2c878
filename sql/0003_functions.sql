-- The seed's 13 functions, with its defects fixed:
--   get_user_role / is_current_user_admin read app metadata (users cannot edit it), not user metadata.
--   get_current_user_usage_summary runs (no ambiguous names, no nested aggregates) and counts only the caller.
--   ensure_single_default_model_per_provider lets the default move to another model.
--   validate_admin_config_data checks types and ranges, not only that keys exist.
-- Every function pins search_path and qualifies names.

-- 1. Role of the caller, from the JWT claims the transaction carries. app_metadata is set by the server
--    side of Supabase Auth only; user_metadata is editable by the user and must never grant anything.
CREATE FUNCTION public.get_user_role() RETURNS text
LANGUAGE sql STABLE SET search_path = '' AS $$
    SELECT coalesce(
        nullif(current_setting('request.jwt.claims', true), '')::jsonb -> 'app_metadata' ->> 'role',
        'user'
    )::text
$$;

-- 2. FK-like check that user_id exists in auth.users (cross-schema FKs are avoided, as in the seed).
CREATE FUNCTION public.validate_user_id() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    IF NEW.user_id IS NULL THEN
        RETURN NEW;  -- NOT NULL constraints report this themselves
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.user_id IS NOT DISTINCT FROM OLD.user_id THEN
        RETURN NEW;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM auth.users u WHERE u.id = NEW.user_id) THEN
        RAISE EXCEPTION 'user_id % does not exist in auth.users', NEW.user_id
            USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME;
    END IF;
    RETURN NEW;
END
$$;

-- 3. Cascade a deleted auth user to the rows that belong to them. Activity logs stay (audit trail).
CREATE FUNCTION public.handle_auth_user_deletion() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    DELETE FROM public."Suggestion" WHERE user_id = OLD.id;
    DELETE FROM public."Document" WHERE user_id = OLD.id;
    DELETE FROM public."Chat" WHERE user_id = OLD.id;  -- messages, votes and streams cascade
    DELETE FROM public.usage_logs WHERE user_id = OLD.id;
    DELETE FROM public.rate_limit_tracking WHERE user_id = OLD.id;
    DELETE FROM public.github_repositories WHERE user_id = OLD.id;
    UPDATE public.error_logs SET resolved_by = NULL WHERE resolved_by = OLD.id;
    UPDATE public.admin_config SET updated_by = NULL WHERE updated_by = OLD.id;
    RETURN OLD;
END
$$;

-- 4. The caller's usage between two dates (inclusive), with a per-agent breakdown.
--    SECURITY INVOKER: RLS applies, and rows are limited to auth.uid() so admins get their own figures too.
CREATE FUNCTION public.get_current_user_usage_summary(
    p_start_date date DEFAULT (current_date - 30),
    p_end_date date DEFAULT current_date
)
RETURNS TABLE (
    total_calls bigint,
    total_input_tokens bigint,
    total_output_tokens bigint,
    total_tokens bigint,
    total_cost numeric,
    agent_breakdown jsonb
)
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = '' AS $$
    WITH mine AS (
        SELECT
            u.agent_type,
            coalesce(u.input_tokens, 0)::bigint AS in_tokens,
            coalesce(u.output_tokens, 0)::bigint AS out_tokens,
            coalesce(u.total_tokens, coalesce(u.input_tokens, 0) + coalesce(u.output_tokens, 0))::bigint
                AS all_tokens,
            coalesce(u.total_cost, 0)::numeric AS cost
        FROM public.usage_logs u
        WHERE u.user_id = auth.uid()
          AND u.request_timestamp >= p_start_date
          AND u.request_timestamp < p_end_date + 1
    ),
    per_agent AS (
        SELECT m.agent_type, count(*) AS calls, sum(m.all_tokens) AS tokens, sum(m.cost) AS cost
        FROM mine m
        GROUP BY m.agent_type
    )
    SELECT
        (SELECT count(*) FROM mine),
        (SELECT coalesce(sum(m.in_tokens), 0)::bigint FROM mine m),
        (SELECT coalesce(sum(m.out_tokens), 0)::bigint FROM mine m),
        (SELECT coalesce(sum(m.all_tokens), 0)::bigint FROM mine m),
        (SELECT coalesce(sum(m.cost), 0) FROM mine m),
        coalesce(
            (SELECT jsonb_object_agg(
                        p.agent_type,
                        jsonb_build_object('calls', p.calls, 'tokens', p.tokens, 'cost', p.cost))
             FROM per_agent p),
            '{}'::jsonb
        )
$$;

-- 5. Whether the caller is an admin, by the app metadata stored on their auth.users row.
--    SECURITY DEFINER because API roles cannot read auth.users; it only looks at the caller's own row.
CREATE FUNCTION public.is_current_user_admin() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
    SELECT EXISTS (
        SELECT 1 FROM auth.users u
        WHERE u.id = auth.uid() AND u.raw_app_meta_data ->> 'role' = 'admin'
    )
$$;

-- 6, 7. updated_at maintenance.
CREATE FUNCTION public.update_admin_config_timestamp() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

CREATE FUNCTION public.update_model_config_timestamp() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- 8. Exactly one default model per provider.
--    Setting is_default = true on a model hands the default over: the old default is unset in the same
--    statement. Unsetting (or deleting) the only default is refused. The hand-over marks itself in a
--    transaction-local setting so the nested UPDATE of the old default is not mistaken for a removal.
--    A partial unique index (0004) keeps two concurrent hand-overs from both succeeding.
CREATE FUNCTION public.ensure_single_default_model_per_provider() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
    handover text := coalesce(current_setting('artificer.default_model_handover', true), '');
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.is_default AND EXISTS (
            SELECT 1 FROM public.model_config m WHERE m.provider = OLD.provider AND m.id <> OLD.id
        ) THEN
            RAISE EXCEPTION 'cannot delete % : it is the default model for provider %', OLD.model_id, OLD.provider
                USING ERRCODE = 'check_violation',
                      HINT = 'Set is_default = true on another model of this provider first.';
        END IF;
        RETURN OLD;
    END IF;

    IF coalesce(NEW.is_default, false) THEN
        IF TG_OP = 'INSERT' OR NOT coalesce(OLD.is_default, false) OR OLD.provider <> NEW.provider THEN
            PERFORM set_config('artificer.default_model_handover', NEW.provider, true);
            UPDATE public.model_config m
               SET is_default = false
             WHERE m.provider = NEW.provider AND m.id <> NEW.id AND m.is_default;
            PERFORM set_config('artificer.default_model_handover', handover, true);
        END IF;
    END IF;

    IF TG_OP = 'UPDATE' AND coalesce(OLD.is_default, false)
       AND (NOT coalesce(NEW.is_default, false) OR OLD.provider <> NEW.provider)
       AND handover IS DISTINCT FROM OLD.provider
       AND NOT EXISTS (
           SELECT 1 FROM public.model_config m
           WHERE m.provider = OLD.provider AND m.id <> OLD.id AND m.is_default
       )
    THEN
        RAISE EXCEPTION 'cannot unset the default flag of % : provider % must keep exactly one default model',
            OLD.model_id, OLD.provider
            USING ERRCODE = 'check_violation',
                  HINT = 'Set is_default = true on another model of this provider instead; that moves the default.';
    END IF;
    RETURN NEW;
END
$$;

-- 9. admin_config validation: known key, and for each key the shape, types and ranges the server relies on.
--    Violations raise check_violation (23514) naming the key path and what is expected.

CREATE FUNCTION public.admin_config_fail(p_key text, p_path text, p_expected text, p_got jsonb)
RETURNS void
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
    RAISE EXCEPTION 'admin_config %: % must be %, got %',
        p_key, p_path, p_expected, coalesce(left(p_got::text, 80), 'nothing')
        USING ERRCODE = 'check_violation', TABLE = 'admin_config', COLUMN = 'config_data';
END
$$;

-- Checks one value at p_path (a text[] path into p_data) against p_kind:
--   'object' | 'array' | 'string' | 'nonempty string' | 'boolean' | 'integer' | 'number'.
-- Integers and numbers are checked against [p_min, p_max] when those are given.
CREATE FUNCTION public.admin_config_expect(
    p_key text, p_data jsonb, p_path text[], p_kind text, p_required boolean,
    p_min numeric DEFAULT NULL, p_max numeric DEFAULT NULL
)
RETURNS void
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
    v jsonb := p_data #> p_path;
    path text := array_to_string(p_path, '.');
    expected text;
    ok boolean;
BEGIN
    expected := CASE p_kind
        WHEN 'nonempty string' THEN 'a non-empty string'
        WHEN 'integer' THEN 'an integer'
        WHEN 'array' THEN 'an array'
        WHEN 'object' THEN 'an object'
        ELSE 'a ' || p_kind
    END;
    IF p_min IS NOT NULL AND p_max IS NOT NULL THEN
        expected := expected || ' between ' || p_min || ' and ' || p_max;
    END IF;

    IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
        IF p_required THEN
            PERFORM public.admin_config_fail(p_key, path, expected, NULL);
        END IF;
        RETURN;
    END IF;

    ok := CASE p_kind
        WHEN 'object' THEN jsonb_typeof(v) = 'object'
        WHEN 'array' THEN jsonb_typeof(v) = 'array'
        WHEN 'string' THEN jsonb_typeof(v) = 'string'
        WHEN 'nonempty string' THEN jsonb_typeof(v) = 'string' AND btrim(v #>> '{}') <> ''
        WHEN 'boolean' THEN jsonb_typeof(v) = 'boolean'
        WHEN 'integer' THEN jsonb_typeof(v) = 'number' AND (v #>> '{}')::numeric = trunc((v #>> '{}')::numeric)
        WHEN 'number' THEN jsonb_typeof(v) = 'number'
        ELSE false
    END;
    IF ok AND p_kind IN ('integer', 'number') THEN
        ok := (p_min IS NULL OR (v #>> '{}')::numeric >= p_min)
          AND (p_max IS NULL OR (v #>> '{}')::numeric <= p_max);
    END IF;
    IF NOT ok THEN
        PERFORM public.admin_config_fail(p_key, path, expected, v);
    END IF;
END
$$;

-- Raises on the first problem in (p_key, p_data); returns nothing when the config is valid.
CREATE FUNCTION public.check_admin_config(p_key text, p_data jsonb) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = '' AS $$
DECLARE
    agent_types constant text[] := ARRAY[
        'chat_model_agent', 'provider_tools_agent', 'document_agent',
        'python_agent', 'mermaid_agent', 'git_mcp_agent'];
    providers constant text[] := ARRAY['google', 'openai', 'anthropic'];
    k text := p_key;
    d jsonb := p_data;
    agent_type text;
    provider text;
    tool_name text;
    tool jsonb;
    param_name text;
    param jsonb;
    flag text;
    item jsonb;
BEGIN
    IF d IS NULL OR jsonb_typeof(d) <> 'object' THEN
        PERFORM public.admin_config_fail(k, 'config_data', 'a JSON object', d);
    END IF;

    IF k = 'app_settings' THEN
        PERFORM public.admin_config_expect(k, d, '{activeProvider}', 'string', true);
        IF NOT (d ->> 'activeProvider') = ANY (providers) THEN
            PERFORM public.admin_config_fail(k, 'activeProvider', 'one of google, openai, anthropic',
                                             d -> 'activeProvider');
        END IF;
        PERFORM public.admin_config_expect(k, d, '{availableProviders}', 'array', false);
        FOR item IN SELECT * FROM jsonb_array_elements(coalesce(d -> 'availableProviders', '[]')) LOOP
            IF jsonb_typeof(item) <> 'string' OR NOT (item #>> '{}') = ANY (providers) THEN
                PERFORM public.admin_config_fail(k, 'availableProviders[]', 'one of google, openai, anthropic',
                                                 item);
            END IF;
        END LOOP;
        RETURN;
    END IF;

    IF k = 'logging_settings' THEN
        FOREACH flag IN ARRAY ARRAY['error_logging_enabled', 'user_activity_logging_enabled',
                                    'agent_activity_logging_enabled'] LOOP
            PERFORM public.admin_config_expect(k, d, ARRAY[flag], 'boolean', true);
        END LOOP;
        PERFORM public.admin_config_expect(k, d, '{log_retention_days}', 'object', false);
        FOREACH flag IN ARRAY ARRAY['error_logs', 'user_activity_logs', 'agent_activity_logs'] LOOP
            PERFORM public.admin_config_expect(k, d, ARRAY['log_retention_days', flag], 'integer', false, 1, 3650);
        END LOOP;
        PERFORM public.admin_config_expect(k, d, '{category_toggles}', 'object', false);
        FOR flag IN SELECT jsonb_object_keys(coalesce(d -> 'category_toggles', '{}')) LOOP
            PERFORM public.admin_config_expect(k, d, ARRAY['category_toggles', flag], 'boolean', true);
        END LOOP;
        PERFORM public.admin_config_expect(k, d, '{performance_settings}', 'object', false);
        FOREACH flag IN ARRAY ARRAY['batch_writes', 'async_logging', 'sampling_enabled'] LOOP
            PERFORM public.admin_config_expect(k, d, ARRAY['performance_settings', flag], 'boolean', false);
        END LOOP;
        PERFORM public.admin_config_expect(k, d, '{performance_settings,batch_size}', 'integer', false, 1, 10000);
        PERFORM public.admin_config_expect(k, d, '{performance_settings,batch_interval_ms}', 'integer', false,
                                           10, 600000);
        PERFORM public.admin_config_expect(k, d, '{performance_settings,sampling_rate}', 'number', false, 0, 1);
        PERFORM public.admin_config_expect(k, d, '{privacy_settings}', 'object', false);
        FOREACH flag IN ARRAY ARRAY['anonymize_ip', 'hash_email', 'log_user_agent'] LOOP
            PERFORM public.admin_config_expect(k, d, ARRAY['privacy_settings', flag], 'boolean', false);
        END LOOP;
        PERFORM public.admin_config_expect(k, d, '{privacy_settings,exclude_sensitive_paths}', 'array', false);
        FOR item IN SELECT * FROM jsonb_array_elements(
                coalesce(d #> '{privacy_settings,exclude_sensitive_paths}', '[]')) LOOP
            IF jsonb_typeof(item) <> 'string' THEN
                PERFORM public.admin_config_fail(k, 'privacy_settings.exclude_sensitive_paths[]', 'a string', item);
            END IF;
        END LOOP;
        RETURN;
    END IF;

    -- {agentType}_{provider}
    provider := substring(k FROM '_([a-z]+)$');
    agent_type := left(k, length(k) - coalesce(length(provider), 0) - 1);
    IF provider IS NULL OR NOT provider = ANY (providers) OR NOT agent_type = ANY (agent_types) THEN
        RAISE EXCEPTION 'admin_config key % is not known: expected app_settings, logging_settings or {agentType}_{provider} with agentType one of % and provider one of %',
            k, array_to_string(agent_types, ', '), array_to_string(providers, ', ')
            USING ERRCODE = 'check_violation', TABLE = 'admin_config', COLUMN = 'config_key';
    END IF;

    PERFORM public.admin_config_expect(k, d, '{enabled}', 'boolean', true);
    PERFORM public.admin_config_expect(k, d, '{rateLimit}', 'object', true);
    PERFORM public.admin_config_expect(k, d, '{rateLimit,perMinute}', 'integer', true, 1, 1000);
    PERFORM public.admin_config_expect(k, d, '{rateLimit,perHour}', 'integer', true, 1, 10000);
    PERFORM public.admin_config_expect(k, d, '{rateLimit,perDay}', 'integer', true, 1, 100000);
    PERFORM public.admin_config_expect(
        k, d, '{systemPrompt}',
        CASE WHEN agent_type IN ('chat_model_agent', 'provider_tools_agent', 'git_mcp_agent')
             THEN 'nonempty string' ELSE 'string' END,
        agent_type IN ('chat_model_agent', 'provider_tools_agent', 'git_mcp_agent'));
    PERFORM public.admin_config_expect(k, d, '{userPromptTemplate}', 'string', false);

    IF agent_type = 'chat_model_agent' THEN
        PERFORM public.admin_config_expect(k, d, '{capabilities}', 'object', true);
        PERFORM public.admin_config_expect(k, d, '{capabilities,fileInput}', 'boolean', true);
        PERFORM public.admin_config_expect(k, d, '{capabilities,thinkingReasoning}', 'boolean', false);
        PERFORM public.admin_config_expect(k, d, '{fileInputTypes}', 'object', false);
    END IF;

    PERFORM public.admin_config_expect(k, d, '{tools}', 'object', true);
    FOR tool_name, tool IN SELECT * FROM jsonb_each(d -> 'tools') LOOP
        PERFORM public.admin_config_expect(k, d, ARRAY['tools', tool_name], 'object', true);
        PERFORM public.admin_config_expect(k, d, ARRAY['tools', tool_name, 'enabled'], 'boolean', true);
        PERFORM public.admin_config_expect(k, d, ARRAY['tools', tool_name, 'description'], 'string', true);
        PERFORM public.admin_config_expect(k, d, ARRAY['tools', tool_name, 'systemPrompt'], 'string', false);
        PERFORM public.admin_config_expect(k, d, ARRAY['tools', tool_name, 'userPromptTemplate'], 'string', false);
        PERFORM public.admin_config_expect(k, d, ARRAY['tools', tool_name, 'tool_input'], 'object', false);
        FOR param_name, param IN SELECT * FROM jsonb_each(coalesce(tool -> 'tool_input', '{}')) LOOP
            IF param_name IN ('parameter_name', 'parameter_description') THEN
                PERFORM public.admin_config_expect(
                    k, d, ARRAY['tools', tool_name, 'tool_input', param_name], 'string', true);
            ELSE
                PERFORM public.admin_config_expect(
                    k, d, ARRAY['tools', tool_name, 'tool_input', param_name], 'object', true);
                PERFORM public.admin_config_expect(
                    k, d, ARRAY['tools', tool_name, 'tool_input', param_name, 'parameter_name'], 'string', false);
                PERFORM public.admin_config_expect(
                    k, d, ARRAY['tools', tool_name, 'tool_input', param_name, 'parameter_description'],
                    'string', false);
            END IF;
        END LOOP;
    END LOOP;
    RETURN;
END
$$;

-- The problem with (p_key, p_data) as text, or NULL when valid: for checks before writing and for verify.
CREATE FUNCTION public.admin_config_problem(p_key text, p_data jsonb) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = '' AS $$
BEGIN
    PERFORM public.check_admin_config(p_key, p_data);
    RETURN NULL;
EXCEPTION WHEN check_violation THEN
    RETURN SQLERRM;
END
$$;

CREATE FUNCTION public.validate_admin_config_data() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
    PERFORM public.check_admin_config(NEW.config_key, NEW.config_data);
    RETURN NEW;
END
$$;

-- 10. Logging configuration, or the product's defaults when the row is missing.
CREATE FUNCTION public.get_logging_config() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
    SELECT coalesce(
        (SELECT c.config_data FROM public.admin_config c WHERE c.config_key = 'logging_settings'),
        '{"error_logging_enabled": true, "user_activity_logging_enabled": false,
          "agent_activity_logging_enabled": true}'::jsonb
    )
$$;

-- 11, 12.
CREATE FUNCTION public.is_user_activity_logging_enabled() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
    SELECT coalesce(public.get_logging_config() -> 'user_activity_logging_enabled' = 'true'::jsonb, false)
$$;

CREATE FUNCTION public.is_agent_activity_logging_enabled() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
    SELECT coalesce(public.get_logging_config() -> 'agent_activity_logging_enabled' = 'true'::jsonb, false)
$$;

-- 13. Retention: delete activity logs older than logging_settings.log_retention_days, and resolved
--     error logs older than theirs.
CREATE FUNCTION public.purge_old_activity_logs()
RETURNS TABLE (user_logs_deleted bigint, agent_logs_deleted bigint, error_logs_deleted bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    retention jsonb := coalesce(public.get_logging_config() -> 'log_retention_days', '{}'::jsonb);
    user_days integer := coalesce((retention ->> 'user_activity_logs')::integer, 30);
    agent_days integer := coalesce((retention ->> 'agent_activity_logs')::integer, 7);
    error_days integer := coalesce((retention ->> 'error_logs')::integer, 90);
    n_user bigint;
    n_agent bigint;
    n_error bigint;
BEGIN
    DELETE FROM public.user_activity_logs l WHERE l.created_at < now() - make_interval(days => user_days);
    GET DIAGNOSTICS n_user = ROW_COUNT;
    DELETE FROM public.agent_activity_logs l WHERE l.created_at < now() - make_interval(days => agent_days);
    GET DIAGNOSTICS n_agent = ROW_COUNT;
    DELETE FROM public.error_logs l
     WHERE l.resolved AND l.created_at < now() - make_interval(days => error_days);
    GET DIAGNOSTICS n_error = ROW_COUNT;
    RETURN QUERY SELECT n_user, n_agent, n_error;
END
$$;

-- Function privileges. PUBLIC may execute functions by default; narrow the ones that read or change
-- data with the owner's rights, and grant the rest explicitly (Supabase no longer grants automatically).
REVOKE ALL ON FUNCTION public.purge_old_activity_logs() FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.purge_old_activity_logs() TO service_role;

REVOKE ALL ON FUNCTION public.get_logging_config() FROM PUBLIC, anon;
REVOKE ALL ON FUNCTION public.is_user_activity_logging_enabled() FROM PUBLIC, anon;
REVOKE ALL ON FUNCTION public.is_agent_activity_logging_enabled() FROM PUBLIC, anon;
REVOKE ALL ON FUNCTION public.is_current_user_admin() FROM PUBLIC, anon;
REVOKE ALL ON FUNCTION public.get_current_user_usage_summary(date, date) FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION public.get_logging_config() TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION public.is_user_activity_logging_enabled() TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION public.is_agent_activity_logging_enabled() TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION public.is_current_user_admin() TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION public.get_current_user_usage_summary(date, date) TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION public.get_user_role() TO anon, authenticated, service_role;

REVOKE ALL ON FUNCTION public.validate_user_id() FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION public.handle_auth_user_deletion() FROM PUBLIC, anon, authenticated;
