//! Secret user metadata: `/v1/secrets/{id}/metadata[/{key}]` (contract §5.3).

use crate::common;
use reqwest::{Method, Response};
use serde_json::{json, Value};

const META_NOT_FOUND: &str = "Secret metadata not found.";
const URL_SAFE: &str = "Invalid Key. Key must be URL safe.";
const NOT_STRINGS: &str = "Invalid Metadata. Keys and Values must be Strings.";
const META_SCHEMA: &str = "Provided object does not match schema 'SecretMetadata': ";
const DATUM_SCHEMA: &str = "Provided object does not match schema 'SecretMetadatum': ";

fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

struct Fixture {
    s: common::TestServer,
    p: String,
    id: String,
}

impl Fixture {
    async fn new() -> Fixture {
        let s = common::start().await;
        let p = common::project();
        let id = s.create_secret(&p, json!({"name": "with metadata"})).await;
        Fixture { s, p, id }
    }

    fn path(&self, rest: &str) -> String {
        format!("/v1/secrets/{}/metadata{rest}", self.id)
    }

    async fn send(&self, m: Method, rest: &str, body: Option<Value>) -> Response {
        let mut rb = self.s.req(m, &self.path(rest), &self.p);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        rb.send().await.unwrap()
    }

    async fn all(&self) -> Value {
        let r = self.send(Method::GET, "", None).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "content-type"), Some("application/json"));
        r.json().await.unwrap()
    }

    fn href(&self, rest: &str) -> String {
        format!("{}/v1/secrets/{}/metadata{rest}", self.s.base, self.id)
    }
}

// ---- GET/PUT /metadata -----------------------------------------------------------------------

#[actix_web::test]
async fn empty_metadata() {
    let f = Fixture::new().await;
    assert_eq!(f.all().await, json!({"metadata": {}}));
}

#[actix_web::test]
async fn put_replaces_all() {
    let f = Fixture::new().await;
    let r = f.send(Method::PUT, "", Some(json!({"metadata": {"Color": " Blue ", "size_1": "XL", "with-dash": "v"}, "ignored": 1}))).await;
    assert_eq!(r.status(), 201);
    assert!(header(&r, "location").is_none(), "no Location on PUT");
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"metadata_ref": f.href("")}));
    // Keys lowercased, values stripped but not lowercased.
    assert_eq!(f.all().await, json!({"metadata": {"color": "Blue", "size_1": "XL", "with-dash": "v"}}));

    // A second PUT replaces everything.
    let r = f.send(Method::PUT, "", Some(json!({"metadata": {"other": "1"}}))).await;
    assert_eq!(r.status(), 201);
    assert_eq!(f.all().await, json!({"metadata": {"other": "1"}}));
    // An empty object clears.
    let r = f.send(Method::PUT, "", Some(json!({"metadata": {}}))).await;
    assert_eq!(r.status(), 201);
    assert_eq!(f.all().await, json!({"metadata": {}}));
}

#[actix_web::test]
async fn put_errors() {
    let f = Fixture::new().await;
    f.send(Method::PUT, "", Some(json!({"metadata": {"keep": "me"}}))).await;
    let cases: Vec<(Value, String)> = vec![
        (json!({}), format!("{META_SCHEMA}'metadata' is a required property. Invalid property: 'metadata'")),
        (json!({"other": {}}), format!("{META_SCHEMA}'metadata' is a required property. Invalid property: 'metadata'")),
        (json!({"metadata": "x"}), format!("{META_SCHEMA}'x' is not of type 'object'. Invalid property: 'metadata'")),
        (json!({"metadata": [1, 2]}), format!("{META_SCHEMA}[1, 2] is not of type 'object'. Invalid property: 'metadata'")),
        (json!({"metadata": null}), format!("{META_SCHEMA}None is not of type 'object'. Invalid property: 'metadata'")),
        (json!([1, 2]), format!("{META_SCHEMA}[1, 2] is not of type 'object'. Invalid property: 'None'")),
        (json!({"metadata": {"a": 1}}), NOT_STRINGS.to_string()),
        (json!({"metadata": {"a": null}}), NOT_STRINGS.to_string()),
        (json!({"metadata": {"a": {"b": "c"}}}), NOT_STRINGS.to_string()),
        (json!({"metadata": {"a b": "c"}}), URL_SAFE.to_string()),
        (json!({"metadata": {"a/b": "c"}}), URL_SAFE.to_string()),
        (json!({"metadata": {"ok": "v", "é": "c"}}), URL_SAFE.to_string()),
    ];
    for (body, msg) in cases {
        let r = f.send(Method::PUT, "", Some(body.clone())).await;
        common::assert_error(r, 400, "Bad Request", Some(&msg)).await;
    }
    let r = f.s.req(Method::PUT, &f.path(""), &f.p).header("Content-Type", "application/json").body("{").send().await.unwrap();
    common::assert_error(r, 400, "Bad Request", Some("Malformed JSON")).await;
    let r = f.s.req(Method::PUT, &f.path(""), &f.p).header("Content-Type", "text/plain").body("{}").send().await.unwrap();
    common::assert_error(r, 415, "Unsupported Media Type", Some("Unexpected content type. Expected content types are: ['application/json']")).await;
    // JSON-only route.
    let r = f.s.req(Method::PUT, &f.path(""), &f.p).header("Accept", "text/plain").json(&json!({"metadata": {}})).send().await.unwrap();
    common::assert_error(r, 406, "Not Acceptable", None).await;
    // Nothing was replaced by the failures.
    assert_eq!(f.all().await, json!({"metadata": {"keep": "me"}}));
}

