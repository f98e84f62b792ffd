//! Secret ACLs end to end (contract §5.7) and their effect on policy (§4.1, §4.2, §4.4) in both
//! the legacy default policy and the secure-RBAC one.

use crate::common;
use crate::common::who::{Who, call, denied, header, status, ts, who};
use portcullis::store::DbUrl;
use reqwest::{Method, Response};
use serde_json::{json, Value};

const ACL_SCHEMA: &str = "Provided object does not match schema 'ACL': ";
const JSON_415: &str = "Unexpected content type. Expected content types are: ['application/json']";
const PAYLOAD: &str = "the-s3cret value";

async fn create(s: &common::TestServer, w: Who<'_>) -> String {
    let r = call(s, Method::POST, "/v1/secrets", w)
        .json(&json!({"name": "shared", "payload": PAYLOAD, "payload_content_type": "text/plain"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "create: {:?}", r.text().await);
    let v: Value = r.json().await.unwrap();
    v["secret_ref"].as_str().unwrap().rsplit('/').next().unwrap().to_string()
}

fn acl_path(id: &str) -> String {
    format!("/v1/secrets/{id}/acl")
}

async fn get_acl(s: &common::TestServer, w: Who<'_>, id: &str) -> Value {
    let r = call(s, Method::GET, &acl_path(id), w).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET acl");
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    r.json().await.unwrap()
}

async fn write_acl(s: &common::TestServer, w: Who<'_>, m: Method, id: &str, body: Value) -> Response {
    call(s, m, &acl_path(id), w).json(&body).send().await.unwrap()
}

/// PUT/PATCH that must succeed with `{"acl_ref": ...}`.
async fn set_acl(s: &common::TestServer, w: Who<'_>, m: Method, id: &str, body: Value) {
    let r = write_acl(s, w, m.clone(), id, body.clone()).await;
    assert_eq!(r.status(), 200, "{m} acl {body}");
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v, json!({"acl_ref": format!("{}/v1/secrets/{id}/acl", s.base)}));
}

fn users(acl: &Value) -> Vec<String> {
    let mut u: Vec<String> = acl["read"]["users"]
        .as_array()
        .unwrap_or_else(|| panic!("users list: {acl}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    u.sort();
    u
}

fn read_keys(acl: &Value) -> Vec<String> {
    let mut k: Vec<String> = acl["read"].as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

/// GET metadata, GET payload, legacy download (non-JSON Accept on the secret) and GET user
/// metadata: the four read routes, as statuses.
async fn reads(s: &common::TestServer, id: &str, w: Who<'_>) -> [u16; 4] {
    let meta = format!("/v1/secrets/{id}");
    [
        status(call(s, Method::GET, &meta, w)).await,
        status(call(s, Method::GET, &format!("{meta}/payload"), w).header("Accept", "text/plain")).await,
        status(call(s, Method::GET, &meta, w).header("Accept", "application/octet-stream")).await,
        status(call(s, Method::GET, &format!("{meta}/metadata"), w)).await,
    ]
}

/// ACL rows straight from the database (any backend).
fn stored_acls(s: &common::TestServer, id: &str) -> Vec<portcullis::store::acls::Acl> {
    let mut c = DbUrl::parse(&s.db_url).unwrap().establish().expect("connect");
    portcullis::store::acls::list(&mut c, "secret", id).expect("list ACLs")
}

fn default_acl() -> Value {
    json!({"read": {"project-access": true}})
}

// ---- GET / PUT / PATCH / DELETE ----------------------------------------------------------------

#[actix_web::test]
async fn get_without_acl_is_the_default() {
    let s = common::start().await;
    let p = common::project();
    let id = s.create_secret(&p, json!({})).await;
    for path in [acl_path(&id), format!("{}/", acl_path(&id))] {
        let r = s.req(Method::GET, &path, &p).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "content-type"), Some("application/json"));
        assert_eq!(r.text().await.unwrap().parse::<Value>().unwrap(), default_acl(), "{path}");
    }
    assert!(stored_acls(&s, &id).is_empty());
}

#[actix_web::test]
async fn put_sets_users_and_project_access() {
    let s = common::start().await;
    let p = common::project();
    let admin = Who { project: &p, roles: "admin", user: None };
    let id = s.create_secret(&p, json!({})).await;
    set_acl(&s, admin, Method::PUT, &id, json!({"read": {"users": ["u1", "u2", "u1", " u3\n"], "project-access": false}})).await;
    let acl = get_acl(&s, admin, &id).await;
    assert_eq!(acl.as_object().unwrap().len(), 1, "only read: {acl}");
    assert_eq!(read_keys(&acl), vec!["created", "project-access", "updated", "users"]);
    assert_eq!(acl["read"]["project-access"], false);
    assert_eq!(users(&acl), vec!["u1", "u2", "u3"], "a set, duplicates collapsed, ids stripped");
    let created = ts(&acl["read"]["created"]);
    let updated = ts(&acl["read"]["updated"]);
    assert!(updated >= created);
    let now = chrono::Utc::now().naive_utc();
    assert!((now - created).num_seconds().abs() < 120, "created is now (UTC): {created}");

    // A second PUT replaces: omitted project-access is back to true, users replaced.
    set_acl(&s, admin, Method::PUT, &id, json!({"read": {"users": ["u4"]}})).await;
    let acl2 = get_acl(&s, admin, &id).await;
    assert_eq!(acl2["read"]["project-access"], true);
    assert_eq!(users(&acl2), vec!["u4"]);
    assert_eq!(acl2["read"]["created"], acl["read"]["created"], "same row, created kept");
    assert!(ts(&acl2["read"]["updated"]) >= updated);

    // Without users: an empty list, still present.
    set_acl(&s, admin, Method::PUT, &id, json!({"read": {"project-access": false}})).await;
    let acl3 = get_acl(&s, admin, &id).await;
    assert_eq!(acl3["read"]["users"], json!([]));
    assert_eq!(acl3["read"]["project-access"], false);

    // The trailing-slash form and a JSON content type with parameters.
    let r = s
        .req(Method::PUT, &format!("{}/", acl_path(&id)), &p)
        .header("Content-Type", "application/json; charset=utf-8")
        .body(r#"{"read": {"users": ["x"]}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(users(&get_acl(&s, admin, &id).await), vec!["x"]);
    let rows = stored_acls(&s, &id);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].operation, "read");
    assert_eq!(rows[0].users, vec!["x"]);
}

#[actix_web::test]
async fn put_with_empty_read_or_empty_body_removes_the_row() {
    let s = common::start().await;
    let p = common::project();
    let admin = Who { project: &p, roles: "admin", user: None };
    let id = s.create_secret(&p, json!({})).await;
    for body in [json!({"read": {}}), json!({})] {
        set_acl(&s, admin, Method::PUT, &id, json!({"read": {"users": ["u1"], "project-access": false}})).await;
        assert_eq!(stored_acls(&s, &id).len(), 1);
        set_acl(&s, admin, Method::PUT, &id, body.clone()).await;
        assert_eq!(get_acl(&s, admin, &id).await, default_acl(), "{body}");
        assert!(stored_acls(&s, &id).is_empty(), "row removed by {body}");
    }
    // Also fine when there was nothing to remove.
    set_acl(&s, admin, Method::PUT, &id, json!({})).await;
    assert_eq!(get_acl(&s, admin, &id).await, default_acl());
}

#[actix_web::test]
async fn patch_changes_only_the_given_fields() {
    let s = common::start().await;
    let p = common::project();
    let admin = Who { project: &p, roles: "admin", user: None };
    let id = s.create_secret(&p, json!({})).await;

    // No row yet: PATCH creates one, project access defaulting to true.
    set_acl(&s, admin, Method::PATCH, &id, json!({"read": {"users": ["a", "a"]}})).await;
    let acl = get_acl(&s, admin, &id).await;
    assert_eq!(read_keys(&acl), vec!["created", "project-access", "updated", "users"]);
    assert_eq!(acl["read"]["project-access"], true);
    assert_eq!(users(&acl), vec!["a"]);

    set_acl(&s, admin, Method::PATCH, &id, json!({"read": {"project-access": false}})).await;
    let acl2 = get_acl(&s, admin, &id).await;
    assert_eq!(acl2["read"]["project-access"], false);
    assert_eq!(users(&acl2), vec!["a"], "users untouched");
    assert_eq!(acl2["read"]["created"], acl["read"]["created"]);

    set_acl(&s, admin, Method::PATCH, &id, json!({"read": {"users": ["c", "b"]}})).await;
    let acl3 = get_acl(&s, admin, &id).await;
    assert_eq!(acl3["read"]["project-access"], false, "project access untouched");
    assert_eq!(users(&acl3), vec!["b", "c"]);

    // `users: []` clears but keeps the key.
    set_acl(&s, admin, Method::PATCH, &id, json!({"read": {"users": []}})).await;
    let acl4 = get_acl(&s, admin, &id).await;
    assert_eq!(acl4["read"]["users"], json!([]));
    assert_eq!(acl4["read"]["project-access"], false);

    // Nothing given: nothing changes (not even `updated`).
    for body in [json!({}), json!({"read": {}})] {
        set_acl(&s, admin, Method::PATCH, &id, body.clone()).await;
        assert_eq!(get_acl(&s, admin, &id).await, acl4, "{body}");
    }

    // A PATCH creating the row with only project access has no users.
    let id2 = s.create_secret(&p, json!({})).await;
    set_acl(&s, admin, Method::PATCH, &id2, json!({"read": {"project-access": false}})).await;
    let acl5 = get_acl(&s, admin, &id2).await;
    assert_eq!(acl5["read"]["users"], json!([]));
    assert_eq!(acl5["read"]["project-access"], false);
    // And PATCH {} on a secret without ACL creates nothing.
    let id3 = s.create_secret(&p, json!({})).await;
    set_acl(&s, admin, Method::PATCH, &id3, json!({"read": {}})).await;
    assert_eq!(get_acl(&s, admin, &id3).await, default_acl());
    assert!(stored_acls(&s, &id3).is_empty());
}

#[actix_web::test]
async fn delete_answers_null_and_is_idempotent() {
    let s = common::start().await;
    let p = common::project();
    let admin = Who { project: &p, roles: "admin", user: None };
    let id = s.create_secret(&p, json!({})).await;
    set_acl(&s, admin, Method::PUT, &id, json!({"read": {"users": ["u1"], "project-access": false}})).await;
    for _ in 0..2 {
        let r = s.req(Method::DELETE, &acl_path(&id), &p).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "content-type"), Some("application/json"));
        assert_eq!(r.text().await.unwrap(), "null");
        let acl = get_acl(&s, admin, &id).await;
        assert_eq!(acl, default_acl());
        assert!(acl["read"].get("users").is_none());
        assert!(stored_acls(&s, &id).is_empty());
    }
    // On a secret that never had one, and through the trailing-slash form.
    let id2 = s.create_secret(&p, json!({})).await;
    let r = s.req(Method::DELETE, &format!("{}/", acl_path(&id2)), &p).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "null");
}

