//! Metrics and audit behind a real Keystone: token-cache hits and misses, Keystone call
//! latency, and the audit initiator taken from the validated token (never the token itself).

use crate::common;
use crate::ks::keystone;
use portcullis::config::AuthStrategy;
use serde_json::{json, Value};

/// The value of the sample `series` (name and labels exactly as rendered).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

#[actix_web::test]
async fn token_cache_and_keystone_latency_are_counted_and_audit_names_the_user() {
    let Some(ks) = keystone() else { return };
    let section = ks.section();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let log2 = log.clone();
    let s = common::start_with(move |c| {
        c.auth.strategy = AuthStrategy::Keystone;
        c.keystone_authtoken = section;
        c.oslo_policy.enforce_new_defaults = true; // a project member lists (secure RBAC)
        c.oslo_policy.enforce_scope = true;
        c.metrics.enabled = true;
        c.audit.enabled = true;
        c.audit.fail_closed = true; // flushed per event
        c.audit.file = log2;
    })
    .await;
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "a-member", "domain": {"id": "default"}, "password": ks.env["KS_USER_PASSWORD"]}}},
        "scope": {"project": {"name": "proj-a", "domain": {"id": "default"}}}}});
    let r = ks.http.post(format!("{}/auth/tokens?nocatalog", ks.url())).json(&body).send().await.unwrap();
    let token = r.headers()["x-subject-token"].to_str().unwrap().to_string();
    let project = r.json::<Value>().await.unwrap()["token"]["project"]["id"].as_str().unwrap().to_string();
    for _ in 0..3 {
        let r = s.http.get(s.url("/v1/secrets")).header("X-Auth-Token", &token).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let text = s.http.get(s.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(value(&text, r#"portcullis_cache_requests_total{cache="token",result="miss"}"#) >= 1.0);
    assert!(value(&text, r#"portcullis_cache_requests_total{cache="token",result="hit"}"#) >= 2.0);
    assert!(value(&text, r#"portcullis_keystone_request_duration_seconds_count{call="validate_token"}"#) >= 1.0);
    assert!(value(&text, r#"portcullis_keystone_request_duration_seconds_count{call="service_token"}"#) >= 1.0);
    assert!(value(&text, r#"portcullis_http_requests_total{route="/v1/secrets",method="GET",status="200"}"#) >= 3.0);
    assert!(!text.contains(&token) && !text.contains(&project), "a token or project id in the metrics");

    let audit = std::fs::read_to_string(&log).unwrap();
    assert!(!audit.contains(&token), "the token in the audit log");
    let ev: Vec<Value> = audit.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(ev.len(), 3);
    assert_eq!(ev[0]["initiator"]["id"], ks.env["KS_USER_A_MEMBER"].as_str());
    assert_eq!(ev[0]["initiator"]["project_id"], project.as_str());
    assert_eq!(ev[0]["action"], "read/list");
}
