-- The document agent's accept_suggestion and reject_suggestion operations (no model call): their toggles
-- in the seeded document_agent rows, enabled; a row that already has a toggle keeps the admin's value.
update public.admin_config
set config_data = jsonb_set(config_data, '{tools}', (config_data -> 'tools') || jsonb_build_object(
    'acceptSuggestion', coalesce(config_data -> 'tools' -> 'acceptSuggestion', jsonb_build_object(
        'enabled', true,
        'description', 'Apply a saved suggestion to the latest version of its document as a new version.')),
    'rejectSuggestion', coalesce(config_data -> 'tools' -> 'rejectSuggestion', jsonb_build_object(
        'enabled', true,
        'description', 'Dismiss a saved suggestion without changing the document.'))))
where config_key in ('document_agent_google', 'document_agent_openai', 'document_agent_anthropic')
  and jsonb_typeof(config_data -> 'tools') = 'object';

-- The chat model's description of the document agent names the new operations, and its parameters
-- describe `suggestionId`; only the seeded phrase changes, an admin's own text is kept.
update public.admin_config
set config_data = jsonb_set(
    jsonb_set(config_data, '{tools,documentAgent,description}', to_jsonb(replace(
        config_data -> 'tools' -> 'documentAgent' ->> 'description',
        'revert restores an earlier version as a new version (no model call).',
        'revert restores an earlier version as a new version (no model call); accept_suggestion applies '
        || 'a saved suggestion (by suggestionId) as a new version and reject_suggestion dismisses it '
        || '(no model call).'))),
    '{tools,documentAgent,tool_input,suggestionId}',
    '{"parameter_name": "suggestionId", "parameter_description": "UUID of a saved, open suggestion, exactly as returned by suggest. Required for accept_suggestion and reject_suggestion. Never invent an id."}'::jsonb)
where config_key like 'chat_model_agent_%'
  and jsonb_typeof(config_data -> 'tools' -> 'documentAgent' -> 'description') = 'string'
  and jsonb_typeof(config_data -> 'tools' -> 'documentAgent' -> 'tool_input') = 'object';

update public.admin_config
set config_data = jsonb_set(config_data, '{tools,documentAgent,tool_input,operation,parameter_description}',
    to_jsonb(replace(config_data -> 'tools' -> 'documentAgent' -> 'tool_input' -> 'operation'
                       ->> 'parameter_description',
        'The operation to run: create, update, suggest or revert. create needs only instruction; update, '
        || 'suggest and revert need documentId.',
        'The operation to run: create, update, suggest, revert, accept_suggestion or reject_suggestion. '
        || 'create needs only instruction; update, suggest and revert need documentId; accept_suggestion '
        || 'and reject_suggestion need suggestionId.')))
where config_key like 'chat_model_agent_%'
  and jsonb_typeof(config_data -> 'tools' -> 'documentAgent' -> 'tool_input' -> 'operation'
                   -> 'parameter_description') = 'string';
