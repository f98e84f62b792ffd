//! Transport keys end to end (contract §5.11): create, list (paging, plugin filter, hrefs),
//! get (raw row, space-separated timestamps), soft delete, ids, Accept classes and policy.

use crate::common;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};

const SA: &str = "key-manager:service-admin";
const SCHEMA: &str = "Provided object does not match schema 'Transport Key': ";
const INVALID_ID: &str = "Not Found. Provided transport key id is invalid.";
const NOT_FOUND: &str = "Not Found. Transport Key not found.";
const UNKNOWN_ID: &str = "6a4d3f8e-1111-4222-8333-444455556666";

fn call(s: &common::TestServer, m: Method, path: &str, roles: &str) -> RequestBuilder {
    s.req(m, path, "tk-project").header("X-Roles", roles).header("X-User-Id", "tk-user")
}

fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

fn denied(op: &str) -> String {
    format!("{op} attempt not allowed - please review your user/project privileges")
}

/// A plugin name of this test only (the list is global).
fn plugin() -> String {
    format!("plugin {}", uuid::Uuid::new_v4())
}

async fn create_as(s: &common::TestServer, roles: &str, plugin: &str, key: &str) -> String {
    let r = call(s, Method::POST, "/v1/transport_keys", roles)
        .json(&json!({"plugin_name": plugin, "transport_key": key}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "create: {:?}", r.text().await);
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    let location = header(&r, "location").unwrap().to_string();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v.as_object().unwrap().len(), 1);
    let href = v["transport_key_ref"].as_str().unwrap();
    assert_eq!(href, location);
    let id = href.strip_prefix(&format!("{}/v1/transport_keys/", s.base)).expect("href form").to_string();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 4);
    id
}

async fn create(s: &common::TestServer, plugin: &str, key: &str) -> String {
    create_as(s, SA, plugin, key).await
}

async fn list(s: &common::TestServer, query: &[(&str, &str)]) -> Value {
    let r = call(s, Method::GET, "/v1/transport_keys", "observer").query(query).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    r.json().await.unwrap()
}

fn href(s: &common::TestServer, id: &str) -> String {
    format!("{}/v1/transport_keys/{id}", s.base)
}

/// Python's `str(datetime)`: `YYYY-MM-DD HH:MM:SS[.ffffff]`.
fn py_ts(v: &Value) -> chrono::NaiveDateTime {
    let s = v.as_str().unwrap_or_else(|| panic!("timestamp: {v}"));
    assert!(s.len() == 19 || (s.len() == 26 && &s[19..20] == "."), "format: {s}");
    assert_eq!(&s[10..11], " ", "space separated: {s}");
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap()
}

