//! Containers (§5.5): a container's stored attributes and the filters of their list.

use chrono::NaiveDateTime;

/// A container's attributes, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    pub id: String,
    pub project_id: String,
    pub creator_id: Option<String>,
    pub name: Option<String>,
    pub container_type: String,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Filters of `GET /v1/containers`.
#[derive(Debug, Clone, Default)]
pub struct ContainerFilter {
    /// SQL LIKE pattern (case-insensitive on every backend, like the secrets list).
    pub name: Option<String>,
    pub container_type: Option<String>,
}
