//! Secret stores end to end (contract §5.10): single-store mode (every route 404, after or
//! before policy depending on the route), multiple-store mode (list, global default,
//! preferred get/set/unset, get by id), policy in both modes, and the start-up sync.

use crate::common;
use portcullis::store::stores::{self, StoreSpec};
use portcullis::store::{DbUrl, Store};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

const NOT_ENABLED: &str = "Not Found. Multiple backends support is not enabled in service configuration.";
const STORE_NOT_FOUND: &str = "Not Found. Secret store not found.";
const NO_PREFERRED: &str = "Not Found. No preferred secret store defined for this project.";
const UNKNOWN_ID: &str = "6a4d3f8e-1111-4222-8333-444455556666";

/// Servers with multiple stores on share the `secret_stores` table (on PostgreSQL/MySQL, one
/// database for the whole binary): they all run the default store list and hold this lock for
/// reading; the sync test, which changes the table, holds it for writing.
static STORES: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

fn call(s: &common::TestServer, m: Method, path: &str, project: &str, roles: &str) -> RequestBuilder {
    s.req(m, path, project).header("X-Roles", roles).header("X-User-Id", "store-user")
}

fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

fn denied(op: &str) -> String {
    format!("{op} attempt not allowed - please review your user/project privileges")
}

async fn multi() -> common::TestServer {
    common::start_with(|c| c.secretstore.enable_multiple_secret_stores = true).await
}

async fn json_ok(r: Response) -> Value {
    assert_eq!(r.status(), 200, "status");
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    r.json().await.unwrap()
}

async fn list(s: &common::TestServer, project: &str) -> Vec<Value> {
    let v = json_ok(call(s, Method::GET, "/v1/secret-stores", project, "observer").send().await.unwrap()).await;
    assert_eq!(v.as_object().unwrap().len(), 1, "only secret_stores, no paging: {v}");
    v["secret_stores"].as_array().unwrap().clone()
}

fn store_id(store: &Value) -> String {
    store["secret_store_ref"].as_str().unwrap().rsplit('/').next().unwrap().to_string()
}

/// POST/DELETE `…/{id}/preferred` the way tempest sends them: JSON Content-Type, no body.
async fn preferred_call(s: &common::TestServer, m: Method, id: &str, project: &str, roles: &str) -> Response {
    call(s, m, &format!("/v1/secret-stores/{id}/preferred"), project, roles)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap()
}

async fn no_content(r: Response) {
    assert_eq!(r.status(), 204);
    assert!(r.bytes().await.unwrap().is_empty());
}

/// `YYYY-MM-DDTHH:MM:SS[.ffffff]`, no zone (§2.7).
fn assert_ts(v: &Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("timestamp string: {v}"));
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").unwrap_or_else(|_| panic!("timestamp: {s}"));
    assert!(!s.ends_with('Z') && !s.contains('+'), "no zone: {s}");
}

// ---- single-store mode (the default) ---------------------------------------------------------

#[actix_web::test]
async fn single_store_mode_answers_404_everywhere() {
    let s = common::start().await;
    let p = common::project();
    // collection routes: Accept, then policy, then 404
    for (path, op) in [
        ("/v1/secret-stores", "List available secret stores"),
        ("/v1/secret-stores/global-default", "Retrieve global default secret store"),
        ("/v1/secret-stores/preferred", "Retrieve project preferred store"),
    ] {
        let r = call(&s, Method::GET, path, &p, "admin").send().await.unwrap();
        common::assert_error(r, 404, "Not Found", Some(NOT_ENABLED)).await;
        let r = call(&s, Method::GET, path, &p, "member").send().await.unwrap();
        common::assert_error(r, 403, "Forbidden", Some(&denied(op))).await;
        let r = call(&s, Method::GET, path, &p, "member").header("Accept", "text/plain").send().await.unwrap();
        common::assert_error(r, 406, "Not Acceptable", None).await;
        let r = call(&s, Method::POST, path, &p, "admin").send().await.unwrap();
        assert_eq!(header(&r, "allow"), Some("GET"), "{path}");
        common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
    }
    // `/{id}` routes: 404 before method, Accept and policy
    let id = UNKNOWN_ID;
    let cases: Vec<(Method, String)> = vec![
        (Method::GET, format!("/v1/secret-stores/{id}")),
        (Method::PUT, format!("/v1/secret-stores/{id}")),
        (Method::POST, format!("/v1/secret-stores/{id}/preferred")),
        (Method::DELETE, format!("/v1/secret-stores/{id}/preferred")),
        (Method::GET, format!("/v1/secret-stores/{id}/preferred")),
        (Method::GET, format!("/v1/secret-stores/{id}/other")),
        (Method::GET, "/v1/secret-stores/not-a-uuid".to_string()),
    ];
    for (m, path) in cases {
        for roles in ["admin", "member"] {
            let r = call(&s, m.clone(), &path, &p, roles).header("Accept", "text/plain").send().await.unwrap();
            common::assert_error(r, 404, "Not Found", Some(NOT_ENABLED)).await;
        }
    }
}

