//! Keys of sensitivity `high` in swtpm (the provider's `RootKeys`): which types the TPM runs,
//! HMAC tags pinned by their behaviour (the key cannot be seen), signatures checked by the
//! `openssl` CLI against the SubjectPublicKeyInfo the provider returns, refusals, and that no
//! transient handle is left loaded. Prints the latency of each operation.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis::crypto::managed::{Hash, KeyType, RsaScheme};
use portcullis::kek::root_keys::RootKeys;
use portcullis::kek::MasterKekProvider;

use crate::tpm_common::{Site, Swtpm};

fn roots(site: &Site) -> Arc<dyn RootKeys> {
    site.provider().root_keys().expect("the TPM provider offers a root of trust")
}

/// Transient objects and sessions loaded in the TPM, asked through a connection of our own.
fn loaded(tcti: &str) -> Vec<u32> {
    use std::str::FromStr;
    use tss_esapi::constants::CapabilityType;
    use tss_esapi::structures::CapabilityData;
    let mut ctx = tss_esapi::Context::new(tss_esapi::TctiNameConf::from_str(tcti).unwrap()).unwrap();
    let mut out = Vec::new();
    for from in [0x8000_0000u32, 0x0200_0000, 0x0300_0000] {
        let (CapabilityData::Handles(list), _) = ctx.get_capability(CapabilityType::Handles, from, 64).unwrap() else {
            panic!("handles capability");
        };
        out.extend(list.into_inner().into_iter().map(u32::from).filter(|h| h >> 24 == from >> 24));
    }
    out
}

fn timed<T>(times: &mut Vec<Duration>, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let r = f();
    times.push(t.elapsed());
    r
}

fn report(what: &str, times: &mut [Duration]) {
    times.sort();
    if let (Some(min), Some(max)) = (times.first(), times.last()) {
        eprintln!("tpm latency {what}: n={} min={min:?} median={:?} max={max:?}", times.len(), times[times.len() / 2]);
    }
}

