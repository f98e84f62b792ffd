//! Who may do what with a key: the VoltStack examples, grants by user, project and role,
//! revocation, and the secure-RBAC defaults.

use reqwest::Method;
use serde_json::{json, Value};

use super::{b64, create_key, json_of, op, send};
use crate::common;
use crate::common::who::{denied, Who};


/// A caller with a role no default rule knows: it has what grants give it, nothing more.
fn workload<'a>(p: &'a str, user: &'static str) -> Who<'a> {
    Who { project: p, roles: "workload", user: Some(user) }
}

fn user_grant(user: &str, ops: &[&str]) -> Value {
    json!({ "identity": { "type": "user", "id": user }, "operations": ops })
}

#[tokio::test]
async fn voltstack_a_encrypts_b_decrypts_c_signs_d_verifies() {
    let s = common::start().await;
    let (p1, p2, p3) = (common::project(), common::project(), common::project());
    let admin = Who { project: &p1, roles: "admin", user: Some("adm") };
    let _ = (&p2, &p3, admin);
    let (a, b, c, d) = (workload(&p1, "A"), workload(&p1, "B"), workload(&p1, "C"), workload(&p1, "D"));
    let (foo, _) = create_key(&s, admin, "aes256-gcm", json!({ "name": "foo", "policy": { "grants": [user_grant("A", &["encrypt"]), user_grant("B", &["decrypt"])] } })).await;
    let (bar, _) = create_key(&s, admin, "ecdsa-p256", json!({ "name": "bar", "policy": { "grants": [user_grant("C", &["sign"]), user_grant("D", &["verify"])] } })).await;

    let (code, v) = op(&s, a, &foo, "encrypt", json!({ "plaintext": b64(b"for B") })).await;
    assert_eq!(code, 200, "A encrypts with foo: {v}");
    let ct = v["ciphertext"].clone();
    let (code, v) = op(&s, a, &foo, "decrypt", json!({ "ciphertext": ct })).await;
    assert_eq!((code, v["description"].clone()), (403, json!(denied("Key operation"))), "A may not decrypt");
    let (code, v) = op(&s, b, &foo, "decrypt", json!({ "ciphertext": ct })).await;
    assert_eq!((code, super::unb64(&v["plaintext"])), (200, b"for B".to_vec()), "B decrypts");
    assert_eq!(op(&s, b, &foo, "encrypt", json!({ "plaintext": "AA==" })).await.0, 403, "B may not encrypt");
    for w in [a, b] {
        assert_eq!(op(&s, w, &foo, "rewrap", json!({ "ciphertext": ct })).await.0, 403);
        assert_eq!(op(&s, w, &foo, "datakey/plaintext", json!({})).await.0, 403);
        assert_eq!(op(&s, w, &bar, "sign", json!({ "input": "AA==" })).await.0, 403, "foo's grants say nothing of bar");
    }

    let (code, v) = op(&s, c, &bar, "sign", json!({ "input": b64(b"release-1.0") })).await;
    assert_eq!(code, 200, "C signs with bar: {v}");
    let sig = v["signature"].clone();
    let verify = json!({ "input": b64(b"release-1.0"), "signature": sig });
    assert_eq!(op(&s, c, &bar, "verify", verify.clone()).await.0, 403, "C may not verify");
    let (code, v) = op(&s, d, &bar, "verify", verify).await;
    assert_eq!((code, v["valid"].clone()), (200, json!(true)), "D verifies");
    assert_eq!(op(&s, d, &bar, "sign", json!({ "input": "AA==" })).await.0, 403, "D may not sign");
    assert_eq!(op(&s, d, &foo, "encrypt", json!({ "plaintext": "AA==" })).await.0, 403);

    // None of the workloads may describe, re-grant, rotate or export.
    for w in [a, b, c, d] {
        for (m, path, body) in [
            (Method::GET, format!("/v1/keys/{foo}"), None),
            (Method::GET, format!("/v1/keys/{foo}/policy"), None),
            (Method::PUT, format!("/v1/keys/{foo}/policy"), Some(json!({ "grants": [user_grant(w.user.unwrap(), &["admin"])] }))),
            (Method::POST, format!("/v1/keys/{foo}/rotate"), None),
            (Method::GET, format!("/v1/keys/{foo}/export"), None),
            (Method::PUT, format!("/v1/keys/{foo}"), Some(json!({ "deletion_allowed": true }))),
            (Method::DELETE, format!("/v1/keys/{foo}"), None),
        ] {
            assert_eq!(send(&s, m.clone(), &path, w, body).await.status().as_u16(), 403, "{:?} {m} {path}", w.user);
        }
    }
    // A forbidden caller learns nothing about its input: 403 before any 400.
    assert_eq!(op(&s, a, &foo, "decrypt", json!({ "nonsense": 1 })).await.0, 403);
    // The policy as stored.
    let (code, p) = json_of(send(&s, Method::GET, &format!("/v1/keys/{foo}/policy"), admin, None).await).await;
    assert_eq!(code, 200);
    assert_eq!(p, json!({ "grants": [user_grant("A", &["encrypt"]), user_grant("B", &["decrypt"])] }));
}

