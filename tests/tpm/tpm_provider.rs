//! The `tpm` master-KEK provider against swtpm: sealing, unsealing across restarts, and the
//! service refusing to start (and saying why) on a changed platform state, a tampered or
//! missing blob, a missing device and a dictionary-attack lockout.

use crate::tpm_common;
use base64::Engine;
use portcullis::kek::MasterKekProvider;
use tpm_common::{stderr, stdout, Site, Swtpm};

#[actix_web::test]
async fn tpm_init_start_store_restart_read_back() {
    let mut tpm = Swtpm::start();
    let dir = tempfile::tempdir().unwrap();
    let site = Site::new(dir.path(), &tpm.tcti, &[], None);

    let out = site.cli_ok(&["kek", "init"]);
    assert!(out.contains("master KEK v1 created"), "{out}");
    let again = site.cli(&["kek", "init"]);
    assert!(!again.status.success(), "a second init must refuse");
    assert!(stderr(&again).contains("refusing to overwrite"), "{}", stderr(&again));

    let srv = site.serve(|_| {}).await.expect("server starts with the TPM-sealed master KEK");
    let mut stored = Vec::new();
    for (p, payload) in [("tpm-a", "alpha"), ("tpm-a", "beta"), ("tpm-b", "gamma")] {
        stored.push((p, srv.create(p, payload).await, payload));
    }
    for (p, id, payload) in &stored {
        assert_eq!(srv.payload(p, id).await.unwrap(), *payload);
    }
    srv.stop().await;

    // Host reboot: the TPM restarts (gracefully), the server unseals again.
    tpm.restart();
    let srv = site.serve(|_| {}).await.expect("server starts after a TPM restart");
    for (p, id, payload) in &stored {
        assert_eq!(srv.payload(p, id).await.unwrap(), *payload, "read back after restart");
    }
    srv.stop().await;

    let status = site.cli_ok(&["kek", "status"]);
    for want in [
        "provider: tpm",
        "current master KEK version: v1",
        "unseal: ok",
        "project KEKs under master v1: 2",
        "master KEK in plaintext on this host: no",
    ] {
        assert!(status.contains(want), "status lacks {want:?}:\n{status}");
    }
}

