//! contrib/portcullis.service (issue 11 §4): the hardening the issue names is there, and
//! `systemd-analyze verify` accepts the unit without a warning (when systemd-analyze is
//! installed: scripts/deps.sh installs it), with an offline exposure score of at most 2.0.

use std::process::Command;

const UNIT: &str = include_str!("../../contrib/portcullis.service");

#[test]
fn unit_has_the_hardening() {
    let lines: Vec<&str> = UNIT.lines().map(str::trim).collect();
    for want in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "ReadWritePaths=/var/lib/portcullis",
        "DevicePolicy=closed",
        "DeviceAllow=/dev/tpmrm0 rw",
        "CapabilityBoundingSet=",
        "User=portcullis",
        "UMask=0077",
        "LimitCORE=0",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(lines.contains(&want), "contrib/portcullis.service lacks {want}");
    }
    assert!(!lines.iter().any(|l| l.starts_with("PrivateDevices=yes")), "PrivateDevices would hide /dev/tpmrm0");
}

#[test]
fn systemd_analyze_accepts_the_unit() {
    if !crate::tls::sqlite_only() {
        return;
    }
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        eprintln!("systemd-analyze is not installed (scripts/deps.sh installs it): verify skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // verify checks that the executables exist: point the unit at the binary under test.
    let unit = dir.path().join("portcullis.service");
    std::fs::write(&unit, UNIT.replace("/usr/local/bin/portcullis", env!("CARGO_BIN_EXE_portcullis"))).unwrap();
    let out = Command::new("systemd-analyze").arg("verify").arg(&unit).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.trim().is_empty(), "systemd-analyze verify: {text}");

    let out = Command::new("systemd-analyze").args(["security", "--offline=true"]).arg(&unit).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let score = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for portcullis.service:").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|s| s.parse::<f64>().ok());
    let score = score.unwrap_or_else(|| panic!("no exposure level in: {text}"));
    assert!(score <= 2.0, "exposure {score} > 2.0: {text}");
}
