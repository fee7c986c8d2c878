-- Row level security and table privileges.
--
-- Policies keep the seed's names. Differences from the seed (each closes a hole):
--   * "System can ..." policies apply TO service_role only. In the seed they were WITH CHECK (true) /
--     USING (true) for everyone, so any signed-in user could forge log rows for others or reset their own
--     rate-limit counters through the Data API. The server writes logs and counters as its own login role.
--   * No privileges for anon on any table (the seed granted ALL on the log tables to anon).
--   * Inserts and updates also check the rows they point at: a document only in the caller's own chat,
--     a suggestion only on the caller's own document, a vote only for a message of that chat.
--   * "Admins ..." policies test the app_metadata role (see get_user_role), which users cannot edit.
-- The server's own login (a superuser, or service_role) bypasses RLS; callers run as `authenticated`.

ALTER TABLE "Chat" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "Message_v2" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "Vote_v2" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "Document" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "Suggestion" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "Stream" ENABLE ROW LEVEL SECURITY;
ALTER TABLE admin_config ENABLE ROW LEVEL SECURITY;
ALTER TABLE model_config ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE rate_limit_tracking ENABLE ROW LEVEL SECURITY;
ALTER TABLE github_repositories ENABLE ROW LEVEL SECURITY;
ALTER TABLE error_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_activity_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent_activity_logs ENABLE ROW LEVEL SECURITY;

-- Chat -----------------------------------------------------------------------------------------------
CREATE POLICY "Users can read own chats" ON "Chat"
    FOR SELECT TO authenticated USING ((SELECT auth.uid()) = user_id);
CREATE POLICY "Users can create own chats" ON "Chat"
    FOR INSERT TO authenticated WITH CHECK ((SELECT auth.uid()) = user_id);
CREATE POLICY "Users can update own chats" ON "Chat"
    FOR UPDATE TO authenticated
    USING ((SELECT auth.uid()) = user_id) WITH CHECK ((SELECT auth.uid()) = user_id);
CREATE POLICY "Users can delete own chats" ON "Chat"
    FOR DELETE TO authenticated USING ((SELECT auth.uid()) = user_id);
CREATE POLICY "Admins can read all chats" ON "Chat"
    FOR SELECT TO authenticated USING ((SELECT public.get_user_role()) = 'admin');

-- Message_v2 -----------------------------------------------------------------------------------------
CREATE POLICY "Users can read own messages" ON "Message_v2"
    FOR SELECT TO authenticated USING (EXISTS (
        SELECT 1 FROM "Chat" c WHERE c.id = "Message_v2"."chatId" AND c.user_id = (SELECT auth.uid())));
CREATE POLICY "Users can create messages in own chats" ON "Message_v2"
    FOR INSERT TO authenticated WITH CHECK (EXISTS (
        SELECT 1 FROM "Chat" c WHERE c.id = "Message_v2"."chatId" AND c.user_id = (SELECT auth.uid())));

-- Vote_v2 --------------------------------------------------------------------------------------------
CREATE POLICY "Users can vote on messages in own chats" ON "Vote_v2"
    FOR ALL TO authenticated
    USING (EXISTS (
        SELECT 1 FROM "Chat" c WHERE c.id = "Vote_v2"."chatId" AND c.user_id = (SELECT auth.uid())))
    WITH CHECK (EXISTS (
        SELECT 1 FROM "Chat" c JOIN "Message_v2" m ON m."chatId" = c.id
        WHERE c.id = "Vote_v2"."chatId" AND m.id = "Vote_v2"."messageId" AND c.user_id = (SELECT auth.uid())));

