//! The Kubernetes KMS v2 plugin endpoint (`[kms_v2]`, src/kms): the real gRPC server on a temp
//! unix socket, driven by the tonic client generated from the upstream proto and by a real
//! grpcio client (tests/clients/kms_v2.py, from the OpenStack venv; skipped without it unless
//! PORTCULLIS_REQUIRE_OS_VENV=1). The backend is an AES-256-GCM key with versions defined here
//! (the managed-key backend is wired by `kms::backend_for`); the database is not used, so these
//! tests mean the same on every backend.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use parking_lot::Mutex;
use portcullis::kms::proto::{DecryptRequest, EncryptRequest, StatusRequest};
use portcullis::kms::{KmsBackend, KmsError, KmsServer};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tonic::Code;
use zeroize::Zeroizing;

/// What the test backend does on every call besides its job.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Up,
    Down,
    Broken,
}

/// One AES-256-GCM key with versions: key ids are hex(SHA-256(domain, key, version)), the
/// current (newest) version encrypts, every version decrypts; the key id is the AAD.
struct TestKey {
    versions: Mutex<Vec<(String, Zeroizing<[u8; 32]>)>>,
    mode: Mutex<Mode>,
}

impl TestKey {
    fn new() -> Arc<TestKey> {
        let k = Arc::new(TestKey { versions: Mutex::new(Vec::new()), mode: Mutex::new(Mode::Up) });
        k.rotate();
        k
    }

    /// Adds a version; returns its key id.
    fn rotate(&self) -> String {
        let mut v = self.versions.lock();
        let mut key = Zeroizing::new([0u8; 32]);
        rand::thread_rng().fill_bytes(&mut key[..]);
        let version = v.len() as u32 + 1;
        let mut h = Sha256::new();
        h.update(b"portcullis-test-kms-key-id\0");
        h.update(&key[..]);
        h.update(version.to_be_bytes());
        let id: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        v.push((id.clone(), key));
        id
    }

    fn current_id(&self) -> String {
        self.versions.lock().last().unwrap().0.clone()
    }

    fn gate(&self) -> Result<(), KmsError> {
        match *self.mode.lock() {
            Mode::Up => Ok(()),
            Mode::Down => Err(KmsError::Unavailable("test key is down".into())),
            Mode::Broken => Err(KmsError::Internal("SECRET-DETAIL-must-not-reach-the-client".into())),
        }
    }
}

impl KmsBackend for TestKey {
    fn status(&self) -> Result<String, KmsError> {
        self.gate()?;
        Ok(self.current_id())
    }

    fn encrypt(&self, _uid: &str, plaintext: &[u8]) -> Result<(Vec<u8>, String), KmsError> {
        self.gate()?;
        let (id, key) = self.versions.lock().last().cloned().unwrap();
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ct = Aes256Gcm::new_from_slice(&key[..])
            .unwrap()
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: id.as_bytes() })
            .map_err(|_| KmsError::Internal("encryption failed".into()))?;
        Ok(([&nonce[..], &ct].concat(), id))
    }

    fn decrypt(&self, _uid: &str, key_id: &str, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        self.gate()?;
        let key = self.versions.lock().iter().find(|(id, _)| id == key_id).map(|(_, k)| k.clone());
        let key = key.ok_or(KmsError::UnknownKeyId)?;
        if ciphertext.len() < 12 + 16 {
            return Err(KmsError::Invalid("ciphertext too short".into()));
        }
        let (nonce, ct) = ciphertext.split_at(12);
        Aes256Gcm::new_from_slice(&key[..])
            .unwrap()
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: key_id.as_bytes() })
            .map(Zeroizing::new)
            .map_err(|_| KmsError::Invalid("decryption failed".into()))
    }
}

use crate::common::kms_client::{connect, Client};

async fn status(c: &mut Client) -> (String, String, String) {
    let s = c.status(StatusRequest {}).await.expect("Status").into_inner();
    (s.version, s.healthz, s.key_id)
}

async fn encrypt(c: &mut Client, pt: &[u8]) -> Result<(Vec<u8>, String), tonic::Status> {
    let r = c.encrypt(EncryptRequest { plaintext: pt.to_vec(), uid: uuid::Uuid::new_v4().to_string() }).await?;
    let r = r.into_inner();
    assert!(r.annotations.is_empty(), "no annotations are sent");
    Ok((r.ciphertext, r.key_id))
}

