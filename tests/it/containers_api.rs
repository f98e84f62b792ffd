//! `/v1/containers` end to end (contract §5.5, with §2.3–§2.9, §4 and §5.7 for container ACLs,
//! §5.9 for the `containers` quota, §6.2 for what deleting leaves behind).

use crate::common;
use crate::common::who::{Who, admin, call, db, denied, expect, header, id_of, keys, status, ts, who};
use diesel::prelude::*;
use portcullis::store::schema::{container_consumers, container_secrets};
use reqwest::{Method, Response};
use serde_json::{json, Value};

const SCHEMA: &str = "Provided object does not match schema 'Container': ";
const CS_SCHEMA: &str = "Provided object does not match schema 'ContainerSecret': ";
const INVALID_ID: &str = "Not Found. Provided container id is invalid.";
const NOT_FOUND: &str = "Secrets container not found.";
const JSON_415: &str = "Unexpected content type. Expected content types are: ['application/json']";
const QUOTA: &str = "Container creation issue seen - Creation not allowed because a quota has been reached.";
const ACL_SCHEMA: &str = "Provided object does not match schema 'ACL': ";
const MV: &str = "OpenStack-API-Version";

fn sref(s: &common::TestServer, id: &str) -> String {
    format!("{}/v1/secrets/{id}", s.base)
}

fn cpath(id: &str) -> String {
    format!("/v1/containers/{id}")
}

