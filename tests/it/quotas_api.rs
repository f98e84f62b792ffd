//! Quotas end to end (contract §5.9): effective quotas, project overrides (policy, messages,
//! merge semantics, paging) and their enforcement on secret creation, including under
//! concurrency.

use crate::common;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};

const SA: &str = "key-manager:service-admin";
const QUOTA_REACHED: &str = "Secret creation issue seen - Creation not allowed because a quota has been reached.";
const SCHEMA: &str = "Provided object does not match schema 'Project Quota': ";
const JSON_415: &str = "Unexpected content type. Expected content types are: ['application/json']";

/// Tests that write `project_quotas` rows (a global table) take this lock, so that a list's
/// totals are exact even when the tests share one PostgreSQL/MySQL database.
static PROJECT_QUOTAS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn call(s: &common::TestServer, m: Method, path: &str, project: &str, roles: &str) -> RequestBuilder {
    s.req(m, path, project).header("X-Roles", roles).header("X-User-Id", "quota-user")
}

fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

fn denied(op: &str) -> String {
    format!("{op} attempt not allowed - please review your user/project privileges")
}

fn pq_path(project: &str) -> String {
    format!("/v1/project-quotas/{project}")
}

async fn json_ok(r: Response) -> Value {
    assert_eq!(r.status(), 200, "status");
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    r.json().await.unwrap()
}

async fn effective(s: &common::TestServer, project: &str) -> Value {
    json_ok(call(s, Method::GET, "/v1/quotas", project, "reader,observer").send().await.unwrap()).await
}

/// PUT as a service admin; must answer 204 with no body.
async fn put_quotas(s: &common::TestServer, project: &str, body: Value) {
    let r = call(s, Method::PUT, &pq_path(project), "ops", SA).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 204, "PUT project quotas {body}: {:?}", r.text().await);
    assert!(r.bytes().await.unwrap().is_empty());
}

async fn get_override(s: &common::TestServer, project: &str) -> Value {
    json_ok(call(s, Method::GET, &pq_path(project), "ops", SA).send().await.unwrap()).await
}

async fn delete_override(s: &common::TestServer, project: &str) {
    let r = call(s, Method::DELETE, &pq_path(project), "ops", SA).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(r.bytes().await.unwrap().is_empty());
}

fn quotas(secrets: Value, orders: Value, containers: Value, consumers: Value, cas: Value) -> Value {
    json!({"secrets": secrets, "orders": orders, "containers": containers, "consumers": consumers, "cas": cas})
}

/// A page of `GET /v1/project-quotas`.
async fn list_page(s: &common::TestServer, query: &str) -> Value {
    json_ok(call(s, Method::GET, &format!("/v1/project-quotas{query}"), "ops", SA).send().await.unwrap()).await
}

async fn create_secret(s: &common::TestServer, project: &str, body: Value) -> Response {
    s.req(Method::POST, "/v1/secrets", project).json(&body).send().await.unwrap()
}

async fn secret_total(s: &common::TestServer, project: &str) -> i64 {
    let v = json_ok(s.req(Method::GET, "/v1/secrets", project).send().await.unwrap()).await;
    v["total"].as_i64().unwrap()
}

// ---- GET /v1/quotas ----------------------------------------------------------------------------

#[actix_web::test]
async fn effective_quotas_default_to_unlimited() {
    let s = common::start().await;
    let p = common::project();
    let v = effective(&s, &p).await;
    assert_eq!(v, json!({"quotas": {"secrets": -1, "orders": -1, "containers": -1, "consumers": -1, "cas": -1}}));
    // trailing slash, JSON Accept variants
    for (path, accept) in [("/v1/quotas/", "application/json"), ("/v1/quotas", "text/html,application/json;q=0.5"), ("/v1/quotas", "*/*")] {
        let r = call(&s, Method::GET, path, &p, "creator").header("Accept", accept).send().await.unwrap();
        assert_eq!(json_ok(r).await, v, "{path} {accept}");
    }
    // the project is created on the way
    let mut c = portcullis::store::DbUrl::parse(&s.db_url).unwrap().establish().unwrap();
    use diesel::prelude::*;
    use portcullis::store::schema::projects;
    let n: i64 = projects::table.filter(projects::external_id.eq(&p)).count().get_result(&mut c).unwrap();
    assert_eq!(n, 1);
}