#[actix_web::test]
async fn other_methods_are_405_after_the_look_up() {
    let s = common::start().await;
    let p = common::project();
    let id = s.create_secret(&p, json!({})).await;
    for m in [Method::POST, Method::HEAD, Method::OPTIONS] {
        let r = s.req(m.clone(), &acl_path(&id), &p).json(&json!({"read": {}})).send().await.unwrap();
        assert_eq!(r.status(), 405, "{m}");
        if m != Method::HEAD {
            common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
        }
    }
    assert!(stored_acls(&s, &id).is_empty());
    // The secret look-up comes first (§2.3.4): bad or unknown ids are 404 for every method.
    let unknown = uuid::Uuid::new_v4().to_string();
    for (sid, msg) in [("not-a-uuid", "Not Found. Provided secret id is invalid."), (unknown.as_str(), "Secret not found.")] {
        for m in [Method::GET, Method::PUT, Method::PATCH, Method::DELETE, Method::POST] {
            let r = s.req(m.clone(), &acl_path(sid), &p).json(&json!({"read": {}})).send().await.unwrap();
            common::assert_error(r, 404, "Not Found", Some(msg)).await;
        }
    }
}

#[actix_web::test]
async fn schema_errors() {
    let s = common::start().await;
    let p = common::project();
    let admin = Who { project: &p, roles: "admin", user: None };
    let id = s.create_secret(&p, json!({})).await;
    let long = "u".repeat(256);
    let cases: Vec<(Value, String)> = vec![
        (json!({"write": {}}), "Additional properties are not allowed ('write' was unexpected). Invalid property: 'None'".into()),
        (json!({"read": {"users": "u2"}}), "'u2' is not of type 'array'. Invalid property: 'read'".into()),
        (json!({"read": {"project-access": "false"}}), "'false' is not of type 'boolean'. Invalid property: 'read'".into()),
        (json!({"read": "x"}), "'x' is not of type 'object'. Invalid property: 'read'".into()),
        (json!({"read": null}), "None is not of type 'object'. Invalid property: 'read'".into()),
        (json!({"read": ["u1"]}), "['u1'] is not of type 'object'. Invalid property: 'read'".into()),
        (json!({"read": {"users": ["u1"], "foo": 1}}), "Additional properties are not allowed ('foo' was unexpected). Invalid property: 'read'".into()),
        (json!({"read": {"users": [5]}}), "5 is not of type 'string'. Invalid property: 'read'".into()),
        (json!({"read": {"users": [long.clone()]}}), format!("'{long}' is too long. Invalid property: 'read'")),
        (json!([1, 2]), "[1, 2] is not of type 'object'. Invalid property: 'None'".into()),
        (json!("read"), "'read' is not of type 'object'. Invalid property: 'None'".into()),
    ];
    for m in [Method::PUT, Method::PATCH] {
        for (body, reason) in &cases {
            let r = write_acl(&s, admin, m.clone(), &id, body.clone()).await;
            common::assert_error(r, 400, "Bad Request", Some(&format!("{ACL_SCHEMA}{reason}"))).await;
        }
    }
    assert_eq!(get_acl(&s, admin, &id).await, default_acl(), "nothing stored");
    // The same errors leave an existing ACL alone.
    set_acl(&s, admin, Method::PUT, &id, json!({"read": {"users": ["keep"]}})).await;
    let before = get_acl(&s, admin, &id).await;
    let r = write_acl(&s, admin, Method::PUT, &id, json!({"read": {"users": "x"}})).await;
    assert_eq!(r.status(), 400);
    assert_eq!(get_acl(&s, admin, &id).await, before);
}

