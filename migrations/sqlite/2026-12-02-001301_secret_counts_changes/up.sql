-- A version of each project's live set: `changes` goes up whenever a trigger moves `live`
-- (a secret created, deleted, restored or moved). The expired-but-undeleted count of an
-- unfiltered list only changes with such a write or when time passes a live secret's
-- expiration (never updated: Barbican has no such call), so a server may keep that count
-- until the project's summed `changes` moves or the next expiration comes.
ALTER TABLE secret_counts ADD COLUMN changes BIGINT NOT NULL DEFAULT 0;

DROP TRIGGER tr_secret_counts_insert;
DROP TRIGGER tr_secret_counts_delete;
DROP TRIGGER tr_secret_counts_update_old;
DROP TRIGGER tr_secret_counts_update_new;
CREATE TRIGGER tr_secret_counts_insert AFTER INSERT ON secrets WHEN NEW.deleted_at IS NULL
BEGIN
    INSERT INTO secret_counts (project_id, shard, live, changes) VALUES (NEW.project_id, 0, 1, 1)
    ON CONFLICT (project_id, shard) DO UPDATE SET live = live + 1, changes = changes + 1;
END;
CREATE TRIGGER tr_secret_counts_delete AFTER DELETE ON secrets WHEN OLD.deleted_at IS NULL
BEGIN
    INSERT INTO secret_counts (project_id, shard, live, changes) VALUES (OLD.project_id, 0, -1, 1)
    ON CONFLICT (project_id, shard) DO UPDATE SET live = live - 1, changes = changes + 1;
END;
CREATE TRIGGER tr_secret_counts_update_old AFTER UPDATE OF deleted_at, project_id ON secrets
WHEN OLD.deleted_at IS NULL AND (NEW.deleted_at IS NOT NULL OR NEW.project_id <> OLD.project_id)
BEGIN
    INSERT INTO secret_counts (project_id, shard, live, changes) VALUES (OLD.project_id, 0, -1, 1)
    ON CONFLICT (project_id, shard) DO UPDATE SET live = live - 1, changes = changes + 1;
END;
CREATE TRIGGER tr_secret_counts_update_new AFTER UPDATE OF deleted_at, project_id ON secrets
WHEN NEW.deleted_at IS NULL AND (OLD.deleted_at IS NOT NULL OR NEW.project_id <> OLD.project_id)
BEGIN
    INSERT INTO secret_counts (project_id, shard, live, changes) VALUES (NEW.project_id, 0, 1, 1)
    ON CONFLICT (project_id, shard) DO UPDATE SET live = live + 1, changes = changes + 1;
END;
