-- A version of each project's live set: `changes` goes up whenever a trigger moves `live`
-- (a secret created, deleted, restored or moved). The expired-but-undeleted count of an
-- unfiltered list only changes with such a write or when time passes a live secret's
-- expiration (never updated: Barbican has no such call), so a server may keep that count
-- until the project's summed `changes` moves or the next expiration comes.
ALTER TABLE secret_counts ADD COLUMN changes BIGINT NOT NULL DEFAULT 0;

-- (MySQL cannot create triggers in a transaction: run this upgrade with the servers stopped.)
DROP TRIGGER tr_secret_counts_insert;
DROP TRIGGER tr_secret_counts_delete;
DROP TRIGGER tr_secret_counts_update;
CREATE TRIGGER tr_secret_counts_insert AFTER INSERT ON secrets FOR EACH ROW
INSERT INTO secret_counts (project_id, shard, live, changes)
SELECT NEW.project_id, CONNECTION_ID() % 16, 1, 1 FROM DUAL WHERE NEW.deleted_at IS NULL
ON DUPLICATE KEY UPDATE live = secret_counts.live + 1, changes = secret_counts.changes + 1;
CREATE TRIGGER tr_secret_counts_delete AFTER DELETE ON secrets FOR EACH ROW
INSERT INTO secret_counts (project_id, shard, live, changes)
SELECT OLD.project_id, CONNECTION_ID() % 16, -1, 1 FROM DUAL WHERE OLD.deleted_at IS NULL
ON DUPLICATE KEY UPDATE live = secret_counts.live - 1, changes = secret_counts.changes + 1;
-- One statement for both sides of an update (a project change never happens, but would count).
CREATE TRIGGER tr_secret_counts_update AFTER UPDATE ON secrets FOR EACH ROW
INSERT INTO secret_counts (project_id, shard, live, changes)
SELECT p, CONNECTION_ID() % 16, d, 1 FROM (
    SELECT OLD.project_id AS p, -1 AS d FROM DUAL
     WHERE OLD.deleted_at IS NULL AND (NEW.deleted_at IS NOT NULL OR NEW.project_id <> OLD.project_id)
    UNION ALL
    SELECT NEW.project_id, 1 FROM DUAL
     WHERE NEW.deleted_at IS NULL AND (OLD.deleted_at IS NOT NULL OR NEW.project_id <> OLD.project_id)
) AS moved
ON DUPLICATE KEY UPDATE live = secret_counts.live + VALUES(live), changes = secret_counts.changes + 1;
