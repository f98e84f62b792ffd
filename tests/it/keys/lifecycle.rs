//! Creating, listing, describing, rotating, tightening and deleting managed keys.

use reqwest::Method;
use serde_json::json;

use super::{create_key, decrypt, encrypt, json_of, op, send};
use crate::common;
use crate::common::who::{expect, who, Who};


#[tokio::test]
async fn every_type_is_made_with_version_one_and_shows_no_material() {
    let s = common::start().await;
    let (p1, p2, p3) = (common::project(), common::project(), common::project());
    let admin = Who { project: &p1, roles: "admin", user: Some("adm") };
    let _ = (&p2, &p3, admin);
    for t in ["aes256-gcm", "chacha20-poly1305", "hmac-sha256", "hmac-sha512", "rsa-2048", "ecdsa-p256", "ecdsa-p384", "ed25519"] {
        let r = send(&s, Method::POST, "/v1/keys", admin, Some(json!({ "name": "n1", "type": t }))).await;
        let loc = r.headers().get("location").map(|h| h.to_str().unwrap().to_string());
        let (code, v) = json_of(r).await;
        assert_eq!(code, 201, "{t}: {v}");
        assert_eq!(loc.as_deref(), v["key_ref"].as_str(), "Location is the key_ref");
        assert_eq!(v["type"], t);
        assert_eq!(v["name"], "n1");
        assert_eq!(v["sensitivity"], "medium", "medium by default: the key never leaves");
        assert_eq!(v["exportable"], false);
        assert_eq!(v["deletion_allowed"], false);
        assert_eq!(v["latest_version"], 1);
        assert_eq!(v["creator_id"], "adm");
        let versions = v["versions"].as_array().unwrap();
        assert_eq!(versions.len(), 1);
        let asymmetric = t.starts_with("rsa") || t.starts_with("ec") || t == "ed25519";
        let pem = versions[0]["public_key"].as_str();
        assert_eq!(pem.is_some(), asymmetric, "{t}: public half only for asymmetric types");
        if let Some(pem) = pem {
            assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
            assert!(!pem.contains("PRIVATE"));
        }
        for k in ["material", "key", "keys", "private_key"] {
            assert!(v.get(k).is_none(), "{t}: {k} in {v}");
        }
        let id = crate::common::who::id_of(v["key_ref"].as_str().unwrap());
        let (code, got) = json_of(send(&s, Method::GET, &format!("/v1/keys/{id}"), admin, None).await).await;
        assert_eq!(code, 200);
        assert_eq!(got["versions"], v["versions"]);
    }
}

#[tokio::test]
async fn bad_creations_are_refused_with_clear_errors_and_leave_nothing() {
    let s = common::start().await;
    let (p1, p2, p3) = (common::project(), common::project(), common::project());
    let admin = Who { project: &p1, roles: "admin", user: Some("adm") };
    let _ = (&p2, &p3, admin);
    let cases = [
        (json!({ "name": "x" }), "'type' is required."),
        (json!({ "name": "x", "type": "aes-128-cbc" }), "'type' must be one of"),
        (json!({ "type": "aes256-gcm" }), "'name' is required."),
        (json!({ "name": "x", "type": "aes256-gcm", "colour": "red" }), "Unknown property 'colour'"),
        (json!({ "name": "x", "type": "aes256-gcm", "sensitivity": "extreme" }), "'sensitivity' must be one of"),
        (json!({ "name": "x", "type": "aes256-gcm", "exportable": true }), "Only keys of sensitivity low can be exportable."),
        (json!({ "name": "x", "type": "aes256-gcm", "auto_rotate_period": -5 }), "'auto_rotate_period' must be an integer"),
        (json!({ "name": "x", "type": "aes256-gcm", "policy": { "grants": [{ "identity": { "type": "user" }, "operations": ["encrypt"] }] } }), "A grant's identity is invalid"),
        (json!({ "name": "x", "type": "aes256-gcm", "policy": { "grants": [{ "identity": { "type": "user", "id": "u" }, "operations": ["fly"] }] } }), "Unknown operation"),
        // The test server's master KEK is the development file: no root of trust.
        (json!({ "name": "x", "type": "hmac-sha256", "sensitivity": "high" }), "keys of sensitivity high need a root of trust"),
    ];
    for (body, msg) in cases {
        let (code, v) = json_of(send(&s, Method::POST, "/v1/keys", admin, Some(body.clone())).await).await;
        assert_eq!(code, 400, "{body}: {v}");
        assert!(v["description"].as_str().unwrap_or("").contains(msg), "{body}: {v}");
        assert_eq!(v["code"], 400);
    }
    let r = crate::common::who::call(&s, Method::POST, "/v1/keys", admin).header("content-type", "text/plain").body("{}").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 415);
    let (_, list) = json_of(send(&s, Method::GET, "/v1/keys", admin, None).await).await;
    assert_eq!(list["total"], 0, "nothing was written: {list}");
}