#[actix_web::test]
async fn content_type_and_malformed_json() {
    let s = common::start().await;
    let p = common::project();
    let admin = Who { project: &p, roles: "admin", user: None };
    let id = s.create_secret(&p, json!({})).await;
    let body = r#"{"read": {"users": ["u1"]}}"#;
    for m in [Method::PUT, Method::PATCH] {
        for ct in [Some("text/plain"), Some("application/octet-stream"), Some("application/jsonx"), None] {
            let mut rb = s.req(m.clone(), &acl_path(&id), &p).body(body);
            if let Some(ct) = ct {
                rb = rb.header("Content-Type", ct);
            }
            let r = rb.send().await.unwrap();
            common::assert_error(r, 415, "Unsupported Media Type", Some(JSON_415)).await;
        }
        for raw in [r#"{"read": "#, "", "not json", r#"{"read": {"users": ["u1"]}} x"#] {
            let r = s
                .req(m.clone(), &acl_path(&id), &p)
                .header("Content-Type", "application/json")
                .body(raw)
                .send()
                .await
                .unwrap();
            common::assert_error(r, 400, "Bad Request", Some("Malformed JSON")).await;
        }
    }
    assert_eq!(get_acl(&s, admin, &id).await, default_acl());
    // Policy is decided before the content type (§2.3.4): audit may not write ACLs.
    let audit = Who { project: &p, roles: "audit", user: Some("auditor") };
    let r = call(&s, Method::PUT, &acl_path(&id), audit).header("Content-Type", "text/plain").body("x").send().await.unwrap();
    common::assert_error(r, 403, "Forbidden", Some(&denied("SecretACL(s) Update"))).await;
}

