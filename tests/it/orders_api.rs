//! `/v1/orders` (contract §5.8, with §2.3, §2.9, §4.4, §5.9 and §6.1).

use crate::common;
use std::time::{Duration, Instant};

use reqwest::{Method, Response};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};

const O: &str = "Provided object does not match schema 'Order': ";
const M: &str = "Provided object does not match schema 'Secret' within 'Order': ";
const NOT_FOUND: &str = "Order not found.";
const ISSUE_ALG: &str = "Process TypeOrder issue seen - Requested algorithm is not supported.";
const FAILURE: &str = "Process TypeOrder failure seen - please contact site administrator.";
const QUOTA: &str = "Order creation issue seen - Creation not allowed because a quota has been reached.";

/// A test server. On a database shared by the servers of this process (PostgreSQL, MariaDB)
/// they share one master KEK too (`common::test_config` gives them the same test key), as the
/// replicas of one deployment do: every server finishes the orders it finds PENDING at start,
/// whichever server created them.
async fn start_with(tweak: impl FnOnce(&mut portcullis::config::Config)) -> common::TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::test_config(dir.path());
    tweak(&mut cfg);
    common::start_in(dir, cfg).await
}

async fn start() -> common::TestServer {
    start_with(|_| {}).await
}

fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

fn last_segment(href: &str) -> String {
    href.rsplit('/').next().unwrap().to_string()
}

async fn post(s: &common::TestServer, p: &str, body: &Value) -> Response {
    s.req(Method::POST, "/v1/orders", p).json(body).send().await.unwrap()
}

/// Creates an order (202, Location = order_ref) and returns its id.
async fn order(s: &common::TestServer, p: &str, body: Value) -> String {
    let r = post(s, p, &body).await;
    assert_eq!(r.status(), 202, "create order {body}");
    let loc = header(&r, "location").expect("Location").to_string();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v.as_object().unwrap().len(), 1, "only order_ref: {v}");
    assert_eq!(v["order_ref"], loc);
    assert!(loc.starts_with(&s.base), "{loc}");
    assert!(loc.contains("/v1/orders/"));
    last_segment(&loc)
}

async fn key_order(s: &common::TestServer, p: &str, meta: Value) -> String {
    order(s, p, json!({"type": "key", "meta": meta})).await
}

async fn get_order(s: &common::TestServer, p: &str, id: &str) -> Value {
    let r = s.req(Method::GET, &format!("/v1/orders/{id}"), p).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET order");
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    r.json().await.unwrap()
}

/// Polls like Castellan does until the order leaves PENDING.
async fn wait(s: &common::TestServer, p: &str, id: &str) -> Value {
    let start = Instant::now();
    loop {
        let o = get_order(s, p, id).await;
        if o["status"] != "PENDING" {
            return o;
        }
        assert!(start.elapsed() < Duration::from_secs(300), "order {id} still PENDING: {o}");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn get_json(s: &common::TestServer, p: &str, path: &str) -> Value {
    let r = s.req(Method::GET, path, p).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.unwrap()
}

async fn payload(s: &common::TestServer, p: &str, secret_id: &str) -> Vec<u8> {
    let r = s
        .req(Method::GET, &format!("/v1/secrets/{secret_id}/payload"), p)
        .header("Accept", "application/octet-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "payload");
    r.bytes().await.unwrap().to_vec()
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort();
    k
}

fn sorted<'a>(k: &[&'a str]) -> Vec<&'a str> {
    let mut k = k.to_vec();
    k.sort();
    k
}

const BASE_KEYS: [&str; 6] = ["created", "updated", "status", "type", "meta", "order_ref"];

