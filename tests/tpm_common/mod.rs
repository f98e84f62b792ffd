//! TPM test harness: a swtpm per test (started and stopped gracefully through
//! scripts/swtpm.sh, by pid), configs for the `tpm` provider, the CLI as a subprocess, an
//! in-process server, and fast fixtures written through the library.
//!
//! TPM tests always use their own SQLite database: master-KEK rotation rewraps every project
//! KEK of a database, so it cannot share one with tests that use other master KEKs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use diesel::Connection;
use portcullis::config::{AuthStrategy, Config, KekProviderKind};
use portcullis::kek::tpm::TpmProvider;
use portcullis::kek::KeyManager;
use portcullis::model::Secret;
use portcullis::store::{keks, projects, secrets, DbUrl, Store};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Two consecutive free ports: the swtpm TCTI talks to the control channel on port + 1. They
/// lie below the kernel's ephemeral range, so while a swtpm restarts (crash_and_restart) no
/// outgoing connection of a parallel test can take its port as a local port.
fn free_port_pair() -> (u16, u16) {
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (lo, hi) = (10_000u16, ephemeral_start.saturating_sub(2).max(10_100));
    loop {
        let p = rand::Rng::gen_range(&mut rand::thread_rng(), lo..hi);
        let a = std::net::TcpListener::bind(("127.0.0.1", p));
        if a.is_ok() && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return (p, p + 1);
        }
    }
}

/// A swtpm instance on loopback; stopped gracefully when dropped.
pub struct Swtpm {
    pub state: tempfile::TempDir,
    pub port: u16,
    pub ctrl: u16,
    pub tcti: String,
    running: bool,
}

impl Swtpm {
    pub fn start() -> Swtpm {
        Swtpm::start_in(tempfile::tempdir().expect("tempdir"))
    }

    /// A TPM manufactured with an RSA EK certificate issued by the local CA kept in `ca`
    /// (made on first use; see `ca_bundle`).
    pub fn start_with_ek_cert(ca: &Path) -> Swtpm {
        let state = tempfile::tempdir().expect("tempdir");
        let out = Command::new("bash")
            .arg(repo().join("scripts/swtpm.sh"))
            .args(["setup", &state.path().display().to_string(), &ca.display().to_string()])
            .output()
            .expect("run scripts/swtpm.sh setup");
        assert!(out.status.success(), "swtpm setup: {}", String::from_utf8_lossy(&out.stderr));
        Swtpm::start_in(state)
    }

    fn start_in(state: tempfile::TempDir) -> Swtpm {
        let mut t = Swtpm { state, port: 0, ctrl: 0, tcti: String::new(), running: false };
        for _ in 0..5 {
            (t.port, t.ctrl) = free_port_pair();
            match t.run_start() {
                Ok(()) => return t,
                Err(e) => eprintln!("swtpm start on {}/{} failed, retrying: {e}", t.port, t.ctrl),
            }
        }
        panic!("cannot start swtpm (is it installed? apt-get install swtpm swtpm-tools)");
    }

    fn script(&self, cmd: &str) -> Output {
        Command::new("bash")
            .arg(repo().join("scripts/swtpm.sh"))
            .args([cmd, &self.state.path().display().to_string(), &self.port.to_string(), &self.ctrl.to_string()])
            .output()
            .expect("run scripts/swtpm.sh")
    }

    fn run_start(&mut self) -> Result<(), String> {
        let out = self.script("start");
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        self.tcti = String::from_utf8_lossy(&out.stdout).trim().to_string();
        self.running = true;
        Ok(())
    }

    pub fn stop(&mut self) {
        if self.running {
            let out = self.script("stop");
            assert!(out.status.success(), "swtpm stop: {}", String::from_utf8_lossy(&out.stderr));
            self.running = false;
        }
    }

    /// Graceful stop and start on the same state and ports (a host reboot: PCRs reset).
    pub fn restart(&mut self) {
        self.stop();
        self.run_start().expect("swtpm restarts");
    }

