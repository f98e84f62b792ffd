//! Domain types shared by the layers.

use chrono::NaiveDateTime;

pub const SECRET_TYPES: [&str; 6] =
    ["symmetric", "passphrase", "private", "public", "certificate", "opaque"];

/// Content types a payload can be stored as (normalised form).
pub const TEXT_PLAIN: &str = "text/plain";
pub const OCTET_STREAM: &str = "application/octet-stream";
pub const PKCS8: &str = "application/pkcs8";

/// The current time, UTC, truncated to microseconds (what the store keeps).
pub fn now() -> NaiveDateTime {
    let t = chrono::Utc::now().naive_utc();
    chrono::DateTime::from_timestamp_micros(t.and_utc().timestamp_micros()).map(|d| d.naive_utc()).unwrap_or(t)
}

/// A secret's attributes, as stored (no key material).
#[derive(Debug, Clone)]
pub struct Secret {
    pub id: String,
    pub project_id: String,
    pub creator_id: Option<String>,
    pub name: Option<String>,
    pub secret_type: String,
    pub expiration: Option<NaiveDateTime>,
    pub algorithm: Option<String>,
    pub bit_length: Option<i32>,
    pub mode: Option<String>,
    pub status: String,
    pub content_type: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Secret {
    pub fn is_expired(&self, now: NaiveDateTime) -> bool {
        matches!(self.expiration, Some(e) if e <= now)
    }
}

/// A validated request for a new secret: what the caller chose (the service adds the rest).
#[derive(Debug)]
pub struct NewSecret {
    pub name: Option<String>,
    pub secret_type: String,
    pub expiration: Option<NaiveDateTime>,
    pub algorithm: Option<String>,
    pub bit_length: Option<i32>,
    pub mode: Option<String>,
    /// (normalised content type, plaintext)
    pub payload: Option<(String, zeroize::Zeroizing<Vec<u8>>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretConsumer {
    pub service: String,
    pub resource_type: String,
    pub resource_id: String,
}

/// A comparison in a date filter of the secrets list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DateCond {
    Gt(NaiveDateTime),
    Gte(NaiveDateTime),
    Lt(NaiveDateTime),
    Lte(NaiveDateTime),
    Eq(NaiveDateTime),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSortKey {
    Algorithm,
    BitLength,
    Created,
    Expiration,
    Mode,
    Name,
    SecretType,
    Status,
    Updated,
}

impl SecretSortKey {
    pub fn parse(s: &str) -> Option<SecretSortKey> {
        Some(match s {
            "algorithm" => SecretSortKey::Algorithm,
            "bit_length" => SecretSortKey::BitLength,
            "created" => SecretSortKey::Created,
            "expiration" => SecretSortKey::Expiration,
            "mode" => SecretSortKey::Mode,
            "name" => SecretSortKey::Name,
            "secret_type" => SecretSortKey::SecretType,
            "status" => SecretSortKey::Status,
            "updated" => SecretSortKey::Updated,
            _ => return None,
        })
    }
}

/// Filters of `GET /v1/secrets`, already validated.
#[derive(Debug, Clone, Default)]
pub struct SecretFilter {
    pub name: Option<String>,
    pub alg: Option<String>,
    pub mode: Option<String>,
    pub bits: Option<i32>,
    pub secret_type: Option<String>,
    pub created: Vec<DateCond>,
    pub updated: Vec<DateCond>,
    pub expiration: Vec<DateCond>,
    /// (key, descending)
    pub sort: Vec<(SecretSortKey, bool)>,
}

/// A page request, already cleaned (§2.9).
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub offset: i64,
    pub limit: i64,
}

mod acl;
mod consumer;
mod container;
pub use acl::*;
pub use consumer::*;
pub use container::*;
mod order;
mod quota;
mod secret_store;
pub use order::{NewOrder, Order, OrderType, META_TS_FORMAT};
pub use quota::{ProjectQuotas, QuotaOverrides};
pub use secret_store::{SecretStore, TransportKey};
pub mod managed_key;
