//! RSA keys (the `rsa` crate): OAEP-SHA256 encryption, RSASSA-PSS (salt length = hash length,
//! MGF1 with the same hash) and RSASSA-PKCS1-v1_5 signatures over SHA-256/384/512.
//!
//! RUSTSEC-2023-0071 ("Marvin"): the crate's private-key operations are not constant time. Every
//! private-key operation here uses RSA blinding (`decrypt_blinded`, `Pss::new_blinded`,
//! `sign_with_rng`), which hides the operand from the timing but is the mitigation, not a fix.

use rand::rngs::OsRng;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, Pkcs1v15Sign, Pss, RsaPrivateKey, RsaPublicKey};
use sha2::{Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

use super::ops::{bad_material, bad_public};
use super::{Hash, KeyType, Material, OpError, RsaScheme};

fn bits(kt: KeyType) -> Option<usize> {
    match kt {
        KeyType::Rsa2048 => Some(2048),
        KeyType::Rsa3072 => Some(3072),
        KeyType::Rsa4096 => Some(4096),
        _ => None,
    }
}

pub(super) fn generate(kt: KeyType) -> Option<Zeroizing<Vec<u8>>> {
    let key = RsaPrivateKey::new(&mut OsRng, bits(kt)?).ok()?;
    let doc = key.to_pkcs8_der().ok()?;
    Some(Zeroizing::new(doc.as_bytes().to_vec()))
}

/// The private key, checked for consistency and for the type's modulus size.
pub(super) fn private_key(kt: KeyType, m: &Material) -> Result<RsaPrivateKey, OpError> {
    let key = RsaPrivateKey::from_pkcs8_der(m.as_bytes()).map_err(|_| bad_material(kt))?;
    if key.validate().is_err() || Some(key.n().bits()) != bits(kt) {
        return Err(bad_material(kt));
    }
    Ok(key)
}

/// The public key of a SubjectPublicKeyInfo, of the type's modulus size.
pub(super) fn public_key(kt: KeyType, spki_der: &[u8]) -> Result<RsaPublicKey, OpError> {
    let key = RsaPublicKey::from_public_key_der(spki_der).map_err(|_| bad_public(kt))?;
    if Some(key.n().bits()) != bits(kt) {
        return Err(bad_public(kt));
    }
    Ok(key)
}

pub(super) fn public_der(kt: KeyType, m: &Material) -> Result<Vec<u8>, OpError> {
    let key = private_key(kt, m)?;
    let doc = RsaPublicKey::from(&key).to_public_key_der().map_err(|_| bad_material(kt))?;
    Ok(doc.into_vec())
}

pub(super) fn encrypt(kt: KeyType, m: &Material, plaintext: &[u8]) -> Result<Vec<u8>, OpError> {
    let key = RsaPublicKey::from(&private_key(kt, m)?);
    // OAEP overhead: two hash lengths and two bytes.
    let max = key.size() - 2 * 32 - 2;
    if plaintext.len() > max {
        return Err(OpError::Invalid(format!(
            "{} OAEP-SHA256 encrypts at most {max} bytes of plaintext",
            kt.as_str()
        )));
    }
    key.encrypt(&mut OsRng, Oaep::new::<Sha256>(), plaintext)
        .map_err(|_| OpError::Internal("RSA encryption failed".into()))
}

pub(super) fn decrypt(kt: KeyType, m: &Material, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpError> {
    let key = private_key(kt, m)?;
    key.decrypt_blinded(&mut OsRng, Oaep::new::<Sha256>(), ciphertext)
        .map(Zeroizing::new)
        .map_err(|_| OpError::Decrypt)
}

/// Signs `digest` (already of hash `h`, its length checked by the caller).
pub(super) fn sign(kt: KeyType, m: &Material, h: Hash, scheme: RsaScheme, digest: &[u8]) -> Result<Vec<u8>, OpError> {
    let key = private_key(kt, m)?;
    let sig = match (scheme, h) {
        (RsaScheme::Pss, Hash::Sha256) => key.sign_with_rng(&mut OsRng, Pss::new_blinded::<Sha256>(), digest),
        (RsaScheme::Pss, Hash::Sha384) => key.sign_with_rng(&mut OsRng, Pss::new_blinded::<Sha384>(), digest),
        (RsaScheme::Pss, Hash::Sha512) => key.sign_with_rng(&mut OsRng, Pss::new_blinded::<Sha512>(), digest),
        (RsaScheme::Pkcs1v15, Hash::Sha256) => key.sign_with_rng(&mut OsRng, Pkcs1v15Sign::new::<Sha256>(), digest),
        (RsaScheme::Pkcs1v15, Hash::Sha384) => key.sign_with_rng(&mut OsRng, Pkcs1v15Sign::new::<Sha384>(), digest),
        (RsaScheme::Pkcs1v15, Hash::Sha512) => key.sign_with_rng(&mut OsRng, Pkcs1v15Sign::new::<Sha512>(), digest),
    };
    sig.map_err(|_| OpError::Internal("RSA signing failed".into()))
}

/// Whether `signature` is a valid signature of `digest`. PSS signatures must use a salt of the
/// hash's length (what `sign` makes; `openssl ... -sigopt rsa_pss_saltlen:digest`).
pub(super) fn verify(key: &RsaPublicKey, h: Hash, scheme: RsaScheme, digest: &[u8], signature: &[u8]) -> bool {
    let r = match (scheme, h) {
        (RsaScheme::Pss, Hash::Sha256) => key.verify(Pss::new::<Sha256>(), digest, signature),
        (RsaScheme::Pss, Hash::Sha384) => key.verify(Pss::new::<Sha384>(), digest, signature),
        (RsaScheme::Pss, Hash::Sha512) => key.verify(Pss::new::<Sha512>(), digest, signature),
        (RsaScheme::Pkcs1v15, Hash::Sha256) => key.verify(Pkcs1v15Sign::new::<Sha256>(), digest, signature),
        (RsaScheme::Pkcs1v15, Hash::Sha384) => key.verify(Pkcs1v15Sign::new::<Sha384>(), digest, signature),
        (RsaScheme::Pkcs1v15, Hash::Sha512) => key.verify(Pkcs1v15Sign::new::<Sha512>(), digest, signature),
    };
    r.is_ok()
}
