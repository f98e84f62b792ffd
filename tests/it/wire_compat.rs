//! Behaviour checked on the wire against the reference Barbican server (pecan/webob/jsonschema
//! details that the contract leaves implicit).

use crate::common;
use crate::rawhttp;
use reqwest::{Method, Response};
use serde_json::{json, Value};

const MV: &str = "OpenStack-API-Version";
const SECRET_SCHEMA: &str = "Provided object does not match schema 'Secret': ";
const DATUM_SCHEMA: &str = "Provided object does not match schema 'SecretMetadatum': ";
const TYPES: &str = "['symmetric', 'passphrase', 'private', 'public', 'certificate', 'opaque']";

fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A secret with a text payload and one metadatum `color=blue`.
async fn fixture(s: &common::TestServer, p: &str) -> String {
    let id = s.create_secret(p, json!({"name": "wire", "payload": "hello wire", "payload_content_type": "text/plain"})).await;
    let r = s
        .req(Method::POST, &format!("/v1/secrets/{id}/metadata"), p)
        .json(&json!({"key": "color", "value": "blue"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    id
}

// ---- Trailing slashes and empty segments ------------------------------------------------------

#[actix_web::test]
async fn trailing_slash_forms_are_served() {
    let s = common::start().await;
    let p = common::project();
    let id = fixture(&s, &p).await;

    let plain: Value = s.req(Method::GET, &format!("/v1/secrets/{id}"), &p).send().await.unwrap().json().await.unwrap();
    let r = s.req(Method::GET, &format!("/v1/secrets/{id}/"), &p).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    assert_eq!(r.json::<Value>().await.unwrap(), plain);

    let r = s.req(Method::GET, &format!("/v1/secrets/{id}/payload/"), &p).header("Accept", "text/plain").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), Some("text/plain; charset=UTF-8"));
    assert_eq!(r.text().await.unwrap(), "hello wire");

    let r = s.req(Method::GET, &format!("/v1/secrets/{id}/metadata/color/"), &p).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"key": "color", "value": "blue"}));

    let r = s.req(Method::GET, &format!("/v1/secrets/{id}/metadata/"), &p).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"metadata": {"color": "blue"}}));

    let r = s.req(Method::GET, "/v1//secrets", &p).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["total"], 1);
    assert_eq!(v["secrets"][0]["secret_ref"], format!("{}/v1/secrets/{id}", s.base));

    // The raw client (no reqwest path normalisation), for the doubled slash too.
    let raw = rawhttp::request(&s.base, "GET", "/v1//secrets", &[("X-Project-Id", &p)], b"").await;
    assert_eq!(raw.status, 200);
    assert_eq!(raw.json()["total"], 1);
    let raw = rawhttp::request(&s.base, "GET", &format!("/v1/secrets/{id}/"), &[("X-Project-Id", &p)], b"").await;
    assert_eq!(raw.status, 200);
    assert_eq!(raw.json(), plain);
}

// ---- Unknown sub-resources of a secret ---------------------------------------------------------

#[actix_web::test]
async fn unknown_secret_subpath_checks_the_id_first() {
    let s = common::start().await;
    let p = common::project();
    let id = fixture(&s, &p).await;
    let r = s.req(Method::GET, "/v1/secrets/not-a-uuid/foo", &p).send().await.unwrap();
    common::assert_error(r, 404, "Not Found", Some("Not Found. Provided secret id is invalid.")).await;
    let unknown = uuid::Uuid::new_v4();
    let r = s.req(Method::GET, &format!("/v1/secrets/{unknown}/foo"), &p).send().await.unwrap();
    common::assert_error(r, 404, "Not Found", Some("Secret not found.")).await;
    let r = s.req(Method::GET, &format!("/v1/secrets/{id}/foo"), &p).send().await.unwrap();
    common::assert_error(r, 404, "Not Found", Some("")).await;
    // Not a policy matter: another project gets the same 404 for an existing secret.
    let r = s.req(Method::GET, &format!("/v1/secrets/{id}/foo"), &common::project()).send().await.unwrap();
    common::assert_error(r, 404, "Not Found", Some("")).await;
}

