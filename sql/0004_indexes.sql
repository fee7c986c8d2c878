-- Indexes named by the seed design, plus two unique indexes that make concurrent writes safe:
--   rate_limit_tracking_window_key: one counter row per (user, agent, window kind, window start), so a
--     single INSERT ... ON CONFLICT DO UPDATE counts a fixed window atomically.
--   model_config_one_default_per_provider: at most one default model per provider, even when two
--     transactions move the default at the same time.

-- Log tables (usage_logs, user_activity_logs, agent_activity_logs; error_logs is low volume and keeps the
-- seed's btrees) are append-only and time-ordered, and the log writer COPYs into them in batches. Every
-- named index exists, each serving its stated purpose, but shaped so that an append costs little:
--   * "by date" indexes are BRIN on the time column: rows arrive in time order, so a block range's min/max
--     serves date-range scans (and the retention DELETE) at almost no insert cost;
--   * btrees with a time column put it ASCENDING (a backward scan gives newest-first): an increasing key
--     then lands at the right end of its group instead of splitting pages at the left;
--   * a single-column index that is the leading column of a named composite is not built twice: the
--     composite serves the plain filter, and the named index keeps a form the composite does not cover
--     (a bloom BRIN on the user, or a partial index on failures, where a filter on a 5-10 value column is
--     actually selective);
--   * success/failure filters index the failures (success is true for almost every row);
--   * lookups by a random uuid (correlation, resource) are equality only: hash indexes, smaller than a
--     btree on random keys.

-- Chat
CREATE INDEX idx_chat_user_id ON "Chat" (user_id);
CREATE INDEX idx_chat_user_created ON "Chat" (user_id, "createdAt" DESC);

-- Message_v2
CREATE INDEX idx_message_chat ON "Message_v2" ("chatId", "createdAt" ASC);

-- Document
CREATE INDEX idx_document_user_id ON "Document" (user_id);
CREATE INDEX idx_document_user ON "Document" (user_id, "createdAt" DESC);
CREATE INDEX idx_document_versions ON "Document" (id, version_number DESC);
CREATE INDEX idx_document_chat ON "Document" (chat_id, "createdAt" DESC);
CREATE INDEX idx_document_parent ON "Document" (parent_version_id, parent_version_number);
CREATE INDEX idx_document_kind ON "Document" (kind, "createdAt" DESC);

-- Suggestion
CREATE INDEX idx_suggestion_user_id ON "Suggestion" (user_id);

-- usage_logs
CREATE INDEX idx_usage_logs_user_id ON usage_logs USING brin (user_id uuid_bloom_ops);
CREATE INDEX idx_usage_logs_user_timestamp ON usage_logs (user_id, request_timestamp);
CREATE INDEX idx_usage_logs_agent_timestamp ON usage_logs (agent_type, request_timestamp);
CREATE INDEX idx_usage_logs_date_range ON usage_logs USING brin (request_timestamp);
CREATE INDEX idx_usage_logs_model_provider ON usage_logs (model_used, provider, request_timestamp);
CREATE INDEX idx_usage_logs_date_agent ON usage_logs USING brin ((request_timestamp::date), agent_type text_bloom_ops);
CREATE INDEX idx_usage_logs_cost_date ON usage_logs USING brin (request_timestamp, total_cost)
    WHERE total_cost IS NOT NULL;

-- rate_limit_tracking
CREATE INDEX idx_rate_limit_user_id ON rate_limit_tracking (user_id);
CREATE INDEX idx_rate_limit_user_agent ON rate_limit_tracking (user_id, agent_type, period_start);
CREATE INDEX idx_rate_limit_user_agent_period
    ON rate_limit_tracking (user_id, agent_type, period_start DESC, period_end DESC);
CREATE UNIQUE INDEX rate_limit_tracking_window_key
    ON rate_limit_tracking (user_id, agent_type, limit_type, period_start);

-- github_repositories
CREATE INDEX idx_github_repos_user_id ON github_repositories (user_id);
CREATE INDEX idx_github_repos_user ON github_repositories (user_id, is_active);
CREATE INDEX idx_github_repos_user_active ON github_repositories (user_id, is_active, last_accessed DESC);

-- error_logs
CREATE INDEX idx_error_logs_user_id ON error_logs (user_id);
CREATE INDEX idx_error_logs_error_type ON error_logs (error_type);
CREATE INDEX idx_error_logs_error_category ON error_logs (error_category);
CREATE INDEX idx_error_logs_severity ON error_logs (severity);
CREATE INDEX idx_error_logs_created_at ON error_logs (created_at DESC);
CREATE INDEX idx_error_logs_resolved ON error_logs (resolved);
CREATE INDEX idx_error_logs_user_created ON error_logs (user_id, created_at DESC);
CREATE INDEX idx_error_logs_type_severity ON error_logs (error_type, severity);

-- admin_config
CREATE INDEX idx_admin_config_key ON admin_config (config_key);
CREATE INDEX idx_admin_config_updated ON admin_config (updated_at DESC);

-- model_config
CREATE INDEX idx_model_config_model_id ON model_config (model_id);
CREATE INDEX idx_model_config_provider ON model_config (provider);
CREATE INDEX idx_model_config_provider_active ON model_config (provider, is_active);
CREATE INDEX idx_model_config_provider_default ON model_config (provider, is_default) WHERE is_default = true;
CREATE INDEX idx_model_config_active ON model_config (is_active) WHERE is_active = true;
CREATE UNIQUE INDEX model_config_one_default_per_provider ON model_config (provider) WHERE is_default;

-- user_activity_logs
CREATE INDEX idx_user_activity_user_id ON user_activity_logs USING brin (user_id uuid_bloom_ops);
CREATE INDEX idx_user_activity_correlation ON user_activity_logs (correlation_id);
CREATE INDEX idx_user_activity_type ON user_activity_logs (activity_type, created_at) WHERE NOT success;
CREATE INDEX idx_user_activity_category ON user_activity_logs (activity_category, created_at) WHERE NOT success;
CREATE INDEX idx_user_activity_created ON user_activity_logs USING brin (created_at);
CREATE INDEX idx_user_activity_user_created ON user_activity_logs (user_id, created_at);
CREATE INDEX idx_user_activity_resource ON user_activity_logs USING hash (resource_id)
    WHERE resource_id IS NOT NULL;
CREATE INDEX idx_user_activity_success ON user_activity_logs (success, created_at) WHERE NOT success;
CREATE INDEX idx_user_activity_user_type_date ON user_activity_logs (activity_type, user_id, created_at);

-- agent_activity_logs
CREATE INDEX idx_agent_activity_user_id ON agent_activity_logs (user_id, created_at);
CREATE INDEX idx_agent_activity_correlation ON agent_activity_logs USING hash (correlation_id);
CREATE INDEX idx_agent_activity_agent_type ON agent_activity_logs (agent_type, created_at) WHERE NOT success;
CREATE INDEX idx_agent_activity_operation ON agent_activity_logs (operation_type, created_at) WHERE NOT success;
CREATE INDEX idx_agent_activity_category ON agent_activity_logs (operation_category, created_at)
    WHERE NOT success;
CREATE INDEX idx_agent_activity_created ON agent_activity_logs USING brin (created_at);
CREATE INDEX idx_agent_activity_model ON agent_activity_logs (model_id, provider);
CREATE INDEX idx_agent_activity_success ON agent_activity_logs (success, created_at) WHERE NOT success;
CREATE INDEX idx_agent_activity_resource ON agent_activity_logs USING hash (resource_id)
    WHERE resource_id IS NOT NULL;
CREATE INDEX idx_agent_activity_duration ON agent_activity_logs USING brin (created_at, duration_ms)
    WHERE duration_ms IS NOT NULL;
CREATE INDEX idx_agent_activity_cost ON agent_activity_logs USING brin (created_at, total_cost)
    WHERE total_cost IS NOT NULL;
CREATE INDEX idx_agent_activity_agent_op_date ON agent_activity_logs (agent_type, operation_type, created_at);