-- The 14 tables of the seed design. Users live in auth.users; user_id columns are checked by the
-- validate_user_id() trigger (0005) instead of a cross-schema foreign key, as in the seed.
-- Changes from the seed (each one fixes a defect):
--   "Document": the parent reference is (parent_version_id, parent_version_number) -> (id, version_number),
--               so a version can point at its real parent; (id, version_number) is unique.
--   rate_limit_tracking: limit_type also allows 'minute'.

-- Core tables ----------------------------------------------------------------------------------------

CREATE TABLE "Chat" (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    "createdAt" timestamp NOT NULL DEFAULT now(),
    title text NOT NULL,
    user_id uuid NOT NULL,
    visibility varchar(10) NOT NULL DEFAULT 'private' CHECK (visibility IN ('public', 'private')),
    "lastContext" jsonb,
    total_input_tokens integer DEFAULT 0,
    total_output_tokens integer DEFAULT 0,
    total_cost decimal(10, 6) DEFAULT 0,
    updated_at timestamp DEFAULT now()
);

CREATE TABLE "Message_v2" (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    "chatId" uuid NOT NULL REFERENCES "Chat" (id) ON DELETE CASCADE,
    role varchar(20) NOT NULL,
    parts json NOT NULL,
    attachments json NOT NULL DEFAULT '[]',
    "createdAt" timestamp NOT NULL DEFAULT now(),
    model_used varchar(100),
    input_tokens integer,
    output_tokens integer,
    cost decimal(10, 6)
);

CREATE TABLE "Vote_v2" (
    "chatId" uuid NOT NULL REFERENCES "Chat" (id) ON DELETE CASCADE,
    "messageId" uuid NOT NULL REFERENCES "Message_v2" (id) ON DELETE CASCADE,
    "isUpvoted" boolean NOT NULL,
    PRIMARY KEY ("chatId", "messageId")
);

CREATE TABLE "Document" (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    "createdAt" timestamp NOT NULL DEFAULT now(),
    title text NOT NULL,
    content text,
    kind varchar(20) NOT NULL DEFAULT 'text'
        CHECK (kind IN ('text', 'python code', 'mermaid code', 'sheet')),
    user_id uuid NOT NULL,
    chat_id uuid REFERENCES "Chat" (id) ON DELETE CASCADE,
    parent_version_id uuid,
    parent_version_number integer,
    version_number integer NOT NULL DEFAULT 1,
    metadata jsonb DEFAULT '{}',
    PRIMARY KEY (id, "createdAt"),
    CONSTRAINT "Document_id_version_number_key" UNIQUE (id, version_number),
    CONSTRAINT "Document_parent_version_fkey" FOREIGN KEY (parent_version_id, parent_version_number)
        REFERENCES "Document" (id, version_number) ON DELETE SET NULL,
    CONSTRAINT "Document_parent_version_complete"
        CHECK ((parent_version_id IS NULL) = (parent_version_number IS NULL))
);

COMMENT ON TABLE "Document" IS
    'Versioned artifacts (text, python code, mermaid code, sheet). All versions share id; version_number counts 1, 2, 3...';
COMMENT ON COLUMN "Document".parent_version_id IS
    'Document id of the parent version (usually the same id); with parent_version_number it references the parent row';
COMMENT ON COLUMN "Document".parent_version_number IS
    'version_number of the parent version; (parent_version_id, parent_version_number) -> (id, version_number)';
COMMENT ON COLUMN "Document".metadata IS 'Version metadata: update type, agent, model, previous/reverted versions';

CREATE TABLE "Suggestion" (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    "documentId" uuid NOT NULL,
    "documentCreatedAt" timestamp NOT NULL,
    "originalText" text NOT NULL,
    "suggestedText" text NOT NULL,
    description text,
    "isResolved" boolean NOT NULL DEFAULT false,
    user_id uuid NOT NULL,
    "createdAt" timestamp NOT NULL DEFAULT now(),
    FOREIGN KEY ("documentId", "documentCreatedAt") REFERENCES "Document" (id, "createdAt") ON DELETE CASCADE
);

CREATE TABLE "Stream" (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    "chatId" uuid NOT NULL REFERENCES "Chat" (id) ON DELETE CASCADE,
    "createdAt" timestamp NOT NULL DEFAULT now()
);

-- Admin and analytics tables -------------------------------------------------------------------------

CREATE TABLE admin_config (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    config_key varchar(100) NOT NULL UNIQUE,
    config_data jsonb NOT NULL,
    updated_by uuid,
    updated_at timestamp DEFAULT now(),
    created_at timestamp DEFAULT now()
);

CREATE TABLE model_config (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    model_id varchar(100) NOT NULL UNIQUE,
    name varchar(200) NOT NULL,
    description text,
    provider varchar(50) NOT NULL CHECK (provider IN ('google', 'openai', 'anthropic')),
    is_active boolean DEFAULT true,
    is_default boolean DEFAULT false,
    thinking_enabled boolean DEFAULT true,
    input_pricing_per_million_tokens decimal(10, 4) NOT NULL,
    output_pricing_per_million_tokens decimal(10, 4) NOT NULL,
    metadata jsonb DEFAULT '{}',
    created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now()
);

