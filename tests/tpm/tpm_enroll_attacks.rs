//! Replica enrollment under attack (issue 8, section 1), with real TPMs (swtpm): blobs that
//! were tampered with or crafted are refused by `kek import` and change nothing on disk;
//! forged target files are refused by `kek export`; the honest path still works after.

use crate::tpm_common;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use portcullis::crypto::Key;
use portcullis::kek::enroll::blob::{ExportBlob, Unlock};
use portcullis::kek::enroll::target::{self, hex, EkTrust, TargetMaterial};
use portcullis::kek::enroll::{credential, seal_for};
use portcullis::kek::MasterKekProvider;
use portcullis::store::{keks, master_keks};
use rsa::signature::{SignatureEncoding, Signer};
use tpm_common::{ca_bundle, stderr, Site, Swtpm};
use tss_esapi::structures::{Public, PublicKeyRsa};
use tss_esapi::traits::{Marshall, UnMarshall};

/// A deployment on A's TPM with secrets under master v1 then v2 (v1 retired), and replica B
/// (TPM with an EK certificate from the local CA that A trusts) with its target file.
struct World {
    dir: tempfile::TempDir,
    ca: PathBuf,
    _tpms: (Swtpm, Swtpm),
    a: Site,
    b: Site,
    target: PathBuf,
    fixtures: Vec<(String, String, String)>,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    let (tpm_a, tpm_b) = (Swtpm::start(), Swtpm::start_with_ek_cert(&ca));
    let db = dir.path().join("shared.db");
    let mut a = Site::new(&dir.path().join("a"), &tpm_a.tcti, &[], Some(&db));
    let b = Site::new(&dir.path().join("b"), &tpm_b.tcti, &[], Some(&db));
    a.set_ek_ca_file(&ca_bundle(&ca));
    a.cli_ok(&["kek", "init"]);
    let fixtures = a.fixtures(2, 3);
    a.cli_ok(&["kek", "rotate"]);
    let target = dir.path().join("b-target.json");
    b.cli_ok(&["kek", "export-target-key", "--out", target.to_str().unwrap()]);
    World { dir, ca, _tpms: (tpm_a, tpm_b), a, b, target, fixtures }
}

