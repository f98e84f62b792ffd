//! The test OIDC provider (scripts/oidc.sh; its env file is named by PORTCULLIS_TEST_OIDC_ENV):
//! minting client-credentials tokens, rotating keys, and the `[oidc]` settings that trust it.
//! Reusable by any test of this binary that needs a workload token.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use portcullis::auth::oidc::config::IssuerConf;

pub struct Oidc {
    pub env: HashMap<String, String>,
    pub http: reqwest::Client,
}

/// The provider named by PORTCULLIS_TEST_OIDC_ENV; None (the test skips) without it, unless
/// PORTCULLIS_REQUIRE_OIDC=1.
pub fn provider() -> Option<Oidc> {
    capture_log();
    let path = match std::env::var("PORTCULLIS_TEST_OIDC_ENV") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            if std::env::var("PORTCULLIS_REQUIRE_OIDC").as_deref() == Ok("1") {
                panic!("PORTCULLIS_TEST_OIDC_ENV is not set but PORTCULLIS_REQUIRE_OIDC=1");
            }
            eprintln!("skipped: no OIDC provider (scripts/oidc.sh start DIR PORT, then set PORTCULLIS_TEST_OIDC_ENV=DIR/oidc.env)");
            return None;
        }
    };
    let text = std::fs::read_to_string(&path).expect("oidc.env");
    let env = text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Some(Oidc { env, http: reqwest::Client::new() })
}

impl Oidc {
    /// The issuer URL of `a`, `b` (trusted by the tests), `rot` (the one whose keys the rotation
    /// test rotates) or `untrusted`.
    pub fn issuer(&self, name: &str) -> String {
        self.env[&format!("OIDC_ISSUER_{}", name.to_uppercase())].clone()
    }

    /// The audience the provider's tokens carry by default (the resource indicator).
    pub fn audience(&self) -> String {
        self.env["OIDC_AUDIENCE"].clone()
    }

    /// (secret, project claim) of a client: `workload-rs` (RS256), `workload-es` (ES256),
    /// `workload-short` (tokens live OIDC_SHORT_TTL seconds), `workload-noproject`.
    pub fn client(&self, id: &str) -> (String, String) {
        let v = &self.env[&format!("OIDC_CLIENT_{}", id.replace('-', "_").to_uppercase())];
        let mut it = v.splitn(3, ':');
        let (_, secret, project) = (it.next(), it.next().unwrap(), it.next().unwrap_or(""));
        (secret.to_string(), project.to_string())
    }

    /// A client-credentials access token (a JWT) of `client` from issuer `name`, for the
    /// default audience.
    pub async fn token(&self, name: &str, client: &str) -> String {
        self.token_for(name, client, None).await
    }

    /// The same, for the audience (resource indicator) `resource` when given.
    pub async fn token_for(&self, name: &str, client: &str, resource: Option<&str>) -> String {
        let (secret, _) = self.client(client);
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(r) = resource {
            form.push(("resource", r));
        }
        let r = self
            .http
            .post(format!("{}/token", self.issuer(name)))
            .basic_auth(client, Some(secret))
            .form(&form)
            .send()
            .await
            .expect("token endpoint");
        assert_eq!(r.status(), 200, "token for {client} from {name}: {:?}", r.text().await);
        let v: serde_json::Value = r.json().await.unwrap();
        v["access_token"].as_str().expect("access_token").to_string()
    }

    /// New signing keys (RS256 and ES256, new kids) at issuer `name`; the old ones stay in its
    /// JWKS. Returns the new kids.
    pub async fn rotate(&self, name: &str) -> Vec<String> {
        let r = self
            .http
            .post(format!("{}/admin/rotate?issuer={name}", self.env["OIDC_BASE"]))
            .bearer_auth(&self.env["OIDC_ADMIN_TOKEN"])
            .send()
            .await
            .expect("rotate");
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        v["kids"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()).collect()
    }

    /// The issuer's public JWKS.
    pub async fn jwks(&self, name: &str) -> serde_json::Value {
        let d: serde_json::Value = self
            .http
            .get(format!("{}/.well-known/openid-configuration", self.issuer(name)))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        self.http.get(d["jwks_uri"].as_str().unwrap()).send().await.unwrap().json().await.unwrap()
    }

    /// `[[oidc.issuers]]` trusting issuer `name` for the default audience, all its workloads
    /// in `project` (None: the project from the `portcullis_project` claim), with the legacy
    /// policy's `creator` role (the test servers run the legacy rules).
    pub fn issuer_conf(&self, name: &str, project: Option<&str>) -> IssuerConf {
        IssuerConf {
            issuer: self.issuer(name),
            audiences: vec![self.audience()],
            project: project.map(str::to_string),
            project_claim: if project.is_none() { Some("portcullis_project".into()) } else { None },
            subject_claim: "sub".into(),
            groups_claim: Some("groups".into()),
            roles: vec!["creator".into()],
            algorithms: vec!["RS256".into(), "ES256".into(), "EdDSA".into()],
            leeway_seconds: 30,
            jwks_refresh_min_seconds: 60,
        }
    }
}

/// The claims of a JWT (unverified; for building attack tokens from a real one).
pub fn payload(token: &str) -> serde_json::Value {
    use base64::Engine;
    let p = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
}

static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        LOG.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every server of this binary logs (at debug) into one buffer, so tests can look for tokens.
fn capture_log() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .try_init();
    });
}

/// The servers' log so far.
pub fn log() -> String {
    String::from_utf8_lossy(&LOG.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}

/// No token, nor its signature part, is in the servers' log.
pub fn assert_not_logged(tokens: &[&str]) {
    let log = log();
    for t in tokens {
        let sig = t.rsplit('.').next().unwrap_or(t);
        assert!(!log.contains(t), "a token is in the server log");
        assert!(sig.len() < 16 || !log.contains(sig), "a token's signature is in the server log");
    }
}

/// A Portcullis server (noauth base strategy, the legacy policy of the HTTP suites) that trusts
/// `issuers`.
pub async fn server(issuers: Vec<IssuerConf>) -> crate::common::TestServer {
    capture_log();
    crate::common::start_with(move |c| {
        c.oidc.issuers = issuers;
        c.oidc.http_timeout_seconds = 2;
    })
    .await
}

/// A request with a bearer token (no noauth headers).
pub fn bearer(s: &crate::common::TestServer, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
    s.http.request(method, s.url(path)).bearer_auth(token)
}

/// Asserts the OIDC 401: RFC 6750's challenge, a JSON body that does not echo the token.
pub async fn assert_401(r: reqwest::Response, token: &str) {
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers().get("www-authenticate").and_then(|v| v.to_str().ok()), Some(r#"Bearer error="invalid_token""#));
    let body = r.text().await.unwrap();
    assert!(body.contains("requires authentication"), "{body}");
    let sig = token.rsplit('.').next().unwrap_or(token);
    assert!(!body.contains(token) && (sig.len() < 8 || !body.contains(sig)), "the 401 body holds the token");
}
