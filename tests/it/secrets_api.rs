//! `/v1/secrets/{id}` and `POST /v1/secrets` (contract §5.2, with §2.3–§2.6 and §4).

use crate::common;
use crate::rawhttp;
use base64::Engine;
use reqwest::{Method, Response};
use serde_json::{json, Value};

const MV: &str = "OpenStack-API-Version";
const SCHEMA: &str = "Provided object does not match schema 'Secret': ";
const NOT_ONE_OF_CT: &str = "payload_content_type is not one of ['text/plain', 'text/plain;charset=utf-8', 'text/plain; charset=utf-8', 'application/octet-stream', 'application/pkcs8']. Invalid property: 'payload_content_type'";
const INVALID_ID: &str = "Not Found. Provided secret id is invalid.";
const NOT_FOUND: &str = "Secret not found.";
const NO_PAYLOAD: &str = "Not Found. Sorry but your secret has no payload.";
const WRONG_CT: &str = "Secret payload retrieval issue seen - Wrong payload content-type.";
const JSON_415: &str = "Unexpected content type. Expected content types are: ['application/json']";
const PUT_415: &str =
    "Unexpected content type. Expected content types are: ['application/octet-stream', 'text/plain']";

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn schema_err(rest: &str) -> String {
    format!("{SCHEMA}{rest}")
}

fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn post_secret(s: &common::TestServer, p: &str, body: &Value) -> Response {
    s.req(Method::POST, "/v1/secrets", p).json(body).send().await.unwrap()
}

async fn post_raw(s: &common::TestServer, p: &str, body: impl Into<reqwest::Body>) -> Response {
    s.req(Method::POST, "/v1/secrets", p).header("Content-Type", "application/json").body(body).send().await.unwrap()
}

async fn get_meta(s: &common::TestServer, p: &str, id: &str) -> Value {
    let r = s.req(Method::GET, &format!("/v1/secrets/{id}"), p).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET secret");
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    r.json().await.unwrap()
}

async fn get_payload(s: &common::TestServer, p: &str, id: &str, accept: &str) -> Response {
    s.req(Method::GET, &format!("/v1/secrets/{id}/payload"), p).header("Accept", accept).send().await.unwrap()
}

/// Payload bytes through `Accept: application/octet-stream`.
async fn payload_bytes(s: &common::TestServer, p: &str, id: &str) -> Vec<u8> {
    let r = get_payload(s, p, id, "application/octet-stream").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), Some("application/octet-stream"));
    r.bytes().await.unwrap().to_vec()
}

async fn put_payload(s: &common::TestServer, p: &str, id: &str, ct: Option<&str>, enc: Option<&str>, body: Vec<u8>) -> Response {
    let mut rb = s.req(Method::PUT, &format!("/v1/secrets/{id}"), p).body(body);
    if let Some(ct) = ct {
        rb = rb.header("Content-Type", ct);
    }
    if let Some(enc) = enc {
        rb = rb.header("Content-Encoding", enc);
    }
    rb.send().await.unwrap()
}

fn in_seconds(secs: i64) -> chrono::NaiveDateTime {
    chrono::Utc::now().naive_utc() + chrono::Duration::seconds(secs)
}

/// `YYYY-MM-DDTHH:MM:SS` with an optional 6-digit fraction, no zone (§2.7).
fn assert_timestamp(v: &Value) -> chrono::NaiveDateTime {
    let s = v.as_str().unwrap_or_else(|| panic!("timestamp string: {v}"));
    let b = s.as_bytes();
    let shape_ok = (b.len() == 19 || (b.len() == 26 && b[19] == b'.'))
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            _ => c.is_ascii_digit(),
        });
    assert!(shape_ok, "timestamp format: {s}");
    let t = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").expect("parses");
    if b.len() == 26 {
        assert_ne!(&s[20..], "000000", "fraction only when non-zero: {s}");
    }
    t
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

fn expected_keys(extra: &[&str]) -> Vec<String> {
    let mut k: Vec<String> = [
        "created", "updated", "status", "name", "secret_type", "expiration", "algorithm", "bit_length",
        "mode", "creator_id", "secret_ref",
    ]
    .iter()
    .chain(extra)
    .map(|s| s.to_string())
    .collect();
    k.sort();
    k
}

// ---- POST /v1/secrets: types and the content-type matrix -----------------------------------

#[actix_web::test]
async fn create_each_secret_type() {
    let s = common::start().await;
    let p = common::project();
    for t in ["symmetric", "passphrase", "private", "public", "certificate", "opaque"] {
        let bytes = format!("material of a {t} secret").into_bytes();
        let id = s
            .create_secret(
                &p,
                json!({"secret_type": t, "payload": b64(&bytes), "payload_content_type": "application/octet-stream",
                       "payload_content_encoding": "base64", "algorithm": "aes", "bit_length": 256, "mode": "cbc"}),
            )
            .await;
        let m = get_meta(&s, &p, &id).await;
        assert_eq!(m["secret_type"], t);
        assert_eq!(m["content_types"], json!({"default": "application/octet-stream"}));
        assert_eq!(payload_bytes(&s, &p, &id).await, bytes, "{t}");
    }
    // Default type.
    let id = s.create_secret(&p, json!({"name": "no type"})).await;
    assert_eq!(get_meta(&s, &p, &id).await["secret_type"], "opaque");
}

#[actix_web::test]
async fn create_response_is_201_with_location_and_secret_ref() {
    let s = common::start().await;
    let p = common::project();
    for path in ["/v1/secrets", "/v1/secrets/"] {
        let r = s.req(Method::POST, path, &p).json(&json!({"name": "x"})).send().await.unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(header(&r, "content-type"), Some("application/json"));
        let loc = header(&r, "location").unwrap().to_string();
        let v: Value = r.json().await.unwrap();
        assert_eq!(keys(&v), vec!["secret_ref"]);
        assert_eq!(v["secret_ref"], loc);
        let id = loc.strip_prefix(&format!("{}/v1/secrets/", s.base)).expect("href under {base}/v1/secrets/");
        let u = uuid::Uuid::parse_str(id).unwrap();
        assert_eq!(u.get_version_num(), 4);
        assert_eq!(u.hyphenated().to_string(), id);
    }
}

#[actix_web::test]
async fn create_text_plain_variants_are_stored_as_text_plain() {
    let s = common::start().await;
    let p = common::project();
    for ct in ["text/plain", "text/plain;charset=utf-8", "text/plain; charset=utf-8", "TEXT/PLAIN; charset=UTF-8"] {
        let id = s.create_secret(&p, json!({"payload": "pässwörd", "payload_content_type": ct})).await;
        let m = get_meta(&s, &p, &id).await;
        assert_eq!(m["content_types"], json!({"default": "text/plain"}), "{ct}");
        let r = get_payload(&s, &p, &id, "text/plain").await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "content-type"), Some("text/plain; charset=UTF-8"));
        assert_eq!(r.text().await.unwrap(), "pässwörd", "{ct}");
        assert_eq!(payload_bytes(&s, &p, &id).await, "pässwörd".as_bytes(), "stored as UTF-8 bytes");
    }
}

#[actix_web::test]
async fn create_binary_content_types_decode_base64() {
    let s = common::start().await;
    let p = common::project();
    let bytes: Vec<u8> = (0..=255u8).rev().collect();
    for ct in ["application/octet-stream", "application/pkcs8"] {
        let id = s
            .create_secret(&p, json!({"payload": b64(&bytes), "payload_content_type": ct, "payload_content_encoding": "base64"}))
            .await;
        let m = get_meta(&s, &p, &id).await;
        assert_eq!(m["content_types"], json!({"default": ct}));
        let r = get_payload(&s, &p, &id, ct).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "content-type"), Some(ct));
        assert_eq!(r.bytes().await.unwrap().to_vec(), bytes, "{ct}");
    }
    // Python's lenient base64: characters outside the alphabet are discarded.
    let id = s
        .create_secret(&p, json!({"payload": "aGVs*bG8=", "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"}))
        .await;
    assert_eq!(payload_bytes(&s, &p, &id).await, b"hello");
}

