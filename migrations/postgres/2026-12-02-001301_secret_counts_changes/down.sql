CREATE OR REPLACE FUNCTION secret_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO secret_counts (project_id, shard, live)
    SELECT project_id, pg_backend_pid() % 16, COUNT(*) FROM new_rows WHERE deleted_at IS NULL
    GROUP BY project_id ORDER BY project_id
    ON CONFLICT (project_id, shard) DO UPDATE SET live = secret_counts.live + EXCLUDED.live;
    RETURN NULL;
END
$$;
CREATE OR REPLACE FUNCTION secret_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO secret_counts (project_id, shard, live)
    SELECT project_id, pg_backend_pid() % 16, -COUNT(*) FROM old_rows WHERE deleted_at IS NULL
    GROUP BY project_id ORDER BY project_id
    ON CONFLICT (project_id, shard) DO UPDATE SET live = secret_counts.live + EXCLUDED.live;
    RETURN NULL;
END
$$;
CREATE OR REPLACE FUNCTION secret_counts_updated() RETURNS trigger LANGUAGE plpgsql AS $$
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
ALTER TABLE secret_counts DROP COLUMN changes;