fn with_base(extra: &[&'static str]) -> Vec<&'static str> {
    sorted(&BASE_KEYS.iter().chain(extra).copied().collect::<Vec<_>>())
}

async fn assert_bad(s: &common::TestServer, p: &str, body: Value, desc: &str) {
    let r = post(s, p, &body).await;
    common::assert_error(r, 400, "Bad Request", Some(desc)).await;
}

// ---- validation ------------------------------------------------------------------------------

#[actix_web::test]
async fn order_schema_messages() {
    let s = start().await;
    let p = common::project();
    assert_bad(&s, &p, json!([1, 2]), &format!("{O}[1, 2] is not of type 'object'. Invalid property: 'None'")).await;
    assert_bad(&s, &p, json!({}), &format!("{O}'meta' is a required property. Invalid property: 'meta'")).await;
    assert_bad(&s, &p, json!({"type": "key"}), &format!("{O}'meta' is a required property. Invalid property: 'meta'")).await;
    assert_bad(&s, &p, json!({"meta": {}}), &format!("{O}'type' is a required property. Invalid property: 'type'")).await;
    assert_bad(
        &s,
        &p,
        json!({"type": "certificate", "meta": {"request_type": "custom"}}),
        &format!("{O}'certificate' is not one of ['key', 'asymmetric']. Invalid property: 'type'"),
    )
    .await;
    assert_bad(
        &s,
        &p,
        json!({"type": "Key", "meta": {}}),
        &format!("{O}'Key' is not one of ['key', 'asymmetric']. Invalid property: 'type'"),
    )
    .await;
    assert_bad(&s, &p, json!({"type": 1, "meta": {}}), &format!("{O}1 is not of type 'string'. Invalid property: 'type'")).await;
    assert_bad(&s, &p, json!({"type": "key", "meta": "x"}), &format!("{O}'x' is not of type 'object'. Invalid property: 'meta'")).await;

    // Body and content type, as for every JSON create.
    let r = s.req(Method::POST, "/v1/orders", &p).header("Content-Type", "application/json").body("{").send().await.unwrap();
    common::assert_error(r, 400, "Bad Request", Some("Malformed JSON")).await;
    let r = s.req(Method::POST, "/v1/orders", &p).header("Content-Type", "text/plain").body("{}").send().await.unwrap();
    common::assert_error(
        r,
        415,
        "Unsupported Media Type",
        Some("Unexpected content type. Expected content types are: ['application/json']"),
    )
    .await;
    let r = s.req(Method::POST, "/v1/orders", &p).header("Accept", "text/html").json(&json!({})).send().await.unwrap();
    common::assert_error(r, 406, "Not Acceptable", None).await;
}

#[actix_web::test]
async fn meta_messages() {
    let s = start().await;
    let p = common::project();
    let key = |meta: Value| json!({"type": "key", "meta": meta});
    let asym = |meta: Value| json!({"type": "asymmetric", "meta": meta});
    // The secret schema, named after the order.
    assert_bad(&s, &p, key(json!({"algorithm": "aes", "bit_length": 0})), &format!("{M}0 is less than the minimum of 1. Invalid property: 'bit_length'")).await;
    assert_bad(&s, &p, key(json!({"algorithm": "aes", "bit_length": null})), &format!("{M}None is not of type 'integer'. Invalid property: 'bit_length'")).await;
    assert_bad(&s, &p, key(json!({"algorithm": "aes", "bit_length": 40000})), &format!("{M}40000 is greater than the maximum of 32767. Invalid property: 'bit_length'")).await;
    assert_bad(&s, &p, key(json!({"algorithm": "aes", "bit_length": "128"})), &format!("{M}'128' is not of type 'integer'. Invalid property: 'bit_length'")).await;
    assert_bad(&s, &p, key(json!({"algorithm": 5, "bit_length": 128})), &format!("{M}5 is not of type 'string'. Invalid property: 'algorithm'")).await;
    assert_bad(&s, &p, key(json!({"algorithm": "aes", "bit_length": 128, "name": 5})), &format!("{M}5 is not of type 'string', 'null'. Invalid property: 'name'")).await;
    assert_bad(&s, &p, key(json!({"algorithm": "aes", "bit_length": 128, "name": "n".repeat(256)})), &format!("{M}'{}' is too long. Invalid property: 'name'", "n".repeat(256))).await;
    assert_bad(&s, &p, key(json!({"algorithm": "aes", "bit_length": 128, "secret_type": "foo"})), &format!("{M}'foo' is not one of ['symmetric', 'passphrase', 'private', 'public', 'certificate', 'opaque']. Invalid property: 'secret_type'")).await;
    assert_bad(&s, &p, key(json!({"algorithm": "aes", "bit_length": 128, "expiration": "soon"})), &format!("{M}Invalid date for 'expiration'. Invalid property: 'expiration'")).await;
    assert_bad(&s, &p, key(json!({"algorithm": "aes", "bit_length": 128, "expiration": "2001-01-01T00:00:00"})), &format!("{M}'expiration' is before current time. Invalid property: 'expiration'")).await;
    assert_bad(&s, &p, key(json!({"algorithm": "aes", "bit_length": 128, "payload": "abc"})), &format!("{M}If 'payload' is supplied, 'payload_content_type' must also be supplied.. Invalid property: 'payload_content_type'")).await;
    let ct_list = "payload_content_type is not one of ['text/plain', 'text/plain;charset=utf-8', 'text/plain; charset=utf-8', 'application/octet-stream', 'application/pkcs8']. Invalid property: 'payload_content_type'";
    assert_bad(&s, &p, key(json!({"algorithm": "aes", "bit_length": 128, "payload_content_type": "application/json"})), &format!("{M}{ct_list}")).await;
    assert_bad(&s, &p, key(json!({"algorithm": "aes", "bit_length": 128, "payload": "abc", "payload_content_type": "text/html"})), &format!("{M}{ct_list}")).await;
    assert_bad(&s, &p, key(json!({"algorithm": "aes", "bit_length": 128, "payload": "abc", "payload_content_type": "application/octet-stream"})), &format!("{M}payload_content_encoding is not one of ['base64', 'binary']. Invalid property: 'payload_content_encoding'")).await;
    assert_bad(&s, &p, key(json!({"algorithm": "aes", "bit_length": 128, "payload": " ", "payload_content_type": "text/plain"})), &format!("{M}If 'payload' specified, must be non empty. Invalid property: 'payload'")).await;
    // The order rules.
    assert_bad(&s, &p, key(json!({"algorithm": "aes", "bit_length": 128, "payload": "abc", "payload_content_type": "text/plain"})), &format!("{O}'payload' not allowed for key type order. Invalid property: 'meta'")).await;
    assert_bad(&s, &p, asym(json!({"algorithm": "rsa", "bit_length": 2048, "payload": "abc", "payload_content_type": "text/plain"})), &format!("{O}'payload' not allowed for asymmetric type order. Invalid property: 'meta'")).await;
    assert_bad(&s, &p, key(json!({"bit_length": 128})), &format!("{O}'algorithm' is required field for key type order. Invalid property: 'meta'")).await;
    assert_bad(&s, &p, key(json!({"algorithm": "", "bit_length": 128})), &format!("{O}'algorithm' is required field for key type order. Invalid property: 'meta'")).await;
    assert_bad(&s, &p, asym(json!({"bit_length": 2048})), &format!("{O}'algorithm' is required field for asymmetric key type order. Invalid property: 'meta'")).await;
    assert_bad(&s, &p, key(json!({"algorithm": "aes"})), &format!("{O}'bit_length' is required field for key type order. Invalid property: 'meta'")).await;
    assert_bad(&s, &p, asym(json!({"algorithm": "rsa"})), &format!("{O}'bit_length' is required field for asymmetric key type order. Invalid property: 'meta'")).await;
    assert_bad(&s, &p, key(json!({"algorithm": "aes", "bit_length": 129})), "Provided field value is not supported").await;
    assert_bad(&s, &p, asym(json!({"algorithm": "rsa", "bit_length": 2047})), "Provided field value is not supported").await;
    // Nothing was created by any of these.
    assert_eq!(get_json(&s, &p, "/v1/orders").await, json!({"orders": [], "total": 0}));
}

// ---- key orders ------------------------------------------------------------------------------

#[actix_web::test]
async fn key_orders_of_each_algorithm_and_length() {
    let s = start().await;
    let p = common::project();
    for alg in ["aes", "AES", "des", "hmacsha1", "hmacsha256", "hmacsha384", "HmacSHA512"] {
        for bits in [64, 128, 192, 256] {
            let id = key_order(&s, &p, json!({"algorithm": alg, "bit_length": bits, "mode": "cbc"})).await;
            // Made inside the request: already ACTIVE.
            let o = get_order(&s, &p, &id).await;
            assert_eq!(o["status"], "ACTIVE", "{alg}/{bits}: {o}");
            assert_eq!(keys(&o), with_base(&["sub_status", "sub_status_message", "secret_ref"]), "{o}");
            let secret = last_segment(o["secret_ref"].as_str().unwrap());
            let key = payload(&s, &p, &secret).await;
            assert_eq!(key.len(), bits / 8, "{alg}/{bits}");
            let m = get_json(&s, &p, &format!("/v1/secrets/{secret}")).await;
            assert_eq!(m["secret_type"], "symmetric");
            assert_eq!(m["algorithm"], alg, "stored verbatim");
            assert_eq!(m["bit_length"], bits);
            assert_eq!(m["mode"], "cbc");
            assert_eq!(m["content_types"], json!({"default": "application/octet-stream"}));
        }
    }
    // XTS: the length is halved before the check, the key has the full length.
    let id = key_order(&s, &p, json!({"algorithm": "aes", "bit_length": 512, "mode": "XTS"})).await;
    let o = get_order(&s, &p, &id).await;
    assert_eq!(o["status"], "ACTIVE", "{o}");
    assert_eq!(payload(&s, &p, &last_segment(o["secret_ref"].as_str().unwrap())).await.len(), 64);
    // Two keys differ.
    let a = key_order(&s, &p, json!({"algorithm": "aes", "bit_length": 256})).await;
    let b = key_order(&s, &p, json!({"algorithm": "aes", "bit_length": 256})).await;
    let ka = payload(&s, &p, &last_segment(get_order(&s, &p, &a).await["secret_ref"].as_str().unwrap())).await;
    let kb = payload(&s, &p, &last_segment(get_order(&s, &p, &b).await["secret_ref"].as_str().unwrap())).await;
    assert_ne!(ka, kb);
}

#[actix_web::test]
async fn key_order_representation_and_generated_secret() {
    let s = start().await;
    let p = common::project();
    let meta = json!({"algorithm": "AES", "bit_length": 256, "mode": "gcm", "name": "  disk key ",
                      "expiration": "2999-05-01T10:00:00+02:00", "payload_content_type": "application/octet-stream",
                      "secret_type": "opaque", "custom": {"deep": [1, "x"]}});
    let r = s
        .req(Method::POST, "/v1/orders/", &p)
        .header("X-User-Id", "alice")
        .json(&json!({"type": "key", "meta": meta}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let id = last_segment(header(&r, "location").unwrap());
    let o = get_order(&s, &p, &id).await;
    assert_eq!(keys(&o), with_base(&["sub_status", "sub_status_message", "secret_ref", "creator_id"]), "{o}");
    assert_eq!(o["status"], "ACTIVE");
    assert_eq!(o["type"], "key");
    assert_eq!(o["sub_status"], "Unknown");
    assert_eq!(o["sub_status_message"], "Unknown");
    assert_eq!(o["creator_id"], "alice");
    assert_eq!(o["order_ref"], format!("{}/v1/orders/{id}", s.base));
    assert!(o["secret_ref"].as_str().unwrap().starts_with(&format!("{}/v1/secrets/", s.base)));
    // meta: name stripped, expiration normalised to UTC with microseconds, the rest verbatim.
    assert_eq!(
        o["meta"],
        json!({"algorithm": "AES", "bit_length": 256, "mode": "gcm", "name": "disk key",
               "expiration": "2999-05-01T08:00:00.000000", "payload_content_type": "application/octet-stream",
               "secret_type": "opaque", "custom": {"deep": [1, "x"]}})
    );
    for ts in [&o["created"], &o["updated"]] {
        let t = ts.as_str().unwrap();
        assert!(chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f").is_ok() && !t.ends_with('Z'), "{t}");
    }
    // The secret: symmetric whatever meta says, from the order's meta and creator.
    let secret = last_segment(o["secret_ref"].as_str().unwrap());
    let m = get_json(&s, &p, &format!("/v1/secrets/{secret}")).await;
    assert_eq!(m["secret_type"], "symmetric");
    assert_eq!(m["name"], "disk key");
    assert_eq!(m["algorithm"], "AES");
    assert_eq!(m["bit_length"], 256);
    assert_eq!(m["mode"], "gcm");
    assert_eq!(m["expiration"], "2999-05-01T08:00:00");
    assert_eq!(m["creator_id"], "alice");
    assert_eq!(payload(&s, &p, &secret).await.len(), 32);

    // Defaults: name and expiration are added as null; no creator without a user id.
    let id = key_order(&s, &p, json!({"algorithm": "aes", "bit_length": 128, "mode": ""})).await;
    let o = get_order(&s, &p, &id).await;
    assert_eq!(o["meta"], json!({"algorithm": "aes", "bit_length": 128, "mode": "", "name": null, "expiration": null}));
    assert!(o.get("creator_id").is_none());
    // A content type without payload is allowed (and used for the secret).
    let id = key_order(&s, &p, json!({"algorithm": "aes", "bit_length": 128, "payload_content_type": "application/pkcs8"})).await;
    let o = get_order(&s, &p, &id).await;
    let m = get_json(&s, &p, &format!("/v1/secrets/{}", last_segment(o["secret_ref"].as_str().unwrap()))).await;
    assert_eq!(m["content_types"], json!({"default": "application/pkcs8"}));
}

#[actix_web::test]
async fn error_orders() {
    let s = start().await;
    let p = common::project();
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("key", json!({"algorithm": "3des", "bit_length": 192}), "400", "Process TypeOrder issue seen - Secret generate supported plugin not found.."),
        ("key", json!({"algorithm": "desede", "bit_length": 192}), "400", ISSUE_ALG),
        ("key", json!({"algorithm": "rsa", "bit_length": 2048}), "400", ISSUE_ALG),
        ("key", json!({"algorithm": "diffie_hellman", "bit_length": 2048}), "400", ISSUE_ALG),
        ("key", json!({"algorithm": "aes", "bit_length": 512}), "500", FAILURE),
        ("key", json!({"algorithm": "aes", "bit_length": 136}), "500", FAILURE),
        ("key", json!({"algorithm": "hmacsha512", "bit_length": 512}), "500", FAILURE),
        ("key", json!({"algorithm": "aes", "bit_length": 1024, "mode": "xts"}), "500", FAILURE),
        ("asymmetric", json!({"algorithm": "ec", "bit_length": 256}), "400", ISSUE_ALG),
        ("asymmetric", json!({"algorithm": "aes", "bit_length": 256}), "400", ISSUE_ALG),
        // DSA is not generated by Portcullis (deliberate deviation, see the order service).
        ("asymmetric", json!({"algorithm": "dsa", "bit_length": 2048}), "400", ISSUE_ALG),
        ("asymmetric", json!({"algorithm": "rsa", "bit_length": 512}), "500", FAILURE),
        ("asymmetric", json!({"algorithm": "RSA", "bit_length": 3072}), "500", FAILURE),
    ];
    for (t, meta, code, reason) in cases {
        let id = order(&s, &p, json!({"type": t, "meta": meta.clone()})).await;
        let o = wait(&s, &p, &id).await;
        assert_eq!(o["status"], "ERROR", "{meta}: {o}");
        assert_eq!(o["error_status_code"], code, "a string: {meta}");
        assert_eq!(o["error_reason"], reason, "{meta}");
        assert_eq!(keys(&o), with_base(&["error_status_code", "error_reason"]), "{o}");
    }
    // Key orders fail inside the request already.
    let id = key_order(&s, &p, json!({"algorithm": "blowfish", "bit_length": 128})).await;
    assert_eq!(get_order(&s, &p, &id).await["status"], "ERROR");
    // Nothing was generated.
    assert_eq!(get_json(&s, &p, "/v1/secrets").await["total"], 0);
}

// ---- asymmetric orders -----------------------------------------------------------------------

async fn container_refs(s: &common::TestServer, p: &str, o: &Value) -> (Value, Vec<(String, String)>) {
    let c = get_json(s, p, &format!("/v1/containers/{}", last_segment(o["container_ref"].as_str().unwrap()))).await;
    let mut refs: Vec<(String, String)> = c["secret_refs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap().to_string(), last_segment(r["secret_ref"].as_str().unwrap())))
        .collect();
    refs.sort();
    (c, refs)
}

/// Barbican without a queue (its default) finishes an RSA order inside the POST
/// (`_DirectTaskInvokerClient`): the first GET already shows it ACTIVE with its container.
#[actix_web::test]
async fn rsa_order_is_active_at_the_first_get_with_an_rsa_container() {
    let s = start().await;
    let p = common::project();
    let r = s
        .req(Method::POST, "/v1/orders", &p)
        .header("X-User-Id", "bob")
        .json(&json!({"type": "asymmetric", "meta": {"algorithm": "RSA", "bit_length": 2048, "name": "pair"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let id = last_segment(header(&r, "location").unwrap());
    let o = get_order(&s, &p, &id).await;
    assert_eq!(o["status"], "ACTIVE", "the first GET: {o}");
    assert_eq!(keys(&o), with_base(&["sub_status", "sub_status_message", "container_ref", "creator_id"]), "{o}");
    assert_eq!(o["type"], "asymmetric");
    assert_eq!(o["meta"], json!({"algorithm": "RSA", "bit_length": 2048, "name": "pair", "expiration": null}));
    let (c, refs) = container_refs(&s, &p, &o).await;
    assert_eq!(c["type"], "rsa");
    assert_eq!(c["name"], "pair");
    assert_eq!(c["creator_id"], "bob");
    assert_eq!(refs.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(), ["private_key", "public_key"]);

    let private_id = &refs[0].1;
    let public_id = &refs[1].1;
    let private_pem = String::from_utf8(payload(&s, &p, private_id).await).unwrap();
    let public_pem = String::from_utf8(payload(&s, &p, public_id).await).unwrap();
    assert!(private_pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{private_pem}");
    assert!(public_pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{public_pem}");
    let private = RsaPrivateKey::from_pkcs8_pem(&private_pem).expect("PKCS#8 PEM");
    let public = RsaPublicKey::from_public_key_pem(&public_pem).expect("SubjectPublicKeyInfo PEM");
    assert_eq!(private.size() * 8, 2048);
    assert_eq!(public.e(), &rsa::BigUint::from(65537u32));
    assert_eq!(RsaPublicKey::from(&private), public, "one key pair");
    for (sid, t) in [(private_id, "private"), (public_id, "public")] {
        let m = get_json(&s, &p, &format!("/v1/secrets/{sid}")).await;
        assert_eq!(m["secret_type"], t);
        assert_eq!(m["name"], "pair");
        assert_eq!(m["algorithm"], "RSA");
        assert_eq!(m["bit_length"], 2048);
        assert_eq!(m["creator_id"], "bob");
        assert_eq!(m["content_types"], json!({"default": "application/octet-stream"}));
    }
}

#[actix_web::test]
async fn rsa_order_with_passphrase() {
    let s = start().await;
    let p = common::project();
    let id = order(
        &s,
        &p,
        json!({"type": "asymmetric", "meta": {"algorithm": "rsa", "bit_length": 2048, "passphrase": "correct horse"}}),
    )
    .await;
    let o = wait(&s, &p, &id).await;
    assert_eq!(o["status"], "ACTIVE", "{o}");
    // Barbican echoes meta verbatim, passphrase included; Portcullis never stores or shows it.
    assert_eq!(o["meta"], json!({"algorithm": "rsa", "bit_length": 2048, "name": null, "expiration": null}));
    assert_passphrase_nowhere(&s, &p, "correct horse").await;
    let (c, refs) = container_refs(&s, &p, &o).await;
    assert_eq!(c["type"], "rsa");
    assert_eq!(c["name"], Value::Null);
    assert_eq!(
        refs.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        ["private_key", "private_key_passphrase", "public_key"]
    );
    let pem = String::from_utf8(payload(&s, &p, &refs[0].1).await).unwrap();
    assert_eq!(payload(&s, &p, &refs[1].1).await, b"correct horse");
    let public_pem = String::from_utf8(payload(&s, &p, &refs[2].1).await).unwrap();
    let m = get_json(&s, &p, &format!("/v1/secrets/{}", refs[1].1)).await;
    assert_eq!(m["secret_type"], "passphrase");
    // (Decrypted last, on a blocking thread: PBKDF2 must not stall the client's connections.)
    let (private, wrong) = actix_web::web::block(move || {
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"), "{pem}");
        assert!(RsaPrivateKey::from_pkcs8_pem(&pem).is_err(), "encrypted");
        (RsaPrivateKey::from_pkcs8_encrypted_pem(&pem, "correct horse"), RsaPrivateKey::from_pkcs8_encrypted_pem(&pem, "wrong"))
    })
    .await
    .unwrap();
    let private = private.expect("decrypts with the passphrase");
    assert!(wrong.is_err());
    assert_eq!(RsaPublicKey::from(&private), RsaPublicKey::from_public_key_pem(&public_pem).unwrap());
}

/// Past `[orders] inline_budget_ms` the POST answers and the order finishes in the background.
#[actix_web::test]
async fn rsa_4096_order_answers_while_pending() {
    let s = start_with(|cfg| cfg.orders.inline_budget_ms = 50).await;
    let p = common::project();
    let started = Instant::now();
    let id = order(&s, &p, json!({"type": "asymmetric", "meta": {"algorithm": "rsa", "bit_length": 4096}})).await;
    let o = get_order(&s, &p, &id).await;
    // A 4096-bit key takes far longer than a POST and a GET on loopback.
    assert_eq!(o["status"], "PENDING", "answered {:?} after the POST: {o}", started.elapsed());
    assert_eq!(keys(&o), with_base(&[]), "no sub-status, error or refs while PENDING: {o}");
    // Listing works meanwhile and shows it.
    let l = get_json(&s, &p, "/v1/orders").await;
    assert_eq!(l["orders"][0]["status"], "PENDING");
    let o = wait(&s, &p, &id).await;
    assert_eq!(o["status"], "ACTIVE", "{o}");
    let (_, refs) = container_refs(&s, &p, &o).await;
    let private = RsaPrivateKey::from_pkcs8_pem(&String::from_utf8(payload(&s, &p, &refs[0].1).await).unwrap()).unwrap();
    assert_eq!(private.size() * 8, 4096);
}

// ---- list, get, delete, put ------------------------------------------------------------------

#[actix_web::test]
async fn list_paging_and_meta_filter() {
    let s = start().await;
    let p = common::project();
    let a = key_order(&s, &p, json!({"algorithm": "aes", "bit_length": 128, "name": "alpha"})).await;
    let b = key_order(&s, &p, json!({"algorithm": "aes", "bit_length": 256, "name": "Beta"})).await;
    let c = key_order(&s, &p, json!({"algorithm": "des", "bit_length": 64, "name": "gamma", "note": "aes"})).await;
    // Another project's orders are not listed.
    key_order(&s, &common::project(), json!({"algorithm": "aes", "bit_length": 128})).await;

    let l = get_json(&s, &p, "/v1/orders").await;
    assert_eq!(keys(&l), ["orders", "total"]);
    assert_eq!(l["total"], 3);
    let ids: Vec<String> = l["orders"].as_array().unwrap().iter().map(|o| last_segment(o["order_ref"].as_str().unwrap())).collect();
    assert_eq!(ids, [a.clone(), b.clone(), c.clone()], "created ascending");
    assert_eq!(keys(&l["orders"][0]), with_base(&["sub_status", "sub_status_message", "secret_ref"]));

    let ids_for = |v: &Value| -> Vec<String> {
        v["orders"].as_array().unwrap().iter().map(|o| last_segment(o["order_ref"].as_str().unwrap())).collect()
    };
    // Any meta string value or key equal to the text; case-sensitive; numbers never match.
    let f = get_json(&s, &p, "/v1/orders?meta=aes").await;
    assert_eq!((f["total"].clone(), ids_for(&f)), (json!(3), vec![a.clone(), b.clone(), c.clone()]));
    let f = get_json(&s, &p, "/v1/orders?meta=des").await;
    assert_eq!(ids_for(&f), [c.as_str()]);
    let f = get_json(&s, &p, "/v1/orders?meta=alpha").await;
    assert_eq!(ids_for(&f), [a.as_str()]);
    assert_eq!(get_json(&s, &p, "/v1/orders?meta=beta").await, json!({"orders": [], "total": 0}));
    assert_eq!(get_json(&s, &p, "/v1/orders?meta=Beta").await["total"], 1);
    assert_eq!(get_json(&s, &p, "/v1/orders?meta=alph").await["total"], 0);
    assert_eq!(get_json(&s, &p, "/v1/orders?meta=128").await["total"], 0);
    assert_eq!(get_json(&s, &p, "/v1/orders?meta=note").await["total"], 1, "keys match too");
    assert_eq!(get_json(&s, &p, "/v1/orders?meta=").await["total"], 3, "empty = no filter");
    assert_eq!(get_json(&s, &p, "/v1/orders?meta=%25").await["total"], 0, "no LIKE wildcards");

    // Paging.
    let pg = get_json(&s, &p, "/v1/orders?limit=1&offset=1").await;
    assert_eq!(ids_for(&pg), [b.as_str()]);
    assert_eq!(pg["total"], 3);
    assert_eq!(pg["next"], format!("{}/v1/orders?limit=1&offset=2", s.base));
    assert_eq!(pg["previous"], format!("{}/v1/orders?limit=1&offset=0", s.base));
    let pg = get_json(&s, &p, "/v1/orders?limit=2&meta=aes").await;
    assert_eq!(pg["next"], format!("{}/v1/orders?limit=2&offset=2", s.base), "other parameters are not carried");
    assert!(pg.get("previous").is_none());
    assert_eq!(get_json(&s, &p, "/v1/orders?offset=5").await, json!({"orders": [], "total": 3}));

    let r = s.req(Method::GET, "/v1/orders", &p).header("Accept", "text/plain").send().await.unwrap();
    common::assert_error(r, 406, "Not Acceptable", None).await;
}

#[actix_web::test]
async fn lookups_are_project_scoped() {
    let s = start().await;
    let p = common::project();
    let other = common::project();
    let id = key_order(&s, &p, json!({"algorithm": "aes", "bit_length": 128})).await;
    for m in [Method::GET, Method::DELETE, Method::PUT, Method::POST] {
        let r = s.req(m.clone(), &format!("/v1/orders/{id}"), &other).send().await.unwrap();
        common::assert_error(r, 404, "Not Found", Some(NOT_FOUND)).await;
    }
    for bogus in ["nope", "0b3e0cfe-8d3c-4b47-9b8e-0d2a4e0a5d11"] {
        let r = s.req(Method::GET, &format!("/v1/orders/{bogus}"), &p).send().await.unwrap();
        common::assert_error(r, 404, "Not Found", Some(NOT_FOUND)).await;
    }
    // Unknown sub-resources: looked up first, then a routing 404.
    let r = s.req(Method::GET, &format!("/v1/orders/{id}/x"), &other).send().await.unwrap();
    common::assert_error(r, 404, "Not Found", Some(NOT_FOUND)).await;
    let r = s.req(Method::GET, &format!("/v1/orders/{id}/x"), &p).send().await.unwrap();
    common::assert_error(r, 404, "Not Found", Some("")).await;
    assert_eq!(get_order(&s, &p, &id).await["status"], "ACTIVE");
}

#[actix_web::test]
async fn delete_is_soft_and_keeps_the_secret() {
    let s = start().await;
    let p = common::project();
    let id = key_order(&s, &p, json!({"algorithm": "aes", "bit_length": 128})).await;
    let secret = last_segment(get_order(&s, &p, &id).await["secret_ref"].as_str().unwrap());
    let r = s.req(Method::DELETE, &format!("/v1/orders/{id}"), &p).header("Accept", "text/plain").send().await.unwrap();
    assert_eq!(r.status(), 204);
    let r = s.req(Method::GET, &format!("/v1/orders/{id}"), &p).send().await.unwrap();
    common::assert_error(r, 404, "Not Found", Some(NOT_FOUND)).await;
    let r = s.req(Method::DELETE, &format!("/v1/orders/{id}"), &p).send().await.unwrap();
    common::assert_error(r, 404, "Not Found", Some(NOT_FOUND)).await;
    assert_eq!(get_json(&s, &p, "/v1/orders").await["total"], 0);
    assert_eq!(payload(&s, &p, &secret).await.len(), 16);
}

#[actix_web::test]
async fn put_is_not_supported() {
    let s = start().await;
    let p = common::project();
    let r = s.req(Method::PUT, "/v1/orders", &p).json(&json!({})).send().await.unwrap();
    assert!(r.headers().get("allow").is_none(), "handler-raised 405 has no Allow");
    common::assert_error(r, 405, "Method Not Allowed", Some("Order update is not supported.")).await;
    // Policy first.
    let r = s.req(Method::PUT, "/v1/orders", &p).header("X-Roles", "audit").send().await.unwrap();
    common::assert_error(
        r,
        403,
        "Forbidden",
        Some("Order update attempt not allowed - please review your user/project privileges"),
    )
    .await;
    let id = key_order(&s, &p, json!({"algorithm": "aes", "bit_length": 128})).await;
    let r = s.req(Method::PUT, &format!("/v1/orders/{id}"), &p).json(&json!({})).send().await.unwrap();
    common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
    let r = s.req(Method::PATCH, "/v1/orders", &p).send().await.unwrap();
    common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
}

#[actix_web::test]
async fn legacy_policy() {
    let s = start().await;
    let p = common::project();
    let as_role = |m: Method, path: &str, role: &str| s.req(m, path, &p).header("X-Roles", role).header("X-User-Id", "u1");
    let body = json!({"type": "key", "meta": {"algorithm": "aes", "bit_length": 128}});
    let r = as_role(Method::POST, "/v1/orders", "observer").json(&body).send().await.unwrap();
    common::assert_error(r, 403, "Forbidden", Some("Order creation attempt not allowed - please review your user/project privileges")).await;
    let r = as_role(Method::POST, "/v1/orders", "creator").json(&body).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let id = last_segment(header(&r, "location").unwrap());
    let r = as_role(Method::GET, "/v1/orders", "audit").send().await.unwrap();
    common::assert_error(r, 403, "Forbidden", Some("Order(s) retrieval attempt not allowed - please review your user/project privileges")).await;
    let r = as_role(Method::GET, &format!("/v1/orders/{id}"), "audit").send().await.unwrap();
    assert_eq!(r.status(), 200, "all_users in the project");
    // Deleting needs admin.
    let r = as_role(Method::DELETE, &format!("/v1/orders/{id}"), "creator").send().await.unwrap();
    common::assert_error(r, 403, "Forbidden", Some("Order deletion attempt not allowed - please review your user/project privileges")).await;
    let r = as_role(Method::DELETE, &format!("/v1/orders/{id}"), "admin").send().await.unwrap();
    assert_eq!(r.status(), 204);
}

// ---- quotas ----------------------------------------------------------------------------------

#[actix_web::test]
async fn orders_quota() {
    let s = start_with(|cfg| cfg.quotas.quota_orders = 2).await;
    let p = common::project();
    let body = json!({"type": "key", "meta": {"algorithm": "aes", "bit_length": 128}});
    let first = order(&s, &p, body.clone()).await;
    order(&s, &p, body.clone()).await;
    let r = post(&s, &p, &body).await;
    common::assert_error(r, 403, "Forbidden", Some(QUOTA)).await;
    // Validation comes before the quota.
    assert_bad(&s, &p, json!({"type": "key"}), &format!("{O}'meta' is a required property. Invalid property: 'meta'")).await;
    // Other projects have their own count; a deleted order frees its place.
    order(&s, &common::project(), body.clone()).await;
    let r = s.req(Method::DELETE, &format!("/v1/orders/{first}"), &p).send().await.unwrap();
    assert_eq!(r.status(), 204);
    order(&s, &p, body.clone()).await;

    let s = start_with(|cfg| cfg.quotas.quota_orders = 0).await;
    let r = post(&s, &common::project(), &body).await;
    common::assert_error(r, 403, "Forbidden", Some(QUOTA)).await;
}

#[actix_web::test]
async fn generated_entities_ignore_secret_and_container_quotas() {
    let s = start_with(|cfg| {
        cfg.quotas.quota_secrets = 0;
        cfg.quotas.quota_containers = 0;
    })
    .await;
    let p = common::project();
    let k = key_order(&s, &p, json!({"algorithm": "aes", "bit_length": 256})).await;
    assert_eq!(get_order(&s, &p, &k).await["status"], "ACTIVE");
    let a = order(&s, &p, json!({"type": "asymmetric", "meta": {"algorithm": "rsa", "bit_length": 1024}})).await;
    let o = wait(&s, &p, &a).await;
    assert_eq!(o["status"], "ACTIVE", "{o}");
    assert_eq!(container_refs(&s, &p, &o).await.1.len(), 2);
}

/// The passphrase is in no order's meta, GET, list or meta filter, and no sealed copy is left
/// once the order ended.
async fn assert_passphrase_nowhere(s: &common::TestServer, p: &str, pass: &str) {
    let l = get_json(s, p, "/v1/orders").await;
    assert!(!l.to_string().contains(pass), "{l}");
    let q: String = url::form_urlencoded::byte_serialize(pass.as_bytes()).collect();
    assert_eq!(get_json(s, p, &format!("/v1/orders?meta={q}")).await["total"], 0, "the meta filter cannot find it");
    assert_eq!(get_json(s, p, "/v1/orders?meta=passphrase").await["total"], 0, "nor its key");
    let (metas, sealed) = stored_passphrase_state(&s.db_url, p);
    assert!(metas.iter().all(|m| !m.contains(pass) && !m.contains("passphrase")), "{metas:?}");
    assert_eq!(sealed, 0, "dropped when the order ended");
}

/// (Every stored meta of the project's orders, how many sealed passphrases they have.)
fn stored_passphrase_state(db_url: &str, project: &str) -> (Vec<String>, i64) {
    use diesel::prelude::*;
    use portcullis::store::schema::{order_passphrases as op, orders as o};
    let mut conn = portcullis::store::DbUrl::parse(db_url).unwrap().establish().expect("db");
    let ids: Vec<String> = o::table.filter(o::project_id.eq(project)).select(o::id).load(&mut conn).unwrap();
    let metas = o::table.filter(o::project_id.eq(project)).select(o::meta).load(&mut conn).unwrap();
    let sealed = op::table.filter(op::order_id.eq_any(&ids)).count().get_result(&mut conn).unwrap();
    (metas, sealed)
}

/// While an order waits, its passphrase is only sealed: not in meta (nor GET, list, the meta
/// filter), and the sealed bytes do not hold it.
#[actix_web::test]
async fn passphrase_is_sealed_while_the_order_runs() {
    let s = start_with(|cfg| cfg.orders.inline_budget_ms = 0).await;
    let p = common::project();
    // A 4096-bit key: seconds of work, whichever server (sharing the database) runs it.
    let pass = "tr0ub4dor&3 (a very particular passphrase)";
    let id = order(&s, &p, json!({"type": "asymmetric", "meta": {"algorithm": "rsa", "bit_length": 4096, "passphrase": pass}})).await;
    let o = get_order(&s, &p, &id).await;
    assert_eq!(o["status"], "PENDING", "{o}");
    assert_eq!(o["meta"], json!({"algorithm": "rsa", "bit_length": 4096, "name": null, "expiration": null}));
    let q: String = url::form_urlencoded::byte_serialize(pass.as_bytes()).collect();
    assert_eq!(get_json(&s, &p, &format!("/v1/orders?meta={q}")).await["total"], 0);
    assert!(!get_json(&s, &p, "/v1/orders").await.to_string().contains("tr0ub4dor"));
    {
        use diesel::prelude::*;
        use portcullis::store::schema::{order_passphrases as op, orders as o};
        let mut conn = portcullis::store::DbUrl::parse(&s.db_url).unwrap().establish().expect("db");
        let meta: String = o::table.find(&id).select(o::meta).first(&mut conn).unwrap();
        assert!(!meta.contains("tr0ub4dor") && !meta.contains("passphrase"), "{meta}");
        let sealed: Vec<u8> = op::table.find(&id).select(op::cypher_text).first(&mut conn).expect("sealed while running");
        assert!(!sealed.windows(9).any(|w| w == b"tr0ub4dor"), "sealed, not plaintext");
    }
    let o = wait(&s, &p, &id).await;
    assert_eq!(o["status"], "ACTIVE", "{o}");
    let (_, refs) = container_refs(&s, &p, &o).await;
    assert_eq!(payload(&s, &p, &refs[1].1).await, pass.as_bytes(), "the container's private_key_passphrase");
    assert_passphrase_nowhere(&s, &p, "tr0ub4dor").await;
}

// ---- the key-generation queue ------------------------------------------------------------------

const QUEUE_FULL: &str = "Order creation issue seen - Key generation queue is full, please retry later.";

/// One project's flood does not starve another: projects are served in turn, so B's order runs
/// after at most one more of A's, not after all of them. (The queue is in memory; on its own
/// SQLite database, so that no other test server picks these orders up at its start.)
#[actix_web::test]
async fn key_generation_is_fair_between_projects() {
    let s = start_with(|cfg| {
        cfg.orders.inline_budget_ms = 0;
        cfg.orders.keygen_workers = 1;
        let own = cfg.kek.file_path.with_file_name(format!("fair-{}.db", uuid::Uuid::new_v4()));
        cfg.default.sql_connection = format!("sqlite://{}", own.display());
    })
    .await;
    let (a, b) = (common::project(), common::project());
    let mut flood = Vec::new();
    for _ in 0..10 {
        flood.push(order(&s, &a, json!({"type": "asymmetric", "meta": {"algorithm": "rsa", "bit_length": 2048}})).await);
    }
    let started = Instant::now();
    let mine = order(&s, &b, json!({"type": "asymmetric", "meta": {"algorithm": "rsa", "bit_length": 1024}})).await;
    let o = wait(&s, &b, &mine).await;
    assert_eq!(o["status"], "ACTIVE", "{o}");
    assert!(started.elapsed() < Duration::from_secs(120), "B waited {:?}", started.elapsed());
    let mut pending = 0;
    for id in &flood {
        if get_order(&s, &a, id).await["status"] == "PENDING" {
            pending += 1;
        }
    }
    assert!(pending >= 5, "B's order ran after only a few of A's, not after all: {pending} of A's 10 still PENDING");
    for id in &flood {
        assert_eq!(wait(&s, &a, id).await["status"], "ACTIVE");
    }
}

/// A full queue (in all, or one project's share) refuses new asymmetric orders with 503 and
/// writes nothing; places come back when orders finish.
#[actix_web::test]
async fn a_full_key_generation_queue_refuses_with_nothing_written() {
    let s = start_with(|cfg| {
        cfg.orders.inline_budget_ms = 0;
        cfg.orders.keygen_workers = 1;
        cfg.orders.queue_size = 3;
        cfg.orders.queue_size_per_project = 2;
    })
    .await;
    let (a, b, c) = (common::project(), common::project(), common::project());
    let rsa = |bits: u32| json!({"type": "asymmetric", "meta": {"algorithm": "rsa", "bit_length": bits}});
    let a1 = order(&s, &a, rsa(4096)).await;
    let a2 = order(&s, &a, rsa(1024)).await;
    // (The only key-generation thread is busy with the 4096-bit key all along.)
    let refused = |r: Response| async move {
        assert_eq!(header(&r, "retry-after"), Some("5"));
        common::assert_error(r, 503, "Service Unavailable", Some(QUEUE_FULL)).await;
    };
    refused(post(&s, &a, &rsa(1024)).await).await; // A's share (2) is full
    order(&s, &b, rsa(1024)).await; // the third and last place
    refused(post(&s, &c, &rsa(1024)).await).await; // the queue is full
    // Key orders do not use the queue.
    key_order(&s, &c, json!({"algorithm": "aes", "bit_length": 128})).await;
    assert_eq!(get_json(&s, &a, "/v1/orders").await["total"], 2, "no order row for the refused ones");
    assert_eq!(get_json(&s, &c, "/v1/orders").await["total"], 1);
    assert_eq!(wait(&s, &a, &a1).await["status"], "ACTIVE");
    assert_eq!(wait(&s, &a, &a2).await["status"], "ACTIVE");
    // Places are given back once orders have run.
    let start = Instant::now();
    loop {
        let r = post(&s, &c, &rsa(1024)).await;
        if r.status() == 202 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "the queue never freed");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---- recovery at start -----------------------------------------------------------------------

fn insert_pending(db_url: &str, project: &str, order_type: &str, meta: Value) -> String {
    use diesel::prelude::*;
    use portcullis::store::schema::orders as o;
    let mut conn = portcullis::store::DbUrl::parse(db_url).unwrap().establish().expect("db");
    let id = uuid::Uuid::new_v4().to_string();
    let t = portcullis::store::now_micros();
    diesel::insert_into(o::table)
        .values((
            o::id.eq(&id),
            o::project_id.eq(project),
            o::creator_id.eq(Some("crashed-user")),
            o::order_type.eq(order_type),
            o::status.eq("PENDING"),
            o::meta.eq(meta.to_string()),
            o::created_at.eq(t),
            o::updated_at.eq(t),
        ))
        .execute(&mut conn)
        .expect("insert order");
    id
}

#[actix_web::test]
async fn orders_left_pending_are_processed_at_start() {
    let first = start().await;
    let p = common::project();
    let key = insert_pending(&first.db_url, &p, "key", json!({"algorithm": "aes", "bit_length": 256, "name": "k", "expiration": null}));
    let pair = insert_pending(&first.db_url, &p, "asymmetric", json!({"algorithm": "rsa", "bit_length": 1024, "name": null, "expiration": null}));
    let broken = insert_pending(&first.db_url, &p, "key", json!({"bit_length": 256}));
    if first.db_url.starts_with("sqlite") {
        // (On a database shared with concurrently starting test servers, any of them may run it.)
        assert_eq!(get_order(&first, &p, &key).await["status"], "PENDING", "nothing runs them before a start");
    }

    // A second server on the same database (and master KEK) starts.
    let db_url = first.db_url.clone();
    let kek_file = first.kek_file.clone();
    let second = start_with(move |cfg| {
        cfg.default.sql_connection = db_url;
        cfg.kek.file_path = kek_file;
    })
    .await;
    let o = wait(&second, &p, &key).await;
    assert_eq!(o["status"], "ACTIVE", "{o}");
    assert_eq!(o["creator_id"], "crashed-user");
    assert_eq!(payload(&second, &p, &last_segment(o["secret_ref"].as_str().unwrap())).await.len(), 32);
    let o = wait(&second, &p, &pair).await;
    assert_eq!(o["status"], "ACTIVE", "{o}");
    assert_eq!(container_refs(&second, &p, &o).await.1.len(), 2);
    let o = wait(&second, &p, &broken).await;
    assert_eq!(o["status"], "ERROR", "{o}");
    assert_eq!(o["error_status_code"], "500");
    assert_eq!(o["error_reason"], FAILURE);
    // Exactly one secret per generated key, even with two servers alive.
    assert_eq!(get_json(&first, &p, "/v1/secrets").await["total"], 3);
}

/// Orders written by an earlier version kept the passphrase in their meta: at start it is
/// dropped from every meta, and a running order gets it sealed and still uses it.
#[actix_web::test]
async fn passphrases_left_in_meta_are_sealed_or_dropped_at_start() {
    let first = start().await;
    let p = common::project();
    let pass = "legacy-horse-battery";
    let running = insert_pending(&first.db_url, &p, "asymmetric", json!({"algorithm": "rsa", "bit_length": 1024, "name": null, "expiration": null, "passphrase": pass}));
    let ended = insert_pending(&first.db_url, &p, "asymmetric", json!({"algorithm": "rsa", "bit_length": 1024, "passphrase": pass}));
    {
        use diesel::prelude::*;
        use portcullis::store::schema::orders as o;
        let mut conn = portcullis::store::DbUrl::parse(&first.db_url).unwrap().establish().expect("db");
        diesel::update(o::table.find(&ended)).set(o::status.eq("ERROR")).execute(&mut conn).unwrap();
    }
    let db_url = first.db_url.clone();
    let kek_file = first.kek_file.clone();
    let second = start_with(move |cfg| {
        cfg.default.sql_connection = db_url;
        cfg.kek.file_path = kek_file;
    })
    .await;
    let o = wait(&second, &p, &running).await;
    assert_eq!(o["status"], "ACTIVE", "{o}");
    assert_eq!(o["meta"], json!({"algorithm": "rsa", "bit_length": 1024, "name": null, "expiration": null}));
    let (_, refs) = container_refs(&second, &p, &o).await;
    assert_eq!(refs.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(), ["private_key", "private_key_passphrase", "public_key"]);
    assert_eq!(payload(&second, &p, &refs[1].1).await, pass.as_bytes());
    let pem = String::from_utf8(payload(&second, &p, &refs[0].1).await).unwrap();
    assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"), "{pem}");
    assert_eq!(get_order(&second, &p, &ended).await["meta"], json!({"algorithm": "rsa", "bit_length": 1024}));
    assert_passphrase_nowhere(&second, &p, pass).await;
}
