//! Orders (§5.8) as the layers above the store see them.

use chrono::NaiveDateTime;
use serde_json::{Map, Value};

/// Meta `expiration` as stored: normalised UTC with microseconds.
pub const META_TS_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6f";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderType {
    Key,
    Asymmetric,
}

impl OrderType {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderType::Key => "key",
            OrderType::Asymmetric => "asymmetric",
        }
    }
}

/// A validated order request: its type and its meta (with `name` and `expiration` normalised,
/// everything else as sent).
#[derive(Debug, Clone, PartialEq)]
pub struct NewOrder {
    pub order_type: OrderType,
    pub meta: Map<String, Value>,
}

/// An order as stored; `meta` is the validated request meta (never the passphrase).
#[derive(Debug, Clone)]
pub struct Order {
    pub id: String,
    pub project_id: String,
    pub creator_id: Option<String>,
    pub order_type: String,
    pub status: String,
    pub meta: Map<String, Value>,
    pub secret_id: Option<String>,
    pub container_id: Option<String>,
    pub error_status_code: Option<String>,
    pub error_reason: Option<String>,
    pub sub_status: Option<String>,
    pub sub_status_message: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}
