//! Version discovery, health check and the cross-cutting HTTP behaviour of every response
//! (contract §1, §2.1–§2.3, §3.2, §5.1).

use crate::common;
use crate::rawhttp;
use reqwest::Method;
use serde_json::{json, Value};

const MV: &str = "OpenStack-API-Version";

fn stable(base: &str) -> Value {
    json!({
        "id": "v1",
        "status": "stable",
        "links": [
            {"rel": "self", "href": format!("{base}/v1/")},
            {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"}
        ],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.key-manager-v1+json"}]
    })
}

fn current(base: &str) -> Value {
    json!({
        "id": "v1",
        "status": "CURRENT",
        "min_version": "1.0",
        "max_version": "1.2",
        "links": [
            {"rel": "self", "href": format!("{base}/v1/")},
            {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"}
        ]
    })
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

/// `req-` followed by a canonical lowercase UUID4.
fn assert_request_id(v: Option<&str>) -> String {
    let v = v.expect("x-openstack-request-id present");
    let u = v.strip_prefix("req-").unwrap_or_else(|| panic!("req- prefix: {v}"));
    let parsed = uuid::Uuid::parse_str(u).unwrap_or_else(|_| panic!("uuid: {v}"));
    assert_eq!(parsed.get_version_num(), 4, "uuid4: {v}");
    assert_eq!(parsed.hyphenated().to_string(), u, "canonical lowercase: {v}");
    v.to_string()
}

/// The microversion headers that every response passing the microversion layer carries.
fn assert_version_headers(r: &reqwest::Response, expected: &str) {
    assert_eq!(header(r, MV), Some(expected), "OpenStack-API-Version");
    let vary: Vec<&str> = r.headers().get_all("vary").iter().filter_map(|v| v.to_str().ok()).collect();
    assert!(
        vary.iter().any(|v| v.split(',').any(|x| x.trim().eq_ignore_ascii_case("openstack-api-version"))),
        "Vary: {vary:?}"
    );
}

fn assert_no_version_header(r: &reqwest::Response) {
    assert!(r.headers().get(MV).is_none(), "no OpenStack-API-Version: {:?}", r.headers());
}

// ---- GET / -----------------------------------------------------------------------------------

#[actix_web::test]
async fn root_without_microversion_is_300_stable_values_shape() {
    let s = common::start().await;
    let r = s.http.get(s.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 300);
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    assert_version_headers(&r, "key-manager 1.0");
    assert_request_id(header(&r, "x-openstack-request-id"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v, json!({"versions": {"values": [stable(&s.base)]}}));
}

#[actix_web::test]
async fn root_without_accept_header_is_300_json() {
    let s = common::start().await;
    let r = rawhttp::request(&s.base, "GET", "/", &[], b"").await;
    assert_eq!(r.status, 300);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json(), json!({"versions": {"values": [stable(&s.base)]}}));
}

#[actix_web::test]
async fn root_with_microversion_is_300_current_shape() {
    let s = common::start().await;
    for (sent, effective) in [
        ("key-manager 1.1", "key-manager 1.1"),
        ("key-manager 1.2", "key-manager 1.2"),
        ("key-manager latest", "key-manager 1.2"),
        ("compute 2.1, key-manager 1.1", "key-manager 1.1"),
    ] {
        let r = s.http.get(s.url("/")).header(MV, sent).send().await.unwrap();
        assert_eq!(r.status(), 300, "{sent}");
        assert_eq!(header(&r, "content-type"), Some("application/json"));
        assert_version_headers(&r, effective);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v, json!({"versions": [current(&s.base)]}), "{sent}");
    }
    // An entry for another service only is ignored: 1.0.
    let r = s.http.get(s.url("/")).header(MV, "compute 2.1").send().await.unwrap();
    assert_eq!(r.status(), 300);
    assert_version_headers(&r, "key-manager 1.0");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v, json!({"versions": {"values": [stable(&s.base)]}}));
}

#[actix_web::test]
async fn root_build_query() {
    let s = common::start().await;
    let r = s.http.get(s.url("/?build")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v, json!({"build": env!("CARGO_PKG_VERSION")}));
}

#[actix_web::test]
async fn root_json_home_redirects_to_v1() {
    let s = common::start().await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = client.get(s.url("/")).header("Accept", "application/json-home").send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(header(&r, "location").map(str::to_string), Some(format!("{}/v1/", s.base)));
    assert_request_id(header(&r, "x-openstack-request-id"));
    // JSON preferred over json-home: the version list.
    let r = client
        .get(s.url("/"))
        .header("Accept", "application/json-home;q=0.5, application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 300);
}

#[actix_web::test]
async fn root_text_plain_accept_is_406_not_barbican_json() {
    let s = common::start().await;
    let r = s.http.get(s.url("/")).header("Accept", "text/plain").send().await.unwrap();
    assert_eq!(r.status(), 406);
    assert_request_id(header(&r, "x-openstack-request-id"));
    let ct = header(&r, "content-type").unwrap_or("").to_string();
    assert!(ct.starts_with("text/plain"), "webob text rendering: {ct}");
    let body = r.text().await.unwrap();
    assert!(body.contains("406 Not Acceptable"), "{body}");
}

#[actix_web::test]
async fn root_other_methods_are_405_with_allow_get() {
    let s = common::start().await;
    for m in [Method::POST, Method::PUT, Method::DELETE] {
        let r = s.http.request(m.clone(), s.url("/")).send().await.unwrap();
        assert_eq!(r.status(), 405, "{m}");
        assert_eq!(header(&r, "allow"), Some("GET"), "{m}");
        assert_request_id(header(&r, "x-openstack-request-id"));
    }
}

#[actix_web::test]
async fn paths_outside_the_api_are_webob_404() {
    let s = common::start().await;
    let r = s.http.get(s.url("/v2")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_request_id(header(&r, "x-openstack-request-id"));
    assert_ne!(header(&r, "content-type"), Some("application/json"), "not Barbican JSON");
}

// ---- GET /v1 ---------------------------------------------------------------------------------

#[actix_web::test]
async fn v1_stable_shape_at_1_0() {
    let s = common::start().await;
    let p = common::project();
    for path in ["/v1", "/v1/"] {
        let r = s.req(Method::GET, path, &p).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(header(&r, "content-type"), Some("application/json"));
        assert_version_headers(&r, "key-manager 1.0");
        assert_request_id(header(&r, "x-openstack-request-id"));
        let v: Value = r.json().await.unwrap();
        assert_eq!(v, json!({"version": stable(&s.base)}), "{path}");
    }
}

#[actix_web::test]
async fn v1_current_shape_at_1_1_and_later() {
    let s = common::start().await;
    let p = common::project();
    for (path, mv, eff) in [
        ("/v1", "key-manager 1.1", "key-manager 1.1"),
        ("/v1/", "key-manager 1.1", "key-manager 1.1"),
        ("/v1/", "key-manager 1.2", "key-manager 1.2"),
        ("/v1/", "KEY-MANAGER latest", "key-manager 1.2"),
    ] {
        let r = s.req(Method::GET, path, &p).header(MV, mv).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path} {mv}");
        assert_version_headers(&r, eff);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v, json!({"version": current(&s.base)}), "{path} {mv}");
    }
}

#[actix_web::test]
async fn v1_accept_negotiation() {
    let s = common::start().await;
    let p = common::project();
    for ok in ["application/json", "application/json-home", "*/*", "text/html,application/json"] {
        let r = s.req(Method::GET, "/v1/", &p).header("Accept", ok).send().await.unwrap();
        assert_eq!(r.status(), 200, "{ok}");
    }
    let r = s.req(Method::GET, "/v1/", &p).header("Accept", "text/plain").send().await.unwrap();
    assert_version_headers(&r, "key-manager 1.0");
    common::assert_error(r, 406, "Not Acceptable", None).await;
}

#[actix_web::test]
async fn v1_other_methods_are_405() {
    let s = common::start().await;
    let p = common::project();
    for m in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        let r = s.req(m.clone(), "/v1/", &p).send().await.unwrap();
        assert_eq!(header(&r, "allow"), Some("GET"), "{m}");
        assert_version_headers(&r, "key-manager 1.0");
        common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
    }
}