#[actix_web::test]
async fn get_all_answers_json_whatever_the_accept() {
    let f = Fixture::new().await;
    f.send(Method::PUT, "", Some(json!({"metadata": {"k": "v"}}))).await;
    let r = f.s.req(Method::GET, &f.path(""), &f.p).header("Accept", "text/plain").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"metadata": {"k": "v"}}));
}

// ---- POST /metadata --------------------------------------------------------------------------

#[actix_web::test]
async fn post_adds_one() {
    let f = Fixture::new().await;
    let r = f.send(Method::POST, "", Some(json!({"key": "Owner", "value": " Alice "}))).await;
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "location").map(str::to_string), Some(f.href("/owner")));
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"key": "owner", "value": "Alice"}));
    let r = f.send(Method::POST, "", Some(json!({"key": "env", "value": "prod"}))).await;
    assert_eq!(r.status(), 201);
    assert_eq!(f.all().await, json!({"metadata": {"owner": "Alice", "env": "prod"}}));
    // Conflict, also once lowercased.
    for key in ["owner", "OWNER"] {
        let r = f.send(Method::POST, "", Some(json!({"key": key, "value": "Bob"}))).await;
        common::assert_error(r, 409, "Conflict", Some("Conflict. Key in request is already in the secret metadata")).await;
    }
    assert_eq!(f.all().await["metadata"]["owner"], "Alice");
}

#[actix_web::test]
async fn post_errors() {
    let f = Fixture::new().await;
    let long = "k".repeat(256);
    let cases: Vec<(Value, String)> = vec![
        (json!({"key": "a"}), format!("{DATUM_SCHEMA}'value' is a required property. Invalid property: 'value'")),
        (json!({"value": "a"}), format!("{DATUM_SCHEMA}'key' is a required property. Invalid property: 'key'")),
        (json!({"key": "a", "value": "b", "z": 1}), format!("{DATUM_SCHEMA}Additional properties are not allowed ('z' was unexpected). Invalid property: 'None'")),
        (json!({"key": "a", "value": 5}), format!("{DATUM_SCHEMA}5 is not of type 'string'. Invalid property: 'value'")),
        (json!({"key": 5, "value": "a"}), format!("{DATUM_SCHEMA}5 is not of type 'string'. Invalid property: 'key'")),
        (json!({"key": long, "value": "a"}), format!("{DATUM_SCHEMA}'{long}' is too long. Invalid property: 'key'")),
        (json!({"key": "a", "value": long}), format!("{DATUM_SCHEMA}'{long}' is too long. Invalid property: 'value'")),
        (json!({"key": "a b", "value": "c"}), URL_SAFE.to_string()),
        (json!({"key": "a.b", "value": "c"}), URL_SAFE.to_string()),
    ];
    for (body, msg) in cases {
        let r = f.send(Method::POST, "", Some(body)).await;
        common::assert_error(r, 400, "Bad Request", Some(&msg)).await;
    }
    let r = f.s.req(Method::POST, &f.path(""), &f.p).header("Content-Type", "application/json").body("").send().await.unwrap();
    common::assert_error(r, 400, "Bad Request", Some("Malformed JSON")).await;
    let r = f.s.req(Method::POST, &f.path(""), &f.p).body("{\"key\": \"a\", \"value\": \"b\"}").send().await.unwrap();
    common::assert_error(r, 415, "Unsupported Media Type", Some("Unexpected content type. Expected content types are: ['application/json']")).await;
    assert_eq!(f.all().await, json!({"metadata": {}}));
}