#[actix_web::test]
async fn acl_routes_negotiate_json_before_policy() {
    let s = common::start().await;
    let p = common::project();
    let id = s.create_secret(&p, json!({})).await;
    let r = s.req(Method::GET, &acl_path(&id), &p).header("Accept", "text/plain").send().await.unwrap();
    common::assert_error(r, 406, "Not Acceptable", None).await;
    let r = s
        .req(Method::PUT, &acl_path(&id), &p)
        .header("Accept", "text/html")
        .json(&json!({"read": {"users": ["u"]}}))
        .send()
        .await
        .unwrap();
    common::assert_error(r, 406, "Not Acceptable", None).await;
    // 406 wins over 403 (another project).
    let other = common::project();
    let r = s.req(Method::GET, &acl_path(&id), &other).header("Accept", "text/plain").send().await.unwrap();
    common::assert_error(r, 406, "Not Acceptable", None).await;
    // Media ranges that match JSON are fine.
    let r = s.req(Method::GET, &acl_path(&id), &p).header("Accept", "text/html,application/json").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(s.req(Method::GET, &acl_path(&id), &p).send().await.unwrap().status(), 200);
    assert!(stored_acls(&s, &id).is_empty());
}

// ---- Legacy default policy ---------------------------------------------------------------------

#[actix_web::test]
async fn legacy_acl_user_of_another_project_reads_with_no_role() {
    let s = common::start().await;
    let p = common::project();
    let q = common::project();
    let owner = who(&p, "creator", "owner");
    let friend = who(&q, "nobody", "friend");
    let stranger = who(&q, "nobody", "stranger");
    let id = create(&s, owner).await;
    let meta = format!("/v1/secrets/{id}");
    let payload = format!("/v1/secrets/{id}/payload");
    let metadata = format!("/v1/secrets/{id}/metadata");

    // Before being listed: 403 with the route's operation name.
    assert_eq!(reads(&s, &id, friend).await, [403; 4]);
    let r = call(&s, Method::GET, &meta, friend).send().await.unwrap();
    common::assert_error(r, 403, "Forbidden", Some(&denied("Secret retrieval"))).await;
    let r = call(&s, Method::GET, &payload, friend).send().await.unwrap();
    common::assert_error(r, 403, "Forbidden", Some(&denied("Secret payload retrieval"))).await;

    set_acl(&s, owner, Method::PUT, &id, json!({"read": {"users": ["friend", "someone-else"]}})).await;
    assert_eq!(reads(&s, &id, friend).await, [200; 4]);
    let r = call(&s, Method::GET, &meta, friend).send().await.unwrap();
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["creator_id"], "owner");
    assert_eq!(m["secret_ref"], format!("{}/v1/secrets/{id}", s.base));
    let r = call(&s, Method::GET, &payload, friend).header("Accept", "text/plain").send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), PAYLOAD);

    // Reading is all the ACL grants.
    assert_eq!(status(call(&s, Method::DELETE, &meta, friend)).await, 403);
    assert_eq!(status(call(&s, Method::GET, &acl_path(&id), friend)).await, 403);
    assert_eq!(status(call(&s, Method::PUT, &acl_path(&id), friend).json(&json!({"read": {"users": ["friend"]}}))).await, 403);
    assert_eq!(status(call(&s, Method::DELETE, &acl_path(&id), friend)).await, 403);
    assert_eq!(status(call(&s, Method::POST, &metadata, friend).json(&json!({"key": "a", "value": "b"}))).await, 403);
    // Not listed: still 403, and request parameters cannot forge the ACL fact (CVE-2022-3100).
    assert_eq!(reads(&s, &id, stranger).await, [403; 4]);
    assert_eq!(reads(&s, &id, who(&q, "nobody", "FRIEND")).await, [403; 4], "user ids match exactly");
    assert_eq!(status(call(&s, Method::GET, &format!("{payload}?target.secret.read=read"), stranger)).await, 403);
    assert_eq!(status(call(&s, Method::GET, &format!("{meta}?target.secret.read=read"), stranger)).await, 403);
    // Without a user id nobody is listed.
    assert_eq!(reads(&s, &id, Who { project: &q, roles: "nobody", user: None }).await, [403; 4]);

    // A private secret stays readable by its ACL users.
    set_acl(&s, owner, Method::PATCH, &id, json!({"read": {"project-access": false}})).await;
    assert_eq!(reads(&s, &id, friend).await, [200; 4]);

    // Removed from the list, by PATCH then by DELETE.
    set_acl(&s, owner, Method::PATCH, &id, json!({"read": {"users": []}})).await;
    assert_eq!(reads(&s, &id, friend).await, [403; 4]);
    set_acl(&s, owner, Method::PATCH, &id, json!({"read": {"users": ["friend"]}})).await;
    assert_eq!(reads(&s, &id, friend).await, [200; 4]);
    let r = call(&s, Method::DELETE, &acl_path(&id), owner).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(reads(&s, &id, friend).await, [403; 4]);
    set_acl(&s, owner, Method::PUT, &id, json!({"read": {"users": ["friend"]}})).await;
    assert_eq!(reads(&s, &id, friend).await, [200; 4]);
    set_acl(&s, owner, Method::PUT, &id, json!({"read": {}})).await;
    assert_eq!(reads(&s, &id, friend).await, [403; 4]);
}

