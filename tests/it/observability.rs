//! Metrics, audit and logs, checked with the real parsers: prometheus_client's text-format
//! parser and pycadf (with keystonemiddleware's initiator resource), from the OpenStack venv
//! (scripts/pyvenv.sh scripts/requirements-openstack.txt). Without that venv these tests skip,
//! unless PORTCULLIS_REQUIRE_OS_VENV=1 (as in scripts/test.sh).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{self, project};

/// The OpenStack venv's python: PORTCULLIS_TEST_OS_VENV, else <repo>/.venv-openstack.
fn os_python() -> Option<PathBuf> {
    let venv = std::env::var("PORTCULLIS_TEST_OS_VENV")
        .ok()
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-openstack"));
    let py = venv.join("bin/python");
    if py.exists() {
        return Some(py);
    }
    if std::env::var("PORTCULLIS_REQUIRE_OS_VENV").as_deref() == Ok("1") {
        panic!("no OpenStack venv at {} but PORTCULLIS_REQUIRE_OS_VENV=1", venv.display());
    }
    eprintln!("skipped: no OpenStack venv at {} (scripts/pyvenv.sh scripts/requirements-openstack.txt)", venv.display());
    None
}

fn validate(py: &Path, kind: &str, file: &Path) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/obs_validate.py");
    let out = Command::new(py).arg(script).arg(kind).arg(file).output().expect("python runs");
    assert!(out.status.success(), "{kind} validation failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

fn sample<'a>(samples: &'a [Value], name: &str, labels: &[(&str, &str)]) -> Option<&'a Value> {
    samples.iter().find(|s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][*k] == *v))
}

