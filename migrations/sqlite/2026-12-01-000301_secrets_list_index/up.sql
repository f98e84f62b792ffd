-- The secrets list and its total, whatever the project's size (live rows are deleted_at IS
-- NULL; the list also drops expired ones):
-- * the page: after the project and deletion, in the list's default order (created_at, id),
--   with the expiry it filters on: the first rows of one index range, no sort, no look-up of
--   rows that the filter drops;
-- * the total (and the secrets quota's count): an index-only count over the narrow
--   (project_id, deleted_at, expiration), a third of the wide index's bytes.
-- They replace ix_secrets_project (project_id, deleted_at, created_at), a prefix of the first.
CREATE INDEX ix_secrets_live ON secrets (project_id, deleted_at, created_at, id, expiration);
CREATE INDEX ix_secrets_live_count ON secrets (project_id, deleted_at, expiration);
DROP INDEX ix_secrets_project;