#[actix_web::test]
async fn legacy_project_access_false_makes_the_secret_private() {
    let s = common::start().await;
    let p = common::project();
    let q = common::project();
    let alice = who(&p, "creator", "alice");
    let bob = who(&p, "creator", "bob");
    let observer = who(&p, "observer", "olga");
    let audit = who(&p, "audit", "aude");
    let admin = who(&p, "admin", "root");
    let other_admin = who(&q, "admin", "root2");
    let id = create(&s, alice).await;
    let meta = format!("/v1/secrets/{id}");
    let payload = format!("/v1/secrets/{id}/payload");
    let metadata = format!("/v1/secrets/{id}/metadata");

    // Normal project access first (no ACL row).
    assert_eq!(reads(&s, &id, alice).await, [200; 4]);
    assert_eq!(reads(&s, &id, bob).await, [200; 4]);
    assert_eq!(reads(&s, &id, observer).await, [200; 4]);
    assert_eq!(reads(&s, &id, audit).await, [200, 403, 403, 200], "audit reads metadata, not the payload");
    assert_eq!(reads(&s, &id, admin).await, [200; 4]);
    assert_eq!(reads(&s, &id, other_admin).await, [403; 4]);
    // An ACL row with project access true changes nothing.
    set_acl(&s, alice, Method::PUT, &id, json!({"read": {"users": ["zed"], "project-access": true}})).await;
    assert_eq!(reads(&s, &id, bob).await, [200; 4]);
    assert_eq!(reads(&s, &id, observer).await, [200; 4]);

    set_acl(&s, alice, Method::PUT, &id, json!({"read": {"project-access": false}})).await;
    assert_eq!(reads(&s, &id, bob).await, [403; 4], "creator role, not the creator");
    let r = call(&s, Method::GET, &payload, bob).send().await.unwrap();
    common::assert_error(r, 403, "Forbidden", Some(&denied("Secret payload retrieval"))).await;
    assert_eq!(reads(&s, &id, observer).await, [403; 4]);
    assert_eq!(reads(&s, &id, audit).await, [403; 4]);
    assert_eq!(reads(&s, &id, alice).await, [200; 4], "the creator");
    let r = call(&s, Method::GET, &payload, alice).header("Accept", "text/plain").send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), PAYLOAD);
    assert_eq!(reads(&s, &id, admin).await, [200; 4], "the project admin");
    assert_eq!(reads(&s, &id, other_admin).await, [403; 4]);
    // Same user id but without the creator role (observer): private means 403.
    assert_eq!(reads(&s, &id, who(&p, "observer", "alice")).await, [403; 4]);
    // The creator's user id in another project is nobody.
    assert_eq!(reads(&s, &id, who(&q, "creator", "alice")).await, [403; 4]);

    // Writes: bob may not delete the private secret or add metadata to it.
    assert_eq!(status(call(&s, Method::DELETE, &meta, bob)).await, 403);
    assert_eq!(status(call(&s, Method::POST, &metadata, bob).json(&json!({"key": "k", "value": "v"}))).await, 403);
    // ACL routes carry no ACL facts (§4.1), so for them the secret never looks private: a
    // creator-role member of the project may read and change the ACL (reference behaviour).
    assert_eq!(status(call(&s, Method::GET, &acl_path(&id), bob)).await, 200);
    assert_eq!(status(call(&s, Method::GET, &acl_path(&id), observer)).await, 200);
    assert_eq!(status(call(&s, Method::GET, &acl_path(&id), audit)).await, 403);
    assert_eq!(status(call(&s, Method::PATCH, &acl_path(&id), observer).json(&json!({"read": {"project-access": true}}))).await, 403);
    assert_eq!(status(call(&s, Method::GET, &acl_path(&id), other_admin)).await, 403);

    // Back to project access: bob reads again.
    set_acl(&s, bob, Method::PATCH, &id, json!({"read": {"project-access": true}})).await;
    assert_eq!(reads(&s, &id, bob).await, [200; 4]);
    assert_eq!(reads(&s, &id, observer).await, [200; 4]);
    // And the creator may always delete.
    set_acl(&s, alice, Method::PATCH, &id, json!({"read": {"project-access": false}})).await;
    assert_eq!(status(call(&s, Method::DELETE, &meta, alice)).await, 204);
    assert!(stored_acls(&s, &id).is_empty(), "ACL rows go with the secret");
}

