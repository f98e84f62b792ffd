//! The operations of managed keys, dispatched by key type to the submodules that run them.
//! Everything here is a pure function of its arguments (plus the OS RNG): no store, no I/O.

use std::fmt;

use zeroize::Zeroizing;

use super::{ec, edwards, mac, rsa_ops, symmetric, Hash, KeyType, Op, OpError, RsaScheme, SignParams};

/// Key material of one version: symmetric/HMAC raw bytes (AES/ChaCha 32, HMAC-SHA256 32,
/// HMAC-SHA512 64), asymmetric as PKCS#8 DER. Zeroized on drop; Debug prints "Material(..)".
#[derive(Clone)]
pub struct Material(Zeroizing<Vec<u8>>);

impl Material {
    pub fn from_bytes(b: Zeroizing<Vec<u8>>) -> Material {
        Material(b)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Material {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Material(..)")
    }
}

/// `"<type> keys cannot <op>"`.
pub(super) fn cannot(kt: KeyType, op: Op) -> OpError {
    OpError::Unsupported(format!("{} keys cannot {}", kt.as_str(), op.as_str()))
}

/// Stored material that does not fit its type: a bug or corruption, never the caller's input.
pub(super) fn bad_material(kt: KeyType) -> OpError {
    OpError::Internal(format!("stored key material is not a valid {} key", kt.as_str()))
}

/// Raw key length of the symmetric and HMAC types.
pub(super) fn raw_len(kt: KeyType) -> Option<usize> {
    match kt {
        KeyType::Aes256Gcm | KeyType::Chacha20Poly1305 | KeyType::HmacSha256 => Some(32),
        KeyType::HmacSha512 => Some(64),
        _ => None,
    }
}

/// Raw key bytes of a symmetric/HMAC key, checked against the type's length.
pub(super) fn raw_key(kt: KeyType, m: &Material) -> Result<&[u8], OpError> {
    match raw_len(kt) {
        Some(n) if m.as_bytes().len() == n => Ok(m.as_bytes()),
        _ => Err(bad_material(kt)),
    }
}

pub fn generate(kt: KeyType) -> Result<Material, OpError> {
    if let Some(n) = raw_len(kt) {
        return Ok(Material(symmetric::random_key(n)));
    }
    let bytes = match kt {
        KeyType::EcdsaP256 => ec::p256_ops::generate(),
        KeyType::EcdsaP384 => ec::p384_ops::generate(),
        KeyType::Ed25519 => edwards::generate(),
        _ => rsa_ops::generate(kt),
    };
    Ok(Material(bytes.ok_or_else(|| OpError::Internal(format!("{} key generation failed", kt.as_str())))?))
}

/// Checks imported/stored material is valid for the type (lengths, PKCS#8 parses, RSA size matches).
pub fn validate(kt: KeyType, m: &Material) -> Result<(), OpError> {
    let ok = match kt {
        KeyType::EcdsaP256 => ec::p256_ops::validate(m.as_bytes()),
        KeyType::EcdsaP384 => ec::p384_ops::validate(m.as_bytes()),
        KeyType::Ed25519 => edwards::validate(m.as_bytes()),
        _ if kt.is_rsa() => rsa_ops::private_key(kt, m).is_ok(),
        _ => raw_key(kt, m).is_ok(),
    };
    if ok {
        Ok(())
    } else {
        Err(OpError::Invalid(match raw_len(kt) {
            Some(n) => format!("{} key material must be {n} bytes", kt.as_str()),
            None => format!("{} key material must be a PKCS#8 DER private key of that type", kt.as_str()),
        }))
    }
}

/// SubjectPublicKeyInfo DER of the public half (None for symmetric/HMAC).
pub fn public_der(kt: KeyType, m: &Material) -> Result<Option<Vec<u8>>, OpError> {
    let der = match kt {
        KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => rsa_ops::public_der(kt, m)?,
        KeyType::EcdsaP256 => ec::p256_ops::public_der(m.as_bytes()).ok_or_else(|| bad_material(kt))?,
        KeyType::EcdsaP384 => ec::p384_ops::public_der(m.as_bytes()).ok_or_else(|| bad_material(kt))?,
        KeyType::Ed25519 => edwards::public_der(m.as_bytes()).ok_or_else(|| bad_material(kt))?,
        _ => return Ok(None),
    };
    Ok(Some(der))
}

/// Checks `spki_der` is a public key of the type (RSA: of its size).
fn check_public(kt: KeyType, spki_der: &[u8]) -> Result<(), OpError> {
    let ok = match kt {
        KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => rsa_ops::public_key(kt, spki_der).is_ok(),
        KeyType::EcdsaP256 => ec::p256_ops::verifying_key(spki_der).is_some(),
        KeyType::EcdsaP384 => ec::p384_ops::verifying_key(spki_der).is_some(),
        KeyType::Ed25519 => edwards::verifying_key(spki_der).is_some(),
        _ => return Err(OpError::Unsupported(format!("{} keys have no public key", kt.as_str()))),
    };
    if ok {
        Ok(())
    } else {
        Err(bad_public(kt))
    }
}

pub(super) fn bad_public(kt: KeyType) -> OpError {
    OpError::Invalid(format!("not a {} SubjectPublicKeyInfo", kt.as_str()))
}

/// PEM (`-----BEGIN PUBLIC KEY-----`) of a SubjectPublicKeyInfo, after checking it is of the type.
pub fn public_pem(kt: KeyType, spki_der: &[u8]) -> Result<String, OpError> {
    check_public(kt, spki_der)?;
    pkcs8::der::pem::encode_string("PUBLIC KEY", pkcs8::der::pem::LineEnding::LF, spki_der)
        .map_err(|_| OpError::Internal("PEM encoding failed".into()))
}

/// Symmetric: nonce(12) || ciphertext || tag, AEAD with `aad` (None == empty).
/// RSA: OAEP-SHA256, aad must be None (else Invalid).
pub fn encrypt(kt: KeyType, m: &Material, plaintext: &[u8], aad: Option<&[u8]>) -> Result<Vec<u8>, OpError> {
    match kt {
        KeyType::Aes256Gcm | KeyType::Chacha20Poly1305 => symmetric::seal(kt, raw_key(kt, m)?, plaintext, aad),
        _ if kt.is_rsa() => {
            no_aad(kt, aad)?;
            rsa_ops::encrypt(kt, m, plaintext)
        }
        _ => Err(cannot(kt, Op::Encrypt)),
    }
}

pub fn decrypt(kt: KeyType, m: &Material, ciphertext: &[u8], aad: Option<&[u8]>) -> Result<Zeroizing<Vec<u8>>, OpError> {
    match kt {
        KeyType::Aes256Gcm | KeyType::Chacha20Poly1305 => symmetric::open(kt, raw_key(kt, m)?, ciphertext, aad),
        _ if kt.is_rsa() => {
            no_aad(kt, aad)?;
            rsa_ops::decrypt(kt, m, ciphertext)
        }
        _ => Err(cannot(kt, Op::Decrypt)),
    }
}

fn no_aad(kt: KeyType, aad: Option<&[u8]>) -> Result<(), OpError> {
    match aad {
        None => Ok(()),
        Some(_) => Err(OpError::Invalid(format!("{} encryption takes no associated data", kt.as_str()))),
    }
}

/// The hash a signature uses, after checking the parameters fit the type.
fn sign_hash(kt: KeyType, p: &SignParams, op: Op) -> Result<Hash, OpError> {
    if !kt.is_asymmetric() {
        return Err(cannot(kt, op));
    }
    if p.scheme.is_some() && !kt.is_rsa() {
        return Err(OpError::Unsupported(format!("{} keys take no signature scheme (RSA only)", kt.as_str())));
    }
    match kt {
        KeyType::Ed25519 if p.prehashed || p.hash.is_some() => Err(OpError::Unsupported(
            "ed25519 keys sign the message itself (pure Ed25519): no hash, no prehashed input".into(),
        )),
        // Unused for Ed25519, which hashes with SHA-512 inside the algorithm.
        KeyType::Ed25519 => Ok(Hash::Sha512),
        KeyType::EcdsaP384 => Ok(p.hash.unwrap_or(Hash::Sha384)),
        _ => Ok(p.hash.unwrap_or(Hash::Sha256)),
    }
}

/// The digest to sign or verify: the input itself when prehashed (its length checked), else its hash.
fn digest_of(h: Hash, input: &[u8], prehashed: bool) -> Result<Vec<u8>, OpError> {
    if !prehashed {
        return Ok(h.digest(input));
    }
    if input.len() != h.len() {
        return Err(OpError::Invalid(format!(
            "a prehashed input must be a {}-byte {} digest, not {} bytes",
            h.len(),
            h.as_str(),
            input.len()
        )));
    }
    Ok(input.to_vec())
}

/// RSA (PSS default or PKCS#1 v1.5; hash default SHA-256), ECDSA (P-256 default SHA-256, P-384
/// default SHA-384; signature DER-encoded), Ed25519 (pure; prehashed or a hash -> Unsupported).
/// prehashed: input is the digest (length must match the hash, else Invalid).
pub fn sign(kt: KeyType, m: &Material, input: &[u8], p: &SignParams) -> Result<Vec<u8>, OpError> {
    let h = sign_hash(kt, p, Op::Sign)?;
    if kt == KeyType::Ed25519 {
        return edwards::sign(m.as_bytes(), input).ok_or_else(|| bad_material(kt));
    }
    let digest = digest_of(h, input, p.prehashed)?;
    match kt {
        KeyType::EcdsaP256 => ec::p256_ops::sign(m.as_bytes(), &digest).ok_or_else(|| bad_material(kt)),
        KeyType::EcdsaP384 => ec::p384_ops::sign(m.as_bytes(), &digest).ok_or_else(|| bad_material(kt)),
        _ => rsa_ops::sign(kt, m, h, p.scheme.unwrap_or(RsaScheme::Pss), &digest),
    }
}

/// Verifies with the public half only (so keys whose private half lives in a TPM verify the same
/// way). Ok(false) for a bad signature (including a malformed one).
pub fn verify(kt: KeyType, spki_der: &[u8], input: &[u8], signature: &[u8], p: &SignParams) -> Result<bool, OpError> {
    let h = sign_hash(kt, p, Op::Verify)?;
    match kt {
        KeyType::Ed25519 => {
            let vk = edwards::verifying_key(spki_der).ok_or_else(|| bad_public(kt))?;
            Ok(edwards::verify(&vk, input, signature))
        }
        KeyType::EcdsaP256 => {
            let vk = ec::p256_ops::verifying_key(spki_der).ok_or_else(|| bad_public(kt))?;
            Ok(ec::p256_ops::verify(&vk, &digest_of(h, input, p.prehashed)?, signature))
        }
        KeyType::EcdsaP384 => {
            let vk = ec::p384_ops::verifying_key(spki_der).ok_or_else(|| bad_public(kt))?;
            Ok(ec::p384_ops::verify(&vk, &digest_of(h, input, p.prehashed)?, signature))
        }
        _ => {
            let pk = rsa_ops::public_key(kt, spki_der)?;
            let scheme = p.scheme.unwrap_or(RsaScheme::Pss);
            Ok(rsa_ops::verify(&pk, h, scheme, &digest_of(h, input, p.prehashed)?, signature))
        }
    }
}

pub fn hmac(kt: KeyType, m: &Material, input: &[u8]) -> Result<Vec<u8>, OpError> {
    if !kt.is_hmac() {
        return Err(cannot(kt, Op::Hmac));
    }
    Ok(mac::compute(kt, raw_key(kt, m)?, input))
}

/// Constant-time comparison (hmac's verify_slice). A tag of the wrong length is just wrong.
pub fn hmac_verify(kt: KeyType, m: &Material, input: &[u8], tag: &[u8]) -> Result<bool, OpError> {
    if !kt.is_hmac() {
        return Err(cannot(kt, Op::Hmac));
    }
    Ok(mac::verify(kt, raw_key(kt, m)?, input, tag))
}
