//! Operations: encrypt/decrypt/rewrap, data keys, sign/verify, HMAC, batches, export, random.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Digest;

use super::{b64, create_key, decrypt, encrypt, json_of, op, send, unb64};
use crate::common;
use crate::common::who::Who;


fn desc(v: &Value) -> &str {
    v["description"].as_str().unwrap_or("")
}

/// Flips one bit inside the base64 body of a `pcs:vN:` string.
fn tamper(s: &str) -> String {
    let (head, body) = s.rsplit_once(':').unwrap();
    let mut b = B64.decode(body).unwrap();
    let i = b.len() / 2;
    b[i] ^= 1;
    format!("{head}:{}", B64.encode(b))
}

#[tokio::test]
async fn aead_round_trips_bind_their_associated_data_and_key() {
    let s = common::start().await;
    let (p1, p2, p3) = (common::project(), common::project(), common::project());
    let admin = Who { project: &p1, roles: "admin", user: Some("adm") };
    let _ = (&p2, &p3, admin);
    for t in ["aes256-gcm", "chacha20-poly1305", "rsa-2048"] {
        let (id, _) = create_key(&s, admin, t, json!({})).await;
        let (other, _) = create_key(&s, admin, t, json!({})).await;
        let ct = encrypt(&s, admin, &id, b"attack at dawn").await;
        assert!(ct.starts_with("pcs:v1:"), "{t}: {ct}");
        assert!(!ct.contains("attack"), "{t}");
        assert_eq!(decrypt(&s, admin, &id, &ct).await, b"attack at dawn", "{t}");
        assert_ne!(encrypt(&s, admin, &id, b"attack at dawn").await, ct, "{t}: a fresh nonce or padding each time");
        let (code, v) = op(&s, admin, &id, "decrypt", json!({ "ciphertext": tamper(&ct) })).await;
        assert_eq!(code, 400, "{t}: tampered: {v}");
        assert!(desc(&v).starts_with("Decryption failed"), "{t}: {v}");
        let (code, _) = op(&s, admin, &other, "decrypt", json!({ "ciphertext": ct })).await;
        assert_eq!(code, 400, "{t}: another key's ciphertext");
        let (code, v) = op(&s, admin, &id, "decrypt", json!({ "ciphertext": "vault:v1:AAAA" })).await;
        assert_eq!(code, 400, "{t}: {v}");
        assert!(desc(&v).contains("pcs:v<version>:<base64>"), "{v}");
        let (code, _) = op(&s, admin, &id, "decrypt", json!({ "ciphertext": ct.replacen("pcs:v1:", "pcs:v7:", 1) })).await;
        assert_eq!(code, 404, "{t}: a version the key does not have");
        let (code, _) = op(&s, admin, &id, "encrypt", json!({ "plaintext": "not base64!" })).await;
        assert_eq!(code, 400);
    }
    for t in ["aes256-gcm", "chacha20-poly1305"] {
        let (id, _) = create_key(&s, admin, t, json!({})).await;
        let (code, v) = op(&s, admin, &id, "encrypt", json!({ "plaintext": b64(b"p"), "associated_data": b64(b"volume-1") })).await;
        assert_eq!(code, 200);
        let ct = v["ciphertext"].clone();
        let (code, v) = op(&s, admin, &id, "decrypt", json!({ "ciphertext": ct, "associated_data": b64(b"volume-1") })).await;
        assert_eq!((code, unb64(&v["plaintext"])), (200, b"p".to_vec()), "{t}");
        for wrong in [Some(b64(b"volume-2")), None] {
            let mut body = json!({ "ciphertext": ct });
            if let Some(w) = wrong {
                body["associated_data"] = json!(w);
            }
            let (code, _) = op(&s, admin, &id, "decrypt", body).await;
            assert_eq!(code, 400, "{t}: the associated data is bound");
        }
    }
    let (rsa, _) = create_key(&s, admin, "rsa-2048", json!({})).await;
    let (code, _) = op(&s, admin, &rsa, "encrypt", json!({ "plaintext": b64(b"p"), "associated_data": b64(b"a") })).await;
    assert_eq!(code, 400, "RSA-OAEP takes no associated data");
}

#[tokio::test]
async fn rewrap_moves_a_ciphertext_to_the_newest_version() {
    let s = common::start().await;
    let (p1, p2, p3) = (common::project(), common::project(), common::project());
    let admin = Who { project: &p1, roles: "admin", user: Some("adm") };
    let _ = (&p2, &p3, admin);
    let (id, _) = create_key(&s, admin, "aes256-gcm", json!({})).await;
    let c1 = encrypt(&s, admin, &id, b"payload").await;
    let (code, _) = json_of(send(&s, Method::POST, &format!("/v1/keys/{id}/rotate"), admin, None).await).await;
    assert_eq!(code, 200);
    let (code, v) = op(&s, admin, &id, "rewrap", json!({ "ciphertext": c1 })).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["key_version"], 2);
    let c2 = v["ciphertext"].as_str().unwrap();
    assert!(c2.starts_with("pcs:v2:"));
    assert!(v.get("plaintext").is_none(), "rewrap never shows the plaintext");
    assert_eq!(decrypt(&s, admin, &id, c2).await, b"payload");
}

