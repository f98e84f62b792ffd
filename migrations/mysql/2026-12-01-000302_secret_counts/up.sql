-- Live (not deleted) secrets per project, kept by triggers, so that the total of an
-- unfiltered secrets list does not count the project's rows: total = live - the live ones
-- already expired (an index range over ix_secrets_live_count, as long as the
-- expired-but-undeleted rows). Rows per (project, shard) are summed; a transaction writes the
-- shard of its connection (CONNECTION_ID() % 16), so concurrent creates in one project rarely
-- wait on the same row, and one transaction never locks two shards of a project.
-- MySQL cannot create triggers in a transaction: run this upgrade with the servers stopped (a
-- secret written between the backfill and the triggers would go uncounted).
CREATE TABLE secret_counts (
    project_id VARCHAR(255) NOT NULL,
    shard INTEGER NOT NULL,
    live BIGINT NOT NULL,
    PRIMARY KEY (project_id, shard)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO secret_counts (project_id, shard, live)
SELECT project_id, 0, COUNT(*) FROM secrets WHERE deleted_at IS NULL GROUP BY project_id;

CREATE TRIGGER tr_secret_counts_insert AFTER INSERT ON secrets FOR EACH ROW
INSERT INTO secret_counts (project_id, shard, live)
SELECT NEW.project_id, CONNECTION_ID() % 16, 1 FROM DUAL WHERE NEW.deleted_at IS NULL
ON DUPLICATE KEY UPDATE live = secret_counts.live + 1;
CREATE TRIGGER tr_secret_counts_delete AFTER DELETE ON secrets FOR EACH ROW
INSERT INTO secret_counts (project_id, shard, live)
SELECT OLD.project_id, CONNECTION_ID() % 16, -1 FROM DUAL WHERE OLD.deleted_at IS NULL
ON DUPLICATE KEY UPDATE live = secret_counts.live - 1;
-- One statement for both sides of an update (a project change never happens, but would count).
CREATE TRIGGER tr_secret_counts_update AFTER UPDATE ON secrets FOR EACH ROW
INSERT INTO secret_counts (project_id, shard, live)
SELECT p, CONNECTION_ID() % 16, d FROM (
    SELECT OLD.project_id AS p, -1 AS d FROM DUAL
     WHERE OLD.deleted_at IS NULL AND (NEW.deleted_at IS NOT NULL OR NEW.project_id <> OLD.project_id)
    UNION ALL
    SELECT NEW.project_id, 1 FROM DUAL
     WHERE NEW.deleted_at IS NULL AND (OLD.deleted_at IS NOT NULL OR NEW.project_id <> OLD.project_id)
) AS changes
ON DUPLICATE KEY UPDATE live = secret_counts.live + VALUES(live);
