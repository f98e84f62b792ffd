//! Keystone token validation against a real Keystone (started by scripts/test.sh with
//! scripts/keystone.sh; its users file is named by PORTCULLIS_TEST_KEYSTONE_ENV). Without it
//! these tests are skipped, unless PORTCULLIS_REQUIRE_KEYSTONE=1 (as in scripts/test.sh).

use crate::common;
use crate::ks::{keystone, Ks};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use portcullis::auth::keystone::{KeystoneAuth, KsFailure};
use portcullis::config::{AuthStrategy, KeystoneSection};
use serde_json::{json, Value};

const KS_401: &str = r#"{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}"#;



impl Ks {
    async fn token_scoped(&self, user: &str, password: &str, scope: Value) -> String {
        let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password}}}, "scope": scope}});
        let r = self.http.post(format!("{}/auth/tokens?nocatalog", self.url())).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201, "token for {user}: {:?}", r.text().await);
        r.headers()["x-subject-token"].to_str().unwrap().to_string()
    }

    async fn token(&self, user: &str, project: &str) -> String {
        let pw = if user == "admin" { self.env["KS_ADMIN_PASSWORD"].clone() } else { self.env["KS_USER_PASSWORD"].clone() };
        self.token_scoped(user, &pw, json!({"project": {"name": project, "domain": {"id": "default"}}})).await
    }

    async fn admin(&self) -> String {
        self.token("admin", "admin").await
    }
}

async fn server(ks: &Ks, tweak: impl FnOnce(&mut KeystoneSection)) -> common::TestServer {
    server_mode(ks, false, tweak).await
}

async fn server_mode(ks: &Ks, secure_rbac: bool, tweak: impl FnOnce(&mut KeystoneSection)) -> common::TestServer {
    let mut section = ks.section();
    tweak(&mut section);
    common::start_with(move |c| {
        c.auth.strategy = AuthStrategy::Keystone;
        c.keystone_authtoken = section;
        c.oslo_policy.enforce_new_defaults = secure_rbac;
        c.oslo_policy.enforce_scope = secure_rbac;
    })
    .await
}

fn get(s: &common::TestServer, path: &str, token: Option<&str>) -> reqwest::RequestBuilder {
    let mut b = s.http.get(s.url(path));
    if let Some(t) = token {
        b = b.header("X-Auth-Token", t);
    }
    b
}

#[actix_web::test]
async fn member_token_creates_and_reads_other_project_is_refused() {
    let Some(ks) = keystone() else { return };
    let s = server_mode(&ks, true, |_| {}).await;
    let member = ks.token("a-member", "proj-a").await;
    let r = s.http.post(s.url("/v1/secrets")).header("X-Auth-Token", &member)
        .json(&json!({"payload": "kept", "payload_content_type": "text/plain"})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let href = r.json::<Value>().await.unwrap()["secret_ref"].as_str().unwrap().to_string();
    let id = href.rsplit('/').next().unwrap().to_string();
    let r = get(&s, &format!("/v1/secrets/{id}"), Some(&member)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["creator_id"], ks.env["KS_USER_A_MEMBER"], "creator is the token's user");
    let b_member = ks.token("b-member", "proj-b").await;
    let r = get(&s, &format!("/v1/secrets/{id}/payload"), Some(&b_member)).send().await.unwrap();
    assert_eq!(r.status(), 403, "another project's member");
    let reader = ks.token("a-reader", "proj-a").await;
    let r = get(&s, &format!("/v1/secrets/{id}/payload"), Some(&reader)).send().await.unwrap();
    assert_eq!(r.status(), 403, "reader may not decrypt under secure RBAC");
    let r = get(&s, &format!("/v1/secrets/{id}/payload"), Some(&member)).header("Accept", "text/plain").send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "kept");
}

/// With no `[oslo_policy]` settings at all (secure RBAC by default, as Barbican since 2024.1) a
/// Keystone `member` creates and reads its project's secrets; a reader may not decrypt.
#[actix_web::test]
async fn default_policy_settings_let_a_member_create_and_read() {
    let Some(ks) = keystone() else { return };
    let section = ks.section();
    let s = common::start_with(move |c| {
        c.auth.strategy = AuthStrategy::Keystone;
        c.keystone_authtoken = section;
        c.oslo_policy = portcullis::config::PolicySection::default();
    })
    .await;
    let member = ks.token("a-member", "proj-a").await;
    let r = s.http.post(s.url("/v1/secrets")).header("X-Auth-Token", &member)
        .json(&json!({"payload": "by default", "payload_content_type": "text/plain"})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let href = r.json::<Value>().await.unwrap()["secret_ref"].as_str().unwrap().to_string();
    let id = href.rsplit('/').next().unwrap().to_string();
    let r = get(&s, &format!("/v1/secrets/{id}/payload"), Some(&member)).header("Accept", "text/plain").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "by default");
    let reader = ks.token("a-reader", "proj-a").await;
    let r = get(&s, &format!("/v1/secrets/{id}/payload"), Some(&reader)).send().await.unwrap();
    assert_eq!(r.status(), 403, "secure RBAC: a reader may not decrypt");
}

