//! Every key type through every operation: round trips, refusals, tampering, prehashing.

use std::sync::OnceLock;

use zeroize::Zeroizing;

use super::*;

/// Two generated keys per type, shared by the tests (RSA-4096 keygen takes seconds).
pub(super) fn key(kt: KeyType, slot: usize) -> &'static Material {
    static CACHE: [[OnceLock<Material>; 2]; 10] = [const { [const { OnceLock::new() }; 2] }; 10];
    let i = KeyType::ALL.iter().position(|k| *k == kt).unwrap();
    CACHE[i][slot].get_or_init(|| generate(kt).unwrap())
}

fn spki(kt: KeyType, slot: usize) -> Vec<u8> {
    public_der(kt, key(kt, slot)).unwrap().unwrap()
}

fn params(hash: Option<Hash>, prehashed: bool, scheme: Option<RsaScheme>) -> SignParams {
    SignParams { hash, prehashed, scheme }
}

const DEFAULT: SignParams = SignParams { hash: None, prehashed: false, scheme: None };

fn unsupported(kt: KeyType, op: &str) -> OpError {
    OpError::Unsupported(format!("{} keys cannot {op}", kt.as_str()))
}

fn flip(v: &[u8], i: usize) -> Vec<u8> {
    let mut v = v.to_vec();
    v[i] ^= 0x01;
    v
}

#[test]
fn generate_validate_and_public_halves() {
    for kt in KeyType::ALL {
        let m = key(kt, 0);
        validate(kt, m).unwrap();
        assert_ne!(m.as_bytes(), key(kt, 1).as_bytes(), "{kt:?}: two keys alike");
        match public_der(kt, m).unwrap() {
            Some(der) => {
                assert!(kt.is_asymmetric());
                let pem = public_pem(kt, &der).unwrap();
                assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
                assert!(pem.trim_end().ends_with("-----END PUBLIC KEY-----"));
                assert_eq!(public_der(kt, m).unwrap().unwrap(), der, "{kt:?}: public half not stable");
            }
            None => {
                assert!(!kt.is_asymmetric());
                let want = if kt == KeyType::HmacSha512 { 64 } else { 32 };
                assert_eq!(m.as_bytes().len(), want, "{kt:?}");
                assert!(matches!(public_pem(kt, b"x"), Err(OpError::Unsupported(_))));
            }
        }
    }
}

#[test]
fn validate_refuses_material_of_another_type_or_size() {
    let bad = |kt: KeyType, m: &Material| assert!(matches!(validate(kt, m), Err(OpError::Invalid(_))), "{kt:?} accepted");
    bad(KeyType::Aes256Gcm, &Material::from_bytes(Zeroizing::new(vec![7; 31])));
    bad(KeyType::HmacSha512, key(KeyType::HmacSha256, 0));
    bad(KeyType::Rsa3072, key(KeyType::Rsa2048, 0));
    bad(KeyType::Rsa2048, key(KeyType::Rsa4096, 0));
    bad(KeyType::EcdsaP384, key(KeyType::EcdsaP256, 0));
    bad(KeyType::EcdsaP256, key(KeyType::Ed25519, 0));
    bad(KeyType::Ed25519, key(KeyType::EcdsaP256, 0));
    bad(KeyType::Rsa2048, key(KeyType::EcdsaP256, 0));
    let mut trailing = key(KeyType::EcdsaP256, 0).as_bytes().to_vec();
    trailing.push(0);
    bad(KeyType::EcdsaP256, &Material::from_bytes(Zeroizing::new(trailing)));
    // The SPKI of one type is not accepted as another's.
    assert!(matches!(public_pem(KeyType::EcdsaP384, &spki(KeyType::EcdsaP256, 0)), Err(OpError::Invalid(_))));
    assert!(matches!(public_pem(KeyType::Rsa3072, &spki(KeyType::Rsa2048, 0)), Err(OpError::Invalid(_))));
}