#[tokio::test]
async fn metrics_parse_with_prometheus_client_and_hold_no_ids() {
    let Some(py) = os_python() else { return };
    let off = common::start().await;
    let r = off.http.get(off.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 404, "[metrics] is off by default");

    let s = common::start_with(|c| c.metrics.enabled = true).await;
    let p = project();
    let id = s.create_secret(&p, json!({"payload": "metrics-payload", "payload_content_type": "text/plain"})).await;
    for path in [format!("/v1/secrets/{id}"), format!("/v1/secrets/{id}/payload"), "/v1/secrets".to_string()] {
        let r = s.req(Method::GET, &path, &p).header("Accept", "*/*").send().await.unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }
    let r = s.req(Method::GET, "/v1/secrets/00000000-0000-0000-0000-000000000000", &p).send().await.unwrap();
    assert_eq!(r.status(), 404);

    let r = s.http.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = r.text().await.unwrap();
    assert!(!text.contains(&id) && !text.contains(&p), "an id in the metrics text");
    let file = s.dir.path().join("metrics.txt");
    std::fs::write(&file, &text).unwrap();
    let samples: Vec<Value> = serde_json::from_str(&validate(&py, "metrics", &file)).unwrap();

    let has = |name: &str, labels: &[(&str, &str)]| {
        sample(&samples, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in\n{text}"))["value"].as_f64().unwrap()
    };
    assert!(has("portcullis_http_requests_total", &[("route", "/v1/secrets"), ("method", "POST"), ("status", "201")]) >= 1.0);
    assert!(has("portcullis_http_requests_total", &[("route", "/v1/secrets/{id}/payload"), ("method", "GET"), ("status", "200")]) >= 1.0);
    assert!(has("portcullis_http_requests_total", &[("route", "/v1/secrets/{id}"), ("method", "GET"), ("status", "404")]) >= 1.0);
    assert!(has("portcullis_http_request_duration_seconds_count", &[("route", "/v1/secrets"), ("method", "POST")]) >= 1.0);
    assert!(has("portcullis_http_request_duration_seconds_bucket", &[("route", "/v1/secrets"), ("method", "POST"), ("le", "+Inf")]) >= 1.0);
    let hist = sample(&samples, "portcullis_http_request_duration_seconds_bucket", &[]).unwrap();
    assert_eq!(hist["type"], "histogram");
    has("portcullis_db_pool_connections", &[("state", "in_use")]);
    assert!(has("portcullis_db_pool_connections", &[("state", "idle")]) >= 0.0);
    assert_eq!(has("portcullis_db_pool_max_connections", &[]), 4.0);
    assert!(has("portcullis_db_pool_wait_seconds_count", &[]) >= 1.0);
    assert!(has("portcullis_master_kek_version", &[]) >= 1.0);
    assert_eq!(has("portcullis_order_queue_depth", &[]), 0.0);
    let kek = has("portcullis_cache_requests_total", &[("cache", "project_kek"), ("result", "hit")])
        + has("portcullis_cache_requests_total", &[("cache", "project_kek"), ("result", "miss")]);
    assert!(kek >= 2.0, "project-KEK cache look-ups counted: {kek}");
    has("portcullis_cache_requests_total", &[("cache", "token"), ("result", "miss")]);
    has("portcullis_keystone_request_duration_seconds_count", &[("call", "validate_token")]);
    // No label may hold an id: every label value is from a small fixed set or a route template.
    for smp in &samples {
        for (k, v) in smp["labels"].as_object().unwrap() {
            let v = v.as_str().unwrap();
            assert!(!v.contains(&id) && !v.contains(&p), "{k}={v}");
            if k == "route" {
                assert!(v.starts_with('/') || v == "unmatched", "route {v}");
                assert!(!v.contains("00000000"), "route {v} holds an id");
            }
        }
    }
}

fn audit_lines(file: &Path, want: usize) -> Vec<Value> {
    for _ in 0..50 {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text.lines().count() >= want {
            return text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("fewer than {want} audit lines in {}", file.display());
}

#[tokio::test]
async fn audit_events_are_cadf_with_targets_and_no_secrets() {
    let Some(py) = os_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let log2 = log.clone();
    let s = common::start_with(move |c| {
        c.audit.enabled = true;
        c.audit.file = log2;
    })
    .await;
    let p = project();
    let token = "tok-4f1c9e0b7d2a";
    let payload = "audit-payload-9c1e5";
    let r = s
        .req(Method::POST, "/v1/secrets", &p)
        .header("X-User-Id", "user-a")
        .header("X-Auth-Token", token)
        .header("User-Agent", "obs-test/1.0")
        .json(&json!({"payload": payload, "payload_content_type": "text/plain", "name": "n"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let href = r.json::<Value>().await.unwrap()["secret_ref"].as_str().unwrap().to_string();
    let id = href.rsplit('/').next().unwrap().to_string();
    let r = s.req(Method::GET, &format!("/v1/secrets/{id}/payload?x=1"), &p).header("Accept", "text/plain").send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), payload);
    let r = s.req(Method::GET, "/v1/secrets/nosuch", &p).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = s.req(Method::GET, "/v1/secrets", &p).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = s.req(Method::DELETE, &format!("/v1/secrets/{id}"), &p).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let r = s.http.get(s.url("/healthcheck")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let ev = audit_lines(&log, 5);
    assert_eq!(ev.len(), 5, "one event per /v1 request, none for /healthcheck");
    assert_eq!(validate(&py, "cadf", &log).trim(), "5", "pycadf takes every event");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(payload) && !text.contains(token), "payload or token in the audit log");

    let (create, read, missing, list, delete) = (&ev[0], &ev[1], &ev[2], &ev[3], &ev[4]);
    assert_eq!(create["action"], "create");
    assert_eq!(create["outcome"], "success");
    assert_eq!(create["target"]["id"], href.as_str(), "a create's target is what it created");
    assert_eq!(create["target"]["typeURI"], "service/security/keymanager/secrets");
    assert_eq!(create["initiator"]["id"], "user-a");
    assert_eq!(create["initiator"]["project_id"], p.as_str());
    assert_eq!(create["initiator"]["typeURI"], "service/security/account/user");
    assert_eq!(create["initiator"]["host"]["address"], "127.0.0.1");
    assert_eq!(create["initiator"]["host"]["agent"], "obs-test/1.0");
    assert!(create["initiator"]["request_id"].as_str().unwrap().starts_with("req-"));
    assert!(create["initiator"].get("credential").is_none(), "no token, not even masked");
    assert_eq!(create["reason"], json!({"reasonType": "HTTP", "reasonCode": "201"}));
    assert_eq!(read["action"], "read");
    assert_eq!(read["target"]["id"], href.as_str());
    assert_eq!(read["target"]["typeURI"], "service/security/keymanager/secrets/");
    assert_eq!(read["requestPath"], format!("/v1/secrets/{id}/payload?x=1"));
    assert_eq!(missing["outcome"], "failure");
    assert_eq!(missing["reason"]["reasonCode"], "404");
    assert_eq!(list["action"], "read/list");
    assert_eq!(delete["action"], "delete");
    assert_eq!(delete["target"]["id"], href.as_str());
    assert_eq!(delete["reason"]["reasonCode"], "204");
    for e in &ev {
        assert_eq!(e["eventType"], "activity");
        assert_eq!(e["typeURI"], "http://schemas.dmtf.org/cloud/audit/1.0/event");
        assert_eq!(e["reporterchain"][0]["role"], "modifier");
    }
}

#[tokio::test]
async fn audit_fail_closed_refuses_requests_until_the_log_is_writable() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("not-yet").join("audit.log");
    let log2 = log.clone();
    let s = common::start_with(move |c| {
        c.audit.enabled = true;
        c.audit.fail_closed = true;
        c.audit.file = log2;
    })
    .await;
    let p = project();
    let r = s
        .req(Method::POST, "/v1/secrets", &p)
        .json(&json!({"payload": "refused", "payload_content_type": "text/plain"}))
        .send()
        .await
        .unwrap();
    assert!(r.headers().contains_key("retry-after"));
    common::assert_error(r, 503, "Service Unavailable", Some("The audit log cannot be written right now; retry later.")).await;
    assert_eq!(s.http.get(s.url("/healthcheck")).send().await.unwrap().status(), 200, "not audited, not refused");

    // Nothing was written: the same database, seen by a server without audit.
    let other = tempfile::tempdir().unwrap();
    let mut cfg = common::test_config(other.path());
    cfg.default.sql_connection = s.db_url.clone();
    cfg.kek.file_path = s.kek_file.clone();
    let plain = common::start_in(other, cfg).await;
    let v: Value = plain.req(Method::GET, "/v1/secrets", &p).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["total"], 0, "a refused request wrote nothing: {v}");
    assert!(!log.exists());

    // The log becomes writable: requests are served (and audited) again.
    std::fs::create_dir(log.parent().unwrap()).unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = s.req(Method::GET, "/v1/secrets", &p).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let ev = audit_lines(&log, 1);
    assert_eq!(ev[0]["action"], "read/list");
}

#[test]
fn json_logs_are_one_object_per_line_without_ansi() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["--log-format", "json", "serve", "--dev", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .env_remove("PORTCULLIS_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("portcullis starts");
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || BufReader::new(stderr).lines().map_while(Result::ok).collect::<Vec<_>>());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let (rid, project) = rt.block_on(async {
        for _ in 0..100 {
            if http.get(format!("{base}/healthcheck")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let p = project();
        let r = http
            .post(format!("{base}/v1/secrets"))
            .header("X-Project-Id", &p)
            .header("X-User-Id", "log-user")
            .json(&json!({"payload": "log-payload-77", "payload_content_type": "text/plain"}))
            .send()
            .await
            .expect("served");
        assert_eq!(r.status(), 201);
        (r.headers()["x-openstack-request-id"].to_str().unwrap().to_string(), p)
    });
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
    let lines = reader.join().unwrap();
    assert!(lines.len() >= 3, "{lines:?}");
    let mut served = None;
    for l in &lines {
        assert!(!l.contains('\u{1b}'), "ANSI code in {l}");
        assert!(!l.contains("log-payload-77"), "payload in the log: {l}");
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON object ({e}): {l}"));
        assert!(v["timestamp"].is_string() && v["level"].is_string(), "{l}");
        if v["message"] == "served" && v["request_id"] == rid.as_str() {
            served = Some(v);
        }
    }
    let v = served.unwrap_or_else(|| panic!("no access line for {rid}: {lines:?}"));
    assert_eq!(v["status"], 201);
    assert_eq!(v["method"], "POST");
    assert_eq!(v["route"], "/v1/secrets");
    assert_eq!(v["project"], project.as_str());
    assert_eq!(v["user"], "log-user");
    assert!(v["latency_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(v["span"]["id"], rid.as_str());
}

/// A write that fails (a full disk: /dev/full) is never acknowledged under `fail_closed`.
#[tokio::test]
async fn audit_fail_closed_does_not_acknowledge_an_unaudited_request() {
    let s = common::start_with(|c| {
        c.audit.enabled = true;
        c.audit.fail_closed = true;
        c.audit.file = "/dev/full".into();
    })
    .await;
    let p = project();
    for _ in 0..3 {
        let r = s.req(Method::GET, "/v1/secrets", &p).send().await.unwrap();
        common::assert_error(r, 503, "Service Unavailable", Some("The audit log cannot be written right now; retry later.")).await;
    }
}