#[actix_web::test]
async fn create_content_type_and_encoding_errors() {
    let s = common::start().await;
    let p = common::project();
    let cases: Vec<(Value, String)> = vec![
        (json!({"payload": "x", "payload_content_type": "text/plain; charset=iso-8859-1"}), schema_err(NOT_ONE_OF_CT)),
        (json!({"payload": "x", "payload_content_type": "application/json"}), schema_err(NOT_ONE_OF_CT)),
        (json!({"payload": "x", "payload_content_type": "text/html"}), schema_err(NOT_ONE_OF_CT)),
        (
            json!({"payload": "eA==", "payload_content_type": "application/octet-stream"}),
            schema_err("payload_content_encoding is not one of ['base64', 'binary']. Invalid property: 'payload_content_encoding'"),
        ),
        (
            json!({"payload": "eA==", "payload_content_type": "application/pkcs8"}),
            schema_err("payload_content_encoding is not one of ['base64', 'binary']. Invalid property: 'payload_content_encoding'"),
        ),
        (
            json!({"payload": "x", "payload_content_type": "text/plain", "payload_content_encoding": "base64"}),
            schema_err("payload_content_encoding is not one of None. Invalid property: 'payload_content_encoding'"),
        ),
        (
            json!({"payload": "eA==", "payload_content_type": "application/octet-stream", "payload_content_encoding": "BASE64"}),
            schema_err("'BASE64' is not one of ['base64']. Invalid property: 'payload_content_encoding'"),
        ),
        (
            json!({"payload": "eA==", "payload_content_type": "application/octet-stream", "payload_content_encoding": "binary"}),
            schema_err("'binary' is not one of ['base64']. Invalid property: 'payload_content_encoding'"),
        ),
    ];
    for (body, msg) in cases {
        let r = post_secret(&s, &p, &body).await;
        common::assert_error(r, 400, "Bad Request", Some(&msg)).await;
    }
}

// ---- whitespace ------------------------------------------------------------------------------

#[actix_web::test]
async fn one_step_payload_and_name_are_stripped() {
    let s = common::start().await;
    let p = common::project();
    let pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n";
    let id = s
        .create_secret(&p, json!({"name": " \t my name \n", "payload": pem, "payload_content_type": "text/plain", "algorithm": " aes "}))
        .await;
    let m = get_meta(&s, &p, &id).await;
    assert_eq!(m["name"], "my name");
    assert_eq!(m["algorithm"], "aes");
    let r = get_payload(&s, &p, &id, "text/plain").await;
    assert_eq!(r.text().await.unwrap(), pem.trim_end(), "trailing newline stripped");
    // Base64 text is stripped before decoding.
    let id = s
        .create_secret(&p, json!({"payload": "\n aGVsbG8= \r\n", "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"}))
        .await;
    assert_eq!(payload_bytes(&s, &p, &id).await, b"hello");
}

#[actix_web::test]
async fn two_step_put_payload_is_not_stripped() {
    let s = common::start().await;
    let p = common::project();
    let id = s.create_secret(&p, json!({"name": "two-step"})).await;
    let raw = "  raw text with spaces \n\t".as_bytes().to_vec();
    let r = put_payload(&s, &p, &id, Some("text/plain"), None, raw.clone()).await;
    assert_eq!(r.status(), 204);
    assert_eq!(payload_bytes(&s, &p, &id).await, raw);
}

// ---- validation messages -------------------------------------------------------------------

#[actix_web::test]
async fn schema_errors() {
    let s = common::start().await;
    let p = common::project();
    let long = "a".repeat(256);
    let cases: Vec<(Value, String)> = vec![
        (json!([1, 2]), "[1, 2] is not of type 'object'. Invalid property: 'None'".into()),
        (json!("x"), "'x' is not of type 'object'. Invalid property: 'None'".into()),
        (json!(null), "None is not of type 'object'. Invalid property: 'None'".into()),
        (json!(5), "5 is not of type 'object'. Invalid property: 'None'".into()),
        (json!({"name": 5}), "5 is not of type 'string', 'null'. Invalid property: 'name'".into()),
        (json!({"name": long}), format!("'{long}' is too long. Invalid property: 'name'")),
        (json!({"algorithm": 5}), "5 is not of type 'string'. Invalid property: 'algorithm'".into()),
        (json!({"mode": ["cbc"]}), "['cbc'] is not of type 'string'. Invalid property: 'mode'".into()),
        (json!({"bit_length": "x"}), "'x' is not of type 'integer'. Invalid property: 'bit_length'".into()),
        (json!({"bit_length": 0}), "0 is less than the minimum of 1. Invalid property: 'bit_length'".into()),
        (json!({"bit_length": 40000}), "40000 is greater than the maximum of 32767. Invalid property: 'bit_length'".into()),
        (
            json!({"secret_type": "foo"}),
            "'foo' is not one of ['symmetric', 'passphrase', 'private', 'public', 'certificate', 'opaque']. Invalid property: 'secret_type'".into(),
        ),
        (
            json!({"secret_type": "Opaque"}),
            "'Opaque' is not one of ['symmetric', 'passphrase', 'private', 'public', 'certificate', 'opaque']. Invalid property: 'secret_type'".into(),
        ),
        (json!({"payload": null, "payload_content_type": "text/plain"}), "None is not of type 'string'. Invalid property: 'payload'".into()),
        (json!({"expiration": 5}), "5 is not of type 'string'. Invalid property: 'expiration'".into()),
    ];
    for (body, rest) in cases {
        let r = post_secret(&s, &p, &body).await;
        common::assert_error(r, 400, "Bad Request", Some(&schema_err(&rest))).await;
    }
}

