//! `portcullis check --config FILE` (issue 11 §4): the SCS Key Manager posture of a config,
//! without starting the server (no database, no TPM opened), and its exit codes.

use std::path::Path;
use std::process::Command;

use crate::tls::{sqlite_only, Pki};

fn check(dir: &Path, toml: &str) -> (i32, String) {
    let conf = dir.join("check.toml");
    std::fs::write(&conf, toml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .env_clear()
        .args(["check", "--config"])
        .arg(&conf)
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A production-shaped config: TPM (a device that does not exist: check must not open it), a
/// database nobody listens on (nor that), Keystone, TLS with client certificates.
fn good(dir: &Path, pki: &Pki) -> String {
    let (cert, key) = pki.issue("srv", "localhost", "DNS:localhost", false);
    format!(
        "[DEFAULT]\nproduction = true\nsql_connection = \"postgresql://nobody@127.0.0.1:1/none\"\n\
         [auth]\nstrategy = \"keystone\"\n\
         [keystone_authtoken]\nauth_url = \"http://127.0.0.1:1/v3\"\nusername = \"portcullis\"\npassword = \"ks-Secret-7Q2v\"\n\
         [kek]\nprovider = \"tpm\"\ntcti = \"device:{}/no-tpm\"\n\
         [ssl]\ncert_file = {cert:?}\nkey_file = {key:?}\nca_file = {:?}\n",
        dir.display(),
        pki.ca()
    )
}

#[test]
fn a_production_config_passes_every_item() {
    if !sqlite_only() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let (rc, out) = check(dir.path(), &good(dir.path(), &pki));
    assert_eq!(rc, 0, "{out}");
    for item in ["config", "master-kek", "member-role", "tls", "noauth-off"] {
        assert!(out.lines().any(|l| l.starts_with("PASS") && l.contains(item)), "{item}: {out}");
    }
    assert!(!out.contains("FAIL"), "{out}");
    assert!(out.contains("client certificates required"), "{out}");
    // A distinctive password: a short one could turn up by chance in a random temp path.
    assert!(!out.contains("ks-Secret-7Q2v"), "the Keystone password is printed: {out}");
}

#[test]
fn development_settings_fail_the_posture() {
    if !sqlite_only() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[auth]\nstrategy = \"noauth\"\n[kek]\nprovider = \"file\"\nfile_path = \"{}/k\"\n",
        dir.path().display()
    );
    let (rc, out) = check(dir.path(), &toml);
    assert_eq!(rc, 1, "{out}");
    for item in ["master-kek", "tls", "noauth-off"] {
        assert!(out.lines().any(|l| l.starts_with("FAIL") && l.contains(item)), "{item}: {out}");
    }
    assert!(out.lines().any(|l| l.starts_with("PASS") && l.contains("member-role")), "{out}");
    assert!(out.contains("3 of 4 required items FAIL"), "{out}");
}

/// The legacy rules let a creator do what a member may not; the SCS mapping (member as
/// creator) in a policy file fixes it; a file that takes a right from members breaks it again.
#[test]
fn member_may_do_what_creator_may() {
    if !sqlite_only() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let base = good(dir.path(), &pki);
    let legacy = format!("{base}[oslo_policy]\nenforce_new_defaults = false\nenforce_scope = false\n");
    let (rc, out) = check(dir.path(), &legacy);
    assert_eq!(rc, 1, "{out}");
    let line = out.lines().find(|l| l.contains("member-role")).unwrap();
    assert!(line.starts_with("FAIL") && line.contains("secret:get") && line.contains("containers:post"), "{out}");
    assert!(!line.contains("secretstore"), "secret stores are not secrets: {line}");

    let scs = dir.path().join("scs.yaml");
    std::fs::write(&scs, "\"creator\": \"role:creator or role:member\"\n").unwrap();
    let (rc, out) = check(dir.path(), &format!("{legacy}policy_file = {scs:?}\n"));
    assert_eq!(rc, 0, "the SCS mapping: {out}");

    let narrow = dir.path().join("narrow.yaml");
    std::fs::write(&narrow, "\"secret:decrypt\": \"role:creator\"\n").unwrap();
    let (rc, out) = check(dir.path(), &format!("{base}[oslo_policy]\npolicy_file = {narrow:?}\n"));
    assert_eq!(rc, 1, "{out}");
    let line = out.lines().find(|l| l.contains("member-role")).unwrap();
    assert!(line.starts_with("FAIL") && line.contains("secret:decrypt") && !line.contains("secret:get"), "{line}");
}

#[test]
fn an_invalid_config_exits_2() {
    if !sqlite_only() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let base = good(dir.path(), &pki);
    for (toml, want) in [
        (base.replace("key_file", "# key_file"), "key_file is not"),
        (base.replace("provider = \"tpm\"", "provider = \"file\""), "refused when [DEFAULT] production = true"),
        (base.replace("username = \"portcullis\"", "username = \"\""), "username and password"),
        (format!("{base}[oslo_policy]\npolicy_file = \"/nonexistent.yaml\"\n"), "/nonexistent.yaml"),
        ("[DEFAULT]\nhost_hreff = 1\n".to_string(), "host_hreff"),
    ] {
        let (rc, out) = check(dir.path(), &toml);
        assert_eq!(rc, 2, "{want}: {out}");
        assert!(out.contains("FAIL  config") && out.contains(want), "{want}: {out}");
    }
}

/// `[oidc]`: the trusted issuers are listed; an issuer allowing HMAC, or plain http off
/// loopback, makes the configuration invalid (exit 2).
#[test]
fn oidc_issuers_are_listed_and_unsafe_ones_refused() {
    if !sqlite_only() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let base = good(dir.path(), &pki);
    let issuer = "[[oidc.issuers]]\nissuer = \"https://k8s.example/issuer\"\naudiences = [\"portcullis\"]\nproject = \"proj-k8s\"\nroles = [\"member\"]\n";
    let (rc, out) = check(dir.path(), &format!("{base}{issuer}"));
    assert_eq!(rc, 0, "{out}");
    assert!(out.lines().any(|l| l.starts_with("INFO") && l.contains("https://k8s.example/issuer") && l.contains("proj-k8s")), "{out}");
    let (rc, out) = check(dir.path(), &format!("{base}{issuer}algorithms = [\"RS256\", \"HS256\"]\n"));
    assert_eq!(rc, 2, "{out}");
    assert!(out.contains("HS256 is never accepted"), "{out}");
    let (rc, out) = check(dir.path(), &format!("{base}{}", issuer.replace("https://k8s.example", "http://k8s.example")));
    assert_eq!(rc, 2, "{out}");
    assert!(out.contains("loopback"), "{out}");
}