fn ids_of(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list["secrets"]
        .as_array()
        .unwrap_or_else(|| panic!("secrets list: {list}"))
        .iter()
        .map(|s| s["secret_ref"].as_str().unwrap().rsplit('/').next().unwrap().to_string())
        .collect();
    v.sort();
    v
}

async fn list(s: &common::TestServer, w: Who<'_>, query: &str) -> Value {
    let r = call(s, Method::GET, &format!("/v1/secrets{query}"), w).send().await.unwrap();
    assert_eq!(r.status(), 200, "list {query}");
    r.json().await.unwrap()
}

#[actix_web::test]
async fn acl_only_lists_secrets_shared_with_the_caller() {
    let s = common::start().await;
    let (p, q, d) = (common::project(), common::project(), common::project());
    let alice = who(&p, "creator", "alice");
    let carol = who(&q, "creator", "carol");
    // A user id of its own: tests in this binary share the database and its ACL users.
    let dave_id = format!("dave-{}", uuid::Uuid::new_v4());
    let dave = who(&d, "creator", &dave_id);
    let s1 = create(&s, alice).await;
    let s2 = create(&s, alice).await;
    let s3 = create(&s, carol).await;
    let own = create(&s, dave).await;
    set_acl(&s, alice, Method::PUT, &s1, json!({"read": {"users": [dave_id]}})).await;
    set_acl(&s, alice, Method::PUT, &s2, json!({"read": {"users": ["erin"]}})).await;
    set_acl(&s, carol, Method::PATCH, &s3, json!({"read": {"users": ["x", dave_id], "project-access": false}})).await;

    let mut shared = vec![s1.clone(), s3.clone()];
    shared.sort();
    for q in ["?acl_only=true", "?acl_only=TRUE", "?acl_only=True&limit=10"] {
        let l = list(&s, dave, q).await;
        assert_eq!(ids_of(&l), shared, "{q}");
        assert_eq!(l["total"], 2, "{q}");
    }
    // Paging applies to the shared set.
    let l = list(&s, dave, "?acl_only=true&limit=1").await;
    assert_eq!(l["secrets"].as_array().unwrap().len(), 1);
    assert_eq!(l["total"], 2);
    assert!(l["next"].as_str().unwrap().contains("acl_only=true"), "{l}");
    let l = list(&s, dave, "?acl_only=true&limit=1&offset=1").await;
    assert_eq!(ids_of(&l), vec![s3.clone()], "oldest first: s1, then s3");
    assert_eq!(l["total"], 2);
    // A page past the end has no row to carry the total: it is still the shared count.
    let l = list(&s, dave, "?acl_only=true&limit=1&offset=5").await;
    assert_eq!(l["secrets"], json!([]));
    assert_eq!(l["total"], 2, "{l}");
    // Not shared → not listed; the caller's own project secrets are not in it either.
    assert!(!ids_of(&list(&s, dave, "?acl_only=true").await).contains(&own));
    // Otherwise the project's own secrets.
    for q in ["", "?acl_only=false", "?acl_only=yes"] {
        let l = list(&s, dave, q).await;
        assert_eq!(ids_of(&l), vec![own.clone()], "{q}");
        assert_eq!(l["total"], 1);
    }
    // Without a user id, acl_only is ignored: the project's own secrets.
    let anon = Who { project: &d, roles: "creator", user: None };
    let l = list(&s, anon, "?acl_only=true").await;
    assert_eq!(ids_of(&l), vec![own.clone()]);
    assert_eq!(l["total"], 1);
    // Someone listed nowhere.
    assert_eq!(list(&s, who(&d, "creator", "nobody-here"), "?acl_only=true").await, json!({"secrets": [], "total": 0}));

    // Deleting a secret deletes its ACL rows: it is no longer shared.
    assert_eq!(stored_acls(&s, &s1).len(), 1);
    assert_eq!(status(call(&s, Method::DELETE, &format!("/v1/secrets/{s1}"), alice)).await, 204);
    assert!(stored_acls(&s, &s1).is_empty(), "ACL rows of a deleted secret are removed");
    let l = list(&s, dave, "?acl_only=true").await;
    assert_eq!(ids_of(&l), vec![s3.clone()]);
    assert_eq!(l["total"], 1);
    // Removing the ACL stops the sharing too.
    assert_eq!(status(call(&s, Method::DELETE, &acl_path(&s3), carol)).await, 200);
    assert_eq!(list(&s, dave, "?acl_only=true").await, json!({"secrets": [], "total": 0}));
    // The other rows are untouched.
    assert_eq!(users(&get_acl(&s, alice, &s2).await), vec!["erin"]);
}

// ---- Secure RBAC -------------------------------------------------------------------------------

