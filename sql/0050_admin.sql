-- Admin tools (server/admin.py, storage/admin.py): the audit row of every admin change.
--
-- Admin reads and writes run as the caller (`as_user`), under the seed's "Admins can ..." policies. Log
-- tables take inserts from service_role only, so the caller cannot write its own audit row; this function
-- writes it, in the caller's transaction (the change and its audit row commit together, or neither), for
-- admins only, and whatever logging_settings say (an admin change is always recorded).

CREATE FUNCTION public.artificer_log_admin_change(
    p_resource_type text,
    p_resource_id uuid,
    p_metadata jsonb,
    p_correlation_id uuid DEFAULT NULL
) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    v_user uuid := auth.uid();
    v_correlation uuid := coalesce(p_correlation_id, gen_random_uuid());
BEGIN
    IF v_user IS NULL OR public.get_user_role() IS DISTINCT FROM 'admin' THEN
        RAISE EXCEPTION 'only an admin can change the configuration'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO public.user_activity_logs (user_id, correlation_id, activity_type, activity_category,
                                           activity_metadata, resource_id, resource_type)
    VALUES (v_user, v_correlation, 'admin_config_update', 'admin', coalesce(p_metadata, '{}'::jsonb),
            p_resource_id, p_resource_type);
    RETURN v_correlation;
END
$$;

REVOKE ALL ON FUNCTION public.artificer_log_admin_change(text, uuid, jsonb, uuid) FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION public.artificer_log_admin_change(text, uuid, jsonb, uuid) TO authenticated, service_role;