CREATE TABLE usage_logs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL,
    chat_id uuid REFERENCES "Chat" (id) ON DELETE SET NULL,
    agent_type varchar(50) NOT NULL,
    model_used varchar(100),
    provider varchar(50),
    input_tokens integer,
    output_tokens integer,
    total_tokens integer,
    input_cost decimal(10, 6),
    output_cost decimal(10, 6),
    total_cost decimal(10, 6),
    request_timestamp timestamp DEFAULT now(),
    response_timestamp timestamp,
    duration_ms integer,
    metadata jsonb
);

CREATE TABLE rate_limit_tracking (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL,
    agent_type varchar(50) NOT NULL,
    period_start timestamp NOT NULL,
    period_end timestamp NOT NULL,
    request_count integer DEFAULT 0,
    limit_type varchar(20) NOT NULL CHECK (limit_type IN ('minute', 'hourly', 'daily')),
    limit_value integer NOT NULL,
    created_at timestamp DEFAULT now()
);

CREATE TABLE github_repositories (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL,
    repo_owner varchar(100) NOT NULL,
    repo_name varchar(100) NOT NULL,
    repo_url text,
    default_branch varchar(100) DEFAULT 'main',
    is_active boolean DEFAULT true,
    last_accessed timestamp,
    created_at timestamp DEFAULT now()
);

CREATE TABLE error_logs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid,
    error_type varchar(50) NOT NULL
        CHECK (error_type IN ('auth', 'api', 'admin', 'app', 'user', 'permission', 'system')),
    error_category varchar(100) NOT NULL,
    error_message text NOT NULL,
    error_details jsonb,
    request_path varchar(500),
    request_method varchar(10),
    user_agent text,
    ip_address varchar(45),
    session_id varchar(100),
    severity varchar(20) NOT NULL DEFAULT 'error' CHECK (severity IN ('info', 'warning', 'error', 'critical')),
    resolved boolean DEFAULT false,
    resolved_by uuid,
    resolved_at timestamp,
    resolution_notes text,
    created_at timestamp DEFAULT now()
);

-- Activity logging tables ----------------------------------------------------------------------------

CREATE TABLE user_activity_logs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL,
    correlation_id uuid NOT NULL,
    activity_type varchar(50) NOT NULL CHECK (activity_type IN (
        'auth_login', 'auth_logout', 'auth_register',
        'chat_create', 'chat_view', 'chat_delete', 'chat_message_send',
        'document_create', 'document_view', 'document_update', 'document_delete',
        'admin_config_update', 'admin_dashboard_view', 'admin_provider_view',
        'vote_message', 'suggestion_view',
        'file_upload', 'artifact_create', 'artifact_execute',
        'model_selection', 'history_access', 'history_delete'
    )),
    activity_category varchar(50) NOT NULL CHECK (activity_category IN (
        'authentication', 'chat', 'document', 'admin', 'vote', 'file', 'artifact', 'history'
    )),
    activity_metadata jsonb DEFAULT '{}',
    resource_id uuid,
    resource_type varchar(50),
    ip_address varchar(45),
    user_agent text,
    request_path varchar(500),
    request_method varchar(10),
    session_id varchar(100),
    success boolean DEFAULT true,
    error_message text,
    created_at timestamp DEFAULT now()
);

CREATE TABLE agent_activity_logs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid,
    correlation_id uuid NOT NULL,
    agent_type varchar(50) NOT NULL CHECK (agent_type IN (
        'chat_model_agent', 'provider_tools_agent', 'document_agent',
        'python_agent', 'mermaid_agent', 'git_mcp_agent'
    )),
    operation_type varchar(50) NOT NULL CHECK (operation_type IN (
        'initialization', 'tool_invocation', 'code_generation',
        'document_generation', 'diagram_generation', 'code_execution',
        'search', 'url_fetch', 'mcp_operation', 'streaming'
    )),
    operation_category varchar(50) NOT NULL CHECK (operation_category IN (
        'generation', 'execution', 'tool_use', 'streaming', 'configuration'
    )),
    operation_metadata jsonb DEFAULT '{}',
    resource_id uuid,
    resource_type varchar(50),
    duration_ms integer,
    start_time timestamp,
    end_time timestamp,
    model_id varchar(100),
    provider varchar(50),
    thinking_mode boolean DEFAULT false,
    input_tokens integer,
    output_tokens integer,
    reasoning_tokens integer,
    total_tokens integer,
    input_cost decimal(10, 6),
    output_cost decimal(10, 6),
    total_cost decimal(10, 6),
    success boolean DEFAULT true,
    error_type varchar(100),
    error_message text,
    retry_count integer DEFAULT 0,
    created_at timestamp DEFAULT now()
);

COMMENT ON COLUMN agent_activity_logs.correlation_id IS 'Links this agent operation to related user activity';
COMMENT ON COLUMN agent_activity_logs.reasoning_tokens IS 'Tokens spent on thinking/reasoning, when the model reports them';