#[actix_web::test]
async fn create_get_delete() {
    let s = common::start().await;
    let p = plugin();
    let pem = "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----";
    let t0 = chrono::Utc::now().naive_utc() - chrono::Duration::seconds(1);
    // strings are stripped
    let id = create(&s, &format!("  {p}\n"), &format!("{pem}\n")).await;

    for accept in [None, Some("application/json"), Some("*/*"), Some("text/html"), Some("text/html,application/xhtml+xml")] {
        let mut rb = call(&s, Method::GET, &format!("/v1/transport_keys/{id}"), "observer");
        if let Some(a) = accept {
            rb = rb.header("Accept", a);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status(), 200, "{accept:?}");
        assert_eq!(header(&r, "content-type"), Some("application/json"));
        let v: Value = r.json().await.unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["created_at", "deleted", "deleted_at", "id", "plugin_name", "status", "transport_key", "updated_at"]);
        assert_eq!(v["id"], id.as_str());
        assert_eq!(v["plugin_name"], p.as_str());
        assert_eq!(v["transport_key"], pem);
        assert_eq!(v["status"], "ACTIVE");
        assert_eq!(v["deleted"], false);
        assert_eq!(v["deleted_at"], Value::Null);
        let created = py_ts(&v["created_at"]);
        assert!(created >= t0 && created <= chrono::Utc::now().naive_utc());
        assert_eq!(py_ts(&v["updated_at"]), created);
    }
    // listed
    let v = list(&s, &[("plugin_name", &p)]).await;
    assert_eq!(v, json!({"transport_keys": [href(&s, &id)], "total": 1}));

    // delete: 204, then gone everywhere (soft: the row stays)
    let r = call(&s, Method::DELETE, &format!("/v1/transport_keys/{id}"), SA)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(r.bytes().await.unwrap().is_empty());
    let r = call(&s, Method::GET, &format!("/v1/transport_keys/{id}"), "observer").send().await.unwrap();
    common::assert_error(r, 404, "Not Found", Some(NOT_FOUND)).await;
    let r = call(&s, Method::DELETE, &format!("/v1/transport_keys/{id}"), SA).send().await.unwrap();
    common::assert_error(r, 404, "Not Found", Some(NOT_FOUND)).await;
    assert_eq!(list(&s, &[("plugin_name", &p)]).await, json!({"transport_keys": [], "total": 0}));
    let mut c = portcullis::store::DbUrl::parse(&s.db_url).unwrap().establish().unwrap();
    use diesel::prelude::*;
    use portcullis::store::schema::transport_keys as tk;
    let deleted_at: Option<i64> = tk::table.find(&id).select(tk::deleted_at).first(&mut c).unwrap();
    assert!(deleted_at.is_some(), "soft-deleted");
}

#[actix_web::test]
async fn list_filters_and_pages() {
    let s = common::start().await;
    let (p1, p2) = (plugin(), plugin());
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(create(&s, &p1, &format!("key-{i}")).await);
    }
    let other = create(&s, &p2, "other").await;

    let v = list(&s, &[("plugin_name", &p1)]).await;
    assert_eq!(v["total"], 3);
    assert_eq!(v["transport_keys"], json!(ids.iter().map(|i| href(&s, i)).collect::<Vec<_>>()));
    assert!(v.get("next").is_none() && v.get("previous").is_none());
    // pages: links carry only limit and offset
    let v = list(&s, &[("plugin_name", &p1), ("limit", "1"), ("offset", "1")]).await;
    assert_eq!(v["transport_keys"], json!([href(&s, &ids[1])]));
    assert_eq!(v["next"], format!("{}/v1/transport_keys?limit=1&offset=2", s.base));
    assert_eq!(v["previous"], format!("{}/v1/transport_keys?limit=1&offset=0", s.base));
    let v = list(&s, &[("plugin_name", &p1), ("offset", "3")]).await;
    assert_eq!(v, json!({"transport_keys": [], "total": 3}));
    // the filter value is URL-decoded once more (unquote_plus), as Barbican does
    let encoded = p1.replace(' ', "%20");
    let v = list(&s, &[("plugin_name", &encoded)]).await;
    assert_eq!(v["total"], 3, "{encoded}");
    // no filter (or an empty one): every key, ours among them
    for q in [vec![("limit", "100")], vec![("limit", "100"), ("plugin_name", "")]] {
        let v = list(&s, &q).await;
        let all: Vec<&str> = v["transport_keys"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
        assert!(v["total"].as_i64().unwrap() >= 4);
        for id in ids.iter().chain([&other]) {
            assert!(all.contains(&href(&s, id).as_str()), "{id} listed");
        }
    }
    let v = list(&s, &[("plugin_name", "no such plugin")]).await;
    assert_eq!(v, json!({"transport_keys": [], "total": 0}));
}