#[test]
fn encrypt_decrypt_round_trips_and_refusals() {
    for kt in KeyType::ALL {
        let m = key(kt, 0);
        if !kt.can(Op::Encrypt) {
            assert_eq!(encrypt(kt, m, b"pt", None), Err(unsupported(kt, "encrypt")));
            assert_eq!(decrypt(kt, m, &[0; 64], None).unwrap_err(), unsupported(kt, "decrypt"));
            continue;
        }
        let aad: Option<&[u8]> = if kt.is_rsa() { None } else { Some(b"context") };
        let ct = encrypt(kt, m, b"attack at dawn", aad).unwrap();
        assert!(!ct.windows(6).any(|w| w == b"attack"), "{kt:?}: plaintext in ciphertext");
        assert_eq!(*decrypt(kt, m, &ct, aad).unwrap(), b"attack at dawn");
        assert_ne!(encrypt(kt, m, b"attack at dawn", aad).unwrap(), ct, "{kt:?}: not randomised");
        assert_eq!(*decrypt(kt, m, &encrypt(kt, m, b"", aad).unwrap(), aad).unwrap(), b"");
        // Tampering anywhere (nonce, body, tag) and another key's material are all `Decrypt`.
        for i in [0, ct.len() / 2, ct.len() - 1] {
            assert_eq!(decrypt(kt, m, &flip(&ct, i), aad).unwrap_err(), OpError::Decrypt, "{kt:?} byte {i}");
        }
        assert_eq!(decrypt(kt, key(kt, 1), &ct, aad).unwrap_err(), OpError::Decrypt, "{kt:?} other key");
        assert_eq!(decrypt(kt, m, &ct[..ct.len() - 1], aad).unwrap_err(), OpError::Decrypt);
        if kt.is_rsa() {
            assert!(matches!(encrypt(kt, m, b"x", Some(b"")), Err(OpError::Invalid(_))));
            assert!(matches!(decrypt(kt, m, &ct, Some(b"a")), Err(OpError::Invalid(_))));
            assert!(matches!(encrypt(kt, m, &vec![1; 1000], None), Err(OpError::Invalid(_))));
            let bits = match kt {
                KeyType::Rsa2048 => 2048,
                KeyType::Rsa3072 => 3072,
                _ => 4096,
            };
            assert_eq!(ct.len() * 8, bits, "{kt:?}: one modulus-sized block");
        } else {
            assert_eq!(ct.len(), 12 + 14 + 16, "{kt:?}: nonce || ciphertext || tag");
            assert_eq!(decrypt(kt, m, &ct, Some(b"Context")).unwrap_err(), OpError::Decrypt);
            assert_eq!(decrypt(kt, m, &ct, None).unwrap_err(), OpError::Decrypt);
            assert_eq!(*decrypt(kt, m, &encrypt(kt, m, b"n", None).unwrap(), Some(b"")).unwrap(), b"n");
        }
    }
    // An AES key is not a ChaCha key, though both are 32 bytes.
    let ct = encrypt(KeyType::Aes256Gcm, key(KeyType::Aes256Gcm, 0), b"x", None).unwrap();
    let as_chacha = Material::from_bytes(Zeroizing::new(key(KeyType::Aes256Gcm, 0).as_bytes().to_vec()));
    assert_eq!(decrypt(KeyType::Chacha20Poly1305, &as_chacha, &ct, None).unwrap_err(), OpError::Decrypt);
}

/// The parameter sets each signing type supports.
fn sign_params(kt: KeyType) -> Vec<SignParams> {
    let hashes = [None, Some(Hash::Sha256), Some(Hash::Sha384), Some(Hash::Sha512)];
    match kt {
        KeyType::Ed25519 => vec![DEFAULT],
        _ if kt.is_rsa() => [None, Some(RsaScheme::Pss), Some(RsaScheme::Pkcs1v15)]
            .into_iter()
            .flat_map(|s| hashes.into_iter().map(move |h| params(h, false, s)))
            .collect(),
        _ => hashes.into_iter().map(|h| params(h, false, None)).collect(),
    }
}