// ---- request ids ----------------------------------------------------------------------------

#[actix_web::test]
async fn every_response_has_a_fresh_request_id() {
    let s = common::start().await;
    let p = common::project();
    let mut seen = std::collections::HashSet::new();
    let cases: Vec<(Method, &str, bool, u16)> = vec![
        (Method::GET, "/", false, 300),
        (Method::GET, "/v1", true, 200),
        (Method::GET, "/v1/secrets", true, 200),
        (Method::GET, "/v1/bogus", true, 404),
        (Method::GET, "/v1/secrets/not-a-uuid", true, 404),
        (Method::PATCH, "/v1/secrets", true, 405),
        (Method::GET, "/v1/secrets", false, 400),
        (Method::GET, "/v2/whatever", false, 404),
        (Method::GET, "/healthcheck", false, 200),
        (Method::HEAD, "/healthcheck", false, 200),
    ];
    for (m, path, with_project, status) in cases {
        let mut rb = s.http.request(m.clone(), s.url(path)).header("X-OpenStack-Request-ID", "req-00000000-0000-4000-8000-000000000000");
        if with_project {
            rb = rb.header("X-Project-Id", &p);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{m} {path}");
        let id = assert_request_id(header(&r, "x-openstack-request-id"));
        assert_ne!(id, "req-00000000-0000-4000-8000-000000000000", "inbound id is not echoed");
        assert!(seen.insert(id), "request ids are unique");
    }
}

// ---- microversion layer ----------------------------------------------------------------------

#[actix_web::test]
async fn version_headers_on_v1_success_and_errors() {
    let s = common::start().await;
    let p = common::project();
    // Success.
    let r = s.req(Method::GET, "/v1/secrets", &p).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_version_headers(&r, "key-manager 1.0");
    let r = s.req(Method::GET, "/v1/secrets", &p).header(MV, "key-manager 1.2").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_version_headers(&r, "key-manager 1.2");
    // Errors from the API app.
    let r = s.req(Method::GET, "/v1/secrets/not-a-uuid", &p).header(MV, "key-manager 1.1").send().await.unwrap();
    assert_version_headers(&r, "key-manager 1.1");
    common::assert_error(r, 404, "Not Found", Some("Not Found. Provided secret id is invalid.")).await;
    let r = s.req(Method::GET, "/v1/nothing-here", &p).send().await.unwrap();
    assert_version_headers(&r, "key-manager 1.0");
    common::assert_error(r, 404, "Not Found", Some("")).await;
    let r = s.req(Method::POST, "/v1/secrets", &p).body("{").header("Content-Type", "application/json").send().await.unwrap();
    assert_version_headers(&r, "key-manager 1.0");
    common::assert_error(r, 400, "Bad Request", Some("Malformed JSON")).await;
}

#[actix_web::test]
async fn unacceptable_microversion_is_406_without_version_header() {
    let s = common::start().await;
    let p = common::project();
    for path in ["/v1/secrets", "/v1/", "/"] {
        for v in ["1.3", "2.0", "0.9"] {
            let r = s.req(Method::GET, path, &p).header(MV, format!("key-manager {v}")).send().await.unwrap();
            assert_eq!(r.status(), 406, "{path} {v}");
            assert_no_version_header(&r);
            assert_request_id(header(&r, "x-openstack-request-id"));
            let body = r.text().await.unwrap();
            assert!(body.contains(&format!("Invalid microversion: Unacceptable version header: {v}")), "{body}");
        }
    }
    // webob's JSON rendering when the client prefers JSON.
    let r = s
        .req(Method::GET, "/v1/secrets", &p)
        .header(MV, "key-manager 1.3")
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "406 Not Acceptable");
    assert_eq!(v["title"], "Not Acceptable");
    assert!(v["message"].as_str().unwrap().contains("Invalid microversion: Unacceptable version header: 1.3"), "{v}");
    assert_eq!(v.as_object().unwrap().len(), 3);
}

