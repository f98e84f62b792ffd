//! `/v1/keys`: managed keys (issue 12). Shared helpers for the key suites.

mod lifecycle;
mod operations;
mod policy;
mod at_rest;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use reqwest::{Method, Response};
use serde_json::{json, Value};

use crate::common::who::{call, Who};
use crate::common::TestServer;

pub fn b64(b: &[u8]) -> String {
    B64.encode(b)
}

pub fn unb64(v: &Value) -> Vec<u8> {
    B64.decode(v.as_str().unwrap_or_else(|| panic!("base64 string: {v}"))).expect("base64")
}

/// POST/PUT/GET with a JSON body (or none) as `w`.
pub async fn send(s: &TestServer, m: Method, path: &str, w: Who<'_>, body: Option<Value>) -> Response {
    let mut rb = call(s, m, path, w);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    rb.send().await.unwrap()
}

/// The status and JSON body of a request.
pub async fn json_of(r: Response) -> (u16, Value) {
    let code = r.status().as_u16();
    let text = r.text().await.unwrap();
    (code, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Creates a key (201 expected); returns its id and representation.
pub async fn create_key(s: &TestServer, w: Who<'_>, key_type: &str, extra: Value) -> (String, Value) {
    let mut body = json!({ "name": format!("k-{key_type}"), "type": key_type });
    if let Value::Object(m) = extra {
        for (k, v) in m {
            body[k] = v;
        }
    }
    let (code, v) = json_of(send(s, Method::POST, "/v1/keys", w, Some(body)).await).await;
    assert_eq!(code, 201, "create {key_type}: {v}");
    let href = v["key_ref"].as_str().unwrap_or_else(|| panic!("key_ref: {v}"));
    (crate::common::who::id_of(href), v)
}

/// `POST /v1/keys/{id}/{op}` as `w`: status and body.
pub async fn op(s: &TestServer, w: Who<'_>, id: &str, op: &str, body: Value) -> (u16, Value) {
    json_of(send(s, Method::POST, &format!("/v1/keys/{id}/{op}"), w, Some(body)).await).await
}

/// Encrypts `plain` (200 expected); returns the ciphertext string.
pub async fn encrypt(s: &TestServer, w: Who<'_>, id: &str, plain: &[u8]) -> String {
    let (code, v) = op(s, w, id, "encrypt", json!({ "plaintext": b64(plain) })).await;
    assert_eq!(code, 200, "encrypt: {v}");
    v["ciphertext"].as_str().unwrap().to_string()
}

/// Decrypts (200 expected); returns the plaintext.
pub async fn decrypt(s: &TestServer, w: Who<'_>, id: &str, ct: &str) -> Vec<u8> {
    let (code, v) = op(s, w, id, "decrypt", json!({ "ciphertext": ct })).await;
    assert_eq!(code, 200, "decrypt: {v}");
    unb64(&v["plaintext"])
}
