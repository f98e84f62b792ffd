//! Key-check values: what the database knows about each master KEK version, without the key.
//!
//! The check value of version N is HMAC-SHA256 keyed with the version's key over a fixed label
//! and N. It reveals nothing about the key, and only the key computes it: a replica that is
//! handed keys (`kek import`) accepts a version only when the database lists it and its key
//! matches the listed check value, so nobody can slip a key of their own in, and the current
//! version is the database's (the highest one not retired), never the sender's.
//!
//! `kek init` and `kek rotate` record the value of each version they seal. Deployments made
//! before check values existed get them from the first `kek rotate` or `kek export` on a host
//! holding the key (the holder of a key is the only one who can compute its value); a value is
//! recorded that way only when the key opens a project KEK wrapped under it, or when no project
//! KEK uses that version yet.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{KekError, MasterKeys};
use crate::crypto::{self, Key};
use crate::store::master_keks::{self, MasterVersionRow};
use crate::store::{keks, DbConn};

const LABEL: &[u8] = b"portcullis master KEK check value v1\0";

fn perr(msg: impl Into<String>) -> KekError {
    KekError::Provider(msg.into())
}

/// The key-check value of a master KEK version.
pub fn check_value(version: i32, key: &Key) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.expose()).expect("HMAC takes any key length");
    mac.update(LABEL);
    mac.update(&version.to_be_bytes());
    mac.finalize().into_bytes().into()
}

/// True when the key matches the stored check value (constant time).
pub fn matches(version: i32, key: &Key, stored: &[u8]) -> bool {
    bool::from(check_value(version, key).as_slice().ct_eq(stored))
}

/// The versions the database lists.
pub struct Listed(pub BTreeMap<i32, MasterVersionRow>);

impl Listed {
    pub fn load(conn: &mut DbConn) -> Result<Listed, KekError> {
        Ok(Listed(master_keks::list(conn)?.into_iter().map(|r| (r.version, r)).collect()))
    }

    /// The deployment's current version: the highest one not retired.
    pub fn current(&self) -> Option<i32> {
        self.0.values().rev().find(|r| r.retired_at.is_none()).map(|r| r.version)
    }

    /// The highest version ever listed (retired or not).
    pub fn highest(&self) -> Option<i32> {
        self.0.keys().next_back().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// How a version this host holds compares with the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckState {
    Matches,
    Missing,
    Differs,
}

pub fn state(version: i32, key: &Key, listed: &Listed) -> CheckState {
    match listed.0.get(&version) {
        None => CheckState::Missing,
        Some(r) if matches(version, key, &r.check_value) => CheckState::Matches,
        Some(_) => CheckState::Differs,
    }
}

fn differs(version: i32) -> KekError {
    perr(format!(
        "this host's master KEK v{version} does not match the key-check value the database lists for \
         v{version}: this host's key belongs to another deployment (or the database does); nothing was changed"
    ))
}

/// Compares every version this host holds with the database: refuses a mismatch, and records
/// the check value of a version the database does not list yet (a deployment older than check
/// values, or a seal whose record was interrupted), if the key opens a project KEK wrapped under
/// it, or no project KEK uses that version. Returns the versions it recorded.
pub fn reconcile(keys: &MasterKeys, conn: &mut DbConn) -> Result<Vec<i32>, KekError> {
    let listed = Listed::load(conn)?;
    let mut versions: Vec<i32> = keys.versions.keys().copied().collect();
    versions.sort_unstable();
    let mut recorded = Vec::new();
    for v in versions {
        let key = &keys.versions[&v];
        match state(v, key, &listed) {
            CheckState::Matches => {}
            CheckState::Differs => return Err(differs(v)),
            CheckState::Missing => {
                if let Some(row) = keks::sample_under(conn, v)? {
                    key.cipher().open(&row.wrapped_key, &crypto::kek_aad(&row.project_id, &row.id, v)).map_err(|_| {
                        perr(format!(
                            "this host's master KEK v{v} does not open project KEK {} of this database: \
                             it belongs to another deployment; nothing was recorded",
                            row.id
                        ))
                    })?;
                }
                record(conn, v, key)?;
                recorded.push(v);
            }
        }
    }
    Ok(recorded)
}

/// Records the check value of a version just sealed; refuses when the database already lists
/// that version with another key (another host sealed it first).
pub fn record(conn: &mut DbConn, version: i32, key: &Key) -> Result<(), KekError> {
    let row = master_keks::insert(conn, version, &check_value(version, key))?;
    if matches(version, key, &row.check_value) {
        Ok(())
    } else {
        Err(differs(version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values_bind_key_and_version() {
        let (a, b) = (Key::generate(), Key::generate());
        let cv = check_value(1, &a);
        assert!(matches(1, &a, &cv));
        assert!(!matches(2, &a, &cv), "bound to the version");
        assert!(!matches(1, &b, &cv), "bound to the key");
        assert!(!matches(1, &a, &cv[..31]), "length counts");
        assert_ne!(cv.as_slice(), a.expose().as_slice());
    }
}
