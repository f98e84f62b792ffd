//! Key generation for orders (§5.8, §6.1): symmetric keys from the OS RNG, and RSA key pairs
//! (the `rsa` crate: generation and serialisation only; orders run no private-key operation, see
//! RUSTSEC-2023-0071 - managed keys do, blinded, in crypto/managed/rsa_ops.rs) as PEM PKCS#8
//! (PBES2-encrypted under a passphrase when one is given) and PEM SubjectPublicKeyInfo.

use pkcs8::der::Decode;
use pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding, PrivateKeyInfo};
use rand::rngs::OsRng;
use rand::RngCore;
use rsa::{RsaPrivateKey, RsaPublicKey};
use zeroize::Zeroizing;

/// PBKDF2-HMAC-SHA256 iterations for passphrase-encrypted private keys (OWASP 2023).
pub const PBKDF2_ITERATIONS: u32 = 600_000;

/// RSA modulus sizes Barbican generates.
pub const RSA_BITS: [usize; 3] = [1024, 2048, 4096];

#[derive(Debug, thiserror::Error)]
pub enum KeygenError {
    #[error("unsupported key size {0}")]
    Size(usize),
    #[error("key generation failed: {0}")]
    Generate(String),
    #[error("key serialisation failed: {0}")]
    Encode(String),
}

/// `bits / 8` random bytes from the operating system.
pub fn symmetric(bits: usize) -> Result<Zeroizing<Vec<u8>>, KeygenError> {
    if bits == 0 || !bits.is_multiple_of(8) {
        return Err(KeygenError::Size(bits));
    }
    let mut k = Zeroizing::new(vec![0u8; bits / 8]);
    OsRng.fill_bytes(&mut k);
    Ok(k)
}

/// An RSA key pair as PEM text.
pub struct RsaPem {
    /// `-----BEGIN PRIVATE KEY-----` or, with a passphrase, `-----BEGIN ENCRYPTED PRIVATE KEY-----`.
    pub private_pem: Zeroizing<String>,
    /// `-----BEGIN PUBLIC KEY-----`
    pub public_pem: String,
}

/// Generates an RSA key (e = 65537) of `bits` ∈ {1024, 2048, 4096}. CPU-heavy: call it on a
/// blocking thread.
pub fn rsa(bits: usize, passphrase: Option<&[u8]>) -> Result<RsaPem, KeygenError> {
    if !RSA_BITS.contains(&bits) {
        return Err(KeygenError::Size(bits));
    }
    let private = RsaPrivateKey::new(&mut OsRng, bits).map_err(|e| KeygenError::Generate(e.to_string()))?;
    let public_pem = RsaPublicKey::from(&private)
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| KeygenError::Encode(e.to_string()))?;
    let private_pem = match passphrase {
        None => private.to_pkcs8_pem(LineEnding::LF).map_err(|e| KeygenError::Encode(e.to_string()))?,
        Some(pass) => {
            let der = private.to_pkcs8_der().map_err(|e| KeygenError::Encode(e.to_string()))?;
            let info = PrivateKeyInfo::from_der(der.as_bytes()).map_err(|e| KeygenError::Encode(e.to_string()))?;
            // PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC: what OpenSSL and Python's
            // `cryptography` write and every PKCS#8 reader accepts (scrypt is less widely read).
            let mut salt = [0u8; 16];
            let mut iv = [0u8; 16];
            OsRng.fill_bytes(&mut salt);
            OsRng.fill_bytes(&mut iv);
            let params = pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(PBKDF2_ITERATIONS, &salt, &iv)
                .map_err(|e| KeygenError::Encode(e.to_string()))?;
            let enc = info.encrypt_with_params(params, pass).map_err(|e| KeygenError::Encode(e.to_string()))?;
            enc.to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF).map_err(|e| KeygenError::Encode(e.to_string()))?
        }
    };
    Ok(RsaPem { private_pem, public_pem })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pkcs8::{DecodePrivateKey, DecodePublicKey};
    use rsa::traits::PublicKeyParts;

    #[test]
    fn symmetric_lengths() {
        assert_eq!(symmetric(256).unwrap().len(), 32);
        assert_eq!(symmetric(64).unwrap().len(), 8);
        assert!(symmetric(0).is_err());
        assert!(symmetric(12).is_err());
        assert_ne!(*symmetric(128).unwrap(), *symmetric(128).unwrap());
    }

    #[test]
    fn rsa_pem_roundtrip() {
        let k = rsa(1024, None).unwrap();
        assert!(k.private_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(k.public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        let private = RsaPrivateKey::from_pkcs8_pem(&k.private_pem).unwrap();
        let public = RsaPublicKey::from_public_key_pem(&k.public_pem).unwrap();
        assert_eq!(private.size() * 8, 1024);
        assert_eq!(RsaPublicKey::from(&private), public);
        assert_eq!(public.e(), &rsa::BigUint::from(65537u32));
        assert!(rsa(512, None).is_err());
    }

    #[test]
    fn rsa_encrypted_pem() {
        let k = rsa(1024, Some(b"s3cret")).unwrap();
        assert!(k.private_pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
        let private = RsaPrivateKey::from_pkcs8_encrypted_pem(&k.private_pem, b"s3cret").unwrap();
        assert!(RsaPrivateKey::from_pkcs8_encrypted_pem(&k.private_pem, b"wrong").is_err());
        assert_eq!(RsaPublicKey::from(&private), RsaPublicKey::from_public_key_pem(&k.public_pem).unwrap());
    }
}