async fn secret(s: &common::TestServer, w: Who<'_>, name: &str) -> String {
    let r = call(s, Method::POST, "/v1/secrets", w)
        .json(&json!({"name": name, "payload": "p", "payload_content_type": "text/plain"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "create secret");
    id_of(r.json::<Value>().await.unwrap()["secret_ref"].as_str().unwrap())
}

async fn post_container(s: &common::TestServer, w: Who<'_>, body: &Value) -> Response {
    call(s, Method::POST, "/v1/containers", w).json(body).send().await.unwrap()
}

/// Creates a container; returns its id after checking the 201 answer.
async fn container(s: &common::TestServer, w: Who<'_>, body: Value) -> String {
    let r = post_container(s, w, &body).await;
    assert_eq!(r.status(), 201, "create container {body}");
    let loc = header(&r, "location").unwrap().to_string();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v.as_object().unwrap().len(), 1, "{v}");
    assert_eq!(v["container_ref"], loc.as_str(), "Location is the container_ref");
    let id = id_of(&loc);
    assert_eq!(loc, format!("{}/v1/containers/{id}", s.base));
    id
}

async fn get_container(s: &common::TestServer, w: Who<'_>, id: &str) -> Value {
    let r = call(s, Method::GET, &cpath(id), w).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET container");
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    r.json().await.unwrap()
}

/// (secret id, deleted) of every stored link of a container.
fn stored_links(s: &common::TestServer, id: &str) -> Vec<(String, bool)> {
    let rows: Vec<(String, Option<i64>)> = container_secrets::table
        .filter(container_secrets::container_id.eq(id))
        .order(container_secrets::created_at.asc())
        .select((container_secrets::secret_id, container_secrets::deleted_at))
        .load(&mut db(s))
        .unwrap();
    rows.into_iter().map(|(sid, d)| (sid, d.is_some())).collect()
}

// ---- POST + GET ------------------------------------------------------------------------------

#[actix_web::test]
async fn create_generic_and_read_it_back() {
    let s = common::start().await;
    let p = common::project();
    let alice = who(&p, "creator", "alice");
    let s1 = secret(&s, alice, "one").await;
    let s2 = secret(&s, alice, "two").await;
    // python-barbicanclient posts to `containers/` with names and full refs.
    let r = call(&s, Method::POST, "/v1/containers/", alice)
        .json(&json!({"type": "generic", "name": "  my box\n",
                      "secret_refs": [{"name": "a", "secret_ref": sref(&s, &s1)}, {"name": "b", "secret_ref": format!("{}/", sref(&s, &s2))}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    let id = id_of(header(&r, "location").unwrap());
    let v = get_container(&s, alice, &id).await;
    assert_eq!(
        keys(&v),
        vec!["consumers", "container_ref", "created", "creator_id", "name", "secret_refs", "status", "type", "updated"]
    );
    assert_eq!(v["status"], "ACTIVE");
    assert_eq!(v["name"], "my box", "stripped");
    assert_eq!(v["type"], "generic");
    assert_eq!(v["creator_id"], "alice");
    assert_eq!(v["container_ref"], format!("{}/v1/containers/{id}", s.base));
    assert_eq!(
        v["secret_refs"],
        json!([{"name": "a", "secret_ref": sref(&s, &s1)}, {"name": "b", "secret_ref": sref(&s, &s2)}])
    );
    assert_eq!(v["consumers"], json!([]));
    let created = ts(&v["created"]);
    assert_eq!(ts(&v["updated"]), created);
    let now = chrono::Utc::now().naive_utc();
    assert!((now - created).num_seconds().abs() < 120, "created is now (UTC)");

    // No microversion differences.
    for mv in ["key-manager 1.0", "key-manager 1.1", "key-manager 1.2"] {
        let r = call(&s, Method::GET, &cpath(&id), alice).header(MV, mv).send().await.unwrap();
        assert_eq!(r.json::<Value>().await.unwrap(), v, "{mv}");
    }

    // No user id: creator_id null; gophercloud's `"name": ""` is kept as "".
    let id2 = container(&s, admin(&p), json!({"type": "generic", "name": ""})).await;
    let v2 = get_container(&s, admin(&p), &id2).await;
    assert_eq!(v2["creator_id"], Value::Null);
    assert_eq!(v2["name"], "");
    assert_eq!(v2["secret_refs"], json!([]));
    let id3 = container(&s, admin(&p), json!({"type": "generic", "name": null})).await;
    assert_eq!(get_container(&s, admin(&p), &id3).await["name"], Value::Null);
}

#[actix_web::test]
async fn rsa_and_certificate_containers() {
    let s = common::start().await;
    let p = common::project();
    let a = admin(&p);
    let [pubk, privk, pass, cert, inter] = [
        secret(&s, a, "pub").await,
        secret(&s, a, "priv").await,
        secret(&s, a, "pass").await,
        secret(&s, a, "cert").await,
        secret(&s, a, "inter").await,
    ];
    let rsa = container(
        &s,
        a,
        json!({"type": "rsa", "name": "k", "secret_refs": [
            {"name": "public_key", "secret_ref": sref(&s, &pubk)},
            {"name": "private_key", "secret_ref": sref(&s, &privk)},
            {"name": "private_key_passphrase", "secret_ref": sref(&s, &pass)}]}),
    )
    .await;
    let v = get_container(&s, a, &rsa).await;
    assert_eq!(v["type"], "rsa");
    assert_eq!(v["secret_refs"].as_array().unwrap().len(), 3);
    let c = container(
        &s,
        a,
        json!({"type": "certificate", "secret_refs": [
            {"name": "certificate", "secret_ref": sref(&s, &cert)},
            {"name": "intermediates", "secret_ref": sref(&s, &inter)},
            {"name": "private_key", "secret_ref": sref(&s, &privk)}]}),
    )
    .await;
    assert_eq!(get_container(&s, a, &c).await["type"], "certificate");
    // Type rules are skipped without refs.
    for t in ["rsa", "certificate"] {
        for body in [json!({"type": t}), json!({"type": t, "secret_refs": []})] {
            container(&s, a, body).await;
        }
    }
}

#[actix_web::test]
async fn create_validation_messages() {
    let s = common::start().await;
    let p = common::project();
    let a = admin(&p);
    let x = sref(&s, &secret(&s, a, "x").await);
    let y = sref(&s, &secret(&s, a, "y").await);
    let long = "n".repeat(256);
    let cases: Vec<(Value, String)> = vec![
        (json!([1]), format!("{SCHEMA}[1] is not of type 'object'. Invalid property: 'None'")),
        (json!({"name": "c"}), format!("{SCHEMA}'type' is a required property. Invalid property: 'None'")),
        (json!({"type": "dsa"}), format!("{SCHEMA}'dsa' is not one of ['generic', 'rsa', 'certificate']. Invalid property: 'type'")),
        (json!({"type": 3}), format!("{SCHEMA}3 is not of type 'string'. Invalid property: 'type'")),
        (json!({"type": "generic", "name": 5}), format!("{SCHEMA}5 is not of type 'string', 'null'. Invalid property: 'name'")),
        (json!({"type": "generic", "name": long}), format!("{SCHEMA}'{long}' is too long. Invalid property: 'name'")),
        (json!({"type": "generic", "secret_refs": {"a": 1}}), format!("{SCHEMA}{{'a': 1}} is not of type 'array'. Invalid property: 'secret_refs'")),
        (json!({"type": "generic", "secret_refs": ["x"]}), format!("{SCHEMA}'x' is not of type 'object'. Invalid property: 'secret_refs'")),
        (json!({"type": "generic", "secret_refs": [{"name": "a"}]}), format!("{SCHEMA}'secret_ref' is a required property. Invalid property: 'secret_refs'")),
        (json!({"type": "generic", "secret_refs": [{"secret_ref": " "}]}), format!("{SCHEMA}'' should be non-empty. Invalid property: 'secret_refs'")),
        (json!({"type": "generic", "secret_refs": [{"secret_ref": 7}]}), format!("{SCHEMA}7 is not of type 'string'. Invalid property: 'secret_refs'")),
        (json!({"type": "generic", "secret_refs": [{"name": long, "secret_ref": x}]}), format!("{SCHEMA}'{long}' is too long. Invalid property: 'secret_refs'")),
        // Two unnamed refs collide (absent = ''), so do '' and absent.
        (json!({"type": "generic", "secret_refs": [{"secret_ref": x}, {"secret_ref": y}]}), format!("{SCHEMA}Duplicate reference names are not allowed. Invalid property: 'secret_refs'")),
        (json!({"type": "generic", "secret_refs": [{"name": "", "secret_ref": x}, {"secret_ref": y}]}), format!("{SCHEMA}Duplicate reference names are not allowed. Invalid property: 'secret_refs'")),
        (json!({"type": "generic", "secret_refs": [{"name": null, "secret_ref": x}, {"name": null, "secret_ref": y}]}), format!("{SCHEMA}Duplicate reference names are not allowed. Invalid property: 'secret_refs'")),
        (json!({"type": "generic", "secret_refs": [{"name": "a", "secret_ref": x}, {"name": "b", "secret_ref": format!("{x}/")}]}), format!("{SCHEMA}Duplicate secret ids are not allowed. Invalid property: 'secret_refs'")),
        (json!({"type": "rsa", "secret_refs": [{"name": "public_key", "secret_ref": x}, {"name": "certificate", "secret_ref": y}]}),
         format!("{SCHEMA}only 'private_key', 'public_key' and 'private_key_passphrase' reference names are allowed for RSA type. Invalid property: 'secret_refs'")),
        (json!({"type": "rsa", "secret_refs": [{"name": "public_key", "secret_ref": x}, {"name": "private_key_passphrase", "secret_ref": y}]}),
         format!("{SCHEMA}The minimum required reference names are 'public_key' and'private_key' for RSA type. Invalid property: 'secret_refs'")),
        (json!({"type": "rsa", "secret_refs": [{"secret_ref": x}]}),
         format!("{SCHEMA}only 'private_key', 'public_key' and 'private_key_passphrase' reference names are allowed for RSA type. Invalid property: 'secret_refs'")),
        (json!({"type": "certificate", "secret_refs": [{"name": "certificate", "secret_ref": x}, {"name": "public_key", "secret_ref": y}]}),
         format!("{SCHEMA}only 'private_key', 'certificate' , 'private_key_passphrase',  or 'intermediates' reference names are allowed for Certificate type. Invalid property: 'secret_refs'")),
        (json!({"type": "certificate", "secret_refs": [{"name": "private_key", "secret_ref": x}]}),
         format!("{SCHEMA}The minimum required reference name is 'certificate' for Certificate type. Invalid property: 'secret_refs'")),
        // Refs must start with the base href (§2.8): a bare id, another host.
        (json!({"type": "generic", "secret_refs": [{"name": "a", "secret_ref": id_of(&x)}]}), "Provided field value is not supported".into()),
        (json!({"type": "generic", "secret_refs": [{"name": "a", "secret_ref": format!("http://elsewhere:9311/v1/secrets/{}", id_of(&x))}]}), "Provided field value is not supported".into()),
    ];
    for (body, msg) in cases {
        let r = post_container(&s, a, &body).await;
        common::assert_error(r, 400, "Bad Request", Some(&msg)).await;
    }
    // Not JSON, an empty body, a body over the request limit.
    for raw in ["{", "", &format!("{{\"type\": \"generic\", \"name\": \"{}\"}}", "x".repeat(30000))] {
        let rb = call(&s, Method::POST, "/v1/containers", a).header("Content-Type", "application/json").body(raw.to_string());
        expect(rb, 400, "Malformed JSON").await;
    }
    // Content-Type (parameters allowed), Accept.
    let rb = call(&s, Method::POST, "/v1/containers", a).header("Content-Type", "text/plain").body(r#"{"type": "generic"}"#);
    expect(rb, 415, JSON_415).await;
    expect(call(&s, Method::POST, "/v1/containers", a).body(r#"{"type": "generic"}"#), 415, JSON_415).await;
    let r = call(&s, Method::POST, "/v1/containers", a)
        .header("Content-Type", "application/json; charset=utf-8")
        .body(r#"{"type": "generic"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = call(&s, Method::POST, "/v1/containers", a).header("Accept", "text/html").json(&json!({"type": "generic"})).send().await.unwrap();
    common::assert_error(r, 406, "Not Acceptable", None).await;
    // Nothing but the one container was created.
    let r = call(&s, Method::GET, "/v1/containers", a).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["total"], 1);
}

#[actix_web::test]
async fn referenced_secrets_must_be_live_and_the_callers() {
    let s = common::start().await;
    let p = common::project();
    let q = common::project();
    let a = admin(&p);
    let mine = secret(&s, a, "mine").await;
    let theirs = secret(&s, admin(&q), "theirs").await;
    let gone = secret(&s, a, "gone").await;
    assert_eq!(status(call(&s, Method::DELETE, &format!("/v1/secrets/{gone}"), a)).await, 204);
    let soon = {
        let exp = (chrono::Utc::now() + chrono::Duration::seconds(2)).format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
        let r = call(&s, Method::POST, "/v1/secrets", a).json(&json!({"expiration": exp})).send().await.unwrap();
        assert_eq!(r.status(), 201);
        id_of(r.json::<Value>().await.unwrap()["secret_ref"].as_str().unwrap())
    };
    let unknown = uuid::Uuid::new_v4().to_string();
    for (name, id) in [("t", &theirs), ("g", &gone), ("u", &unknown)] {
        let body = json!({"type": "generic", "secret_refs": [{"name": "ok", "secret_ref": sref(&s, &mine)}, {"name": name, "secret_ref": sref(&s, id)}]});
        common::assert_error(post_container(&s, a, &body).await, 404, "Not Found", Some(&format!("Secret provided for '{name}' doesn't exist."))).await;
    }
    // A null name is printed the Python way; a ref whose last segment is not a UUID is not found.
    let body = json!({"type": "generic", "secret_refs": [{"name": null, "secret_ref": sref(&s, "not-a-uuid")}]});
    common::assert_error(post_container(&s, a, &body).await, 404, "Not Found", Some("Secret provided for 'None' doesn't exist.")).await;
    // An expired secret.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let body = json!({"type": "generic", "secret_refs": [{"name": "late", "secret_ref": sref(&s, &soon)}]});
    common::assert_error(post_container(&s, a, &body).await, 404, "Not Found", Some("Secret provided for 'late' doesn't exist.")).await;
    // Nothing was created on the way.
    let r = call(&s, Method::GET, "/v1/containers", a).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"containers": [], "total": 0}));
}

#[actix_web::test]
async fn refs_are_checked_against_the_configured_host_href() {
    let s = common::start_with(|c| c.default.host_href = "https://kms.example.com:9311".into()).await;
    let p = common::project();
    let a = admin(&p);
    let sid = secret(&s, a, "x").await;
    let good = format!("https://kms.example.com:9311/v1/secrets/{sid}");
    let r = post_container(&s, a, &json!({"type": "generic", "secret_refs": [{"name": "a", "secret_ref": good}]})).await;
    assert_eq!(r.status(), 201);
    let loc = header(&r, "location").unwrap().to_string();
    assert!(loc.starts_with("https://kms.example.com:9311/v1/containers/"), "{loc}");
    let v = get_container(&s, a, &id_of(&loc)).await;
    assert_eq!(v["secret_refs"][0]["secret_ref"], good);
    // The address the client happened to use is not the base.
    let body = json!({"type": "generic", "secret_refs": [{"name": "a", "secret_ref": sref(&s, &sid)}]});
    common::assert_error(post_container(&s, a, &body).await, 400, "Bad Request", Some("Provided field value is not supported")).await;
}

// ---- GET list ----------------------------------------------------------------------------------

async fn list_q(s: &common::TestServer, w: Who<'_>, query: String) -> Value {
    let r = call(s, Method::GET, &format!("/v1/containers{query}"), w).send().await.unwrap();
    assert_eq!(r.status(), 200, "list {query}");
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    r.json::<Value>().await.unwrap()
}

#[actix_web::test]
async fn list_pages_filters_and_order() {
    let s = common::start().await;
    let p = common::project();
    let q = common::project();
    let a = admin(&p);
    container(&s, admin(&q), json!({"type": "generic", "name": "other project"})).await;
    let mut ids = Vec::new();
    for (name, t) in [("alpha", "generic"), ("beta", "rsa"), ("Alpine", "generic"), ("gamma", "certificate"), ("delta_1", "generic")] {
        ids.push(container(&s, a, json!({"type": t, "name": name})).await);
    }
    let list = |query: &str| list_q(&s, a, query.to_string());
    let names = |v: &Value| -> Vec<String> {
        v["containers"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_string()).collect()
    };
    let all = list("").await;
    assert_eq!(keys(&all), vec!["containers", "total"]);
    assert_eq!(all["total"], 5);
    assert_eq!(names(&all), vec!["alpha", "beta", "Alpine", "gamma", "delta_1"], "oldest first");
    assert_eq!(all["containers"][1], get_container(&s, a, &ids[1]).await, "items are the representation");

    let base = format!("{}/v1/containers", s.base);
    let p1 = list("?limit=2").await;
    assert_eq!(names(&p1), vec!["alpha", "beta"]);
    assert_eq!(p1["next"], format!("{base}?limit=2&offset=2"));
    assert!(p1.get("previous").is_none());
    let p2 = list("?limit=2&offset=2&name=%25").await;
    assert_eq!(names(&p2), vec!["Alpine", "gamma"]);
    assert_eq!(p2["next"], format!("{base}?limit=2&offset=4"), "links carry only limit and offset");
    assert_eq!(p2["previous"], format!("{base}?limit=2&offset=0"));
    let p3 = list("?limit=2&offset=4").await;
    assert_eq!(names(&p3), vec!["delta_1"]);
    assert!(p3.get("next").is_none());
    assert_eq!(p3["previous"], format!("{base}?limit=2&offset=2"));
    assert_eq!(list("?offset=9").await, json!({"containers": [], "total": 5}));
    // limit cleaning (§2.9): 0 → 1, junk → 10, offset junk → 0.
    let one = list("?limit=0&offset=x").await;
    assert_eq!(names(&one), vec!["alpha"]);
    assert_eq!(one["next"], format!("{base}?limit=1&offset=1"));

    // Filters: name is SQL LIKE; type is exact.
    assert_eq!(names(&list("?name=alpha").await), vec!["alpha"]);
    let al = list("?name=al%25").await;
    assert_eq!(names(&al), vec!["alpha", "Alpine"]);
    assert_eq!(al["total"], 2);
    assert_eq!(names(&list("?name=delta_1").await), vec!["delta_1"]);
    assert_eq!(names(&list("?type=generic").await), vec!["alpha", "Alpine", "delta_1"]);
    assert_eq!(names(&list("?type=rsa&name=beta").await), vec!["beta"]);
    assert_eq!(list("?type=dsa").await, json!({"containers": [], "total": 0}));
    assert_eq!(names(&list("?name=&type=").await).len(), 5, "empty filters are no filters");

    // Deleted containers leave the list.
    assert_eq!(status(call(&s, Method::DELETE, &cpath(&ids[0]), a)).await, 204);
    assert_eq!(list("").await["total"], 4);

    let r = call(&s, Method::GET, "/v1/containers", a).header("Accept", "text/plain").send().await.unwrap();
    common::assert_error(r, 406, "Not Acceptable", None).await;
    for m in [Method::PUT, Method::DELETE, Method::PATCH] {
        let r = call(&s, m, "/v1/containers", a).send().await.unwrap();
        assert_eq!(header(&r, "allow"), Some("GET, POST"));
        common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
    }
}

// ---- GET one, routing ------------------------------------------------------------------------

#[actix_web::test]
async fn get_errors_and_routing() {
    let s = common::start().await;
    let p = common::project();
    let a = admin(&p);
    let id = container(&s, a, json!({"type": "generic"})).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    for bad in ["nope", "0B3E0CFE-8D3C-4B47-9B8E-0D2A4E0A5D11", "0b3e0cfe-8d3c-1b47-9b8e-0d2a4e0a5d11"] {
        expect(call(&s, Method::GET, &cpath(bad), a), 404, INVALID_ID).await;
        expect(call(&s, Method::PUT, &cpath(bad), a), 404, INVALID_ID).await;
        expect(call(&s, Method::DELETE, &cpath(bad), a), 404, INVALID_ID).await;
        expect(call(&s, Method::GET, &format!("{}/acl", cpath(bad)), a), 404, INVALID_ID).await;
        expect(call(&s, Method::POST, &format!("{}/secrets", cpath(bad)), a), 404, INVALID_ID).await;
        expect(call(&s, Method::GET, &format!("{}/bogus", cpath(bad)), a), 404, INVALID_ID).await;
    }
    expect(call(&s, Method::GET, &cpath(&unknown), a), 404, NOT_FOUND).await;
    expect(call(&s, Method::DELETE, &cpath(&unknown), a), 404, NOT_FOUND).await;
    expect(call(&s, Method::PATCH, &cpath(&unknown), a), 404, NOT_FOUND).await;
    expect(call(&s, Method::GET, &format!("{}/consumers", cpath(&unknown)), a), 404, NOT_FOUND).await;
    for m in [Method::PUT, Method::PATCH, Method::POST] {
        let r = call(&s, m, &cpath(&id), a).send().await.unwrap();
        assert_eq!(header(&r, "allow"), Some("DELETE, GET"));
        common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
    }
    let r = call(&s, Method::GET, &format!("{}/secrets", cpath(&id)), a).send().await.unwrap();
    assert_eq!(header(&r, "allow"), Some("DELETE, POST"));
    common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
    let r = call(&s, Method::POST, &format!("{}/acl", cpath(&id)), a).send().await.unwrap();
    assert_eq!(header(&r, "allow"), Some("DELETE, GET, PATCH, PUT"));
    common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
    expect(call(&s, Method::GET, &format!("{}/bogus", cpath(&id)), a), 404, "").await;
    expect(call(&s, Method::GET, &format!("{}/secrets/x", cpath(&id)), a), 404, "").await;
    // Accept negotiation: GET is JSON-only, DELETE takes any Accept.
    let r = call(&s, Method::GET, &cpath(&id), a).header("Accept", "application/octet-stream").send().await.unwrap();
    common::assert_error(r, 406, "Not Acceptable", None).await;
    let r = call(&s, Method::GET, &cpath(&id), a).header("Accept", "text/html, application/json;q=0.5").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(status(call(&s, Method::DELETE, &cpath(&id), a).header("Accept", "text/plain")).await, 204);
    expect(call(&s, Method::GET, &cpath(&id), a), 404, NOT_FOUND).await;
}

// ---- DELETE ----------------------------------------------------------------------------------

#[actix_web::test]
async fn delete_soft_deletes_and_cleans_up() {
    let s = common::start().await;
    let p = common::project();
    let a = admin(&p);
    let s1 = secret(&s, a, "one").await;
    let id = container(&s, a, json!({"type": "generic", "secret_refs": [{"name": "a", "secret_ref": sref(&s, &s1)}]})).await;
    let r = call(&s, Method::PUT, &format!("{}/acl", cpath(&id)), a).json(&json!({"read": {"users": ["u1"]}})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = call(&s, Method::POST, &format!("{}/consumers", cpath(&id)), a).json(&json!({"name": "lb", "URL": "http://lb/1"})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(portcullis::store::acls::list(&mut db(&s), "container", &id).unwrap().len(), 1);

    let r = call(&s, Method::DELETE, &cpath(&id), a).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(r.bytes().await.unwrap().is_empty());
    expect(call(&s, Method::GET, &cpath(&id), a), 404, NOT_FOUND).await;
    expect(call(&s, Method::DELETE, &cpath(&id), a), 404, NOT_FOUND).await;
    // The secret stays; the links and ACLs are gone; the consumers are soft-deleted; the row stays.
    assert_eq!(status(call(&s, Method::GET, &format!("/v1/secrets/{s1}"), a)).await, 200);
    assert!(stored_links(&s, &id).is_empty());
    assert!(portcullis::store::acls::list(&mut db(&s), "container", &id).unwrap().is_empty());
    let consumers: Vec<Option<i64>> = container_consumers::table
        .filter(container_consumers::container_id.eq(&id))
        .select(container_consumers::deleted_at)
        .load(&mut db(&s))
        .unwrap();
    assert_eq!(consumers.len(), 1);
    assert!(consumers[0].is_some(), "consumer soft-deleted");
    assert!(portcullis::store::containers::get(&mut db(&s), &id).unwrap().is_none());
    let rows: i64 = portcullis::store::schema::containers::table
        .filter(portcullis::store::schema::containers::id.eq(&id))
        .count()
        .get_result(&mut db(&s))
        .unwrap();
    assert_eq!(rows, 1, "soft delete keeps the row");
}

#[actix_web::test]
async fn delete_is_scoped_to_the_callers_project() {
    // Default policy: another project's admin is refused by policy.
    let s = common::start().await;
    let p = common::project();
    let q = common::project();
    let id = container(&s, admin(&p), json!({"type": "generic"})).await;
    expect(call(&s, Method::DELETE, &cpath(&id), admin(&q)), 403, &denied("Container deletion")).await;
    expect(call(&s, Method::GET, &cpath(&id), admin(&q)), 403, &denied("Container retrieval")).await;

    // A policy that lets anyone delete: the deletion itself is still the caller's project only.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.yaml");
    std::fs::write(&file, "\"container:delete\": \"\"\n").unwrap();
    let s = common::start_with(|c| c.oslo_policy.policy_file = Some(file.clone())).await;
    let id = container(&s, admin(&p), json!({"type": "generic"})).await;
    expect(call(&s, Method::DELETE, &cpath(&id), who(&q, "nobody", "eve")), 404, NOT_FOUND).await;
    assert_eq!(status(call(&s, Method::GET, &cpath(&id), admin(&p))).await, 200);
    assert_eq!(status(call(&s, Method::DELETE, &cpath(&id), who(&p, "nobody", "bob"))).await, 204);
}

#[actix_web::test]
async fn deleted_secrets_leave_secret_refs() {
    let s = common::start().await;
    let p = common::project();
    let a = admin(&p);
    let s1 = secret(&s, a, "one").await;
    let s2 = secret(&s, a, "two").await;
    let refs = json!([{"name": "a", "secret_ref": sref(&s, &s1)}, {"name": "b", "secret_ref": sref(&s, &s2)}]);
    let c1 = container(&s, a, json!({"type": "generic", "secret_refs": refs})).await;
    let c2 = container(&s, a, json!({"type": "generic", "secret_refs": [{"name": "x", "secret_ref": sref(&s, &s1)}]})).await;
    assert_eq!(status(call(&s, Method::DELETE, &format!("/v1/secrets/{s1}"), a)).await, 204);
    assert_eq!(get_container(&s, a, &c1).await["secret_refs"], json!([{"name": "b", "secret_ref": sref(&s, &s2)}]));
    assert_eq!(get_container(&s, a, &c2).await["secret_refs"], json!([]));
    let list = call(&s, Method::GET, "/v1/containers", a).send().await.unwrap().json::<Value>().await.unwrap();
    assert_eq!(list["containers"][0]["secret_refs"].as_array().unwrap().len(), 1);
    // The links are soft-deleted (§6.2).
    assert_eq!(stored_links(&s, &c1), vec![(s1.clone(), true), (s2.clone(), false)]);
    assert_eq!(stored_links(&s, &c2), vec![(s1.clone(), true)]);
}

// ---- /containers/{id}/secrets -----------------------------------------------------------------

#[actix_web::test]
async fn add_and_remove_secrets() {
    let s = common::start().await;
    let p = common::project();
    let q = common::project();
    let a = admin(&p);
    let s1 = secret(&s, a, "one").await;
    let s2 = secret(&s, a, "two").await;
    let theirs = secret(&s, admin(&q), "theirs").await;
    let id = container(&s, a, json!({"type": "generic", "secret_refs": [{"name": "a", "secret_ref": sref(&s, &s1)}]})).await;
    let path = format!("{}/secrets", cpath(&id));
    let href = format!("{}/v1/containers/{id}", s.base);

    let r = call(&s, Method::POST, &path, a).json(&json!({"name": "b", "secret_ref": sref(&s, &s2)})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "location"), Some(href.as_str()));
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"container_ref": href}));
    // The same secret under another name, and unnamed; the host of the ref is not checked here.
    let r = call(&s, Method::POST, &format!("{path}/"), a).json(&json!({"name": "again", "secret_ref": sref(&s, &s1)})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let r = call(&s, Method::POST, &path, a).json(&json!({"secret_ref": format!("http://other/v1/secrets/{s2}")})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        get_container(&s, a, &id).await["secret_refs"],
        json!([{"name": "a", "secret_ref": sref(&s, &s1)}, {"name": "b", "secret_ref": sref(&s, &s2)},
               {"name": "again", "secret_ref": sref(&s, &s1)}, {"name": null, "secret_ref": sref(&s, &s2)}])
    );
    let conflict = "Conflict. A secret with that name and ID is already stored in this container. The same secret can exist in a container as long as the name is unique.";
    expect(call(&s, Method::POST, &path, a).json(&json!({"name": "b", "secret_ref": sref(&s, &s2)})), 409, conflict).await;
    expect(call(&s, Method::POST, &path, a).json(&json!({"secret_ref": sref(&s, &s2)})), 409, conflict).await;
    for bad in [theirs.clone(), uuid::Uuid::new_v4().to_string(), "x".into()] {
        expect(call(&s, Method::POST, &path, a).json(&json!({"name": "c", "secret_ref": sref(&s, &bad)})), 404, "Secret provided doesn't exist.").await;
    }
    // Body validation (schema ContainerSecret), Content-Type, Accept.
    for (body, msg) in [
        (json!({"name": "c"}), format!("{CS_SCHEMA}'secret_ref' is a required property. Invalid property: 'None'")),
        (json!({"name": 5, "secret_ref": sref(&s, &s1)}), format!("{CS_SCHEMA}5 is not of type 'string'. Invalid property: 'name'")),
        (json!({"name": null, "secret_ref": sref(&s, &s1)}), format!("{CS_SCHEMA}None is not of type 'string'. Invalid property: 'name'")),
        (json!({"secret_ref": ""}), format!("{CS_SCHEMA}'' should be non-empty. Invalid property: 'secret_ref'")),
        (json!("x"), format!("{CS_SCHEMA}'x' is not of type 'object'. Invalid property: 'None'")),
    ] {
        expect(call(&s, Method::POST, &path, a).json(&body), 400, &msg).await;
    }
    expect(call(&s, Method::POST, &path, a).header("Content-Type", "application/json").body("{"), 400, "Malformed JSON").await;
    expect(call(&s, Method::POST, &path, a).header("Content-Type", "text/plain").body("{}"), 415, JSON_415).await;
    let r = call(&s, Method::POST, &path, a).header("Accept", "text/plain").json(&json!({})).send().await.unwrap();
    common::assert_error(r, 406, "Not Acceptable", None).await;

    // Removal: by (secret, name); any Content-Type, JSON body.
    let r = call(&s, Method::DELETE, &path, a).header("Content-Type", "text/plain").body(format!(r#"{{"name": "again", "secret_ref": "{}"}}"#, sref(&s, &s1))).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(r.bytes().await.unwrap().is_empty());
    let r = call(&s, Method::DELETE, &path, a).header("Accept", "text/plain").json(&json!({"secret_ref": sref(&s, &s2)})).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        get_container(&s, a, &id).await["secret_refs"],
        json!([{"name": "a", "secret_ref": sref(&s, &s1)}, {"name": "b", "secret_ref": sref(&s, &s2)}])
    );
    expect(call(&s, Method::DELETE, &path, a).json(&json!({"name": "again", "secret_ref": sref(&s, &s1)})), 404, "Secret provided is not in the container").await;
    expect(call(&s, Method::DELETE, &path, a).json(&json!({"name": "a", "secret_ref": sref(&s, &s2)})), 404, "Secret provided is not in the container").await;
    let r1 = sref(&s, &theirs);
    expect(call(&s, Method::DELETE, &path, a).json(&json!({"name": "a", "secret_ref": r1})), 404, &format!("Secret 'a' with reference '{r1}' doesn't exist.")).await;
    expect(call(&s, Method::DELETE, &path, a).json(&json!({"secret_ref": r1})), 404, &format!("Secret 'None' with reference '{r1}' doesn't exist.")).await;
    expect(call(&s, Method::DELETE, &path, a).header("Content-Type", "application/json").body("nope"), 400, "Malformed JSON").await;
    expect(call(&s, Method::DELETE, &path, a).json(&json!({"name": "a"})), 400, &format!("{CS_SCHEMA}'secret_ref' is a required property. Invalid property: 'None'")).await;
    // Removed links are soft-deleted; the same link can be made again.
    assert_eq!(stored_links(&s, &id).iter().filter(|(_, d)| *d).count(), 2);
    let r = call(&s, Method::POST, &path, a).json(&json!({"name": "again", "secret_ref": sref(&s, &s1)})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(get_container(&s, a, &id).await["secret_refs"].as_array().unwrap().len(), 3);

    // Only generic containers change (checked before the body).
    let rsa = container(&s, a, json!({"type": "rsa"})).await;
    let rsa_path = format!("{}/secrets", cpath(&rsa));
    expect(call(&s, Method::POST, &rsa_path, a).json(&json!({})), 400, "Only 'generic' containers can be modified.").await;
    expect(call(&s, Method::POST, &rsa_path, a).header("Content-Type", "text/plain").body("x"), 415, JSON_415).await;

    // Another project's admin: policy.
    expect(call(&s, Method::POST, &path, admin(&q)).json(&json!({"secret_ref": sref(&s, &theirs)})), 403, &denied("Container Secret creation")).await;
    expect(call(&s, Method::DELETE, &path, admin(&q)).json(&json!({"secret_ref": sref(&s, &theirs)})), 403, &denied("Container Secret deletion")).await;
}

// ---- ACLs ------------------------------------------------------------------------------------

#[actix_web::test]
async fn container_acls_and_their_effect() {
    let s = common::start().await;
    let p = common::project();
    let q = common::project();
    let alice = who(&p, "creator", "alice");
    let carl = who(&p, "creator", "carl");
    let olga = who(&p, "observer", "olga");
    let root = who(&p, "admin", "root");
    let eve = who(&q, "nobody", "eve");
    let id = container(&s, alice, json!({"type": "generic", "name": "shared"})).await;
    let acl = format!("{}/acl", cpath(&id));
    let acl_ref = format!("{}/v1/containers/{id}/acl", s.base);

    let r = call(&s, Method::GET, &acl, alice).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"read": {"project-access": true}}));
    // Before any ACL: the project reads, the outsider does not.
    for w in [alice, carl, olga, root] {
        assert_eq!(status(call(&s, Method::GET, &cpath(&id), w)).await, 200);
    }
    expect(call(&s, Method::GET, &cpath(&id), eve), 403, &denied("Container retrieval")).await;
    expect(call(&s, Method::GET, &acl, eve), 403, &denied("ContainerACL(s) retrieval")).await;

    // PUT: private, shared with eve.
    let r = call(&s, Method::PUT, &acl, alice).json(&json!({"read": {"users": ["eve", "eve"], "project-access": false}})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"acl_ref": acl_ref}));
    let got = call(&s, Method::GET, &format!("{acl}/"), root).send().await.unwrap().json::<Value>().await.unwrap();
    assert_eq!(keys(&got["read"]), vec!["created", "project-access", "updated", "users"]);
    assert_eq!(got["read"]["users"], json!(["eve"]));
    assert_eq!(got["read"]["project-access"], false);
    ts(&got["read"]["created"]);
    assert_eq!(portcullis::store::acls::list(&mut db(&s), "container", &id).unwrap()[0].users, vec!["eve"]);
    assert!(portcullis::store::acls::list(&mut db(&s), "secret", &id).unwrap().is_empty(), "entity types apart");

    // Private: the creator and the admin keep access, other project members lose it; the ACL user
    // reads from another project with no role, but may not delete or change ACLs.
    assert_eq!(status(call(&s, Method::GET, &cpath(&id), alice)).await, 200);
    assert_eq!(status(call(&s, Method::GET, &cpath(&id), root)).await, 200);
    expect(call(&s, Method::GET, &cpath(&id), carl), 403, &denied("Container retrieval")).await;
    expect(call(&s, Method::GET, &cpath(&id), olga), 403, &denied("Container retrieval")).await;
    assert_eq!(status(call(&s, Method::GET, &cpath(&id), eve)).await, 200);
    assert_eq!(status(call(&s, Method::GET, &format!("{}/consumers", cpath(&id)), eve)).await, 200);
    expect(call(&s, Method::DELETE, &cpath(&id), eve), 403, &denied("Container deletion")).await;
    expect(call(&s, Method::PUT, &acl, eve).json(&json!({})), 403, &denied("ContainerACL(s) Update")).await;
    expect(call(&s, Method::DELETE, &acl, eve), 403, &denied("ContainerACL(s) deletion")).await;
    // (ACL routes see no ACL facts, so a creator-role member passes there even when private.)
    expect(call(&s, Method::PUT, &acl, olga).json(&json!({})), 403, &denied("ContainerACL(s) Update")).await;
    assert_eq!(status(call(&s, Method::GET, &acl, carl)).await, 200);

    // PATCH: back to project access, users untouched.
    let r = call(&s, Method::PATCH, &acl, alice).json(&json!({"read": {"project-access": true}})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let got = call(&s, Method::GET, &acl, alice).send().await.unwrap().json::<Value>().await.unwrap();
    assert_eq!(got["read"]["users"], json!(["eve"]));
    assert_eq!(got["read"]["project-access"], true);
    assert_eq!(status(call(&s, Method::GET, &cpath(&id), carl)).await, 200);

    // Validation as for secrets, with the container operation names.
    expect(call(&s, Method::PUT, &acl, alice).json(&json!({"write": {}})), 400, &format!("{ACL_SCHEMA}Additional properties are not allowed ('write' was unexpected). Invalid property: 'None'")).await;
    expect(call(&s, Method::PATCH, &acl, alice).json(&json!({"read": {"users": "u"}})), 400, &format!("{ACL_SCHEMA}'u' is not of type 'array'. Invalid property: 'read'")).await;
    expect(call(&s, Method::PUT, &acl, alice).header("Content-Type", "text/plain").body("{}"), 415, JSON_415).await;

    // DELETE: 200 with a JSON null, idempotent; the ACL user loses access.
    for _ in 0..2 {
        let r = call(&s, Method::DELETE, &acl, alice).header("Content-Type", "application/json").send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "content-type"), Some("application/json"));
        assert_eq!(r.text().await.unwrap(), "null");
    }
    assert_eq!(call(&s, Method::GET, &acl, alice).send().await.unwrap().json::<Value>().await.unwrap(), json!({"read": {"project-access": true}}));
    expect(call(&s, Method::GET, &cpath(&id), eve), 403, &denied("Container retrieval")).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    expect(call(&s, Method::GET, &format!("{}/acl", cpath(&unknown)), alice), 404, NOT_FOUND).await;
    expect(call(&s, Method::PUT, &format!("{}/acl/", cpath("bad")), alice).json(&json!({})), 404, INVALID_ID).await;
}

