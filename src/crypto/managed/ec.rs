//! ECDSA over P-256 and P-384 (the `p256` / `p384` crates). Both always sign a digest
//! (`PrehashSigner`, RFC 6979 nonces): signing a message is signing its hash, so a prehashed input
//! and the message it is the digest of give signatures that verify alike. Signatures are ASN.1 DER
//! (what OpenSSL, JWS-less X.509 tooling and most clients expect).

macro_rules! curve_ops {
    ($name:ident, $krate:ident) => {
        pub(super) mod $name {
            use rand::rngs::OsRng;
            use zeroize::Zeroizing;
            use $krate::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
            use $krate::ecdsa::{Signature, SigningKey, VerifyingKey};
            use $krate::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};

            pub(in super::super) fn generate() -> Option<Zeroizing<Vec<u8>>> {
                let key = SigningKey::random(&mut OsRng);
                let doc = key.to_pkcs8_der().ok()?;
                Some(Zeroizing::new(doc.as_bytes().to_vec()))
            }

            fn signing_key(pkcs8_der: &[u8]) -> Option<SigningKey> {
                SigningKey::from_pkcs8_der(pkcs8_der).ok()
            }

            pub(in super::super) fn validate(pkcs8_der: &[u8]) -> bool {
                signing_key(pkcs8_der).is_some()
            }

            pub(in super::super) fn public_der(pkcs8_der: &[u8]) -> Option<Vec<u8>> {
                let key = signing_key(pkcs8_der)?;
                Some(key.verifying_key().to_public_key_der().ok()?.into_vec())
            }

            pub(in super::super) fn verifying_key(spki_der: &[u8]) -> Option<VerifyingKey> {
                VerifyingKey::from_public_key_der(spki_der).ok()
            }

            /// DER signature of `digest` (any SHA-2 length: it is truncated to the curve order).
            pub(in super::super) fn sign(pkcs8_der: &[u8], digest: &[u8]) -> Option<Vec<u8>> {
                let key = signing_key(pkcs8_der)?;
                let sig: Signature = key.sign_prehash(digest).ok()?;
                Some(sig.to_der().as_bytes().to_vec())
            }

            /// Whether `der_sig` is a valid DER signature of `digest` (malformed: false).
            pub(in super::super) fn verify(key: &VerifyingKey, digest: &[u8], der_sig: &[u8]) -> bool {
                match Signature::from_der(der_sig) {
                    Ok(sig) => key.verify_prehash(digest, &sig).is_ok(),
                    Err(_) => false,
                }
            }
        }
    };
}

curve_ops!(p256_ops, p256);
curve_ops!(p384_ops, p384);
