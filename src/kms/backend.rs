//! The real [`KmsBackend`]: the managed key `[kms_v2] key`, through the service layer.

use std::sync::Arc;

use zeroize::Zeroizing;

use super::{KmsBackend, KmsError};
use crate::crypto::managed::OpError;
use crate::service::keys::kms as svc;
use crate::service::{Core, Missing, ServiceError};

pub struct ManagedKeyBackend {
    core: Arc<Core>,
    key: String,
}

impl ManagedKeyBackend {
    /// Refuses a key that does not exist or cannot serve KMS v2 (checked once at start).
    pub fn new(core: Arc<Core>, key: &str) -> Result<ManagedKeyBackend, String> {
        svc::status(&core, key).map_err(|e| match e {
            ServiceError::NotFound(_) => format!("[kms_v2] key {key}: no such managed key (create it with POST /v1/keys first)"),
            e => format!("[kms_v2] key {key}: {e}"),
        })?;
        Ok(ManagedKeyBackend { core, key: key.to_string() })
    }
}

fn kms_error(e: ServiceError) -> KmsError {
    match e {
        ServiceError::NotFound(Missing::KeyVersion) => KmsError::UnknownKeyId,
        ServiceError::NotFound(_) => KmsError::Unavailable("the managed key is gone".into()),
        ServiceError::KeyOp(OpError::Decrypt) => KmsError::Invalid("the ciphertext does not decrypt under this key id".into()),
        ServiceError::KeyOp(OpError::Invalid(m)) | ServiceError::Invalid(m) => KmsError::Invalid(m),
        ServiceError::Unavailable(m) => KmsError::Unavailable(m),
        e => KmsError::Internal(e.to_string()),
    }
}

impl KmsBackend for ManagedKeyBackend {
    fn status(&self) -> Result<String, KmsError> {
        svc::status(&self.core, &self.key).map_err(kms_error)
    }

    fn encrypt(&self, _uid: &str, plaintext: &[u8]) -> Result<(Vec<u8>, String), KmsError> {
        svc::encrypt(&self.core, &self.key, plaintext).map_err(kms_error)
    }

    fn decrypt(&self, _uid: &str, key_id: &str, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        svc::decrypt(&self.core, &self.key, key_id, ciphertext).map_err(kms_error)
    }
}