// ---- policy ----------------------------------------------------------------------------------

#[actix_web::test]
async fn legacy_policy_roles() {
    let s = common::start().await;
    let p = common::project();
    let alice = who(&p, "creator", "alice");
    let carl = who(&p, "creator", "carl");
    let olga = who(&p, "observer", "olga");
    let audrey = who(&p, "audit", "audrey");
    let id = container(&s, alice, json!({"type": "generic"})).await;

    expect(call(&s, Method::POST, "/v1/containers", olga).json(&json!({"type": "generic"})), 403, &denied("Container creation")).await;
    expect(call(&s, Method::POST, "/v1/containers", audrey).json(&json!({"type": "generic"})), 403, &denied("Container creation")).await;
    assert_eq!(status(call(&s, Method::GET, "/v1/containers", olga)).await, 200);
    expect(call(&s, Method::GET, "/v1/containers", audrey), 403, &denied("Containers(s) retrieval")).await;
    // Reading one container: any project role (all_users) on a non-private container.
    for w in [alice, carl, olga, audrey] {
        assert_eq!(status(call(&s, Method::GET, &cpath(&id), w)).await, 200);
    }
    // Deleting: the creator or a project admin; another creator-role user may not.
    expect(call(&s, Method::DELETE, &cpath(&id), carl), 403, &denied("Container deletion")).await;
    expect(call(&s, Method::DELETE, &cpath(&id), olga), 403, &denied("Container deletion")).await;
    // Adding secrets: the creator role on a non-private container is enough.
    let sid = secret(&s, alice, "x").await;
    let r = call(&s, Method::POST, &format!("{}/secrets", cpath(&id)), carl).json(&json!({"secret_ref": sref(&s, &sid)})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    expect(call(&s, Method::POST, &format!("{}/secrets", cpath(&id)), olga).json(&json!({})), 403, &denied("Container Secret creation")).await;
    assert_eq!(status(call(&s, Method::DELETE, &cpath(&id), alice)).await, 204);
    // Query parameters never reach the policy target.
    let id2 = container(&s, alice, json!({"type": "generic"})).await;
    let q = common::project();
    expect(
        call(&s, Method::GET, &format!("{}?target.container.project_id={q}", cpath(&id2)), who(&q, "admin", "x")),
        403,
        &denied("Container retrieval"),
    )
    .await;
}

#[actix_web::test]
async fn secure_rbac_policy() {
    let s = common::start_with(|c| {
        c.oslo_policy.enforce_new_defaults = true;
        c.oslo_policy.enforce_scope = true;
    })
    .await;
    let p = common::project();
    let q = common::project();
    let member = who(&p, "member,reader", "alice");
    let bob = who(&p, "member,reader", "bob");
    let reader = who(&p, "reader", "rita");
    let padmin = who(&p, "admin,member,reader", "root");
    let other_admin = who(&q, "admin,member,reader", "root2");
    let id = container(&s, member, json!({"type": "generic"})).await;
    expect(call(&s, Method::POST, "/v1/containers", reader).json(&json!({"type": "generic"})), 403, &denied("Container creation")).await;
    expect(call(&s, Method::GET, "/v1/containers", reader), 403, &denied("Containers(s) retrieval")).await;
    expect(call(&s, Method::GET, &cpath(&id), reader), 403, &denied("Container retrieval")).await;
    assert_eq!(status(call(&s, Method::GET, "/v1/containers", member)).await, 200);
    assert_eq!(status(call(&s, Method::GET, &cpath(&id), bob)).await, 200);
    expect(call(&s, Method::GET, &cpath(&id), other_admin), 403, &denied("Container retrieval")).await;
    // Private: bob (member, not the owner) loses access; the owner and the project admin keep it.
    let r = call(&s, Method::PUT, &format!("{}/acl", cpath(&id)), member).json(&json!({"read": {"project-access": false}})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    expect(call(&s, Method::GET, &cpath(&id), bob), 403, &denied("Container retrieval")).await;
    expect(call(&s, Method::DELETE, &cpath(&id), bob), 403, &denied("Container deletion")).await;
    assert_eq!(status(call(&s, Method::GET, &cpath(&id), padmin)).await, 200);
    assert_eq!(status(call(&s, Method::DELETE, &cpath(&id), member)).await, 204);
}

// ---- quota -----------------------------------------------------------------------------------

#[actix_web::test]
async fn containers_quota() {
    let s = common::start_with(|c| c.quotas.quota_containers = 2).await;
    let p = common::project();
    let q = common::project();
    let a = admin(&p);
    let first = container(&s, a, json!({"type": "generic"})).await;
    container(&s, a, json!({"type": "rsa"})).await;
    for _ in 0..2 {
        common::assert_error(post_container(&s, a, &json!({"type": "generic"})).await, 403, "Forbidden", Some(QUOTA)).await;
    }
    // Validation comes before the quota; other projects have their own count.
    common::assert_error(post_container(&s, a, &json!({})).await, 400, "Bad Request", Some(&format!("{SCHEMA}'type' is a required property. Invalid property: 'None'"))).await;
    container(&s, admin(&q), json!({"type": "generic"})).await;
    // The quota comes before the secret checks.
    let body = json!({"type": "generic", "secret_refs": [{"name": "a", "secret_ref": sref(&s, &uuid::Uuid::new_v4().to_string())}]});
    common::assert_error(post_container(&s, a, &body).await, 403, "Forbidden", Some(QUOTA)).await;
    // Deleted containers do not count.
    assert_eq!(status(call(&s, Method::DELETE, &cpath(&first), a)).await, 204);
    container(&s, a, json!({"type": "generic"})).await;
    common::assert_error(post_container(&s, a, &json!({"type": "generic"})).await, 403, "Forbidden", Some(QUOTA)).await;

    // 0 disables creation.
    let s = common::start_with(|c| c.quotas.quota_containers = 0).await;
    common::assert_error(post_container(&s, a, &json!({"type": "generic"})).await, 403, "Forbidden", Some(QUOTA)).await;
}

#[actix_web::test]
async fn concurrent_creates_never_exceed_the_quota() {
    let s = common::start_with(|c| {
        c.quotas.quota_containers = 5;
        c.default.sql_pool_size = 8;
    })
    .await;
    let p = common::project();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let rb = call(&s, Method::POST, "/v1/containers", admin(&p)).json(&json!({"type": "generic", "name": format!("c{i}")}));
        tasks.push(actix_web::rt::spawn(async move {
            let r = rb.send().await.unwrap();
            let code = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            (code, v)
        }));
    }
    let mut created = 0;
    let mut refused = 0;
    for t in tasks {
        let (code, v) = t.await.unwrap();
        match code {
            201 => created += 1,
            403 => {
                assert_eq!(v["description"], QUOTA);
                refused += 1;
            }
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert_eq!((created, refused), (5, 15));
    let list = call(&s, Method::GET, "/v1/containers", admin(&p)).send().await.unwrap().json::<Value>().await.unwrap();
    assert_eq!(list["total"], 5);
}
