"""Every database object `artificer db verify` checks, by name.

TABLES, FUNCTIONS and INDEXES are names in schema public; TRIGGERS are (schema, table, trigger);
POLICIES are (table, policy) in public; SEED_CHECKS are (label, SQL returning one boolean).
"""

AGENT_TYPES: tuple[str, ...] = (
    "chat_model_agent",
    "provider_tools_agent",
    "document_agent",
    "python_agent",
    "mermaid_agent",
    "git_mcp_agent",
)
PROVIDERS: tuple[str, ...] = ("google", "openai", "anthropic")

TABLES: tuple[str, ...] = (
    "Chat",
    "Message_v2",
    "Vote_v2",
    "Document",
    "Suggestion",
    "Stream",
    "admin_config",
    "model_config",
    "usage_logs",
    "rate_limit_tracking",
    "github_repositories",
    "error_logs",
    "user_activity_logs",
    "agent_activity_logs",
    "document_renderings",
)

FUNCTIONS: tuple[str, ...] = (
    # the seed's 13
    "get_user_role",
    "validate_user_id",
    "handle_auth_user_deletion",
    "get_current_user_usage_summary",
    "is_current_user_admin",
    "update_admin_config_timestamp",
    "update_model_config_timestamp",
    "ensure_single_default_model_per_provider",
    "validate_admin_config_data",
    "get_logging_config",
    "is_user_activity_logging_enabled",
    "is_agent_activity_logging_enabled",
    "purge_old_activity_logs",
    # admin_config validation parts, and the hot-reload notifier
    "check_admin_config",
    "admin_config_problem",
    "admin_config_expect",
    "admin_config_fail",
    "notify_config_change",
    # the storage layer: one-statement document store, the rate limiter, the Document policy helper
    "artificer_owns_document",
    "artificer_check_document_owner",
    "artificer_append_document_version",
    "artificer_save_document_version",
    "artificer_rate_limit_check_and_count",
    # diagram renderings saved with their version (0040)
    "artificer_save_rendered_version",
    # admin tools: the audit row of an admin change (0050)
    "artificer_log_admin_change",
    # monthly log partitions and retention by partition (0060)
    "artificer_log_partition_key",
    "artificer_seal_log_partition",
    "artificer_ensure_log_partition",
    "artificer_ensure_log_partitions",
    "artificer_purge_logs",
    # resource events: each new document version NOTIFYs artificer_documents (0070)
    "artificer_notify_document_version",
)

INDEXES: tuple[str, ...] = (
    "idx_chat_user_id",
    "idx_chat_user_created",
    "idx_message_chat",
    "idx_document_user_id",
    "idx_document_user",
    "idx_document_versions",
    "idx_document_chat",
    "idx_document_parent",
    "idx_document_kind",
    "idx_suggestion_user_id",
    "idx_usage_logs_user_id",
    "idx_usage_logs_user_timestamp",
    "idx_usage_logs_agent_timestamp",
    "idx_usage_logs_date_range",
    "idx_usage_logs_model_provider",
    "idx_usage_logs_date_agent",
    "idx_usage_logs_cost_date",
    "idx_rate_limit_user_id",
    "idx_rate_limit_user_agent",
    "idx_rate_limit_user_agent_period",
    "rate_limit_tracking_window_key",
    "idx_github_repos_user_id",
    "idx_github_repos_user",
    "idx_github_repos_user_active",
    "github_repositories_user_repo_key",
    "idx_error_logs_user_id",
    "idx_error_logs_error_type",
    "idx_error_logs_error_category",
    "idx_error_logs_severity",
    "idx_error_logs_created_at",
    "idx_error_logs_resolved",
    "idx_error_logs_user_created",
    "idx_error_logs_type_severity",
    "idx_admin_config_key",
    "idx_admin_config_updated",
    "idx_model_config_model_id",
    "idx_model_config_provider",
    "idx_model_config_provider_active",
    "idx_model_config_provider_default",
    "idx_model_config_active",
    "model_config_one_default_per_provider",
    "idx_user_activity_user_id",
    "idx_user_activity_correlation",
    "idx_user_activity_type",
    "idx_user_activity_category",
    "idx_user_activity_created",
    "idx_user_activity_user_created",
    "idx_user_activity_resource",
    "idx_user_activity_success",
    "idx_user_activity_user_type_date",
    "idx_agent_activity_user_id",
    "idx_agent_activity_correlation",
    "idx_agent_activity_agent_type",
    "idx_agent_activity_operation",
    "idx_agent_activity_category",
    "idx_agent_activity_created",
    "idx_agent_activity_model",
    "idx_agent_activity_success",
    "idx_agent_activity_resource",
    "idx_agent_activity_duration",
    "idx_agent_activity_cost",
    "idx_agent_activity_agent_op_date",
    "document_renderings_pkey",
    "idx_document_renderings_user",
)