#[actix_web::test]
async fn payload_validation_steps() {
    let s = common::start().await;
    let p = common::project();
    let cases: Vec<(Value, &str)> = vec![
        // a. content type missing or null.
        (json!({"payload": "x"}), "If 'payload' is supplied, 'payload_content_type' must also be supplied.. Invalid property: 'payload_content_type'"),
        (
            json!({"payload": "x", "payload_content_type": null}),
            "If 'payload' is supplied, 'payload_content_type' must also be supplied.. Invalid property: 'payload_content_type'",
        ),
        // b. unsupported content type.
        (json!({"payload": "x", "payload_content_type": "image/png"}), NOT_ONE_OF_CT),
        // e. empty once stripped.
        (json!({"payload": "", "payload_content_type": "text/plain"}), "If 'payload' specified, must be non empty. Invalid property: 'payload'"),
        (json!({"payload": " \n\t ", "payload_content_type": "text/plain"}), "If 'payload' specified, must be non empty. Invalid property: 'payload'"),
        (
            json!({"payload": "  ", "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"}),
            "If 'payload' specified, must be non empty. Invalid property: 'payload'",
        ),
        // f. base64 that Python cannot decode.
        (
            json!({"payload": "abc", "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"}),
            "Invalid payload for payload_content_encoding. Invalid property: 'payload'",
        ),
        (
            json!({"payload": "aGVsbG8", "payload_content_type": "application/pkcs8", "payload_content_encoding": "base64"}),
            "Invalid payload for payload_content_encoding. Invalid property: 'payload'",
        ),
        // A str with characters outside ASCII: Python's b64decode raises ValueError.
        (
            json!({"payload": "\u{0080}", "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"}),
            "Invalid payload for payload_content_encoding. Invalid property: 'payload'",
        ),
        (
            json!({"payload": "\u{1111}\u{ffff}", "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"}),
            "Invalid payload for payload_content_encoding. Invalid property: 'payload'",
        ),
        (
            json!({"payload": "aGVsbG8=\u{e9}", "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"}),
            "Invalid payload for payload_content_encoding. Invalid property: 'payload'",
        ),
        // 5. content type without payload (even null).
        (json!({"payload_content_type": "text/plain"}), "payload must be provided when payload_content_type is specified. Invalid property: 'payload'"),
        (json!({"payload_content_type": null}), "payload must be provided when payload_content_type is specified. Invalid property: 'payload'"),
    ];
    for (body, rest) in cases {
        let r = post_secret(&s, &p, &body).await;
        common::assert_error(r, 400, "Bad Request", Some(&schema_err(rest))).await;
    }
    // Nothing refused was stored.
    let l: Value = s.req(Method::GET, "/v1/secrets", &p).send().await.unwrap().json().await.unwrap();
    assert_eq!(l["total"], 0, "{l}");
    // 6. an encoding without payload is accepted and ignored.
    let id = s.create_secret(&p, json!({"payload_content_encoding": "base64"})).await;
    let m = get_meta(&s, &p, &id).await;
    assert!(m.get("content_types").is_none());
}

#[actix_web::test]
async fn validation_order() {
    let s = common::start().await;
    let p = common::project();
    // Schema errors before expiration errors, expiration before payload errors.
    let r = post_secret(&s, &p, &json!({"bit_length": 0, "expiration": "bogus"})).await;
    common::assert_error(r, 400, "Bad Request", Some(&schema_err("0 is less than the minimum of 1. Invalid property: 'bit_length'"))).await;
    let r = post_secret(&s, &p, &json!({"expiration": "bogus", "payload": "x"})).await;
    common::assert_error(r, 400, "Bad Request", Some(&schema_err("Invalid date for 'expiration'. Invalid property: 'expiration'"))).await;
    // Encoding before size, size before emptiness/base64 checks.
    let big = "a".repeat(20001);
    let r = post_secret(&s, &p, &json!({"payload": big, "payload_content_type": "application/octet-stream"})).await;
    common::assert_error(
        r,
        400,
        "Bad Request",
        Some(&schema_err("payload_content_encoding is not one of ['base64', 'binary']. Invalid property: 'payload_content_encoding'")),
    )
    .await;
    let r = post_secret(&s, &p, &json!({"payload": "*".repeat(20001), "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"})).await;
    common::assert_error(r, 413, "Request Entity Too Large", Some("Provided information too large to process")).await;
}

#[actix_web::test]
async fn unknown_transport_key_is_a_creation_issue() {
    let s = common::start().await;
    let p = common::project();
    let r = post_secret(&s, &p, &json!({"payload": "x", "payload_content_type": "text/plain", "transport_key_id": uuid::Uuid::new_v4().to_string()})).await;
    common::assert_error(r, 400, "Bad Request", Some("Secret creation issue seen - Provided transport key was not found..")).await;
}

// ---- sizes -----------------------------------------------------------------------------------

#[actix_web::test]
async fn payload_size_limit() {
    let s = common::start().await;
    let p = common::project();
    // Exactly at the limit is fine.
    let id = s.create_secret(&p, json!({"payload": "a".repeat(20000), "payload_content_type": "text/plain"})).await;
    assert_eq!(payload_bytes(&s, &p, &id).await.len(), 20000);
    for body in [
        json!({"payload": "a".repeat(20001), "payload_content_type": "text/plain"}),
        // Measured on the UTF-8 bytes: 10001 two-byte characters.
        json!({"payload": "é".repeat(10001), "payload_content_type": "text/plain"}),
        // Measured on the base64 text, not on the decoded bytes (15003 bytes here).
        json!({"payload": b64(&vec![7u8; 15003]), "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"}),
    ] {
        let r = post_secret(&s, &p, &body).await;
        common::assert_error(r, 413, "Request Entity Too Large", Some("Provided information too large to process")).await;
    }
    // Measured after stripping, as the reference server does (it strips every string in
    // load_body before validating; the contract's "before stripping" is not what it does).
    let id = s.create_secret(&p, json!({"payload": format!("{}   ", "a".repeat(20000)), "payload_content_type": "text/plain"})).await;
    assert_eq!(payload_bytes(&s, &p, &id).await.len(), 20000);
    let r = post_secret(&s, &p, &json!({"payload": " ".repeat(20001), "payload_content_type": "text/plain"})).await;
    common::assert_error(r, 400, "Bad Request", Some("Provided object does not match schema 'Secret': If 'payload' specified, must be non empty. Invalid property: 'payload'")).await;
}

#[actix_web::test]
async fn malformed_json_bodies() {
    let s = common::start().await;
    let p = common::project();
    for body in [
        "{\"name\": ".to_string(),
        "not json".to_string(),
        String::new(),
        // Larger than the 25000-byte read limit: truncated, hence malformed, even though valid.
        serde_json::to_string(&json!({"name": "x", "junk": "a".repeat(25000)})).unwrap(),
        // Above 25000 bytes the payload size never gets checked.
        serde_json::to_string(&json!({"payload": "a".repeat(26000), "payload_content_type": "text/plain"})).unwrap(),
    ] {
        let r = post_raw(&s, &p, body.clone()).await;
        common::assert_error(r, 400, "Bad Request", Some("Malformed JSON")).await;
    }
    // Just under the read limit, an oversize payload is a 413.
    let body = serde_json::to_string(&json!({"payload": "a".repeat(24000), "payload_content_type": "text/plain"})).unwrap();
    assert!(body.len() <= 25000);
    let r = post_raw(&s, &p, body).await;
    common::assert_error(r, 413, "Request Entity Too Large", Some("Provided information too large to process")).await;
}

#[actix_web::test]
async fn request_content_type_must_be_json() {
    let s = common::start().await;
    let p = common::project();
    let body = serde_json::to_string(&json!({"name": "x"})).unwrap();
    // Missing Content-Type.
    let r = s.req(Method::POST, "/v1/secrets", &p).body(body.clone()).send().await.unwrap();
    common::assert_error(r, 415, "Unsupported Media Type", Some(JSON_415)).await;
    for ct in ["text/plain", "application/octet-stream", "application/jsonx", "text/json"] {
        let r = s.req(Method::POST, "/v1/secrets", &p).header("Content-Type", ct).body(body.clone()).send().await.unwrap();
        common::assert_error(r, 415, "Unsupported Media Type", Some(JSON_415)).await;
    }
    // Parameters are ignored.
    for ct in ["application/json; charset=utf-8", "Application/JSON"] {
        let r = s.req(Method::POST, "/v1/secrets", &p).header("Content-Type", ct).body(body.clone()).send().await.unwrap();
        assert_eq!(r.status(), 201, "{ct}");
    }
    // Policy is checked before the content type.
    let r = s
        .req(Method::POST, "/v1/secrets", &p)
        .header("X-Roles", "observer")
        .header("Content-Type", "text/plain")
        .body(body)
        .send()
        .await
        .unwrap();
    common::assert_error(r, 403, "Forbidden", Some("Secret creation attempt not allowed - please review your user/project privileges")).await;
}

