-- Application and logging settings.
-- Agent activity logging is ON: the record of what each agent did (tokens, cost, duration, outcome) is
-- a purpose of this product. User activity logging stays off.

INSERT INTO admin_config (config_key, config_data) VALUES
('app_settings', '{
    "activeProvider": "google",
    "availableProviders": ["google", "openai", "anthropic"]
}'),
('logging_settings', '{
    "error_logging_enabled": true,
    "user_activity_logging_enabled": false,
    "agent_activity_logging_enabled": true,
    "log_retention_days": {
        "error_logs": 90,
        "user_activity_logs": 30,
        "agent_activity_logs": 7
    },
    "category_toggles": {
        "log_auth_events": true,
        "log_chat_events": true,
        "log_document_events": true,
        "log_admin_events": true,
        "log_vote_events": true,
        "log_file_events": true,
        "log_artifact_events": true,
        "log_ai_operations": true,
        "log_tool_invocations": true,
        "log_code_execution": true
    },
    "performance_settings": {
        "batch_writes": true,
        "batch_size": 100,
        "batch_interval_ms": 5000,
        "async_logging": true,
        "sampling_enabled": false,
        "sampling_rate": 1.0
    },
    "privacy_settings": {
        "anonymize_ip": false,
        "hash_email": false,
        "log_user_agent": true,
        "exclude_sensitive_paths": ["/api/auth/callback"]
    }
}');