// ---- multiple-store mode ---------------------------------------------------------------------

#[actix_web::test]
async fn lists_the_configured_stores() {
    let _g = STORES.read().await;
    let s = multi().await;
    let p = common::project();
    let stores = list(&s, &p).await;
    assert_eq!(stores.len(), 2, "{stores:?}");
    for st in &stores {
        let o = st.as_object().unwrap();
        let mut keys: Vec<&str> = o.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["created", "crypto_plugin", "global_default", "name", "secret_store_plugin", "secret_store_ref", "status", "updated"]);
        assert_eq!(st["status"], "ACTIVE");
        assert_eq!(st["secret_store_plugin"], "store_crypto");
        assert_ts(&st["created"]);
        assert_ts(&st["updated"]);
        let r = st["secret_store_ref"].as_str().unwrap();
        assert!(r.starts_with(&format!("{}/v1/secret-stores/", s.base)), "{r}");
    }
    assert_eq!(stores[0]["name"], "Software Only Crypto");
    assert_eq!(stores[0]["crypto_plugin"], "simple_crypto");
    assert_eq!(stores[0]["global_default"], true);
    assert_eq!(stores[1]["name"], "PKCS11 HSM");
    assert_eq!(stores[1]["crypto_plugin"], "p11_crypto");
    assert_eq!(stores[1]["global_default"], false);

    // global default
    let g = json_ok(call(&s, Method::GET, "/v1/secret-stores/global-default", &p, "audit").send().await.unwrap()).await;
    assert_eq!(g, stores[0]);
    // get by id, with a trailing slash too
    for st in &stores {
        let id = store_id(st);
        for path in [format!("/v1/secret-stores/{id}"), format!("/v1/secret-stores/{id}/")] {
            let v = json_ok(call(&s, Method::GET, &path, &p, "creator").send().await.unwrap()).await;
            assert_eq!(&v, st);
        }
    }
    // the same ids after a restart on the same database (the sync keeps rows)
    let again = common::start_in(tempfile::tempdir().unwrap(), {
        let mut c = common::test_config(s.dir.path());
        c.secretstore.enable_multiple_secret_stores = true;
        c
    })
    .await;
    let ids = |v: &[Value]| v.iter().map(|s| (store_id(s), s["name"].clone(), s["created"].clone())).collect::<Vec<_>>();
    assert_eq!(ids(&list(&again, &p).await), ids(&stores));
}