#[actix_web::test]
async fn create_requires_json_accept() {
    let s = common::start().await;
    let p = common::project();
    let r = s.req(Method::POST, "/v1/secrets", &p).header("Accept", "text/plain").json(&json!({})).send().await.unwrap();
    common::assert_error(r, 406, "Not Acceptable", None).await;
}

// ---- expiration ------------------------------------------------------------------------------

#[actix_web::test]
async fn expiration_parsing_and_utc_conversion() {
    let s = common::start().await;
    let p = common::project();
    for (sent, shown) in [
        ("2031-05-01T08:00:00+02:00", "2031-05-01T06:00:00"),
        ("2031-05-01T08:00:00-05:30", "2031-05-01T13:30:00"),
        ("2031-05-01T08:00:00Z", "2031-05-01T08:00:00"),
        ("2031-05-01T08:00:00", "2031-05-01T08:00:00"),
        ("2031-05-01", "2031-05-01T00:00:00"),
        ("2031-05-01T08:00:00.250000", "2031-05-01T08:00:00.250000"),
        ("  2031-05-01T08:00:00  ", "2031-05-01T08:00:00"),
    ] {
        let id = s.create_secret(&p, json!({"expiration": sent})).await;
        assert_eq!(get_meta(&s, &p, &id).await["expiration"], shown, "{sent}");
    }
    // Blank = none.
    for blank in ["", "   "] {
        let id = s.create_secret(&p, json!({"expiration": blank})).await;
        assert_eq!(get_meta(&s, &p, &id).await["expiration"], Value::Null);
    }
}

/// Expirations far in the future (Castellan and tempest use such dates) must be kept as sent,
/// and filter bounds past 2038 must work.
#[actix_web::test]
async fn expiration_after_2038_is_kept() {
    let s = common::start().await;
    let p = common::project();
    for (sent, shown) in [
        ("2038-01-19T03:14:08", "2038-01-19T03:14:08"),
        ("2099-05-01T08:00:00+02:00", "2099-05-01T06:00:00"),
        ("2099-12-31T23:59:59.500000", "2099-12-31T23:59:59.500000"),
    ] {
        let id = s.create_secret(&p, json!({"name": sent, "expiration": sent})).await;
        assert_eq!(get_meta(&s, &p, &id).await["expiration"], shown, "{sent}");
    }
    let v: Value = s.req(Method::GET, "/v1/secrets?expiration=gt:2090-01-01T00:00:00Z", &p).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["total"], 2);
    let v: Value = s.req(Method::GET, "/v1/secrets?created=lt:2099-01-01T00:00:00", &p).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["total"], 3);
}

#[actix_web::test]
async fn expiration_errors() {
    let s = common::start().await;
    let p = common::project();
    let past = (chrono::Utc::now().naive_utc() - chrono::Duration::seconds(5)).format("%Y-%m-%dT%H:%M:%S").to_string();
    for e in ["2001-01-01T00:00:00", "2001-01-01", past.as_str(), "2001-01-01T00:00:00Z"] {
        let r = post_secret(&s, &p, &json!({"expiration": e})).await;
        common::assert_error(r, 400, "Bad Request", Some(&schema_err("'expiration' is before current time. Invalid property: 'expiration'"))).await;
    }
    for e in ["tomorrow", "2099-13-01", "2099-02-30T00:00:00"] {
        let r = post_secret(&s, &p, &json!({"expiration": e})).await;
        common::assert_error(r, 400, "Bad Request", Some(&schema_err("Invalid date for 'expiration'. Invalid property: 'expiration'"))).await;
    }
}

#[actix_web::test]
async fn expired_secret_disappears() {
    let s = common::start().await;
    let p = common::project();
    let exp = in_seconds(2).format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
    let id = s.create_secret(&p, json!({"name": "short-lived", "expiration": exp, "payload": "x", "payload_content_type": "text/plain"})).await;
    let keeper = s.create_secret(&p, json!({"name": "keeper"})).await;
    assert_eq!(get_meta(&s, &p, &id).await["name"], "short-lived");
    let r = s.req(Method::GET, "/v1/secrets", &p).send().await.unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["total"], 2);

    actix_web::rt::time::sleep(std::time::Duration::from_millis(3000)).await;

    for (m, path) in [
        (Method::GET, format!("/v1/secrets/{id}")),
        (Method::GET, format!("/v1/secrets/{id}/payload")),
        (Method::DELETE, format!("/v1/secrets/{id}")),
        (Method::GET, format!("/v1/secrets/{id}/metadata")),
    ] {
        let r = s.req(m.clone(), &path, &p).send().await.unwrap();
        common::assert_error(r, 404, "Not Found", Some(NOT_FOUND)).await;
    }
    let r = put_payload(&s, &p, &id, Some("text/plain"), None, b"y".to_vec()).await;
    common::assert_error(r, 404, "Not Found", Some(NOT_FOUND)).await;
    let r = s.req(Method::GET, "/v1/secrets", &p).send().await.unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["total"], 1);
    let refs: Vec<&str> = v["secrets"].as_array().unwrap().iter().map(|x| x["secret_ref"].as_str().unwrap()).collect();
    assert_eq!(refs, vec![format!("{}/v1/secrets/{keeper}", s.base)]);
    // Excluded even when an expiration filter would match it.
    let r = s.req(Method::GET, "/v1/secrets?expiration=gt:2000-01-01T00:00:00", &p).send().await.unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v, json!({"secrets": [], "total": 0}));
}

// ---- the representation ----------------------------------------------------------------------

#[actix_web::test]
async fn representation_keys_by_microversion() {
    let s = common::start().await;
    let p = common::project();
    let bare = s.create_secret(&p, json!({})).await;
    let with_payload = s.create_secret(&p, json!({"payload": "x", "payload_content_type": "text/plain"})).await;
    for (mv, extra) in [(None, vec![]), (Some("key-manager 1.0"), vec![]), (Some("key-manager 1.1"), vec!["consumers"]), (Some("key-manager 1.2"), vec!["consumers"])] {
        for (id, has_payload) in [(&bare, false), (&with_payload, true)] {
            let mut rb = s.req(Method::GET, &format!("/v1/secrets/{id}"), &p);
            if let Some(mv) = mv {
                rb = rb.header(MV, mv);
            }
            let r = rb.send().await.unwrap();
            assert_eq!(r.status(), 200);
            let v: Value = r.json().await.unwrap();
            let mut want = extra.clone();
            if has_payload {
                want.push("content_types");
            }
            assert_eq!(keys(&v), expected_keys(&want), "{mv:?} payload={has_payload}");
            if !extra.is_empty() {
                assert_eq!(v["consumers"], json!([]));
            }
        }
    }
}

