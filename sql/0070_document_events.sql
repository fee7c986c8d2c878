-- Resource events: every new version of a document (version 1 of a new one, or the next version of an
-- existing one) is announced on the `artificer_documents` channel, committed or not at all (NOTIFY is
-- transactional). Every server replica LISTENs and tells the owner's own sessions: the list of their
-- artifacts changed, and `artifact://{id}` (the latest version) was updated.
-- Payload: {"user": owner uuid, "id": document uuid, "version": version number}.

create or replace function public.artificer_notify_document_version()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform pg_notify(
    'artificer_documents',
    json_build_object('user', new.user_id, 'id', new.id, 'version', new.version_number)::text
  );
  return null;
end;
$$;

drop trigger if exists artificer_document_version_event on public."Document";
create trigger artificer_document_version_event
  after insert on public."Document"
  for each row execute function public.artificer_notify_document_version();

-- The document agent's operation is `suggest`; the seeded descriptions said "suggestion", a name the
-- tool's `operation` enum does not accept. Only the seeded phrases change; an admin's own text is kept.
update public.admin_config
set config_data = replace(replace(replace(replace(replace(replace(config_data::text,
    'create, update, suggestion or revert', 'create, update, suggest or revert'),
    'update, suggestion and revert need documentId', 'update, suggest and revert need documentId'),
    'Required for update, suggestion and revert', 'Required for update, suggest and revert'),
    '; suggestion proposes 3-7 concrete edits', '; suggest proposes 3-7 concrete edits'),
    '. suggestion: what the suggestions should focus on', '. suggest: what the suggestions should focus on'),
    '(create, update, suggestion, revert)', '(create, update, suggest, revert)')::jsonb
where config_key like 'chat_model_agent_%'
  and config_data::text like '%suggestion%';