#[tokio::test]
async fn data_keys_come_wrapped_and_optionally_in_plaintext() {
    let s = common::start().await;
    let (p1, p2, p3) = (common::project(), common::project(), common::project());
    let admin = Who { project: &p1, roles: "admin", user: Some("adm") };
    let _ = (&p2, &p3, admin);
    let (id, _) = create_key(&s, admin, "aes256-gcm", json!({})).await;
    let (code, v) = op(&s, admin, &id, "datakey/plaintext", json!({})).await;
    assert_eq!(code, 200, "{v}");
    let dek = unb64(&v["plaintext"]);
    assert_eq!(dek.len(), 32, "256 bits by default");
    assert_eq!(decrypt(&s, admin, &id, v["ciphertext"].as_str().unwrap()).await, dek, "the wrapped form is that key");
    let (code, v) = op(&s, admin, &id, "datakey/wrapped", json!({ "bits": 128 })).await;
    assert_eq!(code, 200);
    assert!(v.get("plaintext").is_none(), "{v}");
    assert_eq!(decrypt(&s, admin, &id, v["ciphertext"].as_str().unwrap()).await.len(), 16);
    let (code, _) = op(&s, admin, &id, "datakey/wrapped", json!({ "bits": 100 })).await;
    assert_eq!(code, 400);
    let (code, _) = op(&s, admin, &id, "datakey/sideways", json!({})).await;
    assert_eq!(code, 404);
    let (hmac, _) = create_key(&s, admin, "hmac-sha256", json!({})).await;
    let (code, v) = op(&s, admin, &hmac, "datakey/plaintext", json!({})).await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(desc(&v), "hmac-sha256 keys cannot datakey");
}

#[tokio::test]
async fn signatures_verify_and_tampering_does_not() {
    let s = common::start().await;
    let (p1, p2, p3) = (common::project(), common::project(), common::project());
    let admin = Who { project: &p1, roles: "admin", user: Some("adm") };
    let _ = (&p2, &p3, admin);
    let cases: [(&str, Value); 6] = [
        ("rsa-2048", json!({})),
        ("rsa-2048", json!({ "signature_algorithm": "pkcs1v15", "hash_algorithm": "sha2-512" })),
        ("ecdsa-p256", json!({})),
        ("ecdsa-p384", json!({})),
        ("ecdsa-p256", json!({ "hash_algorithm": "sha2-384" })),
        ("ed25519", json!({})),
    ];
    for (t, params) in cases {
        let (id, _) = create_key(&s, admin, t, json!({})).await;
        let mut body = params.clone();
        body["input"] = json!(b64(b"the message"));
        let (code, v) = op(&s, admin, &id, "sign", body.clone()).await;
        assert_eq!(code, 200, "{t} {params}: {v}");
        let sig = v["signature"].as_str().unwrap().to_string();
        assert!(sig.starts_with("pcs:v1:"));
        let mut vb = body.clone();
        vb["signature"] = json!(sig);
        let (code, v) = op(&s, admin, &id, "verify", vb.clone()).await;
        assert_eq!((code, v["valid"].clone()), (200, json!(true)), "{t} {params}");
        let mut other = vb.clone();
        other["input"] = json!(b64(b"the massage"));
        assert_eq!(op(&s, admin, &id, "verify", other).await.1["valid"], false, "{t}: another message");
        let mut bad = vb.clone();
        bad["signature"] = json!(tamper(&sig));
        assert_eq!(op(&s, admin, &id, "verify", bad).await.1["valid"], false, "{t}: a tampered signature");
        let (code, _) = op(&s, admin, &id, "encrypt", json!({ "plaintext": "AA==" })).await;
        assert_eq!(code, if t.starts_with("rsa") { 200 } else { 400 }, "{t}: encrypt");
    }
    // Prehashed input: the digest signed is the message's digest.
    for t in ["rsa-2048", "ecdsa-p256"] {
        let (id, _) = create_key(&s, admin, t, json!({})).await;
        let digest = sha2::Sha256::digest(b"big file");
        let (code, v) = op(&s, admin, &id, "sign", json!({ "input": b64(&digest), "prehashed": true })).await;
        assert_eq!(code, 200, "{t}: {v}");
        let (_, v) = op(&s, admin, &id, "verify", json!({ "input": b64(b"big file"), "signature": v["signature"] })).await;
        assert_eq!(v["valid"], true, "{t}: a prehashed signature verifies against the message");
        let (code, _) = op(&s, admin, &id, "sign", json!({ "input": b64(&digest[..20]), "prehashed": true })).await;
        assert_eq!(code, 400, "{t}: a digest of the wrong length");
    }
    let (ed, _) = create_key(&s, admin, "ed25519", json!({})).await;
    let (code, _) = op(&s, admin, &ed, "sign", json!({ "input": b64(&[0u8; 32]), "prehashed": true })).await;
    assert_eq!(code, 400, "Ed25519 signs messages, not digests");
}

