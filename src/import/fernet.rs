//! Fernet decryption (the format Barbican's simple_crypto plugin writes), nothing else.
//!
//! Token (urlsafe base64): 0x80 | timestamp (8, big-endian) | IV (16) | AES-128-CBC ciphertext
//! with PKCS#7 padding | HMAC-SHA256 (32) over everything before it. A key is urlsafe base64 of
//! 32 bytes: the first 16 sign, the last 16 encrypt. Token age is not checked (Barbican uses no
//! TTL). The HMAC is checked, in constant time, before anything is decrypted.

use aes::cipher::{BlockDecrypt, KeyInit};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

const VERSION: u8 = 0x80;
const HEADER: usize = 1 + 8 + 16;
const MAC_LEN: usize = 32;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FernetError {
    #[error("not a Fernet key (want urlsafe base64 of 32 bytes)")]
    BadKey,
    #[error("not a Fernet token")]
    BadToken,
    /// Wrong key, or a token that was tampered with.
    #[error("the Fernet token does not verify under any of the given keys")]
    InvalidToken,
}

fn b64(text: &[u8]) -> Option<Vec<u8>> {
    let t: Vec<u8> = text.iter().copied().filter(|c| !c.is_ascii_whitespace() && *c != b'=').collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t).ok()
}

/// One Fernet key: its signing and encryption halves, wiped on drop.
pub struct FernetKey {
    signing: Zeroizing<[u8; 16]>,
    encryption: Zeroizing<[u8; 16]>,
}

impl std::fmt::Debug for FernetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FernetKey(..)")
    }
}

impl FernetKey {
    /// From the urlsafe base64 text (as in barbican.conf or a wrapped project KEK).
    pub fn from_text(text: &[u8]) -> Result<FernetKey, FernetError> {
        let mut raw = Zeroizing::new(b64(text).ok_or(FernetError::BadKey)?);
        if raw.len() != 32 {
            return Err(FernetError::BadKey);
        }
        let mut signing = Zeroizing::new([0u8; 16]);
        let mut encryption = Zeroizing::new([0u8; 16]);
        signing.copy_from_slice(&raw[..16]);
        encryption.copy_from_slice(&raw[16..]);
        raw.zeroize();
        Ok(FernetKey { signing, encryption })
    }

    /// Decrypts a token (its urlsafe base64 text).
    pub fn decrypt(&self, token: &[u8]) -> Result<Zeroizing<Vec<u8>>, FernetError> {
        let raw = b64(token).ok_or(FernetError::BadToken)?;
        if raw.len() < HEADER + 16 + MAC_LEN || raw[0] != VERSION || !(raw.len() - HEADER - MAC_LEN).is_multiple_of(16) {
            return Err(FernetError::BadToken);
        }
        let (signed, tag) = raw.split_at(raw.len() - MAC_LEN);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.signing[..]).map_err(|_| FernetError::BadKey)?;
        mac.update(signed);
        // `verify_slice` compares in constant time.
        mac.verify_slice(tag).map_err(|_| FernetError::InvalidToken)?;
        let iv: [u8; 16] = signed[9..HEADER].try_into().map_err(|_| FernetError::BadToken)?;
        let mut out = Zeroizing::new(signed[HEADER..].to_vec());
        let aes = aes::Aes128::new_from_slice(&self.encryption[..]).map_err(|_| FernetError::BadKey)?;
        let mut prev = iv;
        for chunk in out.chunks_mut(16) {
            let mut this = [0u8; 16];
            this.copy_from_slice(chunk);
            let block = aes::Block::from_mut_slice(chunk);
            aes.decrypt_block(block);
            for (b, p) in chunk.iter_mut().zip(prev.iter()) {
                *b ^= p;
            }
            prev = this;
        }
        // PKCS#7 (the MAC already vouches for the bytes, so no padding oracle here).
        let pad = *out.last().ok_or(FernetError::BadToken)? as usize;
        if pad == 0 || pad > 16 || pad > out.len() || !out[out.len() - pad..].iter().all(|b| *b as usize == pad) {
            return Err(FernetError::BadToken);
        }
        let keep = out.len() - pad;
        out[keep..].zeroize();
        out.truncate(keep);
        Ok(out)
    }
}

/// Several keys tried in order, as `cryptography`'s MultiFernet decrypts.
pub struct MultiFernet(pub Vec<FernetKey>);

impl MultiFernet {
    pub fn decrypt(&self, token: &[u8]) -> Result<Zeroizing<Vec<u8>>, FernetError> {
        let mut last = FernetError::InvalidToken;
        for k in &self.0 {
            match k.decrypt(token) {
                Ok(p) => return Ok(p),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The Fernet specification's test vector.
    const KEY: &[u8] = b"cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
    const TOKEN: &[u8] = b"gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA==";
    // Made with Python's cryptography 50 (Fernet(K2).encrypt(b"0123456789abcdef")): a full
    // block of padding.
    const K2: &[u8] = b"RyOM-ctecFpCOynz8waTrCQrkmAWKb0h9T1pO8CVeoY=";
    const T2: &[u8] = b"gAAAAABrD4NKgC4VOVxY8vCmb78xjHrqQdRawod4Bmxcoj8JOJ82v2JPnmnprUCUIYz5ajqQ9AbRVqHGT0XNjwz6k-OtE6xFk72LDHcDrt8J13X-XxGBEpU=";

    #[test]
    fn decrypts_the_spec_vector_and_a_python_token() {
        assert_eq!(&FernetKey::from_text(KEY).unwrap().decrypt(TOKEN).unwrap()[..], b"hello");
        assert_eq!(&FernetKey::from_text(K2).unwrap().decrypt(T2).unwrap()[..], b"0123456789abcdef");
    }

    #[test]
    fn wrong_key_and_tampering_fail() {
        assert_eq!(FernetKey::from_text(K2).unwrap().decrypt(TOKEN).unwrap_err(), FernetError::InvalidToken);
        let mut t = TOKEN.to_vec();
        t[30] = if t[30] == b'A' { b'B' } else { b'A' };
        assert!(FernetKey::from_text(KEY).unwrap().decrypt(&t).is_err());
        assert_eq!(FernetKey::from_text(b"c2hvcnQ=").unwrap_err(), FernetError::BadKey);
        assert_eq!(FernetKey::from_text(KEY).unwrap().decrypt(b"not a token").unwrap_err(), FernetError::BadToken);
    }

    #[test]
    fn multifernet_tries_every_key() {
        let m = MultiFernet(vec![FernetKey::from_text(K2).unwrap(), FernetKey::from_text(KEY).unwrap()]);
        assert_eq!(&m.decrypt(TOKEN).unwrap()[..], b"hello");
        assert_eq!(&m.decrypt(T2).unwrap()[..], b"0123456789abcdef");
        let only = MultiFernet(vec![FernetKey::from_text(K2).unwrap()]);
        assert_eq!(only.decrypt(TOKEN).unwrap_err(), FernetError::InvalidToken);
    }
}
