//! Key policies granted to OIDC workloads (issue 12 §2): the VoltStack example with real
//! client-credentials tokens: workload A may only encrypt with `foo`, B only decrypt; C only
//! signs with `bar`, D only verifies. A grant names the issuer and the subject (or a group),
//! so the same subject from another trusted issuer is another workload.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common;
use crate::provider::{bearer, provider, server};

async fn post(s: &common::TestServer, token: &str, path: &str, body: Value) -> (u16, Value) {
    let r = bearer(s, Method::POST, path, token).json(&body).send().await.unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

/// Creates a key as the project's admin (noauth, the base strategy); returns its id.
async fn admin_key(s: &common::TestServer, project: &str, body: Value) -> String {
    let r = s.req(Method::POST, "/v1/keys", project).header("X-Roles", "admin").header("X-User-Id", "adm").json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let v: Value = r.json().await.unwrap();
    v["key_ref"].as_str().unwrap().rsplit('/').next().unwrap().to_string()
}

#[tokio::test]
async fn voltstack_policy_with_workload_identities() {
    let Some(o) = provider() else { return };
    let project = common::project();
    // Workloads of issuers a and b, in one project, with no Keystone role: grants decide.
    let mut ca = o.issuer_conf("a", Some(&project));
    let mut cb = o.issuer_conf("b", Some(&project));
    ca.roles.clear();
    cb.roles.clear();
    let s = server(vec![ca, cb]).await;
    let ia = o.issuer("a");
    let grant = |sub: &str, ops: &[&str]| json!({ "identity": { "type": "oidc", "issuer": ia, "subject": sub }, "operations": ops });
    let foo = admin_key(&s, &project, json!({ "name": "foo", "type": "aes256-gcm", "policy": { "grants": [grant("workload-rs", &["encrypt"]), grant("workload-es", &["decrypt"])] } })).await;
    let group = json!({ "identity": { "type": "oidc_group", "issuer": ia, "group": "team-b" }, "operations": ["verify"] });
    let bar = admin_key(&s, &project, json!({ "name": "bar", "type": "ecdsa-p256", "policy": { "grants": [grant("workload-rs", &["sign"]), group] } })).await;

    let a = o.token("a", "workload-rs").await; // A, and C for bar
    let b = o.token("a", "workload-es").await; // B, and D (group team-b) for bar
    let (code, v) = post(&s, &a, &format!("/v1/keys/{foo}/encrypt"), json!({ "plaintext": B64.encode(b"for B") })).await;
    assert_eq!(code, 200, "A encrypts: {v}");
    let ct = v["ciphertext"].clone();
    assert_eq!(post(&s, &a, &format!("/v1/keys/{foo}/decrypt"), json!({ "ciphertext": ct })).await.0, 403, "A may not decrypt");
    let (code, v) = post(&s, &b, &format!("/v1/keys/{foo}/decrypt"), json!({ "ciphertext": ct })).await;
    assert_eq!((code, B64.decode(v["plaintext"].as_str().unwrap_or("")).unwrap_or_default()), (200, b"for B".to_vec()), "B decrypts: {v}");
    assert_eq!(post(&s, &b, &format!("/v1/keys/{foo}/encrypt"), json!({ "plaintext": "AA==" })).await.0, 403, "B may not encrypt");

    let (code, v) = post(&s, &a, &format!("/v1/keys/{bar}/sign"), json!({ "input": B64.encode(b"image digest") })).await;
    assert_eq!(code, 200, "C signs: {v}");
    let verify = json!({ "input": B64.encode(b"image digest"), "signature": v["signature"] });
    assert_eq!(post(&s, &a, &format!("/v1/keys/{bar}/verify"), verify.clone()).await.0, 403, "C may not verify");
    let (code, v) = post(&s, &b, &format!("/v1/keys/{bar}/verify"), verify).await;
    assert_eq!((code, v["valid"].clone()), (200, json!(true)), "D verifies through its group");
    assert_eq!(post(&s, &b, &format!("/v1/keys/{bar}/sign"), json!({ "input": "AA==" })).await.0, 403, "D may not sign");

    // The same subject from issuer b is not issuer a's workload.
    let a_at_b = o.token("b", "workload-rs").await;
    assert_eq!(post(&s, &a_at_b, &format!("/v1/keys/{foo}/encrypt"), json!({ "plaintext": "AA==" })).await.0, 403);
    // Workloads cannot describe, re-grant or export.
    for t in [&a, &b] {
        assert_eq!(bearer(&s, Method::GET, &format!("/v1/keys/{foo}"), t).send().await.unwrap().status(), 403);
        let r = bearer(&s, Method::PUT, &format!("/v1/keys/{foo}/policy"), t).json(&json!({ "grants": [] })).send().await.unwrap();
        assert_eq!(r.status(), 403);
        assert_eq!(bearer(&s, Method::GET, &format!("/v1/keys/{foo}/export"), t).send().await.unwrap().status(), 403);
    }
}
