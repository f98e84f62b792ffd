-- Live (not deleted) secrets per project, kept by a trigger, so that the total of an
-- unfiltered secrets list does not count the project's rows: total = live - the live ones
-- already expired (an index range over ix_secrets_live_count, as long as the
-- expired-but-undeleted rows). Rows per (project, shard) are summed; a transaction writes the
-- shard of its backend (pg_backend_pid() % 16), so concurrent creates in one project rarely
-- wait on the same row, and one transaction never locks two shards of a project (no
-- deadlock between them).
-- No secret written by another server between the backfill and the trigger goes uncounted:
-- writers wait for this migration's transaction.
LOCK TABLE secrets IN SHARE ROW EXCLUSIVE MODE;
CREATE TABLE secret_counts (
    project_id VARCHAR(255) NOT NULL,
    shard INTEGER NOT NULL,
    live BIGINT NOT NULL,
    PRIMARY KEY (project_id, shard)
);
INSERT INTO secret_counts (project_id, shard, live)
SELECT project_id, 0, COUNT(*) FROM secrets WHERE deleted_at IS NULL GROUP BY project_id;

CREATE FUNCTION secret_counts_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.deleted_at IS NULL
       AND (TG_OP = 'DELETE' OR NEW.deleted_at IS NOT NULL OR NEW.project_id <> OLD.project_id) THEN
        INSERT INTO secret_counts (project_id, shard, live) VALUES (OLD.project_id, pg_backend_pid() % 16, -1)
        ON CONFLICT (project_id, shard) DO UPDATE SET live = secret_counts.live - 1;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.deleted_at IS NULL
       AND (TG_OP = 'INSERT' OR OLD.deleted_at IS NOT NULL OR NEW.project_id <> OLD.project_id) THEN
        INSERT INTO secret_counts (project_id, shard, live) VALUES (NEW.project_id, pg_backend_pid() % 16, 1)
        ON CONFLICT (project_id, shard) DO UPDATE SET live = secret_counts.live + 1;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER tr_secret_counts AFTER INSERT OR DELETE OR UPDATE OF deleted_at, project_id ON secrets
FOR EACH ROW EXECUTE FUNCTION secret_counts_track();