#[actix_web::test]
async fn unknown_store_and_routing_errors() {
    let _g = STORES.read().await;
    let s = multi().await;
    let p = common::project();
    let id = store_id(&list(&s, &p).await[0]);
    for path in [format!("/v1/secret-stores/{UNKNOWN_ID}"), "/v1/secret-stores/xyz".into(), format!("/v1/secret-stores/{UNKNOWN_ID}/preferred")] {
        let r = call(&s, Method::GET, &path, &p, "member").send().await.unwrap();
        common::assert_error(r, 404, "Not Found", Some(STORE_NOT_FOUND)).await;
    }
    let r = preferred_call(&s, Method::POST, UNKNOWN_ID, &p, "admin").await;
    common::assert_error(r, 404, "Not Found", Some(STORE_NOT_FOUND)).await;
    // methods: after the look-up
    let r = call(&s, Method::PUT, &format!("/v1/secret-stores/{id}"), &p, "admin").send().await.unwrap();
    assert_eq!(header(&r, "allow"), Some("GET"));
    common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
    let r = call(&s, Method::GET, &format!("/v1/secret-stores/{id}/preferred"), &p, "admin").send().await.unwrap();
    assert_eq!(header(&r, "allow"), Some("DELETE, POST"));
    common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
    for sub in ["other", "preferred/x"] {
        let r = call(&s, Method::GET, &format!("/v1/secret-stores/{id}/{sub}"), &p, "admin").send().await.unwrap();
        assert_eq!(header(&r, "allow"), None);
        common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
    }
    let r = call(&s, Method::DELETE, "/v1/secret-stores/global-default", &p, "admin").send().await.unwrap();
    common::assert_error(r, 405, "Method Not Allowed", Some("")).await;
    // Accept: JSON-only, after the look-up and before policy
    let r = call(&s, Method::GET, &format!("/v1/secret-stores/{id}"), &p, "member").header("Accept", "text/plain").send().await.unwrap();
    common::assert_error(r, 406, "Not Acceptable", None).await;
    let r = call(&s, Method::POST, &format!("/v1/secret-stores/{id}/preferred"), &p, "member").header("Accept", "text/plain").send().await.unwrap();
    common::assert_error(r, 406, "Not Acceptable", None).await;
    let r = call(&s, Method::GET, "/v1/secret-stores/preferred", &p, "admin").header("Accept", "text/csv").send().await.unwrap();
    common::assert_error(r, 406, "Not Acceptable", None).await;
}

#[actix_web::test]
async fn preferred_store_set_replace_unset() {
    let _g = STORES.read().await;
    let s = multi().await;
    let p = common::project();
    let other = common::project();
    let stores = list(&s, &p).await;
    let (a, b) = (store_id(&stores[0]), store_id(&stores[1]));
    let get_pref = |project: String| {
        let rb = call(&s, Method::GET, "/v1/secret-stores/preferred", &project, "observer");
        async move { rb.send().await.unwrap() }
    };

    common::assert_error(get_pref(p.clone()).await, 404, "Not Found", Some(NO_PREFERRED)).await;
    common::assert_error(preferred_call(&s, Method::DELETE, &a, &p, "admin").await, 404, "Not Found", Some(NO_PREFERRED)).await;

    no_content(preferred_call(&s, Method::POST, &b, &p, "admin").await).await;
    assert_eq!(json_ok(get_pref(p.clone()).await).await, stores[1]);
    // setting again is fine; another store replaces it
    no_content(preferred_call(&s, Method::POST, &b, &p, "admin").await).await;
    no_content(preferred_call(&s, Method::POST, &a, &p, "admin").await).await;
    assert_eq!(json_ok(get_pref(p.clone()).await).await, stores[0]);
    // without any header at all, too
    let r = call(&s, Method::POST, &format!("/v1/secret-stores/{b}/preferred"), &p, "admin").send().await.unwrap();
    no_content(r).await;
    assert_eq!(json_ok(get_pref(p.clone()).await).await["name"], "PKCS11 HSM");
    // per project
    common::assert_error(get_pref(other.clone()).await, 404, "Not Found", Some(NO_PREFERRED)).await;
    // DELETE removes the preference whatever store the path names
    no_content(preferred_call(&s, Method::DELETE, &a, &p, "admin").await).await;
    common::assert_error(get_pref(p.clone()).await, 404, "Not Found", Some(NO_PREFERRED)).await;
    common::assert_error(preferred_call(&s, Method::DELETE, &b, &p, "admin").await, 404, "Not Found", Some(NO_PREFERRED)).await;
    // the global default stays what it is
    let g = json_ok(call(&s, Method::GET, "/v1/secret-stores/global-default", &p, "observer").send().await.unwrap()).await;
    assert_eq!(g["global_default"], true);
}