async fn decrypt(c: &mut Client, ct: &[u8], key_id: &str) -> Result<Vec<u8>, tonic::Status> {
    let req = DecryptRequest { ciphertext: ct.to_vec(), uid: uuid::Uuid::new_v4().to_string(), key_id: key_id.into(), annotations: Default::default() };
    Ok(c.decrypt(req).await?.into_inner().plaintext)
}

fn code<T: std::fmt::Debug>(r: Result<T, tonic::Status>) -> Code {
    r.expect_err("the call must be refused").code()
}

fn seed() -> Vec<u8> {
    let mut s = vec![0u8; 32];
    rand::thread_rng().fill_bytes(&mut s);
    s
}

/// Stops a server off the async thread (stopping joins the server's thread).
async fn stop(srv: KmsServer) {
    tokio::task::spawn_blocking(move || srv.stop()).await.unwrap();
}

#[tokio::test]
async fn kms_v2_round_trips_rotation_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let (path_a, path_b) = (dir.path().join("a.sock"), dir.path().join("b.sock"));
    let (key_a, key_b) = (TestKey::new(), TestKey::new());
    let srv_a = KmsServer::start(&path_a, 0o600, key_a.clone()).expect("server a starts");
    let srv_b = KmsServer::start(&path_b, 0o600, key_b.clone()).expect("server b starts");
    let meta = std::fs::symlink_metadata(&path_a).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600, "socket mode");
    let (mut a, mut b) = (connect(&path_a).await, connect(&path_b).await);

    let (version, healthz, id1) = status(&mut a).await;
    assert_eq!((version.as_str(), healthz.as_str()), ("v2", "ok"));
    assert_eq!(id1, key_a.current_id());

    // Round trips under the current version; every encryption is fresh.
    let pt = seed();
    let (ct1, kid) = encrypt(&mut a, &pt).await.unwrap();
    assert_eq!(kid, id1, "Encrypt names the version Status reports");
    assert!(!ct1.is_empty() && ct1.len() <= 1024 && !ct1.windows(pt.len()).any(|w| w == pt));
    assert_eq!(decrypt(&mut a, &ct1, &id1).await.unwrap(), pt);
    let (ct1b, _) = encrypt(&mut a, &pt).await.unwrap();
    assert_ne!(ct1, ct1b);

    // Rotation: a new key id in Status and Encrypt; the old version still decrypts.
    let id2 = key_a.rotate();
    assert_ne!(id2, id1);
    assert_eq!(status(&mut a).await.2, id2);
    let (ct2, kid2) = encrypt(&mut a, &pt).await.unwrap();
    assert_eq!(kid2, id2);
    assert_eq!(decrypt(&mut a, &ct1, &id1).await.unwrap(), pt, "an old version still decrypts");
    assert_eq!(decrypt(&mut a, &ct2, &id2).await.unwrap(), pt);
    assert_eq!(code(decrypt(&mut a, &ct1, &id2).await), Code::InvalidArgument, "another version's key id");

    // Unknown, empty and oversized key ids; empty, oversized and tampered inputs.
    assert_eq!(code(decrypt(&mut a, &ct1, "not-a-version").await), Code::InvalidArgument);
    assert_eq!(code(decrypt(&mut a, &ct1, "").await), Code::InvalidArgument);
    assert_eq!(code(decrypt(&mut a, &ct1, &"k".repeat(1025)).await), Code::InvalidArgument);
    assert_eq!(code(decrypt(&mut a, &[], &id1).await), Code::InvalidArgument);
    assert_eq!(code(decrypt(&mut a, &vec![1u8; 1025], &id1).await), Code::InvalidArgument);
    let mut tampered = ct1.clone();
    tampered[20] ^= 1;
    assert_eq!(code(decrypt(&mut a, &tampered, &id1).await), Code::InvalidArgument);
    assert_eq!(code(encrypt(&mut a, &[]).await), Code::InvalidArgument);
    assert_eq!(code(encrypt(&mut a, &vec![7u8; 1025]).await), Code::InvalidArgument);
    // 1,000 bytes are accepted but would come back larger than kube-apiserver's 1 KiB.
    let e = encrypt(&mut a, &vec![7u8; 1000]).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("1024"), "{}", e.message());

    // Another key's ciphertext: refused under its own key id and under ours.
    let (ct_b, kid_b) = encrypt(&mut b, &pt).await.unwrap();
    assert_ne!(kid_b, id2);
    assert_eq!(decrypt(&mut b, &ct_b, &kid_b).await.unwrap(), pt);
    assert_eq!(code(decrypt(&mut a, &ct_b, &kid_b).await), Code::InvalidArgument);
    assert_eq!(code(decrypt(&mut a, &ct_b, &id2).await), Code::InvalidArgument);
    assert_eq!(code(decrypt(&mut b, &ct2, &id2).await), Code::InvalidArgument);

    drop((a, b));
    stop(srv_a).await;
    stop(srv_b).await;
    assert!(!path_a.exists() && !path_b.exists(), "the socket files are removed at shutdown");
}

