//! Managed keys (`/v1/keys`): the key types, the operations each supports, and the versioned
//! text form of ciphertexts and signatures (`pcs:v3:<base64>`). The operations themselves live
//! in the submodules; all of them are RustCrypto or `ring` code, nothing hand-rolled.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

mod ec;
mod edwards;
mod mac;
mod ops;
mod rsa_ops;
mod symmetric;
#[cfg(test)]
mod tests_interop;
#[cfg(test)]
mod tests_ops;

pub use ops::{decrypt, encrypt, generate, hmac, hmac_verify, public_der, public_pem, sign, validate, verify, Material};

/// A managed key's type: fixed at creation, the same for every version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    Aes256Gcm,
    Chacha20Poly1305,
    HmacSha256,
    HmacSha512,
    Rsa2048,
    Rsa3072,
    Rsa4096,
    EcdsaP256,
    EcdsaP384,
    Ed25519,
}

/// What a caller may ask of a key (and what a grant names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    Encrypt,
    Decrypt,
    Sign,
    Verify,
    Hmac,
    Datakey,
    Rewrap,
    Export,
    Describe,
    Rotate,
    Admin,
}

/// The hash of a signature (and of a prehashed input).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

/// RSA signature padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RsaScheme {
    /// RSASSA-PSS, salt length = hash length, MGF1 with the same hash.
    Pss,
    /// RSASSA-PKCS1-v1_5.
    Pkcs1v15,
}

/// How a signature is made or checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignParams {
    /// None: the type's default (SHA-256; SHA-384 for P-384; Ed25519 hashes itself).
    pub hash: Option<Hash>,
    /// The input is already a digest of `hash` (not allowed for Ed25519).
    pub prehashed: bool,
    /// RSA only; None: PSS.
    pub scheme: Option<RsaScheme>,
}

/// Why an operation failed, in words safe to return to the caller (never key material).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    /// The key type (or the root of trust) cannot do this, or not with these parameters.
    #[error("{0}")]
    Unsupported(String),
    /// The input is malformed (bad base64, wrong digest length, AAD where none is allowed…).
    #[error("{0}")]
    Invalid(String),
    /// Authenticated decryption failed: wrong key, wrong associated data or corrupt data.
    #[error("decryption failed")]
    Decrypt,
    /// Anything unexpected; the detail is logged, never returned.
    #[error("{0}")]
    Internal(String),
}

impl KeyType {
    pub const ALL: [KeyType; 10] = [
        KeyType::Aes256Gcm,
        KeyType::Chacha20Poly1305,
        KeyType::HmacSha256,
        KeyType::HmacSha512,
        KeyType::Rsa2048,
        KeyType::Rsa3072,
        KeyType::Rsa4096,
        KeyType::EcdsaP256,
        KeyType::EcdsaP384,
        KeyType::Ed25519,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Aes256Gcm => "aes256-gcm",
            KeyType::Chacha20Poly1305 => "chacha20-poly1305",
            KeyType::HmacSha256 => "hmac-sha256",
            KeyType::HmacSha512 => "hmac-sha512",
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::Rsa3072 => "rsa-3072",
            KeyType::Rsa4096 => "rsa-4096",
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::EcdsaP384 => "ecdsa-p384",
            KeyType::Ed25519 => "ed25519",
        }
    }

    pub fn parse(s: &str) -> Option<KeyType> {
        KeyType::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn is_symmetric_cipher(self) -> bool {
        matches!(self, KeyType::Aes256Gcm | KeyType::Chacha20Poly1305)
    }

    pub fn is_hmac(self) -> bool {
        matches!(self, KeyType::HmacSha256 | KeyType::HmacSha512)
    }

    pub fn is_rsa(self) -> bool {
        matches!(self, KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096)
    }

    /// Types with a public half (readable by whoever may describe the key).
    pub fn is_asymmetric(self) -> bool {
        self.is_rsa() || matches!(self, KeyType::EcdsaP256 | KeyType::EcdsaP384 | KeyType::Ed25519)
    }

    /// Whether the type can run `op` at all (the grant and the sensitivity decide the rest).
    pub fn can(self, op: Op) -> bool {
        match op {
            Op::Encrypt | Op::Decrypt | Op::Rewrap | Op::Datakey => self.is_symmetric_cipher() || self.is_rsa(),
            Op::Sign => self.is_asymmetric(),
            // HMAC keys verify tags, asymmetric keys signatures.
            Op::Verify => self.is_asymmetric() || self.is_hmac(),
            Op::Hmac => self.is_hmac(),
            Op::Export | Op::Describe | Op::Rotate | Op::Admin => true,
        }
    }
}