async fn start_rbac() -> common::TestServer {
    common::start_with(|c| {
        c.oslo_policy.enforce_new_defaults = true;
        c.oslo_policy.enforce_scope = true;
    })
    .await
}

const MEMBER: &str = "member,reader";
const ADMIN: &str = "admin,member,reader";

#[actix_web::test]
async fn rbac_members_acl_users_and_private_secrets() {
    let s = start_rbac().await;
    let p = common::project();
    let q = common::project();
    let alice = who(&p, MEMBER, "alice");
    let bob = who(&p, MEMBER, "bob");
    let admin = who(&p, ADMIN, "root");
    let eve = who(&q, "nobody", "eve");
    let id = create(&s, alice).await;
    let meta = format!("/v1/secrets/{id}");
    let payload = format!("/v1/secrets/{id}/payload");
    let metadata = format!("/v1/secrets/{id}/metadata");

    // Non-private: every member of the project reads; legacy roles mean nothing.
    assert_eq!(reads(&s, &id, bob).await, [200; 4]);
    assert_eq!(reads(&s, &id, alice).await, [200; 4]);
    assert_eq!(reads(&s, &id, who(&p, "creator", "carl")).await, [403; 4]);
    assert_eq!(reads(&s, &id, eve).await, [403; 4]);
    assert_eq!(status(call(&s, Method::POST, "/v1/secrets", who(&p, "creator", "carl")).json(&json!({}))).await, 403);

    // ACL routes get no ACL facts: `member and is_not_private` never holds there, so a member
    // who is not the creator may not read or write the ACL; the creator and the admin may.
    assert_eq!(status(call(&s, Method::GET, &acl_path(&id), bob)).await, 403);
    assert_eq!(status(call(&s, Method::PUT, &acl_path(&id), bob).json(&json!({"read": {"users": ["bob"]}}))).await, 403);
    assert_eq!(status(call(&s, Method::DELETE, &acl_path(&id), bob)).await, 403);
    assert_eq!(get_acl(&s, alice, &id).await, default_acl());
    assert_eq!(get_acl(&s, admin, &id).await, default_acl());

    set_acl(&s, alice, Method::PUT, &id, json!({"read": {"users": ["eve"], "project-access": false}})).await;
    // Private: bob is out, the creator and the project admin are in.
    assert_eq!(reads(&s, &id, bob).await, [403; 4]);
    let r = call(&s, Method::GET, &meta, bob).send().await.unwrap();
    common::assert_error(r, 403, "Forbidden", Some(&denied("Secret retrieval"))).await;
    assert_eq!(status(call(&s, Method::DELETE, &meta, bob)).await, 403);
    assert_eq!(reads(&s, &id, alice).await, [200; 4]);
    assert_eq!(reads(&s, &id, admin).await, [200; 4]);
    let r = call(&s, Method::GET, &payload, admin).header("Accept", "text/plain").send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), PAYLOAD);

    // The ACL user from another project with no role reads metadata and payload...
    assert_eq!(reads(&s, &id, eve).await, [200; 4]);
    let r = call(&s, Method::GET, &payload, eve).header("Accept", "text/plain").send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), PAYLOAD);
    // ...but the ACL routes, deletion and writes stay closed.
    let r = call(&s, Method::GET, &acl_path(&id), eve).send().await.unwrap();
    common::assert_error(r, 403, "Forbidden", Some(&denied("SecretACL(s) retrieval"))).await;
    assert_eq!(status(call(&s, Method::PATCH, &acl_path(&id), eve).json(&json!({"read": {"users": []}}))).await, 403);
    assert_eq!(status(call(&s, Method::DELETE, &acl_path(&id), eve)).await, 403);
    assert_eq!(status(call(&s, Method::DELETE, &meta, eve)).await, 403);
    assert_eq!(status(call(&s, Method::PUT, &metadata, eve).json(&json!({"metadata": {}}))).await, 403);
    // Another user of eve's project is not listed.
    assert_eq!(reads(&s, &id, who(&q, "nobody", "mallory")).await, [403; 4]);
    assert_eq!(status(call(&s, Method::GET, &format!("{payload}?target.secret.read=read"), who(&q, MEMBER, "mallory"))).await, 403);

    // Removing eve closes the door again; making it non-private lets bob back in.
    set_acl(&s, alice, Method::PATCH, &id, json!({"read": {"users": []}})).await;
    assert_eq!(reads(&s, &id, eve).await, [403; 4]);
    set_acl(&s, admin, Method::PATCH, &id, json!({"read": {"project-access": true}})).await;
    assert_eq!(reads(&s, &id, bob).await, [200; 4]);
    // The ACL is still closed to bob (no facts on ACL routes), even now.
    assert_eq!(status(call(&s, Method::GET, &acl_path(&id), bob)).await, 403);
    let r = call(&s, Method::DELETE, &acl_path(&id), alice).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(reads(&s, &id, bob).await, [200; 4]);
}

