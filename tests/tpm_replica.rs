//! Replica enrollment between two TPMs: export from one, import on the other, and a second
//! server on the other TPM reads the first one's secrets from the shared database.

mod tpm_common;

use portcullis::kek::MasterKekProvider;
use tpm_common::{stderr, stdout, Site, Swtpm};

#[actix_web::test]
async fn tpm_replica_enrollment_between_two_tpms() {
    let (tpm_a, tpm_b) = (Swtpm::start(), Swtpm::start());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let a = Site::new(&dir.path().join("a"), &tpm_a.tcti, &[], Some(&db));
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

    // B has no master KEK: it refuses to start.
    let err = b.serve(|_| {}).await.err().expect("B has nothing sealed yet");
    assert!(err.contains("no sealed master KEK"), "{err}");

    // 1. B makes its TPM-resident enrollment key.
    let target = dir.path().join("b-target.json");
    let out = b.cli_ok(&["kek", "export-target-key", "--out", target.to_str().unwrap()]);
    let name = out.split("TPM name is ").nth(1).unwrap().trim().to_string();
    assert!(name.starts_with("000b") && name.len() == 68, "{name}");
    // 2. A exports to it.
    let blob = dir.path().join("export.json");
    let out = a.cli_ok(&["kek", "export", "--to", target.to_str().unwrap(), "--out", blob.to_str().unwrap()]);
    assert!(out.contains(&name), "the source names the target key: {out}");
    let keys_a = a.provider().load().unwrap();
    let blob_bytes = std::fs::read(&blob).unwrap();
    assert!(!blob_bytes.windows(32).any(|w| w == keys_a.versions[&2].expose()), "no plaintext key in the blob");

    // Only B's TPM opens it: A (with an enrollment key of its own) cannot.
    let a_target = dir.path().join("a-target.json");
    a.cli_ok(&["kek", "export-target-key", "--out", a_target.to_str().unwrap()]);
    let wrong = a.cli(&["kek", "import", blob.to_str().unwrap()]);
    assert!(!wrong.status.success());
    assert!(stderr(&wrong).contains("does not decrypt with this TPM's enrollment key"), "{}", stderr(&wrong));

    // A blob of another deployment (its own master KEK) is refused by the database check.
    let c_dir = tempfile::tempdir().unwrap();
    let tpm_c = Swtpm::start();
    let c = Site::new(c_dir.path(), &tpm_c.tcti, &[], None);
    c.cli_ok(&["kek", "init"]);
    c.cli_ok(&["kek", "rotate"]);
    let foreign = dir.path().join("foreign.json");
    c.cli_ok(&["kek", "export", "--to", target.to_str().unwrap(), "--out", foreign.to_str().unwrap()]);
    let refused = b.cli(&["kek", "import", foreign.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("comes from another deployment"), "{}", stderr(&refused));
    assert!(b.provider().versions().unwrap().is_empty(), "nothing imported");

    // 3. B imports A's blob: decrypted inside B's TPM, sealed by B's TPM.
    let out = b.cli_ok(&["kek", "import", blob.to_str().unwrap()]);
    assert!(out.contains("imported and sealed master KEK v2"), "{}", stdout(&b.cli(&["kek", "status"])) + &out);
    assert_ne!(
        std::fs::read(b.sealed_dir().join("master-v2.priv")).unwrap(),
        std::fs::read(a.sealed_dir().join("master-v2.priv")).unwrap(),
        "B's blob is B's TPM's own"
    );
    // B's blobs do not open in A's TPM.
    let b_in_a = portcullis::kek::tpm::TpmProvider::new(tpm_a.tcti.clone(), b.sealed_dir(), vec![]);
    assert!(b_in_a.load().is_err());

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
}
