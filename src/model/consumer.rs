//! Consumers of secrets (§5.4) and of containers (§5.6): their identities and stored rows.

use chrono::NaiveDateTime;

/// A secret consumer's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretConsumerKey {
    pub service: String,
    pub resource_type: String,
    pub resource_id: String,
}

/// A secret consumer as stored: its identity, the project that registered it, its times.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretConsumerRecord {
    pub id: String,
    pub secret_id: String,
    pub project_id: Option<String>,
    pub service: String,
    pub resource_type: String,
    pub resource_id: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A container consumer as stored: (name, URL), the project that registered it, its times.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerConsumerRecord {
    pub id: String,
    pub container_id: String,
    pub project_id: Option<String>,
    pub name: String,
    pub url: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}