#[actix_web::test]
async fn missing_bogus_and_system_scoped_tokens() {
    let Some(ks) = keystone() else { return };
    let s = server(&ks, |_| {}).await;
    for token in [None, Some("not-a-token"), Some("gAAAAABbogus")] {
        let r = get(&s, "/v1/secrets", token).send().await.unwrap();
        assert_eq!(r.status(), 401, "{token:?}");
        assert_eq!(r.headers()["www-authenticate"], format!("Keystone uri=\"{}\"", ks.url()));
        assert_eq!(r.headers()["content-type"], "application/json; charset=UTF-8");
        assert!(r.headers().get("openstack-api-version").is_none(), "401 comes before the microversion layer");
        assert!(r.headers().get("x-openstack-request-id").is_some());
        assert_eq!(r.text().await.unwrap(), KS_401);
    }
    // The version document needs no token.
    assert_eq!(get(&s, "/", None).send().await.unwrap().status(), 300);
    // A system-scoped token is valid but has no project: Barbican's context answers 401.
    let sys = ks.token_scoped("admin", &ks.env["KS_ADMIN_PASSWORD"], json!({"system": {"all": true}})).await;
    let r = get(&s, "/v1/secrets", Some(&sys)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").is_none());
}

#[actix_web::test]
async fn revoked_token_and_deleted_user_are_refused_without_cache() {
    let Some(ks) = keystone() else { return };
    let s = server(&ks, |k| k.token_cache_time = 0).await;
    let admin = ks.admin().await;
    // A user made for this test, member of proj-a.
    let name = format!("temp-{}", uuid::Uuid::new_v4().simple());
    let r = ks.http.post(format!("{}/users", ks.url())).header("X-Auth-Token", &admin)
        .json(&json!({"user": {"name": name, "password": "pw-temp", "domain_id": "default"}})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let uid = r.json::<Value>().await.unwrap()["user"]["id"].as_str().unwrap().to_string();
    let roles: Value = ks.http.get(format!("{}/roles?name=creator", ks.url())).header("X-Auth-Token", &admin).send().await.unwrap().json().await.unwrap();
    let rid = roles["roles"][0]["id"].as_str().unwrap().to_string();
    let r = ks.http.put(format!("{}/projects/{}/users/{uid}/roles/{rid}", ks.url(), ks.env["KS_PROJECT_PROJ_A"]))
        .header("X-Auth-Token", &admin).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let t = ks.token_scoped(&name, "pw-temp", json!({"project": {"name": "proj-a", "domain": {"id": "default"}}})).await;
    assert_eq!(get(&s, "/v1/secrets", Some(&t)).send().await.unwrap().status(), 200);
    // Deleting the user invalidates its tokens.
    let r = ks.http.delete(format!("{}/users/{uid}", ks.url())).header("X-Auth-Token", &admin).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(get(&s, "/v1/secrets", Some(&t)).send().await.unwrap().status(), 401, "deleted user");
    // A revoked token is refused.
    let t2 = ks.token("a-creator", "proj-a").await;
    assert_eq!(get(&s, "/v1/secrets", Some(&t2)).send().await.unwrap().status(), 200);
    let r = ks.http.delete(format!("{}/auth/tokens", ks.url())).header("X-Auth-Token", &admin)
        .header("X-Subject-Token", &t2).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(get(&s, "/v1/secrets", Some(&t2)).send().await.unwrap().status(), 401, "revoked token");
}

#[actix_web::test]
async fn concurrent_requests_with_one_new_token_make_one_keystone_call() {
    let Some(ks) = keystone() else { return };
    let auth = Arc::new(KeystoneAuth::new(ks.section()).unwrap());
    let t = ks.token("a-observer", "proj-a").await;
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (a, t) = (auth.clone(), t.clone());
            actix_web::rt::spawn(async move { a.validate(&t).await })
        })
        .collect();
    for task in tasks {
        let info = task.await.unwrap().expect("valid");
        assert!(info.roles.iter().any(|r| r == "observer"));
        assert_eq!(info.project_id.as_deref(), Some(ks.env["KS_PROJECT_PROJ_A"].as_str()));
    }
    assert_eq!(auth.validations.load(Ordering::Relaxed), 1, "one Keystone call for 32 requests");
    auth.validate(&t).await.unwrap();
    assert_eq!(auth.validations.load(Ordering::Relaxed), 1, "then served from the cache");
    assert_eq!(auth.validate("bogus").await.unwrap_err(), KsFailure::Invalid);
}