#[actix_web::test]
async fn representation_values() {
    let s = common::start().await;
    let p = common::project();
    let before = chrono::Utc::now().naive_utc() - chrono::Duration::seconds(5);
    let r = s
        .req(Method::POST, "/v1/secrets", &p)
        .header("X-User-Id", "user-42")
        .json(&json!({"name": "full", "algorithm": "AES", "bit_length": 256, "mode": "CBC", "secret_type": "symmetric",
                      "expiration": "2031-01-02T03:04:05", "creator_id": "someone-else"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let href = r.json::<Value>().await.unwrap()["secret_ref"].as_str().unwrap().to_string();
    let id = href.rsplit('/').next().unwrap().to_string();
    let v = get_meta(&s, &p, &id).await;
    let created = assert_timestamp(&v["created"]);
    let updated = assert_timestamp(&v["updated"]);
    let after = chrono::Utc::now().naive_utc() + chrono::Duration::seconds(5);
    assert!(created > before && created < after, "created is UTC now: {created}");
    assert!(updated >= created);
    assert_eq!(v["status"], "ACTIVE");
    assert_eq!(v["name"], "full");
    assert_eq!(v["secret_type"], "symmetric");
    assert_eq!(v["expiration"], "2031-01-02T03:04:05");
    assert_eq!(v["algorithm"], "AES", "case preserved");
    assert_eq!(v["bit_length"], 256);
    assert_eq!(v["mode"], "CBC");
    assert_eq!(v["creator_id"], "user-42", "the caller, not the body");
    assert_eq!(v["secret_ref"], href);
    assert_eq!(href, format!("{}/v1/secrets/{id}", s.base));

    // Nulls for everything not given.
    let id = s.create_secret(&p, json!({})).await;
    let v = get_meta(&s, &p, &id).await;
    for k in ["name", "expiration", "algorithm", "bit_length", "mode", "creator_id"] {
        assert_eq!(v[k], Value::Null, "{k}");
    }
    // Accept */* and application/json are metadata requests too.
    for accept in ["*/*", "application/json"] {
        let r = s.req(Method::GET, &format!("/v1/secrets/{id}"), &p).header("Accept", accept).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "content-type"), Some("application/json"));
    }
    let r = rawhttp::request(&s.base, "GET", &format!("/v1/secrets/{id}"), &[("X-Project-Id", &p)], b"").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["secret_ref"], format!("{}/v1/secrets/{id}", s.base));
}

// ---- GET payload -----------------------------------------------------------------------------

#[actix_web::test]
async fn payload_accept_rules() {
    let s = common::start().await;
    let p = common::project();
    let binary = vec![0xff, 0xfe, 0x00, 0x80];
    let bin = s
        .create_secret(&p, json!({"payload": b64(&binary), "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"}))
        .await;
    let text = s.create_secret(&p, json!({"payload": "hello", "payload_content_type": "text/plain"})).await;
    let path = |id: &str| format!("/v1/secrets/{id}/payload");

    // No Accept header at all: application/octet-stream.
    let r = rawhttp::request(&s.base, "GET", &path(&text), &[("X-Project-Id", &p)], b"").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(r.body, b"hello");
    // Empty Accept: the same.
    let r = get_payload(&s, &p, &bin, "").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), Some("application/octet-stream"));
    assert_eq!(r.bytes().await.unwrap().to_vec(), binary);

    // */*: the stored type is used, and echoed literally.
    for (id, body) in [(&bin, binary.clone()), (&text, b"hello".to_vec())] {
        let r = get_payload(&s, &p, id, "*/*").await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "content-type"), Some("*/*"));
        assert_eq!(r.bytes().await.unwrap().to_vec(), body);
    }

    // text/plain variants.
    for (accept, ct) in [
        ("text/plain", "text/plain; charset=UTF-8"),
        ("text/plain;charset=utf-8", "text/plain;charset=utf-8"),
        ("text/plain; charset=utf-8", "text/plain; charset=utf-8"),
    ] {
        let r = get_payload(&s, &p, &text, accept).await;
        assert_eq!(r.status(), 200, "{accept}");
        assert_eq!(header(&r, "content-type"), Some(ct));
        assert_eq!(r.text().await.unwrap(), "hello");
    }
    // The stored type does not restrict the Accept value.
    let r = get_payload(&s, &p, &text, "application/pkcs8").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), Some("application/pkcs8"));
    assert_eq!(r.text().await.unwrap(), "hello");

    // Binary that is not UTF-8 as text: 406.
    let r = get_payload(&s, &p, &bin, "text/plain").await;
    common::assert_error(r, 406, "Not Acceptable", Some(WRONG_CT)).await;
    // Unsupported types, including a q parameter: 406.
    for accept in ["application/json", "text/html", "application/octet-stream;q=1", "image/*", "text/plain; charset=iso-8859-1"] {
        let r = get_payload(&s, &p, &text, accept).await;
        common::assert_error(r, 406, "Not Acceptable", Some(WRONG_CT)).await;
    }
    // Variants that normalise to a supported type but are not spelled exactly: 400.
    for accept in ["TEXT/PLAIN", "text/plain; charset=UTF-8", "Application/Octet-Stream"] {
        let r = get_payload(&s, &p, &text, accept).await;
        let msg = format!("Secret payload retrieval issue seen - content-type of '{accept}' not supported.");
        common::assert_error(r, 400, "Bad Request", Some(&msg)).await;
    }
}

#[actix_web::test]
async fn payload_of_a_secret_without_one_is_404() {
    let s = common::start().await;
    let p = common::project();
    let id = s.create_secret(&p, json!({"name": "empty"})).await;
    for accept in ["text/plain", "application/octet-stream", "*/*", "application/json"] {
        let r = get_payload(&s, &p, &id, accept).await;
        common::assert_error(r, 404, "Not Found", Some(NO_PAYLOAD)).await;
    }
}

#[actix_web::test]
async fn payload_route_only_allows_get() {
    let s = common::start().await;
    let p = common::project();
    let id = s.create_secret(&p, json!({"payload": "x", "payload_content_type": "text/plain"})).await;
    for m in [Method::POST, Method::PUT, Method::DELETE] {
        let r = s.req(m.clone(), &format!("/v1/secrets/{id}/payload"), &p).send().await.unwrap();
        assert_eq!(header(&r, "allow"), Some("GET"));
        common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
    }
}

#[actix_web::test]
async fn legacy_payload_download_through_secret_uri() {
    let s = common::start().await;
    let p = common::project();
    let id = s.create_secret(&p, json!({"payload": "legacy text", "payload_content_type": "text/plain"})).await;
    let path = format!("/v1/secrets/{id}");
    let r = s.req(Method::GET, &path, &p).header("Accept", "text/plain").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), Some("text/plain; charset=UTF-8"));
    assert_eq!(r.text().await.unwrap(), "legacy text");
    let r = s.req(Method::GET, &path, &p).header("Accept", "application/octet-stream").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), Some("application/octet-stream"));
    assert_eq!(r.text().await.unwrap(), "legacy text");
    // Not exactly `application/json`: the legacy path, whose errors name the secret retrieval.
    for accept in ["application/json; charset=utf-8", "application/json;q=1", "text/html"] {
        let r = s.req(Method::GET, &path, &p).header("Accept", accept).send().await.unwrap();
        common::assert_error(r, 406, "Not Acceptable", Some("Secret retrieval issue seen - Wrong payload content-type.")).await;
    }
    let r = s.req(Method::GET, &path, &p).header("Accept", "TEXT/PLAIN").send().await.unwrap();
    common::assert_error(r, 400, "Bad Request", Some("Secret retrieval issue seen - content-type of 'TEXT/PLAIN' not supported.")).await;
    // Legacy download of a secret without payload.
    let empty = s.create_secret(&p, json!({})).await;
    let r = s.req(Method::GET, &format!("/v1/secrets/{empty}"), &p).header("Accept", "text/plain").send().await.unwrap();
    common::assert_error(r, 404, "Not Found", Some(NO_PAYLOAD)).await;
}

// ---- two-step PUT ----------------------------------------------------------------------------

#[actix_web::test]
async fn put_text_plain() {
    let s = common::start().await;
    let p = common::project();
    let id = s.create_secret(&p, json!({"name": "t"})).await;
    let before = get_meta(&s, &p, &id).await;
    assert!(before.get("content_types").is_none());
    let r = put_payload(&s, &p, &id, Some("text/plain; charset=utf-8"), Some("gzip"), "héllo".as_bytes().to_vec()).await;
    assert_eq!(r.status(), 204);
    assert!(header(&r, "content-type").is_none(), "204 has no Content-Type");
    assert_eq!(r.bytes().await.unwrap().len(), 0);
    let after = get_meta(&s, &p, &id).await;
    assert_eq!(after["content_types"], json!({"default": "text/plain"}));
    assert!(assert_timestamp(&after["updated"]) >= assert_timestamp(&before["updated"]));
    let r = get_payload(&s, &p, &id, "text/plain").await;
    assert_eq!(r.text().await.unwrap(), "héllo");
}

