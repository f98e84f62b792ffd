//! Interoperability with the `openssl` CLI (installed by scripts/deps.sh): keys and signatures
//! made by OpenSSL work here, and ours work in OpenSSL, so the DER/PKCS#8/SPKI forms are pinned.

use std::path::{Path, PathBuf};
use std::process::Command;

use zeroize::Zeroizing;

use super::tests_ops::key;
use super::*;

const DEFAULT: SignParams = SignParams { hash: None, prehashed: false, scheme: None };
const MSG: &[u8] = b"interop message\n";

/// Runs openssl in `dir`; Ok(stdout) on success, Err(stderr) on a non-zero exit.
fn openssl(dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new("openssl").args(args).current_dir(dir).output().unwrap_or_else(|e| {
        panic!("cannot run the openssl CLI ({e}); install it (scripts/deps.sh installs openssl)")
    });
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn ok(dir: &Path, args: &[&str]) -> Vec<u8> {
    openssl(dir, args).unwrap_or_else(|e| panic!("openssl {args:?} failed: {e}"))
}

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        let d = Dir(tempfile::tempdir().unwrap());
        std::fs::write(d.path("msg"), MSG).unwrap();
        std::fs::write(d.path("other"), b"another message\n").unwrap();
        d
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }
    fn write(&self, name: &str, b: &[u8]) {
        std::fs::write(self.path(name), b).unwrap();
    }
    fn ssl(&self, args: &[&str]) -> Vec<u8> {
        ok(self.0.path(), args)
    }
}

/// An OpenSSL-generated private key imported as PKCS#8 DER; its public half must match OpenSSL's.
fn import(d: &Dir, kt: KeyType, genpkey: &[&str]) -> Material {
    d.ssl(&[&["genpkey", "-out", "key.pem"], genpkey].concat());
    // (`pkey -outform DER` would write the traditional SEC1 / PKCS#1 forms.)
    d.ssl(&["pkcs8", "-topk8", "-nocrypt", "-in", "key.pem", "-outform", "DER", "-out", "key.der"]);
    d.ssl(&["pkey", "-in", "key.pem", "-pubout", "-outform", "DER", "-out", "pub.der"]);
    let m = Material::from_bytes(Zeroizing::new(d.read("key.der")));
    validate(kt, &m).unwrap();
    assert_eq!(public_der(kt, &m).unwrap().unwrap(), d.read("pub.der"), "{kt:?}: SPKI differs from OpenSSL's");
    m
}

#[test]
fn openssl_ecdsa_p256_signature_verifies_here() {
    let d = Dir::new();
    let kt = KeyType::EcdsaP256;
    let m = import(&d, kt, &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let sig = d.ssl(&["dgst", "-sha256", "-sign", "key.pem", "msg"]);
    let pk = public_der(kt, &m).unwrap().unwrap();
    assert_eq!(verify(kt, &pk, MSG, &sig, &DEFAULT), Ok(true));
    assert_eq!(verify(kt, &pk, b"interop message\r\n", &sig, &DEFAULT), Ok(false));
    // The imported key signs too, and OpenSSL accepts that signature.
    d.write("ours.sig", &sign(kt, &m, MSG, &DEFAULT).unwrap());
    d.ssl(&["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"]);
    d.ssl(&["dgst", "-sha256", "-verify", "pub.pem", "-signature", "ours.sig", "msg"]);
}

#[test]
fn openssl_rsa_pss_signature_verifies_here() {
    let d = Dir::new();
    let kt = KeyType::Rsa2048;
    let m = import(&d, kt, &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]);
    let pk = public_der(kt, &m).unwrap().unwrap();
    let pss = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"];
    let sig = d.ssl(&[&["dgst", "-sha256", "-sign", "key.pem"][..], &pss, &["msg"]].concat());
    assert_eq!(verify(kt, &pk, MSG, &sig, &DEFAULT), Ok(true));
    assert_eq!(verify(kt, &pk, b"Interop message\n", &sig, &DEFAULT), Ok(false));
    let sig = d.ssl(&["dgst", "-sha512", "-sign", "key.pem", "msg"]);
    let v15 = SignParams { hash: Some(Hash::Sha512), prehashed: false, scheme: Some(RsaScheme::Pkcs1v15) };
    assert_eq!(verify(kt, &pk, MSG, &sig, &v15), Ok(true), "PKCS#1 v1.5 / SHA-512");
}

