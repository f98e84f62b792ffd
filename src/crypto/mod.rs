//! AES-256-GCM envelope primitives (from the `aes-gcm` crate; nothing hand-rolled).
//!
//! Sealed blob layout: 12-byte random nonce || ciphertext || 16-byte tag.

pub mod keygen;
pub mod managed;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use std::mem::ManuallyDrop;

use zeroize::{Zeroize, Zeroizing};

pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("decryption failed (wrong key, wrong binding or corrupt data)")]
    Decrypt,
    #[error("encryption failed")]
    Encrypt,
    #[error("ciphertext too short")]
    Truncated,
}

/// A 256-bit key that is wiped from memory when dropped. It never prints its bytes.
#[derive(Clone)]
pub struct Key(Zeroizing<[u8; KEY_LEN]>);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    pub fn generate() -> Key {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        rand::rngs::OsRng.fill_bytes(&mut k[..]);
        Key(k)
    }

    /// Takes the bytes and wipes the source buffer.
    pub fn from_slice(bytes: &mut [u8]) -> Option<Key> {
        if bytes.len() != KEY_LEN {
            bytes.zeroize();
            return None;
        }
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        k.copy_from_slice(bytes);
        bytes.zeroize();
        Some(Key(k))
    }

    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    pub fn cipher(&self) -> Cipher {
        Cipher(ManuallyDrop::new(Aes256Gcm::new(self.0.as_slice().into())))
    }
}

/// An expanded AES-256-GCM key, ready to seal and open, wiped when dropped.
pub struct Cipher(ManuallyDrop<Aes256Gcm>);

impl Drop for Cipher {
    /// `aes-gcm`'s `zeroize` feature wipes only a temporary: the AES round keys (the first two
    /// are the key itself) and the GHASH subkey stay in memory after an `Aes256Gcm` drops, unless
    /// the `aes` crate's own feature is on, and polyval 0.6 never wipes its CPU-detected backend.
    /// The state is plain inline arrays (no heap), so after dropping it we zero all its bytes.
    fn drop(&mut self) {
        // SAFETY: the cipher is dropped once, here, and not used after; its state is flat
        // (arrays and a CPU-feature token, no pointers), so overwriting its bytes frees nothing.
        unsafe {
            ManuallyDrop::drop(&mut self.0);
            zeroize::zeroize_flat_type(&mut self.0 as *mut ManuallyDrop<Aes256Gcm>);
        }
    }
}

impl Cipher {
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .0
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .map_err(|_| CryptoError::Encrypt)?;
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.len() < NONCE_LEN + 16 {
            return Err(CryptoError::Truncated);
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        self.0
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Decrypt)
    }
}

/// Associated data binding a wrapped project KEK to its row.
pub fn kek_aad(project_id: &str, kek_id: &str, master_version: i32) -> Vec<u8> {
    format!("portcullis/project-kek/v1\0{project_id}\0{kek_id}\0{master_version}").into_bytes()
}

/// Associated data binding a secret's ciphertext to its secret, project, KEK and content type.
pub fn secret_aad(secret_id: &str, project_id: &str, kek_id: &str, content_type: &str) -> Vec<u8> {
    format!("portcullis/secret/v1\0{secret_id}\0{project_id}\0{kek_id}\0{content_type}").into_bytes()
}

/// Binds an order's sealed passphrase to its order, project and KEK.
pub fn order_passphrase_aad(order_id: &str, project_id: &str, kek_id: &str) -> Vec<u8> {
    format!("portcullis/order-passphrase/v1\0{order_id}\0{project_id}\0{kek_id}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_roundtrip_and_binding() {
        let k = Key::generate();
        let c = k.cipher();
        let sealed = c.seal(b"hello", b"aad-1").unwrap();
        assert_eq!(&c.open(&sealed, b"aad-1").unwrap()[..], b"hello");
        assert!(c.open(&sealed, b"aad-2").is_err(), "other AAD must fail");
        let other = Key::generate().cipher();
        assert!(other.open(&sealed, b"aad-1").is_err(), "other key must fail");
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(c.open(&tampered, b"aad-1").is_err());
        assert!(c.open(&sealed[..10], b"aad-1").is_err());
    }

    #[test]
    fn fresh_nonce_per_seal() {
        let c = Key::generate().cipher();
        assert_ne!(c.seal(b"x", b"").unwrap(), c.seal(b"x", b"").unwrap());
    }

    /// A cipher dropped (by the project-KEK cache, say) leaves nothing behind: AES-256's first
    /// two round keys are the key itself; after the drop every byte of the cipher is zero.
    #[test]
    fn cipher_wipes_its_state_on_drop() {
        let key = Key::generate();
        let mut slot = std::mem::MaybeUninit::new(key.cipher());
        // The bytes of the slot (the cipher's state is plain arrays, stored inline).
        let bytes = |s: &std::mem::MaybeUninit<Cipher>| unsafe {
            std::slice::from_raw_parts(s.as_ptr() as *const u8, std::mem::size_of::<Cipher>()).to_vec()
        };
        assert!(bytes(&slot).windows(KEY_LEN).any(|w| w == key.expose()), "the key schedule starts with the key");
        unsafe { slot.assume_init_drop() };
        assert!(bytes(&slot).iter().all(|b| *b == 0), "a dropped cipher's memory is not wiped");
    }

    #[test]
    fn key_debug_hides_bytes() {
        assert_eq!(format!("{:?}", Key::generate()), "Key(..)");
    }
}

/// Binds a managed key version's sealed material to its key, version, project, KEK, type and
/// origin (`software`, or the root of trust's name for keys of sensitivity high).
pub fn managed_key_aad(key_id: &str, version: i32, project_id: &str, kek_id: &str, key_type: &str, origin: &str) -> Vec<u8> {
    format!("portcullis/managed-key/v1\0{key_id}\0{version}\0{project_id}\0{kek_id}\0{key_type}\0{origin}").into_bytes()
}