    /// SIGKILL by pid and start again: a non-orderly shutdown, as a power loss.
    pub fn crash_and_restart(&mut self) {
        let pidfile = self.state.path().join("swtpm.pid");
        let pid = std::fs::read_to_string(&pidfile).expect("pid file").trim().to_string();
        let st = Command::new("kill").args(["-KILL", &pid]).status().expect("kill");
        assert!(st.success());
        for _ in 0..100 {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::fs::remove_file(&pidfile).ok();
        self.running = false;
        self.run_start().expect("swtpm restarts");
    }

    /// Extends sha256 PCR 7 (as a changed Secure Boot policy would).
    pub fn extend_pcr7(&self) {
        use std::str::FromStr;
        use tss_esapi::handles::PcrHandle;
        use tss_esapi::interface_types::algorithm::HashingAlgorithm;
        use tss_esapi::interface_types::session_handles::AuthSession;
        use tss_esapi::structures::{Digest, DigestValues};
        let mut ctx = tss_esapi::Context::new(tss_esapi::TctiNameConf::from_str(&self.tcti).unwrap()).unwrap();
        let mut vals = DigestValues::new();
        vals.set(HashingAlgorithm::Sha256, Digest::try_from(vec![0xA5u8; 32]).unwrap());
        ctx.execute_with_session(Some(AuthSession::Password), |c| c.pcr_extend(PcrHandle::Pcr7, vals)).expect("PCR extend");
    }
}

/// The PEM bundle (root and intermediate) of a local CA that `Swtpm::start_with_ek_cert` used:
/// what `[kek] ek_ca_file` names.
pub fn ca_bundle(ca: &Path) -> PathBuf {
    let mut pem = std::fs::read_to_string(ca.join("swtpm-localca-rootca-cert.pem")).expect("root CA");
    pem.push_str(&std::fs::read_to_string(ca.join("issuercert.pem")).expect("intermediate CA"));
    let path = ca.join("bundle.pem");
    std::fs::write(&path, pem).unwrap();
    path
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        if self.running {
            let _ = self.script("stop");
        }
    }
}

/// One Portcullis deployment directory: config file, sealed dir, SQLite database.
pub struct Site {
    pub dir: PathBuf,
    pub cfg: Config,
    pub cfg_path: PathBuf,
}

impl Site {
    /// `db`: a SQLite file shared with another site, or None for `dir/portcullis.db`.
    pub fn new(dir: &Path, tcti: &str, pcrs: &[u32], db: Option<&Path>) -> Site {
        std::fs::create_dir_all(dir).unwrap();
        let db = db.map(Path::to_path_buf).unwrap_or_else(|| dir.join("portcullis.db"));
        let sealed = dir.join("kek");
        let pcrs_toml = pcrs.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ");
        let text = format!(
            "[DEFAULT]\nsql_connection = \"sqlite://{}\"\nhost_href = \"\"\n\n[auth]\nstrategy = \"noauth\"\n\n\
             [kek]\nprovider = \"tpm\"\ntcti = \"{tcti}\"\nsealed_dir = \"{}\"\npcrs = [{pcrs_toml}]\nfile_path = \"{}\"\n",
            db.display(),
            sealed.display(),
            dir.join("dev-master.kek").display()
        );
        let cfg_path = dir.join("portcullis.toml");
        std::fs::write(&cfg_path, &text).unwrap();
        let cfg = Config::load(Some(&cfg_path), std::iter::empty()).expect("config loads");
        assert_eq!(cfg.kek.provider, KekProviderKind::Tpm);
        assert_eq!(cfg.auth.strategy, AuthStrategy::Noauth);
        Site { dir: dir.to_path_buf(), cfg, cfg_path }
    }

    /// Sets `[kek] ek_ca_file` (the [kek] section is the config file's last).
    pub fn set_ek_ca_file(&mut self, path: &Path) {
        let mut text = std::fs::read_to_string(&self.cfg_path).unwrap();
        text.push_str(&format!("ek_ca_file = \"{}\"\n", path.display()));
        std::fs::write(&self.cfg_path, text).unwrap();
        self.cfg = Config::load(Some(&self.cfg_path), std::iter::empty()).expect("config loads");
    }

    pub fn sealed_dir(&self) -> PathBuf {
        self.cfg.kek.sealed_dir.clone()
    }

    pub fn provider(&self) -> TpmProvider {
        TpmProvider::new(self.cfg.kek.tcti.clone(), self.cfg.kek.sealed_dir.clone(), self.cfg.kek.pcrs.clone())
    }

