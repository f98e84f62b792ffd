CREATE TABLE projects (
    external_id VARCHAR(255) NOT NULL PRIMARY KEY,
    created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE project_keks (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    project_id VARCHAR(255) NOT NULL,
    active BOOLEAN NOT NULL,
    master_version INTEGER NOT NULL,
    wrapped_key LONGBLOB NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX ix_project_keks_project ON project_keks (project_id, active);

CREATE TABLE secrets (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    project_id VARCHAR(255) NOT NULL,
    creator_id VARCHAR(255),
    name VARCHAR(255),
    secret_type VARCHAR(255) NOT NULL,
    expiration BIGINT,
    algorithm VARCHAR(255),
    bit_length INTEGER,
    mode VARCHAR(255),
    status VARCHAR(20) NOT NULL,
    content_type VARCHAR(255),
    kek_id VARCHAR(36),
    cypher_text LONGBLOB,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX ix_secrets_project ON secrets (project_id, deleted_at, created_at);
CREATE INDEX ix_secrets_kek ON secrets (kek_id);

CREATE TABLE secret_user_metadata (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    secret_id VARCHAR(36) NOT NULL,
    meta_key VARCHAR(255) NOT NULL,
    meta_value VARCHAR(255) NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT uq_secret_user_metadata UNIQUE (secret_id, meta_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE secret_consumers (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    secret_id VARCHAR(36) NOT NULL,
    project_id VARCHAR(255),
    service VARCHAR(255) NOT NULL,
    resource_type VARCHAR(255) NOT NULL,
    resource_id VARCHAR(36) NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT,
    CONSTRAINT uq_secret_consumers UNIQUE (secret_id, service, resource_type, resource_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX ix_secret_consumers_resource ON secret_consumers (resource_id);
