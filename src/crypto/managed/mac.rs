//! HMAC-SHA256 / HMAC-SHA512 (the `hmac` and `sha2` crates). Tags are checked in constant time.

use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha512};

use super::KeyType;

/// The tag of `input` (`kt` is an HMAC type; the caller has checked it and the key length).
pub(super) fn compute(kt: KeyType, key: &[u8], input: &[u8]) -> Vec<u8> {
    match kt {
        KeyType::HmacSha512 => mac::<Hmac<Sha512>>(key, input).finalize().into_bytes().to_vec(),
        _ => mac::<Hmac<Sha256>>(key, input).finalize().into_bytes().to_vec(),
    }
}

/// Whether `tag` is the tag of `input`, compared in constant time (`verify_slice`, on `subtle`).
pub(super) fn verify(kt: KeyType, key: &[u8], input: &[u8], tag: &[u8]) -> bool {
    match kt {
        KeyType::HmacSha512 => mac::<Hmac<Sha512>>(key, input).verify_slice(tag).is_ok(),
        _ => mac::<Hmac<Sha256>>(key, input).verify_slice(tag).is_ok(),
    }
}

fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], input: &[u8]) -> M {
    // HMAC takes keys of any length: new_from_slice cannot fail.
    let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key).expect("HMAC accepts any key length");
    m.update(input);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// RFC 4231 test case 2 (key "Jefe"): the raw 32-/64-byte tag, nothing wrapped around it.
    #[test]
    fn rfc4231_case_2() {
        let data = b"what do ya want for nothing?";
        let t256 = hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        let t512 = hex(
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        );
        assert_eq!(compute(KeyType::HmacSha256, b"Jefe", data), t256);
        assert_eq!(compute(KeyType::HmacSha512, b"Jefe", data), t512);
        assert!(verify(KeyType::HmacSha256, b"Jefe", data, &t256));
        assert!(!verify(KeyType::HmacSha256, b"Jefe", data, &t256[..31]));
        assert!(!verify(KeyType::HmacSha512, b"Jefe", data, &t256));
    }
}
