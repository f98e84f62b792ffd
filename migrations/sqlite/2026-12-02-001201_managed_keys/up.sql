-- Managed keys (/v1/keys): a key's settings and policy, one row; its versions, one row each,
-- the material sealed under the project KEK (for sensitivity high: the root of trust's opaque
-- blob, sealed the same way). Times in microseconds since the Unix epoch, UTC.
CREATE TABLE managed_keys (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    project_id VARCHAR(255) NOT NULL,
    creator_id VARCHAR(255),
    name VARCHAR(255) NOT NULL,
    key_type VARCHAR(32) NOT NULL,
    sensitivity VARCHAR(16) NOT NULL,
    exportable BOOLEAN NOT NULL,
    deletion_allowed BOOLEAN NOT NULL,
    current_version INTEGER NOT NULL,
    min_decryption_version INTEGER NOT NULL,
    min_encryption_version INTEGER NOT NULL,
    auto_rotate_seconds BIGINT,
    rotated_at BIGINT NOT NULL,
    policy TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX ix_managed_keys_project ON managed_keys (project_id, created_at, id);

CREATE TABLE managed_key_versions (
    key_id VARCHAR(36) NOT NULL,
    version INTEGER NOT NULL,
    kek_id VARCHAR(36) NOT NULL,
    sealed BLOB NOT NULL,
    public_der BLOB,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (key_id, version)
);
