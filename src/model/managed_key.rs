//! Managed keys (`/v1/keys`): a key's settings, versions and policy.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::crypto::managed::{KeyType, Op};

/// How far a key's material may travel (the VoltStack levels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Sensitivity {
    /// An allowed workload may export a version (when the key is exportable).
    Low,
    /// The key never leaves the server; only operations.
    Medium,
    /// The key never enters Portcullis memory in plaintext: the root of trust runs it.
    High,
}

impl Sensitivity {
    pub fn as_str(self) -> &'static str {
        match self {
            Sensitivity::Low => "low",
            Sensitivity::Medium => "medium",
            Sensitivity::High => "high",
        }
    }

    pub fn parse(s: &str) -> Option<Sensitivity> {
        match s {
            "low" => Some(Sensitivity::Low),
            "medium" => Some(Sensitivity::Medium),
            "high" => Some(Sensitivity::High),
            _ => None,
        }
    }
}

/// Who a grant names. Matching is exact (roles: case-insensitive, in the key's project only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Identity {
    /// A Keystone user id.
    User { id: String },
    /// Any token scoped to this project.
    Project { id: String },
    /// A Keystone role held in the key's own project.
    Role { name: String },
    /// An OIDC/JWT workload: the token's issuer and subject.
    Oidc { issuer: String, subject: String },
    /// An OIDC/JWT workload in a group (the issuer's groups claim).
    OidcGroup { issuer: String, group: String },
    /// A verified TLS client certificate: by subject DN, by a subject alternative name (a
    /// SPIFFE ID, a DNS name…) or by its SHA-256 fingerprint (lower-case hex); exactly one.
    Cert {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        san: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fingerprint_sha256: Option<String>,
    },
}

/// One grant of a key policy: an identity and the operations it may run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub identity: Identity,
    pub operations: Vec<Op>,
}

/// A key as stored: settings and policy (its versions' material is read apart).
#[derive(Clone, Debug)]
pub struct ManagedKey {
    pub id: String,
    pub project_id: String,
    pub creator_id: Option<String>,
    pub name: String,
    pub key_type: KeyType,
    pub sensitivity: Sensitivity,
    pub exportable: bool,
    pub deletion_allowed: bool,
    pub current_version: i32,
    pub min_decryption_version: i32,
    /// 0: any version from `min_decryption_version` may be asked to encrypt; else the lowest.
    pub min_encryption_version: i32,
    pub auto_rotate_seconds: Option<i64>,
    pub rotated_at: NaiveDateTime,
    pub grants: Vec<Grant>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A version's public facts (never its material).
#[derive(Clone, Debug)]
pub struct KeyVersionInfo {
    pub version: i32,
    pub created_at: NaiveDateTime,
    /// SubjectPublicKeyInfo DER of an asymmetric version.
    pub public_der: Option<Vec<u8>>,
}

/// Settings a `PUT /v1/keys/{id}` may change (None: unchanged).
#[derive(Clone, Debug, Default)]
pub struct KeyUpdate {
    pub name: Option<String>,
    pub min_decryption_version: Option<i32>,
    pub min_encryption_version: Option<i32>,
    pub deletion_allowed: Option<bool>,
    pub exportable: Option<bool>,
    pub sensitivity: Option<Sensitivity>,
    /// Some(None): auto-rotation off.
    pub auto_rotate_seconds: Option<Option<i64>>,
}

/// A `POST /v1/keys` request, validated.
#[derive(Clone, Debug)]
pub struct NewKey {
    pub name: String,
    pub key_type: KeyType,
    pub sensitivity: Sensitivity,
    pub exportable: bool,
    pub auto_rotate_seconds: Option<i64>,
    pub grants: Vec<Grant>,
}

/// The stored JSON form of a key policy: `{"grants": [{"identity": {…}, "operations": […]}]}`.
#[derive(Serialize, Deserialize)]
struct GrantJson {
    identity: Identity,
    operations: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct PolicyJson {
    grants: Vec<GrantJson>,
}

/// The policy column's text.
pub fn grants_to_json(grants: &[Grant]) -> String {
    let p = PolicyJson {
        grants: grants
            .iter()
            .map(|g| GrantJson {
                identity: g.identity.clone(),
                operations: g.operations.iter().map(|o| o.as_str().to_string()).collect(),
            })
            .collect(),
    };
    serde_json::to_string(&p).unwrap_or_else(|_| "{\"grants\":[]}".into())
}

/// Parses the policy column (written by [`grants_to_json`]); None if corrupt.
pub fn grants_from_json(s: &str) -> Option<Vec<Grant>> {
    let p: PolicyJson = serde_json::from_str(s).ok()?;
    p.grants
        .into_iter()
        .map(|g| {
            let operations = g.operations.iter().map(|o| Op::parse(o)).collect::<Option<Vec<_>>>()?;
            Some(Grant { identity: g.identity, operations })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_column_round_trip() {
        let grants = vec![
            Grant { identity: Identity::User { id: "u1".into() }, operations: vec![Op::Encrypt] },
            Grant {
                identity: Identity::Oidc { issuer: "https://i".into(), subject: "system:serviceaccount:a:b".into() },
                operations: vec![Op::Decrypt, Op::Describe],
            },
            Grant {
                identity: Identity::Cert { subject: None, san: Some("spiffe://x/y".into()), fingerprint_sha256: None },
                operations: vec![Op::Sign],
            },
        ];
        let s = grants_to_json(&grants);
        assert!(s.contains("\"type\":\"oidc\""), "{s}");
        assert_eq!(grants_from_json(&s).unwrap(), grants);
        assert!(grants_from_json("{\"grants\":[{\"identity\":{\"type\":\"user\",\"id\":\"u\"},\"operations\":[\"fly\"]}]}").is_none());
    }
}
