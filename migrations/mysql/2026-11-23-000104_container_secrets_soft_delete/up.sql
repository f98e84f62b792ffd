-- Links of a container to its secrets are soft-deleted when the secret is deleted or the link
-- removed (Barbican keeps them); only deleting the container removes them.
ALTER TABLE container_secrets ADD COLUMN deleted_at BIGINT;