fn openssl(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn tpm_root_keys_types_and_refusals() {
    let tpm = Swtpm::start();
    let dir = tempfile::tempdir().unwrap();
    let site = Site::new(dir.path(), &tpm.tcti, &[], None);
    let rk = roots(&site);
    assert_eq!(rk.name(), "tpm");
    let supported: Vec<&str> = KeyType::ALL.into_iter().filter(|k| rk.supports(*k)).map(|k| k.as_str()).collect();
    eprintln!("swtpm runs these key types of sensitivity high: {supported:?}");
    // What every TPM 2.0 runs, and what none does.
    for kt in [KeyType::HmacSha256, KeyType::Rsa2048, KeyType::EcdsaP256] {
        assert!(rk.supports(kt), "{} must be supported", kt.as_str());
    }
    for kt in [KeyType::Aes256Gcm, KeyType::Chacha20Poly1305, KeyType::Ed25519] {
        assert!(!rk.supports(kt), "{} must not be supported", kt.as_str());
        let e = rk.create(kt).err().expect("refused").to_string();
        assert!(e.contains(kt.as_str()) && e.contains("cannot have sensitivity high"), "{e}");
    }
    for kt in KeyType::ALL.into_iter().filter(|k| !rk.supports(*k)) {
        let e = rk.create(kt).err().expect("an unsupported type is refused").to_string();
        assert!(e.contains(kt.as_str()) && (e.contains("cannot have sensitivity high") || e.contains("does not support")), "{e}");
    }

    // Operations a type does not have, and inputs of the wrong shape.
    let h = rk.create(KeyType::HmacSha256).unwrap();
    assert!(h.public_der.is_none());
    let e = rk.sign_digest(KeyType::HmacSha256, &h.blob, &[0; 32], Hash::Sha256, None).err().unwrap().to_string();
    assert!(e.contains("do not sign"), "{e}");
    let e = rk.hmac(KeyType::HmacSha512, &h.blob, b"x").err().unwrap().to_string();
    assert!(e.contains("not a usable hmac-sha512 key"), "{e}");
    let e = rk.hmac(KeyType::Aes256Gcm, &h.blob, b"x").err().unwrap().to_string();
    assert!(e.contains("do not compute HMACs"), "{e}");
    let r = rk.create(KeyType::EcdsaP256).unwrap();
    let e = rk.hmac(KeyType::HmacSha256, &r.blob, b"x").err().unwrap().to_string();
    assert!(e.contains("not a usable hmac-sha256 key"), "{e}");
    let e = rk.sign_digest(KeyType::EcdsaP256, &r.blob, &[0; 31], Hash::Sha256, None).err().unwrap().to_string();
    assert!(e.contains("digest is 32 bytes, not 31"), "{e}");
    let e = rk.sign_digest(KeyType::Rsa2048, &r.blob, &[0; 32], Hash::Sha256, None).err().unwrap().to_string();
    assert!(e.contains("not a usable rsa-2048 key"), "{e}");
    assert_eq!(loaded(&tpm.tcti), Vec::<u32>::new(), "nothing stays loaded");
}

#[test]
fn tpm_root_keys_hmac() {
    let tpm_a = Swtpm::start();
    let tpm_b = Swtpm::start();
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (site_a, site_b) = (Site::new(dirs.0.path(), &tpm_a.tcti, &[], None), Site::new(dirs.1.path(), &tpm_b.tcti, &[], None));
    let (rk, rk_b) = (roots(&site_a), roots(&site_b));
    let (mut t_create, mut t_hmac) = (Vec::new(), Vec::new());
    let mut tested = 0;
    for (kt, len) in [(KeyType::HmacSha256, 32), (KeyType::HmacSha512, 64)] {
        if !rk.supports(kt) {
            eprintln!("swtpm does not support {}: skipped", kt.as_str());
            continue;
        }
        tested += 1;
        let k1 = timed(&mut t_create, || rk.create(kt)).unwrap();
        let k2 = timed(&mut t_create, || rk.create(kt)).unwrap();
        assert!(k1.public_der.is_none());
        assert_ne!(k1.blob, k2.blob);
        let tag = |k: &[u8], m: &[u8], times: &mut Vec<Duration>| timed(times, || rk.hmac(kt, k, m)).unwrap();
        let a1 = tag(&k1.blob, b"message one", &mut t_hmac);
        let a2 = tag(&k1.blob, b"message one", &mut t_hmac);
        let b1 = tag(&k1.blob, b"message two", &mut t_hmac);
        let other = tag(&k2.blob, b"message one", &mut t_hmac);
        assert_eq!(a1.len(), len, "{} tag length", kt.as_str());
        assert_eq!(a1, a2, "same key, same input: same tag");
        assert_ne!(a1, b1, "another input: another tag");
        assert_ne!(a1, other, "another key: another tag");
        // Not a plain hash of the input: the key is in it.
        assert_ne!(a1, if len == 32 { Hash::Sha256 } else { Hash::Sha512 }.digest(b"message one"));
        let empty = tag(&k1.blob, b"", &mut t_hmac);
        assert_eq!(empty.len(), len);
        assert_ne!(empty, a1);
        let max = vec![0x5au8; 1024];
        let full = tag(&k1.blob, &max, &mut t_hmac);
        assert_eq!(full, tag(&k1.blob, &max, &mut t_hmac));
        let e = rk.hmac(kt, &k1.blob, &[0u8; 1025]).err().expect("over 1024 bytes is refused").to_string();
        assert!(e.contains("at most 1024 bytes"), "{e}");

        // A key made by TPM A does not load in TPM B.
        let e = rk_b.hmac(kt, &k1.blob, b"message one").err().expect("another TPM refuses the key").to_string();
        assert!(e.contains("does not load in this TPM"), "{e}");
        // Nor does an altered blob in TPM A.
        let mut bad = k1.blob.clone();
        let n = bad.len();
        bad[n - 3] ^= 0x01;
        let e = rk.hmac(kt, &bad, b"message one").err().expect("an altered blob is refused").to_string();
        assert!(e.contains("does not load in this TPM"), "{e}");
    }
    assert!(tested >= 1);
    report("create hmac key", &mut t_create);
    report("hmac", &mut t_hmac);
    assert_eq!(loaded(&tpm_a.tcti), Vec::<u32>::new(), "nothing stays loaded in TPM A");
    assert_eq!(loaded(&tpm_b.tcti), Vec::<u32>::new(), "nothing stays loaded in TPM B");
}

#[test]
fn tpm_root_keys_hmac_after_tpm_restart() {
    let mut tpm = Swtpm::start();
    let dir = tempfile::tempdir().unwrap();
    let site = Site::new(dir.path(), &tpm.tcti, &[], None);
    let k = roots(&site).create(KeyType::HmacSha256).unwrap();
    let before = roots(&site).hmac(KeyType::HmacSha256, &k.blob, b"reboot").unwrap();
    tpm.restart();
    let after = roots(&site).hmac(KeyType::HmacSha256, &k.blob, b"reboot").unwrap();
    assert_eq!(before, after, "the blob works again after the TPM restarts");
}

/// Signs `msg` (as a digest of `hash`) and checks the signature with `openssl dgst -verify`,
/// then that a tampered message fails.
fn check_signature(rk: &dyn RootKeys, kt: KeyType, blob: &[u8], pem: &str, hash: Hash, scheme: Option<RsaScheme>, dir: &Path, times: &mut Vec<Duration>) {
    let msg = format!("sign me: {} {:?} {:?}", kt.as_str(), hash, scheme);
    let sig = timed(times, || rk.sign_digest(kt, blob, &hash.digest(msg.as_bytes()), hash, scheme)).unwrap();
    if kt.is_rsa() {
        let bits: usize = kt.as_str().trim_start_matches("rsa-").parse().unwrap();
        assert_eq!(sig.len(), bits / 8, "an RSA signature is as long as the modulus");
    } else {
        assert_eq!(sig[0], 0x30, "ECDSA signatures are DER sequences");
    }
    std::fs::write(dir.join("sig.bin"), &sig).unwrap();
    std::fs::write(dir.join("msg.bin"), &msg).unwrap();
    std::fs::write(dir.join("tampered.bin"), format!("{msg}.")).unwrap();
    let md = format!("-{}", hash.as_str().replace("sha2-", "sha"));
    let mut args = vec!["dgst", md.as_str(), "-verify", pem, "-signature", "sig.bin"];
    if kt.is_rsa() && scheme != Some(RsaScheme::Pkcs1v15) {
        // The salt as long as the hash, as the software keys use: strict, not auto-detected.
        args.extend(["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"]);
    }
    let (ok, out) = openssl(&[args.as_slice(), &["msg.bin"]].concat(), dir);
    assert!(ok && out.contains("Verified OK"), "{} {hash:?} {scheme:?}: {out}", kt.as_str());
    let (ok, out) = openssl(&[args.as_slice(), &["tampered.bin"]].concat(), dir);
    assert!(!ok && out.contains("Verification failure"), "a tampered message must fail ({} {hash:?} {scheme:?}): {out}", kt.as_str());
    if kt.is_rsa() {
        // And the other padding does not verify it.
        let other = if scheme == Some(RsaScheme::Pkcs1v15) {
            vec!["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"]
        } else {
            vec![]
        };
        let (ok, out) = openssl(&[&args[..6], other.as_slice(), &["msg.bin"]].concat(), dir);
        assert!(!ok, "{} {hash:?} {scheme:?} verified with the other padding: {out}", kt.as_str());
    }
}

#[test]
fn tpm_root_keys_signatures_verify_with_openssl() {
    let tpm = Swtpm::start();
    let dir = tempfile::tempdir().unwrap();
    let site = Site::new(&dir.path().join("site"), &tpm.tcti, &[], None);
    let rk = roots(&site);
    let (mut t_create_rsa, mut t_create_ec, mut t_sign_rsa, mut t_sign_ec) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let work = dir.path();
    for kt in [KeyType::Rsa2048, KeyType::Rsa3072, KeyType::Rsa4096, KeyType::EcdsaP256, KeyType::EcdsaP384] {
        if !rk.supports(kt) {
            eprintln!("swtpm does not support {}: skipped", kt.as_str());
            continue;
        }
        let (t_create, t_sign) = if kt.is_rsa() { (&mut t_create_rsa, &mut t_sign_rsa) } else { (&mut t_create_ec, &mut t_sign_ec) };
        let key = timed(t_create, || rk.create(kt)).unwrap();
        let der = key.public_der.clone().expect("asymmetric keys have a public key");
        let der_path = work.join(format!("{}.der", kt.as_str()));
        std::fs::write(&der_path, &der).unwrap();
        let pem = format!("{}.pem", kt.as_str());
        let der_name = format!("{}.der", kt.as_str());
        let (ok, text) = openssl(&["pkey", "-pubin", "-inform", "DER", "-in", &der_name, "-text", "-noout"], work);
        assert!(ok, "openssl does not parse the SubjectPublicKeyInfo of {}: {text}", kt.as_str());
        let want = match kt {
            KeyType::EcdsaP256 => "NIST CURVE: P-256".to_string(),
            KeyType::EcdsaP384 => "NIST CURVE: P-384".to_string(),
            _ => format!("Public-Key: ({} bit)", kt.as_str().trim_start_matches("rsa-")),
        };
        assert!(text.contains(&want), "{}: {text}", kt.as_str());
        if kt.is_rsa() {
            assert!(text.contains("Exponent: 65537"), "{text}");
        }
        let (ok, out) = openssl(&["pkey", "-pubin", "-inform", "DER", "-in", &der_name, "-outform", "PEM", "-out", &pem], work);
        assert!(ok, "{out}");
        // The PEM re-encodes to the same DER: what we return is canonical.
        let (ok, out) = openssl(&["pkey", "-pubin", "-in", &pem, "-outform", "DER", "-out", "again.der"], work);
        assert!(ok, "{out}");
        assert_eq!(std::fs::read(work.join("again.der")).unwrap(), der);

        for hash in [Hash::Sha256, Hash::Sha384, Hash::Sha512] {
            if kt.is_rsa() {
                for scheme in [None, Some(RsaScheme::Pss), Some(RsaScheme::Pkcs1v15)] {
                    check_signature(&*rk, kt, &key.blob, &pem, hash, scheme, work, t_sign);
                }
            } else {
                check_signature(&*rk, kt, &key.blob, &pem, hash, None, work, t_sign);
            }
        }
        // Two keys of a type are two keys.
        let other = rk.create(kt).unwrap();
        assert_ne!(other.public_der, key.public_der);
    }
    report("create rsa key", &mut t_create_rsa);
    report("create ecdsa key", &mut t_create_ec);
    report("sign rsa", &mut t_sign_rsa);
    report("sign ecdsa", &mut t_sign_ec);
    assert_eq!(loaded(&tpm.tcti), Vec::<u32>::new(), "nothing stays loaded");
}

#[test]
fn tpm_root_keys_do_not_count_towards_lockout() {
    // A power loss after the TPM used a DA-protected object counts as a failed authorisation
    // (swtpm: 3 and the TPM locks out, see tpm_dictionary_attack_lockout_refuses_to_start).
    // Keys of sensitivity high have an empty auth value and `no_da`: using them, however often
    // the host then loses power, never locks the master KEK out.
    let mut tpm = Swtpm::start();
    let dir = tempfile::tempdir().unwrap();
    let site = Site::new(dir.path(), &tpm.tcti, &[], None);
    site.cli_ok(&["kek", "init"]);
    let k = roots(&site).create(KeyType::HmacSha256).unwrap();
    let e = roots(&site).create(KeyType::EcdsaP256).unwrap();
    let tag = roots(&site).hmac(KeyType::HmacSha256, &k.blob, b"power").unwrap();
    for _ in 0..4 {
        assert_eq!(roots(&site).hmac(KeyType::HmacSha256, &k.blob, b"power").unwrap(), tag);
        roots(&site).sign_digest(KeyType::EcdsaP256, &e.blob, &[7; 32], Hash::Sha256, None).unwrap();
        tpm.crash_and_restart();
    }
    site.provider().load().expect("the master KEK still unseals: no lockout");
}

#[test]
fn tpm_root_keys_concurrent_operations() {
    let tpm = Swtpm::start();
    let dir = tempfile::tempdir().unwrap();
    let site = Site::new(dir.path(), &tpm.tcti, &[], None);
    let rk = roots(&site);
    let k = rk.create(KeyType::HmacSha256).unwrap();
    let e = rk.create(KeyType::EcdsaP256).unwrap();
    let tag = rk.hmac(KeyType::HmacSha256, &k.blob, b"together").unwrap();
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let (rk, k, e, tag) = (rk.clone(), k.blob.clone(), e.blob.clone(), tag.clone());
            std::thread::spawn(move || {
                for _ in 0..4 {
                    if i % 2 == 0 {
                        assert_eq!(rk.hmac(KeyType::HmacSha256, &k, b"together").unwrap(), tag);
                    } else {
                        rk.sign_digest(KeyType::EcdsaP256, &e, &[i as u8; 32], Hash::Sha256, None).unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("no operation fails under concurrency");
    }
    assert_eq!(loaded(&tpm.tcti), Vec::<u32>::new(), "nothing stays loaded");
}

/// A loopback TCP relay in front of a swtpm (command and control ports) that records every
/// byte sent each way.
struct Tap {
    tcti: String,
    to_tpm: Arc<std::sync::Mutex<Vec<u8>>>,
    from_tpm: Arc<std::sync::Mutex<Vec<u8>>>,
}

fn relay(listener: std::net::TcpListener, target: u16, to_tpm: Arc<std::sync::Mutex<Vec<u8>>>, from_tpm: Arc<std::sync::Mutex<Vec<u8>>>) {
    use std::io::{Read, Write};
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let server = std::net::TcpStream::connect(("127.0.0.1", target)).unwrap();
            for (mut from, mut to, log) in [
                (client.try_clone().unwrap(), server.try_clone().unwrap(), to_tpm.clone()),
                (server, client, from_tpm.clone()),
            ] {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 || to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        log.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
}

impl Tap {
    fn new(tpm: &Swtpm) -> Tap {
        let (a, b) = loop {
            let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let p = a.local_addr().unwrap().port();
            if let Ok(b) = std::net::TcpListener::bind(("127.0.0.1", p.wrapping_add(1))) {
                break (a, b);
            }
        };
        let tcti = format!("swtpm:host=127.0.0.1,port={}", a.local_addr().unwrap().port());
        let (to_tpm, from_tpm) = (Arc::default(), Arc::default());
        relay(a, tpm.port, Arc::clone(&to_tpm), Arc::clone(&from_tpm));
        relay(b, tpm.ctrl, Arc::clone(&to_tpm), Arc::clone(&from_tpm));
        Tap { tcti, to_tpm, from_tpm }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn tpm_root_keys_hmac_input_and_tag_cross_encrypted() {
    let tpm = Swtpm::start();
    let tap = Tap::new(&tpm);
    let dir = tempfile::tempdir().unwrap();
    let site = Site::new(dir.path(), &tap.tcti, &[], None);
    let rk = roots(&site);
    let key = rk.create(KeyType::HmacSha256).unwrap();
    let msg = b"a confidential message that must not cross the TCTI in the clear";
    let tag = rk.hmac(KeyType::HmacSha256, &key.blob, msg).unwrap();
    let (to_tpm, from_tpm) = (tap.to_tpm.lock().unwrap().clone(), tap.from_tpm.lock().unwrap().clone());
    // The tap sees the traffic: the key's public area goes to the TPM in the clear (TPM2_Load).
    let public_len = u16::from_be_bytes([key.blob[4], key.blob[5]]) as usize;
    assert!(contains(&to_tpm, &key.blob[6..6 + public_len]), "the tap records what goes to the TPM");
    assert!(!contains(&to_tpm, msg), "the HMAC input crossed in the clear");
    assert!(!contains(&from_tpm, &tag), "the HMAC tag crossed in the clear");
    assert!(!contains(&from_tpm, msg) && !contains(&to_tpm, &tag));
}