#[test]
fn openssl_ed25519_key_and_signature_work_here() {
    let d = Dir::new();
    let kt = KeyType::Ed25519;
    let m = import(&d, kt, &["-algorithm", "ED25519"]);
    let sig = d.ssl(&["pkeyutl", "-sign", "-inkey", "key.pem", "-rawin", "-in", "msg"]);
    let pk = public_der(kt, &m).unwrap().unwrap();
    assert_eq!(verify(kt, &pk, MSG, &sig, &DEFAULT), Ok(true));
    assert_eq!(verify(kt, &pk, b"interop message", &sig, &DEFAULT), Ok(false));
    // Ed25519 is deterministic: ours, with the same key, is byte for byte OpenSSL's.
    assert_eq!(sign(kt, &m, MSG, &DEFAULT).unwrap(), sig);
}

#[test]
fn openssl_verifies_our_signatures_from_our_pem() {
    let d = Dir::new();
    let pss = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"];
    let v15 = SignParams { hash: Some(Hash::Sha384), prehashed: false, scheme: Some(RsaScheme::Pkcs1v15) };
    let cases: [(KeyType, SignParams, &[&str]); 5] = [
        (KeyType::EcdsaP256, DEFAULT, &["-sha256"]),
        (KeyType::EcdsaP384, DEFAULT, &["-sha384"]),
        (KeyType::Rsa2048, DEFAULT, &["-sha256", pss[0], pss[1], pss[2], pss[3]]),
        (KeyType::Rsa3072, v15, &["-sha384"]),
        (KeyType::Ed25519, DEFAULT, &[]),
    ];
    for (kt, p, opts) in cases {
        let m = key(kt, 0);
        d.write("pub.pem", public_pem(kt, &public_der(kt, m).unwrap().unwrap()).unwrap().as_bytes());
        d.write("ours.sig", &sign(kt, m, MSG, &p).unwrap());
        let check = |file: &str| {
            if kt == KeyType::Ed25519 {
                let a = ["pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", file, "-sigfile", "ours.sig"];
                openssl(d.0.path(), &a)
            } else {
                let a = [&["dgst"][..], opts, &["-verify", "pub.pem", "-signature", "ours.sig", file]].concat();
                openssl(d.0.path(), &a)
            }
        };
        let out = check("msg").unwrap_or_else(|e| panic!("{kt:?}: OpenSSL refused our signature: {e}"));
        assert!(String::from_utf8_lossy(&out).contains("Verified"), "{kt:?}");
        assert!(check("other").is_err(), "{kt:?}: OpenSSL accepted a signature of another message");
        // Our PKCS#8 (what an export hands out) reads in OpenSSL, with the same public half.
        d.write("ours.der", m.as_bytes());
        let a = ["pkey", "-inform", "DER", "-in", "ours.der", "-pubout", "-outform", "DER"];
        let spki = openssl(d.0.path(), &a).unwrap_or_else(|e| panic!("{kt:?}: OpenSSL cannot read our PKCS#8: {e}"));
        assert_eq!(spki, public_der(kt, m).unwrap().unwrap(), "{kt:?}");
    }
}

#[test]
fn openssl_oaep_ciphertext_decrypts_here() {
    let d = Dir::new();
    let kt = KeyType::Rsa2048;
    let m = key(kt, 0);
    d.write("pub.pem", public_pem(kt, &public_der(kt, m).unwrap().unwrap()).unwrap().as_bytes());
    let oaep = ["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256"];
    let ct = d.ssl(&[&["pkeyutl", "-encrypt", "-pubin", "-inkey", "pub.pem", "-in", "msg"][..], &oaep].concat());
    assert_eq!(*decrypt(kt, m, &ct, None).unwrap(), MSG);
    // And the reverse: OpenSSL decrypts ours with our exported PKCS#8.
    d.write("ct", &encrypt(kt, m, MSG, None).unwrap());
    d.write("ours.der", m.as_bytes());
    let args = [&["pkeyutl", "-decrypt", "-keyform", "DER", "-inkey", "ours.der", "-in", "ct"][..], &oaep].concat();
    assert_eq!(d.ssl(&args), MSG);
}
