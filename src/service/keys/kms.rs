//! The managed key behind the Kubernetes KMS v2 endpoint (`[kms_v2] key`). No caller: whoever
//! can open the socket (its file mode) acts for kube-apiserver, and naming the key in the
//! configuration is the grant. Only the symmetric AEAD types serve; the key id kube-apiserver
//! stores beside each ciphertext is a hash of the key and version (non-secret, stable, new on
//! rotation), and it is bound into each ciphertext as associated data.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::material;
use super::{rotate_if_due, rotation_due};
use crate::model::managed_key::ManagedKey;
use crate::service::{Core, Missing, ServiceError, ServiceResult};
use crate::store::managed_keys::{self as repo, VersionRow};
use crate::store::DbConn;

/// The KMS key id of a key version: lower-case hex SHA-256 of the key id and version.
pub fn key_id(key: &str, version: i32) -> String {
    let d = Sha256::digest(format!("portcullis/kms-v2\0{key}\0{version}").as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn aad(kms_key_id: &str) -> Vec<u8> {
    format!("portcullis/kms-v2\0{kms_key_id}").into_bytes()
}

/// Refused unless the key can serve KMS v2.
fn servable(key: &ManagedKey) -> ServiceResult<()> {
    if !key.key_type.is_symmetric_cipher() {
        return Err(ServiceError::Invalid(format!(
            "[kms_v2] key {} is a {} key; KMS v2 needs aes256-gcm or chacha20-poly1305",
            key.id,
            key.key_type.as_str()
        )));
    }
    Ok(())
}

/// The key and its current version's row (one query), after any rotation its period asks for.
fn current(core: &Core, conn: &mut DbConn, id: &str) -> ServiceResult<(ManagedKey, VersionRow)> {
    let (mut key, mut row) = repo::view(conn, id, None)?.ok_or(ServiceError::NotFound(Missing::Key))?;
    servable(&key)?;
    if rotation_due(&key) {
        key = rotate_if_due(core, conn, key)?;
        row = repo::view(conn, id, None)?.and_then(|(_, r)| r);
    }
    Ok((key, row.ok_or(ServiceError::NotFound(Missing::KeyVersion))?))
}

/// Checks the key can serve (at start and for `Status`); returns the current KMS key id.
pub fn status(core: &Core, id: &str) -> ServiceResult<String> {
    let mut conn = core.conn()?;
    let (key, _) = current(core, &mut conn, id)?;
    Ok(key_id(&key.id, key.current_version))
}

/// Encrypts with the current version: (ciphertext, KMS key id).
pub fn encrypt(core: &Core, id: &str, plaintext: &[u8]) -> ServiceResult<(Vec<u8>, String)> {
    let mut conn = core.conn()?;
    let (key, row) = current(core, &mut conn, id)?;
    let kid = key_id(&key.id, row.version);
    let held = material::open(core, &mut conn, &key, &row)?;
    Ok((held.encrypt(key.key_type, plaintext, Some(&aad(&kid)))?, kid))
}

/// Decrypts under the version `kms_key_id` names; NotFound(KeyVersion) when it names none of
/// the key's readable versions. The current version's ciphertexts take one query.
pub fn decrypt(core: &Core, id: &str, kms_key_id: &str, ciphertext: &[u8]) -> ServiceResult<Zeroizing<Vec<u8>>> {
    let mut conn = core.conn()?;
    let (key, current) = repo::view(&mut conn, id, None)?.ok_or(ServiceError::NotFound(Missing::Key))?;
    servable(&key)?;
    let version = (key.min_decryption_version..=key.current_version)
        .rev()
        .find(|v| key_id(&key.id, *v) == kms_key_id)
        .ok_or(ServiceError::NotFound(Missing::KeyVersion))?;
    let row = match current.filter(|r| r.version == version) {
        Some(row) => row,
        None => repo::view(&mut conn, id, Some(version))?.and_then(|(_, r)| r).ok_or(ServiceError::NotFound(Missing::KeyVersion))?,
    };
    let held = material::open(core, &mut conn, &key, &row)?;
    held.decrypt(key.key_type, ciphertext, Some(&aad(kms_key_id)))
}
