-- The secrets list and its total, whatever the project's size (live rows are deleted_at IS
-- NULL; the list also drops expired ones). Partial indexes: PostgreSQL does not take an
-- `IS NULL` index condition as fixing the column for the ORDER BY, so a deleted_at key column
-- would leave the page to a sort of every live row.
-- * the page: the project's live rows in the list's default order (created_at, id), with the
--   expiry it filters on: the first rows of one index range, no sort, no look-up of rows that
--   the filter drops;
-- * the total (and the secrets quota's count): an index-only count over the narrow
--   (project_id, expiration).
-- ix_secrets_project stays for what reads a project's rows regardless of deletion (KEK
-- rotation).
CREATE INDEX ix_secrets_live ON secrets (project_id, created_at, id, expiration) WHERE deleted_at IS NULL;
CREATE INDEX ix_secrets_live_count ON secrets (project_id, expiration) WHERE deleted_at IS NULL;