#[actix_web::test]
async fn effective_quotas_use_config_defaults_then_overrides() {
    let _g = PROJECT_QUOTAS.lock().await;
    let s = common::start_with(|c| {
        c.quotas.quota_secrets = 10;
        c.quotas.quota_orders = 0;
        c.quotas.quota_cas = 3;
    })
    .await;
    let p = common::project();
    assert_eq!(effective(&s, &p).await["quotas"], quotas(json!(10), json!(0), json!(-1), json!(-1), json!(3)));
    put_quotas(&s, &p, json!({"project_quotas": {"secrets": 2, "consumers": 7}})).await;
    assert_eq!(effective(&s, &p).await["quotas"], quotas(json!(2), json!(0), json!(-1), json!(7), json!(3)));
    // another project keeps the defaults
    assert_eq!(effective(&s, &common::project()).await["quotas"], quotas(json!(10), json!(0), json!(-1), json!(-1), json!(3)));
    delete_override(&s, &p).await;
    assert_eq!(effective(&s, &p).await["quotas"]["secrets"], 10);
}

#[actix_web::test]
async fn effective_quotas_policy_and_accept() {
    let s = common::start().await;
    let p = common::project();
    // legacy: all_users
    for roles in ["admin", "observer", "creator", "audit", SA] {
        assert_eq!(call(&s, Method::GET, "/v1/quotas", &p, roles).send().await.unwrap().status(), 200, "{roles}");
    }
    for roles in ["member", "reader"] {
        common::assert_error(call(&s, Method::GET, "/v1/quotas", &p, roles).send().await.unwrap(), 403, "Forbidden", Some(&denied("Quotas"))).await;
    }
    // Accept negotiation comes before policy
    let r = call(&s, Method::GET, "/v1/quotas", &p, "member").header("Accept", "text/plain").send().await.unwrap();
    common::assert_error(r, 406, "Not Acceptable", None).await;
    let r = call(&s, Method::POST, "/v1/quotas", &p, "admin").json(&json!({})).send().await.unwrap();
    assert_eq!(header(&r, "allow"), Some("GET"));
    common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
    let r = call(&s, Method::GET, "/v1/quotas/extra", &p, "admin").send().await.unwrap();
    common::assert_error(r, 404, "Not Found", Some("")).await;

    let n = common::start_with(|c| c.oslo_policy.enforce_new_defaults = true).await;
    assert_eq!(call(&n, Method::GET, "/v1/quotas", &p, "reader").send().await.unwrap().status(), 200);
    for roles in ["member", "creator,observer", SA] {
        common::assert_error(call(&n, Method::GET, "/v1/quotas", &p, roles).send().await.unwrap(), 403, "Forbidden", Some(&denied("Quotas"))).await;
    }
}

// ---- /v1/project-quotas ----------------------------------------------------------------------

