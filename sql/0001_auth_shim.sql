-- Supabase compatibility shim.
--
-- On Supabase every object below already exists and this file changes nothing. On plain Postgres it
-- creates the API roles (anon, authenticated, service_role) and a minimal `auth` schema with the same
-- names, column types and function bodies as Supabase Auth, so the RLS policies in later files behave the
-- same way in both places. Each object is checked on its own: roles belong to the cluster, schemas to one
-- database, so a second database on the same server only gets the schema part.

DO $shim$
DECLARE
    created_role boolean := false;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'anon') THEN
        CREATE ROLE anon NOLOGIN NOINHERIT;
        created_role := true;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticated') THEN
        CREATE ROLE authenticated NOLOGIN NOINHERIT;
        created_role := true;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'service_role') THEN
        CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
        created_role := true;
    END IF;
    -- A non-superuser login must be a member to `SET ROLE authenticated` (Supabase grants this itself).
    IF created_role AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE format('GRANT anon, authenticated, service_role TO %I', current_user);
    END IF;

    IF NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'auth') THEN
        CREATE SCHEMA auth;
        GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
    END IF;

    IF to_regclass('auth.users') IS NULL THEN
        -- A subset of Supabase's auth.users: same names and types.
        CREATE TABLE auth.users (
            instance_id uuid,
            id uuid PRIMARY KEY,
            aud varchar(255),
            role varchar(255),
            email varchar(255),
            encrypted_password varchar(255),
            email_confirmed_at timestamptz,
            phone text UNIQUE DEFAULT NULL,
            phone_confirmed_at timestamptz,
            last_sign_in_at timestamptz,
            raw_app_meta_data jsonb,
            raw_user_meta_data jsonb,
            is_super_admin boolean,
            created_at timestamptz DEFAULT now(),
            updated_at timestamptz DEFAULT now(),
            banned_until timestamptz,
            deleted_at timestamptz,
            is_sso_user boolean NOT NULL DEFAULT false,
            is_anonymous boolean NOT NULL DEFAULT false
        );
    END IF;

    IF to_regprocedure('auth.uid()') IS NULL THEN
        CREATE FUNCTION auth.uid() RETURNS uuid
        LANGUAGE sql STABLE SET search_path = '' AS $f$
            SELECT coalesce(
                nullif(current_setting('request.jwt.claim.sub', true), ''),
                (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
            )::uuid
        $f$;
    END IF;
    IF to_regprocedure('auth.role()') IS NULL THEN
        CREATE FUNCTION auth.role() RETURNS text
        LANGUAGE sql STABLE SET search_path = '' AS $f$
            SELECT coalesce(
                nullif(current_setting('request.jwt.claim.role', true), ''),
                (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
            )::text
        $f$;
    END IF;
    IF to_regprocedure('auth.email()') IS NULL THEN
        CREATE FUNCTION auth.email() RETURNS text
        LANGUAGE sql STABLE SET search_path = '' AS $f$
            SELECT coalesce(
                nullif(current_setting('request.jwt.claim.email', true), ''),
                (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
            )::text
        $f$;
    END IF;
    IF to_regprocedure('auth.jwt()') IS NULL THEN
        CREATE FUNCTION auth.jwt() RETURNS jsonb
        LANGUAGE sql STABLE SET search_path = '' AS $f$
            SELECT coalesce(
                nullif(current_setting('request.jwt.claim', true), ''),
                nullif(current_setting('request.jwt.claims', true), '')
            )::jsonb
        $f$;
    END IF;
END
$shim$;

GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