-- A policy on "Document" that reads "Document" itself recurses ("infinite recursion detected in policy"):
-- the parent-ownership check goes through this SECURITY DEFINER helper, which only answers
-- "is this document the caller's?".
CREATE FUNCTION public.artificer_owns_document(p_id uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
    SELECT EXISTS (SELECT 1 FROM public."Document" d WHERE d.id = p_id AND d.user_id = (SELECT auth.uid()))
$$;
REVOKE ALL ON FUNCTION public.artificer_owns_document(uuid) FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION public.artificer_owns_document(uuid) TO authenticated, service_role;

-- Document -------------------------------------------------------------------------------------------
CREATE POLICY "Users can read own documents" ON "Document"
    FOR SELECT TO authenticated USING ((SELECT auth.uid()) = user_id);
CREATE POLICY "Users can create own documents" ON "Document"
    FOR INSERT TO authenticated WITH CHECK (
        (SELECT auth.uid()) = user_id
        AND (chat_id IS NULL OR EXISTS (
            SELECT 1 FROM "Chat" c WHERE c.id = "Document".chat_id AND c.user_id = (SELECT auth.uid())))
        AND (parent_version_id IS NULL OR public.artificer_owns_document(parent_version_id)));
CREATE POLICY "Users can update own documents" ON "Document"
    FOR UPDATE TO authenticated
    USING ((SELECT auth.uid()) = user_id)
    WITH CHECK (
        (SELECT auth.uid()) = user_id
        AND (chat_id IS NULL OR EXISTS (
            SELECT 1 FROM "Chat" c WHERE c.id = "Document".chat_id AND c.user_id = (SELECT auth.uid()))));
CREATE POLICY "Users can delete own documents" ON "Document"
    FOR DELETE TO authenticated USING ((SELECT auth.uid()) = user_id);

-- All versions of a document have ONE owner. RLS hides other users' rows, but UNIQUE (id, version_number)
-- does not: without this check a user could insert a row under another user's document id (with the next
-- version number) and block that document's next update for good. SECURITY DEFINER so it sees every row;
-- the per-document advisory lock (the one artificer_append_document_version takes) orders concurrent
-- inserts of the same id, so two users cannot both pass the check.
CREATE FUNCTION public.artificer_check_document_owner() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.user_id = OLD.user_id THEN
        RETURN NEW;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('artificer.document:' || NEW.id::text, 0));
    IF EXISTS (
        SELECT 1 FROM public."Document" d
         WHERE d.id = NEW.id AND d.user_id <> NEW.user_id
           AND (TG_OP = 'INSERT' OR (d.id, d."createdAt") <> (OLD.id, OLD."createdAt"))
    ) THEN
        RAISE EXCEPTION 'document id % is taken: its versions belong to another user', NEW.id
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'create a new document (a fresh id) instead';
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION public.artificer_check_document_owner() FROM PUBLIC, anon, authenticated;

CREATE TRIGGER artificer_document_one_owner
    BEFORE INSERT OR UPDATE ON "Document"
    FOR EACH ROW EXECUTE FUNCTION public.artificer_check_document_owner();

-- Suggestion -----------------------------------------------------------------------------------------
CREATE POLICY "Users can read own suggestions" ON "Suggestion"
    FOR SELECT TO authenticated USING ((SELECT auth.uid()) = user_id);
CREATE POLICY "Users can create own suggestions" ON "Suggestion"
    FOR INSERT TO authenticated WITH CHECK (
        (SELECT auth.uid()) = user_id
        AND EXISTS (
            SELECT 1 FROM "Document" d
            WHERE d.id = "Suggestion"."documentId" AND d."createdAt" = "Suggestion"."documentCreatedAt"
              AND d.user_id = (SELECT auth.uid())));
CREATE POLICY "Users can update own suggestions" ON "Suggestion"
    FOR UPDATE TO authenticated
    USING ((SELECT auth.uid()) = user_id)
    WITH CHECK ((SELECT auth.uid()) = user_id AND public.artificer_owns_document("documentId"));

-- Stream ---------------------------------------------------------------------------------------------
CREATE POLICY "Users can access streams in own chats" ON "Stream"
    FOR ALL TO authenticated USING (EXISTS (
        SELECT 1 FROM "Chat" c WHERE c.id = "Stream"."chatId" AND c.user_id = (SELECT auth.uid())));

-- admin_config ---------------------------------------------------------------------------------------
CREATE POLICY "Admins can read admin_config" ON admin_config
    FOR SELECT TO authenticated USING ((SELECT public.get_user_role()) = 'admin');
CREATE POLICY "Admins can update admin_config" ON admin_config
    FOR ALL TO authenticated
    USING ((SELECT public.get_user_role()) = 'admin') WITH CHECK ((SELECT public.get_user_role()) = 'admin');

-- model_config ---------------------------------------------------------------------------------------
CREATE POLICY "Authenticated users can read model_config" ON model_config
    FOR SELECT TO authenticated USING ((SELECT auth.uid()) IS NOT NULL);
CREATE POLICY "Admins can manage model_config" ON model_config
    FOR ALL TO authenticated
    USING ((SELECT public.get_user_role()) = 'admin') WITH CHECK ((SELECT public.get_user_role()) = 'admin');

