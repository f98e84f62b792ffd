//! Secret consumers (contract §5.4) and container consumers (§5.6), with their policy (§4.4),
//! quota (§5.9) and the secret-deletion rule of microversion 1.2 (§5.2.9).

use crate::common;
use crate::common::who::{Who, admin, call, db, denied, expect, header, id_of, keys, status, ts, who};
use diesel::prelude::*;
use portcullis::store::schema::{container_consumers, secret_consumers};
use reqwest::Method;
use serde_json::{json, Value};

const SC_SCHEMA: &str = "Provided object does not match schema 'Secret Consumer': ";
const C_SCHEMA: &str = "Provided object does not match schema 'Consumer': ";
const NOT_FOUND: &str = "Consumer not found.";
const INVALID_CID: &str = "Not Found. Provided consumer id is invalid.";
const NOT_OWNER: &str = "Not Allowed. Sorry, only the creator of a consumer can delete it.";
const JSON_415: &str = "Unexpected content type. Expected content types are: ['application/json']";
const SECRET_QUOTA: &str = "SecretConsumer creation issue seen - Creation not allowed because a quota has been reached.";
const CONTAINER_QUOTA: &str = "ContainerConsumer creation issue seen - Creation not allowed because a quota has been reached.";
const MV: &str = "OpenStack-API-Version";
/// The keys python-barbicanclient accepts in a secret (§5.2.1).
const SECRET_KEYS: [&str; 15] = [
    "name", "expiration", "algorithm", "bit_length", "mode", "payload", "payload_content_type",
    "payload_content_encoding", "secret_ref", "created", "updated", "content_types", "status", "secret_type",
    "creator_id",
];