#[actix_web::test]
async fn implied_roles_are_taken_as_the_token_lists_them() {
    let Some(ks) = keystone() else { return };
    let auth = KeystoneAuth::new(ks.section()).unwrap();
    let t = ks.token("a-admin", "proj-a").await;
    let info = auth.validate(&t).await.unwrap();
    for r in ["admin", "member", "reader"] {
        assert!(info.roles.iter().any(|x| x == r), "{r} in {:?}", info.roles);
    }
}

/// A TCP relay to Keystone that can be switched off, to play an outage.
async fn relay(target: String, on: Arc<AtomicBool>) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    actix_web::rt::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = l.accept().await else { return };
            if !on.load(Ordering::SeqCst) {
                drop(inbound);
                continue;
            }
            let target = target.clone();
            actix_web::rt::spawn(async move {
                if let Ok(mut out) = tokio::net::TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                }
            });
        }
    });
    format!("127.0.0.1:{}", addr.port())
}

#[actix_web::test]
async fn keystone_outage_is_503_and_recovers_without_restart() {
    let Some(ks) = keystone() else { return };
    let u = url::Url::parse(ks.url()).unwrap();
    let on = Arc::new(AtomicBool::new(false));
    let relay_addr = relay(format!("{}:{}", u.host_str().unwrap(), u.port().unwrap()), on.clone()).await;
    let s = server(&ks, |k| {
        k.auth_url = format!("http://{relay_addr}/v3");
        k.http_request_timeout = 3.0;
    })
    .await;
    let t = ks.token("a-creator", "proj-a").await;
    let r = get(&s, "/v1/secrets", Some(&t)).send().await.unwrap();
    assert_eq!(r.status(), 503, "Keystone unreachable is not a 401");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], 503);
    on.store(true, Ordering::SeqCst);
    let r = get(&s, "/v1/secrets", Some(&t)).send().await.unwrap();
    assert_eq!(r.status(), 200, "recovered without restart");
}

#[actix_web::test]
async fn service_token_is_validated_too() {
    let Some(ks) = keystone() else { return };
    let s = server(&ks, |_| {}).await;
    let user = ks.token("a-creator", "proj-a").await;
    let svc = ks.token_scoped(&ks.env["KS_SERVICE_USER"], &ks.env["KS_SERVICE_PASSWORD"],
        json!({"project": {"name": ks.env["KS_SERVICE_PROJECT"], "domain": {"id": "default"}}})).await;
    let r = get(&s, "/v1/secrets", Some(&user)).header("X-Service-Token", "bogus").send().await.unwrap();
    assert_eq!(r.status(), 401, "an invalid service token is refused");
    let r = get(&s, "/v1/secrets", Some(&user)).header("X-Service-Token", &svc).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

/// What the token cache keeps, and for how long: a valid token for `token_cache_time`, an invalid
/// one too (briefly), an outage not at all, though a burst of requests during it makes one call.
#[actix_web::test]
async fn token_cache_lifetimes_and_outage_bursts() {
    let Some(ks) = keystone() else { return };
    let calls = |a: &KeystoneAuth| a.validations.load(Ordering::Relaxed);
    let auth = KeystoneAuth::new(KeystoneSection { token_cache_time: 1, ..ks.section() }).unwrap();
    let t = ks.token("a-observer", "proj-a").await;
    auth.validate(&t).await.unwrap();
    auth.validate(&t).await.unwrap();
    assert_eq!(calls(&auth), 1, "cached");
    assert_eq!(auth.validate("bogus").await.unwrap_err(), KsFailure::Invalid);
    assert_eq!(auth.validate("bogus").await.unwrap_err(), KsFailure::Invalid);
    assert_eq!(calls(&auth), 2, "an invalid token is remembered too");
    actix_web::rt::time::sleep(std::time::Duration::from_millis(1200)).await;
    auth.validate(&t).await.unwrap();
    assert_eq!(calls(&auth), 3, "expired after token_cache_time");

    let u = url::Url::parse(ks.url()).unwrap();
    let on = Arc::new(AtomicBool::new(false));
    let relay_addr = relay(format!("{}:{}", u.host_str().unwrap(), u.port().unwrap()), on.clone()).await;
    let auth = Arc::new(
        KeystoneAuth::new(KeystoneSection { auth_url: format!("http://{relay_addr}/v3"), ..ks.section() }).unwrap(),
    );
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (a, t) = (auth.clone(), t.clone());
            actix_web::rt::spawn(async move { a.validate(&t).await })
        })
        .collect();
    for task in tasks {
        assert!(matches!(task.await.unwrap(), Err(KsFailure::Unavailable(_))));
    }
    assert_eq!(calls(&auth), 1, "one Keystone call for the burst");
    assert!(matches!(auth.validate(&t).await, Err(KsFailure::Unavailable(_))));
    assert_eq!(calls(&auth), 2, "an outage is not remembered");
    on.store(true, Ordering::SeqCst);
    auth.validate(&t).await.expect("recovered");
    assert_eq!(calls(&auth), 3);
}
