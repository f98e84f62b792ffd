//! AES-256-GCM and ChaCha20-Poly1305 (the `aes-gcm` and `chacha20poly1305` crates, one `aead` API).
//! Wire form: nonce(12, random) || ciphertext || tag(16). Plaintext only ever sits in zeroized buffers.

use aes_gcm::aead::consts::{U12, U16};
use aes_gcm::aead::{AeadInPlace, KeyInit, Nonce};
use aes_gcm::Aes256Gcm;
use chacha20poly1305::ChaCha20Poly1305;
use rand::rngs::OsRng;
use rand::RngCore;
use zeroize::Zeroizing;

use super::{KeyType, OpError};

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

pub(super) fn random_key(len: usize) -> Zeroizing<Vec<u8>> {
    let mut k = Zeroizing::new(vec![0u8; len]);
    OsRng.fill_bytes(&mut k);
    k
}

pub(super) fn seal(kt: KeyType, key: &[u8], plaintext: &[u8], aad: Option<&[u8]>) -> Result<Vec<u8>, OpError> {
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    seal_with_nonce(kt, key, &nonce, plaintext, aad)
}

/// `seal` with a given nonce (the known-answer tests pin the layout with it).
fn seal_with_nonce(
    kt: KeyType,
    key: &[u8],
    nonce: &[u8; NONCE_LEN],
    plaintext: &[u8],
    aad: Option<&[u8]>,
) -> Result<Vec<u8>, OpError> {
    match kt {
        KeyType::Aes256Gcm => seal_in::<Aes256Gcm>(key, nonce, plaintext, aad),
        KeyType::Chacha20Poly1305 => seal_in::<ChaCha20Poly1305>(key, nonce, plaintext, aad),
        _ => Err(super::ops::cannot(kt, super::Op::Encrypt)),
    }
}

pub(super) fn open(kt: KeyType, key: &[u8], ciphertext: &[u8], aad: Option<&[u8]>) -> Result<Zeroizing<Vec<u8>>, OpError> {
    match kt {
        KeyType::Aes256Gcm => open_in::<Aes256Gcm>(key, ciphertext, aad),
        KeyType::Chacha20Poly1305 => open_in::<ChaCha20Poly1305>(key, ciphertext, aad),
        _ => Err(super::ops::cannot(kt, super::Op::Decrypt)),
    }
}

fn seal_in<C>(key: &[u8], nonce: &[u8; NONCE_LEN], plaintext: &[u8], aad: Option<&[u8]>) -> Result<Vec<u8>, OpError>
where
    C: KeyInit + AeadInPlace<NonceSize = U12, TagSize = U16>,
{
    let cipher = C::new_from_slice(key).map_err(|_| OpError::Internal("bad symmetric key length".into()))?;
    // Sized up front: the buffer holding the plaintext is never reallocated (and so never copied
    // to memory that is freed without being wiped).
    let mut out = Zeroizing::new(Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN));
    out.extend_from_slice(nonce);
    out.extend_from_slice(plaintext);
    let tag = cipher
        .encrypt_in_place_detached(Nonce::<C>::from_slice(nonce), aad.unwrap_or_default(), &mut out[NONCE_LEN..])
        .map_err(|_| OpError::Invalid("plaintext too long".into()))?;
    out.extend_from_slice(&tag);
    Ok(std::mem::take(&mut *out))
}

fn open_in<C>(key: &[u8], ciphertext: &[u8], aad: Option<&[u8]>) -> Result<Zeroizing<Vec<u8>>, OpError>
where
    C: KeyInit + AeadInPlace<NonceSize = U12, TagSize = U16>,
{
    if ciphertext.len() < NONCE_LEN + TAG_LEN {
        return Err(OpError::Decrypt);
    }
    let cipher = C::new_from_slice(key).map_err(|_| OpError::Internal("bad symmetric key length".into()))?;
    let (nonce, rest) = ciphertext.split_at(NONCE_LEN);
    let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
    // Decrypted in a zeroized buffer: aes-gcm decrypts before it compares the tag, so even a
    // refused ciphertext leaves plaintext-like bytes behind.
    let mut buf = Zeroizing::new(body.to_vec());
    cipher
        .decrypt_in_place_detached(Nonce::<C>::from_slice(nonce), aad.unwrap_or_default(), &mut buf, tag.into())
        .map_err(|_| OpError::Decrypt)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// NIST GCM test vectors (gcmEncryptExtIV256.rsp, [Keylen = 256] [IVlen = 96] [PTlen = 128]
    /// [AADlen = 128] [Taglen = 128], Count = 0): pins the nonce || ciphertext || tag layout.
    #[test]
    fn aes256_gcm_nist_vector() {
        let key = hex("92e11dcdaa866f5ce790fd24501f92509aacf4cb8b1339d50c9c1240935dd08b");
        let iv: [u8; 12] = hex("ac93a1a6145299bde902f21a").try_into().unwrap();
        let pt = hex("2d71bcfa914e4ac045b2aa60955fad24");
        let aad = hex("1e0889016f67601c8ebea4943bc23ad6");
        let ct = hex("8995ae2e6df3dbf96fac7b7137bae67f");
        let tag = hex("eca5aa77d51d4a0a14d9c51e1da474ab");
        let sealed = seal_with_nonce(KeyType::Aes256Gcm, &key, &iv, &pt, Some(&aad)).unwrap();
        assert_eq!(sealed, [iv.to_vec(), ct, tag].concat());
        let opened = open(KeyType::Aes256Gcm, &key, &sealed, Some(&aad)).unwrap();
        assert_eq!(*opened, pt);
    }

    /// RFC 8439 section 2.8.2 (AEAD_CHACHA20_POLY1305): the same layout for ChaCha20-Poly1305.
    #[test]
    fn chacha20_poly1305_rfc8439_vector() {
        let key = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
        let nonce: [u8; 12] = hex("070000004041424344454647").try_into().unwrap();
        let aad = hex("50515253c0c1c2c3c4c5c6c7");
        let pt = b"Ladies and Gentlemen of the class of '99: \
            If I could offer you only one tip for the future, sunscreen would be it.";
        let sealed = seal_with_nonce(KeyType::Chacha20Poly1305, &key, &nonce, pt, Some(&aad)).unwrap();
        assert_eq!(&sealed[..12], &nonce);
        assert_eq!(&sealed[12..28], &hex("d31a8d34648e60db7b86afbc53ef7ec2")[..]);
        assert_eq!(&sealed[sealed.len() - 16..], &hex("1ae10b594f09e26a7e902ecbd0600691")[..]);
        assert_eq!(sealed.len(), 12 + pt.len() + 16);
    }

    #[test]
    fn fresh_nonce_each_time_and_short_input_refused() {
        let key = random_key(32);
        let a = seal(KeyType::Aes256Gcm, &key, b"x", None).unwrap();
        let b = seal(KeyType::Aes256Gcm, &key, b"x", None).unwrap();
        assert_ne!(a[..12], b[..12]);
        assert_eq!(open(KeyType::Aes256Gcm, &key, &a[..27], None), Err(OpError::Decrypt));
        assert_eq!(open(KeyType::Aes256Gcm, &key, &[], None), Err(OpError::Decrypt));
        // None and an empty AAD are the same thing.
        assert_eq!(*open(KeyType::Aes256Gcm, &key, &a, Some(b"")).unwrap(), b"x");
    }
}