#[actix_web::test]
async fn tpm_pcr7_extended_after_sealing_refuses_to_start() {
    let mut tpm = Swtpm::start();
    let dir = tempfile::tempdir().unwrap();
    let site = Site::new(dir.path(), &tpm.tcti, &[7], None);
    site.cli_ok(&["kek", "init"]);
    let meta = std::fs::read_to_string(site.sealed_dir().join("master-v1.meta")).unwrap();
    assert!(meta.contains("\"pcrs\": [\n    7\n  ]") || meta.contains("7"), "{meta}");
    let srv = site.serve(|_| {}).await.expect("starts while PCR 7 is unchanged");
    let id = srv.create("pcr-p", "sealed to the platform").await;
    srv.stop().await;

    tpm.extend_pcr7();
    let err = site.serve(|_| {}).await.err().expect("must refuse to start after PCR 7 changed");
    assert!(err.contains("refusing to start"), "{err}");
    assert!(err.contains("platform state changed") && err.contains("PCR policy (sha256:7)"), "{err}");
    // The binary says it too and exits non-zero.
    let out = site.cli(&["serve", "--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("platform state changed"), "{}", stderr(&out));
    let st = site.cli(&["kek", "status"]);
    assert!(!st.status.success());
    assert!(stdout(&st).contains("unseal: FAILED: the platform state changed"), "{}", stdout(&st));

    // Back in the sealed state (a reboot resets the PCRs), it opens again.
    tpm.restart();
    let srv = site.serve(|_| {}).await.expect("starts again in the sealed state");
    assert_eq!(srv.payload("pcr-p", &id).await.unwrap(), "sealed to the platform");
    srv.stop().await;
}

fn flip(path: &std::path::Path, at_from_end: usize) {
    let mut b = std::fs::read(path).unwrap();
    let i = b.len() - at_from_end;
    b[i] ^= 0x01;
    std::fs::write(path, b).unwrap();
}

#[actix_web::test]
async fn tpm_tampered_or_missing_blob_refuses_to_start() {
    let tpm = Swtpm::start();
    let dir = tempfile::tempdir().unwrap();
    let site = Site::new(dir.path(), &tpm.tcti, &[], None);
    let err = site.serve(|_| {}).await.err().expect("no sealed master KEK yet");
    assert!(err.contains("no sealed master KEK") && err.contains("kek init"), "{err}");

    site.cli_ok(&["kek", "init"]);
    let sealed = site.sealed_dir();
    let (pubf, privf) = (sealed.join("master-v1.pub"), sealed.join("master-v1.priv"));
    let (pub0, priv0) = (std::fs::read(&pubf).unwrap(), std::fs::read(&privf).unwrap());

    // A bit flipped in the encrypted sensitive area: the TPM's integrity check refuses it.
    flip(&privf, 5);
    let err = site.serve(|_| {}).await.err().expect("tampered private blob");
    assert!(err.contains("tampered"), "{err}");
    std::fs::write(&privf, &priv0).unwrap();

    // The public area changed (its unique digest): it no longer matches the private part.
    flip(&pubf, 3);
    let err = site.serve(|_| {}).await.err().expect("tampered public blob");
    assert!(err.contains("tampered") || err.contains("corrupt"), "{err}");
    std::fs::write(&pubf, &pub0).unwrap();

    std::fs::remove_file(&privf).unwrap();
    let err = site.serve(|_| {}).await.err().expect("missing private blob");
    assert!(err.contains("missing") && err.contains("master-v1.priv"), "{err}");
    std::fs::write(&privf, &priv0).unwrap();

    let srv = site.serve(|_| {}).await.expect("the original blobs open again");
    srv.stop().await;
}

#[actix_web::test]
async fn tpm_device_missing_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::new(dir.path(), "device:/nonexistent/tpmrm0", &[], None);
    std::fs::create_dir_all(site.sealed_dir()).unwrap();
    std::fs::write(site.sealed_dir().join("master-v1.pub"), b"x").unwrap();
    std::fs::write(site.sealed_dir().join("master-v1.priv"), b"x").unwrap();
    std::fs::write(site.sealed_dir().join("master-v1.meta"), br#"{"version":1,"pcr_bank":"sha256","pcrs":[]}"#).unwrap();
    let err = site.serve(|_| {}).await.err().expect("no device");
    assert!(err.contains("TPM device /nonexistent/tpmrm0 does not exist"), "{err}");
    let out = site.cli(&["kek", "init"]);
    assert!(!out.status.success());
}

#[actix_web::test]
async fn tpm_dictionary_attack_lockout_refuses_to_start() {
    let mut tpm = Swtpm::start();
    let dir = tempfile::tempdir().unwrap();
    let site = Site::new(dir.path(), &tpm.tcti, &[], None);
    site.cli_ok(&["kek", "init"]);
    // Each power loss after the TPM used a DA-protected object counts as a failed attempt
    // (swtpm: 3 tries).
    for _ in 0..3 {
        site.provider().load().expect("unseals before the lockout");
        tpm.crash_and_restart();
    }
    let err = site.serve(|_| {}).await.err().expect("lockout");
    assert!(err.contains("dictionary-attack lockout"), "{err}");
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[actix_web::test]
async fn tpm_master_kek_bytes_are_nowhere_at_rest() {
    let tpm = Swtpm::start();
    let dir = tempfile::tempdir().unwrap();
    let site = Site::new(dir.path(), &tpm.tcti, &[], None);
    site.cli_ok(&["kek", "init"]);
    let srv = site.serve(|_| {}).await.unwrap();
    for i in 0..20 {
        srv.create(&format!("bytes-{}", i % 4), &format!("payload {i}")).await;
    }
    let v1 = site.provider().load().unwrap().versions.remove(&1).unwrap();
    site.cli_ok(&["kek", "rotate"]);
    for i in 0..4 {
        srv.create(&format!("bytes-new-{i}"), "after rotation").await;
    }
    srv.stop().await;
    let keys = site.provider().load().unwrap();
    assert_eq!(keys.current, 2);
    let v2 = keys.versions[&2].clone();

    let mut all = Vec::new();
    files(dir.path(), &mut all);
    files(tpm.state.path(), &mut all);
    assert!(all.iter().any(|p| p.ends_with("portcullis.db")), "the database file is searched: {all:?}");
    assert!(all.iter().any(|p| p.ends_with("master-v2.priv")), "the sealed blobs are searched");
    for key in [&v1, &v2] {
        let raw = key.expose().to_vec();
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
        let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw);
        for f in &all {
            let data = std::fs::read(f).unwrap();
            for (what, needle) in [("raw", raw.clone()), ("hex", hex.clone().into_bytes()), ("HEX", hex.to_uppercase().into_bytes()), ("base64", b64.clone().into_bytes()), ("base64url", b64url.clone().into_bytes())] {
                assert!(!contains(&data, &needle), "master KEK bytes ({what}) found in {}", f.display());
            }
        }
    }
}

#[actix_web::test]
async fn kek_file_provider_lifecycle_and_posture() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::new(dir.path(), "device:/unused", &[], None);
    // Switch this site to the development file provider.
    let text = std::fs::read_to_string(&site.cfg_path).unwrap().replace("provider = \"tpm\"", "provider = \"file\"");
    std::fs::write(&site.cfg_path, text).unwrap();
    site.cli_ok(&["kek", "init"]);
    assert!(!site.cli(&["kek", "init"]).status.success());
    let st = site.cli_ok(&["kek", "status"]);
    assert!(st.contains("provider: file") && st.contains("master KEK in plaintext on this host: YES"), "{st}");
    let r = site.cli_ok(&["kek", "rotate"]);
    assert!(r.contains("master KEK is now v2") && r.contains("retired: v1"), "{r}");
    let file = std::fs::read_to_string(dir.path().join("dev-master.kek")).unwrap();
    assert!(file.lines().any(|l| l.starts_with("2:")) && !file.lines().any(|l| l.starts_with("1:")), "{file}");
    // production = true refuses the file provider.
    let mut text = std::fs::read_to_string(&site.cfg_path).unwrap();
    text = text.replace("[DEFAULT]\n", "[DEFAULT]\nproduction = true\n");
    std::fs::write(&site.cfg_path, text).unwrap();
    let out = site.cli(&["kek", "status"]);
    assert!(!out.status.success() && stderr(&out).contains("refused when [DEFAULT] production = true"), "{}", stderr(&out));
}

/// A keyed-hash primary key of another program (different `unique`, different object), left
/// loaded when its context closes; returns its TPM handle and name.
fn foreign_object(tcti: &str, unique: u8) -> (u32, String) {
    use std::str::FromStr;
    use tss_esapi::attributes::ObjectAttributesBuilder;
    use tss_esapi::constants::CapabilityType;
    use tss_esapi::handles::ObjectHandle;
    use tss_esapi::interface_types::algorithm::{HashingAlgorithm, PublicAlgorithm};
    use tss_esapi::interface_types::resource_handles::Hierarchy;
    use tss_esapi::interface_types::session_handles::AuthSession;
    use tss_esapi::structures::{CapabilityData, Digest, KeyedHashScheme, PublicBuilder, PublicKeyedHashParameters};
    let mut ctx = tss_esapi::Context::new(tss_esapi::TctiNameConf::from_str(tcti).unwrap()).unwrap();
    let attrs = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(true)
        .with_sign_encrypt(true)
        .build()
        .unwrap();
    let public = PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::KeyedHash)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attrs)
        .with_keyed_hash_parameters(PublicKeyedHashParameters::new(KeyedHashScheme::HMAC_SHA_256))
        .with_keyed_hash_unique_identifier(Digest::try_from(vec![unique; 32]).unwrap())
        .build()
        .unwrap();
    let loaded = |ctx: &mut tss_esapi::Context| match ctx.get_capability(CapabilityType::Handles, 0x8000_0000, 64).unwrap().0 {
        CapabilityData::Handles(l) => l.into_inner().into_iter().map(u32::from).collect::<Vec<_>>(),
        _ => unreachable!(),
    };
    let before = loaded(&mut ctx);
    let h = ctx
        .execute_with_session(Some(AuthSession::Password), |c| c.create_primary(Hierarchy::Owner, public, None, None, None, None))
        .unwrap()
        .key_handle;
    let handle = *loaded(&mut ctx).iter().find(|h| !before.contains(h)).unwrap();
    let name: String = ctx.tr_get_name(h.into()).unwrap().value().iter().map(|b| format!("{b:02x}")).collect();
    let mut obj = ObjectHandle::from(h);
    // Forget it without flushing, so it stays loaded (tss-esapi reports an error for closing a
    // handle it meant to flush, after ESYS closed it: it can no longer flush it).
    let _ = ctx.tr_close(&mut obj);
    (handle, name)
}