TRIGGERS: tuple[tuple[str, str, str], ...] = (
    ("auth", "users", "on_auth_user_deleted"),
    ("public", "Chat", "validate_chat_user_id"),
    ("public", "Document", "validate_document_user_id"),
    ("public", "Document", "artificer_document_one_owner"),
    ("public", "Document", "artificer_document_version_event"),
    ("public", "Suggestion", "validate_suggestion_user_id"),
    ("public", "usage_logs", "validate_usage_logs_user_id"),
    ("public", "rate_limit_tracking", "validate_rate_limit_user_id"),
    ("public", "github_repositories", "validate_github_repos_user_id"),
    ("public", "admin_config", "trigger_admin_config_updated_at"),
    ("public", "model_config", "trigger_model_config_updated_at"),
    ("public", "admin_config", "trigger_validate_admin_config"),
    ("public", "model_config", "trigger_ensure_single_default_model"),
    ("public", "admin_config", "artificer_admin_config_notify"),
    ("public", "model_config", "artificer_model_config_notify"),
)

POLICIES: tuple[tuple[str, str], ...] = (
    ("Chat", "Users can read own chats"),
    ("Chat", "Users can create own chats"),
    ("Chat", "Users can update own chats"),
    ("Chat", "Users can delete own chats"),
    ("Chat", "Admins can read all chats"),
    ("Message_v2", "Users can read own messages"),
    ("Message_v2", "Users can create messages in own chats"),
    ("Vote_v2", "Users can vote on messages in own chats"),
    ("Document", "Users can read own documents"),
    ("Document", "Users can create own documents"),
    ("Document", "Users can update own documents"),
    ("Document", "Users can delete own documents"),
    ("document_renderings", "Users can read own renderings"),
    ("document_renderings", "Users can create own renderings"),
    ("document_renderings", "Users can delete own renderings"),
    ("Suggestion", "Users can read own suggestions"),
    ("Suggestion", "Users can create own suggestions"),
    ("Suggestion", "Users can update own suggestions"),
    ("Stream", "Users can access streams in own chats"),
    ("admin_config", "Admins can read admin_config"),
    ("admin_config", "Admins can update admin_config"),
    ("model_config", "Authenticated users can read model_config"),
    ("model_config", "Admins can manage model_config"),
    ("usage_logs", "Users can read own usage_logs"),
    ("usage_logs", "Admins can read all usage_logs"),
    ("usage_logs", "System can create usage_logs"),
    ("rate_limit_tracking", "Users can read own rate_limits"),
    ("rate_limit_tracking", "System can manage rate_limits"),
    ("github_repositories", "Users can manage own repositories"),
    ("error_logs", "Users can read own error_logs"),
    ("error_logs", "Admins can read all error_logs"),
    ("error_logs", "Admins can update error_logs"),
    ("error_logs", "System can insert error_logs"),
    ("user_activity_logs", "Users can read own activity logs"),
    ("user_activity_logs", "Admins can read all activity logs"),
    ("user_activity_logs", "System can insert activity logs"),
    ("agent_activity_logs", "Users can read own agent logs"),
    ("agent_activity_logs", "Admins can read all agent logs"),
    ("agent_activity_logs", "System can insert agent logs"),
)

SEEDED_CONFIG_KEYS: tuple[str, ...] = (
    "app_settings",
    "logging_settings",
    *(f"{agent}_{provider}" for provider in PROVIDERS for agent in AGENT_TYPES),
)

SEEDED_MODELS: tuple[str, ...] = (
    "gemini-2.0-flash",
    "gemini-2.5-flash",
    "gemini-2.5-pro",
    "gemma-3",
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4-turbo",
    "claude-3-5-sonnet-20241022",
    "claude-3-5-haiku-20241022",
    "claude-3-opus-20240229",
)

SEED_CHECKS: tuple[tuple[str, str], ...] = (
    (
        "the log tables are partitioned by month (0060)",
        "select count(*) = 4 from pg_partitioned_table where partrelid in ('public.usage_logs'::regclass,"
        " 'public.error_logs'::regclass, 'public.user_activity_logs'::regclass,"
        " 'public.agent_activity_logs'::regclass)",
    ),
    *(
        (f"admin_config {key}", f"select exists(select 1 from admin_config where config_key = '{key}')")
        for key in SEEDED_CONFIG_KEYS
    ),
    *(
        (f"model_config {model}", f"select exists(select 1 from model_config where model_id = '{model}')")
        for model in SEEDED_MODELS
    ),
    (
        "exactly one default model per provider",
        "select count(*) = 3 and bool_and(defaults = 1) from ("
        " select p.provider, count(m.id) as defaults"
        " from unnest(array['google', 'openai', 'anthropic']) as p(provider)"
        " left join model_config m on m.provider = p.provider and m.is_default"
        " group by p.provider) as d",
    ),
    (
        "every admin_config row passes validation",
        "select coalesce(bool_and(admin_config_problem(config_key, config_data) is null), false)"
        " from admin_config",
    ),
    (
        "active provider has an enabled chat model agent",
        "select exists(select 1 from admin_config s join admin_config a"
        " on a.config_key = 'chat_model_agent_' || (s.config_data ->> 'activeProvider')"
        " where s.config_key = 'app_settings' and (a.config_data -> 'enabled') = 'true'::jsonb)",
    ),
    (
        "artificer_save_document_version switches role and claims for its own duration only",
        "select coalesce(proconfig @> array['role=authenticated', 'request.jwt.claims='], false)"
        " from pg_proc where oid = 'public.artificer_save_document_version(jsonb, uuid, text, text, text,"
        " jsonb, integer, uuid)'::regprocedure",
    ),
)
