-- Live (not deleted) secrets per project, kept by triggers, so that the total of an
-- unfiltered secrets list does not count the project's rows: total = live - the live ones
-- already expired (an index range over ix_secrets_live_count, as long as the
-- expired-but-undeleted rows). Rows per (project, shard) are summed; a transaction writes the
-- shard of its backend (pg_backend_pid() % 16), so concurrent creates in one project rarely
-- wait on the same row, and one transaction never locks two shards of a project (no
-- deadlock between them). Statement-level triggers over transition tables: one upsert per
-- statement and project, however many rows it writes (a row-level upsert of one counter row
-- per inserted row grows a version chain that makes bulk inserts quadratic).

-- No secret written by another server between the backfill and the triggers goes uncounted:
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

CREATE FUNCTION secret_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO secret_counts (project_id, shard, live)
    SELECT project_id, pg_backend_pid() % 16, COUNT(*) FROM new_rows WHERE deleted_at IS NULL
    GROUP BY project_id ORDER BY project_id
    ON CONFLICT (project_id, shard) DO UPDATE SET live = secret_counts.live + EXCLUDED.live;
    RETURN NULL;
END
$$;
CREATE FUNCTION secret_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO secret_counts (project_id, shard, live)
    SELECT project_id, pg_backend_pid() % 16, -COUNT(*) FROM old_rows WHERE deleted_at IS NULL
    GROUP BY project_id ORDER BY project_id
    ON CONFLICT (project_id, shard) DO UPDATE SET live = secret_counts.live + EXCLUDED.live;
    RETURN NULL;
END
$$;
CREATE FUNCTION secret_counts_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO secret_counts (project_id, shard, live)
    SELECT project_id, pg_backend_pid() % 16, SUM(d) FROM (
        SELECT project_id, -1 AS d FROM old_rows WHERE deleted_at IS NULL
        UNION ALL
        SELECT project_id, 1 AS d FROM new_rows WHERE deleted_at IS NULL
    ) AS changes
    GROUP BY project_id HAVING SUM(d) <> 0 ORDER BY project_id
    ON CONFLICT (project_id, shard) DO UPDATE SET live = secret_counts.live + EXCLUDED.live;
    RETURN NULL;
END
$$;
CREATE TRIGGER tr_secret_counts_insert AFTER INSERT ON secrets
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION secret_counts_inserted();
CREATE TRIGGER tr_secret_counts_delete AFTER DELETE ON secrets
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION secret_counts_deleted();
CREATE TRIGGER tr_secret_counts_update AFTER UPDATE ON secrets
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION secret_counts_updated();