async fn secret(s: &common::TestServer, w: Who<'_>) -> String {
    let r = call(s, Method::POST, "/v1/secrets", w)
        .json(&json!({"name": "s", "payload": "p", "payload_content_type": "text/plain"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    id_of(r.json::<Value>().await.unwrap()["secret_ref"].as_str().unwrap())
}

async fn container(s: &common::TestServer, w: Who<'_>) -> String {
    let r = call(s, Method::POST, "/v1/containers", w).json(&json!({"type": "generic", "name": "c"})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    id_of(header(&r, "location").unwrap())
}

fn sc_path(id: &str) -> String {
    format!("/v1/secrets/{id}/consumers")
}

fn cc_path(id: &str) -> String {
    format!("/v1/containers/{id}/consumers")
}

fn consumer(service: &str, rtype: &str, rid: &str) -> Value {
    json!({"service": service, "resource_type": rtype, "resource_id": rid})
}

/// POST or DELETE a secret consumer that must answer 200 with the secret (incl. consumers).
async fn secret_consumer_ok(s: &common::TestServer, w: Who<'_>, m: Method, id: &str, body: &Value) -> Value {
    let r = call(s, m.clone(), &sc_path(id), w).json(body).send().await.unwrap();
    assert_eq!(r.status(), 200, "{m} secret consumer {body}");
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    if m == Method::POST {
        assert_eq!(header(&r, "location"), Some(format!("{}/v1/consumers/{id}/consumers", s.base).as_str()));
    } else {
        assert!(header(&r, "location").is_none());
    }
    let v: Value = r.json().await.unwrap();
    for k in keys(&v) {
        assert!(k == "consumers" || SECRET_KEYS.contains(&k.as_str()), "key {k} breaks python-barbicanclient");
    }
    v
}

async fn get_json(s: &common::TestServer, w: Who<'_>, path: &str) -> Value {
    let r = call(s, Method::GET, path, w).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    r.json().await.unwrap()
}

// ---- secret consumers ------------------------------------------------------------------------

#[actix_web::test]
async fn secret_consumers_register_list_remove() {
    let s = common::start().await;
    let p = common::project();
    let a = who(&p, "creator", "alice");
    let id = secret(&s, a).await;
    let before = get_json(&s, a, &format!("/v1/secrets/{id}")).await;
    std::thread::sleep(std::time::Duration::from_millis(20));

    // 200 with the secret and its consumers, whatever the microversion (here 1.0); trailing slash.
    let r = call(&s, Method::POST, &format!("{}/", sc_path(&id)), a).json(&consumer("nova", "instance", "i-1")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["consumers"], json!([{"service": "nova", "resource_type": "instance", "resource_id": "i-1"}]));
    assert_eq!(v["secret_ref"], format!("{}/v1/secrets/{id}", s.base));
    assert_eq!(v["content_types"], json!({"default": "text/plain"}));
    assert!(ts(&v["updated"]) > ts(&before["updated"]), "registering moves the secret's updated");
    assert_eq!(v["created"], before["created"]);

    let v = secret_consumer_ok(&s, a, Method::POST, &id, &consumer(" glance\n", "image", "g-1")).await;
    assert_eq!(v["consumers"].as_array().unwrap().len(), 2);
    assert_eq!(v["consumers"][1]["service"], "glance", "stripped");
    // Idempotent: the same consumer again is still one consumer.
    let v = secret_consumer_ok(&s, a, Method::POST, &id, &consumer("glance", "image", "g-1")).await;
    assert_eq!(v["consumers"].as_array().unwrap().len(), 2);
    let stored: i64 = secret_consumers::table.filter(secret_consumers::secret_id.eq(&id)).count().get_result(&mut db(&s)).unwrap();
    assert_eq!(stored, 2);

    // GET list: exactly these keys, creation order, paging.
    let l = get_json(&s, a, &sc_path(&id)).await;
    assert_eq!(keys(&l), vec!["consumers", "total"]);
    assert_eq!(l["total"], 2);
    for item in l["consumers"].as_array().unwrap() {
        assert_eq!(keys(item), vec!["created", "resource_id", "resource_type", "service", "status", "updated"]);
        assert_eq!(item["status"], "ACTIVE");
        ts(&item["created"]);
        ts(&item["updated"]);
    }
    assert_eq!(l["consumers"][0]["service"], "nova");
    assert_eq!(l["consumers"][1]["service"], "glance");
    for i in 0..3 {
        secret_consumer_ok(&s, a, Method::POST, &id, &consumer("cinder", "volume", &format!("v-{i}"))).await;
    }
    let link = format!("{}/v1/secrets/{id}/consumers", s.base);
    let pg = get_json(&s, a, &format!("{}?limit=2&offset=2", sc_path(&id))).await;
    assert_eq!(pg["total"], 5);
    let rids: Vec<&str> = pg["consumers"].as_array().unwrap().iter().map(|c| c["resource_id"].as_str().unwrap()).collect();
    assert_eq!(rids, vec!["v-0", "v-1"]);
    assert_eq!(pg["next"], format!("{link}?limit=2&offset=4"));
    assert_eq!(pg["previous"], format!("{link}?limit=2&offset=0"));
    assert_eq!(get_json(&s, a, &format!("{}?offset=5", sc_path(&id))).await, json!({"consumers": [], "total": 5}));

    // GET secret at 1.1 shows them, at 1.0 not.
    let v = call(&s, Method::GET, &format!("/v1/secrets/{id}"), a).header(MV, "key-manager 1.1").send().await.unwrap().json::<Value>().await.unwrap();
    assert_eq!(v["consumers"].as_array().unwrap().len(), 5);
    assert!(get_json(&s, a, &format!("/v1/secrets/{id}")).await.get("consumers").is_none());

    // DELETE with a body: 200 with the secret without it; again → 404; revived by a new POST.
    let v = secret_consumer_ok(&s, a, Method::DELETE, &id, &consumer("nova", "instance", "i-1")).await;
    assert_eq!(v["consumers"].as_array().unwrap().len(), 4);
    assert!(!v["consumers"].as_array().unwrap().iter().any(|c| c["service"] == "nova"));
    expect(call(&s, Method::DELETE, &sc_path(&id), a).json(&consumer("nova", "instance", "i-1")), 404, NOT_FOUND).await;
    expect(call(&s, Method::DELETE, &sc_path(&id), a).json(&consumer("nova", "instance", "other")), 404, NOT_FOUND).await;
    let deleted: Vec<Option<i64>> = secret_consumers::table
        .filter(secret_consumers::secret_id.eq(&id))
        .filter(secret_consumers::service.eq("nova"))
        .select(secret_consumers::deleted_at)
        .load(&mut db(&s))
        .unwrap();
    assert!(deleted.len() == 1 && deleted[0].is_some(), "soft-deleted");
    let v = secret_consumer_ok(&s, a, Method::POST, &id, &consumer("nova", "instance", "i-1")).await;
    assert_eq!(v["consumers"].as_array().unwrap().len(), 5);
    assert_eq!(v["consumers"][4]["service"], "nova", "revived as a new registration");
    let rows: i64 = secret_consumers::table.filter(secret_consumers::secret_id.eq(&id)).count().get_result(&mut db(&s)).unwrap();
    assert_eq!(rows, 5, "the deleted row was revived");
}

#[actix_web::test]
async fn secret_consumer_validation_and_routing() {
    let s = common::start().await;
    let p = common::project();
    let a = admin(&p);
    let id = secret(&s, a).await;
    let path = sc_path(&id);
    for (body, msg) in [
        (json!({"service": "a", "resource_id": "b"}), format!("{SC_SCHEMA}'resource_type' is a required property. Invalid property: 'None'")),
        (json!({"service": "", "resource_type": "t", "resource_id": "b"}), format!("{SC_SCHEMA}'' should be non-empty. Invalid property: 'service'")),
        (json!({"service": "s", "resource_type": "  ", "resource_id": "b"}), format!("{SC_SCHEMA}'' should be non-empty. Invalid property: 'resource_type'")),
        (json!({"service": "s", "resource_type": "t", "resource_id": 5}), format!("{SC_SCHEMA}5 is not of type 'string'. Invalid property: 'resource_id'")),
        (json!({"service": "s".repeat(256), "resource_type": "t", "resource_id": "r"}), format!("{SC_SCHEMA}'{}' is too long. Invalid property: 'service'", "s".repeat(256))),
        (json!({"service": "s", "resource_type": "t", "resource_id": "r".repeat(37)}), format!("{SC_SCHEMA}'{}' is too long. Invalid property: 'resource_id'", "r".repeat(37))),
        (json!(["x"]), format!("{SC_SCHEMA}['x'] is not of type 'object'. Invalid property: 'None'")),
    ] {
        expect(call(&s, Method::POST, &path, a).json(&body), 400, &msg).await;
        expect(call(&s, Method::DELETE, &path, a).json(&body), 400, &msg).await;
    }
    // A UUID-long resource id is fine.
    secret_consumer_ok(&s, a, Method::POST, &id, &consumer("s", "t", &uuid::Uuid::new_v4().to_string())).await;
    for m in [Method::POST, Method::DELETE] {
        expect(call(&s, m.clone(), &path, a).header("Content-Type", "application/json").body("{x"), 400, "Malformed JSON").await;
        expect(call(&s, m.clone(), &path, a).header("Content-Type", "text/plain").body("{}"), 415, JSON_415).await;
        expect(call(&s, m.clone(), &path, a).body("{}"), 415, JSON_415).await;
        let r = call(&s, m, &path, a).header("Accept", "text/plain").json(&consumer("s", "t", "r")).send().await.unwrap();
        common::assert_error(r, 406, "Not Acceptable", None).await;
    }
    let r = call(&s, Method::GET, &path, a).header("Accept", "text/plain").send().await.unwrap();
    common::assert_error(r, 406, "Not Acceptable", None).await;
    for m in [Method::PUT, Method::PATCH] {
        let r = call(&s, m, &path, a).send().await.unwrap();
        assert_eq!(header(&r, "allow"), Some("DELETE, GET, POST"));
        common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
    }
    // /consumers/{cid}: id syntax, then 404 (ids are never shown); other methods 405.
    expect(call(&s, Method::GET, &format!("{path}/nope"), a), 404, INVALID_CID).await;
    expect(call(&s, Method::POST, &format!("{path}/nope"), a), 404, INVALID_CID).await;
    let cid = uuid::Uuid::new_v4().to_string();
    expect(call(&s, Method::GET, &format!("{path}/{cid}"), a), 404, NOT_FOUND).await;
    let r = call(&s, Method::DELETE, &format!("{path}/{cid}"), a).send().await.unwrap();
    assert_eq!(header(&r, "allow"), Some("GET"));
    common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
    // The id Barbican never shows: the consumer itself.
    let stored: String = secret_consumers::table.filter(secret_consumers::secret_id.eq(&id)).select(secret_consumers::id).first(&mut db(&s)).unwrap();
    let v = get_json(&s, a, &format!("{path}/{stored}")).await;
    assert_eq!(keys(&v), vec!["created", "resource_id", "resource_type", "service", "status", "updated"]);
    expect(call(&s, Method::GET, &format!("{}/{stored}", sc_path(&secret(&s, a).await)), a), 404, NOT_FOUND).await;
    // The secret is looked up first.
    let unknown = uuid::Uuid::new_v4().to_string();
    for p2 in [sc_path(&unknown), format!("{}/{cid}", sc_path(&unknown)), format!("{}/nope", sc_path(&unknown))] {
        expect(call(&s, Method::GET, &p2, a), 404, "Secret not found.").await;
        expect(call(&s, Method::PUT, &p2, a), 404, "Secret not found.").await;
    }
    expect(call(&s, Method::GET, &sc_path("bad"), a), 404, "Not Found. Provided secret id is invalid.").await;
    expect(call(&s, Method::GET, &format!("{path}/{cid}/x"), a), 404, "").await;
    // A deleted secret is gone for its consumers routes too.
    assert_eq!(status(call(&s, Method::DELETE, &format!("/v1/secrets/{id}"), a)).await, 204);
    expect(call(&s, Method::POST, &path, a).json(&consumer("s", "t", "r")), 404, "Secret not found.").await;
}

#[actix_web::test]
async fn secret_consumers_across_projects() {
    let s = common::start().await;
    let p = common::project();
    let q = common::project();
    let r3 = common::project();
    let unknown_project = common::project();
    let alice = who(&p, "creator", "alice");
    let olga = who(&p, "observer", "olga");
    let bob = who(&q, "nobody", "bob");
    let carol = who(&r3, "nobody", "carol");
    let dave = who(&unknown_project, "nobody", "dave");
    let id = secret(&s, alice).await;
    // Another project's caller needs the secret's read ACL.
    expect(call(&s, Method::POST, &sc_path(&id), bob).json(&consumer("x", "y", "z")), 403, &denied("SecretConsumer creation")).await;
    expect(call(&s, Method::GET, &sc_path(&id), bob), 403, &denied("SecretConsumers(s) retrieval")).await;
    expect(call(&s, Method::DELETE, &sc_path(&id), bob).json(&consumer("x", "y", "z")), 403, &denied("SecretConsumer deletion")).await;
    let r = call(&s, Method::PUT, &format!("/v1/secrets/{id}/acl"), alice).json(&json!({"read": {"users": ["bob", "carol", "dave"]}})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    secret(&s, admin(&r3)).await; // carol's project is known to Barbican; dave's is not

    // bob (project q) registers; his project owns the consumer.
    secret_consumer_ok(&s, bob, Method::POST, &id, &consumer("nova", "instance", "b-1")).await;
    let owner: Option<String> = secret_consumers::table
        .filter(secret_consumers::secret_id.eq(&id))
        .select(secret_consumers::project_id)
        .first(&mut db(&s))
        .unwrap();
    assert_eq!(owner.as_deref(), Some(q.as_str()));
    assert_eq!(get_json(&s, bob, &sc_path(&id)).await["total"], 1);
    // carol's project is neither the consumer's nor the secret's; dave's project is unknown.
    expect(call(&s, Method::DELETE, &sc_path(&id), carol).json(&consumer("nova", "instance", "b-1")), 403, NOT_OWNER).await;
    expect(call(&s, Method::DELETE, &sc_path(&id), dave).json(&consumer("nova", "instance", "b-1")), 404, NOT_FOUND).await;
    expect(call(&s, Method::DELETE, &sc_path(&id), carol).json(&consumer("nova", "instance", "none")), 404, NOT_FOUND).await;
    // The consumer's project may remove it; so may the secret's project.
    secret_consumer_ok(&s, bob, Method::DELETE, &id, &consumer("nova", "instance", "b-1")).await;
    secret_consumer_ok(&s, bob, Method::POST, &id, &consumer("nova", "instance", "b-2")).await;
    // Legacy: an observer reads and registers on a non-private secret.
    secret_consumer_ok(&s, olga, Method::POST, &id, &consumer("glance", "image", "o-1")).await;
    let v = secret_consumer_ok(&s, alice, Method::DELETE, &id, &consumer("nova", "instance", "b-2")).await;
    assert_eq!(v["consumers"], json!([{"service": "glance", "resource_type": "image", "resource_id": "o-1"}]));

    // GET …/consumers/{cid} uses `consumer:get` (legacy: any of the legacy roles).
    let cid = uuid::Uuid::new_v4().to_string();
    expect(call(&s, Method::GET, &format!("{}/{cid}", sc_path(&id)), bob), 403, &denied("SecretConsumer retrieval")).await;
    expect(call(&s, Method::GET, &format!("{}/{cid}", sc_path(&id)), olga), 404, NOT_FOUND).await;
}

#[actix_web::test]
async fn secret_consumers_under_secure_rbac() {
    let s = common::start_with(|c| {
        c.oslo_policy.enforce_new_defaults = true;
        c.oslo_policy.enforce_scope = true;
    })
    .await;
    let p = common::project();
    let member = who(&p, "member,reader", "alice");
    let reader = who(&p, "reader", "rita");
    let padmin = who(&p, "admin,member,reader", "root");
    let id = secret(&s, member).await;
    secret_consumer_ok(&s, member, Method::POST, &id, &consumer("a", "b", "c")).await;
    expect(call(&s, Method::POST, &sc_path(&id), reader).json(&consumer("a", "b", "d")), 403, &denied("SecretConsumer creation")).await;
    // consumer:get: only role:admin can pass with a secret target.
    let cid = uuid::Uuid::new_v4().to_string();
    expect(call(&s, Method::GET, &format!("{}/{cid}", sc_path(&id)), member), 403, &denied("SecretConsumer retrieval")).await;
    expect(call(&s, Method::GET, &format!("{}/{cid}", sc_path(&id)), padmin), 404, NOT_FOUND).await;
}

#[actix_web::test]
async fn secrets_with_consumers_and_microversion_1_2() {
    let s = common::start().await;
    let p = common::project();
    let a = admin(&p);
    let id = secret(&s, a).await;
    secret_consumer_ok(&s, a, Method::POST, &id, &consumer("nova", "instance", "i")).await;
    let del = format!("/v1/secrets/{id}");
    expect(
        call(&s, Method::DELETE, &del, a).header(MV, "key-manager 1.2"),
        400,
        "Secret deletion issue seen - Secret cannot be deleted as it has consumers..",
    )
    .await;
    secret_consumer_ok(&s, a, Method::DELETE, &id, &consumer("nova", "instance", "i")).await;
    assert_eq!(status(call(&s, Method::DELETE, &del, a).header(MV, "key-manager 1.2")).await, 204);
    // Forced, and at 1.1 (no rule): the consumers are soft-deleted with the secret.
    for (mv, q) in [("key-manager 1.2", "?force=true"), ("key-manager 1.1", "")] {
        let id = secret(&s, a).await;
        secret_consumer_ok(&s, a, Method::POST, &id, &consumer("nova", "instance", "i")).await;
        assert_eq!(status(call(&s, Method::DELETE, &format!("/v1/secrets/{id}{q}"), a).header(MV, mv)).await, 204);
        let live: i64 = secret_consumers::table
            .filter(secret_consumers::secret_id.eq(&id))
            .filter(secret_consumers::deleted_at.is_null())
            .count()
            .get_result(&mut db(&s))
            .unwrap();
        assert_eq!(live, 0);
        expect(call(&s, Method::GET, &sc_path(&id), a), 404, "Secret not found.").await;
    }
}

/// The 1.2 "has consumers" check runs inside the delete's transaction, after the secret's lock:
/// a consumer committed while the delete waits for that lock is seen, and the secret stays.
/// (Deterministic: this test holds the secret's row lock, SQLite's write lock, while the
/// DELETE is in flight, then registers a consumer and lets go.)
#[actix_web::test]
async fn consumer_committed_while_a_delete_waits_is_seen() {
    use diesel::connection::SimpleConnection;
    use portcullis::store::schema::secrets;
    let s = common::start().await;
    let p = common::project();
    let a = admin(&p);
    let id = secret(&s, a).await;
    let mut conn = db(&s);
    conn.batch_execute("BEGIN").unwrap();
    let locked = diesel::update(secrets::table.filter(secrets::id.eq(&id)))
        .set(secrets::updated_at.eq(secrets::updated_at))
        .execute(&mut conn)
        .unwrap();
    assert_eq!(locked, 1);
    let del = call(&s, Method::DELETE, &format!("/v1/secrets/{id}"), a).header(MV, "key-manager 1.2").send();
    let del = actix_web::rt::spawn(del);
    actix_web::rt::time::sleep(std::time::Duration::from_millis(700)).await;
    assert!(!del.is_finished(), "the delete waits for the secret's lock");
    let t = portcullis::store::now_micros();
    diesel::insert_into(secret_consumers::table)
        .values((
            secret_consumers::id.eq(uuid::Uuid::new_v4().to_string()),
            secret_consumers::secret_id.eq(&id),
            secret_consumers::project_id.eq(Some(p.as_str())),
            secret_consumers::service.eq("nova"),
            secret_consumers::resource_type.eq("instance"),
            secret_consumers::resource_id.eq("raced"),
            secret_consumers::created_at.eq(t),
            secret_consumers::updated_at.eq(t),
        ))
        .execute(&mut conn)
        .unwrap();
    conn.batch_execute("COMMIT").unwrap();
    let r = del.await.unwrap().unwrap();
    common::assert_error(r, 400, "Bad Request", Some("Secret deletion issue seen - Secret cannot be deleted as it has consumers..")).await;
    let v = get_json(&s, a, &format!("/v1/secrets/{id}")).await;
    assert_eq!(v["status"], "ACTIVE", "{v}");
    let live: i64 = secret_consumers::table
        .filter(secret_consumers::secret_id.eq(&id))
        .filter(secret_consumers::deleted_at.is_null())
        .count()
        .get_result(&mut db(&s))
        .unwrap();
    assert_eq!(live, 1);
}

// ---- container consumers ---------------------------------------------------------------------

#[actix_web::test]
async fn container_consumers_register_list_remove() {
    let s = common::start().await;
    let p = common::project();
    let a = who(&p, "creator", "alice");
    let id = container(&s, a).await;
    let before = get_json(&s, a, &format!("/v1/containers/{id}")).await;
    std::thread::sleep(std::time::Duration::from_millis(20));
    let path = cc_path(&id);
    let mut last = Value::Null;
    for name in ["lb-b", "lb-a", "lb-c"] {
        let r = call(&s, Method::POST, &format!("{path}/"), a).json(&json!({"name": name, "URL": format!("http://octavia/{name}")})).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "location"), Some(format!("{}/v1/consumers/{id}/consumers", s.base).as_str()));
        last = r.json().await.unwrap();
    }
    // The body is the container representation (consumers by name and URL, registration order).
    assert_eq!(keys(&last), keys(&before));
    assert_eq!(
        last["consumers"],
        json!([{"name": "lb-b", "URL": "http://octavia/lb-b"}, {"name": "lb-a", "URL": "http://octavia/lb-a"}, {"name": "lb-c", "URL": "http://octavia/lb-c"}])
    );
    assert!(ts(&last["updated"]) > ts(&before["updated"]));
    assert_eq!(get_json(&s, a, &format!("/v1/containers/{id}")).await, last);
    // Idempotent.
    let again = call(&s, Method::POST, &path, a).json(&json!({"name": "lb-a", "URL": "http://octavia/lb-a"})).send().await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap()["consumers"].as_array().unwrap().len(), 3);

    // GET list: by name, exact keys, paging links.
    let l = get_json(&s, a, &path).await;
    assert_eq!(l["total"], 3);
    let names: Vec<&str> = l["consumers"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["lb-a", "lb-b", "lb-c"]);
    for item in l["consumers"].as_array().unwrap() {
        assert_eq!(keys(item), vec!["URL", "created", "name", "status", "updated"]);
        assert_eq!(item["status"], "ACTIVE");
        ts(&item["created"]);
    }
    let link = format!("{}/v1/containers/{id}/consumers", s.base);
    let pg = get_json(&s, a, &format!("{path}?limit=1&offset=1")).await;
    assert_eq!(pg["consumers"][0]["name"], "lb-b");
    assert_eq!(pg["next"], format!("{link}?limit=1&offset=2"));
    assert_eq!(pg["previous"], format!("{link}?limit=1&offset=0"));
    assert_eq!(get_json(&s, a, &format!("{path}?offset=3")).await, json!({"consumers": [], "total": 3}));

    // DELETE: 200 with the container without it; again 404; revive.
    let r = call(&s, Method::DELETE, &path, a).json(&json!({"name": "lb-b", "URL": "http://octavia/lb-b"})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["consumers"].as_array().unwrap().len(), 2);
    assert_eq!(v["container_ref"], format!("{}/v1/containers/{id}", s.base));
    expect(call(&s, Method::DELETE, &path, a).json(&json!({"name": "lb-b", "URL": "http://octavia/lb-b"})), 404, NOT_FOUND).await;
    expect(call(&s, Method::DELETE, &path, a).json(&json!({"name": "lb-a", "URL": "http://other"})), 404, NOT_FOUND).await;
    let r = call(&s, Method::POST, &path, a).json(&json!({"name": "lb-b", "URL": "http://octavia/lb-b"})).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["consumers"].as_array().unwrap().len(), 3);
    let rows: i64 = container_consumers::table.filter(container_consumers::container_id.eq(&id)).count().get_result(&mut db(&s)).unwrap();
    assert_eq!(rows, 3);

    // Validation (schema Consumer), content type, accept, routing.
    for (body, msg) in [
        (json!({"name": "a"}), format!("{C_SCHEMA}'URL' is a required property. Invalid property: 'None'")),
        (json!({"URL": "u"}), format!("{C_SCHEMA}'name' is a required property. Invalid property: 'None'")),
        (json!({"name": "n".repeat(37), "URL": "u"}), format!("{C_SCHEMA}'{}' is too long. Invalid property: 'name'", "n".repeat(37))),
        (json!({"name": "n", "URL": ""}), format!("{C_SCHEMA}'' should be non-empty. Invalid property: 'URL'")),
        (json!({"name": "n", "URL": "u".repeat(256)}), format!("{C_SCHEMA}'{}' is too long. Invalid property: 'URL'", "u".repeat(256))),
        (json!({"name": 1, "URL": "u"}), format!("{C_SCHEMA}1 is not of type 'string'. Invalid property: 'name'")),
        (json!(null), format!("{C_SCHEMA}None is not of type 'object'. Invalid property: 'None'")),
    ] {
        expect(call(&s, Method::POST, &path, a).json(&body), 400, &msg).await;
        expect(call(&s, Method::DELETE, &path, a).json(&body), 400, &msg).await;
    }
    expect(call(&s, Method::POST, &path, a).header("Content-Type", "text/plain").body("{}"), 415, JSON_415).await;
    expect(call(&s, Method::DELETE, &path, a).header("Content-Type", "text/plain").body("{}"), 415, JSON_415).await;
    expect(call(&s, Method::POST, &path, a).header("Content-Type", "application/json").body(""), 400, "Malformed JSON").await;
    let r = call(&s, Method::GET, &path, a).header("Accept", "application/xml").send().await.unwrap();
    common::assert_error(r, 406, "Not Acceptable", None).await;
    let r = call(&s, Method::PUT, &path, a).send().await.unwrap();
    assert_eq!(header(&r, "allow"), Some("DELETE, GET, POST"));
    common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
    expect(call(&s, Method::GET, &format!("{path}/zzz"), a), 404, INVALID_CID).await;
    expect(call(&s, Method::GET, &format!("{path}/{}", uuid::Uuid::new_v4()), a), 404, NOT_FOUND).await;
    let r = call(&s, Method::POST, &format!("{path}/{}", uuid::Uuid::new_v4()), a).send().await.unwrap();
    assert_eq!(header(&r, "allow"), Some("GET"));
    common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
    let stored: String = container_consumers::table
        .filter(container_consumers::container_id.eq(&id))
        .filter(container_consumers::name.eq("lb-a"))
        .select(container_consumers::id)
        .first(&mut db(&s))
        .unwrap();
    let one = get_json(&s, a, &format!("{path}/{stored}")).await;
    assert_eq!((one["name"].as_str(), one["URL"].as_str()), (Some("lb-a"), Some("http://octavia/lb-a")));
    let unknown = uuid::Uuid::new_v4().to_string();
    expect(call(&s, Method::POST, &cc_path(&unknown), a).json(&json!({"name": "n", "URL": "u"})), 404, "Secrets container not found.").await;
    expect(call(&s, Method::GET, &cc_path("bad"), a), 404, "Not Found. Provided container id is invalid.").await;

    // Deleting the container soft-deletes its consumers.
    assert_eq!(status(call(&s, Method::DELETE, &format!("/v1/containers/{id}"), a)).await, 204);
    let live: i64 = container_consumers::table
        .filter(container_consumers::container_id.eq(&id))
        .filter(container_consumers::deleted_at.is_null())
        .count()
        .get_result(&mut db(&s))
        .unwrap();
    assert_eq!(live, 0);
    expect(call(&s, Method::GET, &path, a), 404, "Secrets container not found.").await;
}

#[actix_web::test]
async fn container_consumers_across_projects() {
    let s = common::start().await;
    let p = common::project();
    let q = common::project();
    let r3 = common::project();
    let alice = who(&p, "creator", "alice");
    let bob = who(&q, "nobody", "bob");
    let carol = who(&r3, "nobody", "carol");
    let id = container(&s, alice).await;
    let path = cc_path(&id);
    let body = json!({"name": "lb", "URL": "http://lb"});
    expect(call(&s, Method::POST, &path, bob).json(&body), 403, &denied("ContainerConsumer creation")).await;
    expect(call(&s, Method::GET, &path, bob), 403, &denied("ContainerConsumers(s) retrieval")).await;
    expect(call(&s, Method::DELETE, &path, bob).json(&body), 403, &denied("ContainerConsumer deletion")).await;
    let r = call(&s, Method::PUT, &format!("/v1/containers/{id}/acl"), alice).json(&json!({"read": {"users": ["bob", "carol"], "project-access": false}})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // An ACL user registers from his own project; the container's project sees it.
    let r = call(&s, Method::POST, &path, bob).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(get_json(&s, alice, &path).await["total"], 1);
    // carol: project unknown → 404; once known, neither owner → 403.
    expect(call(&s, Method::DELETE, &path, carol).json(&body), 404, NOT_FOUND).await;
    container(&s, admin(&r3)).await;
    expect(call(&s, Method::DELETE, &path, carol).json(&body), 403, NOT_OWNER).await;
    // The container's project may remove it.
    let r = call(&s, Method::DELETE, &path, alice).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["consumers"], json!([]));
    // consumer:get (legacy) on the container's target (§4.1): the ACL user passes, an outsider
    // without a legacy role does not.
    let cid = uuid::Uuid::new_v4().to_string();
    expect(call(&s, Method::GET, &format!("{path}/{cid}"), bob), 404, NOT_FOUND).await;
    expect(call(&s, Method::GET, &format!("{path}/{cid}"), who(&q, "nobody", "mallory")), 403, &denied("ContainerConsumer retrieval")).await;
    expect(call(&s, Method::GET, &format!("{path}/{cid}"), alice), 404, NOT_FOUND).await;
}

#[actix_web::test]
async fn concurrent_registrations_of_one_consumer() {
    let s = common::start_with(|c| c.default.sql_pool_size = 8).await;
    let p = common::project();
    let a = admin(&p);
    let sid = secret(&s, a).await;
    let cid = container(&s, a).await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let (path, body) = if i % 2 == 0 {
            (sc_path(&sid), consumer("nova", "instance", "same"))
        } else {
            (cc_path(&cid), json!({"name": "lb", "URL": "http://same"}))
        };
        let rb = call(&s, Method::POST, &path, a).json(&body);
        tasks.push(actix_web::rt::spawn(async move { rb.send().await.unwrap().status().as_u16() }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(get_json(&s, a, &sc_path(&sid)).await["total"], 1);
    assert_eq!(get_json(&s, a, &cc_path(&cid)).await["total"], 1);
}

// ---- quota -----------------------------------------------------------------------------------

#[actix_web::test]
async fn consumer_quotas_count_secret_and_container_consumers_apart() {
    let s = common::start_with(|c| c.quotas.quota_consumers = 2).await;
    let p = common::project();
    let a = admin(&p);
    let s1 = secret(&s, a).await;
    let s2 = secret(&s, a).await;
    let c1 = container(&s, a).await;
    secret_consumer_ok(&s, a, Method::POST, &s1, &consumer("a", "b", "1")).await;
    secret_consumer_ok(&s, a, Method::POST, &s2, &consumer("a", "b", "2")).await;
    expect(call(&s, Method::POST, &sc_path(&s1), a).json(&consumer("a", "b", "3")), 403, SECRET_QUOTA).await;
    // Checked before registering: the same consumer again is refused too (as Barbican does).
    expect(call(&s, Method::POST, &sc_path(&s1), a).json(&consumer("a", "b", "1")), 403, SECRET_QUOTA).await;
    // Container consumers have their own count.
    for n in ["x", "y"] {
        let r = call(&s, Method::POST, &cc_path(&c1), a).json(&json!({"name": n, "URL": "u"})).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    expect(call(&s, Method::POST, &cc_path(&c1), a).json(&json!({"name": "z", "URL": "u"})), 403, CONTAINER_QUOTA).await;
    // Validation comes first; removal frees a place.
    expect(call(&s, Method::POST, &cc_path(&c1), a).json(&json!({})), 400, &format!("{C_SCHEMA}'name' is a required property. Invalid property: 'None'")).await;
    let r = call(&s, Method::DELETE, &cc_path(&c1), a).json(&json!({"name": "x", "URL": "u"})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = call(&s, Method::POST, &cc_path(&c1), a).json(&json!({"name": "z", "URL": "u"})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    secret_consumer_ok(&s, a, Method::DELETE, &s2, &consumer("a", "b", "2")).await;
    secret_consumer_ok(&s, a, Method::POST, &s1, &consumer("a", "b", "3")).await;
    // The count is the caller's project's: another project registering on these is separate.
    let q = common::project();
    let r = call(&s, Method::PUT, &format!("/v1/secrets/{s1}/acl"), a).json(&json!({"read": {"users": ["bob"]}})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    secret_consumer_ok(&s, who(&q, "nobody", "bob"), Method::POST, &s1, &consumer("a", "b", "4")).await;

    // (A new server has its own master key: a new project.)
    let s = common::start_with(|c| c.quotas.quota_consumers = 0).await;
    let p = common::project();
    let a = admin(&p);
    let s1 = secret(&s, a).await;
    expect(call(&s, Method::POST, &sc_path(&s1), a).json(&consumer("a", "b", "1")), 403, SECRET_QUOTA).await;
}
