//! Managed keys of sensitivity high over HTTP, with the TPM provider: made and run inside the
//! TPM (HMAC, ECDSA and RSA signing); types the TPM cannot run are refused with a clear error;
//! nothing exports them.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

use crate::tpm_common::{Site, Swtpm};

async fn post(srv: &crate::tpm_common::Server, path: &str, body: Value) -> (u16, Value) {
    let r = srv.http.post(format!("{}{path}", srv.base)).header("X-Project-Id", "tpm-keys").json(&body).send().await.unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

#[actix_web::test]
async fn high_keys_run_inside_the_tpm() {
    let tpm = Swtpm::start();
    let dir = tempfile::tempdir().unwrap();
    let site = Site::new(dir.path(), &tpm.tcti, &[], None);
    site.cli_ok(&["kek", "init"]);
    let srv = site.serve(|_| {}).await.expect("server starts");
    let b64 = |b: &[u8]| B64.encode(b);

    // HMAC inside the TPM: stable tags, constant-time verify, never exported.
    let (code, k) = post(&srv, "/v1/keys", json!({ "name": "h", "type": "hmac-sha256", "sensitivity": "high" })).await;
    assert_eq!(code, 201, "{k}");
    assert_eq!(k["sensitivity"], "high");
    let id = k["key_ref"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let (code, t1) = post(&srv, &format!("/v1/keys/{id}/hmac"), json!({ "input": b64(b"m") })).await;
    assert_eq!(code, 200, "{t1}");
    let (_, t2) = post(&srv, &format!("/v1/keys/{id}/hmac"), json!({ "input": b64(b"m") })).await;
    assert_eq!(t1["hmac"], t2["hmac"], "HMAC is deterministic");
    let (_, v) = post(&srv, &format!("/v1/keys/{id}/verify"), json!({ "input": b64(b"m"), "hmac": t1["hmac"] })).await;
    assert_eq!(v["valid"], true);
    let (_, v) = post(&srv, &format!("/v1/keys/{id}/verify"), json!({ "input": b64(b"n"), "hmac": t1["hmac"] })).await;
    assert_eq!(v["valid"], false);
    let r = srv.http.get(format!("{}/v1/keys/{id}/export", srv.base)).header("X-Project-Id", "tpm-keys").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403, "a high key never leaves");
    // A rotation makes the next version inside the TPM too; the old tag still verifies.
    let (code, _) = post(&srv, &format!("/v1/keys/{id}/rotate"), json!({})).await;
    assert_eq!(code, 200);
    let (_, t3) = post(&srv, &format!("/v1/keys/{id}/hmac"), json!({ "input": b64(b"m") })).await;
    assert!(t3["hmac"].as_str().unwrap().starts_with("pcs:v2:"), "{t3}");
    assert_ne!(t3["hmac"], t1["hmac"]);
    let (_, v) = post(&srv, &format!("/v1/keys/{id}/verify"), json!({ "input": b64(b"m"), "hmac": t1["hmac"] })).await;
    assert_eq!(v["valid"], true, "version 1 still verifies");

    // ECDSA and RSA signing inside the TPM, verified with the published public half.
    for (t, params) in [("ecdsa-p256", json!({})), ("rsa-2048", json!({ "signature_algorithm": "pkcs1v15" }))] {
        let (code, k) = post(&srv, "/v1/keys", json!({ "name": "s", "type": t, "sensitivity": "high" })).await;
        assert_eq!(code, 201, "{t}: {k}");
        assert!(k["versions"][0]["public_key"].as_str().unwrap().starts_with("-----BEGIN PUBLIC KEY-----"));
        let id = k["key_ref"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
        let mut body = params.clone();
        body["input"] = json!(b64(b"release"));
        let (code, s) = post(&srv, &format!("/v1/keys/{id}/sign"), body.clone()).await;
        assert_eq!(code, 200, "{t}: {s}");
        body["signature"] = s["signature"].clone();
        let (_, v) = post(&srv, &format!("/v1/keys/{id}/verify"), body.clone()).await;
        assert_eq!(v["valid"], true, "{t}");
        body["input"] = json!(b64(b"relaese"));
        let (_, v) = post(&srv, &format!("/v1/keys/{id}/verify"), body).await;
        assert_eq!(v["valid"], false, "{t}");
        let (code, e) = post(&srv, &format!("/v1/keys/{id}/encrypt"), json!({ "plaintext": "AA==" })).await;
        if t.starts_with("rsa") {
            assert_eq!(code, 400, "{e}");
            assert!(e["description"].as_str().unwrap().contains("root of trust"), "{e}");
        }
    }

    // Types the TPM cannot run are refused, and nothing is stored.
    for t in ["aes256-gcm", "chacha20-poly1305", "ed25519"] {
        let (code, e) = post(&srv, "/v1/keys", json!({ "name": "x", "type": t, "sensitivity": "high" })).await;
        assert_eq!(code, 400, "{t}: {e}");
        assert!(e["description"].as_str().unwrap().contains(t), "{t}: {e}");
    }
    let r = srv.http.get(format!("{}/v1/keys?name=x", srv.base)).header("X-Project-Id", "tpm-keys").send().await.unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["total"], 0, "{v}");
    srv.stop().await;
}