// ---- /metadata/{key} -------------------------------------------------------------------------

#[actix_web::test]
async fn get_one() {
    let f = Fixture::new().await;
    f.send(Method::PUT, "", Some(json!({"metadata": {"Region": "EU"}}))).await;
    let r = f.send(Method::GET, "/region", None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"key": "region", "value": "EU"}));
    // Exact, case-sensitive match against the stored lowercase key.
    for key in ["/Region", "/missing"] {
        let r = f.send(Method::GET, key, None).await;
        common::assert_error(r, 404, "Not Found", Some(META_NOT_FOUND)).await;
    }
    let r = f.s.req(Method::GET, &f.path("/region"), &f.p).header("Accept", "text/plain").send().await.unwrap();
    common::assert_error(r, 406, "Not Acceptable", None).await;
}

#[actix_web::test]
async fn put_one() {
    let f = Fixture::new().await;
    f.send(Method::PUT, "", Some(json!({"metadata": {"tier": "gold", "other": "x"}}))).await;
    let r = f.send(Method::PUT, "/tier", Some(json!({"key": "tier", "value": " platinum "}))).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"key": "tier", "value": "platinum"}));
    // The body key is lowercased before the comparison.
    let r = f.send(Method::PUT, "/tier", Some(json!({"key": "TIER", "value": "silver"}))).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"key": "tier", "value": "silver"}));
    assert_eq!(f.all().await, json!({"metadata": {"tier": "silver", "other": "x"}}));

    // Key mismatch: the truncated message, trailing space included.
    let r = f.send(Method::PUT, "/tier", Some(json!({"key": "other", "value": "y"}))).await;
    common::assert_error(r, 409, "Conflict", Some("Key in request data does not match key in the ")).await;
    // URL key not present.
    let r = f.send(Method::PUT, "/missing", Some(json!({"key": "missing", "value": "y"}))).await;
    common::assert_error(r, 404, "Not Found", Some(META_NOT_FOUND)).await;
    // Body validation comes first.
    let r = f.send(Method::PUT, "/missing", Some(json!({"key": "missing"}))).await;
    common::assert_error(r, 400, "Bad Request", Some(&format!("{DATUM_SCHEMA}'value' is a required property. Invalid property: 'value'"))).await;
    let r = f.send(Method::PUT, "/tier", Some(json!({"key": "tier", "value": "v", "extra": "x"}))).await;
    common::assert_error(
        r,
        400,
        "Bad Request",
        Some(&format!("{DATUM_SCHEMA}Additional properties are not allowed ('extra' was unexpected). Invalid property: 'None'")),
    )
    .await;
    let r = f.send(Method::PUT, "/tier", Some(json!({"key": "ti er", "value": "v"}))).await;
    common::assert_error(r, 400, "Bad Request", Some(URL_SAFE)).await;
    assert_eq!(f.all().await, json!({"metadata": {"tier": "silver", "other": "x"}}));
}

#[actix_web::test]
async fn delete_one() {
    let f = Fixture::new().await;
    f.send(Method::PUT, "", Some(json!({"metadata": {"a": "1", "b": "2"}}))).await;
    let r = f.send(Method::DELETE, "/a", None).await;
    assert_eq!(r.status(), 204);
    assert_eq!(r.bytes().await.unwrap().len(), 0);
    assert_eq!(f.all().await, json!({"metadata": {"b": "2"}}));
    let r = f.send(Method::GET, "/a", None).await;
    common::assert_error(r, 404, "Not Found", Some(META_NOT_FOUND)).await;
    // Missing keys too.
    for key in ["/a", "/never-there"] {
        let r = f.send(Method::DELETE, key, None).await;
        assert_eq!(r.status(), 204, "{key}");
    }
    assert_eq!(f.all().await, json!({"metadata": {"b": "2"}}));
}

// ---- routing, look-up, policy ----------------------------------------------------------------

#[actix_web::test]
async fn unsupported_methods_are_405() {
    let f = Fixture::new().await;
    f.send(Method::PUT, "", Some(json!({"metadata": {"a": "1"}}))).await;
    let r = f.send(Method::POST, "/a", Some(json!({"key": "a", "value": "2"}))).await;
    assert_eq!(header(&r, "allow"), Some("DELETE, GET, PUT"));
    common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
    let r = f.send(Method::DELETE, "", None).await;
    assert_eq!(header(&r, "allow"), Some("GET, POST, PUT"));
    common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
    let r = f.send(Method::PATCH, "", Some(json!({}))).await;
    common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
    assert_eq!(f.all().await, json!({"metadata": {"a": "1"}}));
}