#[tokio::test]
async fn lists_page_filter_and_stay_in_the_project() {
    let s = common::start().await;
    let (p1, p2, p3) = (common::project(), common::project(), common::project());
    let admin = Who { project: &p1, roles: "admin", user: Some("adm") };
    let _ = (&p2, &p3, admin);
    for i in 0..5 {
        let (c, _) = json_of(send(&s, Method::POST, "/v1/keys", admin, Some(json!({ "name": format!("n{}", i % 2), "type": "aes256-gcm" }))).await).await;
        assert_eq!(c, 201);
    }
    let other = Who { project: &p2, roles: "admin", user: Some("adm2") };
    create_key(&s, other, "hmac-sha256", json!({})).await;
    let (code, v) = json_of(send(&s, Method::GET, "/v1/keys?limit=2&offset=1", admin, None).await).await;
    assert_eq!(code, 200);
    assert_eq!(v["total"], 5);
    assert_eq!(v["keys"].as_array().unwrap().len(), 2);
    assert!(v["next"].as_str().unwrap().contains("offset=3"), "{v}");
    assert!(v["previous"].as_str().unwrap().contains("offset=0"), "{v}");
    assert!(v["keys"][0].get("versions").is_none(), "the list shows settings, not versions");
    let (_, v) = json_of(send(&s, Method::GET, "/v1/keys?name=n0", admin, None).await).await;
    assert_eq!(v["total"], 3);
    assert!(v["keys"].as_array().unwrap().iter().all(|k| k["name"] == "n0"));
    let (_, v) = json_of(send(&s, Method::GET, "/v1/keys", other, None).await).await;
    assert_eq!(v["total"], 1, "p2 sees only its own key");
    assert_eq!(v["keys"][0]["type"], "hmac-sha256");
}

#[tokio::test]
async fn unknown_and_foreign_keys() {
    let s = common::start().await;
    let (p1, p2, p3) = (common::project(), common::project(), common::project());
    let admin = Who { project: &p1, roles: "admin", user: Some("adm") };
    let _ = (&p2, &p3, admin);
    let (id, _) = create_key(&s, admin, "aes256-gcm", json!({})).await;
    expect(crate::common::who::call(&s, Method::GET, "/v1/keys/not-a-uuid", admin), 404, "Not Found. Provided key id is invalid.").await;
    let missing = uuid::Uuid::new_v4();
    expect(crate::common::who::call(&s, Method::GET, &format!("/v1/keys/{missing}"), admin), 404, "Not Found. Key not found.").await;
    let foreign = Who { project: &p2, roles: "admin", user: Some("adm2") };
    expect(crate::common::who::call(&s, Method::GET, &format!("/v1/keys/{id}"), foreign), 403, &crate::common::who::denied("Key retrieval")).await;
    let (code, _) = op(&s, foreign, &id, "encrypt", json!({ "plaintext": "AA==" })).await;
    assert_eq!(code, 403, "another project's admin cannot use the key");
    // Routing errors inside the keys scope keep Barbican's shapes.
    let r = send(&s, Method::DELETE, &format!("/v1/keys/{id}/encrypt"), admin, None).await;
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.headers().get("allow").and_then(|v| v.to_str().ok()), Some("POST"));
    let r = send(&s, Method::PATCH, &format!("/v1/keys/{id}"), admin, None).await;
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(send(&s, Method::GET, &format!("/v1/keys/{id}/nothing"), admin, None).await.status().as_u16(), 404);
    assert_eq!(send(&s, Method::GET, "/v1/keysnothing", admin, None).await.status().as_u16(), 404);
}

