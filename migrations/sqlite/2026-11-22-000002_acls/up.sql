CREATE TABLE acls (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    entity_type VARCHAR(16) NOT NULL,
    entity_id VARCHAR(36) NOT NULL,
    operation VARCHAR(255) NOT NULL,
    project_access BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT uq_acls UNIQUE (entity_type, entity_id, operation)
);

CREATE TABLE acl_users (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    acl_id VARCHAR(36) NOT NULL,
    user_id VARCHAR(255) NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT uq_acl_users UNIQUE (acl_id, user_id)
);
CREATE INDEX ix_acl_users_user ON acl_users (user_id);