#[tokio::test]
async fn a_revoked_grant_stops_at_the_next_request() {
    let s = common::start().await;
    let (p1, p2, p3) = (common::project(), common::project(), common::project());
    let admin = Who { project: &p1, roles: "admin", user: Some("adm") };
    let _ = (&p2, &p3, admin);
    let a = workload(&p1, "A");
    let (foo, _) = create_key(&s, admin, "aes256-gcm", json!({ "policy": { "grants": [user_grant("A", &["encrypt", "describe"])] } })).await;
    assert_eq!(op(&s, a, &foo, "encrypt", json!({ "plaintext": "AA==" })).await.0, 200);
    let (code, _) = json_of(send(&s, Method::GET, &format!("/v1/keys/{foo}"), a, None).await).await;
    assert_eq!(code, 200, "describe granted");
    let (code, p) = json_of(send(&s, Method::PUT, &format!("/v1/keys/{foo}/policy"), admin, Some(json!({ "grants": [] }))).await).await;
    assert_eq!((code, p), (200, json!({ "grants": [] })));
    assert_eq!(op(&s, a, &foo, "encrypt", json!({ "plaintext": "AA==" })).await.0, 403);
    let bad = json!({ "grants": [{ "identity": { "type": "cert" }, "operations": ["sign"] }] });
    assert_eq!(send(&s, Method::PUT, &format!("/v1/keys/{foo}/policy"), admin, Some(bad)).await.status().as_u16(), 400);
}

#[tokio::test]
async fn grants_by_project_and_by_role() {
    let s = common::start().await;
    let (p1, p2, p3) = (common::project(), common::project(), common::project());
    let admin = Who { project: &p1, roles: "admin", user: Some("adm") };
    let _ = (&p2, &p3, admin);
    let grants = json!({ "grants": [
        { "identity": { "type": "project", "id": p2 }, "operations": ["encrypt"] },
        { "identity": { "type": "role", "name": "Decryptor" }, "operations": ["decrypt"] },
    ] });
    let (k, _) = create_key(&s, admin, "aes256-gcm", json!({ "policy": grants })).await;
    let (w2, w3) = (Who { project: &p2, roles: "workload", user: Some("x") }, Who { project: &p3, roles: "workload", user: Some("x") });
    let (code, v) = op(&s, w2, &k, "encrypt", json!({ "plaintext": b64(b"shared") })).await;
    assert_eq!(code, 200, "p2 shares the key for encryption: {v}");
    assert_eq!(op(&s, w3, &k, "encrypt", json!({ "plaintext": "AA==" })).await.0, 403);
    let ct = v["ciphertext"].clone();
    let decryptor = Who { project: &p1, roles: "decryptor", user: Some("y") };
    assert_eq!(op(&s, decryptor, &k, "decrypt", json!({ "ciphertext": ct })).await.0, 200, "roles compare case-insensitively");
    let elsewhere = Who { project: &p2, roles: "decryptor", user: Some("y") };
    assert_eq!(op(&s, elsewhere, &k, "decrypt", json!({ "ciphertext": ct })).await.0, 403, "a role counts only in the key's project");
}

#[tokio::test]
async fn creators_administer_their_own_keys_only() {
    let s = common::start().await;
    let (p1, p2, p3) = (common::project(), common::project(), common::project());
    let admin = Who { project: &p1, roles: "admin", user: Some("adm") };
    let _ = (&p2, &p3, admin);
    let owner = Who { project: &p1, roles: "creator", user: Some("u1") };
    let peer = Who { project: &p1, roles: "creator", user: Some("u2") };
    let reader = Who { project: &p1, roles: "observer", user: Some("u3") };
    let (k, _) = create_key(&s, owner, "aes256-gcm", json!({})).await;
    assert_eq!(op(&s, owner, &k, "encrypt", json!({ "plaintext": "AA==" })).await.0, 200);
    assert_eq!(send(&s, Method::POST, &format!("/v1/keys/{k}/rotate"), owner, None).await.status().as_u16(), 200);
    assert_eq!(op(&s, peer, &k, "encrypt", json!({ "plaintext": "AA==" })).await.0, 403, "another creator");
    assert_eq!(send(&s, Method::GET, &format!("/v1/keys/{k}"), peer, None).await.status().as_u16(), 200, "project members may describe");
    assert_eq!(send(&s, Method::GET, &format!("/v1/keys/{k}"), reader, None).await.status().as_u16(), 200);
    assert_eq!(op(&s, reader, &k, "encrypt", json!({ "plaintext": "AA==" })).await.0, 403);
    assert_eq!(send(&s, Method::POST, "/v1/keys", reader, Some(json!({ "name": "n", "type": "aes256-gcm" }))).await.status().as_u16(), 403, "observers create nothing");
    assert_eq!(op(&s, admin, &k, "encrypt", json!({ "plaintext": "AA==" })).await.0, 200, "the project admin");
}

#[tokio::test]
async fn secure_rbac_defaults() {
    let s = common::start_with(|c| c.oslo_policy.enforce_new_defaults = true).await;
    let p1 = common::project();
    let member = Who { project: &p1, roles: "member,reader", user: Some("m1") };
    let reader = Who { project: &p1, roles: "reader", user: Some("r1") };
    let (k, _) = create_key(&s, member, "aes256-gcm", json!({})).await;
    assert_eq!(op(&s, member, &k, "encrypt", json!({ "plaintext": "AA==" })).await.0, 200, "the member who made it");
    assert_eq!(send(&s, Method::GET, &format!("/v1/keys/{k}"), reader, None).await.status().as_u16(), 200);
    assert_eq!(op(&s, reader, &k, "encrypt", json!({ "plaintext": "AA==" })).await.0, 403);
    let grant = json!({ "grants": [user_grant("r1", &["encrypt"])] });
    assert_eq!(send(&s, Method::PUT, &format!("/v1/keys/{k}/policy"), member, Some(grant)).await.status().as_u16(), 200);
    assert_eq!(op(&s, reader, &k, "encrypt", json!({ "plaintext": "AA==" })).await.0, 200, "granted");
    let creator = Who { project: &p1, roles: "creator", user: Some("c1") };
    assert_eq!(send(&s, Method::POST, "/v1/keys", creator, Some(json!({ "name": "n", "type": "aes256-gcm" }))).await.status().as_u16(), 403, "legacy roles do not count");
}