#[tokio::test]
async fn rotation_keeps_old_versions_until_retired() {
    let s = common::start().await;
    let (p1, p2, p3) = (common::project(), common::project(), common::project());
    let admin = Who { project: &p1, roles: "admin", user: Some("adm") };
    let _ = (&p2, &p3, admin);
    let (id, _) = create_key(&s, admin, "aes256-gcm", json!({})).await;
    let c1 = encrypt(&s, admin, &id, b"first").await;
    assert!(c1.starts_with("pcs:v1:"), "{c1}");
    let (code, v) = json_of(send(&s, Method::POST, &format!("/v1/keys/{id}/rotate"), admin, None).await).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["latest_version"], 2);
    assert_eq!(v["versions"].as_array().unwrap().len(), 2);
    let c2 = encrypt(&s, admin, &id, b"second").await;
    assert!(c2.starts_with("pcs:v2:"), "{c2}");
    assert_eq!(decrypt(&s, admin, &id, &c1).await, b"first", "the old version still decrypts");
    // An explicit older version may still encrypt until min_encryption_version says otherwise.
    let (code, v) = op(&s, admin, &id, "encrypt", json!({ "plaintext": "AA==", "key_version": 1 })).await;
    assert_eq!((code, v["key_version"].clone()), (200, json!(1)), "{v}");
    // Retire version 1.
    let path = format!("/v1/keys/{id}");
    let put = |b| send(&s, Method::PUT, &path, admin, Some(b));
    let (code, v) = json_of(put(json!({ "min_decryption_version": 2 })).await).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["min_decryption_version"], 2);
    let (code, v) = op(&s, admin, &id, "decrypt", json!({ "ciphertext": c1 })).await;
    assert_eq!(code, 404, "a retired version no longer decrypts: {v}");
    let (code, _) = op(&s, admin, &id, "encrypt", json!({ "plaintext": "AA==", "key_version": 1 })).await;
    assert_eq!(code, 400, "nor encrypts");
    assert_eq!(decrypt(&s, admin, &id, &c2).await, b"second");
    let (code, v) = json_of(put(json!({ "min_decryption_version": 3 })).await).await;
    assert_eq!(code, 400, "beyond the current version: {v}");
    // Re-enabling a version that still exists is allowed (it was not deleted).
    let (code, _) = json_of(put(json!({ "min_decryption_version": 1 })).await).await;
    assert_eq!(code, 200);
    assert_eq!(decrypt(&s, admin, &id, &c1).await, b"first");
}

#[tokio::test]
async fn concurrent_rotations_leave_contiguous_versions() {
    let s = common::start().await;
    let (p1, p2, p3) = (common::project(), common::project(), common::project());
    let admin = Who { project: &p1, roles: "admin", user: Some("adm") };
    let _ = (&p2, &p3, admin);
    let (id, _) = create_key(&s, admin, "hmac-sha256", json!({})).await;
    let path = format!("/v1/keys/{id}/rotate");
    let rs = futures_util::future::join_all((0..6).map(|_| send(&s, Method::POST, &path, admin, None))).await;
    assert!(rs.iter().all(|r| r.status().as_u16() == 200));
    let (_, v) = json_of(send(&s, Method::GET, &format!("/v1/keys/{id}"), admin, None).await).await;
    let latest = v["latest_version"].as_i64().unwrap();
    let versions: Vec<i64> = v["versions"].as_array().unwrap().iter().map(|x| x["version"].as_i64().unwrap()).collect();
    assert_eq!(versions, (1..=latest).collect::<Vec<_>>(), "no gap, no duplicate");
    assert!(latest >= 2);
}

#[tokio::test]
async fn auto_rotation_makes_a_new_version_once_the_period_passed() {
    let s = common::start().await;
    let (p1, p2, p3) = (common::project(), common::project(), common::project());
    let admin = Who { project: &p1, roles: "admin", user: Some("adm") };
    let _ = (&p2, &p3, admin);
    let (id, v) = create_key(&s, admin, "aes256-gcm", json!({ "auto_rotate_period": 1 })).await;
    assert_eq!(v["auto_rotate_period"], 1);
    let c1 = encrypt(&s, admin, &id, b"x").await;
    assert!(c1.starts_with("pcs:v1:"));
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let c2 = encrypt(&s, admin, &id, b"y").await;
    assert!(c2.starts_with("pcs:v2:"), "rotated on use after the period: {c2}");
    assert_eq!(decrypt(&s, admin, &id, &c1).await, b"x");
    let (_, v) = json_of(send(&s, Method::PUT, &format!("/v1/keys/{id}"), admin, Some(json!({ "auto_rotate_period": 0 }))).await).await;
    assert_eq!(v["auto_rotate_period"], serde_json::Value::Null, "0 turns it off");
}

