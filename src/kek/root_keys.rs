//! Keys of sensitivity `high`: made and used inside the root of trust (the TPM), so their
//! plaintext never enters Portcullis memory. Portcullis keeps only the root's opaque blob
//! (the TPM's public area and its TPM-encrypted private area) in the database, under the
//! project KEK like every other key version, and asks the root to run each operation.

use crate::crypto::managed::{Hash, KeyType, RsaScheme};

use super::KekError;

/// A key made inside the root of trust.
pub struct RootKey {
    /// Opaque; safe to store: only the root that made it can load it.
    pub blob: Vec<u8>,
    /// The SubjectPublicKeyInfo DER of an asymmetric key (None for HMAC keys).
    pub public_der: Option<Vec<u8>>,
}

/// Operations a root of trust runs on keys it made. Signatures come out in the encodings the
/// software keys use, so one verifier checks both: RSA as the raw signature, ECDSA as DER.
pub trait RootKeys: Send + Sync {
    /// For messages: e.g. "tpm".
    fn name(&self) -> &'static str;
    /// Whether this root can make and use keys of this type.
    fn supports(&self, kt: KeyType) -> bool;
    fn create(&self, kt: KeyType) -> Result<RootKey, KekError>;
    fn hmac(&self, kt: KeyType, blob: &[u8], data: &[u8]) -> Result<Vec<u8>, KekError>;
    /// Signs a digest of `hash` (RSA: `scheme`, None meaning PSS).
    fn sign_digest(
        &self,
        kt: KeyType,
        blob: &[u8],
        digest: &[u8],
        hash: Hash,
        scheme: Option<RsaScheme>,
    ) -> Result<Vec<u8>, KekError>;
}
