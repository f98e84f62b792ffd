//! `portcullis policy check` against hostile and careless policy files (issue 8 §3): deep
//! nesting is refused with a message instead of overflowing the stack, cycles and quoted checks
//! deny, and a 40-level doubling rule is decided at once.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `policy check secrets:get` on a file; a run that takes more than 20 s is killed and fails.
fn check(dir: &Path, file: &str, text: &str, roles: &str) -> Output {
    let f = dir.join(file);
    std::fs::write(&f, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .env_clear()
        .current_dir(dir)
        .args(["policy", "check", "secrets:get", "--roles", roles, "--project", "p", "--policy-file"])
        .arg(&f)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(20) {
            child.kill().ok();
            panic!("{file}: policy check still running after 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn deep_nesting_is_refused_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let n = 100_000;
    let cases = [
        ("not.yaml", format!("\"secrets:get\": \"{}role:x\"\n", "not ".repeat(n)), "'(' and 'not' nest more than 64 levels deep"),
        ("parens.yaml", format!("\"secrets:get\": \"{}role:x{}\"\n", "(".repeat(n), ")".repeat(n)), "nest more than 64 levels deep"),
        ("list.yaml", format!("\"secrets:get\": {}{}\n", "[".repeat(n), "]".repeat(n)), "the check must be a string, not a list"),
        ("seq.yaml", format!("{}x\n", "- ".repeat(n)), "a policy file is a mapping"),
        ("deep.json", format!("{{\"secrets:get\": {}{}}}\n", "[".repeat(n), "]".repeat(n)), "recursion limit exceeded"),
    ];
    for (file, body, want) in cases {
        let out = check(dir.path(), file, &body, "x");
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {err}");
        assert!(err.contains(want) && err.contains("line 1"), "{file}: {err}");
        assert!(out.stdout.is_empty(), "{file}: no decision on a refused file");
    }
}

#[test]
fn cycles_and_quoted_checks_deny() {
    let dir = tempfile::tempdir().unwrap();
    let out = check(dir.path(), "cycle.yaml", "\"secrets:get\": \"not rule:a\"\na: rule:b\nb: rule:a\n", "x");
    let err = text(&out.stderr);
    assert_eq!((out.status.code(), text(&out.stdout).as_str()), (Some(0), "deny\n"), "{err}");
    assert!(err.contains("rule:a -> rule:b -> rule:a"), "the load warns: {err}");
    assert!(err.contains("cut off") && err.contains("cycle"), "the decision says why: {err}");

    let out = check(dir.path(), "quoted.yaml", "\"secrets:get\": '\"@\"'\n", "x");
    let err = text(&out.stderr);
    assert_eq!(text(&out.stdout), "deny\n", "{err}");
    assert!(err.contains("the quoted token \"@\""), "{err}");
}

#[test]
fn a_doubling_rule_is_decided_at_once() {
    let dir = tempfile::tempdir().unwrap();
    for (op, roles, want) in [("or", "y", "deny\n"), ("and", "x", "allow\n")] {
        let mut body: String = (1..=40).map(|i| format!("r{i}: rule:r{} {op} rule:r{}\n", i - 1, i - 1)).collect();
        body.push_str("r0: role:x\n\"secrets:get\": rule:r40\n");
        let start = Instant::now();
        let out = check(dir.path(), "doubling.yaml", &body, roles);
        assert_eq!(text(&out.stdout), want, "{op}: {}", text(&out.stderr));
        assert!(start.elapsed() < Duration::from_secs(10), "{op}: took {:?}", start.elapsed());
    }
}
