-- A version of each project's live set: `changes` goes up whenever a trigger moves `live`
-- (a secret created, deleted, restored or moved). The expired-but-undeleted count of an
-- unfiltered list only changes with such a write or when time passes a live secret's
-- expiration (never updated: Barbican has no such call), so a server may keep that count
-- until the project's summed `changes` moves or the next expiration comes.
ALTER TABLE secret_counts ADD COLUMN changes BIGINT NOT NULL DEFAULT 0;

CREATE OR REPLACE FUNCTION secret_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO secret_counts (project_id, shard, live, changes)
    SELECT project_id, pg_backend_pid() % 16, COUNT(*), 1 FROM new_rows WHERE deleted_at IS NULL
    GROUP BY project_id ORDER BY project_id
    ON CONFLICT (project_id, shard) DO UPDATE SET live = secret_counts.live + EXCLUDED.live,
        changes = secret_counts.changes + 1;
    RETURN NULL;
END
$$;
CREATE OR REPLACE FUNCTION secret_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO secret_counts (project_id, shard, live, changes)
    SELECT project_id, pg_backend_pid() % 16, -COUNT(*), 1 FROM old_rows WHERE deleted_at IS NULL
    GROUP BY project_id ORDER BY project_id
    ON CONFLICT (project_id, shard) DO UPDATE SET live = secret_counts.live + EXCLUDED.live,
        changes = secret_counts.changes + 1;
    RETURN NULL;
END
$$;
CREATE OR REPLACE FUNCTION secret_counts_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO secret_counts (project_id, shard, live, changes)
    SELECT project_id, pg_backend_pid() % 16, SUM(d), 1 FROM (
        SELECT project_id, -1 AS d FROM old_rows WHERE deleted_at IS NULL
        UNION ALL
        SELECT project_id, 1 AS d FROM new_rows WHERE deleted_at IS NULL
    ) AS moved
    GROUP BY project_id HAVING SUM(d) <> 0 ORDER BY project_id
    ON CONFLICT (project_id, shard) DO UPDATE SET live = secret_counts.live + EXCLUDED.live,
        changes = secret_counts.changes + 1;
    RETURN NULL;
END
$$;
