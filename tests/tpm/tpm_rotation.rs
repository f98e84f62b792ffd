//! Master-KEK rotation under load, killed and resumed; project-KEK rotation with re-encryption.

use crate::tpm_common;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tpm_common::{stdout, Site, Swtpm};

#[actix_web::test]
async fn tpm_rotation_of_10k_secrets_in_50_projects_while_a_reader_reads() {
    let t0 = Instant::now();
    let tpm = Swtpm::start();
    let dir = tempfile::tempdir().unwrap();
    let site = Site::new(dir.path(), &tpm.tcti, &[], None);
    site.cli_ok(&["kek", "init"]);
    let fixtures = Arc::new(site.fixtures(50, 200));
    assert_eq!(fixtures.len(), 10_000);
    eprintln!("fixtures written in {:?}", t0.elapsed());
    assert_eq!(site.kek_rows(), vec![(1, 50)]);

    // A small project-KEK cache: the server unwraps project KEKs again and again during the
    // rotation, under both master versions.
    let srv = Arc::new(site.serve(|c| c.kek.cache_size = 16).await.unwrap());

    let done = Arc::new(AtomicBool::new(false));
    let (reads, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut readers = Vec::new();
    for r in 0..4usize {
        let (srv, fx, done, reads, errors) = (srv.clone(), fixtures.clone(), done.clone(), reads.clone(), errors.clone());
        readers.push(actix_web::rt::spawn(async move {
            // Strided over the projects, so every read may need another project KEK.
            let mut i = r * 2_503;
            loop {
                let (p, id, payload) = &fx[(i * 211) % fx.len()];
                match srv.payload(p, id).await {
                    Ok(got) if got == *payload => {}
                    Ok(got) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        eprintln!("wrong payload for {id}: {got}");
                    }
                    Err(e) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        eprintln!("read error for {id}: {e}");
                    }
                }
                reads.fetch_add(1, Ordering::Relaxed);
                i += 1;
                if done.load(Ordering::Relaxed) {
                    break;
                }
            }
        }));
    }
    // Let the readers warm up, then rotate from another process, slowly enough to overlap.
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    let reads_before = reads.load(Ordering::Relaxed);
    let rot = site.cli_cmd(&["kek", "rotate", "--batch-size", "2", "--batch-pause-ms", "60"]);
    let out = actix_web::rt::task::spawn_blocking(move || { let mut rot = rot; rot.output() }).await.unwrap().unwrap();
    assert!(out.status.success(), "rotate: {}", String::from_utf8_lossy(&out.stderr));
    let during = reads.load(Ordering::Relaxed) - reads_before;
    // A few more reads after the rotation retired v1 (the server still holds it; rows are v2).
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    done.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    let text = stdout(&out);
    assert!(text.contains("master KEK is now v2: 50 project KEKs rewrapped in 25 batches") && text.contains("retired: v1"), "{text}");
    assert_eq!(errors.load(Ordering::Relaxed), 0, "read errors during the rotation");
    assert!(during >= 100, "the reader must overlap the rotation ({during} reads during it)");
    eprintln!("{} reads, {during} during the rotation, 0 errors", reads.load(Ordering::Relaxed));

    // New secrets after the rotation land under v2 project KEKs; old ones still read.
    let id = srv.create("after-rotation", "fresh").await;
    assert_eq!(srv.payload("after-rotation", &id).await.unwrap(), "fresh");
    assert_eq!(site.kek_rows(), vec![(2, 51)]);
    Arc::try_unwrap(srv).ok().expect("readers are done").stop().await;

    assert!(!site.sealed_dir().join("master-v1.pub").exists(), "v1 retired");
    // Every secret decrypts with only what the TPM unseals now (v2).
    let bad = site.undecryptable(&fixtures);
    assert!(bad.is_empty(), "{} secrets do not decrypt after the rotation", bad.len());
    eprintln!("whole test in {:?}", t0.elapsed());
}