-- usage_logs -----------------------------------------------------------------------------------------
CREATE POLICY "Users can read own usage_logs" ON usage_logs
    FOR SELECT TO authenticated USING ((SELECT auth.uid()) = user_id);
CREATE POLICY "Admins can read all usage_logs" ON usage_logs
    FOR SELECT TO authenticated USING ((SELECT public.get_user_role()) = 'admin');
CREATE POLICY "System can create usage_logs" ON usage_logs
    FOR INSERT TO service_role WITH CHECK (true);

-- rate_limit_tracking --------------------------------------------------------------------------------
CREATE POLICY "Users can read own rate_limits" ON rate_limit_tracking
    FOR SELECT TO authenticated USING ((SELECT auth.uid()) = user_id);
CREATE POLICY "System can manage rate_limits" ON rate_limit_tracking
    FOR ALL TO service_role USING (true) WITH CHECK (true);

-- github_repositories --------------------------------------------------------------------------------
CREATE POLICY "Users can manage own repositories" ON github_repositories
    FOR ALL TO authenticated
    USING ((SELECT auth.uid()) = user_id) WITH CHECK ((SELECT auth.uid()) = user_id);

-- error_logs -----------------------------------------------------------------------------------------
CREATE POLICY "Users can read own error_logs" ON error_logs
    FOR SELECT TO authenticated USING ((SELECT auth.uid()) = user_id);
CREATE POLICY "Admins can read all error_logs" ON error_logs
    FOR SELECT TO authenticated USING ((SELECT public.get_user_role()) = 'admin');
CREATE POLICY "Admins can update error_logs" ON error_logs
    FOR UPDATE TO authenticated
    USING ((SELECT public.get_user_role()) = 'admin') WITH CHECK ((SELECT public.get_user_role()) = 'admin');
CREATE POLICY "System can insert error_logs" ON error_logs
    FOR INSERT TO service_role WITH CHECK (true);

-- user_activity_logs ---------------------------------------------------------------------------------
CREATE POLICY "Users can read own activity logs" ON user_activity_logs
    FOR SELECT TO authenticated USING ((SELECT auth.uid()) = user_id);
CREATE POLICY "Admins can read all activity logs" ON user_activity_logs
    FOR SELECT TO authenticated USING ((SELECT public.get_user_role()) = 'admin');
CREATE POLICY "System can insert activity logs" ON user_activity_logs
    FOR INSERT TO service_role WITH CHECK (true);

-- agent_activity_logs --------------------------------------------------------------------------------
CREATE POLICY "Users can read own agent logs" ON agent_activity_logs
    FOR SELECT TO authenticated USING ((SELECT auth.uid()) = user_id);
CREATE POLICY "Admins can read all agent logs" ON agent_activity_logs
    FOR SELECT TO authenticated USING ((SELECT public.get_user_role()) = 'admin');
CREATE POLICY "System can insert agent logs" ON agent_activity_logs
    FOR INSERT TO service_role WITH CHECK (true);

-- Privileges -----------------------------------------------------------------------------------------
-- Explicit, because Supabase no longer grants new public tables to the API roles, and plain Postgres never
-- did. anon gets nothing; revoking also clears grants an older Supabase project adds by default.
REVOKE ALL ON "Chat", "Message_v2", "Vote_v2", "Document", "Suggestion", "Stream", admin_config, model_config,
    usage_logs, rate_limit_tracking, github_repositories, error_logs, user_activity_logs, agent_activity_logs
    FROM anon;

GRANT SELECT, INSERT, UPDATE, DELETE ON "Chat", "Message_v2", "Vote_v2", "Document", "Suggestion", "Stream",
    github_repositories, admin_config, model_config
    TO authenticated;
-- Logs and counters are written by the server only; callers may read (RLS: their own rows, or all for admins).
GRANT SELECT ON usage_logs, rate_limit_tracking, user_activity_logs, agent_activity_logs TO authenticated;
GRANT SELECT, UPDATE ON error_logs TO authenticated;

GRANT ALL ON "Chat", "Message_v2", "Vote_v2", "Document", "Suggestion", "Stream", admin_config, model_config,
    usage_logs, rate_limit_tracking, github_repositories, error_logs, user_activity_logs, agent_activity_logs
    TO service_role;