#[tokio::test]
async fn kms_v2_backend_failures_map_to_grpc_codes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kms.sock");
    let key = TestKey::new();
    let srv = KmsServer::start(&path, 0o600, key.clone()).unwrap();
    let mut c = connect(&path).await;
    let pt = seed();
    let (ct, id) = encrypt(&mut c, &pt).await.unwrap();

    *key.mode.lock() = Mode::Down;
    let (version, healthz, kid) = status(&mut c).await;
    assert_eq!(version, "v2");
    assert!(healthz != "ok" && healthz.contains("test key is down"), "{healthz}");
    assert!(kid.is_empty());
    assert_eq!(code(encrypt(&mut c, &pt).await), Code::Unavailable);
    assert_eq!(code(decrypt(&mut c, &ct, &id).await), Code::Unavailable);

    *key.mode.lock() = Mode::Broken;
    let e = decrypt(&mut c, &ct, &id).await.unwrap_err();
    assert_eq!(e.code(), Code::Internal);
    assert!(!e.message().contains("SECRET-DETAIL"), "the detail stays in the log: {}", e.message());
    let (_, healthz, _) = status(&mut c).await;
    assert!(healthz != "ok" && !healthz.contains("SECRET-DETAIL"), "{healthz}");

    *key.mode.lock() = Mode::Up;
    assert_eq!(decrypt(&mut c, &ct, &id).await.unwrap(), pt, "serving again once the backend is back");
    drop(c);
    stop(srv).await;
}

#[tokio::test]
async fn kms_v2_socket_file_handling() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kms.sock");

    // A stale socket (its process gone) is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let key = TestKey::new();
    let srv = KmsServer::start(&path, 0o660, key.clone()).expect("a stale socket is replaced");
    assert_eq!(std::fs::symlink_metadata(&path).unwrap().permissions().mode() & 0o7777, 0o660);
    let mut c = connect(&path).await;
    assert_eq!(status(&mut c).await.1, "ok");

    // A socket somebody listens on is not taken over.
    let e = KmsServer::start(&path, 0o600, key.clone()).err().expect("a live socket is refused");
    assert!(e.contains("another process is listening"), "{e}");
    assert_eq!(status(&mut c).await.1, "ok", "the running server is untouched");
    drop(c);
    stop(srv).await;
    assert!(!path.exists());

    // Anything else at the path is left alone.
    std::fs::write(&path, b"not a socket").unwrap();
    let e = KmsServer::start(&path, 0o600, key.clone()).err().expect("a regular file is refused");
    assert!(e.contains("not a socket"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), b"not a socket");

    // A socket replaced by another process's after start is not removed at shutdown.
    let path2 = dir.path().join("k2.sock");
    let srv = KmsServer::start(&path2, 0o600, key).unwrap();
    std::fs::remove_file(&path2).unwrap();
    let other = std::os::unix::net::UnixListener::bind(&path2).unwrap();
    stop(srv).await;
    assert!(path2.exists(), "another process's socket stays");
    drop(other);
}