#[actix_web::test]
async fn rbac_reader_is_refused_everything_secret_related() {
    let s = start_rbac().await;
    let p = common::project();
    let alice = who(&p, MEMBER, "alice");
    let id = create(&s, alice).await;
    let r = call(&s, Method::POST, "/v1/secrets", alice).json(&json!({"name": "no payload"})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let bare = r.json::<Value>().await.unwrap()["secret_ref"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    for rita in [who(&p, "reader", "rita"), who(&p, "reader", "alice")] {
        let cases: Vec<(Method, String, Option<Value>)> = vec![
            (Method::GET, "/v1/secrets".into(), None),
            (Method::POST, "/v1/secrets".into(), Some(json!({"name": "x"}))),
            (Method::GET, format!("/v1/secrets/{id}"), None),
            (Method::GET, format!("/v1/secrets/{id}/payload"), None),
            (Method::DELETE, format!("/v1/secrets/{id}"), None),
            (Method::GET, format!("/v1/secrets/{id}/metadata"), None),
            (Method::PUT, format!("/v1/secrets/{id}/metadata"), Some(json!({"metadata": {}}))),
            (Method::POST, format!("/v1/secrets/{id}/metadata"), Some(json!({"key": "k", "value": "v"}))),
            (Method::GET, acl_path(&id), None),
            (Method::PUT, acl_path(&id), Some(json!({"read": {"users": ["rita"]}}))),
            (Method::PATCH, acl_path(&id), Some(json!({"read": {"users": ["rita"]}}))),
            (Method::DELETE, acl_path(&id), None),
        ];
        for (m, path, body) in cases {
            let mut rb = call(&s, m.clone(), &path, rita);
            if let Some(b) = body {
                rb = rb.json(&b);
            }
            assert_eq!(status(rb).await, 403, "reader {m} {path}");
        }
        let r = call(&s, Method::PUT, &format!("/v1/secrets/{bare}"), rita)
            .header("Content-Type", "text/plain")
            .body("late payload")
            .send()
            .await
            .unwrap();
        common::assert_error(r, 403, "Forbidden", Some(&denied("Secret update"))).await;
    }
    // Even when listed in the ACL, a reader gets nothing from the ACL on its own project's
    // ACL routes; but the listed reader does read the secret (ACL grant, no role needed).
    set_acl(&s, alice, Method::PUT, &id, json!({"read": {"users": ["rita"]}})).await;
    let rita = who(&p, "reader", "rita");
    assert_eq!(status(call(&s, Method::GET, &format!("/v1/secrets/{id}"), rita)).await, 200);
    assert_eq!(status(call(&s, Method::GET, &acl_path(&id), rita)).await, 403);
    assert_eq!(status(call(&s, Method::DELETE, &format!("/v1/secrets/{id}"), rita)).await, 403);
    assert_eq!(status(call(&s, Method::GET, &format!("/v1/secrets/{id}"), alice)).await, 200);
}

#[actix_web::test]
async fn rbac_admin_of_another_project_reads_metadata_and_deletes_but_not_payload() {
    let s = start_rbac().await;
    let p = common::project();
    let q = common::project();
    let alice = who(&p, MEMBER, "alice");
    let outsider_admin = who(&q, ADMIN, "root-q");
    let id = create(&s, alice).await;
    set_acl(&s, alice, Method::PUT, &id, json!({"read": {"project-access": false}})).await;
    let meta = format!("/v1/secrets/{id}");
    let r = call(&s, Method::GET, &meta, outsider_admin).send().await.unwrap();
    assert_eq!(r.status(), 200, "copied quirk: any project's admin reads metadata");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["creator_id"], "alice");
    let r = call(&s, Method::GET, &format!("{meta}/payload"), outsider_admin).send().await.unwrap();
    common::assert_error(r, 403, "Forbidden", Some(&denied("Secret payload retrieval"))).await;
    // The legacy download through the secret's URI is a decrypt too.
    let r = call(&s, Method::GET, &meta, outsider_admin).header("Accept", "text/plain").send().await.unwrap();
    common::assert_error(r, 403, "Forbidden", Some(&denied("Secret retrieval"))).await;
    assert_eq!(status(call(&s, Method::GET, &format!("{meta}/metadata"), outsider_admin)).await, 403);
    assert_eq!(status(call(&s, Method::GET, &acl_path(&id), outsider_admin)).await, 403);
    assert_eq!(status(call(&s, Method::PUT, &acl_path(&id), outsider_admin).json(&json!({}))).await, 403);
    // A member (non-admin) of that other project gets nothing.
    assert_eq!(status(call(&s, Method::GET, &meta, who(&q, MEMBER, "m"))).await, 403);
    assert_eq!(status(call(&s, Method::DELETE, &meta, who(&q, MEMBER, "m"))).await, 403);
    // Deletion (copied quirk), which also removes the ACL rows.
    assert_eq!(stored_acls(&s, &id).len(), 1);
    assert_eq!(status(call(&s, Method::DELETE, &meta, outsider_admin)).await, 204);
    assert!(stored_acls(&s, &id).is_empty());
    let r = call(&s, Method::GET, &meta, alice).send().await.unwrap();
    common::assert_error(r, 404, "Not Found", Some("Secret not found.")).await;
    let r = call(&s, Method::GET, &acl_path(&id), alice).send().await.unwrap();
    common::assert_error(r, 404, "Not Found", Some("Secret not found.")).await;
}
