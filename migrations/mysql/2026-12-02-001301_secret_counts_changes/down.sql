DROP TRIGGER tr_secret_counts_insert;
DROP TRIGGER tr_secret_counts_delete;
DROP TRIGGER tr_secret_counts_update;
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
ALTER TABLE secret_counts DROP COLUMN changes;
