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
    master_kek_versions (version) {
        version -> Integer,
        check_value -> Binary,
        created_at -> BigInt,
        retired_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Live (not deleted) secrets per project, kept by triggers (migration 000302); a
    /// project's count is the sum of its shards.
    secret_counts (project_id, shard) {
        project_id -> Text,
        shard -> Integer,
        live -> BigInt,
        changes -> BigInt,
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


diesel::table! {
    containers (id) {
        id -> Text,
        project_id -> Text,
        creator_id -> Nullable<Text>,
        name -> Nullable<Text>,
        container_type -> Text,
        status -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        deleted_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    container_secrets (id) {
        id -> Text,
        container_id -> Text,
        secret_id -> Text,
        name -> Nullable<Text>,
        created_at -> BigInt,
        deleted_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    container_consumers (id) {
        id -> Text,
        container_id -> Text,
        project_id -> Nullable<Text>,
        name -> Text,
        url -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        deleted_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    orders (id) {
        id -> Text,
        project_id -> Text,
        creator_id -> Nullable<Text>,
        order_type -> Text,
        status -> Text,
        meta -> Text,
        secret_id -> Nullable<Text>,
        container_id -> Nullable<Text>,
        error_status_code -> Nullable<Text>,
        error_reason -> Nullable<Text>,
        sub_status -> Nullable<Text>,
        sub_status_message -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        deleted_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// A PENDING order's lease (migration 001101): the replica working on it, until when.
    order_leases (order_id) {
        order_id -> Text,
        owner -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    order_passphrases (order_id) {
        order_id -> Text,
        kek_id -> Text,
        cypher_text -> Binary,
        created_at -> BigInt,
    }
}

diesel::table! {
    project_quotas (project_id) {
        project_id -> Text,
        secrets -> Nullable<Integer>,
        orders -> Nullable<Integer>,
        containers -> Nullable<Integer>,
        consumers -> Nullable<Integer>,
        cas -> Nullable<Integer>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    secret_stores (id) {
        id -> Text,
        name -> Text,
        store_plugin -> Text,
        crypto_plugin -> Nullable<Text>,
        global_default -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    project_secret_store (project_id) {
        project_id -> Text,
        secret_store_id -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    transport_keys (id) {
        id -> Text,
        plugin_name -> Text,
        transport_key -> Text,
        status -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        deleted_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Managed keys (`/v1/keys`), migration 001201.
    managed_keys (id) {
        id -> Text,
        project_id -> Text,
        creator_id -> Nullable<Text>,
        name -> Text,
        key_type -> Text,
        sensitivity -> Text,
        exportable -> Bool,
        deletion_allowed -> Bool,
        current_version -> Integer,
        min_decryption_version -> Integer,
        min_encryption_version -> Integer,
        auto_rotate_seconds -> Nullable<BigInt>,
        rotated_at -> BigInt,
        policy -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    managed_key_versions (key_id, version) {
        key_id -> Text,
        version -> Integer,
        kek_id -> Text,
        sealed -> Binary,
        public_der -> Nullable<Binary>,
        created_at -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    managed_keys,
    managed_key_versions,
    projects,
    project_keks,
    secrets,
    secret_user_metadata,
    secret_consumers,
    acls,
    acl_users,
    containers,
    container_secrets,
    container_consumers,
    orders,
    order_passphrases,
    order_leases,
    project_quotas,
    secret_stores,
    project_secret_store,
    transport_keys,
    secret_counts,
);