fn flush(tcti: &str, handle: u32) {
    use std::str::FromStr;
    let mut ctx = tss_esapi::Context::new(tss_esapi::TctiNameConf::from_str(tcti).unwrap()).unwrap();
    let h = ctx.tr_from_tpm_public(tss_esapi::handles::TpmHandle::try_from(handle).unwrap()).unwrap();
    ctx.flush_context(h).unwrap();
}

fn transient_handles(tcti: &str) -> Vec<u32> {
    use std::str::FromStr;
    let mut ctx = tss_esapi::Context::new(tss_esapi::TctiNameConf::from_str(tcti).unwrap()).unwrap();
    match ctx.get_capability(tss_esapi::constants::CapabilityType::Handles, 0x8000_0000, 64).unwrap().0 {
        tss_esapi::structures::CapabilityData::Handles(l) => l.into_inner().into_iter().map(u32::from).collect(),
        _ => unreachable!(),
    }
}

/// Issue 8, 5b: the session trusts only the storage primary key pinned at `kek init`, and a
/// connection flushes only what Portcullis processes that no longer run left loaded.
#[actix_web::test]
async fn tpm_pins_its_primary_and_flushes_only_its_own_leftovers() {
    let (tpm, other) = (Swtpm::start(), Swtpm::start());
    let dir = tempfile::tempdir().unwrap();
    let site = Site::new(dir.path(), &tpm.tcti, &[], None);
    site.cli_ok(&["kek", "init"]);
    let pin = std::fs::read_to_string(site.sealed_dir().join("storage-primary.name")).unwrap();
    assert!(pin.starts_with("000b") && pin.trim().len() == 68, "{pin}");

    // The sealed directory on another TPM (or behind something that answers in the TPM's
    // place): its storage primary key is not the pinned one; nothing is loaded or unsealed.
    let err = site.serve(|c| c.kek.tcti = other.tcti.clone()).await.err().expect("refused");
    assert!(err.contains("storage primary key") && err.contains(pin.trim()), "{err}");
    assert!(transient_handles(&other.tcti).is_empty(), "nothing left loaded in the other TPM");

    // Another program's objects survive Portcullis's connections; a leftover of a Portcullis
    // process that no longer runs is flushed, but only while its handle still holds the object
    // the journal names. (A TPM may hold only three objects, and unsealing takes two.)
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let journal = site.sealed_dir().join(".tpm-handles");
    let note = |line: String| {
        let mut text = std::fs::read_to_string(&journal).unwrap_or_default();
        text.push_str(&line);
        std::fs::write(&journal, text).unwrap();
    };
    let (theirs, _) = foreign_object(&tpm.tcti, 1);
    let (leftover, leftover_name) = foreign_object(&tpm.tcti, 2);
    note(format!("{dead} {leftover:#010x} {leftover_name}\n"));
    let st = site.cli_ok(&["kek", "status"]);
    assert!(st.contains("unseal: ok"), "{st}");
    let loaded = transient_handles(&tpm.tcti);
    assert_eq!(loaded, vec![theirs], "another program's object stays, the dead Portcullis process's leftover goes");

    flush(&tpm.tcti, theirs);
    let (reused, _) = foreign_object(&tpm.tcti, 3);
    note(format!("{dead} {reused:#010x} 000b{}\n", "00".repeat(32)));
    let srv = site.serve(|_| {}).await.expect("starts");
    srv.stop().await;
    assert_eq!(transient_handles(&tpm.tcti), vec![reused], "an object whose name is not the journal's stays");
    let journal = std::fs::read_to_string(&journal).unwrap();
    assert!(!journal.contains(&format!("{dead} ")), "the dead process's entries are struck off:\n{journal}");
}