impl World {
    fn export(&self, to: &Path) -> std::process::Output {
        let out = self.dir.path().join("export.json");
        let _ = std::fs::remove_file(&out);
        self.a.cli(&["kek", "export", "--to", to.to_str().unwrap(), "--out", out.to_str().unwrap()])
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

/// What is at rest on the replica: its sealed directory (but the admin lock and the journal
/// of loaded TPM handles), and the database's master versions and project KEKs.
fn snapshot(site: &Site) -> (BTreeMap<String, Vec<u8>>, Vec<String>) {
    let mut files = BTreeMap::new();
    for e in std::fs::read_dir(site.sealed_dir()).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        if name != ".admin.lock" && name != ".tpm-handles" && name != ".tpm.lock" {
            files.insert(name, std::fs::read(e.path()).unwrap());
        }
    }
    let mut conn = site.store().conn().unwrap();
    let mut rows: Vec<String> = master_keks::list(&mut conn)
        .unwrap()
        .into_iter()
        .map(|r| format!("master v{} {} {:?}", r.version, hex(&r.check_value), r.retired_at))
        .collect();
    rows.extend(keks::behind(&mut conn, i32::MAX, 100_000).unwrap().into_iter().map(|r| format!("kek {} v{} {}", r.id, r.master_version, hex(&r.wrapped_key))));
    (files, rows)
}

/// Flips one character of the value of `field` in a blob's text (staying in its alphabet).
fn flip_in(text: &str, field: &str) -> String {
    let at = text.find(&format!("\"{field}\": ")).unwrap() + field.len() + 4;
    let at = at + text[at..].find(|c: char| c.is_ascii_alphanumeric()).unwrap() + 7;
    let mut b = text.as_bytes().to_vec();
    b[at] = if b[at] == b'1' { b'2' } else { b'1' };
    String::from_utf8(b).unwrap()
}

#[actix_web::test]
async fn tpm_tampered_or_crafted_blobs_are_refused_and_change_nothing() {
    let w = world();
    let out = w.export(&w.target);
    assert!(out.status.success(), "{}", stderr(&out));
    let honest = std::fs::read_to_string(w.dir.path().join("export.json")).unwrap();
    let before = snapshot(&w.b);
    assert!(!before.0.keys().any(|f| f.starts_with("master-")), "B holds no master KEK yet");

    // Blobs anyone holding the target file can make (it is public): with keys of their own.
    let t = target::verify(&std::fs::read_to_string(&w.target).unwrap(), &EkTrust::Insecure).unwrap();
    let keys_a = w.a.provider().load().unwrap();
    let v2 = &keys_a.versions[&2];
    let mine = Key::generate();
    let craft = |keys: &[(i32, &Key)]| seal_for(&t, &keys.iter().map(|(v, k)| (*v, *k)).collect()).unwrap();
    let mut cases = vec![
        ("an extra version", craft(&[(2, v2), (3, &mine)]), "does not list"),
        ("a key of the sender's own as the current version", craft(&[(2, &mine)]), "does not match the database's key-check value"),
        ("a key of the sender's own under a retired version", craft(&[(1, &mine)]), "does not match the database's key-check value"),
        ("only a new version, to make it current", craft(&[(3, &mine)]), "does not list"),
        ("a 'current' field", honest.replacen("  \"format\"", "  \"current\": 3,\n  \"format\"", 1), "not a Portcullis master KEK export"),
        ("an edited version list", honest.replacen("\"versions\": [\n    2\n  ]", "\"versions\": [\n    2,\n    3\n  ]", 1), "altered"),
        ("a space turned into a tab", honest.replacen("\n  \"ek_name\"", "\n \t\"ek_name\"", 1), "altered"),
        ("no final newline", honest.trim_end().to_string(), "altered"),
    ];
    for field in ["format", "ek_name", "ak_name", "key_name", "credential_blob", "credential_secret", "key_oaep", "sealed"] {
        cases.push((field, flip_in(&honest, field), ""));
    }
    for (what, text, expected) in &cases {
        assert_ne!(text, &honest, "{what}: the case changes the blob");
        let f = w.write("tampered.json", text);
        let out = w.b.cli(&["kek", "import", f.to_str().unwrap()]);
        let err = stderr(&out);
        assert!(!out.status.success(), "{what}: imported!");
        eprintln!("refused, {what}: {}", err.lines().last().unwrap_or_default());
        assert!(err.contains(expected) && err.contains("nothing was imported") && !err.contains("panicked"), "{what}: {err}");
        assert_eq!(snapshot(&w.b), before, "{what}: something changed on disk");
    }

    // The honest blob still imports, and B reads A's secrets.
    let f = w.write("honest.json", &honest);
    let out = w.b.cli_ok(&["kek", "import", f.to_str().unwrap()]);
    assert!(out.contains("imported and sealed master KEK v2 (current: v2)"), "{out}");
    assert!(w.b.undecryptable(&w.fixtures).is_empty());
    assert_ne!(snapshot(&w.b), before);
}

/// A target file with `key_public` replaced by a software RSA key with the same attributes.
fn with_software_key(m: &TargetMaterial, field: &str) -> (Vec<u8>, rsa::RsaPrivateKey) {
    let raw = if field == "key" { &m.key_public } else { &m.ak_public };
    let Public::Rsa { object_attributes, name_hashing_algorithm, auth_policy, parameters, .. } = Public::unmarshall(raw).unwrap() else {
        panic!("RSA")
    };
    let sk = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let unique = PublicKeyRsa::try_from(rsa::traits::PublicKeyParts::n(&sk).to_bytes_be()).unwrap();
    let forged = Public::Rsa { object_attributes, name_hashing_algorithm, auth_policy, parameters, unique };
    (forged.marshall().unwrap(), sk)
}

#[actix_web::test]
async fn tpm_forged_targets_are_refused_by_export() {
    let w = world();
    let honest = TargetMaterial::parse(&std::fs::read_to_string(&w.target).unwrap()).unwrap();
    let refused = |what: &str, path: &Path, expected: &str| {
        let out = w.export(path);
        let err = stderr(&out);
        assert!(!out.status.success(), "{what}: exported!");
        assert!(err.contains(expected) && !err.contains("panicked"), "{what}: {err}");
        assert!(!w.dir.path().join("export.json").exists(), "{what}: a blob was written");
    };

    // A software enrollment key with the attribute bits of B's copied.
    let mut m = TargetMaterial::parse(&honest.to_file()).unwrap();
    m.key_public = with_software_key(&honest, "key").0;
    refused("software enrollment key", &w.write("t1.json", &m.to_file()), "not the key its attestation key certified");

    // The certification's signature altered.
    let mut m = TargetMaterial::parse(&honest.to_file()).unwrap();
    m.certify_signature[10] ^= 1;
    refused("altered certification", &w.write("t2.json", &m.to_file()), "not signed by the target's attestation key");

    // A TPM whose EK certificate comes from a CA A does not trust.
    let tpm_c = Swtpm::start_with_ek_cert(&w.dir.path().join("other-ca"));
    let c = Site::new(&w.dir.path().join("c"), &tpm_c.tcti, &[], None);
    let c_target = w.dir.path().join("c-target.json");
    c.cli_ok(&["kek", "export-target-key", "--out", c_target.to_str().unwrap()]);
    refused("EK certificate from another CA", &c_target, "not signed by any CA of [kek] ek_ca_file");

    // B's EK certificate with another TPM's EK.
    let mut m = TargetMaterial::parse(&honest.to_file()).unwrap();
    m.ek_public = TargetMaterial::parse(&std::fs::read_to_string(&c_target).unwrap()).unwrap().ek_public;
    refused("EK swapped", &w.write("t3.json", &m.to_file()), "certificate is for another key");

    // A TPM without an EK certificate (A's own simulator).
    let a_target = w.dir.path().join("a-target.json");
    w.a.cli_ok(&["kek", "export-target-key", "--out", a_target.to_str().unwrap()]);
    refused("no EK certificate", &a_target, "carries no EK certificate");

    // A software AK that "certifies" a software enrollment key passes export's static checks
    // (the exporter cannot see inside B), but the credential is bound to that AK's name, which
    // B's TPM does not hold: B cannot open it.
    let (ak_public, ak_sk) = with_software_key(&honest, "ak");
    let (key_public, _) = with_software_key(&honest, "key");
    let mut m = TargetMaterial::parse(&honest.to_file()).unwrap();
    let (old_name, new_name) = (target::tpm_name(&honest.key_public), target::tpm_name(&key_public));
    let at = m.certify_attest.windows(old_name.len()).position(|w| w == old_name.as_slice()).unwrap();
    m.certify_attest[at..at + new_name.len()].copy_from_slice(&new_name);
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(ak_sk);
    m.certify_signature = signer.sign(&m.certify_attest).to_vec();
    m.ak_public = ak_public;
    m.key_public = key_public;
    let forged = w.write("t4.json", &m.to_file());
    let out = w.export(&forged);
    assert!(out.status.success(), "{}", stderr(&out));
    let blob = std::fs::read_to_string(w.dir.path().join("export.json")).unwrap();
    let out = w.b.cli(&["kek", "import", w.write("b1.json", &blob).to_str().unwrap()]);
    assert!(!out.status.success() && stderr(&out).contains("made for another enrollment target"), "{}", stderr(&out));
    // Even a blob that names B's real keys but carries a credential for the forged AK (with
    // A's real key inside) does not open: B's TPM refuses to activate it.
    let t_forged = target::verify(&m.to_file(), &EkTrust::Insecure).unwrap();
    let t_b = target::verify(&honest.to_file(), &EkTrust::Insecure).unwrap();
    let cred_key = zeroize::Zeroizing::new(vec![7u8; 32]);
    let data_key = zeroize::Zeroizing::new(vec![9u8; 32]);
    let cred = credential::make_credential(&t_forged.ek, &t_forged.ak_name, &cred_key).unwrap();
    let label = std::str::from_utf8(portcullis::kek::tpm::ENROLL_LABEL).unwrap();
    let oaep = t_b.key.encrypt(&mut rand::rngs::OsRng, rsa::Oaep::new_with_label::<sha2::Sha256, _>(label), &data_key).unwrap();
    let keys_a = w.a.provider().load().unwrap();
    let header = ExportBlob::new([hex(&t_b.ek_name), hex(&t_b.ak_name), hex(&t_b.key_name)], vec![2], &cred.id_object, &cred.encrypted_seed, &oaep);
    let text = header.seal(&[(2, &keys_a.versions[&2])].into_iter().collect(), &Unlock { credential: cred_key, data_key }).unwrap();
    let out = w.b.cli(&["kek", "import", w.write("b2.json", &text).to_str().unwrap()]);
    assert!(!out.status.success() && stderr(&out).contains("does not open in this TPM (credential activation)"), "{}", stderr(&out));
    assert!(w.b.provider().versions().unwrap().is_empty());

    // The honest target exports, and B imports it.
    let out = w.export(&w.target);
    assert!(out.status.success(), "{}", stderr(&out));
    let f = w.dir.path().join("export.json");
    w.b.cli_ok(&["kek", "import", f.to_str().unwrap()]);
    assert!(w.b.undecryptable(&w.fixtures).is_empty());
    let _ = &w.ca;
}
