//! The `KeyManagementService` (k8s.io/kms/apis/v2) over a [`KmsBackend`]: checks what
//! kube-apiserver sends and what it will accept back, runs the backend on the blocking pool, and
//! turns [`KmsError`]s into gRPC status codes. Plaintexts and ciphertexts are never logged.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use zeroize::Zeroizing;

use super::proto::key_management_service_server::KeyManagementService;
use super::proto::{DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, StatusRequest, StatusResponse};
use super::{KmsBackend, KmsError};

/// The API version `Status` reports (kube-apiserver's `apiVersion: v2`).
pub const API_VERSION: &str = "v2";
/// kube-apiserver refuses a key id that is empty or longer than 1 KiB.
pub const MAX_KEY_ID: usize = 1024;
/// kube-apiserver refuses an encrypted DEK (seed) longer than 1 KiB.
pub const MAX_CIPHERTEXT: usize = 1024;
/// kube-apiserver sends 32-byte DEK seeds; anything longer than this could not come back
/// within [`MAX_CIPHERTEXT`] anyway.
pub const MAX_PLAINTEXT: usize = 1024;
/// The request's uid is only logged (kube-apiserver sends a UUID).
const MAX_UID: usize = 256;

/// The gRPC service: wrap it in `KeyManagementServiceServer` (see [`super::KmsServer`]).
pub struct KmsService {
    backend: Arc<dyn KmsBackend>,
}

impl KmsService {
    pub fn new(backend: Arc<dyn KmsBackend>) -> KmsService {
        KmsService { backend }
    }

    /// Runs a backend call on the blocking pool (a backend may touch the database or the TPM).
    async fn run<T: Send + 'static>(
        &self,
        op: &'static str,
        uid: &str,
        f: impl FnOnce(&dyn KmsBackend) -> Result<T, KmsError> + Send + 'static,
    ) -> Result<T, Status> {
        let backend = self.backend.clone();
        match tokio::task::spawn_blocking(move || f(backend.as_ref())).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(to_status(op, uid, e)),
            Err(e) => Err(to_status(op, uid, KmsError::Internal(format!("the backend call did not finish: {e}")))),
        }
    }
}

/// `UnknownKeyId` and `Invalid` -> InvalidArgument, `Unavailable` -> Unavailable, `Internal` ->
/// Internal with a generic message (the detail goes to the log only).
fn to_status(op: &str, uid: &str, e: KmsError) -> Status {
    match e {
        KmsError::UnknownKeyId => {
            tracing::warn!(op, uid, "kms v2: refused an unknown key id");
            Status::invalid_argument("unknown key id: not a version of this plugin's key")
        }
        KmsError::Invalid(m) => {
            tracing::warn!(op, uid, reason = %m, "kms v2: refused an invalid request");
            Status::invalid_argument(m)
        }
        KmsError::Unavailable(m) => {
            tracing::warn!(op, uid, reason = %m, "kms v2: backend unavailable");
            Status::unavailable(m)
        }
        KmsError::Internal(m) => {
            tracing::error!(op, uid, error = %m, "kms v2: internal error");
            Status::internal("internal error")
        }
    }
}

fn check_uid(uid: &str) -> Result<(), Status> {
    if uid.len() > MAX_UID {
        return Err(Status::invalid_argument(format!("uid is longer than {MAX_UID} bytes")));
    }
    Ok(())
}

/// A key id as kube-apiserver accepts it: not empty, at most 1 KiB.
fn key_id_problem(key_id: &str) -> Option<String> {
    if key_id.is_empty() {
        Some("key_id is empty".into())
    } else if key_id.len() > MAX_KEY_ID {
        Some(format!("key_id is {} bytes, more than the {MAX_KEY_ID} kube-apiserver accepts", key_id.len()))
    } else {
        None
    }
}

#[tonic::async_trait]
impl KeyManagementService for KmsService {
    async fn status(&self, _req: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        let backend = self.backend.clone();
        let res = tokio::task::spawn_blocking(move || backend.status())
            .await
            .unwrap_or_else(|e| Err(KmsError::Internal(format!("the backend call did not finish: {e}"))));
        // A failing health is an answer, not an error: kube-apiserver shows `healthz` as the reason.
        let (healthz, key_id) = match res {
            Ok(key_id) => match key_id_problem(&key_id) {
                None => ("ok".to_string(), key_id),
                Some(p) => {
                    tracing::error!(problem = %p, "kms v2: the backend's current key id is unusable");
                    ("the plugin's key id is unusable (see the Portcullis log)".to_string(), String::new())
                }
            },
            Err(KmsError::Internal(m)) => {
                tracing::error!(error = %m, "kms v2: status failed");
                ("internal error (see the Portcullis log)".to_string(), String::new())
            }
            Err(e) => {
                tracing::warn!(error = %e, "kms v2: status is not ok");
                (e.to_string(), String::new())
            }
        };
        Ok(Response::new(StatusResponse { version: API_VERSION.into(), healthz, key_id }))
    }

    async fn encrypt(&self, req: Request<EncryptRequest>) -> Result<Response<EncryptResponse>, Status> {
        let EncryptRequest { plaintext, uid } = req.into_inner();
        let plaintext = Zeroizing::new(plaintext);
        check_uid(&uid)?;
        if plaintext.is_empty() {
            return Err(Status::invalid_argument("plaintext is empty"));
        }
        if plaintext.len() > MAX_PLAINTEXT {
            return Err(Status::invalid_argument(format!("plaintext is longer than {MAX_PLAINTEXT} bytes")));
        }
        let u = uid.clone();
        let (ciphertext, key_id) = self.run("encrypt", &uid, move |b| b.encrypt(&u, &plaintext)).await?;
        if let Some(p) = key_id_problem(&key_id) {
            return Err(to_status("encrypt", &uid, KmsError::Internal(format!("the backend returned a bad key id: {p}"))));
        }
        if ciphertext.is_empty() || ciphertext.len() > MAX_CIPHERTEXT {
            return Err(Status::invalid_argument(format!(
                "the ciphertext would be {} bytes; kube-apiserver accepts 1 to {MAX_CIPHERTEXT}",
                ciphertext.len()
            )));
        }
        tracing::debug!(uid = uid.as_str(), key_id = key_id.as_str(), "kms v2: encrypted");
        // No annotations: the key id names the version, the ciphertext carries the rest.
        Ok(Response::new(EncryptResponse { ciphertext, key_id, annotations: Default::default() }))
    }

    async fn decrypt(&self, req: Request<DecryptRequest>) -> Result<Response<DecryptResponse>, Status> {
        // Annotations are ignored: Encrypt never sets any.
        let DecryptRequest { ciphertext, uid, key_id, annotations: _ } = req.into_inner();
        check_uid(&uid)?;
        if let Some(p) = key_id_problem(&key_id) {
            return Err(Status::invalid_argument(p));
        }
        if ciphertext.is_empty() || ciphertext.len() > MAX_CIPHERTEXT {
            return Err(Status::invalid_argument(format!("ciphertext must be 1 to {MAX_CIPHERTEXT} bytes")));
        }
        let (u, k) = (uid.clone(), key_id.clone());
        let mut plaintext = self.run("decrypt", &uid, move |b| b.decrypt(&u, &k, &ciphertext)).await?;
        tracing::debug!(uid = uid.as_str(), key_id = key_id.as_str(), "kms v2: decrypted");
        // The response owns the buffer from here (prost messages hold plain Vecs).
        Ok(Response::new(DecryptResponse { plaintext: std::mem::take(&mut *plaintext) }))
    }
}
