//! `[ssl]` against real tools (issue 11 §2): a test CA made with the openssl CLI, the real
//! binary serving TLS, `openssl s_client` for the protocol versions and a keep-alive connection
//! across a SIGHUP certificate reload, curl for the trust chain. SQLite only (one run is enough).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A test PKI under `dir`: `ca.pem`/`ca.key` and certificates signed by it.
pub struct Pki {
    pub dir: PathBuf,
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("tool runs");
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

impl Pki {
    pub fn new(dir: &Path) -> Pki {
        run(Command::new("openssl").current_dir(dir).args([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Portcullis Test CA",
        ]));
        Pki { dir: dir.to_path_buf() }
    }

    /// Issues `NAME.pem`/`NAME.key` with subject CN=`cn`, the given SAN line and usage.
    pub fn issue(&self, name: &str, cn: &str, san: &str, client: bool) -> (PathBuf, PathBuf) {
        let ext = self.dir.join(format!("{name}.ext"));
        let usage = if client { "clientAuth" } else { "serverAuth" };
        std::fs::write(&ext, format!("subjectAltName={san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage={usage}\n")).unwrap();
        run(Command::new("openssl").current_dir(&self.dir).args([
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            &format!("{name}.key"), "-out", &format!("{name}.csr"), "-subj", &format!("/CN={cn}"),
        ]));
        run(Command::new("openssl").current_dir(&self.dir).args([
            "x509", "-req", "-in", &format!("{name}.csr"), "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", &format!("{name}.pem"), "-days", "2", "-extfile",
        ]).arg(&ext));
        (self.dir.join(format!("{name}.pem")), self.dir.join(format!("{name}.key")))
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
}

pub fn sqlite_only() -> bool {
    crate::common::backend_url(Path::new("/")).starts_with("sqlite")
}

/// `portcullis serve --dev` with `[ssl]` from `ssl_toml`, in `dir`, its log in `dir/log`.
pub struct Served {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

pub fn serve(dir: &Path, ssl_toml: &str) -> Served {
    let conf = dir.join("c.toml");
    std::fs::write(&conf, format!("[ssl]\n{ssl_toml}")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log = dir.join("log");
    let child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["serve", "--dev", "--config", conf.to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(dir)
        .env_remove("PORTCULLIS_LOG")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let s = Served { child, port, log };
    let start = Instant::now();
    while !s.log_text().contains("is serving") {
        assert!(start.elapsed() < Duration::from_secs(20), "server did not start: {}", s.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    s
}

impl Served {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// `openssl s_client` with extra arguments; stdout and stderr together.
pub fn s_client(addr: &str, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", addr, "-servername", "localhost"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("openssl s_client");
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

pub fn curl(args: &[&str]) -> (bool, String) {
    let out = Command::new("curl").args(["-sS", "--max-time", "10"]).args(args).output().expect("curl");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn tls_1_2_and_1_3_only_with_the_configured_chain() {
    if !sqlite_only() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let (cert, key) = pki.issue("srv", "localhost", "DNS:localhost,IP:127.0.0.1", false);
    // host_href = "": hrefs are derived from the request, https on the TLS listener.
    let s = serve(dir.path(), &format!("cert_file = {cert:?}\nkey_file = {key:?}\n[DEFAULT]\nhost_href = \"\"\n"));
    let ca = pki.ca();
    let ca = ca.to_str().unwrap();

    // TLS 1.1 refused by the server (the client side allows it: SECLEVEL=0).
    let old = s_client(&s.addr(), &["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", "-CAfile", ca]);
    assert!(old.contains("alert") || old.contains("no protocols available") || old.contains("wrong version"), "TLS 1.1: {old}");
    assert!(old.contains("Cipher is (NONE)"), "TLS 1.1 handshake completed: {old}");
    for (flag, proto) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let out = s_client(&s.addr(), &[flag, "-CAfile", ca]);
        assert!(out.contains(&format!("Protocol  : {proto}")) || out.contains(&format!("New, {proto}")), "{flag}: {out}");
        assert!(out.contains("Verify return code: 0 (ok)") && !out.contains("Cipher is (NONE)"), "{flag}: {out}");
    }

    // curl trusts the test CA; hrefs say https.
    let url = format!("https://localhost:{}/", s.port);
    let resolve = format!("localhost:{}:127.0.0.1", s.port);
    let (ok, body) = curl(&["--cacert", ca, "--resolve", &resolve, &url]);
    assert!(ok, "{body}");
    assert!(body.contains(&format!("\"href\":\"https://localhost:{}/v1/\"", s.port)), "{body}");
    let (ok, body) = curl(&["--resolve", &resolve, &url]);
    assert!(!ok, "a client without the test CA must not trust the server: {body}");
    let (ok, body) = curl(&[&format!("http://127.0.0.1:{}/", s.port)]);
    assert!(!ok || !body.contains("versions"), "plain HTTP must not be served on the TLS port: {body}");
}

/// Serves cert A, then with the files replaced by B and a SIGHUP, a new connection sees B while
/// a keep-alive connection opened before goes on; a broken pair keeps B and logs an error.
#[test]
fn sighup_reloads_the_certificate_without_dropping_connections() {
    if !sqlite_only() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let (a_cert, a_key) = pki.issue("a", "server-a", "DNS:localhost", false);
    let (b_cert, b_key) = pki.issue("b", "server-b", "DNS:localhost", false);
    let live_cert = dir.path().join("live.pem");
    let live_key = dir.path().join("live.key");
    std::fs::copy(&a_cert, &live_cert).unwrap();
    std::fs::copy(&a_key, &live_key).unwrap();
    let s = serve(dir.path(), &format!("cert_file = {live_cert:?}\nkey_file = {live_key:?}\n"));
    let ca = pki.ca();
    let ca = ca.to_str().unwrap();
    assert!(s_client(&s.addr(), &["-CAfile", ca]).contains("CN = server-a"));

    // A keep-alive connection: one request now, one after the reload.
    let mut conn = Command::new("openssl")
        .args(["s_client", "-connect", &s.addr(), "-servername", "localhost", "-CAfile", ca, "-quiet", "-ign_eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = conn.stdin.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = conn.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let request = "GET /healthcheck HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let await_status = |rx: &std::sync::mpsc::Receiver<String>| -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            // A body without a final newline runs into the next status line.
            if let Some(i) = line.find("HTTP/1.1 ") {
                return line[i..].to_string();
            }
        }
        "no response".into()
    };
    stdin.write_all(request.as_bytes()).unwrap();
    stdin.flush().unwrap();
    assert!(await_status(&rx).starts_with("HTTP/1.1 200"), "first request on the kept connection");

    std::fs::copy(&b_cert, &live_cert).unwrap();
    std::fs::copy(&b_key, &live_key).unwrap();
    unsafe { libc::kill(s.child.id() as i32, libc::SIGHUP) };
    let start = Instant::now();
    while !s.log_text().contains("reloaded the TLS certificate") {
        assert!(start.elapsed() < Duration::from_secs(10), "no reload logged: {}", s.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    let fresh = s_client(&s.addr(), &["-CAfile", ca]);
    assert!(fresh.contains("CN = server-b") && !fresh.contains("CN = server-a"), "new connection after SIGHUP: {fresh}");
    assert!(fresh.contains("Verify return code: 0 (ok)"), "{fresh}");

    stdin.write_all(request.as_bytes()).unwrap();
    stdin.flush().unwrap();
    let second = await_status(&rx);
    assert!(second.starts_with("HTTP/1.1 200"), "the connection opened before the reload still serves: {second}");
    drop(stdin);
    let _ = conn.kill();
    let _ = conn.wait();

    // A key that does not match: the reload fails, B stays, the process lives.
    std::fs::copy(&a_key, &live_key).unwrap();
    unsafe { libc::kill(s.child.id() as i32, libc::SIGHUP) };
    let start = Instant::now();
    while !s.log_text().contains("TLS certificate not reloaded") {
        assert!(start.elapsed() < Duration::from_secs(10), "no error logged: {}", s.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = s.log_text();
    assert!(log.contains("does not belong to the certificate"), "{log}");
    assert!(!log.contains("PRIVATE KEY"), "key material in the log");
    let still = s_client(&s.addr(), &["-CAfile", ca]);
    assert!(still.contains("CN = server-b") && still.contains("Verify return code: 0 (ok)"), "{still}");
}

/// Bad `[ssl]` settings stop the start with a message naming the setting.
#[test]
fn bad_ssl_settings_refuse_to_start() {
    if !sqlite_only() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let (cert, _) = pki.issue("srv", "localhost", "DNS:localhost", false);
    let (_, other_key) = pki.issue("other", "other", "DNS:other", false);
    for (toml, want) in [
        (format!("cert_file = {cert:?}\n"), "key_file is not"),
        (format!("cert_file = {cert:?}\nkey_file = {other_key:?}\n"), "does not belong"),
        (format!("cert_file = {cert:?}\nkey_file = \"/nonexistent/k.pem\"\n"), "/nonexistent/k.pem"),
        (format!("cert_file = {cert:?}\nkey_file = {cert:?}\n"), "no PEM private key"),
        (format!("cert_file = {cert:?}\nkey_file = {other_key:?}\nclient_auth = \"required\"\n"), "client_auth needs ca_file"),
    ] {
        std::fs::write(dir.path().join("c.toml"), format!("[ssl]\n{toml}")).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["serve", "--dev", "--config", "c.toml", "--listen", "127.0.0.1:0"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{toml}: started");
        assert!(err.contains(want), "{toml}: {err}");
    }
}

/// Without TLS a SIGHUP (`systemctl reload`) is logged and the server goes on serving.
#[test]
fn sighup_without_tls_does_not_end_the_server() {
    if !sqlite_only() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve(dir.path(), "");
    unsafe { libc::kill(s.child.id() as i32, libc::SIGHUP) };
    let start = Instant::now();
    while !s.log_text().contains("nothing to reload") {
        assert!(start.elapsed() < Duration::from_secs(10), "no SIGHUP logged: {}", s.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(s.child.try_wait().unwrap().is_none(), "the server ended on SIGHUP");
    let (ok, body) = curl(&[&format!("http://{}/", s.addr())]);
    assert!(ok && body.contains("versions"), "{body}");
}