    /// Runs `portcullis ARGS --config CFG`.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_cmd(args).output().expect("run portcullis")
    }

    pub fn cli_cmd(&self, args: &[&str]) -> Command {
        // PORTCULLIS_TEST_BIN: the binary to run instead of the one cargo uplifted (a target
        // directory shared between worktrees may uplift another worktree's build over it).
        let bin = std::env::var_os("PORTCULLIS_TEST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_portcullis").into());
        let mut c = Command::new(bin);
        c.args(args).arg("--config").arg(&self.cfg_path).env("PORTCULLIS_LOG", "warn");
        c
    }

    /// Runs the CLI and asserts success; returns stdout.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "portcullis {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn store(&self) -> Store {
        let url = DbUrl::parse(&self.cfg.default.sql_connection).unwrap();
        let s = Store::open(&url, 4).unwrap();
        s.upgrade().unwrap();
        s
    }

    /// Starts the real server in-process on an ephemeral port.
    pub async fn serve(&self, tweak: impl FnOnce(&mut Config)) -> Result<Server, String> {
        let mut cfg = self.cfg.clone();
        tweak(&mut cfg);
        let state = portcullis::server::prepare(cfg, false)?;
        let (srv, addr) = portcullis::server::bind(state, "127.0.0.1:0".parse().unwrap(), Some(2)).map_err(|e| e.to_string())?;
        let handle = srv.handle();
        actix_web::rt::spawn(srv);
        Ok(Server { base: format!("http://{addr}"), http: reqwest::Client::new(), handle })
    }

    /// Writes `per_project` secrets in each of `projects` projects straight through the library
    /// (one transaction per project): (project, secret id, payload) triples.
    pub fn fixtures(&self, projects: usize, per_project: usize) -> Vec<(String, String, String)> {
        let store = self.store();
        let keys = KeyManager::new(Box::new(self.provider()) as Box<dyn portcullis::kek::MasterKekProvider>, 16).expect("unseals");
        let mut conn = store.conn().unwrap();
        let mut out = Vec::with_capacity(projects * per_project);
        let now = portcullis::store::from_micros(portcullis::store::now_micros());
        for p in 0..projects {
            let project = format!("proj-{p:03}-{}", &uuid::Uuid::new_v4().to_string()[..8]);
            projects::ensure(&mut conn, &project).unwrap();
            let (kek_id, cipher) = keys.active_kek(&mut conn, &project).unwrap();
            conn.transaction::<_, diesel::result::Error, _>(|c| {
                for i in 0..per_project {
                    let id = uuid::Uuid::new_v4().to_string();
                    let payload = format!("payload {p}/{i} {}", uuid::Uuid::new_v4());
                    let aad = portcullis::crypto::secret_aad(&id, &project, &kek_id, "text/plain");
                    let ct = cipher.seal(payload.as_bytes(), &aad).unwrap();
                    let s = Secret {
                        id: id.clone(),
                        project_id: project.clone(),
                        creator_id: None,
                        name: Some(format!("s{i}")),
                        secret_type: "opaque".into(),
                        expiration: None,
                        algorithm: None,
                        bit_length: None,
                        mode: None,
                        status: "ACTIVE".into(),
                        content_type: Some("text/plain".into()),
                        created_at: now,
                        updated_at: now,
                    };
                    secrets::insert(c, &secrets::NewSecret { secret: &s, kek_id: Some(&kek_id), cypher_text: Some(&ct), deleted_at: None })
                        .map_err(|e| diesel::result::Error::QueryBuilderError(e.to_string().into()))?;
                    out.push((project.clone(), id, payload));
                }
                Ok(())
            })
            .unwrap();
        }
        out
    }

    /// Decrypts every fixture with a fresh key manager (only what the provider unseals now):
    /// returns the ids that did not decrypt to their payload.
    pub fn undecryptable(&self, fixtures: &[(String, String, String)]) -> Vec<String> {
        let store = self.store();
        let keys = KeyManager::new(Box::new(self.provider()) as Box<dyn portcullis::kek::MasterKekProvider>, 100_000).expect("unseals");
        let mut conn = store.conn().unwrap();
        let mut by_id = std::collections::HashMap::new();
        let mut projects: Vec<&str> = fixtures.iter().map(|f| f.0.as_str()).collect();
        projects.dedup();
        for p in projects {
            let mut after = String::new();
            loop {
                let rows = keks::payloads(&mut conn, p, &after, 1000).unwrap();
                let Some(last) = rows.last() else { break };
                after = last.id.clone();
                for r in rows {
                    by_id.insert(r.id.clone(), r);
                }
            }
        }
        let mut bad = Vec::new();
        for (project, id, payload) in fixtures {
            let ok = by_id.get(id).is_some_and(|r| {
                keys.kek(&mut conn, project, &r.kek_id).ok().and_then(|c| {
                    c.open(&r.cypher_text, &portcullis::crypto::secret_aad(id, project, &r.kek_id, "text/plain")).ok()
                }).is_some_and(|plain| plain.as_slice() == payload.as_bytes())
            });
            if !ok {
                bad.push(id.clone());
            }
        }
        bad
    }

    pub fn kek_rows(&self) -> Vec<(i32, i64)> {
        keks::count_by_master_version(&mut self.store().conn().unwrap()).unwrap()
    }
}

pub struct Server {
    pub base: String,
    pub http: reqwest::Client,
    handle: actix_web::dev::ServerHandle,
}

impl Server {
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }

    pub async fn create(&self, project: &str, payload: &str) -> String {
        let r = self
            .http
            .post(format!("{}/v1/secrets", self.base))
            .header("X-Project-Id", project)
            .json(&serde_json::json!({"payload": payload, "payload_content_type": "text/plain"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "create: {:?}", r.text().await);
        let v: serde_json::Value = r.json().await.unwrap();
        v["secret_ref"].as_str().unwrap().rsplit('/').next().unwrap().to_string()
    }

    /// The payload, or a description of the failure.
    pub async fn payload(&self, project: &str, id: &str) -> Result<String, String> {
        let r = self
            .http
            .get(format!("{}/v1/secrets/{id}/payload", self.base))
            .header("X-Project-Id", project)
            .header("Accept", "text/plain")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let body = r.text().await.map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!("{status}: {body}"));
        }
        Ok(body)
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