impl Op {
    pub const ALL: [Op; 11] = [
        Op::Encrypt,
        Op::Decrypt,
        Op::Sign,
        Op::Verify,
        Op::Hmac,
        Op::Datakey,
        Op::Rewrap,
        Op::Export,
        Op::Describe,
        Op::Rotate,
        Op::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Encrypt => "encrypt",
            Op::Decrypt => "decrypt",
            Op::Sign => "sign",
            Op::Verify => "verify",
            Op::Hmac => "hmac",
            Op::Datakey => "datakey",
            Op::Rewrap => "rewrap",
            Op::Export => "export",
            Op::Describe => "describe",
            Op::Rotate => "rotate",
            Op::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl Hash {
    /// `sha2-256`/`sha256`, `sha2-384`/`sha384`, `sha2-512`/`sha512`.
    pub fn parse(s: &str) -> Option<Hash> {
        match s.to_ascii_lowercase().as_str() {
            "sha2-256" | "sha256" | "sha-256" => Some(Hash::Sha256),
            "sha2-384" | "sha384" | "sha-384" => Some(Hash::Sha384),
            "sha2-512" | "sha512" | "sha-512" => Some(Hash::Sha512),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Hash::Sha256 => "sha2-256",
            Hash::Sha384 => "sha2-384",
            Hash::Sha512 => "sha2-512",
        }
    }

    /// The digest length in bytes.
    #[allow(clippy::len_without_is_empty)] // a digest size, never empty
    pub fn len(self) -> usize {
        match self {
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }

    pub fn digest(self, input: &[u8]) -> Vec<u8> {
        use sha2::Digest;
        match self {
            Hash::Sha256 => sha2::Sha256::digest(input).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(input).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(input).to_vec(),
        }
    }
}

impl RsaScheme {
    pub fn parse(s: &str) -> Option<RsaScheme> {
        match s.to_ascii_lowercase().as_str() {
            "pss" => Some(RsaScheme::Pss),
            "pkcs1v15" | "pkcs1-v1_5" | "pkcs1" => Some(RsaScheme::Pkcs1v15),
            _ => None,
        }
    }
}

const PREFIX: &str = "pcs:v";

/// `pcs:v<version>:<standard base64>`: the form every ciphertext and signature takes on the wire.
pub fn encode_versioned(version: u32, bytes: &[u8]) -> String {
    format!("{PREFIX}{version}:{}", B64.encode(bytes))
}

/// The version and bytes of a `pcs:v<N>:<base64>` string.
pub fn decode_versioned(s: &str) -> Result<(u32, Vec<u8>), OpError> {
    let bad = || OpError::Invalid("expected a ciphertext or signature of the form pcs:v<version>:<base64>".into());
    let rest = s.strip_prefix(PREFIX).ok_or_else(bad)?;
    let (v, b) = rest.split_once(':').ok_or_else(bad)?;
    if v.is_empty() || v.len() > 9 || !v.bytes().all(|c| c.is_ascii_digit()) || v.starts_with('0') {
        return Err(bad());
    }
    let version: u32 = v.parse().map_err(|_| bad())?;
    let bytes = B64.decode(b).map_err(|_| bad())?;
    Ok((version, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_round_trip_and_refusals() {
        let s = encode_versioned(3, b"\x00\x01abc");
        assert_eq!(s, "pcs:v3:AAFhYmM=");
        assert_eq!(decode_versioned(&s).unwrap(), (3, b"\x00\x01abc".to_vec()));
        for bad in ["pcs:v0:AA==", "pcs:v:AA==", "pcs:v03:AA==", "pcs:vx:AA==", "vault:v1:AA==", "pcs:v1:!!", "pcs:v1"] {
            assert!(decode_versioned(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn names_round_trip() {
        for k in KeyType::ALL {
            assert_eq!(KeyType::parse(k.as_str()), Some(k));
        }
        for o in Op::ALL {
            assert_eq!(Op::parse(o.as_str()), Some(o));
        }
        assert_eq!(KeyType::parse("aes-256-gcm"), None);
        assert!(KeyType::HmacSha256.can(Op::Hmac) && !KeyType::HmacSha256.can(Op::Encrypt));
        assert!(KeyType::Ed25519.can(Op::Sign) && !KeyType::Ed25519.can(Op::Encrypt));
        assert!(KeyType::Rsa2048.can(Op::Encrypt) && KeyType::Rsa2048.can(Op::Sign));
    }
}