#[actix_web::test]
async fn put_octet_stream_raw_and_base64() {
    let s = common::start().await;
    let p = common::project();
    let raw: Vec<u8> = vec![0, 1, 2, 0xff, b' ', b'\n'];
    let id = s.create_secret(&p, json!({})).await;
    let r = put_payload(&s, &p, &id, Some("application/octet-stream"), None, raw.clone()).await;
    assert_eq!(r.status(), 204);
    assert_eq!(get_meta(&s, &p, &id).await["content_types"], json!({"default": "application/octet-stream"}));
    assert_eq!(payload_bytes(&s, &p, &id).await, raw);

    for enc in ["base64", "BASE64", "Base64"] {
        let id = s.create_secret(&p, json!({})).await;
        let r = put_payload(&s, &p, &id, Some("application/octet-stream"), Some(enc), b64(&raw).into_bytes()).await;
        assert_eq!(r.status(), 204, "{enc}");
        assert_eq!(payload_bytes(&s, &p, &id).await, raw, "{enc}");
    }

    let id = s.create_secret(&p, json!({})).await;
    let r = put_payload(&s, &p, &id, Some("application/octet-stream"), Some("gzip"), raw.clone()).await;
    common::assert_error(
        r,
        400,
        "Bad Request",
        Some("Secret update issue seen - Text-based binary secret payloads must specify a content-encoding of 'base64'."),
    )
    .await;
    // Still no payload after the failure.
    assert!(get_meta(&s, &p, &id).await.get("content_types").is_none());
}

#[actix_web::test]
async fn put_errors() {
    let s = common::start().await;
    let p = common::project();
    let id = s.create_secret(&p, json!({})).await;
    for ct in [None, Some("application/json"), Some("application/pkcs8"), Some("text/html")] {
        let r = put_payload(&s, &p, &id, ct, None, b"data".to_vec()).await;
        common::assert_error(r, 415, "Unsupported Media Type", Some(PUT_415)).await;
    }
    let r = put_payload(&s, &p, &id, Some("text/plain"), None, Vec::new()).await;
    common::assert_error(r, 400, "Bad Request", Some("Secret update issue seen - No data supplied to process..")).await;
    let r = put_payload(&s, &p, &id, Some("application/octet-stream"), None, vec![b'a'; 20001]).await;
    common::assert_error(r, 413, "Request Entity Too Large", Some("Secret update issue seen - Provided information too large to process.")).await;
    // None of those stored anything; exactly 20000 bytes is fine.
    let r = put_payload(&s, &p, &id, Some("application/octet-stream"), None, vec![b'a'; 20000]).await;
    assert_eq!(r.status(), 204);
    // Second PUT: conflict.
    let r = put_payload(&s, &p, &id, Some("text/plain"), None, b"again".to_vec()).await;
    common::assert_error(r, 409, "Conflict", Some("Secret already has data, cannot modify it.")).await;
    assert_eq!(payload_bytes(&s, &p, &id).await, vec![b'a'; 20000]);
    // Empty and oversize bodies are reported before the conflict.
    let r = put_payload(&s, &p, &id, Some("text/plain"), None, Vec::new()).await;
    common::assert_error(r, 400, "Bad Request", Some("Secret update issue seen - No data supplied to process..")).await;
    let r = put_payload(&s, &p, &id, Some("text/plain"), None, vec![b'a'; 20001]).await;
    common::assert_error(r, 413, "Request Entity Too Large", Some("Secret update issue seen - Provided information too large to process.")).await;
    // A one-step secret already has its payload.
    let one = s.create_secret(&p, json!({"payload": "x", "payload_content_type": "text/plain"})).await;
    let r = put_payload(&s, &p, &one, Some("text/plain"), None, b"y".to_vec()).await;
    common::assert_error(r, 409, "Conflict", Some("Secret already has data, cannot modify it.")).await;
}

// ---- DELETE ----------------------------------------------------------------------------------

#[actix_web::test]
async fn delete_then_everything_is_404() {
    let s = common::start().await;
    let p = common::project();
    let id = s.create_secret(&p, json!({"payload": "bye", "payload_content_type": "text/plain"})).await;
    let r = s.req(Method::DELETE, &format!("/v1/secrets/{id}"), &p).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.bytes().await.unwrap().len(), 0);
    for (m, path) in [
        (Method::GET, format!("/v1/secrets/{id}")),
        (Method::GET, format!("/v1/secrets/{id}/payload")),
        (Method::DELETE, format!("/v1/secrets/{id}")),
        (Method::GET, format!("/v1/secrets/{id}/metadata")),
        (Method::POST, format!("/v1/secrets/{id}")),
    ] {
        let r = s.req(m.clone(), &path, &p).send().await.unwrap();
        common::assert_error(r, 404, "Not Found", Some(NOT_FOUND)).await;
    }
    let r = s.req(Method::GET, &format!("/v1/secrets/{id}"), &p).header("Accept", "text/plain").send().await.unwrap();
    common::assert_error(r, 404, "Not Found", Some(NOT_FOUND)).await;
    let r = put_payload(&s, &p, &id, Some("text/plain"), None, b"x".to_vec()).await;
    common::assert_error(r, 404, "Not Found", Some(NOT_FOUND)).await;
    let v: Value = s.req(Method::GET, "/v1/secrets", &p).send().await.unwrap().json().await.unwrap();
    assert_eq!(v, json!({"secrets": [], "total": 0}));
}

#[actix_web::test]
async fn unknown_valid_id_is_secret_not_found() {
    let s = common::start().await;
    let p = common::project();
    let id = uuid::Uuid::new_v4().to_string();
    for m in [Method::GET, Method::DELETE] {
        let r = s.req(m, &format!("/v1/secrets/{id}"), &p).send().await.unwrap();
        common::assert_error(r, 404, "Not Found", Some(NOT_FOUND)).await;
    }
    let r = get_payload(&s, &p, &id, "text/plain").await;
    common::assert_error(r, 404, "Not Found", Some(NOT_FOUND)).await;
}

#[actix_web::test]
async fn invalid_ids_are_404() {
    let s = common::start().await;
    let p = common::project();
    let real = s.create_secret(&p, json!({"payload": "x", "payload_content_type": "text/plain"})).await;
    let bad = [
        real.to_uppercase(),
        "0b3e0cfe-8d3c-1b47-9b8e-0d2a4e0a5d11".to_string(), // version 1
        "0b3e0cfe-8d3c-4b47-cb8e-0d2a4e0a5d11".to_string(), // wrong variant
        real.replace('-', ""),
        format!("{{{real}}}"),
        format!("urn:uuid:{real}"),
        "not-a-uuid".to_string(),
    ];
    for id in &bad {
        for (m, path) in [
            (Method::GET, format!("/v1/secrets/{id}")),
            (Method::DELETE, format!("/v1/secrets/{id}")),
            (Method::GET, format!("/v1/secrets/{id}/payload")),
            (Method::GET, format!("/v1/secrets/{id}/metadata")),
            // The id is checked before the method.
            (Method::POST, format!("/v1/secrets/{id}")),
        ] {
            let r = s.req(m.clone(), &path, &p).send().await.unwrap();
            common::assert_error(r, 404, "Not Found", Some(INVALID_ID)).await;
        }
        let r = put_payload(&s, &p, id, Some("text/plain"), None, b"x".to_vec()).await;
        common::assert_error(r, 404, "Not Found", Some(INVALID_ID)).await;
    }
}

