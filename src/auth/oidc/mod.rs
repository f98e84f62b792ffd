//! OIDC/JWT workload identity: `Authorization: Bearer <jwt>` from a trusted issuer (`[oidc]`).
//!
//! The unverified payload is read only for its `iss`, to pick a trusted issuer; then the
//! signature is checked with the issuer's JWK named by `kid` (the algorithm must be one the
//! issuer allows AND the key's own type: HMAC and `none` never pass), then `iss`, `aud`, `exp`
//! and `nbf` (with the issuer's leeway). A valid token becomes a [`RequestContext`] with a
//! [`WorkloadIdentity`]; see [`OidcAuth::context`] for the mapping. Valid tokens are cached by
//! their SHA-256 until they expire; refusals are not cached.

pub mod config;
pub mod keys;
mod verify;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{RequestContext, WorkloadIdentity};
use crate::cache::Expiring;
use config::OidcSection;
use keys::Issuer;

/// Why a bearer token did not give a context. The reasons are fixed texts for the log: they
/// never contain the token nor anything taken from it.
#[derive(Debug, Clone, PartialEq)]
pub enum OidcFailure {
    /// Malformed, untrusted issuer, bad signature, wrong audience, expired, ...: 401.
    Invalid(&'static str),
    /// The issuer's keys could not be fetched (discovery or JWKS down): 503.
    Unavailable(String),
}

/// A validated token: what the request context is made of.
#[derive(Debug)]
pub struct Validated {
    pub identity: Arc<WorkloadIdentity>,
    pub project: String,
    pub roles: Vec<String>,
    /// `exp`, seconds since the epoch.
    pub exp: u64,
}

type Outcome = Result<Arc<Validated>, OidcFailure>;

/// Longest bearer token looked at.
const MAX_TOKEN: usize = 16 * 1024;
/// A validated token is kept at most this long, whatever its `exp`.
const MAX_CACHE_TIME: Duration = Duration::from_secs(3600);

pub struct OidcAuth {
    issuers: HashMap<String, Arc<Issuer>>,
    http: reqwest::Client,
    cache: Expiring<[u8; 32], Outcome>,
    /// Signature verifications made (cache misses that reached a key), for tests and metrics.
    pub verifications: std::sync::atomic::AtomicU64,
}

impl OidcAuth {
    /// None when no issuer is configured.
    pub fn new(section: &OidcSection) -> Result<Option<OidcAuth>, String> {
        section.validate()?;
        if section.issuers.is_empty() {
            return Ok(None);
        }
        let timeout = Duration::from_secs(section.http_timeout_seconds.max(1));
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A discovery or JWKS URL that redirects elsewhere is not followed (SSRF).
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        let issuers = section.issuers.iter().map(|c| (c.issuer.clone(), Arc::new(Issuer::new(c.clone())))).collect();
        Ok(Some(OidcAuth {
            issuers,
            http,
            cache: Expiring::new(section.cache_size),
            verifications: std::sync::atomic::AtomicU64::new(0),
        }))
    }

    /// The trusted issuers' URLs.
    pub fn issuers(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.issuers.keys().map(String::as_str).collect();
        v.sort();
        v
    }

    /// JWKS fetches made for an issuer (tests).
    pub fn jwks_fetches(&self, issuer: &str) -> u64 {
        self.issuers.get(issuer).map_or(0, |i| i.fetches.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Validates a bearer token, through the cache (concurrent requests with the same new token
    /// share one verification).
    pub async fn validate(&self, token: &str) -> Outcome {
        if token.is_empty() || token.len() > MAX_TOKEN {
            return Err(OidcFailure::Invalid("empty or oversized token"));
        }
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.cache
            .get_or_load(&key, || async {
                let out = self.verify(token).await;
                let ttl = match &out {
                    Ok(v) => {
                        let now = jsonwebtoken::get_current_timestamp();
                        Duration::from_secs(v.exp.saturating_sub(now)).min(MAX_CACHE_TIME)
                    }
                    // Refusals are not kept: a token refused for an unknown key id may pass
                    // after the next JWKS refresh, and an outage ends.
                    Err(_) => Duration::ZERO,
                };
                (out, ttl)
            })
            .await
    }

    async fn verify(&self, token: &str) -> Outcome {
        let iss = verify::unverified_issuer(token)?;
        let issuer = self.issuers.get(&iss).ok_or(OidcFailure::Invalid("untrusted issuer"))?;
        let (kid, alg) = verify::header(token, issuer)?;
        let key = issuer.key(kid.as_deref(), alg, &self.http).await?;
        self.verifications.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        verify::claims(token, alg, &key, issuer).map(Arc::new)
    }

    /// The request context of a valid token: `user_id` = the subject (so Barbican's creator
    /// checks and per-user ACLs see the workload, and a secret it creates has it as creator),
    /// `project_id` from the issuer's `project` or `project_claim`, `roles` from its `roles`,
    /// `is_admin_project = false`, no system or domain scope, and `workload` set.
    pub async fn context(&self, token: &str) -> Result<RequestContext, OidcFailure> {
        let v = self.validate(token).await?;
        Ok(RequestContext {
            user_id: Some(v.identity.subject.clone()),
            project_id: Some(v.project.clone()),
            roles: v.roles.clone(),
            is_admin_project: false,
            workload: Some(v.identity.clone()),
            ..RequestContext::default()
        })
    }
}
