//! Secret stores (§5.10) and transport keys (§5.11).

use chrono::NaiveDateTime;

/// A configured secret store.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretStore {
    pub id: String,
    pub name: String,
    pub store_plugin: String,
    pub crypto_plugin: Option<String>,
    pub global_default: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A backend's transport key, kept for API compatibility.
#[derive(Debug, Clone, PartialEq)]
pub struct TransportKey {
    pub id: String,
    pub plugin_name: String,
    pub transport_key: String,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
}
