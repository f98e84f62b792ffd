//! In-process test server: the real actix-web server on an ephemeral loopback port, over the
//! database named by `PORTCULLIS_TEST_DATABASE_URL` (default: a fresh SQLite file).
#![allow(dead_code)]

use std::sync::Mutex;

use portcullis::config::{AuthStrategy, Config, KekProviderKind};
use portcullis::server;

pub mod kms_client;
pub mod who;

static PREPARE: Mutex<()> = Mutex::new(());

pub struct TestServer {
    pub base: String,
    pub http: reqwest::Client,
    pub db_url: String,
    pub dir: tempfile::TempDir,
    pub kek_file: std::path::PathBuf,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // The stop command is sent at once; the server's own thread carries it out, so its
        // workers end and its state (the database pool) is dropped with them. (Spawned on the
        // test's runtime, the server would die with it and leave its workers and pool behind:
        // in one test binary those pools add up to more connections than PostgreSQL allows.)
        drop(self.handle.stop(false));
    }
}

pub fn backend_url(dir: &std::path::Path) -> String {
    std::env::var("PORTCULLIS_TEST_DATABASE_URL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("sqlite://{}", dir.join("test.db").display()))
}

/// A config for tests: noauth, the file KEK in a temp dir, hrefs derived from the request.
pub fn test_config(dir: &std::path::Path) -> Config {
    let mut cfg = Config::load(None, std::iter::empty()).expect("default config");
    cfg.auth.strategy = AuthStrategy::Noauth;
    cfg.kek.provider = KekProviderKind::File;
    cfg.kek.file_path = dir.join("master.kek");
    if !backend_url(dir).starts_with("sqlite") {
        // Servers sharing a PostgreSQL/MySQL database are replicas: they share the master KEK
        // (any of them may finish another's pending order). A fixed test-only key.
        std::fs::write(&cfg.kek.file_path, "1:cG9ydGN1bGxpcy10ZXN0LW9ubHktbWFzdGVyLWtleSE=\n").expect("kek file");
    }
    cfg.default.sql_connection = backend_url(dir);
    cfg.default.host_href = String::new();
    cfg.default.sql_pool_size = 4;
    // The HTTP suites were written against the legacy rules (creator/observer/audit roles);
    // the secure-RBAC default is exercised by the tests that switch it back on.
    cfg.oslo_policy.enforce_new_defaults = false;
    cfg.oslo_policy.enforce_scope = false;
    cfg
}

pub async fn start() -> TestServer {
    start_with(|_| {}).await
}

pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(dir.path());
    tweak(&mut cfg);
    start_in(dir, cfg).await
}

pub async fn start_in(dir: tempfile::TempDir, cfg: Config) -> TestServer {
    let db_url = cfg.default.sql_connection.clone();
    let kek_file = cfg.kek.file_path.clone();
    let state = {
        // One migration at a time when tests share a PostgreSQL/MySQL database.
        let _g = if db_url.starts_with("sqlite") { None } else { Some(PREPARE.lock().unwrap_or_else(|e| e.into_inner())) };
        server::prepare(cfg, true).expect("server prepares")
    };
    // The server runs on a thread of its own with its own actix System, as in a process.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let (srv, addr) =
                server::bind(state, "127.0.0.1:0".parse().unwrap(), Some(1)).expect("server binds");
            tx.send((srv.handle(), addr)).expect("test waits for the address");
            let _ = srv.await;
        })
    });
    let (handle, addr) = rx.recv().expect("server thread started");
    TestServer {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        db_url,
        dir,
        kek_file,
        handle,
    }
}

pub fn project() -> String {
    format!("proj-{}", uuid::Uuid::new_v4())
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request as a project (noauth headers), with optional roles and user.
    pub fn req(&self, method: reqwest::Method, path: &str, project: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path)).header("X-Project-Id", project)
    }

    pub async fn create_secret(&self, project: &str, body: serde_json::Value) -> String {
        let r = self
            .req(reqwest::Method::POST, "/v1/secrets", project)
            .json(&body)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 201, "create secret: {:?}", r.text().await);
        let v: serde_json::Value = r.json().await.expect("json");
        let href = v["secret_ref"].as_str().expect("secret_ref").to_string();
        href.rsplit('/').next().unwrap().to_string()
    }
}

/// Asserts a Barbican error body: `{code, title, description}` and nothing else.
pub async fn assert_error(r: reqwest::Response, code: u16, title: &str, description: Option<&str>) {
    assert_eq!(r.status().as_u16(), code, "status");
    assert_eq!(
        r.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let v: serde_json::Value = r.json().await.expect("error body is JSON");
    let obj = v.as_object().expect("object");
    assert_eq!(obj.len(), 3, "only code, title, description: {v}");
    assert_eq!(v["code"], code);
    assert_eq!(v["title"], title);
    match description {
        Some(d) => assert_eq!(v["description"], d, "description"),
        None => assert!(v["description"].is_null(), "description null: {v}"),
    }
}