#[actix_web::test]
async fn project_quotas_tempest_flow_and_merge() {
    let _g = PROJECT_QUOTAS.lock().await;
    let s = common::start().await;
    let p = common::project();
    let before = list_page(&s, "?limit=100").await["total"].as_i64().unwrap();

    let r = call(&s, Method::GET, &pq_path(&p), "ops", SA).send().await.unwrap();
    common::assert_error(r, 404, "Not Found", Some("Project quotas not found.")).await;

    put_quotas(&s, &p, json!({"project_quotas": {"secrets": 30, "orders": 10}})).await;
    assert_eq!(get_override(&s, &p).await, json!({"project_quotas": quotas(json!(30), json!(10), Value::Null, Value::Null, Value::Null)}));
    // only the keys given change
    put_quotas(&s, &p, json!({"project_quotas": {"containers": 20, "secrets": -5}})).await;
    assert_eq!(get_override(&s, &p).await["project_quotas"], quotas(json!(-5), json!(10), json!(20), Value::Null, Value::Null));
    // `{}` changes nothing; strings around are irrelevant; JSON with a charset is JSON
    let r = call(&s, Method::PUT, &pq_path(&p), "ops", SA)
        .header("Content-Type", "application/json; charset=utf-8")
        .body(r#"{"project_quotas": {}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    put_quotas(&s, &p, json!({"project_quotas": {"consumers": 0, "cas": 2147483647}})).await;
    assert_eq!(get_override(&s, &p).await["project_quotas"], quotas(json!(-5), json!(10), json!(20), json!(0), json!(2147483647)));

    let all = list_page(&s, "?limit=100").await;
    assert_eq!(all["total"], before + 1);
    let item = all["project_quotas"].as_array().unwrap().iter().find(|i| i["project_id"] == p.as_str()).expect("listed").clone();
    assert_eq!(item, json!({"project_id": p, "project_quotas": quotas(json!(-5), json!(10), json!(20), json!(0), json!(2147483647))}));

    delete_override(&s, &p).await;
    assert_eq!(list_page(&s, "?limit=100").await["total"], before);
    let r = call(&s, Method::GET, &pq_path(&p), "ops", SA).send().await.unwrap();
    common::assert_error(r, 404, "Not Found", Some("Project quotas not found.")).await;
    let r = call(&s, Method::DELETE, &pq_path(&p), "ops", SA).send().await.unwrap();
    common::assert_error(r, 404, "Not Found", Some("Project quotas not found.")).await;

    // `{}` on a project without an override creates an empty one (all null)
    put_quotas(&s, &p, json!({"project_quotas": {}})).await;
    assert_eq!(get_override(&s, &p).await["project_quotas"], quotas(Value::Null, Value::Null, Value::Null, Value::Null, Value::Null));
    delete_override(&s, &p).await;
}

#[actix_web::test]
async fn project_quotas_list_pages_with_the_contract_slug() {
    let _g = PROJECT_QUOTAS.lock().await;
    let s = common::start().await;
    let n = list_page(&s, "?limit=100").await["total"].as_i64().unwrap();
    let ps: Vec<String> = (0..3).map(|_| common::project()).collect();
    for (i, p) in ps.iter().enumerate() {
        put_quotas(&s, p, json!({"project_quotas": {"secrets": i}})).await;
    }
    let total = n + 3;
    // ours are the newest: the last three, in creation order
    let v = list_page(&s, &format!("?limit=3&offset={n}")).await;
    let ids: Vec<&str> = v["project_quotas"].as_array().unwrap().iter().map(|i| i["project_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ps.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(v["total"], total);
    assert!(v.get("next").is_none());
    if n > 0 {
        assert_eq!(v["previous"], format!("{}/v1/project_quotas?limit=3&offset={}", s.base, (n - 3).max(0)));
    }
    let v = list_page(&s, &format!("?limit=1&offset={}", n + 1)).await;
    assert_eq!(v["project_quotas"][0]["project_id"], ps[1].as_str());
    assert_eq!(v["project_quotas"][0]["project_quotas"]["secrets"], 1);
    assert_eq!(v["next"], format!("{}/v1/project_quotas?limit=1&offset={}", s.base, n + 2));
    assert_eq!(v["previous"], format!("{}/v1/project_quotas?limit=1&offset={}", s.base, n));
    assert_eq!(v.as_object().unwrap().len(), 4);
    // past the end: no links
    let v = list_page(&s, &format!("?offset={}", total + 5)).await;
    assert_eq!(v, json!({"project_quotas": [], "total": total}));
    // default limit 10, bad values cleaned
    let v = list_page(&s, "?limit=abc&offset=-4").await;
    assert_eq!(v["project_quotas"].as_array().unwrap().len() as i64, total.min(10));
    for p in &ps {
        delete_override(&s, p).await;
    }
    assert_eq!(list_page(&s, "?limit=100").await["total"], n);
}

#[actix_web::test]
async fn project_quotas_policy_legacy_and_new() {
    let _g = PROJECT_QUOTAS.lock().await;
    let s = common::start().await;
    let p = common::project();
    let body = json!({"project_quotas": {"secrets": 1}});
    // legacy: only key-manager:service-admin (a project admin is refused)
    for roles in ["admin", "creator", "observer", "audit", "admin,member,reader"] {
        let d = denied("Project Quotas");
        common::assert_error(call(&s, Method::GET, "/v1/project-quotas", "ops", roles).send().await.unwrap(), 403, "Forbidden", Some(&d)).await;
        common::assert_error(call(&s, Method::GET, &pq_path(&p), "ops", roles).send().await.unwrap(), 403, "Forbidden", Some(&d)).await;
        common::assert_error(call(&s, Method::PUT, &pq_path(&p), "ops", roles).json(&body).send().await.unwrap(), 403, "Forbidden", Some(&d)).await;
        common::assert_error(call(&s, Method::DELETE, &pq_path(&p), "ops", roles).send().await.unwrap(), 403, "Forbidden", Some(&d)).await;
    }
    // the refused PUT wrote nothing
    let r = call(&s, Method::GET, &pq_path(&p), "ops", SA).send().await.unwrap();
    assert_eq!(r.status(), 404);
    put_quotas(&s, &p, body.clone()).await;
    delete_override(&s, &p).await;

    // new defaults: role admin; the legacy service-admin role alone is refused
    let n = common::start_with(|c| c.oslo_policy.enforce_new_defaults = true).await;
    for roles in [SA, "member,reader", "creator"] {
        let r = call(&n, Method::GET, "/v1/project-quotas", "ops", roles).send().await.unwrap();
        common::assert_error(r, 403, "Forbidden", Some(&denied("Project Quotas"))).await;
        let r = call(&n, Method::PUT, &pq_path(&p), "ops", roles).json(&body).send().await.unwrap();
        common::assert_error(r, 403, "Forbidden", Some(&denied("Project Quotas"))).await;
    }
    let r = call(&n, Method::PUT, &pq_path(&p), "ops", "admin,member,reader").json(&body).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let r = call(&n, Method::GET, &pq_path(&p), "ops", "admin").send().await.unwrap();
    assert_eq!(json_ok(r).await["project_quotas"]["secrets"], 1);
    assert_eq!(call(&n, Method::GET, "/v1/project-quotas", "ops", "admin").send().await.unwrap().status(), 200);
    assert_eq!(call(&n, Method::DELETE, &pq_path(&p), "ops", "admin").send().await.unwrap().status(), 204);
}

#[actix_web::test]
async fn project_quota_put_messages_and_check_order() {
    let s = common::start().await;
    let p = common::project();
    let put = || call(&s, Method::PUT, &pq_path(&p), "ops", SA);

    // empty body (JSON content type): the "no data" issue
    let r = put().header("Content-Type", "application/json").send().await.unwrap();
    common::assert_error(r, 400, "Bad Request", Some("Project Quotas issue seen - No data supplied to process..")).await;
    for body in ["   ", "{", "nul"] {
        let r = put().header("Content-Type", "application/json").body(body).send().await.unwrap();
        common::assert_error(r, 400, "Bad Request", Some("Malformed JSON")).await;
    }
    // Content-Type before the body
    let r = put().body("").send().await.unwrap();
    common::assert_error(r, 415, "Unsupported Media Type", Some(JSON_415)).await;
    let r = put().header("Content-Type", "text/plain").body(r#"{"project_quotas": {}}"#).send().await.unwrap();
    common::assert_error(r, 415, "Unsupported Media Type", Some(JSON_415)).await;
    // policy before Content-Type, Accept before policy
    let r = call(&s, Method::PUT, &pq_path(&p), "ops", "creator").header("Content-Type", "text/plain").send().await.unwrap();
    common::assert_error(r, 403, "Forbidden", Some(&denied("Project Quotas"))).await;
    let r = call(&s, Method::PUT, &pq_path(&p), "ops", "creator").header("Accept", "text/plain").send().await.unwrap();
    common::assert_error(r, 406, "Not Acceptable", None).await;

    let cases = [
        (json!({}), "'project_quotas' is a required property. Invalid property: 'None'"),
        (json!({"project_quotas": {"foo": 1}}), "Additional properties are not allowed ('foo' was unexpected). Invalid property: 'project_quotas'"),
        (json!({"project_quotas": {"secrets": 1}, "foo": 1}), "Additional properties are not allowed ('foo' was unexpected). Invalid property: 'None'"),
        (json!({"project_quotas": {"secrets": "2"}}), "'2' is not of type 'integer'. Invalid property: 'project_quotas'"),
        (json!({"project_quotas": {"orders": null}}), "None is not of type 'integer'. Invalid property: 'project_quotas'"),
        (json!({"project_quotas": {"cas": 1.5}}), "1.5 is not of type 'integer'. Invalid property: 'project_quotas'"),
        (json!({"project_quotas": [1]}), "[1] is not of type 'object'. Invalid property: 'project_quotas'"),
        (json!(["project_quotas"]), "['project_quotas'] is not of type 'object'. Invalid property: 'None'"),
        (json!({"project_quotas": {"secrets": 99999999999i64}}), "99999999999 is greater than the maximum of 2147483647. Invalid property: 'project_quotas'"),
    ];
    for (body, reason) in cases {
        let r = put().json(&body).send().await.unwrap();
        common::assert_error(r, 400, "Bad Request", Some(&format!("{SCHEMA}{reason}"))).await;
    }
    // nothing was written by any of these
    let r = call(&s, Method::GET, &pq_path(&p), "ops", SA).send().await.unwrap();
    common::assert_error(r, 404, "Not Found", Some("Project quotas not found.")).await;
}

#[actix_web::test]
async fn project_quota_routes_accept_and_methods() {
    let _g = PROJECT_QUOTAS.lock().await;
    let s = common::start().await;
    let p = common::project();
    put_quotas(&s, &p, json!({"project_quotas": {"secrets": 4}})).await;
    // GET is JSON-only
    let r = call(&s, Method::GET, &pq_path(&p), "ops", SA).header("Accept", "text/plain").send().await.unwrap();
    common::assert_error(r, 406, "Not Acceptable", None).await;
    let r = call(&s, Method::GET, "/v1/project-quotas", "ops", SA).header("Accept", "application/xml").send().await.unwrap();
    common::assert_error(r, 406, "Not Acceptable", None).await;
    // 405s
    let r = call(&s, Method::POST, &pq_path(&p), "ops", SA).json(&json!({})).send().await.unwrap();
    assert_eq!(header(&r, "allow"), Some("DELETE, GET, PUT"));
    common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
    let r = call(&s, Method::PATCH, "/v1/project-quotas", "ops", SA).send().await.unwrap();
    assert_eq!(header(&r, "allow"), Some("GET"));
    common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
    let r = call(&s, Method::GET, &format!("{}/more", pq_path(&p)), "ops", SA).send().await.unwrap();
    common::assert_error(r, 404, "Not Found", Some("")).await;
    // DELETE takes any Accept (and tempest's Content-Type: application/json)
    let r = call(&s, Method::DELETE, &pq_path(&p), "ops", SA)
        .header("Accept", "text/plain")
        .header("Content-Type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // a trailing slash is the same resource
    put_quotas(&s, &p, json!({"project_quotas": {"secrets": 4}})).await;
    let r = call(&s, Method::GET, &format!("{}/", pq_path(&p)), "ops", SA).send().await.unwrap();
    assert_eq!(json_ok(r).await["project_quotas"]["secrets"], 4);
    delete_override(&s, &p).await;
}

// ---- enforcement on POST /v1/secrets ---------------------------------------------------------

#[actix_web::test]
async fn secret_quota_is_enforced() {
    let _g = PROJECT_QUOTAS.lock().await;
    let s = common::start().await;
    let p = common::project();
    put_quotas(&s, &p, json!({"project_quotas": {"secrets": 2}})).await;
    let a = s.create_secret(&p, json!({"name": "a"})).await;
    s.create_secret(&p, json!({"name": "b", "payload": "x", "payload_content_type": "text/plain"})).await;
    let r = create_secret(&s, &p, json!({"name": "c"})).await;
    common::assert_error(r, 403, "Forbidden", Some(QUOTA_REACHED)).await;
    assert_eq!(secret_total(&s, &p).await, 2);
    // other projects are not affected
    s.create_secret(&common::project(), json!({})).await;
    // a deleted secret no longer counts
    assert_eq!(s.req(Method::DELETE, &format!("/v1/secrets/{a}"), &p).send().await.unwrap().status(), 204);
    s.create_secret(&p, json!({"name": "c"})).await;
    let r = create_secret(&s, &p, json!({"name": "d"})).await;
    common::assert_error(r, 403, "Forbidden", Some(QUOTA_REACHED)).await;
    // raising the quota lets creates through again
    put_quotas(&s, &p, json!({"project_quotas": {"secrets": 3}})).await;
    s.create_secret(&p, json!({"name": "d"})).await;
    common::assert_error(create_secret(&s, &p, json!({})).await, 403, "Forbidden", Some(QUOTA_REACHED)).await;
    // other resources' quotas do not limit secrets
    put_quotas(&s, &p, json!({"project_quotas": {"secrets": -1, "orders": 0, "containers": 0, "consumers": 0, "cas": 0}})).await;
    s.create_secret(&p, json!({})).await;
    delete_override(&s, &p).await;
}

#[actix_web::test]
async fn secret_quota_zero_refuses_and_negative_is_unlimited() {
    let _g = PROJECT_QUOTAS.lock().await;
    let s = common::start_with(|c| c.quotas.quota_secrets = 1).await;
    let p = common::project();
    // the configured default applies without an override
    s.create_secret(&p, json!({})).await;
    common::assert_error(create_secret(&s, &p, json!({})).await, 403, "Forbidden", Some(QUOTA_REACHED)).await;
    // -1 (and any negative) is unlimited
    for q in [-1, -20] {
        put_quotas(&s, &p, json!({"project_quotas": {"secrets": q}})).await;
        for _ in 0..3 {
            s.create_secret(&p, json!({})).await;
        }
    }
    assert_eq!(secret_total(&s, &p).await, 7);
    // 0 refuses every create, whatever the count
    let fresh = common::project();
    put_quotas(&s, &fresh, json!({"project_quotas": {"secrets": 0}})).await;
    common::assert_error(create_secret(&s, &fresh, json!({})).await, 403, "Forbidden", Some(QUOTA_REACHED)).await;
    assert_eq!(secret_total(&s, &fresh).await, 0);
    // the quota is checked after validation and policy
    let r = create_secret(&s, &fresh, json!({"secret_type": "bogus"})).await;
    assert_eq!(r.status(), 400);
    let r = s.req(Method::POST, "/v1/secrets", &fresh).header("X-Roles", "observer").json(&json!({})).send().await.unwrap();
    common::assert_error(r, 403, "Forbidden", Some(&denied("Secret creation"))).await;
    delete_override(&s, &p).await;
    delete_override(&s, &fresh).await;
}

#[actix_web::test]
async fn expired_secrets_do_not_count() {
    let _g = PROJECT_QUOTAS.lock().await;
    let s = common::start().await;
    let p = common::project();
    put_quotas(&s, &p, json!({"project_quotas": {"secrets": 1}})).await;
    let soon = (chrono::Utc::now() + chrono::Duration::milliseconds(1500)).format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
    s.create_secret(&p, json!({"name": "short-lived", "expiration": soon})).await;
    common::assert_error(create_secret(&s, &p, json!({})).await, 403, "Forbidden", Some(QUOTA_REACHED)).await;
    tokio::time::sleep(std::time::Duration::from_millis(2000)).await;
    assert_eq!(secret_total(&s, &p).await, 0, "the expired secret is gone from the list");
    s.create_secret(&p, json!({"name": "after"})).await;
    common::assert_error(create_secret(&s, &p, json!({})).await, 403, "Forbidden", Some(QUOTA_REACHED)).await;
    delete_override(&s, &p).await;
}

#[actix_web::test]
async fn concurrent_creates_never_exceed_the_quota() {
    let _g = PROJECT_QUOTAS.lock().await;
    let s = common::start().await;
    let p = common::project();
    put_quotas(&s, &p, json!({"project_quotas": {"secrets": 5}})).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let rb = s.req(Method::POST, "/v1/secrets", &p).json(&json!({
            "name": format!("race-{i}"), "payload": format!("payload-{i}"), "payload_content_type": "text/plain"
        }));
        tasks.push(actix_web::rt::spawn(async move {
            let r = rb.send().await.unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            (status, body)
        }));
    }
    let (mut created, mut refused) = (0, 0);
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            201 => created += 1,
            403 => {
                assert_eq!(body["description"], QUOTA_REACHED);
                refused += 1
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((created, refused), (5, 15));
    assert_eq!(secret_total(&s, &p).await, 5);
    delete_override(&s, &p).await;
}