#[actix_web::test]
async fn create_messages_and_check_order() {
    let s = common::start().await;
    let post = |roles: &str| call(&s, Method::POST, "/v1/transport_keys", roles);
    let cases = [
        (json!({"transport_key": "k"}), "plugin_name must be provided. Invalid property: 'plugin_name'"),
        (json!({"plugin_name": "   ", "transport_key": "k"}), "plugin_name must be provided. Invalid property: 'plugin_name'"),
        (json!({"plugin_name": "p"}), "transport_key must be provided. Invalid property: 'transport_key'"),
        (json!({"plugin_name": "p", "transport_key": "\n"}), "transport_key must be provided. Invalid property: 'transport_key'"),
        (json!({"plugin_name": 7, "transport_key": "k"}), "7 is not of type 'string'. Invalid property: 'plugin_name'"),
        (json!({"plugin_name": "p", "transport_key": null}), "None is not of type 'string'. Invalid property: 'transport_key'"),
        (json!([1]), "[1] is not of type 'object'. Invalid property: 'None'"),
    ];
    for (body, reason) in cases {
        let r = post(SA).json(&body).send().await.unwrap();
        common::assert_error(r, 400, "Bad Request", Some(&format!("{SCHEMA}{reason}"))).await;
    }
    for body in ["", "{", "[1,"] {
        let r = post(SA).header("Content-Type", "application/json").body(body).send().await.unwrap();
        common::assert_error(r, 400, "Bad Request", Some("Malformed JSON")).await;
    }
    let r = post(SA).header("Content-Type", "text/plain").body("{}").send().await.unwrap();
    common::assert_error(r, 415, "Unsupported Media Type", Some("Unexpected content type. Expected content types are: ['application/json']")).await;
    // policy before Content-Type; Accept before policy
    let r = post("creator").header("Content-Type", "text/plain").body("{}").send().await.unwrap();
    common::assert_error(r, 403, "Forbidden", Some(&denied("Transport Key Creation"))).await;
    let r = post("creator").header("Accept", "text/plain").json(&json!({})).send().await.unwrap();
    common::assert_error(r, 406, "Not Acceptable", None).await;
    let r = call(&s, Method::GET, "/v1/transport_keys", "member").header("Accept", "text/plain").send().await.unwrap();
    common::assert_error(r, 406, "Not Acceptable", None).await;
    // other methods on the collection
    let r = call(&s, Method::PUT, "/v1/transport_keys", SA).send().await.unwrap();
    assert_eq!(header(&r, "allow"), Some("GET, POST"));
    common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
}

#[actix_web::test]
async fn ids_and_routing() {
    let s = common::start().await;
    let id = create(&s, &plugin(), "k").await;
    for bad in ["not-a-uuid", &id.to_uppercase(), "6a4d3f8e-1111-1222-8333-444455556666", &format!("{{{id}}}")] {
        for m in [Method::GET, Method::DELETE, Method::PUT] {
            let r = call(&s, m.clone(), &format!("/v1/transport_keys/{bad}"), SA).send().await.unwrap();
            common::assert_error(r, 404, "Not Found", Some(INVALID_ID)).await;
        }
        let r = call(&s, Method::GET, &format!("/v1/transport_keys/{bad}/x"), SA).send().await.unwrap();
        common::assert_error(r, 404, "Not Found", Some(INVALID_ID)).await;
    }
    // unknown but well-formed: 404 (Barbican answers 500 here)
    let r = call(&s, Method::GET, &format!("/v1/transport_keys/{UNKNOWN_ID}"), SA).send().await.unwrap();
    common::assert_error(r, 404, "Not Found", Some(NOT_FOUND)).await;
    for m in [Method::PUT, Method::POST, Method::PATCH] {
        let r = call(&s, m, &format!("/v1/transport_keys/{id}"), SA).send().await.unwrap();
        assert_eq!(header(&r, "allow"), Some("DELETE, GET"));
        common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
    }
    let r = call(&s, Method::GET, &format!("/v1/transport_keys/{id}/x"), SA).send().await.unwrap();
    common::assert_error(r, 404, "Not Found", Some("")).await;
    // untemplated routes: anything but HTML, JSON or */* is refused
    for m in [Method::GET, Method::DELETE] {
        let r = call(&s, m, &format!("/v1/transport_keys/{id}"), SA).header("Accept", "text/plain").send().await.unwrap();
        common::assert_error(r, 406, "Not Acceptable", None).await;
    }
    assert_eq!(call(&s, Method::GET, &format!("/v1/transport_keys/{id}"), SA).send().await.unwrap().status(), 200);
}