#[tokio::test]
async fn ecdsa_signatures_verify_with_openssl_from_the_published_public_key() {
    let s = common::start().await;
    let (p1, p2, p3) = (common::project(), common::project(), common::project());
    let admin = Who { project: &p1, roles: "admin", user: Some("adm") };
    let _ = (&p2, &p3, admin);
    let (id, v) = create_key(&s, admin, "ecdsa-p256", json!({})).await;
    let pem = v["versions"][0]["public_key"].as_str().unwrap();
    let (_, sig) = op(&s, admin, &id, "sign", json!({ "input": b64(b"interop") })).await;
    let raw = B64.decode(sig["signature"].as_str().unwrap().rsplit_once(':').unwrap().1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pub.pem"), pem).unwrap();
    std::fs::write(dir.path().join("sig.der"), &raw).unwrap();
    std::fs::write(dir.path().join("msg"), b"interop").unwrap();
    let out = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.der", "msg"])
        .current_dir(dir.path())
        .output()
        .expect("openssl (installed by scripts/deps.sh)");
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Verified OK"), "{out:?}");
    std::fs::write(dir.path().join("msg"), b"interp").unwrap();
    let out = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.der", "msg"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success(), "openssl refuses another message");
}

#[tokio::test]
async fn hmac_tags_verify_in_constant_time_and_match_the_exported_key() {
    let s = common::start().await;
    let (p1, p2, p3) = (common::project(), common::project(), common::project());
    let admin = Who { project: &p1, roles: "admin", user: Some("adm") };
    let _ = (&p2, &p3, admin);
    for (t, len) in [("hmac-sha256", 32usize), ("hmac-sha512", 64)] {
        let (id, _) = create_key(&s, admin, t, json!({ "sensitivity": "low", "exportable": true })).await;
        let (code, v) = op(&s, admin, &id, "hmac", json!({ "input": b64(b"msg") })).await;
        assert_eq!(code, 200, "{v}");
        let tag = v["hmac"].as_str().unwrap().to_string();
        let raw = B64.decode(tag.rsplit_once(':').unwrap().1).unwrap();
        assert_eq!(raw.len(), len);
        // The tag is the standard HMAC of the exported key.
        let (code, e) = json_of(send(&s, Method::GET, &format!("/v1/keys/{id}/export"), admin, None).await).await;
        assert_eq!(code, 200, "{e}");
        let key = unb64(&e["keys"]["1"]);
        use hmac::Mac;
        let expect = if len == 32 {
            let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
            m.update(b"msg");
            m.finalize().into_bytes().to_vec()
        } else {
            let mut m = hmac::Hmac::<sha2::Sha512>::new_from_slice(&key).unwrap();
            m.update(b"msg");
            m.finalize().into_bytes().to_vec()
        };
        assert_eq!(raw, expect, "{t}");
        let ok = op(&s, admin, &id, "verify", json!({ "input": b64(b"msg"), "hmac": tag })).await;
        assert_eq!(ok.1["valid"], true);
        let bad = op(&s, admin, &id, "verify", json!({ "input": b64(b"msh"), "hmac": tag })).await;
        assert_eq!(bad.1["valid"], false);
        let both = op(&s, admin, &id, "verify", json!({ "input": b64(b"msg"), "hmac": tag, "signature": tag })).await;
        assert_eq!(both.0, 400);
        let (code, v) = op(&s, admin, &id, "sign", json!({ "input": b64(b"msg") })).await;
        assert_eq!((code, desc(&v).to_string()), (400, format!("{t} keys cannot sign")));
    }
}

#[tokio::test]
async fn batches_answer_item_by_item() {
    let s = common::start().await;
    let (p1, p2, p3) = (common::project(), common::project(), common::project());
    let admin = Who { project: &p1, roles: "admin", user: Some("adm") };
    let _ = (&p2, &p3, admin);
    let (id, _) = create_key(&s, admin, "aes256-gcm", json!({})).await;
    let items: Vec<Value> = (0..3).map(|i| json!({ "plaintext": b64(format!("item {i}").as_bytes()) })).collect();
    let (code, v) = op(&s, admin, &id, "encrypt", json!({ "batch_input": items })).await;
    assert_eq!(code, 200, "{v}");
    let results = v["batch_results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    let mut dec: Vec<Value> = results.iter().map(|r| json!({ "ciphertext": r["ciphertext"] })).collect();
    dec.insert(1, json!({ "ciphertext": "pcs:v1:AAAA" }));
    let r = send(&s, Method::POST, &format!("/v1/keys/{id}/decrypt"), admin, Some(json!({ "batch_input": dec.clone() }))).await;
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store", "a batch of plaintexts is not cached either");
    assert_eq!(r.headers().get("content-type").unwrap(), "application/json");
    let (code, v) = op(&s, admin, &id, "decrypt", json!({ "batch_input": dec })).await;
    assert_eq!(code, 200, "one bad item does not fail the batch: {v}");
    let r = v["batch_results"].as_array().unwrap();
    assert_eq!(r.len(), 4);
    assert_eq!(unb64(&r[0]["plaintext"]), b"item 0");
    assert!(r[1]["error"].as_str().unwrap().starts_with("Decryption failed"), "{v}");
    assert!(r[1].get("plaintext").is_none());
    assert_eq!(unb64(&r[3]["plaintext"]), b"item 2");
    for bad in [json!({ "batch_input": [] }), json!({ "batch_input": {} }), json!({ "batch_input": [{ "plaintext": "AA==" }], "plaintext": "AA==" })] {
        assert_eq!(op(&s, admin, &id, "encrypt", bad.clone()).await.0, 400, "{bad}");
    }
    let (code, _) = op(&s, admin, &id, "encrypt", json!({ "batch_input": [{ "plaintext": "!!" }] })).await;
    assert_eq!(code, 400, "a malformed item fails validation before anything runs");
}

#[tokio::test]
async fn export_only_for_low_exportable_keys_and_the_material_is_the_key() {
    let s = common::start().await;
    let (p1, p2, p3) = (common::project(), common::project(), common::project());
    let admin = Who { project: &p1, roles: "admin", user: Some("adm") };
    let _ = (&p2, &p3, admin);
    let (id, _) = create_key(&s, admin, "aes256-gcm", json!({ "sensitivity": "low", "exportable": true })).await;
    let ct = encrypt(&s, admin, &id, b"decrypt me elsewhere").await;
    let r = send(&s, Method::GET, &format!("/v1/keys/{id}/export"), admin, None).await;
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
    let (code, v) = json_of(r).await;
    assert_eq!(code, 200, "{v}");
    let key = unb64(&v["keys"]["1"]);
    // nonce(12) || ciphertext || tag under the exported key.
    use aes_gcm::aead::{Aead, KeyInit};
    let raw = B64.decode(ct.rsplit_once(':').unwrap().1).unwrap();
    let cipher = aes_gcm::Aes256Gcm::new_from_slice(&key).unwrap();
    let plain = cipher.decrypt(aes_gcm::Nonce::from_slice(&raw[..12]), &raw[12..]).unwrap();
    assert_eq!(plain, b"decrypt me elsewhere");
    let (medium, _) = create_key(&s, admin, "aes256-gcm", json!({})).await;
    let (low_closed, _) = create_key(&s, admin, "aes256-gcm", json!({ "sensitivity": "low" })).await;
    for k in [medium, low_closed] {
        let (code, v) = json_of(send(&s, Method::GET, &format!("/v1/keys/{k}/export"), admin, None).await).await;
        assert_eq!(code, 403, "{v}");
        assert!(desc(&v).contains("not exportable"), "{v}");
    }
}

#[tokio::test]
async fn random_bytes() {
    let s = common::start().await;
    let (p1, p2, p3) = (common::project(), common::project(), common::project());
    let admin = Who { project: &p1, roles: "admin", user: Some("adm") };
    let _ = (&p2, &p3, admin);
    let (code, v) = json_of(send(&s, Method::POST, "/v1/random", admin, Some(json!({ "bytes": 16 }))).await).await;
    assert_eq!(code, 200, "{v}");
    let a = unb64(&v["random_bytes"]);
    assert_eq!(a.len(), 16);
    let (_, v) = json_of(send(&s, Method::POST, "/v1/random", admin, Some(json!({ "bytes": 16 }))).await).await;
    assert_ne!(unb64(&v["random_bytes"]), a);
    for bad in [json!({ "bytes": 0 }), json!({ "bytes": 4096 }), json!({ "bytes": "8" }), json!({ "count": 8 })] {
        assert_eq!(json_of(send(&s, Method::POST, "/v1/random", admin, Some(bad.clone())).await).await.0, 400, "{bad}");
    }
}
