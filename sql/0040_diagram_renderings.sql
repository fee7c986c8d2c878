-- Diagram renderings: the SVG Mermaid drew for a saved diagram version, kept with the version.
--
--   document_renderings                  one row per (document id, version) that has a drawing; written in the
--                                        same statement as the version (artificer_save_rendered_version), so a
--                                        version and its drawing are saved together or not at all; deleted with
--                                        the version (ON DELETE CASCADE). The PNG is made on demand from it.
--   artificer_save_rendered_version(...) artificer_save_document_version plus the SVG: one round trip, as the
--                                        caller (role authenticated, the caller's claims, RLS), server-only.
--
-- Ownership follows "Document": a rendering carries its version's user_id, and RLS shows a user only their
-- own (another user's is simply not found); inserting one needs the version to be the caller's.

CREATE TABLE public.document_renderings (
    document_id uuid NOT NULL,
    version_number integer NOT NULL,
    user_id uuid NOT NULL,
    svg text NOT NULL,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT document_renderings_pkey PRIMARY KEY (document_id, version_number),
    CONSTRAINT document_renderings_version_fkey FOREIGN KEY (document_id, version_number)
        REFERENCES "Document" (id, version_number) ON DELETE CASCADE
);

COMMENT ON TABLE public.document_renderings IS
    'The SVG Mermaid drew for a diagram version ("Document" row), saved with the version; PNG is made on demand.';

CREATE INDEX idx_document_renderings_user ON public.document_renderings (user_id);

ALTER TABLE public.document_renderings ENABLE ROW LEVEL SECURITY;

CREATE POLICY "Users can read own renderings" ON public.document_renderings
    FOR SELECT TO authenticated USING ((SELECT auth.uid()) = user_id);
-- The version must be the caller's too: a rendering is never attached to another user's version.
CREATE POLICY "Users can create own renderings" ON public.document_renderings
    FOR INSERT TO authenticated WITH CHECK (
        (SELECT auth.uid()) = user_id AND public.artificer_owns_document(document_id));
CREATE POLICY "Users can delete own renderings" ON public.document_renderings
    FOR DELETE TO authenticated USING ((SELECT auth.uid()) = user_id);

REVOKE ALL ON public.document_renderings FROM PUBLIC, anon;
GRANT SELECT, INSERT, DELETE ON public.document_renderings TO authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON public.document_renderings TO service_role;

CREATE FUNCTION public.artificer_save_rendered_version(
    p_claims jsonb,
    p_id uuid,
    p_title text,
    p_kind text,
    p_content text,
    p_metadata jsonb,
    p_expected_version integer,
    p_chat_id uuid,
    p_svg text
) RETURNS "Document"
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = public, pg_temp
AS $$
DECLARE
    v_row "Document";
BEGIN
    IF p_claims IS NULL OR coalesce(p_claims ->> 'sub', '') = '' THEN
        RAISE EXCEPTION 'p_claims must carry the caller''s sub' USING ERRCODE = 'ART03';
    END IF;
    IF p_svg IS NULL OR p_svg = '' THEN
        RAISE EXCEPTION 'a rendered version needs its SVG' USING ERRCODE = 'ART03';
    END IF;
    PERFORM set_config('request.jwt.claims', p_claims::text, true);
    v_row := public.artificer_append_document_version(
        p_id, p_title, p_kind, p_content, p_metadata, p_expected_version, p_chat_id);
    INSERT INTO public.document_renderings (document_id, version_number, user_id, svg)
    VALUES (v_row.id, v_row.version_number, v_row.user_id, p_svg);
    RETURN v_row;
END;
$$;

COMMENT ON FUNCTION public.artificer_save_rendered_version(jsonb, uuid, text, text, text, jsonb, integer, uuid, text) IS
    'Server-only, one round trip: stores a document version and its SVG rendering as the user the claims name '
    '(role authenticated, RLS applies; both end when it returns). Never granted to anon/authenticated.';

-- As for artificer_save_document_version (0031): the SET clause is added by ALTER, after the body was checked.
ALTER FUNCTION public.artificer_save_rendered_version(jsonb, uuid, text, text, text, jsonb, integer, uuid, text)
    SET role = 'authenticated';
ALTER FUNCTION public.artificer_save_rendered_version(jsonb, uuid, text, text, text, jsonb, integer, uuid, text)
    SET "request.jwt.claims" = '';

REVOKE ALL ON FUNCTION public.artificer_save_rendered_version(jsonb, uuid, text, text, text, jsonb, integer, uuid, text)
    FROM PUBLIC, anon, authenticated;
