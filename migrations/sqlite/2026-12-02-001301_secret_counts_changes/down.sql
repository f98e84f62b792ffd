DROP TRIGGER tr_secret_counts_insert;
DROP TRIGGER tr_secret_counts_delete;
DROP TRIGGER tr_secret_counts_update_old;
DROP TRIGGER tr_secret_counts_update_new;
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
ALTER TABLE secret_counts DROP COLUMN changes;