/// The OpenStack venv's python when it has grpcio and grpcio-tools.
fn grpc_python() -> Option<PathBuf> {
    let venv = std::env::var("PORTCULLIS_TEST_OS_VENV")
        .ok()
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-openstack"));
    let py = venv.join("bin/python");
    let ok = py.exists()
        && Command::new(&py).args(["-c", "import grpc, grpc_tools"]).output().is_ok_and(|o| o.status.success());
    if ok {
        return Some(py);
    }
    if std::env::var("PORTCULLIS_REQUIRE_OS_VENV").as_deref() == Ok("1") {
        panic!("no grpcio in the OpenStack venv at {} but PORTCULLIS_REQUIRE_OS_VENV=1", venv.display());
    }
    eprintln!("skipped: no grpcio in {} (scripts/pyvenv.sh scripts/requirements-openstack.txt)", venv.display());
    None
}

/// Runs tests/clients/kms_v2.py off the async thread; returns its stdout, panics on failure.
async fn py(python: &Path, args: Vec<String>) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/kms_v2.py");
    let python = python.to_path_buf();
    let out = tokio::task::spawn_blocking(move || Command::new(python).arg(script).args(&args).output().expect("python runs"))
        .await
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "kms_v2.py failed:\n{stdout}{stderr}");
    stdout.into_owned()
}

#[tokio::test]
async fn kms_v2_grpcio_client() {
    let Some(python) = grpc_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (path_a, path_b) = (dir.path().join("a.sock"), dir.path().join("b.sock"));
    let (key_a, key_b) = (TestKey::new(), TestKey::new());
    let srv_a = KmsServer::start(&path_a, 0o600, key_a.clone()).unwrap();
    let srv_b = KmsServer::start(&path_b, 0o600, key_b).unwrap();
    let (sa, sb) = (path_a.display().to_string(), path_b.display().to_string());

    let out = py(&python, vec!["check".into(), sa.clone(), "--other".into(), sb.clone()]).await;
    assert_eq!(out.lines().filter(|l| l.starts_with("ok: ")).count(), 7, "every check ran:\n{out}");

    let out = py(&python, vec!["status".into(), sa.clone()]).await;
    let s: serde_json::Value = serde_json::from_str(out.trim()).expect("status JSON");
    assert_eq!(s["key_id"], key_a.current_id().as_str());

    // Encrypt, then the server restarts on the same socket (and the key rotates): the saved
    // ciphertext decrypts under its key id from a fresh client process.
    let saved = dir.path().join("saved.json");
    let f = saved.display().to_string();
    py(&python, vec!["encrypt".into(), sa.clone(), f.clone()]).await;
    assert_eq!(std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777, 0o600);
    stop(srv_a).await;
    key_a.rotate();
    let srv_a = KmsServer::start(&path_a, 0o600, key_a.clone()).unwrap();
    py(&python, vec!["decrypt".into(), sa.clone(), f.clone(), "--expect-stale".into()]).await;

    // The same file against the other key's plugin is refused: the client fails.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/kms_v2.py");
    let out = tokio::task::spawn_blocking(move || Command::new(python).arg(script).args(["decrypt", &sb, &f]).output().unwrap())
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("INVALID_ARGUMENT"), "{}", String::from_utf8_lossy(&out.stderr));
    stop(srv_a).await;
    stop(srv_b).await;
}

/// `serve` and `check` refuse a `[kms_v2]` socket without its key, and a mode open to others,
/// before anything listens (no socket file is made).
#[test]
fn kms_v2_config_is_checked_before_serving() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("kms.sock");
    let run = |args: &[&str], key: &str, mode: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .env_clear()
            .current_dir(dir.path())
            .env("PORTCULLIS_KMS_V2__SOCKET", &sock)
            .env("PORTCULLIS_KMS_V2__KEY", key)
            .env("PORTCULLIS_KMS_V2__SOCKET_MODE", mode)
            .args(args)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout))
    };
    let (code, text) = run(&["serve", "--dev", "--listen", "127.0.0.1:0"], "", "0600");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("[kms_v2] socket is set but key is empty"), "{text}");
    let conf = dir.path().join("c.toml");
    std::fs::write(&conf, "").unwrap();
    let (code, text) = run(&["check", "--config", conf.to_str().unwrap()], "k1", "0666");
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("gives other users access"), "{text}");
    assert!(!sock.exists());
}
