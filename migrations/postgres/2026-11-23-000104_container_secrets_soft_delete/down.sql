ALTER TABLE container_secrets DROP COLUMN deleted_at;