#[test]
fn sign_verify_round_trips_tampering_and_prehashing() {
    let msg = b"the message".as_slice();
    for kt in KeyType::ALL {
        let m = key(kt, 0);
        if !kt.can(Op::Sign) {
            assert_eq!(sign(kt, m, msg, &DEFAULT), Err(unsupported(kt, "sign")));
            assert_eq!(verify(kt, b"", msg, b"", &DEFAULT), Err(unsupported(kt, "verify")));
            continue;
        }
        let pk = spki(kt, 0);
        for p in sign_params(kt) {
            let sig = sign(kt, m, msg, &p).unwrap();
            assert_eq!(verify(kt, &pk, msg, &sig, &p), Ok(true), "{kt:?} {p:?}");
            assert_eq!(verify(kt, &pk, b"the messagE", &sig, &p), Ok(false), "{kt:?} {p:?} message");
            assert_eq!(verify(kt, &pk, msg, &flip(&sig, sig.len() / 2), &p), Ok(false), "{kt:?} {p:?} signature");
            assert_eq!(verify(kt, &pk, msg, &sig[..sig.len() - 1], &p), Ok(false), "{kt:?} {p:?} truncated");
            assert_eq!(verify(kt, &spki(kt, 1), msg, &sig, &p), Ok(false), "{kt:?} {p:?} other key");
            if kt == KeyType::Ed25519 {
                continue;
            }
            // Prehashed and plain inputs of the same hash give interchangeable signatures.
            let h = p.hash.unwrap_or(if kt == KeyType::EcdsaP384 { Hash::Sha384 } else { Hash::Sha256 });
            let digest = h.digest(msg);
            let pre = SignParams { hash: Some(h), prehashed: true, ..p };
            let pre_sig = sign(kt, m, &digest, &pre).unwrap();
            assert_eq!(verify(kt, &pk, msg, &pre_sig, &p), Ok(true), "{kt:?} {p:?}: prehashed signature");
            assert_eq!(verify(kt, &pk, &digest, &sig, &pre), Ok(true), "{kt:?} {p:?}: prehashed verify");
            assert_eq!(verify(kt, &pk, &flip(&digest, 0), &sig, &pre), Ok(false));
            for bad in [&digest[1..], msg] {
                assert!(matches!(sign(kt, m, bad, &pre), Err(OpError::Invalid(_))), "{kt:?} {p:?} digest length");
                assert!(matches!(verify(kt, &pk, bad, &sig, &pre), Err(OpError::Invalid(_))));
            }
        }
        // A signature made with one hash does not verify under another.
        let p256 = params(Some(Hash::Sha256), false, None);
        let p512 = params(Some(Hash::Sha512), false, None);
        if kt != KeyType::Ed25519 {
            let sig = sign(kt, m, msg, &p256).unwrap();
            assert_eq!(verify(kt, &pk, msg, &sig, &p512), Ok(false), "{kt:?}");
        }
    }
}

#[test]
fn rsa_schemes_differ_and_defaults_are_pss_sha256() {
    let (kt, m) = (KeyType::Rsa2048, key(KeyType::Rsa2048, 0));
    let pk = spki(kt, 0);
    let pss = params(Some(Hash::Sha256), false, Some(RsaScheme::Pss));
    let v15 = params(Some(Hash::Sha256), false, Some(RsaScheme::Pkcs1v15));
    let sig = sign(kt, m, b"m", &DEFAULT).unwrap();
    assert_eq!(verify(kt, &pk, b"m", &sig, &pss), Ok(true));
    assert_eq!(verify(kt, &pk, b"m", &sig, &v15), Ok(false));
    // PKCS#1 v1.5 is deterministic, PSS is salted.
    assert_eq!(sign(kt, m, b"m", &v15).unwrap(), sign(kt, m, b"m", &v15).unwrap());
    assert_ne!(sign(kt, m, b"m", &pss).unwrap(), sign(kt, m, b"m", &pss).unwrap());
    // ECDSA P-384's default hash is SHA-384.
    let (kt, m) = (KeyType::EcdsaP384, key(KeyType::EcdsaP384, 0));
    let sig = sign(kt, m, b"m", &DEFAULT).unwrap();
    assert_eq!(verify(kt, &spki(kt, 0), b"m", &sig, &params(Some(Hash::Sha384), false, None)), Ok(true));
    assert_eq!(verify(kt, &spki(kt, 0), b"m", &sig, &params(Some(Hash::Sha256), false, None)), Ok(false));
}

