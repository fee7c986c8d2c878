-- Triggers of the seed design.

-- Cascade a deleted auth user to their rows.
CREATE TRIGGER on_auth_user_deleted
    BEFORE DELETE ON auth.users
    FOR EACH ROW EXECUTE FUNCTION public.handle_auth_user_deletion();

-- user_id must exist in auth.users.
CREATE TRIGGER validate_chat_user_id
    BEFORE INSERT OR UPDATE ON "Chat"
    FOR EACH ROW EXECUTE FUNCTION public.validate_user_id();
CREATE TRIGGER validate_document_user_id
    BEFORE INSERT OR UPDATE ON "Document"
    FOR EACH ROW EXECUTE FUNCTION public.validate_user_id();
CREATE TRIGGER validate_suggestion_user_id
    BEFORE INSERT OR UPDATE ON "Suggestion"
    FOR EACH ROW EXECUTE FUNCTION public.validate_user_id();
CREATE TRIGGER validate_usage_logs_user_id
    BEFORE INSERT OR UPDATE ON usage_logs
    FOR EACH ROW EXECUTE FUNCTION public.validate_user_id();
CREATE TRIGGER validate_rate_limit_user_id
    BEFORE INSERT OR UPDATE ON rate_limit_tracking
    FOR EACH ROW EXECUTE FUNCTION public.validate_user_id();
CREATE TRIGGER validate_github_repos_user_id
    BEFORE INSERT OR UPDATE ON github_repositories
    FOR EACH ROW EXECUTE FUNCTION public.validate_user_id();

-- updated_at maintenance.
CREATE TRIGGER trigger_admin_config_updated_at
    BEFORE UPDATE ON admin_config
    FOR EACH ROW EXECUTE FUNCTION public.update_admin_config_timestamp();
CREATE TRIGGER trigger_model_config_updated_at
    BEFORE UPDATE ON model_config
    FOR EACH ROW EXECUTE FUNCTION public.update_model_config_timestamp();

-- Validation.
CREATE TRIGGER trigger_validate_admin_config
    BEFORE INSERT OR UPDATE ON admin_config
    FOR EACH ROW EXECUTE FUNCTION public.validate_admin_config_data();
-- DELETE too: the default model of a provider cannot be deleted while the provider has other models.
CREATE TRIGGER trigger_ensure_single_default_model
    BEFORE INSERT OR UPDATE OR DELETE ON model_config
    FOR EACH ROW EXECUTE FUNCTION public.ensure_single_default_model_per_provider();
