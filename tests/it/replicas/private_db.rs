//! A private PostgreSQL or MariaDB server under a temp dir on a free port, that a test may stop
//! and start (the system services are never touched).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

pub enum Kind {
    Postgres,
    Mariadb,
}

pub struct PrivateDb {
    kind: Kind,
    dir: tempfile::TempDir,
    pub port: u16,
    /// The running mariadbd (PostgreSQL runs under pg_ctl).
    mariadbd: Option<Child>,
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs a PostgreSQL tool, as the `postgres` user when we are root (initdb refuses root).
fn pg(dir: &Path, tool: &str, args: &[&str]) -> std::process::Output {
    let exe = format!("{PG_BIN}/{tool}");
    let mut c = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", &exe]);
        c
    } else {
        Command::new(&exe)
    };
    c.args(args).current_dir(dir).stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{tool}: {e}"))
}

fn ok(what: &str, out: std::process::Output) {
    assert!(out.status.success(), "{what}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

impl PrivateDb {
    /// Initialises and starts a server; None when its binaries are missing.
    pub fn start(kind: Kind) -> Option<PrivateDb> {
        let present = match kind {
            Kind::Postgres => Path::new(PG_BIN).join("initdb").exists(),
            Kind::Mariadb => Path::new("/usr/sbin/mariadbd").exists(),
        };
        if !present {
            eprintln!("private database binaries missing: skipped");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut db = PrivateDb { kind, port: super::free_port(), dir, mariadbd: None };
        match db.kind {
            Kind::Postgres => {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(db.dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
                let data = db.data();
                ok("initdb", pg(db.dir.path(), "initdb", &["-D", &data, "-A", "trust", "-U", "portcullis_test", "--no-sync"]));
            }
            Kind::Mariadb => {
                let out = Command::new("mariadb-install-db")
                    .args(["--no-defaults", &format!("--datadir={}", db.data()), "--user=root", "--skip-test-db"])
                    .arg("--auth-root-authentication-method=normal")
                    .output()
                    .unwrap();
                ok("mariadb-install-db", out);
            }
        }
        db.up();
        Some(db)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn sock(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// A URL of a database on this server that the test user may create.
    pub fn admin_url(&self) -> String {
        match self.kind {
            Kind::Postgres => format!("postgresql://portcullis_test@127.0.0.1:{}/postgres?sslmode=disable", self.port),
            Kind::Mariadb => format!("mysql://root@127.0.0.1:{}/mysql", self.port),
        }
    }

    /// Starts the server and waits until it accepts connections.
    pub fn up(&mut self) {
        match self.kind {
            Kind::Postgres => {
                let opts = format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.sock().display());
                let log = self.dir.path().join("pg.log").display().to_string();
                ok("pg_ctl start", pg(self.dir.path(), "pg_ctl", &["-D", &self.data(), "-o", &opts, "-l", &log, "-w", "start"]));
            }
            Kind::Mariadb => {
                let child = Command::new("/usr/sbin/mariadbd")
                    .arg("--no-defaults")
                    .arg(format!("--datadir={}", self.data()))
                    .arg(format!("--socket={}", self.dir.path().join("my.sock").display()))
                    .arg(format!("--port={}", self.port))
                    .args(["--bind-address=127.0.0.1", "--user=root", "--skip-grant-tables", "--skip-log-bin"])
                    .arg("--innodb-flush-log-at-trx-commit=2")
                    .arg(format!("--pid-file={}", self.dir.path().join("my.pid").display()))
                    .stdout(Stdio::null())
                    .stderr(std::fs::File::create(self.dir.path().join("my.log")).unwrap())
                    .spawn()
                    .expect("start mariadbd");
                self.mariadbd = Some(child);
                let start = Instant::now();
                while portcullis::store::DbUrl::parse(&self.admin_url()).unwrap().establish().is_err() {
                    assert!(start.elapsed() < Duration::from_secs(60), "mariadbd did not start");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }

    /// Stops the server (its connections are closed under the replicas).
    pub fn down(&mut self) {
        match self.kind {
            Kind::Postgres => ok("pg_ctl stop", pg(self.dir.path(), "pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"])),
            Kind::Mariadb => {
                if let Some(mut c) = self.mariadbd.take() {
                    // SAFETY: signalling our own child.
                    unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
                    let _ = c.wait();
                }
            }
        }
    }
}

impl Drop for PrivateDb {
    fn drop(&mut self) {
        match self.kind {
            Kind::Postgres => {
                let _ = pg(self.dir.path(), "pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
            }
            Kind::Mariadb => {
                if let Some(mut c) = self.mariadbd.take() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
        }
    }
}