#[test]
fn refused_signature_parameters() {
    let (kt, m) = (KeyType::Ed25519, key(KeyType::Ed25519, 0));
    let digest = Hash::Sha512.digest(b"m");
    for p in [params(None, true, None), params(Some(Hash::Sha512), true, None), params(Some(Hash::Sha512), false, None)] {
        assert!(matches!(sign(kt, m, &digest, &p), Err(OpError::Unsupported(_))), "{p:?}");
        assert!(matches!(verify(kt, &spki(kt, 0), &digest, &[0; 64], &p), Err(OpError::Unsupported(_))), "{p:?}");
    }
    let p = params(None, false, Some(RsaScheme::Pss));
    assert!(matches!(sign(KeyType::EcdsaP256, key(KeyType::EcdsaP256, 0), b"m", &p), Err(OpError::Unsupported(_))));
    // A public key of another type or size is refused, not "bad signature".
    let sig = sign(KeyType::EcdsaP256, key(KeyType::EcdsaP256, 0), b"m", &DEFAULT).unwrap();
    let wrong = [
        (KeyType::EcdsaP256, spki(KeyType::EcdsaP384, 0)),
        (KeyType::Rsa4096, spki(KeyType::Rsa3072, 0)),
        (KeyType::Ed25519, b"junk".to_vec()),
    ];
    for (kt, pk) in wrong {
        assert!(matches!(verify(kt, &pk, b"m", &sig, &DEFAULT), Err(OpError::Invalid(_))), "{kt:?}");
    }
}

#[test]
fn hmac_round_trips_and_refusals() {
    for kt in KeyType::ALL {
        let m = key(kt, 0);
        if !kt.is_hmac() {
            assert_eq!(hmac(kt, m, b"m"), Err(unsupported(kt, "hmac")));
            assert_eq!(hmac_verify(kt, m, b"m", &[0; 32]), Err(unsupported(kt, "hmac")));
            continue;
        }
        let tag = hmac(kt, m, b"m").unwrap();
        assert_eq!(tag.len(), if kt == KeyType::HmacSha512 { 64 } else { 32 });
        assert_eq!(tag, hmac(kt, m, b"m").unwrap());
        assert_eq!(hmac_verify(kt, m, b"m", &tag), Ok(true));
        assert_eq!(hmac_verify(kt, m, b"n", &tag), Ok(false));
        assert_eq!(hmac_verify(kt, m, b"m", &flip(&tag, 5)), Ok(false));
        assert_eq!(hmac_verify(kt, m, b"m", &tag[..16]), Ok(false));
        assert_eq!(hmac_verify(kt, m, b"m", &[]), Ok(false));
        assert_eq!(hmac_verify(kt, key(kt, 1), b"m", &tag), Ok(false));
    }
}

#[test]
fn material_never_prints_and_bad_material_never_echoes() {
    let m = Material::from_bytes(Zeroizing::new(b"SECRETSECRETSECRETSECRETSECRET!!".to_vec()));
    assert_eq!(format!("{m:?}"), "Material(..)");
    let short = Material::from_bytes(Zeroizing::new(b"SECRET".to_vec()));
    for e in [
        encrypt(KeyType::Aes256Gcm, &short, b"PLAINTEXT", None).unwrap_err(),
        hmac(KeyType::HmacSha512, &m, b"PLAINTEXT").unwrap_err(),
        sign(KeyType::EcdsaP256, &m, b"PLAINTEXT", &DEFAULT).unwrap_err(),
        validate(KeyType::Rsa2048, &m).unwrap_err(),
        decrypt(KeyType::Rsa2048, &m, b"CIPHERTEXT", None).unwrap_err(),
    ] {
        let shown = format!("{e:?} {e}");
        assert!(!shown.contains("SECRET") && !shown.contains("PLAINTEXT"), "{shown}");
        assert!(!shown.contains("83, 69, 67"), "{shown}");
    }
}