#[actix_web::test]
async fn unparseable_microversion_is_400_without_version_header() {
    let s = common::start().await;
    let p = common::project();
    for path in ["/v1/secrets", "/"] {
        let r = s.req(Method::GET, path, &p).header(MV, "key-manager abc").send().await.unwrap();
        assert_eq!(r.status(), 400, "{path}");
        assert_no_version_header(&r);
        let body = r.text().await.unwrap();
        assert!(
            body.contains("Invalid microversion: invalid version string: abc; invalid literal for int() with base 10: 'abc'"),
            "{body}"
        );
    }
    let r = s.req(Method::GET, "/v1/secrets", &p).header(MV, "key-manager 1").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_no_version_header(&r);
    assert!(r.text().await.unwrap().contains("Invalid microversion: invalid version string: 1;"));
}

// ---- noauth context --------------------------------------------------------------------------

#[actix_web::test]
async fn missing_project_id_is_webob_400() {
    let s = common::start().await;
    for path in ["/v1", "/v1/", "/v1/secrets", "/v1/secrets/0b3e0cfe-8d3c-4b47-9b8e-0d2a4e0a5d11"] {
        // No Accept header at all: text/plain.
        let r = rawhttp::request(&s.base, "GET", path, &[], b"").await;
        assert_eq!(r.status, 400, "{path}");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=UTF-8"), "{path}");
        assert!(r.text().contains("Missing X-Project-Id"), "{}", r.text());
        assert!(r.header(MV).is_none(), "auth errors come before the microversion layer");
        assert!(r.header("x-openstack-request-id").is_some());
    }
    // JSON when the client asks for JSON.
    let r = s.http.get(s.url("/v1/secrets")).header("Accept", "application/json").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_no_version_header(&r);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v,
        json!({
            "message": "The server could not comply with the request since it is either malformed or otherwise incorrect.<br /><br />\nMissing X-Project-Id\n\n",
            "code": "400 Bad Request",
            "title": "Bad Request"
        })
    );
    // Empty header counts as missing; authentication wins over a bad microversion.
    let r = s
        .http
        .get(s.url("/v1/secrets"))
        .header("X-Project-Id", "")
        .header(MV, "key-manager 1.3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("Missing X-Project-Id"));
}

