//! Workload tokens from a real OIDC provider: the happy paths, the claim mapping, and the
//! refusals (audience, expiry, issuer), key rotation at the issuer, and an issuer that is down.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::common;
use crate::provider::{assert_401, assert_not_logged, bearer, payload, provider, server};

async fn create_secret(s: &common::TestServer, token: &str, name: &str) -> String {
    let r = bearer(s, Method::POST, "/v1/secrets", token)
        .json(&json!({"name": name, "payload": "workload payload", "payload_content_type": "text/plain"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "create secret: {:?}", r.text().await);
    let v: Value = r.json().await.unwrap();
    v["secret_ref"].as_str().unwrap().rsplit('/').next().unwrap().to_string()
}

/// The ids of the secrets a project lists (through noauth headers: the base strategy).
async fn listed(s: &common::TestServer, project: &str) -> Vec<String> {
    let v: Value = s.req(Method::GET, "/v1/secrets?limit=100", project).send().await.unwrap().json().await.unwrap();
    v["secrets"].as_array().unwrap().iter().map(|x| x["secret_ref"].as_str().unwrap().rsplit('/').next().unwrap().to_string()).collect()
}

#[tokio::test]
async fn client_credentials_token_creates_and_reads_a_secret_in_the_mapped_project() {
    let Some(o) = provider() else { return };
    let project = common::project();
    let s = server(vec![o.issuer_conf("a", Some(&project))]).await;
    for client in ["workload-rs", "workload-es"] {
        let token = o.token("a", client).await;
        assert_eq!(payload(&token)["iss"], o.issuer("a"));
        let id = create_secret(&s, &token, client).await;
        // The metadata shows the workload as creator (user_id = the subject).
        let m: Value = bearer(&s, Method::GET, &format!("/v1/secrets/{id}"), &token).send().await.unwrap().json().await.unwrap();
        assert_eq!(m["creator_id"], client, "{m}");
        assert_eq!(m["name"], client);
        let r = bearer(&s, Method::GET, &format!("/v1/secrets/{id}/payload"), &token).header("Accept", "text/plain").send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "workload payload");
        // It is in the issuer's project, and only there.
        assert!(listed(&s, &project).await.contains(&id));
        assert!(!listed(&s, &common::project()).await.contains(&id));
        // A cached token keeps working (the second request is served from the cache).
        let r = bearer(&s, Method::GET, "/v1/secrets", &token).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_not_logged(&[&token]);
    }
    // Noauth requests are untouched by the extra door.
    assert_eq!(s.req(Method::GET, "/v1/secrets", &project).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn project_subject_and_groups_from_claims() {
    let Some(o) = provider() else { return };
    let mut conf = o.issuer_conf("b", None);
    conf.subject_claim = "workload".into();
    let s = server(vec![conf]).await;
    let token = o.token("b", "workload-es").await;
    let (_, claimed) = o.client("workload-es");
    assert_eq!(payload(&token)["portcullis_project"], claimed.as_str());
    let id = create_secret(&s, &token, "from-claim").await;
    assert!(listed(&s, &claimed).await.contains(&id), "the secret is in the claimed project {claimed}");
    let m: Value = bearer(&s, Method::GET, &format!("/v1/secrets/{id}"), &token).send().await.unwrap().json().await.unwrap();
    assert_eq!(m["creator_id"], "system:serviceaccount:demo:workload-es", "subject from the configured claim");
    // Another workload of the same issuer with another project claim does not see it.
    let other = o.token("b", "workload-rs").await;
    let r = bearer(&s, Method::GET, &format!("/v1/secrets/{id}"), &other).send().await.unwrap();
    assert_eq!(r.status(), 403, "another project's secret (Barbican's project check is the policy's)");
    // A token without the project claim is refused.
    let none = o.token("b", "workload-noproject").await;
    assert!(payload(&none).get("portcullis_project").is_none());
    assert_401(bearer(&s, Method::GET, "/v1/secrets", &none).send().await.unwrap(), &none).await;
    assert_not_logged(&[&token, &other, &none]);
}

#[tokio::test]
async fn wrong_audience_is_refused() {
    let Some(o) = provider() else { return };
    let s = server(vec![o.issuer_conf("a", Some(&common::project()))]).await;
    let other = o.env["OIDC_OTHER_AUDIENCE"].clone();
    let token = o.token_for("a", "workload-rs", Some(&other)).await;
    assert_eq!(payload(&token)["aud"], other.as_str());
    assert_401(bearer(&s, Method::GET, "/v1/secrets", &token).send().await.unwrap(), &token).await;
    // The same client, for Portcullis's audience: accepted.
    let good = o.token_for("a", "workload-rs", Some(&o.audience())).await;
    assert_eq!(bearer(&s, Method::GET, "/v1/secrets", &good).send().await.unwrap().status(), 200);
    assert_not_logged(&[&token, &good]);
}

#[tokio::test]
async fn expired_token_is_refused_even_when_cached() {
    let Some(o) = provider() else { return };
    let mut conf = o.issuer_conf("a", Some(&common::project()));
    conf.leeway_seconds = 0;
    let s = server(vec![conf]).await;
    let token = o.token("a", "workload-short").await;
    let exp = payload(&token)["exp"].as_u64().unwrap();
    let ttl: u64 = o.env["OIDC_SHORT_TTL"].parse().unwrap();
    assert!(exp - payload(&token)["iat"].as_u64().unwrap() <= ttl);
    assert_eq!(bearer(&s, Method::GET, "/v1/secrets", &token).send().await.unwrap().status(), 200, "valid while it lives");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    tokio::time::sleep(Duration::from_secs_f64((exp as f64 + 1.5 - now).max(0.0))).await;
    assert_401(bearer(&s, Method::GET, "/v1/secrets", &token).send().await.unwrap(), &token).await;
    assert_not_logged(&[&token]);
}

#[tokio::test]
async fn token_of_an_untrusted_issuer_is_refused() {
    let Some(o) = provider() else { return };
    let s = server(vec![o.issuer_conf("a", Some(&common::project()))]).await;
    // A real provider, the same clients, keys of its own: not configured.
    let token = o.token("untrusted", "workload-rs").await;
    assert_401(bearer(&s, Method::GET, "/v1/secrets", &token).send().await.unwrap(), &token).await;
    // A trusted issuer's token is accepted by that server (so the refusal above is the issuer's).
    let good = o.token("a", "workload-rs").await;
    assert_eq!(bearer(&s, Method::GET, "/v1/secrets", &good).send().await.unwrap().status(), 200);
    // Issuer b is trusted by other servers, not by this one.
    let b = o.token("b", "workload-rs").await;
    assert_401(bearer(&s, Method::GET, "/v1/secrets", &b).send().await.unwrap(), &b).await;
    assert_not_logged(&[&token, &good, &b]);
}

#[tokio::test]
async fn key_rotation_at_the_issuer_follows_the_refresh_rule() {
    let Some(o) = provider() else { return };
    const REFRESH: u64 = 5;
    let mut conf = o.issuer_conf("rot", Some(&common::project()));
    conf.jwks_refresh_min_seconds = REFRESH;
    let s = server(vec![conf]).await;
    let old = o.token("rot", "workload-rs").await;
    let first_fetch = Instant::now();
    assert_eq!(bearer(&s, Method::GET, "/v1/secrets", &old).send().await.unwrap().status(), 200);
    let kids = o.rotate("rot").await;
    let new = o.token("rot", "workload-rs").await;
    let new_es = o.token("rot", "workload-es").await;
    let kid = |t: &str| jsonwebtoken::decode_header(t).unwrap().kid.unwrap();
    assert!(kids.contains(&kid(&new)) && kids.contains(&kid(&new_es)), "signed with the new keys");
    assert_ne!(kid(&new), kid(&old));
    // Within the refresh interval an unknown kid does not make Portcullis fetch the JWKS again.
    if first_fetch.elapsed() < Duration::from_secs(REFRESH - 1) {
        assert_401(bearer(&s, Method::GET, "/v1/secrets", &new).send().await.unwrap(), &new).await;
    } else {
        eprintln!("note: the machine is slow; the within-interval refusal was not checked");
    }
    // After it, the unknown kid refreshes the JWKS once, and both new keys are known.
    tokio::time::sleep((first_fetch + Duration::from_secs(REFRESH) + Duration::from_millis(300)).saturating_duration_since(Instant::now())).await;
    assert_eq!(bearer(&s, Method::GET, "/v1/secrets", &new).send().await.unwrap().status(), 200, "new key after the refresh");
    assert_eq!(bearer(&s, Method::GET, "/v1/secrets", &new_es).send().await.unwrap().status(), 200, "new ES256 key too");
    assert_not_logged(&[&old, &new, &new_es]);
}

/// A JWT that claims to come from `iss` (its signature is never reached: the issuer's keys
/// cannot be fetched).
fn token_claiming(iss: &str) -> String {
    use base64::Engine;
    let b = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.{}", b(json!({"alg": "RS256", "kid": "k1"})), b(json!({"iss": iss, "sub": "x", "aud": "urn:portcullis", "exp": 4102444800u64})), "c2lnbmF0dXJlLW5vdC1jaGVja2Vk")
}

#[tokio::test]
async fn an_issuer_that_is_down_breaks_neither_startup_nor_other_traffic() {
    let Some(o) = provider() else { return };
    // One issuer refuses connections; another accepts them and never answers.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/dead", dead.local_addr().unwrap());
    drop(dead);
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hung_url = format!("http://{}/hung", hung.local_addr().unwrap());
    let project = common::project();
    let mut dead_conf = o.issuer_conf("a", Some(&project));
    dead_conf.issuer = dead_url.clone();
    let mut hung_conf = dead_conf.clone();
    hung_conf.issuer = hung_url.clone();
    let started = Instant::now();
    let s = server(vec![o.issuer_conf("a", Some(&project)), dead_conf, hung_conf]).await;
    assert!(started.elapsed() < Duration::from_secs(5), "startup does not wait for issuers");

    // A token of the hung issuer waits for the HTTP timeout (2 s in these servers)...
    let hung_req = {
        let req = bearer(&s, Method::GET, "/v1/secrets", &token_claiming(&hung_url));
        tokio::spawn(async move {
            let t = Instant::now();
            let r = req.send().await.unwrap();
            (r.status().as_u16(), t.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    // ... while noauth requests and the live issuer's tokens are served at once.
    for _ in 0..5 {
        let t = Instant::now();
        assert_eq!(s.req(Method::GET, "/v1/secrets", &project).send().await.unwrap().status(), 200);
        assert!(t.elapsed() < Duration::from_secs(2), "noauth request took {:?}", t.elapsed());
    }
    let good = o.token("a", "workload-rs").await;
    let t = Instant::now();
    assert_eq!(bearer(&s, Method::GET, "/v1/secrets", &good).send().await.unwrap().status(), 200);
    assert!(t.elapsed() < Duration::from_secs(2));
    let (status, took) = hung_req.await.unwrap();
    assert_eq!(status, 503, "the hung issuer's token: 503");
    assert!(took < Duration::from_secs(5), "bounded by the HTTP timeout: {took:?}");

    // The refusing issuer: 503 at once, and again at once (not asked on every request).
    for _ in 0..2 {
        let t = Instant::now();
        let r = bearer(&s, Method::GET, "/v1/secrets", &token_claiming(&dead_url)).send().await.unwrap();
        assert_eq!(r.status(), 503);
        assert!(r.headers().contains_key("retry-after"));
        assert!(t.elapsed() < Duration::from_secs(2), "took {:?}", t.elapsed());
    }
    drop(hung);
    assert_eq!(s.req(Method::GET, "/v1/secrets", &project).send().await.unwrap().status(), 200);
    assert_not_logged(&[&good]);
}

#[tokio::test]
async fn the_oidc_door_works_beside_keystone_too() {
    let Some(o) = provider() else { return };
    // Keystone as the base strategy, at an address where nothing listens: workload tokens
    // never ask it.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ks_url = format!("http://{}/v3", dead.local_addr().unwrap());
    drop(dead);
    let project = common::project();
    let conf = o.issuer_conf("a", Some(&project));
    let s = common::start_with(move |c| {
        c.auth.strategy = portcullis::config::AuthStrategy::Keystone;
        c.keystone_authtoken.auth_url = ks_url;
        c.keystone_authtoken.username = "portcullis".into();
        c.keystone_authtoken.password = "unused".into();
        c.oidc.issuers = vec![conf];
    })
    .await;
    let token = o.token("a", "workload-rs").await;
    let id = create_secret(&s, &token, "beside-keystone").await;
    let m: Value = bearer(&s, Method::GET, &format!("/v1/secrets/{id}"), &token).send().await.unwrap().json().await.unwrap();
    assert_eq!(m["creator_id"], "workload-rs");
    // Keystone's own door is unchanged: no token is its 401, a Keystone token (even with a
    // bearer token beside it) goes to Keystone, which is down here: 503.
    let r = s.http.get(s.url("/v1/secrets")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Keystone uri="));
    let r = bearer(&s, Method::GET, "/v1/secrets", &token).header("X-Auth-Token", "a-keystone-token").send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_not_logged(&[&token]);
}

/// A loopback "issuer" whose discovery is sound and whose JWKS never ends (no Content-Length,
/// 64 MiB of JSON whitespace): how much it sent before the server hung up.
async fn flooding_issuer() -> (String, tokio::task::JoinHandle<usize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let issuer = base.clone();
    let task = tokio::spawn(async move {
        let mut sent_jwks = 0usize;
        for _ in 0..2 {
            let (mut s, _) = l.accept().await.unwrap();
            let mut head = vec![0u8; 4096];
            let n = s.read(&mut head).await.unwrap();
            let head = String::from_utf8_lossy(&head[..n]).into_owned();
            if head.starts_with("GET /.well-known/openid-configuration") {
                let body = json!({"issuer": base, "jwks_uri": format!("{base}/jwks")}).to_string();
                let r = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                s.write_all(r.as_bytes()).await.unwrap();
                continue;
            }
            assert!(head.starts_with("GET /jwks"), "{head}");
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{\"keys\": [").await.unwrap();
            let chunk = vec![b' '; 64 * 1024];
            while sent_jwks < 64 << 20 {
                if s.write_all(&chunk).await.is_err() {
                    break;
                }
                sent_jwks += chunk.len();
            }
        }
        sent_jwks
    });
    (issuer, task)
}

#[tokio::test]
async fn an_issuer_whose_jwks_has_no_end_is_unavailable_and_is_not_read_whole() {
    let (issuer, sent) = flooding_issuer().await;
    let conf = portcullis::auth::oidc::config::IssuerConf {
        issuer: issuer.clone(),
        audiences: vec!["urn:portcullis".into()],
        project: Some(common::project()),
        project_claim: None,
        subject_claim: "sub".into(),
        groups_claim: None,
        roles: vec!["creator".into()],
        algorithms: vec!["RS256".into()],
        leeway_seconds: 30,
        jwks_refresh_min_seconds: 60,
    };
    let s = server(vec![conf]).await;
    let r = bearer(&s, Method::GET, "/v1/secrets", &token_claiming(&issuer)).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let sent = tokio::time::timeout(Duration::from_secs(10), sent).await.expect("the server hung up").unwrap();
    // The server stops reading at 1 MiB; what the issuer got out is that plus socket buffers.
    assert!(sent < 16 << 20, "the server read {sent} bytes of the JWKS");
    assert!(crate::provider::log().contains("JWKS: body larger than 1048576 bytes"), "the cause is logged");
}
