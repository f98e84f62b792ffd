//! Ed25519 (the `ed25519-dalek` crate): pure Ed25519 over the message itself (RFC 8032; no
//! Ed25519ph). Verification is `verify_strict` (no small-order keys, no malleable signatures).

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, KeypairBytes};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand::rngs::OsRng;
use zeroize::Zeroizing;

/// PKCS#8 of the new key in the v1 form (the seed only). ed25519-dalek writes v2 (with the public
/// key), which OpenSSL 3.0 cannot read; v1 is what OpenSSL, ring, Go and Java all take. Imports
/// may be either (a v2 public key must match the private one).
pub(super) fn generate() -> Option<Zeroizing<Vec<u8>>> {
    let key = SigningKey::generate(&mut OsRng);
    let v1 = KeypairBytes { secret_key: key.to_bytes(), public_key: None };
    let doc = v1.to_pkcs8_der().ok()?;
    Some(Zeroizing::new(doc.as_bytes().to_vec()))
}

/// The signing key (a public key in the document, if any, must match the private one).
fn signing_key(pkcs8_der: &[u8]) -> Option<SigningKey> {
    SigningKey::from_pkcs8_der(pkcs8_der).ok()
}

pub(super) fn validate(pkcs8_der: &[u8]) -> bool {
    signing_key(pkcs8_der).is_some()
}

pub(super) fn public_der(pkcs8_der: &[u8]) -> Option<Vec<u8>> {
    let key = signing_key(pkcs8_der)?;
    Some(key.verifying_key().to_public_key_der().ok()?.into_vec())
}

pub(super) fn verifying_key(spki_der: &[u8]) -> Option<VerifyingKey> {
    VerifyingKey::from_public_key_der(spki_der).ok()
}

pub(super) fn sign(pkcs8_der: &[u8], message: &[u8]) -> Option<Vec<u8>> {
    Some(signing_key(pkcs8_der)?.sign(message).to_bytes().to_vec())
}

/// Whether `signature` (64 bytes) is valid for `message` (malformed: false).
pub(super) fn verify(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    match Signature::from_slice(signature) {
        Ok(sig) => key.verify_strict(message, &sig).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_v1_and_reads_v1_and_v2() {
        let v1 = generate().unwrap();
        // RFC 8410 v1: version 0, the Ed25519 OID, the 32-byte seed in a nested OCTET STRING.
        assert_eq!(v1.len(), 48);
        let prefix = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
        assert_eq!(&v1[..16], &prefix);
        let key = signing_key(&v1).unwrap();
        let v2 = key.to_pkcs8_der().unwrap();
        assert!(validate(v2.as_bytes()));
        assert_eq!(public_der(v2.as_bytes()), public_der(&v1));
        // A v2 document whose public key is not the private key's is refused.
        let other = SigningKey::generate(&mut OsRng);
        let other_pub = ed25519_dalek::pkcs8::PublicKeyBytes(other.verifying_key().to_bytes());
        let bad = KeypairBytes { secret_key: key.to_bytes(), public_key: Some(other_pub) };
        assert!(!validate(bad.to_pkcs8_der().unwrap().as_bytes()));
    }
}
