//! `/healthcheck` stays the cheap liveness answer; `/healthcheck?deep` reports the database, the
//! master-KEK provider and Keystone as JSON (503 when one fails) without telling secrets. Runs
//! on every backend (the database-down case is in `db_restart`).

use serde_json::Value;

use crate::common;

async fn deep(s: &common::TestServer) -> (u16, String, Value) {
    let r = s.http.get(s.url("/healthcheck?deep")).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, text, v)
}

/// Nothing of the configuration's secrets or locations in the answer.
fn tells_nothing(text: &str, s: &common::TestServer) {
    for needle in ["portcullis_test@", "password", "master.kek", &s.kek_file.display().to_string(), "127.0.0.1:1/"] {
        assert!(!text.contains(needle), "{needle:?} in {text}");
    }
}

#[actix_web::test]
async fn deep_healthcheck_reports_each_dependency() {
    let s = common::start().await;
    let plain = s.http.get(s.url("/healthcheck")).send().await.unwrap();
    assert_eq!(plain.status(), 200);
    assert_eq!(plain.text().await.unwrap(), "OK");
    let (status, text, v) = deep(&s).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(v["status"], "ok");
    assert_eq!(v["checks"]["database"]["ok"], true, "{text}");
    assert_eq!(v["checks"]["master_kek"]["ok"], true);
    assert_eq!(v["checks"]["master_kek"]["detail"], "file provider, version 1");
    assert_eq!(v["checks"]["keystone"]["detail"], "not used (noauth)");
    tells_nothing(&text, &s);
}

#[actix_web::test]
async fn deep_healthcheck_fails_without_the_master_kek() {
    let s = common::start().await;
    // The provider's key file vanishes under the running server (a lost volume, say).
    std::fs::remove_file(&s.kek_file).unwrap();
    let (status, text, v) = deep(&s).await;
    assert_eq!(status, 503, "{text}");
    assert_eq!(v["status"], "failed");
    assert_eq!(v["checks"]["master_kek"]["ok"], false, "{text}");
    assert_eq!(v["checks"]["database"]["ok"], true, "{text}");
    tells_nothing(&text, &s);
    let plain = s.http.get(s.url("/healthcheck")).send().await.unwrap();
    assert_eq!(plain.status(), 200, "liveness does not look at dependencies");
}

#[actix_web::test]
async fn deep_healthcheck_fails_when_keystone_is_unreachable() {
    let port = super::free_port(); // nothing listens there
    let s = common::start_with(|cfg| {
        cfg.auth.strategy = portcullis::config::AuthStrategy::Keystone;
        cfg.keystone_authtoken.auth_url = format!("http://127.0.0.1:{port}/identity");
        cfg.keystone_authtoken.username = "portcullis".into();
        cfg.keystone_authtoken.password = "service-password-xyz".into();
        cfg.keystone_authtoken.http_connect_timeout = 1.0;
    })
    .await;
    let (status, text, v) = deep(&s).await;
    assert_eq!(status, 503, "{text}");
    assert_eq!(v["checks"]["keystone"]["ok"], false, "{text}");
    assert_eq!(v["checks"]["keystone"]["detail"], "keystone is unreachable");
    assert_eq!(v["checks"]["database"]["ok"], true);
    assert!(!text.contains("service-password-xyz") && !text.contains(&port.to_string()), "{text}");
}