#[actix_web::test]
async fn tpm_rotation_killed_midway_then_resumed() {
    let tpm = Swtpm::start();
    let dir = tempfile::tempdir().unwrap();
    let site = Site::new(dir.path(), &tpm.tcti, &[], None);
    site.cli_ok(&["kek", "init"]);
    let fixtures = site.fixtures(300, 3);

    let mut child = site
        .cli_cmd(&["kek", "rotate", "--batch-size", "10", "--batch-pause-ms", "100"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it (SIGKILL: no clean-up at all) once a few batches went through.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = site.kek_rows();
        let v2 = rows.iter().find(|(v, _)| *v == 2).map(|(_, n)| *n).unwrap_or(0);
        if v2 >= 30 {
            break;
        }
        assert!(Instant::now() < deadline, "rotation made no progress: {rows:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let rows = site.kek_rows();
    assert_eq!(rows.len(), 2, "a mix of v1 and v2 rows after the kill: {rows:?}");
    assert!(rows[0].0 == 1 && rows[0].1 > 0 && rows[1].0 == 2, "{rows:?}");
    assert!(site.sealed_dir().join("master-v1.pub").exists() && site.sealed_dir().join("master-v2.pub").exists());
    let status = site.cli_ok(&["kek", "status"]);
    assert!(status.contains("rotation: unfinished"), "{status}");

    // Midway, a fresh server reads every secret (it unseals both versions).
    let srv = site.serve(|_| {}).await.unwrap();
    for (p, id, payload) in fixtures.iter().step_by(7) {
        assert_eq!(srv.payload(p, id).await.unwrap(), *payload);
    }
    srv.stop().await;
    assert!(site.undecryptable(&fixtures).is_empty());

    // Running it again finishes the same rotation (no v3) and retires v1.
    let out = site.cli_ok(&["kek", "rotate"]);
    assert!(out.contains("master KEK is now v2") && out.contains("retired: v1"), "{out}");
    assert_eq!(site.kek_rows(), vec![(2, 300)]);
    assert!(!site.sealed_dir().join("master-v1.pub").exists());
    assert!(site.undecryptable(&fixtures).is_empty(), "every secret decrypts after the resumed rotation");
    let status = site.cli_ok(&["kek", "status"]);
    assert!(status.contains("rotation: none in progress") && status.contains("project KEKs under master v2: 300"), "{status}");
}

#[actix_web::test]
async fn tpm_project_kek_rotation_with_reencryption() {
    let tpm = Swtpm::start();
    let dir = tempfile::tempdir().unwrap();
    let site = Site::new(dir.path(), &tpm.tcti, &[], None);
    site.cli_ok(&["kek", "init"]);
    let srv = site.serve(|_| {}).await.unwrap();
    let mut old = Vec::new();
    for i in 0..25 {
        old.push((srv.create("pk", &format!("old {i}")).await, format!("old {i}")));
    }
    let other = srv.create("pk-other", "untouched").await;

    // Without --reencrypt: new secrets use the new KEK (the running server sees it at once),
    // old ones still decrypt under theirs.
    let out = site.cli_ok(&["project-kek", "rotate", "--project", "pk"]);
    let kek2 = out.split("new active KEK ").nth(1).unwrap().split(';').next().unwrap().to_string();
    let fresh = srv.create("pk", "new one").await;
    let kek_of = |id: &str| -> String {
        use diesel::prelude::*;
        let store = site.store();
        let mut c = store.conn().unwrap();
        portcullis::store::schema::secrets::table
            .find(id)
            .select(portcullis::store::schema::secrets::kek_id)
            .first::<Option<String>>(&mut *c)
            .unwrap()
            .unwrap()
    };
    assert_eq!(kek_of(&fresh), kek2, "a new secret uses the new project KEK");
    let kek1 = kek_of(&old[0].0);
    assert_ne!(kek1, kek2);
    for (id, payload) in &old {
        assert_eq!(srv.payload("pk", id).await.unwrap(), *payload);
    }

    // With --reencrypt (small batches): every secret of the project moves to a third KEK.
    let out = site.cli_ok(&["project-kek", "rotate", "--project", "pk", "--reencrypt", "--batch-size", "4"]);
    let kek3 = out.split("new active KEK ").nth(1).unwrap().split(';').next().unwrap().to_string();
    assert!(out.contains("26 secrets re-encrypted"), "{out}");
    for (id, payload) in old.iter().chain(std::iter::once(&(fresh.clone(), "new one".to_string()))) {
        assert_eq!(kek_of(id), kek3);
        assert_eq!(srv.payload("pk", id).await.unwrap(), *payload);
    }
    assert_eq!(srv.payload("pk-other", &other).await.unwrap(), "untouched");
    assert_ne!(kek_of(&other), kek3);
    srv.stop().await;
}
