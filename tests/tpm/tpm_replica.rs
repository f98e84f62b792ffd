//! Replica enrollment between two TPMs: export from one, import on the other, and a second
//! server on the other TPM reads the first one's secrets from the shared database. The target
//! TPM has an EK certificate from a local CA, which the source host is configured to trust.

use crate::tpm_common;
use portcullis::kek::MasterKekProvider;
use tpm_common::{ca_bundle, stderr, stdout, Site, Swtpm};

/// The lines `kek export-target-key` and `kek export` print about the target.
fn names(out: &str) -> Vec<String> {
    out.lines().filter(|l| l.contains(" 000b")).map(str::to_string).collect()
}

#[actix_web::test]
async fn tpm_replica_enrollment_between_two_tpms() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    let (tpm_a, tpm_b) = (Swtpm::start(), Swtpm::start_with_ek_cert(&ca));
    let db = dir.path().join("shared.db");
    let mut a = Site::new(&dir.path().join("a"), &tpm_a.tcti, &[], Some(&db));
    let b = Site::new(&dir.path().join("b"), &tpm_b.tcti, &[], Some(&db));

    a.cli_ok(&["kek", "init"]);
    a.cli_ok(&["kek", "rotate"]); // so that more than one version has been in use
    let srv_a = a.serve(|_| {}).await.unwrap();
    let mut stored = Vec::new();
    for i in 0..12 {
        let p = format!("replica-{}", i % 3);
        let payload = format!("from A #{i}");
        stored.push((p.clone(), srv_a.create(&p, &payload).await, payload));
    }

    // B has no master KEK: it refuses to start; a second `kek init` on the shared database is
    // refused too (the deployment has a master KEK).
    let err = b.serve(|_| {}).await.err().expect("B has nothing sealed yet");
    assert!(err.contains("no sealed master KEK"), "{err}");
    let init = b.cli(&["kek", "init"]);
    assert!(!init.status.success() && stderr(&init).contains("already lists master KEK versions"), "{}", stderr(&init));
    assert!(b.provider().versions().unwrap().is_empty());

    // 1. B makes its attestation and enrollment keys and writes the target file.
    let target = dir.path().join("b-target.json");
    let out_b = b.cli_ok(&["kek", "export-target-key", "--out", target.to_str().unwrap()]);
    let names_b = names(&out_b);
    assert_eq!(names_b.len(), 3, "{out_b}");
    assert!(!out_b.contains("WARNING"), "B's TPM has an EK certificate: {out_b}");

    // 2. A refuses to export without a CA to check B's EK against, then exports.
    let blob = dir.path().join("export.json");
    let export = ["kek", "export", "--to", target.to_str().unwrap(), "--out", blob.to_str().unwrap()];
    let no_ca = a.cli(&export);
    assert!(!no_ca.status.success() && stderr(&no_ca).contains("ek_ca_file"), "{}", stderr(&no_ca));
    assert!(!blob.exists());
    a.set_ek_ca_file(&ca_bundle(&ca));
    let out = a.cli_ok(&export);
    assert_eq!(names(&out), names_b, "both hosts print the same target names: {out}");
    assert!(out.contains("EK certificate: issuer \"CN=swtpm-localca\""), "{out}");
    let keys_a = a.provider().load().unwrap();
    let blob_bytes = std::fs::read(&blob).unwrap();
    assert!(!blob_bytes.windows(32).any(|w| w == keys_a.versions[&2].expose()), "no plaintext key in the blob");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&blob).unwrap().permissions().mode() & 0o777, 0o600);
    }

    // Only B's TPM opens it: A (with an enrollment key of its own) cannot.
    let a_target = dir.path().join("a-target.json");
    let out_a = a.cli_ok(&["kek", "export-target-key", "--out", a_target.to_str().unwrap()]);
    assert!(out_a.contains("WARNING: this TPM has no EK certificate"), "{out_a}");
    let wrong = a.cli(&["kek", "import", blob.to_str().unwrap()]);
    assert!(!wrong.status.success());
    assert!(stderr(&wrong).contains("made for another enrollment target"), "{}", stderr(&wrong));

    // A blob of another deployment (its own master KEK, its own database) is refused: its keys
    // do not match the key-check values of B's database.
    let c_dir = tempfile::tempdir().unwrap();
    let tpm_c = Swtpm::start();
    let mut c = Site::new(c_dir.path(), &tpm_c.tcti, &[], None);
    c.set_ek_ca_file(&ca_bundle(&ca));
    c.cli_ok(&["kek", "init"]);
    c.cli_ok(&["kek", "rotate"]);
    let foreign = dir.path().join("foreign.json");
    c.cli_ok(&["kek", "export", "--to", target.to_str().unwrap(), "--out", foreign.to_str().unwrap()]);
    let refused = b.cli(&["kek", "import", foreign.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("does not match the database's key-check value"), "{}", stderr(&refused));
    assert!(b.provider().versions().unwrap().is_empty(), "nothing imported");

    // 3. B imports A's blob: opened inside B's TPM, checked against the database, sealed by B's TPM.
    let out = b.cli_ok(&["kek", "import", blob.to_str().unwrap()]);
    assert!(out.contains("imported and sealed master KEK v2 (current: v2)"), "{}", stdout(&b.cli(&["kek", "status"])) + &out);
    assert!(!b.sealed_dir().join("enroll-target.priv").exists() && !b.sealed_dir().join("enroll-ak.priv").exists(), "enrollment keys removed");
    assert_ne!(
        std::fs::read(b.sealed_dir().join("master-v2.priv")).unwrap(),
        std::fs::read(a.sealed_dir().join("master-v2.priv")).unwrap(),
        "B's blob is B's TPM's own"
    );
    // B's blobs do not open in A's TPM (whose storage primary key is not the one B pinned).
    let b_in_a = portcullis::kek::tpm::TpmProvider::new(tpm_a.tcti.clone(), b.sealed_dir(), vec![]);
    let err = b_in_a.load().err().expect("B's blobs in A's TPM").to_string();
    assert!(err.contains("storage primary key"), "{err}");

    // A second replica on B's TPM serves A's secrets from the shared database.
    let srv_b = b.serve(|_| {}).await.expect("B starts with the imported master KEK");
    for (p, id, payload) in &stored {
        assert_eq!(srv_b.payload(p, id).await.unwrap(), *payload, "B reads A's secret");
    }
    // And A reads what B writes.
    let id = srv_b.create("replica-0", "from B").await;
    assert_eq!(srv_a.payload("replica-0", &id).await.unwrap(), "from B");
    srv_a.stop().await;
    srv_b.stop().await;
    let st = b.cli_ok(&["kek", "status"]);
    assert!(st.contains("current master KEK version: v2") && st.contains("unseal: ok"), "{st}");
    assert!(st.contains("master KEK v2: matches the database's key-check value"), "{st}");
}
