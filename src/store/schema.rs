//! diesel table definitions, shared by every backend (see `migrations/<backend>/`).
//!
//! Times are stored as BIGINT microseconds since the Unix epoch, UTC: exact and comparable on
//! every backend (MariaDB drops TIMESTAMP-typed binds after 2038, SQLite has no time type).

diesel::table! {
    projects (external_id) {
        external_id -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    project_keks (id) {
        id -> Text,
        project_id -> Text,
        active -> Bool,
        master_version -> Integer,
        wrapped_key -> Binary,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    secrets (id) {
        id -> Text,
        project_id -> Text,
        creator_id -> Nullable<Text>,
        name -> Nullable<Text>,
        secret_type -> Text,
        expiration -> Nullable<BigInt>,
        algorithm -> Nullable<Text>,
        bit_length -> Nullable<Integer>,
        mode -> Nullable<Text>,
        status -> Text,
        content_type -> Nullable<Text>,
        kek_id -> Nullable<Text>,
        cypher_text -> Nullable<Binary>,
        created_at -> BigInt,
        updated_at -> BigInt,
        deleted_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    secret_user_metadata (id) {
        id -> Text,
        secret_id -> Text,
        meta_key -> Text,
        meta_value -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    secret_consumers (id) {
        id -> Text,
        secret_id -> Text,
        project_id -> Nullable<Text>,
        service -> Text,
        resource_type -> Text,
        resource_id -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        deleted_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    acls (id) {
        id -> Text,
        entity_type -> Text,
        entity_id -> Text,
        operation -> Text,
        project_access -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    acl_users (id) {
        id -> Text,
        acl_id -> Text,
        user_id -> Text,
        created_at -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    acls,
    acl_users,
    projects,
    project_keks,
    secrets,
    secret_user_metadata,
    secret_consumers,
);