#[actix_web::test]
async fn post_on_a_secret_is_405() {
    let s = common::start().await;
    let p = common::project();
    let id = s.create_secret(&p, json!({})).await;
    let r = s.req(Method::POST, &format!("/v1/secrets/{id}"), &p).json(&json!({})).send().await.unwrap();
    assert_eq!(header(&r, "allow"), Some("DELETE, GET, PUT"));
    common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
    let r = s.req(Method::PATCH, "/v1/secrets", &p).send().await.unwrap();
    common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
}

#[actix_web::test]
async fn delete_force_parameter_by_microversion() {
    let s = common::start().await;
    let p = common::project();
    let id = s.create_secret(&p, json!({})).await;
    let path = format!("/v1/secrets/{id}?force=maybe");
    let r = s.req(Method::DELETE, &path, &p).header(MV, "key-manager 1.2").send().await.unwrap();
    common::assert_error(r, 400, "Bad Request", Some("URI provided invalid query string parameters.")).await;
    assert_eq!(get_meta(&s, &p, &id).await["secret_type"], "opaque", "still there");
    // Before 1.2 `force` is ignored.
    for mv in ["key-manager 1.0", "key-manager 1.1"] {
        let id = s.create_secret(&p, json!({})).await;
        let r = s.req(Method::DELETE, &format!("/v1/secrets/{id}?force=maybe"), &p).header(MV, mv).send().await.unwrap();
        assert_eq!(r.status(), 204, "{mv}");
    }
    // Strict booleans at 1.2 (no consumers: deletion proceeds either way).
    for v in ["true", "1", "YES", " off ", "f", "n"] {
        let id = s.create_secret(&p, json!({})).await;
        let r = s
            .req(Method::DELETE, &format!("/v1/secrets/{id}"), &p)
            .query(&[("force", v)])
            .header(MV, "key-manager 1.2")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "force={v}");
    }
    let id = s.create_secret(&p, json!({})).await;
    let r = s.req(Method::DELETE, &format!("/v1/secrets/{id}"), &p).header(MV, "key-manager 1.2").send().await.unwrap();
    assert_eq!(r.status(), 204);
}

// ---- authorization ---------------------------------------------------------------------------

fn denied(op: &str) -> String {
    format!("{op} attempt not allowed - please review your user/project privileges")
}

#[actix_web::test]
async fn other_project_is_forbidden_not_hidden() {
    let s = common::start().await;
    let a = common::project();
    let b = common::project();
    let id = s.create_secret(&a, json!({"name": "a's", "payload": "secret of a", "payload_content_type": "text/plain"})).await;
    let empty = s.create_secret(&a, json!({"name": "a's empty"})).await;
    // Project b, default admin role.
    let r = s.req(Method::GET, &format!("/v1/secrets/{id}"), &b).send().await.unwrap();
    common::assert_error(r, 403, "Forbidden", Some("Secret retrieval attempt not allowed - please review your user/project privileges")).await;
    let r = s.req(Method::GET, &format!("/v1/secrets/{id}"), &b).header("Accept", "text/plain").send().await.unwrap();
    common::assert_error(r, 403, "Forbidden", Some(&denied("Secret retrieval"))).await;
    let r = get_payload(&s, &b, &id, "text/plain").await;
    let (status, body) = (r.status(), r.text().await.unwrap());
    assert_eq!(status, 403);
    assert!(!body.contains("secret of a"));
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"code": 403, "title": "Forbidden", "description": denied("Secret payload retrieval")})
    );
    let r = put_payload(&s, &b, &empty, Some("text/plain"), None, b"hijack".to_vec()).await;
    common::assert_error(r, 403, "Forbidden", Some(&denied("Secret update"))).await;
    let r = s.req(Method::DELETE, &format!("/v1/secrets/{id}"), &b).send().await.unwrap();
    common::assert_error(r, 403, "Forbidden", Some(&denied("Secret deletion"))).await;
    // Nothing changed for a.
    assert!(get_meta(&s, &a, &empty).await.get("content_types").is_none());
    let r = get_payload(&s, &a, &id, "text/plain").await;
    assert_eq!(r.text().await.unwrap(), "secret of a");
    // And b's list does not show it.
    let v: Value = s.req(Method::GET, "/v1/secrets", &b).send().await.unwrap().json().await.unwrap();
    assert_eq!(v, json!({"secrets": [], "total": 0}));
}

#[actix_web::test]
async fn cve_2022_3100_query_cannot_alter_policy_target() {
    let s = common::start().await;
    let a = common::project();
    let b = common::project();
    let id = s.create_secret(&a, json!({"payload": "top secret", "payload_content_type": "text/plain"})).await;
    for q in [
        "target.secret.read=read".to_string(),
        format!("target.secret.project_id={b}"),
        "target.secret.read_project_access=True&target.secret.read=read".to_string(),
    ] {
        for (roles, user) in [("admin", "u1"), ("observer", "u2")] {
            let r = s
                .req(Method::GET, &format!("/v1/secrets/{id}/payload?{q}"), &b)
                .header("Accept", "text/plain")
                .header("X-Roles", roles)
                .header("X-User-Id", user)
                .send()
                .await
                .unwrap();
            common::assert_error(r, 403, "Forbidden", Some(&denied("Secret payload retrieval"))).await;
        }
        let r = s.req(Method::GET, &format!("/v1/secrets/{id}?{q}"), &b).send().await.unwrap();
        common::assert_error(r, 403, "Forbidden", Some(&denied("Secret retrieval"))).await;
    }
}

#[actix_web::test]
async fn legacy_roles() {
    let s = common::start().await;
    let p = common::project();
    let id = s.create_secret(&p, json!({"payload": "shared", "payload_content_type": "text/plain"})).await;
    let as_role = |m: Method, path: String, role: &'static str| {
        s.req(m, &path, &p).header("X-Roles", role).header("X-User-Id", format!("user-{role}"))
    };

    // observer: may read metadata, payload and the list, may not create or delete.
    let r = as_role(Method::GET, format!("/v1/secrets/{id}/payload"), "observer").header("Accept", "text/plain").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "shared");
    let r = as_role(Method::GET, format!("/v1/secrets/{id}"), "Observer").send().await.unwrap();
    assert_eq!(r.status(), 200, "roles are lowercased");
    let r = as_role(Method::GET, "/v1/secrets".into(), "observer").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = as_role(Method::POST, "/v1/secrets".into(), "observer").json(&json!({})).send().await.unwrap();
    common::assert_error(r, 403, "Forbidden", Some(&denied("Secret creation"))).await;
    let r = as_role(Method::DELETE, format!("/v1/secrets/{id}"), "observer").send().await.unwrap();
    common::assert_error(r, 403, "Forbidden", Some(&denied("Secret deletion"))).await;

    // audit: metadata only.
    let r = as_role(Method::GET, format!("/v1/secrets/{id}"), "audit").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = as_role(Method::GET, format!("/v1/secrets/{id}/payload"), "audit").header("Accept", "text/plain").send().await.unwrap();
    common::assert_error(r, 403, "Forbidden", Some(&denied("Secret payload retrieval"))).await;
    let r = as_role(Method::GET, format!("/v1/secrets/{id}"), "audit").header("Accept", "text/plain").send().await.unwrap();
    common::assert_error(r, 403, "Forbidden", Some(&denied("Secret retrieval"))).await;
    let r = as_role(Method::GET, "/v1/secrets".into(), "audit").send().await.unwrap();
    common::assert_error(r, 403, "Forbidden", Some(&denied("Secret(s) retrieval"))).await;

    // creator: may create, read and upload to its own secrets.
    let r = as_role(Method::POST, "/v1/secrets".into(), "creator").json(&json!({"name": "mine"})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let own = r.json::<Value>().await.unwrap()["secret_ref"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let r = as_role(Method::GET, format!("/v1/secrets/{own}"), "creator").send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["creator_id"], "user-creator");
    let r = as_role(Method::PUT, format!("/v1/secrets/{own}"), "creator").header("Content-Type", "text/plain").body("v").send().await.unwrap();
    assert_eq!(r.status(), 204);
    let r = as_role(Method::GET, format!("/v1/secrets/{own}/payload"), "creator").header("Accept", "text/plain").send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "v");
    let r = as_role(Method::DELETE, format!("/v1/secrets/{own}"), "creator").send().await.unwrap();
    assert_eq!(r.status(), 204);

    // A secure-RBAC role alone grants nothing under the legacy defaults.
    let r = as_role(Method::POST, "/v1/secrets".into(), "member").json(&json!({})).send().await.unwrap();
    common::assert_error(r, 403, "Forbidden", Some(&denied("Secret creation"))).await;
    let r = as_role(Method::GET, format!("/v1/secrets/{id}"), "member").send().await.unwrap();
    common::assert_error(r, 403, "Forbidden", Some(&denied("Secret retrieval"))).await;
}