#[actix_web::test]
async fn store_policy_legacy() {
    let _g = STORES.read().await;
    let s = multi().await;
    let p = common::project();
    let id = store_id(&list(&s, &p).await[1]);
    // reads: all_users
    for roles in ["admin", "observer", "creator", "audit", "key-manager:service-admin"] {
        for path in ["/v1/secret-stores".to_string(), "/v1/secret-stores/global-default".into(), format!("/v1/secret-stores/{id}")] {
            assert_eq!(call(&s, Method::GET, &path, &p, roles).send().await.unwrap().status(), 200, "{roles} {path}");
        }
    }
    for (path, op) in [
        ("/v1/secret-stores".to_string(), "List available secret stores"),
        ("/v1/secret-stores/global-default".into(), "Retrieve global default secret store"),
        ("/v1/secret-stores/preferred".into(), "Retrieve project preferred store"),
        (format!("/v1/secret-stores/{id}"), "Secret store retrieval"),
    ] {
        let r = call(&s, Method::GET, &path, &p, "member,reader").send().await.unwrap();
        common::assert_error(r, 403, "Forbidden", Some(&denied(op))).await;
    }
    // writes: role admin only
    for roles in ["creator", "observer", "key-manager:service-admin", "member"] {
        common::assert_error(preferred_call(&s, Method::POST, &id, &p, roles).await, 403, "Forbidden", Some(&denied("Setting preferred secret store"))).await;
        common::assert_error(preferred_call(&s, Method::DELETE, &id, &p, roles).await, 403, "Forbidden", Some(&denied("Removing preferred secret store"))).await;
    }
    no_content(preferred_call(&s, Method::POST, &id, &p, "admin").await).await;
    no_content(preferred_call(&s, Method::DELETE, &id, &p, "admin").await).await;
}

#[actix_web::test]
async fn store_policy_new_defaults_like_tempest() {
    let _g = STORES.read().await;
    let s = common::start_with(|c| {
        c.secretstore.enable_multiple_secret_stores = true;
        c.oslo_policy.enforce_new_defaults = true;
        c.oslo_policy.enforce_scope = true;
    })
    .await;
    let p = common::project();
    let (reader, member, admin) = ("reader", "member,reader", "admin,member,reader");
    let v = json_ok(call(&s, Method::GET, "/v1/secret-stores", &p, reader).send().await.unwrap()).await;
    let id = store_id(&v["secret_stores"][0]);
    assert_eq!(json_ok(call(&s, Method::GET, &format!("/v1/secret-stores/{id}"), &p, reader).send().await.unwrap()).await["secret_store_ref"], v["secret_stores"][0]["secret_store_ref"]);
    assert_eq!(json_ok(call(&s, Method::GET, "/v1/secret-stores/global-default", &p, member).send().await.unwrap()).await["global_default"], true);
    // member and reader cannot set or unset
    for roles in [reader, member, "key-manager:service-admin"] {
        common::assert_error(preferred_call(&s, Method::POST, &id, &p, roles).await, 403, "Forbidden", Some(&denied("Setting preferred secret store"))).await;
        common::assert_error(preferred_call(&s, Method::DELETE, &id, &p, roles).await, 403, "Forbidden", Some(&denied("Removing preferred secret store"))).await;
    }
    // admin sets; the project's readers see it
    no_content(preferred_call(&s, Method::POST, &id, &p, admin).await).await;
    let v = json_ok(call(&s, Method::GET, "/v1/secret-stores/preferred", &p, reader).send().await.unwrap()).await;
    assert_eq!(v["status"], "ACTIVE");
    assert!(v["secret_store_ref"].as_str().unwrap().ends_with(&id));
    no_content(preferred_call(&s, Method::DELETE, &id, &p, admin).await).await;
    let r = call(&s, Method::GET, "/v1/secret-stores/preferred", &p, reader).send().await.unwrap();
    common::assert_error(r, 404, "Not Found", Some(NO_PREFERRED)).await;
    // no role at all that the rules name
    let r = call(&s, Method::GET, "/v1/secret-stores", &p, "creator").send().await.unwrap();
    common::assert_error(r, 403, "Forbidden", Some(&denied("List available secret stores"))).await;
}

// ---- start-up: configuration checks and the sync ---------------------------------------------

