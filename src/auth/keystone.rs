//! Keystone token validation with keystonemiddleware's behaviour (§3.1).
//!
//! `X-Auth-Token` (and an optional `X-Service-Token`) are validated by
//! `GET {auth_url}/v3/auth/tokens?nocatalog` with the service user's own token, which is fetched
//! and renewed before it expires. Results are cached in-process until the token's expiry or the
//! configured TTL, whichever is first, in a bounded cache; concurrent requests with the same new
//! token share one call to Keystone.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::capped::{self, without_url};
use super::RequestContext;
use crate::cache::Expiring;
use crate::config::KeystoneSection;

/// Why a token did not give a context.
#[derive(Debug, Clone, PartialEq)]
pub enum KsFailure {
    /// Missing, malformed, expired, revoked: keystonemiddleware's 401.
    Invalid,
    /// Keystone could not be asked (down, timeout, 5xx, our own credentials refused): 503.
    Unavailable(String),
}

/// The facts of a validated token that the request context needs.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub user_id: Option<String>,
    pub user_domain_id: Option<String>,
    pub project_id: Option<String>,
    pub project_domain_id: Option<String>,
    pub domain_id: Option<String>,
    pub system_scope: Option<String>,
    pub roles: Vec<String>,
    pub is_admin_project: bool,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Deserialize)]
struct TokenEnvelope {
    token: TokenBody,
}

#[derive(Deserialize)]
struct IdDomain {
    id: Option<String>,
    domain: Option<Box<IdDomain>>,
}

#[derive(Deserialize)]
struct RoleRef {
    name: String,
}

#[derive(Deserialize)]
struct TokenBody {
    user: Option<IdDomain>,
    project: Option<IdDomain>,
    domain: Option<IdDomain>,
    system: Option<HashMap<String, serde_json::Value>>,
    #[serde(default)]
    roles: Vec<RoleRef>,
    is_admin_project: Option<bool>,
    expires_at: Option<String>,
}

impl From<TokenBody> for TokenInfo {
    fn from(t: TokenBody) -> TokenInfo {
        let dom = |x: &Option<IdDomain>| x.as_ref().and_then(|u| u.domain.as_ref()).and_then(|d| d.id.clone());
        TokenInfo {
            user_id: t.user.as_ref().and_then(|u| u.id.clone()),
            user_domain_id: dom(&t.user),
            project_id: t.project.as_ref().and_then(|p| p.id.clone()),
            project_domain_id: dom(&t.project),
            domain_id: t.domain.as_ref().and_then(|d| d.id.clone()),
            system_scope: t.system.as_ref().map(|s| {
                if s.get("all").and_then(|v| v.as_bool()) == Some(true) { "all".to_string() } else { "system".to_string() }
            }),
            roles: t.roles.into_iter().map(|r| r.name).collect(),
            is_admin_project: t.is_admin_project.unwrap_or(true),
            expires_at: t
                .expires_at
                .and_then(|e| chrono::DateTime::parse_from_rfc3339(&e).ok())
                .map(|d| d.with_timezone(&chrono::Utc)),
        }
    }
}

type Key = [u8; 32];
type Outcome = Result<Arc<TokenInfo>, KsFailure>;

struct ServiceToken {
    token: String,
    renew_at: Instant,
}

pub struct KeystoneAuth {
    cfg: KeystoneSection,
    http: reqwest::Client,
    service: tokio::sync::Mutex<Option<ServiceToken>>,
    /// Outcomes by SHA-256 of the token (the token itself is not kept), bounded by
    /// `cache_size`; loads are single-flight.
    cache: Expiring<Key, Outcome>,
    /// Calls made to Keystone's validation API (for tests and metrics).
    pub validations: std::sync::atomic::AtomicU64,
}

fn key(token: &str) -> Key {
    Sha256::digest(token.as_bytes()).into()
}

