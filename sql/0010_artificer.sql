-- Project additions.

-- Hot reload: every change to admin_config or model_config notifies channel `artificer_config` with
-- {"table": ..., "op": ...}. Server processes LISTEN on it, reload their config cache and tell their
-- clients that the tool list changed. Notifications are sent at commit, once per distinct payload.
CREATE FUNCTION public.notify_config_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
    PERFORM pg_notify('artificer_config', json_build_object('table', TG_TABLE_NAME, 'op', TG_OP)::text);
    RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION public.notify_config_change() FROM PUBLIC, anon, authenticated;

CREATE TRIGGER artificer_admin_config_notify
    AFTER INSERT OR UPDATE OR DELETE ON admin_config
    FOR EACH STATEMENT EXECUTE FUNCTION public.notify_config_change();

CREATE TRIGGER artificer_model_config_notify
    AFTER INSERT OR UPDATE OR DELETE ON model_config
    FOR EACH STATEMENT EXECUTE FUNCTION public.notify_config_change();