// ---- hrefs, ignored keys, transport keys, consumers ------------------------------------------

#[actix_web::test]
async fn hrefs_follow_host_and_forwarded_proto() {
    let s = common::start().await;
    let p = common::project();
    let r = s
        .req(Method::POST, "/v1/secrets", &p)
        .header("Host", "kms.example.com:9311")
        .header("X-Forwarded-Proto", "https")
        .json(&json!({"name": "proxied"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let loc = header(&r, "location").unwrap().to_string();
    let v: Value = r.json().await.unwrap();
    let href = v["secret_ref"].as_str().unwrap();
    assert_eq!(href, loc);
    let id = href.strip_prefix("https://kms.example.com:9311/v1/secrets/").expect("https://kms.example.com:9311 base");
    let r = s.req(Method::GET, &format!("/v1/secrets/{id}"), &p).header("Host", "other.example:1234").send().await.unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["secret_ref"], format!("http://other.example:1234/v1/secrets/{id}"));
}

#[actix_web::test]
async fn external_project_id_keys_are_ignored() {
    let s = common::start().await;
    let p = common::project();
    let other = common::project();
    let id = s.create_secret(&p, json!({"name": "mine", "external_project_id": other})).await;
    let v: Value = s.req(Method::GET, "/v1/secrets", &p).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["total"], 1);
    assert_eq!(v["secrets"][0]["secret_ref"], format!("{}/v1/secrets/{id}", s.base));
    let v: Value = s.req(Method::GET, &format!("/v1/secrets?external_project_id={p}"), &other).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["total"], 0);
    let r = s.req(Method::GET, &format!("/v1/secrets/{id}?external_project_id={p}"), &other).send().await.unwrap();
    common::assert_error(r, 403, "Forbidden", Some(&denied("Secret retrieval"))).await;
}

#[actix_web::test]
async fn wrapped_session_key_without_transport_key_id() {
    let s = common::start().await;
    let p = common::project();
    let id = s.create_secret(&p, json!({"payload": "x", "payload_content_type": "text/plain"})).await;
    let r = s
        .req(Method::GET, &format!("/v1/secrets/{id}/payload?trans_wrapped_session_key=abc"), &p)
        .header("Accept", "text/plain")
        .send()
        .await
        .unwrap();
    common::assert_error(
        r,
        400,
        "Bad Request",
        Some("Transport key wrapped session key has been provided to wrap secrets for retrieval, but the transport key id has not been provided."),
    )
    .await;
}

#[actix_web::test]
async fn null_name_and_accept_before_policy() {
    let s = common::start().await;
    let p = common::project();
    let id = s.create_secret(&p, json!({"name": null})).await;
    assert_eq!(get_meta(&s, &p, &id).await["name"], Value::Null);
    // Accept negotiation (406) comes before policy (403).
    let r = s
        .req(Method::POST, "/v1/secrets", &p)
        .header("X-Roles", "observer")
        .header("Accept", "text/plain")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    common::assert_error(r, 406, "Not Acceptable", None).await;
}

/// Consumers have no API here yet: they are written straight into the store.
fn add_consumer(s: &common::TestServer, secret: &str, project: &str, service: &str, resource_id: &str, at: chrono::NaiveDateTime) {
    use diesel::prelude::*;
    use portcullis::store::schema::secret_consumers as sc;
    let mut conn = portcullis::store::DbUrl::parse(&s.db_url).unwrap().establish().expect("db");
    diesel::insert_into(sc::table)
        .values((
            sc::id.eq(uuid::Uuid::new_v4().to_string()),
            sc::secret_id.eq(secret),
            sc::project_id.eq(Some(project)),
            sc::service.eq(service),
            sc::resource_type.eq("instance"),
            sc::resource_id.eq(resource_id),
            sc::created_at.eq(portcullis::store::to_micros(at)),
            sc::updated_at.eq(portcullis::store::to_micros(at)),
            sc::deleted_at.eq(None::<i64>),
        ))
        .execute(&mut conn)
        .expect("insert consumer");
}

#[actix_web::test]
async fn consumers_in_representation_and_delete_at_1_2() {
    let s = common::start().await;
    let p = common::project();
    let id = s.create_secret(&p, json!({"name": "consumed"})).await;
    let t = chrono::Utc::now().naive_utc();
    add_consumer(&s, &id, &p, "compute", "r-1", t);
    add_consumer(&s, &id, &p, "image", "r-2", t + chrono::Duration::seconds(1));
    let consumers = json!([
        {"service": "compute", "resource_type": "instance", "resource_id": "r-1"},
        {"service": "image", "resource_type": "instance", "resource_id": "r-2"}
    ]);
    let r = s.req(Method::GET, &format!("/v1/secrets/{id}"), &p).header(MV, "key-manager 1.1").send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["consumers"], consumers);
    let r = s.req(Method::GET, "/v1/secrets", &p).header(MV, "key-manager 1.2").send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["secrets"][0]["consumers"], consumers);
    let v = get_meta(&s, &p, &id).await;
    assert!(v.get("consumers").is_none(), "not at 1.0");

    // 1.2 refuses to delete a consumed secret unless forced.
    for q in ["", "?force=false", "?force=0"] {
        let r = s.req(Method::DELETE, &format!("/v1/secrets/{id}{q}"), &p).header(MV, "key-manager 1.2").send().await.unwrap();
        common::assert_error(r, 400, "Bad Request", Some("Secret deletion issue seen - Secret cannot be deleted as it has consumers..")).await;
    }
    get_meta(&s, &p, &id).await;
    let r = s.req(Method::DELETE, &format!("/v1/secrets/{id}?force=true"), &p).header(MV, "key-manager 1.2").send().await.unwrap();
    assert_eq!(r.status(), 204);

    // Before 1.2 deletion always proceeds.
    let other = s.create_secret(&p, json!({})).await;
    add_consumer(&s, &other, &p, "compute", "r-3", t);
    let r = s.req(Method::DELETE, &format!("/v1/secrets/{other}"), &p).header(MV, "key-manager 1.1").send().await.unwrap();
    assert_eq!(r.status(), 204);
}
