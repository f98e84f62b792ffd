//! TPM2_MakeCredential in software (TPM 2.0 Library Part 1 §24 "Credential Protection",
//! Part 3 §12.6), against an RSA-2048 endorsement key of the TCG default template (name
//! algorithm SHA-256, AES-128-CFB): public-key operations and symmetric crypto only.
//!
//! - `seed`: 32 random bytes, RSA-OAEP(SHA-256) encrypted to the EK with the label
//!   "IDENTITY\0": the `secret` argument of TPM2_ActivateCredential.
//! - `symKey = KDFa(SHA-256, seed, "STORAGE", name, "", 128)`, and
//!   `encIdentity = AES-128-CFB(symKey, IV = 0, TPM2B_DIGEST(credential))`.
//! - `hmacKey = KDFa(SHA-256, seed, "INTEGRITY", "", "", 256)`, and
//!   `outerHMAC = HMAC-SHA256(hmacKey, encIdentity || name)`.
//! - `credentialBlob` (TPM2B_ID_OBJECT contents) = `TPM2B_DIGEST(outerHMAC) || encIdentity`.
//!
//! The TPM that holds the EK's private key releases `credential` from TPM2_ActivateCredential
//! only when an object whose name is `name` is loaded in it: the name is the hash of the
//! object's public area (its key and attributes), so the credential reaches only a TPM in which
//! that exact object lives.

use aes::cipher::{BlockEncrypt, KeyInit};
use hmac::{Hmac, Mac};
use rand::RngCore;
use rsa::{Oaep, RsaPublicKey};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::kek::KekError;

/// The OAEP label of the credential seed (TPM 2.0 Part 1, §24.4).
const IDENTITY_LABEL: &str = "IDENTITY\0";

/// SP 800-108 counter-mode KDF with HMAC-SHA256, as the TPM defines KDFa (the label is
/// NUL-terminated; `bits` is a multiple of 8 here).
pub fn kdfa(key: &[u8], label: &str, context_u: &[u8], context_v: &[u8], bits: u32) -> Zeroizing<Vec<u8>> {
    let len = (bits / 8) as usize;
    let mut out = Zeroizing::new(Vec::with_capacity(len + 32));
    let mut counter: u32 = 0;
    while out.len() < len {
        counter += 1;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(&counter.to_be_bytes());
        mac.update(label.as_bytes());
        mac.update(&[0]);
        mac.update(context_u);
        mac.update(context_v);
        mac.update(&bits.to_be_bytes());
        out.extend_from_slice(&mac.finalize().into_bytes());
    }
    out.truncate(len);
    out
}

/// AES-128 in full-block CFB mode with a zero IV (the TPM's parameter and credential cipher).
fn aes128_cfb_encrypt(key: &[u8], data: &mut [u8]) {
    let cipher = aes::Aes128::new_from_slice(key).expect("16-byte key");
    let mut iv = [0u8; 16];
    for chunk in data.chunks_mut(16) {
        let mut block = aes::Block::from(iv);
        cipher.encrypt_block(&mut block);
        for (b, k) in chunk.iter_mut().zip(block.iter()) {
            *b ^= k;
        }
        iv[..chunk.len()].copy_from_slice(chunk);
    }
}

/// The output of MakeCredential: the `credentialBlob` and `secret` arguments of
/// TPM2_ActivateCredential.
pub struct Credential {
    pub id_object: Vec<u8>,
    pub encrypted_seed: Vec<u8>,
}

/// Makes a credential that only the TPM holding `ek`'s private key releases, and only while
/// the object named `object_name` is loaded in it. `credential` is at most 32 bytes.
pub fn make_credential(ek: &RsaPublicKey, object_name: &[u8], credential: &[u8]) -> Result<Credential, KekError> {
    assert!(credential.len() <= 32, "a credential is at most one SHA-256 digest");
    let mut seed = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(&mut seed[..]);
    let encrypted_seed = ek
        .encrypt(&mut rand::rngs::OsRng, Oaep::new_with_label::<Sha256, _>(IDENTITY_LABEL), &seed[..])
        .map_err(|e| KekError::Provider(format!("cannot encrypt the credential seed to the EK: {e}")))?;
    let sym_key = kdfa(&seed[..], "STORAGE", object_name, &[], 128);
    let hmac_key = kdfa(&seed[..], "INTEGRITY", &[], &[], 256);
    let mut enc_identity = Zeroizing::new(Vec::with_capacity(2 + credential.len()));
    enc_identity.extend_from_slice(&(credential.len() as u16).to_be_bytes());
    enc_identity.extend_from_slice(credential);
    aes128_cfb_encrypt(&sym_key, &mut enc_identity);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&hmac_key).expect("HMAC takes any key length");
    mac.update(&enc_identity);
    mac.update(object_name);
    let outer = mac.finalize().into_bytes();
    let mut id_object = Vec::with_capacity(2 + outer.len() + enc_identity.len());
    id_object.extend_from_slice(&(outer.len() as u16).to_be_bytes());
    id_object.extend_from_slice(&outer);
    id_object.extend_from_slice(&enc_identity);
    Ok(Credential { id_object, encrypted_seed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kdfa_is_counter_mode_hmac_with_a_nul_terminated_label() {
        let k = [7u8; 32];
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&k).unwrap();
        mac.update(&[0, 0, 0, 1]);
        mac.update(b"STORAGE\0");
        mac.update(b"name");
        mac.update(&[0, 0, 0, 128]);
        assert_eq!(kdfa(&k, "STORAGE", b"name", &[], 128).as_slice(), &mac.finalize().into_bytes()[..16]);
        assert_eq!(kdfa(&k, "X", &[], &[], 512).len(), 64);
    }

    #[test]
    fn cfb_is_its_own_keystream() {
        // CFB: the first block's keystream is AES(IV = 0); flipping a ciphertext bit changes
        // the next block completely (no silent bit flips survive past the HMAC anyway).
        let key = [1u8; 16];
        let mut a = [0u8; 20];
        aes128_cfb_encrypt(&key, &mut a);
        let mut ks = aes::Block::from([0u8; 16]);
        aes::Aes128::new_from_slice(&key).unwrap().encrypt_block(&mut ks);
        assert_eq!(&a[..16], ks.as_slice());
    }
}