// ---- health check ----------------------------------------------------------------------------

#[actix_web::test]
async fn healthcheck_get_and_head() {
    let s = common::start().await;
    let r = s.http.get(s.url("/healthcheck")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-type").unwrap_or("").starts_with("text/plain"));
    assert_request_id(header(&r, "x-openstack-request-id"));
    assert_eq!(r.text().await.unwrap(), "OK");
    let r = s.http.head(s.url("/healthcheck")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_request_id(header(&r, "x-openstack-request-id"));
    assert_eq!(r.text().await.unwrap(), "");
}

// ---- routing errors --------------------------------------------------------------------------

#[actix_web::test]
async fn unknown_v1_paths_are_404_with_empty_description() {
    let s = common::start().await;
    let p = common::project();
    let id = s.create_secret(&p, json!({"name": "x"})).await;
    for path in [
        "/v1/bogus".to_string(),
        "/v1/cas".to_string(),
        "/v1/Secrets".to_string(),
        format!("/v1/secrets/{id}/bogus"),
        format!("/v1/secrets/{id}/payload/extra"),
    ] {
        let r = s.req(Method::GET, &path, &p).send().await.unwrap();
        assert_request_id(header(&r, "x-openstack-request-id"));
        assert_version_headers(&r, "key-manager 1.0");
        common::assert_error(r, 404, "Not Found", Some("")).await;
    }
}

#[actix_web::test]
async fn unknown_methods_are_405_with_allow_header() {
    let s = common::start().await;
    let p = common::project();
    let id = s.create_secret(&p, json!({"name": "x"})).await;
    let cases: Vec<(Method, String, &str)> = vec![
        (Method::PATCH, "/v1/secrets".into(), "GET, POST"),
        (Method::DELETE, "/v1/secrets/".into(), "GET, POST"),
        (Method::PUT, "/v1/secrets".into(), "GET, POST"),
        (Method::POST, format!("/v1/secrets/{id}"), "DELETE, GET, PUT"),
        (Method::PATCH, format!("/v1/secrets/{id}"), "DELETE, GET, PUT"),
        (Method::PUT, format!("/v1/secrets/{id}/payload"), "GET"),
        (Method::POST, "/v1".into(), "GET"),
    ];
    for (m, path, allow) in cases {
        let r = s.req(m.clone(), &path, &p).send().await.unwrap();
        assert_eq!(header(&r, "allow"), Some(allow), "{m} {path}");
        assert_request_id(header(&r, "x-openstack-request-id"));
        common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
    }
    // HEAD and OPTIONS are not implemented either (HEAD has no body to inspect).
    let r = s.req(Method::HEAD, "/v1/secrets", &p).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let r = s.req(Method::OPTIONS, "/v1/secrets", &p).send().await.unwrap();
    common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
}
