-- Live (not deleted) secrets per project, kept by triggers, so that the total of an unfiltered
-- secrets list does not count the project's rows: total = live - the live ones already expired
-- (an index range over ix_secrets_live_count, as long as the expired-but-undeleted rows).
-- Rows per (project, shard) are summed: PostgreSQL/MySQL spread concurrent writers over
-- shards; SQLite has one writer and uses shard 0.
CREATE TABLE secret_counts (
    project_id VARCHAR(255) NOT NULL,
    shard INTEGER NOT NULL,
    live BIGINT NOT NULL,
    PRIMARY KEY (project_id, shard)
);
INSERT INTO secret_counts (project_id, shard, live)
SELECT project_id, 0, COUNT(*) FROM secrets WHERE deleted_at IS NULL GROUP BY project_id;

CREATE TRIGGER tr_secret_counts_insert AFTER INSERT ON secrets WHEN NEW.deleted_at IS NULL
BEGIN
    INSERT INTO secret_counts (project_id, shard, live) VALUES (NEW.project_id, 0, 1)
    ON CONFLICT (project_id, shard) DO UPDATE SET live = live + 1;
END;
CREATE TRIGGER tr_secret_counts_delete AFTER DELETE ON secrets WHEN OLD.deleted_at IS NULL
BEGIN
    INSERT INTO secret_counts (project_id, shard, live) VALUES (OLD.project_id, 0, -1)
    ON CONFLICT (project_id, shard) DO UPDATE SET live = live - 1;
END;
CREATE TRIGGER tr_secret_counts_update_old AFTER UPDATE OF deleted_at, project_id ON secrets
WHEN OLD.deleted_at IS NULL AND (NEW.deleted_at IS NOT NULL OR NEW.project_id <> OLD.project_id)
BEGIN
    INSERT INTO secret_counts (project_id, shard, live) VALUES (OLD.project_id, 0, -1)
    ON CONFLICT (project_id, shard) DO UPDATE SET live = live - 1;
END;
CREATE TRIGGER tr_secret_counts_update_new AFTER UPDATE OF deleted_at, project_id ON secrets
WHEN NEW.deleted_at IS NULL AND (OLD.deleted_at IS NOT NULL OR NEW.project_id <> OLD.project_id)
BEGIN
    INSERT INTO secret_counts (project_id, shard, live) VALUES (NEW.project_id, 0, 1)
    ON CONFLICT (project_id, shard) DO UPDATE SET live = live + 1;
END;
