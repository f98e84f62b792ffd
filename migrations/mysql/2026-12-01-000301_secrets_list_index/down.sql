CREATE INDEX ix_secrets_project ON secrets (project_id, deleted_at, created_at);
DROP INDEX ix_secrets_live_count ON secrets;
DROP INDEX ix_secrets_live ON secrets;