#[tokio::test]
async fn sensitivity_and_exportable_only_tighten() {
    let s = common::start().await;
    let (p1, p2, p3) = (common::project(), common::project(), common::project());
    let admin = Who { project: &p1, roles: "admin", user: Some("adm") };
    let _ = (&p2, &p3, admin);
    let (id, _) = create_key(&s, admin, "aes256-gcm", json!({ "sensitivity": "low", "exportable": true })).await;
    let path = format!("/v1/keys/{id}");
    let put = |b| send(&s, Method::PUT, &path, admin, Some(b));
    let (code, v) = json_of(put(json!({ "sensitivity": "high" })).await).await;
    assert_eq!(code, 400, "{v}");
    assert!(v["description"].as_str().unwrap().contains("cannot move into it"), "{v}");
    let (code, v) = json_of(put(json!({ "exportable": false })).await).await;
    assert_eq!((code, v["exportable"].clone()), (200, json!(false)));
    let (code, v) = json_of(put(json!({ "exportable": true })).await).await;
    assert_eq!(code, 400, "never loosened: {v}");
    let (code, v) = json_of(put(json!({ "sensitivity": "medium" })).await).await;
    assert_eq!((code, v["sensitivity"].clone()), (200, json!("medium")));
    let (code, v) = json_of(put(json!({ "sensitivity": "low" })).await).await;
    assert_eq!(code, 400, "never lowered: {v}");
    let (code, _) = json_of(put(json!({ "colour": "red" })).await).await;
    assert_eq!(code, 400);
    let (_, v) = json_of(send(&s, Method::GET, &format!("/v1/keys/{id}"), admin, None).await).await;
    assert_eq!((v["sensitivity"].clone(), v["exportable"].clone()), (json!("medium"), json!(false)), "refusals changed nothing");
    // Raising the sensitivity takes export away with it.
    let (id2, _) = create_key(&s, admin, "aes256-gcm", json!({ "sensitivity": "low", "exportable": true })).await;
    let (_, v) = json_of(send(&s, Method::PUT, &format!("/v1/keys/{id2}"), admin, Some(json!({ "sensitivity": "medium" }))).await).await;
    assert_eq!(v["exportable"], false);
}

#[tokio::test]
async fn deletion_needs_deletion_allowed_first() {
    let s = common::start().await;
    let (p1, p2, p3) = (common::project(), common::project(), common::project());
    let admin = Who { project: &p1, roles: "admin", user: Some("adm") };
    let _ = (&p2, &p3, admin);
    let (id, _) = create_key(&s, admin, "aes256-gcm", json!({})).await;
    let ct = encrypt(&s, admin, &id, b"gone").await;
    let path = format!("/v1/keys/{id}");
    expect(crate::common::who::call(&s, Method::DELETE, &path, admin), 409, "Conflict. Set deletion_allowed on the key before deleting it.").await;
    assert_eq!(decrypt(&s, admin, &id, &ct).await, b"gone", "still there");
    let (code, _) = json_of(send(&s, Method::PUT, &path, admin, Some(json!({ "deletion_allowed": true }))).await).await;
    assert_eq!(code, 200);
    let r = send(&s, Method::DELETE, &path, admin, None).await;
    assert_eq!(r.status().as_u16(), 204);
    expect(crate::common::who::call(&s, Method::GET, &path, admin), 404, "Not Found. Key not found.").await;
    let (code, _) = op(&s, admin, &id, "decrypt", json!({ "ciphertext": ct })).await;
    assert_eq!(code, 404);
    let mut conn = crate::common::who::db(&s);
    use diesel::prelude::*;
    let left: i64 = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM managed_key_versions WHERE key_id = '{id}'"))
        .get_result::<Count>(&mut conn)
        .unwrap()
        .n;
    assert_eq!(left, 0, "every version's material is gone");
    let _ = who;
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[tokio::test]
async fn the_keys_quota_caps_a_projects_keys() {
    let s = common::start_with(|c| c.quotas.quota_keys = 2).await;
    let (p1, p2) = (common::project(), common::project());
    let admin = Who { project: &p1, roles: "admin", user: Some("adm") };
    let other = Who { project: &p2, roles: "admin", user: Some("adm") };
    let (first, _) = create_key(&s, admin, "aes256-gcm", json!({})).await;
    create_key(&s, admin, "hmac-sha256", json!({})).await;
    let body = json!({ "name": "third", "type": "aes256-gcm" });
    let r = send(&s, Method::POST, "/v1/keys", admin, Some(body.clone())).await;
    let (code, v) = json_of(r).await;
    assert_eq!((code, v["description"].clone()), (403, json!("Key creation issue seen - Creation not allowed because a quota has been reached.")), "{v}");
    let (_, listed) = json_of(send(&s, Method::GET, "/v1/keys", admin, None).await).await;
    assert_eq!(listed["total"], 2, "the refused key was not stored: {listed}");
    // Another project has its own count.
    create_key(&s, other, "aes256-gcm", json!({})).await;
    // A deleted key frees its place.
    let path = format!("/v1/keys/{first}");
    assert_eq!(json_of(send(&s, Method::PUT, &path, admin, Some(json!({ "deletion_allowed": true }))).await).await.0, 200);
    assert_eq!(send(&s, Method::DELETE, &path, admin, None).await.status().as_u16(), 204);
    let (code, v) = json_of(send(&s, Method::POST, "/v1/keys", admin, Some(body)).await).await;
    assert_eq!(code, 201, "{v}");
}
