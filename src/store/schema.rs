//! diesel table definitions, shared by every backend (see `migrations/<backend>/`).

diesel::table! {
    projects (external_id) {
        external_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    project_keks (id) {
        id -> Text,
        project_id -> Text,
        active -> Bool,
        master_version -> Integer,
        wrapped_key -> Binary,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    secrets (id) {
        id -> Text,
        project_id -> Text,
        creator_id -> Nullable<Text>,
        name -> Nullable<Text>,
        secret_type -> Text,
        expiration -> Nullable<Timestamp>,
        algorithm -> Nullable<Text>,
        bit_length -> Nullable<Integer>,
        mode -> Nullable<Text>,
        status -> Text,
        content_type -> Nullable<Text>,
        kek_id -> Nullable<Text>,
        cypher_text -> Nullable<Binary>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    secret_user_metadata (id) {
        id -> Text,
        secret_id -> Text,
        meta_key -> Text,
        meta_value -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
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
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    projects,
    project_keks,
    secrets,
    secret_user_metadata,
    secret_consumers,
);