#[actix_web::test]
async fn start_refuses_a_bad_store_list() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::test_config(dir.path());
    // only checked when the API is on: an SQLite file of its own keeps this off shared tables
    cfg.default.sql_connection = format!("sqlite://{}", dir.path().join("own.db").display());
    cfg.secretstore.enable_multiple_secret_stores = true;
    cfg.secretstore.stores[1].global_default = true;
    let e = portcullis::server::prepare(cfg.clone(), true).err().expect("refused");
    assert!(e.contains("2 stores have global_default"), "{e}");
    cfg.secretstore.stores[0].global_default = false;
    cfg.secretstore.stores[1].global_default = false;
    let e = portcullis::server::prepare(cfg.clone(), true).err().expect("refused");
    assert!(e.contains("no store has global_default"), "{e}");
    cfg.secretstore.stores[1].name = cfg.secretstore.stores[0].name.clone();
    cfg.secretstore.stores[1].global_default = true;
    let e = portcullis::server::prepare(cfg.clone(), true).err().expect("refused");
    assert!(e.contains("used twice"), "{e}");
    // with the API off the list is not looked at
    cfg.secretstore.enable_multiple_secret_stores = false;
    assert!(portcullis::server::prepare(cfg, true).is_ok());
}

fn spec(name: &str, store: &str, crypto: Option<&str>, default: bool) -> StoreSpec {
    StoreSpec { name: name.into(), store_plugin: store.into(), crypto_plugin: crypto.map(str::to_string), global_default: default }
}

fn defaults() -> Vec<StoreSpec> {
    vec![
        spec("Software Only Crypto", "store_crypto", Some("simple_crypto"), true),
        spec("PKCS11 HSM", "store_crypto", Some("p11_crypto"), false),
    ]
}

#[actix_web::test]
async fn sync_adds_updates_and_removes_by_plugin_pair() {
    let _g = STORES.write().await;
    let dir = tempfile::tempdir().unwrap();
    let url = DbUrl::parse(&common::backend_url(dir.path())).unwrap();
    let store = Store::open(&url, 2).unwrap();
    store.upgrade().unwrap();
    let mut c = store.conn().unwrap();
    stores::sync(&mut c, &defaults()).unwrap();
    let before = stores::list(&mut c).unwrap();
    assert_eq!(before.len(), 2);
    // unchanged: nothing to do
    assert_eq!(stores::sync(&mut c, &defaults()).unwrap(), stores::SyncReport::default());

    // swap the names, move the default, add a store without a crypto plugin
    let changed = vec![
        spec("PKCS11 HSM", "store_crypto", Some("simple_crypto"), false),
        spec("Software Only Crypto", "store_crypto", Some("p11_crypto"), false),
        spec("KMIP HSM", "kmip_plugin", None, true),
    ];
    let r = stores::sync(&mut c, &changed).unwrap();
    assert_eq!(r.added, ["KMIP HSM"]);
    assert_eq!(r.updated.len(), 2);
    assert!(r.removed.is_empty());
    let after = stores::list(&mut c).unwrap();
    assert_eq!(after.len(), 3);
    let simple = after.iter().find(|s| s.crypto_plugin.as_deref() == Some("simple_crypto")).unwrap();
    assert_eq!((simple.id.as_str(), simple.name.as_str(), simple.global_default), (before[0].id.as_str(), "PKCS11 HSM", false));
    let kmip = after.iter().find(|s| s.store_plugin == "kmip_plugin").unwrap();
    assert_eq!((kmip.crypto_plugin.as_deref(), kmip.global_default), (None, true));
    assert_eq!(stores::global_default(&mut c).unwrap().unwrap().id, kmip.id);

    // a store that a project prefers cannot be dropped from the configuration
    let p = common::project();
    portcullis::store::projects::ensure(&mut c, &p).unwrap();
    stores::set_preferred(&mut c, &p, &kmip.id).unwrap();
    let e = stores::sync(&mut c, &defaults()).unwrap_err().to_string();
    assert!(e.contains("'KMIP HSM'") && e.contains("preferred store of 1 project"), "{e}");
    assert_eq!(stores::list(&mut c).unwrap().len(), 3, "nothing changed");
    assert!(stores::unset_preferred(&mut c, &p).unwrap());
    let r = stores::sync(&mut c, &defaults()).unwrap();
    assert_eq!(r.removed, ["KMIP HSM"]);
    let back = stores::list(&mut c).unwrap();
    let ids = |v: &[stores::StoreRow]| v.iter().map(|s| (s.id.clone(), s.name.clone(), s.global_default)).collect::<Vec<_>>();
    let mut b = ids(&back);
    b.sort();
    let mut f = ids(&before);
    f.sort();
    assert_eq!(b, f, "back to the defaults with the original ids");
}