#[actix_web::test]
async fn policy_legacy() {
    let s = common::start().await;
    let p = plugin();
    // create: service admin only
    for roles in ["admin", "creator", "observer", "audit"] {
        let r = call(&s, Method::POST, "/v1/transport_keys", roles).json(&json!({"plugin_name": p, "transport_key": "k"})).send().await.unwrap();
        common::assert_error(r, 403, "Forbidden", Some(&denied("Transport Key Creation"))).await;
    }
    let id = create(&s, &p, "k").await;
    // reads: all_users
    for roles in ["admin", "creator", "observer", "audit", SA] {
        assert_eq!(call(&s, Method::GET, "/v1/transport_keys", roles).send().await.unwrap().status(), 200, "{roles}");
        assert_eq!(call(&s, Method::GET, &format!("/v1/transport_keys/{id}"), roles).send().await.unwrap().status(), 200, "{roles}");
    }
    for roles in ["member", "reader"] {
        let r = call(&s, Method::GET, "/v1/transport_keys", roles).send().await.unwrap();
        common::assert_error(r, 403, "Forbidden", Some(&denied("Transport Key(s) retrieval"))).await;
        // policy comes before the look-up
        for target in [id.as_str(), UNKNOWN_ID] {
            let r = call(&s, Method::GET, &format!("/v1/transport_keys/{target}"), roles).send().await.unwrap();
            common::assert_error(r, 403, "Forbidden", Some(&denied("Transport Key retrieval"))).await;
        }
    }
    // delete: service admin only
    for roles in ["admin", "creator"] {
        let r = call(&s, Method::DELETE, &format!("/v1/transport_keys/{id}"), roles).send().await.unwrap();
        common::assert_error(r, 403, "Forbidden", Some(&denied("Transport Key deletion"))).await;
    }
    assert_eq!(call(&s, Method::DELETE, &format!("/v1/transport_keys/{id}"), SA).send().await.unwrap().status(), 204);
}

#[actix_web::test]
async fn policy_new_defaults() {
    let s = common::start_with(|c| {
        c.oslo_policy.enforce_new_defaults = true;
        c.oslo_policy.enforce_scope = true;
    })
    .await;
    let p = plugin();
    for roles in [SA, "member,reader", "creator"] {
        let r = call(&s, Method::POST, "/v1/transport_keys", roles).json(&json!({"plugin_name": p, "transport_key": "k"})).send().await.unwrap();
        common::assert_error(r, 403, "Forbidden", Some(&denied("Transport Key Creation"))).await;
    }
    let id = create_as(&s, "admin,member,reader", &p, "k").await;
    // reads: role reader
    let r = call(&s, Method::GET, "/v1/transport_keys", "reader").query(&[("plugin_name", &p)]).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"transport_keys": [href(&s, &id)], "total": 1}));
    assert_eq!(call(&s, Method::GET, &format!("/v1/transport_keys/{id}"), "reader").send().await.unwrap().status(), 200);
    for roles in ["observer", "creator", SA] {
        let r = call(&s, Method::GET, "/v1/transport_keys", roles).send().await.unwrap();
        common::assert_error(r, 403, "Forbidden", Some(&denied("Transport Key(s) retrieval"))).await;
        let r = call(&s, Method::GET, &format!("/v1/transport_keys/{id}"), roles).send().await.unwrap();
        common::assert_error(r, 403, "Forbidden", Some(&denied("Transport Key retrieval"))).await;
    }
    // delete: role admin
    for roles in ["member,reader", SA] {
        let r = call(&s, Method::DELETE, &format!("/v1/transport_keys/{id}"), roles).send().await.unwrap();
        common::assert_error(r, 403, "Forbidden", Some(&denied("Transport Key deletion"))).await;
    }
    assert_eq!(call(&s, Method::DELETE, &format!("/v1/transport_keys/{id}"), "admin").send().await.unwrap().status(), 204);
}
