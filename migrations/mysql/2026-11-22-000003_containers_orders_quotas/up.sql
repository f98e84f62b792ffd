CREATE TABLE containers (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    project_id VARCHAR(255) NOT NULL,
    creator_id VARCHAR(255),
    name VARCHAR(255),
    container_type VARCHAR(16) NOT NULL,
    status VARCHAR(20) NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX ix_containers_project ON containers (project_id, deleted_at, created_at);

CREATE TABLE container_secrets (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    container_id VARCHAR(36) NOT NULL,
    secret_id VARCHAR(36) NOT NULL,
    name VARCHAR(255),
    created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX ix_container_secrets_container ON container_secrets (container_id);
CREATE INDEX ix_container_secrets_secret ON container_secrets (secret_id);

CREATE TABLE container_consumers (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    container_id VARCHAR(36) NOT NULL,
    project_id VARCHAR(255),
    name VARCHAR(255) NOT NULL,
    url VARCHAR(255) NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT,
    CONSTRAINT uq_container_consumers UNIQUE (container_id, name, url)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE orders (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    project_id VARCHAR(255) NOT NULL,
    creator_id VARCHAR(255),
    order_type VARCHAR(16) NOT NULL,
    status VARCHAR(20) NOT NULL,
    meta MEDIUMTEXT NOT NULL,
    secret_id VARCHAR(36),
    container_id VARCHAR(36),
    error_status_code VARCHAR(16),
    error_reason VARCHAR(255),
    sub_status VARCHAR(36),
    sub_status_message VARCHAR(255),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX ix_orders_project ON orders (project_id, deleted_at, created_at);
CREATE INDEX ix_orders_status ON orders (status);

CREATE TABLE project_quotas (
    project_id VARCHAR(255) NOT NULL PRIMARY KEY,
    secrets INTEGER,
    orders INTEGER,
    containers INTEGER,
    consumers INTEGER,
    cas INTEGER,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE secret_stores (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    store_plugin VARCHAR(255) NOT NULL,
    crypto_plugin VARCHAR(255),
    global_default BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT uq_secret_stores_name UNIQUE (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE project_secret_store (
    project_id VARCHAR(255) NOT NULL PRIMARY KEY,
    secret_store_id VARCHAR(36) NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE transport_keys (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    plugin_name VARCHAR(255) NOT NULL,
    transport_key MEDIUMTEXT NOT NULL,
    status VARCHAR(20) NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