#[actix_web::test]
async fn secret_look_up_comes_first() {
    let s = common::start().await;
    let p = common::project();
    let unknown = uuid::Uuid::new_v4().to_string();
    for (id, msg) in [("NOT-A-UUID", "Not Found. Provided secret id is invalid."), (unknown.as_str(), "Secret not found.")] {
        for (m, rest, body) in [
            (Method::GET, "", None),
            (Method::PUT, "", Some(json!({"metadata": {}}))),
            (Method::POST, "", Some(json!({"key": "a", "value": "b"}))),
            (Method::GET, "/a", None),
            (Method::PUT, "/a", Some(json!({"key": "a", "value": "b"}))),
            (Method::DELETE, "/a", None),
        ] {
            let mut rb = s.req(m.clone(), &format!("/v1/secrets/{id}/metadata{rest}"), &p);
            if let Some(b) = body {
                rb = rb.json(&b);
            }
            let r = rb.send().await.unwrap();
            common::assert_error(r, 404, "Not Found", Some(msg)).await;
        }
    }
    // A deleted secret's metadata is gone with it.
    let id = s.create_secret(&p, json!({})).await;
    let r = s.req(Method::PUT, &format!("/v1/secrets/{id}/metadata"), &p).json(&json!({"metadata": {"a": "b"}})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let r = s.req(Method::DELETE, &format!("/v1/secrets/{id}"), &p).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let r = s.req(Method::GET, &format!("/v1/secrets/{id}/metadata/a"), &p).send().await.unwrap();
    common::assert_error(r, 404, "Not Found", Some("Secret not found.")).await;
}

#[actix_web::test]
async fn other_projects_are_forbidden() {
    let f = Fixture::new().await;
    f.send(Method::PUT, "", Some(json!({"metadata": {"a": "1"}}))).await;
    let other = common::project();
    let denied = |op: &str| format!("{op} attempt not allowed - please review your user/project privileges");
    let cases: Vec<(Method, &str, Option<Value>, &str)> = vec![
        (Method::GET, "", None, "Secret metadata retrieval"),
        (Method::PUT, "", Some(json!({"metadata": {}})), "Secret metadata creation"),
        (Method::POST, "", Some(json!({"key": "b", "value": "2"})), "Secret metadatum creation"),
        (Method::GET, "/a", None, "Secret metadatum retrieval"),
        (Method::PUT, "/a", Some(json!({"key": "a", "value": "2"})), "Secret metadatum update"),
        (Method::DELETE, "/a", None, "Secret metadatum removal"),
    ];
    for (m, rest, body, op) in cases {
        let mut rb = f.s.req(m.clone(), &f.path(rest), &other);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        common::assert_error(r, 403, "Forbidden", Some(&denied(op))).await;
    }
    // Legacy roles in the owning project: audit may read, observer may not write.
    let r = f.s.req(Method::GET, &f.path("/a"), &f.p).header("X-Roles", "audit").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = f.s.req(Method::DELETE, &f.path("/a"), &f.p).header("X-Roles", "observer").send().await.unwrap();
    common::assert_error(r, 403, "Forbidden", Some(&denied("Secret metadatum removal"))).await;
    assert_eq!(f.all().await, json!({"metadata": {"a": "1"}}));
}

#[actix_web::test]
async fn accept_negotiation_per_route() {
    let f = Fixture::new().await;
    f.send(Method::PUT, "", Some(json!({"metadata": {"a": "1"}}))).await;
    let with_accept = |m: Method, rest: &str| f.s.req(m, &f.path(rest), &f.p).header("Accept", "text/plain");
    // JSON-only routes.
    let r = with_accept(Method::POST, "").json(&json!({"key": "b", "value": "2"})).send().await.unwrap();
    common::assert_error(r, 406, "Not Acceptable", None).await;
    let r = with_accept(Method::DELETE, "/a").send().await.unwrap();
    common::assert_error(r, 406, "Not Acceptable", None).await;
    // PUT /metadata/{key} passes negotiation and answers JSON.
    let r = with_accept(Method::PUT, "/a").json(&json!({"key": "a", "value": "3"})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"key": "a", "value": "3"}));
    // The collection also answers with a trailing slash.
    let r = f.send(Method::GET, "/", None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"metadata": {"a": "3"}}));
}