// ---- jsonschema best_match ---------------------------------------------------------------------

#[actix_web::test]
async fn schema_errors_report_the_reference_best_match() {
    let s = common::start().await;
    let p = common::project();
    let cases = [
        (json!({"algorithm": 5, "mode": 5}), "5 is not of type 'string'. Invalid property: 'mode'".to_string()),
        (json!({"bit_length": 0, "secret_type": "foo"}), format!("'foo' is not one of {TYPES}. Invalid property: 'secret_type'")),
    ];
    for (body, reason) in cases {
        let r = s.req(Method::POST, "/v1/secrets", &p).json(&body).send().await.unwrap();
        common::assert_error(r, 400, "Bad Request", Some(&format!("{SECRET_SCHEMA}{reason}"))).await;
    }

    let id = fixture(&s, &p).await;
    let metadata = format!("/v1/secrets/{id}/metadata");
    let cases = [
        (json!({}), "'value' is a required property. Invalid property: 'value'"),
        (json!({"key": 5, "value": 5}), "5 is not of type 'string'. Invalid property: 'value'"),
    ];
    for (body, reason) in cases {
        let r = s.req(Method::POST, &metadata, &p).json(&body).send().await.unwrap();
        common::assert_error(r, 400, "Bad Request", Some(&format!("{DATUM_SCHEMA}{reason}"))).await;
    }
    // The key check comes before the value type check.
    let r = s.req(Method::PUT, &metadata, &p).json(&json!({"metadata": {"a b": 5}})).send().await.unwrap();
    common::assert_error(r, 400, "Bad Request", Some("Invalid Key. Key must be URL safe.")).await;
    // Nothing was changed by the refused requests.
    let r = s.req(Method::GET, &metadata, &p).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"metadata": {"color": "blue"}}));
    let r = s.req(Method::GET, "/v1/secrets", &p).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["total"], 1);
}

// ---- Microversion header edge cases ------------------------------------------------------------

#[actix_web::test]
async fn empty_microversion_is_absent() {
    let s = common::start().await;
    let p = common::project();
    for v in ["key-manager ", "key-manager"] {
        let r = s.req(Method::GET, "/v1/secrets", &p).header(MV, v).send().await.unwrap();
        assert_eq!(r.status(), 200, "{v:?}");
        assert_eq!(header(&r, "openstack-api-version"), Some("key-manager 1.0"), "{v:?}");
    }
    // Also byte-exact on the wire (trailing space before CRLF).
    let raw = rawhttp::request(&s.base, "GET", "/v1/secrets", &[("X-Project-Id", &p), (MV, "key-manager ")], b"").await;
    assert_eq!(raw.status, 200);
    assert_eq!(raw.header("openstack-api-version"), Some("key-manager 1.0"));
}

#[actix_web::test]
async fn microversion_without_minor_is_400_from_microversion_parse() {
    let s = common::start().await;
    let p = common::project();
    let r = s.req(Method::GET, "/v1/secrets", &p).header(MV, "key-manager 1").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(header(&r, "openstack-api-version").is_none());
    let body = r.text().await.unwrap();
    assert!(
        body.contains("Invalid microversion: invalid version string: 1; Version.__new__() missing 1 required positional argument: 'minor'"),
        "{body}"
    );
    // Same on the version document.
    let r = s.req(Method::GET, "/v1", &p).header(MV, "key-manager 1").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("Version.__new__() missing 1 required positional argument: 'minor'"));
}

// ---- webob rendering outside the API -----------------------------------------------------------

#[actix_web::test]
async fn webob_404_without_accept_is_plain_text() {
    let s = common::start().await;
    for path in ["/v2", "/v2/secrets", "/nothing-here"] {
        let r = rawhttp::request(&s.base, "GET", path, &[], b"").await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=UTF-8"), "{path}");
        let body = r.text();
        assert!(body.starts_with("404 Not Found"), "{path}: {body}");
        assert!(body.contains("The resource could not be found."), "{path}: {body}");
    }
}
