//! The Kubernetes KMS v2 plugin endpoint (`[kms_v2]`): kube-apiserver encrypts the seeds of its
//! data keys through the `KeyManagementService` gRPC service on a unix socket, and Portcullis
//! answers with one managed key that never leaves it. This module is a transport, like `api`:
//! the gRPC service ([`service`]) turns requests into calls on a [`KmsBackend`], the socket
//! ([`socket`]) is served on a thread of its own; the backend does the cryptography.

mod backend;
pub mod proto;
mod service;
mod socket;

use std::sync::Arc;

pub use service::{KmsService, MAX_CIPHERTEXT, MAX_KEY_ID, MAX_PLAINTEXT};
pub use socket::KmsServer;

/// What the KMS v2 endpoint needs from a key: one managed key, its versions and their ids.
pub trait KmsBackend: Send + Sync + 'static {
    /// Health and the current key id (a stable, non-secret id of the key version, e.g. hex of a hash).
    fn status(&self) -> Result<String, KmsError>;
    /// Encrypts with the current version; returns (ciphertext, key_id).
    fn encrypt(&self, uid: &str, plaintext: &[u8]) -> Result<(Vec<u8>, String), KmsError>;
    /// Decrypts; must refuse a key_id that is not a version of this key (UnknownKeyId).
    fn decrypt(&self, uid: &str, key_id: &str, ciphertext: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, KmsError>;
}

/// Why a backend call failed. The words of `Invalid` and `Unavailable` go back to the caller
/// (kube-apiserver); those of `Internal` are logged only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmsError {
    /// The key id is not (or no longer) a version of this key.
    UnknownKeyId,
    /// The request is malformed or cannot be served as asked (e.g. the ciphertext does not
    /// decrypt under the version its key id names).
    Invalid(String),
    /// The key or the service cannot serve right now (kube-apiserver retries).
    Unavailable(String),
    /// Anything unexpected; the detail is logged, never returned.
    Internal(String),
}

impl std::fmt::Display for KmsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KmsError::UnknownKeyId => f.write_str("unknown key id"),
            KmsError::Invalid(m) => write!(f, "invalid request: {m}"),
            KmsError::Unavailable(m) => write!(f, "unavailable: {m}"),
            KmsError::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for KmsError {}

/// The [`KmsBackend`] of the managed key `key_id`, run through the service layer.
pub fn backend_for(core: &Arc<crate::service::Core>, key_id: &str) -> Result<Arc<dyn KmsBackend>, String> {
    Ok(Arc::new(backend::ManagedKeyBackend::new(core.clone(), key_id)?))
}
