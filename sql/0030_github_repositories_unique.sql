-- One github_repositories row per user and repository (owner/name compared case-insensitively, as
-- GitHub compares them), so concurrent calls cannot add the same repository twice and the storage
-- layer can insert with ON CONFLICT.
--
-- Rows duplicated before this migration are merged first: the most recently used row of each group
-- is kept (active rows first), the others are deleted.

DELETE FROM github_repositories AS r
USING (
    SELECT id,
           row_number() OVER (
               PARTITION BY user_id, lower(repo_owner), lower(repo_name)
               ORDER BY is_active IS TRUE DESC, last_accessed DESC NULLS LAST, created_at DESC NULLS LAST, id
           ) AS position
    FROM github_repositories
) AS ranked
WHERE r.id = ranked.id AND ranked.position > 1;

CREATE UNIQUE INDEX github_repositories_user_repo_key
    ON github_repositories (user_id, lower(repo_owner), lower(repo_name));
