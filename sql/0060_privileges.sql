-- Table privileges that hold on Supabase too.
--
-- A database built with Supabase's init scripts has default privileges that give every table created in
-- public ALL privileges for anon, authenticated and service_role. 0006 revoked anon's on the seed tables and
-- granted authenticated its rights, but left the rest of those defaults in place: authenticated could still
-- TRUNCATE usage_logs, rate_limit_tracking and admin_config (TRUNCATE bypasses row-level security), and anon
-- could TRUNCATE the migrations table. Here every table in public is revoked from PUBLIC and the API roles,
-- then granted exactly what its policies need:
--   * anon and authenticated: the commands their policies allow (FOR ALL: SELECT, INSERT, UPDATE, DELETE),
--     plus SELECT where they may UPDATE or DELETE (a WHERE clause reads the rows);
--   * service_role (BYPASSRLS, the backend's key): SELECT, INSERT, UPDATE, DELETE on the application's
--     tables; never TRUNCATE, REFERENCES or TRIGGER;
--   * nobody but the owner: the migrations table and the log tables' partitions (reached through the
--     parent, under its policies).
-- The defaults themselves are revoked for tables and sequences this role creates from now on, so a later
-- table gets what its migration grants, as on plain Postgres.

DO $privileges$
DECLARE
    t record;
    api_role text;
    commands text[];
    privileges text[];
BEGIN
    FOR t IN
        SELECT c.oid, c.relname, c.relispartition
          FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
           AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('REVOKE ALL ON TABLE public.%I FROM PUBLIC, anon, authenticated, service_role', t.relname);
        CONTINUE WHEN t.relispartition OR t.relname = 'artificer_schema_migrations';
        FOREACH api_role IN ARRAY ARRAY['anon', 'authenticated'] LOOP
            commands := ARRAY(
                SELECT DISTINCT p.polcmd::text FROM pg_catalog.pg_policy p
                 WHERE p.polrelid = t.oid
                   AND (0::oid = ANY (p.polroles) OR api_role::regrole::oid = ANY (p.polroles)));
            privileges := ARRAY(
                SELECT DISTINCT privilege FROM unnest(commands) AS cmd,
                       LATERAL unnest(CASE cmd WHEN '*' THEN ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']
                                               WHEN 'r' THEN ARRAY['SELECT']
                                               WHEN 'a' THEN ARRAY['INSERT']
                                               WHEN 'w' THEN ARRAY['SELECT', 'UPDATE']
                                               WHEN 'd' THEN ARRAY['SELECT', 'DELETE'] END) AS privilege
                 ORDER BY 1);
            IF cardinality(privileges) > 0 THEN
                EXECUTE format('GRANT %s ON TABLE public.%I TO %I', array_to_string(privileges, ', '), t.relname,
                               api_role);
            END IF;
        END LOOP;
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE public.%I TO service_role', t.relname);
    END LOOP;
END
$privileges$;

ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM PUBLIC, anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM PUBLIC, anon, authenticated, service_role;
