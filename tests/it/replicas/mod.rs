//! Replicas: several real `portcullis serve` processes (the binary, so they can be SIGKILLed) on
//! one PostgreSQL or MariaDB database of their own. These tests run when
//! `PORTCULLIS_TEST_DATABASE_URL` names PostgreSQL or MySQL/MariaDB (scripts/test.sh's second and
//! third runs of this binary); on SQLite they return at once.

mod db_restart;
mod private_db;
mod healthcheck;
mod kill9;
mod leases;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;

/// The fixed test-only master KEK every replica shares (as `common::test_config` writes it).
/// The href base every replica answers with (the load balancer's, in a deployment).
pub const HREF: &str = "http://kms.replicas.test";

const TEST_KEK: &str = "1:cG9ydGN1bGxpcy10ZXN0LW9ubHktbWFzdGVyLWtleSE=\n";

/// The multi-process tests run one at a time (each starts two or three servers; together they
/// would starve a small test machine's CPUs for seconds, past a short lease).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn bin() -> PathBuf {
    // PORTCULLIS_TEST_BIN: the binary to run instead of the one cargo uplifted (a target
    // directory shared between worktrees may uplift another worktree's build over it).
    std::env::var_os("PORTCULLIS_TEST_BIN").map(PathBuf::from).unwrap_or_else(|| env!("CARGO_BIN_EXE_portcullis").into())
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A database of its own on the server `base` names, dropped at the end.
pub struct Db {
    pub url: String,
    admin: String,
    name: String,
}

impl Db {
    /// A fresh database next to the one `PORTCULLIS_TEST_DATABASE_URL` names; None on SQLite.
    pub fn fresh() -> Option<Db> {
        let base = std::env::var("PORTCULLIS_TEST_DATABASE_URL").ok().filter(|u| !u.starts_with("sqlite") && !u.is_empty())?;
        Some(Db::on(&base))
    }

    /// A fresh database on the server of `base` (a URL whose database exists).
    pub fn on(base: &str) -> Db {
        let name = format!("portcullis_trep{}_{}", std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let mut url = url::Url::parse(base).unwrap();
        url.set_path(&format!("/{name}"));
        let db = Db { url: url.to_string(), admin: base.to_string(), name };
        db.admin_sql(&format!("CREATE DATABASE {}", db.name));
        db
    }

    fn admin_sql(&self, sql: &str) {
        let mut c = portcullis::store::DbUrl::parse(&self.admin).unwrap().establish().expect("admin connection");
        c.batch_execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres")
    }

    pub fn conn(&self) -> portcullis::store::DbConn {
        portcullis::store::DbUrl::parse(&self.url).unwrap().establish().expect("test connection")
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let mut c = match portcullis::store::DbUrl::parse(&self.admin).unwrap().establish() {
            Ok(c) => c,
            Err(_) => return,
        };
        if self.is_postgres() {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        } else {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {}", self.name));
        }
    }
}

/// A deployment's shared settings: the database and the master KEK file, in `dir`.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub db_url: String,
}

impl Cluster {
    /// Writes the KEK file and migrates the database once (replicas then start in parallel).
    pub fn new(db_url: &str) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("master.kek"), TEST_KEK).unwrap();
        let c = Cluster { dir, db_url: db_url.to_string() };
        let cfg = c.config("migrate", 0, "");
        let out = Command::new(bin()).args(["db", "upgrade", "--config"]).arg(&cfg).output().unwrap();
        assert!(out.status.success(), "db upgrade: {}", String::from_utf8_lossy(&out.stderr));
        c
    }

    /// A replica's config file; `extra` is appended TOML (e.g. an `[orders]` section).
    pub fn config(&self, name: &str, port: u16, extra: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.toml"));
        let text = format!(
            "[DEFAULT]\nbind_host = \"127.0.0.1\"\nbind_port = {port}\nhost_href = \"{HREF}\"\nsql_connection = \"{}\"\n\
             sql_pool_size = 4\nsql_pool_timeout = 2\n\n[auth]\nstrategy = \"noauth\"\n\n[kek]\nprovider = \"file\"\n\
             file_path = \"{}\"\n\n[oslo_policy]\nenforce_new_defaults = false\nenforce_scope = false\n\n{extra}\n",
            self.db_url,
            self.dir.path().join("master.kek").display()
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Starts `portcullis serve` and waits until it answers.
    pub fn start(&self, name: &str, extra: &str, env: &[(&str, &str)]) -> Replica {
        let port = free_port();
        let cfg = self.config(name, port, extra);
        let log = self.dir.path().join(format!("{name}.log"));
        let mut cmd = Command::new(bin());
        cmd.args(["serve", "--config"]).arg(&cfg).env("PORTCULLIS_LOG", "info").envs(env.iter().copied());
        cmd.stdout(Stdio::null()).stderr(std::fs::File::create(&log).unwrap());
        let child = cmd.spawn().expect("start portcullis serve");
        let r = Replica { child, base: format!("http://127.0.0.1:{port}"), log, name: name.to_string() };
        r.wait_ready();
        r
    }
}

/// A running `portcullis serve`; killed (SIGKILL) when dropped.
pub struct Replica {
    pub child: Child,
    pub base: String,
    pub log: PathBuf,
    pub name: String,
}

impl Replica {
    fn wait_ready(&self) {
        let start = Instant::now();
        let url = format!("{}/healthcheck", self.base);
        loop {
            if let Ok(r) = ureq_get(&url) {
                if r == 200 {
                    return;
                }
            }
            assert!(start.elapsed() < Duration::from_secs(30), "{} did not start: {}", self.name, self.log_text());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, and reaped.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A blocking GET's status over a plain socket (readiness polling without a runtime).
fn ureq_get(url: &str) -> std::io::Result<u16> {
    use std::io::{Read, Write};
    let u = url::Url::parse(url).unwrap();
    let mut s = std::net::TcpStream::connect((u.host_str().unwrap(), u.port().unwrap()))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", u.path())?;
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf)?;
    std::str::from_utf8(&buf[9..12]).ok().and_then(|c| c.parse().ok()).ok_or_else(|| std::io::Error::other("bad status"))
}

/// A request as noauth takes it: the project and the creator role.
pub fn req(http: &reqwest::Client, method: reqwest::Method, url: String, project: &str) -> reqwest::RequestBuilder {
    http.request(method, url).header("X-Project-Id", project).header("X-Roles", "admin,creator").header("X-User-Id", "replica-test")
}

/// Runs `sql` and returns one i64 (a count).
pub fn count(conn: &mut portcullis::store::DbConn, sql: &str) -> i64 {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(sql).get_result::<N>(conn).unwrap_or_else(|e| panic!("{sql}: {e}")).n
}