impl KeystoneAuth {
    pub fn new(cfg: KeystoneSection) -> Result<KeystoneAuth, String> {
        if cfg.auth_url.trim().is_empty() {
            return Err("[keystone_authtoken] auth_url is required with [auth] strategy = \"keystone\"".into());
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs_f64(cfg.http_request_timeout.max(0.1)))
            .connect_timeout(Duration::from_secs_f64(cfg.http_connect_timeout.max(0.1)))
            .pool_max_idle_per_host(8)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(KeystoneAuth {
            cache: Expiring::new(cfg.cache_size),
            cfg,
            http,
            service: tokio::sync::Mutex::new(None),
            validations: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// `WWW-Authenticate` value of 401s.
    pub fn www_authenticate(&self) -> String {
        let uri = if self.cfg.www_authenticate_uri.is_empty() { &self.cfg.auth_url } else { &self.cfg.www_authenticate_uri };
        format!("Keystone uri=\"{uri}\"")
    }

    fn base(&self) -> String {
        let u = self.cfg.auth_url.trim_end_matches('/');
        if u.ends_with("/v3") { u.to_string() } else { format!("{u}/v3") }
    }

    /// Readiness: Keystone answers its version document, and the service user has (or gets) a
    /// token. The error names which, without the URL's or the user's details.
    pub async fn reachable(&self) -> Result<(), &'static str> {
        match self.http.get(self.base()).send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => {
                tracing::warn!(status = %r.status(), "readiness: Keystone's version document");
                return Err("keystone answers with an error");
            }
            Err(e) => {
                tracing::warn!(error = %without_url(&e), "readiness: Keystone is unreachable");
                return Err("keystone is unreachable");
            }
        }
        self.service_token(false).await.map(|_| ()).map_err(|e| {
            tracing::warn!(error = ?e, "readiness: the service user has no token");
            "the service user cannot get a token"
        })
    }

    /// The service user's token, fetched or renewed when needed.
    async fn service_token(&self, force: bool) -> Result<String, KsFailure> {
        let mut guard = self.service.lock().await;
        if let Some(t) = guard.as_ref() {
            if !force && Instant::now() < t.renew_at {
                return Ok(t.token.clone());
            }
        }
        let body = serde_json::json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": self.cfg.username,
                "domain": {"name": self.cfg.user_domain_name},
                "password": self.cfg.password}}},
            "scope": {"project": {"name": self.cfg.project_name, "domain": {"name": self.cfg.project_domain_name}}}
        }});
        let started = std::time::Instant::now();
        let r = self.http.post(format!("{}/auth/tokens?nocatalog", self.base())).json(&body).send().await;
        let m = crate::telemetry::metrics::get();
        if let Some(m) = m {
            m.keystone_service_token.record(started.elapsed().as_secs_f64());
        }
        let r = r.map_err(|e| {
            if let Some(m) = m {
                m.keystone_failure("service_token", "unreachable");
            }
            KsFailure::Unavailable(format!("Keystone at {} is unreachable: {}", self.cfg.auth_url, without_url(&e)))
        })?;
        if !r.status().is_success() {
            if let Some(m) = m {
                m.keystone_failure("service_token", "status");
            }
            return Err(KsFailure::Unavailable(format!(
                "Keystone refused the service user '{}' ({}): check [keystone_authtoken]",
                self.cfg.username,
                r.status()
            )));
        }
        let token = r
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| KsFailure::Unavailable("Keystone sent no X-Subject-Token".into()))?;
        let env: TokenEnvelope = capped::json(r, capped::MAX_BODY).await.map_err(|e| KsFailure::Unavailable(format!("Keystone token body: {e}")))?;
        let info = TokenInfo::from(env.token);
        // Renew a minute before expiry (or after 10 minutes when Keystone gives no expiry).
        let life = info
            .expires_at
            .map(|e| (e - chrono::Utc::now()).to_std().unwrap_or_default())
            .unwrap_or(Duration::from_secs(600));
        let renew_at = Instant::now() + life.saturating_sub(Duration::from_secs(60));
        *guard = Some(ServiceToken { token: token.clone(), renew_at });
        Ok(token)
    }

    async fn fetch(&self, token: &str) -> Outcome {
        self.validations.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut retried = false;
        loop {
            let st = self.service_token(retried).await?;
            let started = std::time::Instant::now();
            let r = self
                .http
                .get(format!("{}/auth/tokens?nocatalog", self.base()))
                .header("X-Auth-Token", st)
                .header("X-Subject-Token", token)
                .send()
                .await;
            let m = crate::telemetry::metrics::get();
            if let Some(m) = m {
                m.keystone_validate.record(started.elapsed().as_secs_f64());
            }
            let r = r.map_err(|e| {
                if let Some(m) = m {
                    m.keystone_failure("validate_token", "unreachable");
                }
                KsFailure::Unavailable(format!("Keystone at {} is unreachable: {}", self.cfg.auth_url, without_url(&e)))
            })?;
            if let (Some(m), 500..) = (m, r.status().as_u16()) {
                m.keystone_failure("validate_token", "status");
            }
            match r.status().as_u16() {
                200 => {
                    let env: TokenEnvelope = capped::json(r, capped::MAX_BODY)
                        .await
                        .map_err(|e| KsFailure::Unavailable(format!("Keystone token body: {e}")))?;
                    return Ok(Arc::new(TokenInfo::from(env.token)));
                }
                // Our own token was refused (expired, revoked): renew once.
                401 if !retried => retried = true,
                400 | 403 | 404 => return Err(KsFailure::Invalid),
                s => return Err(KsFailure::Unavailable(format!("Keystone answered {s} to token validation"))),
            }
        }
    }

    /// Validates a token, through the cache; concurrent callers with the same token share one
    /// Keystone call (an outage's 503 too, which is not kept).
    pub async fn validate(&self, token: &str) -> Outcome {
        if token.is_empty() || token.len() > 8192 {
            return Err(KsFailure::Invalid);
        }
        let (out, hit) = self
            .cache
            .get_or_load_hit(&key(token), || async {
                let out = self.fetch(token).await;
                let ttl = self.ttl(&out);
                (out, ttl)
            })
            .await;
        if let Some(m) = crate::telemetry::metrics::get() {
            if hit { m.token_cache_hit.increment(1) } else { m.token_cache_miss.increment(1) }
        }
        out
    }

    /// How long an outcome is kept: never past the token's expiry nor `token_cache_time`.
    fn ttl(&self, out: &Outcome) -> Duration {
        if self.cfg.token_cache_time == 0 {
            return Duration::ZERO;
        }
        let cfg_ttl = Duration::from_secs(self.cfg.token_cache_time);
        match out {
            Ok(info) => match info.expires_at {
                Some(e) => (e - chrono::Utc::now()).to_std().unwrap_or_default().min(cfg_ttl),
                None => cfg_ttl,
            },
            // Invalid tokens are remembered briefly (keystonemiddleware's negative cache);
            // outages are not cached, so recovery is immediate.
            Err(KsFailure::Invalid) => Duration::from_secs(self.cfg.token_cache_time.min(10)),
            Err(KsFailure::Unavailable(_)) => Duration::ZERO,
        }
    }

    /// keystonemiddleware + Barbican's context middleware: a context, or why not.
    pub async fn context(
        &self,
        user_token: Option<&str>,
        service_token: Option<&str>,
    ) -> Result<Result<RequestContext, ()>, KsFailure> {
        let user = self.validate(user_token.ok_or(KsFailure::Invalid)?).await?;
        let service = match service_token {
            Some(t) => Some(self.validate(t).await?),
            None => None,
        };
        if let Some(s) = &service {
            let need = &self.cfg.service_token_roles;
            if self.cfg.service_token_roles_required
                && !s.roles.iter().any(|r| need.iter().any(|n| n.eq_ignore_ascii_case(r)))
            {
                return Err(KsFailure::Invalid);
            }
        }
        let Some(project_id) = user.project_id.clone() else {
            return Ok(Err(())); // Barbican serves project-scoped tokens only → 401
        };
        Ok(Ok(RequestContext {
            user_id: user.user_id.clone(),
            project_id: Some(project_id),
            roles: user.roles.clone(),
            system_scope: user.system_scope.clone(),
            domain_id: user.domain_id.clone(),
            user_domain_id: user.user_domain_id.clone(),
            project_domain_id: user.project_domain_id.clone(),
            is_admin_project: user.is_admin_project,
            service_roles: service.map(|s| s.roles.clone()).unwrap_or_default(),
            client_cert: None,
            workload: None,
        }))
    }
}
