//! One trusted issuer's signing keys: discovery and the JWKS, fetched lazily on the first token
//! and again when a token names a key id the set does not have, at most once per
//! `jwks_refresh_min_seconds`, and when the set is an hour old. A failed fetch is retried by a
//! later token (after a short pause, so that a dead issuer is not asked on every request); it
//! never blocks other traffic.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use openidconnect::core::CoreJsonWebKeySet;
use serde::Deserialize;

use super::config::IssuerConf;
use crate::auth::capped::{self, without_url as cause};
use super::OidcFailure;

/// After a failed discovery or JWKS fetch, tokens of that issuer get 503 without a new attempt
/// for this long (or `jwks_refresh_min_seconds`, if shorter).
const FAILED_FETCH_PAUSE: Duration = Duration::from_secs(5);

/// A JWKS this old is fetched again on the next token even when it knows the `kid`, so that a
/// key the issuer withdrew stops verifying (if the issuer is down then, the old set stays).
const JWKS_MAX_AGE: Duration = Duration::from_secs(3600);

/// The curve or key type a JWK is for; an algorithm is used only with its own kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

/// Whether `alg` is a signature algorithm of keys of `kind` (refuses every confusion: HMAC
/// with any public key, ES384 with a P-256 key, RS256 with an EC key, ...).
pub fn fits(alg: Algorithm, kind: KeyKind) -> bool {
    use Algorithm::*;
    matches!(
        (alg, kind),
        (RS256 | RS384 | RS512 | PS256 | PS384 | PS512, KeyKind::Rsa)
            | (ES256, KeyKind::P256)
            | (ES384, KeyKind::P384)
            | (EdDSA, KeyKind::Ed25519)
    )
}

/// A public key of the issuer's JWKS, usable for signatures.
pub struct VerifyKey {
    pub kid: Option<String>,
    /// The JWK's own `alg`, when it names one.
    pub alg: Option<Algorithm>,
    pub kind: KeyKind,
    pub key: DecodingKey,
}

impl VerifyKey {
    /// From a JWK, or None for keys that cannot verify signatures here (encryption keys,
    /// symmetric `oct` keys, unsupported curves).
    pub fn from_jwk(jwk: &Jwk) -> Option<VerifyKey> {
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption) | Some(PublicKeyUse::Other(_))) {
            return None;
        }
        let kind = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => KeyKind::Rsa,
            AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => KeyKind::P256,
            AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P384 => KeyKind::P384,
            AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => KeyKind::Ed25519,
            _ => return None,
        };
        let alg = match jwk.common.key_algorithm {
            Some(a) => Some(a.to_string().parse::<Algorithm>().ok().filter(|a| fits(*a, kind))?),
            None => None,
        };
        let key = DecodingKey::from_jwk(jwk).ok()?;
        Some(VerifyKey { kid: jwk.common.key_id.clone(), alg, kind, key })
    }

    /// May this key check a signature made with `alg`?
    pub fn accepts(&self, alg: Algorithm) -> bool {
        fits(alg, self.kind) && self.alg.is_none_or(|a| a == alg)
    }
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

#[derive(Default)]
struct FetchState {
    jwks_uri: Option<String>,
    last_ok: Option<Instant>,
    last_failure: Option<(Instant, String)>,
}

/// A trusted issuer: its settings and its keys.
pub struct Issuer {
    pub conf: IssuerConf,
    pub algorithms: Vec<Algorithm>,
    /// The keys and when they were fetched.
    keys: parking_lot::RwLock<(Arc<Vec<Arc<VerifyKey>>>, Option<Instant>)>,
    fetch: tokio::sync::Mutex<FetchState>,
    /// JWKS fetches made (successful or not), for tests and metrics.
    pub fetches: std::sync::atomic::AtomicU64,
}

impl Issuer {
    pub fn new(conf: IssuerConf) -> Issuer {
        let algorithms = conf.algorithms.iter().filter_map(|a| a.parse().ok()).collect();
        Issuer {
            conf,
            algorithms,
            keys: parking_lot::RwLock::new((Arc::new(Vec::new()), None)),
            fetch: tokio::sync::Mutex::new(FetchState::default()),
            fetches: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The key for a token's `kid` (or, without one, the only key that fits `alg`).
    fn find(&self, kid: Option<&str>) -> Option<Arc<VerifyKey>> {
        let keys = self.keys.read().0.clone();
        match kid {
            Some(kid) => keys.iter().find(|k| k.kid.as_deref() == Some(kid)).cloned(),
            None if keys.len() == 1 => keys.first().cloned(),
            None => None,
        }
    }

    /// The key to check a token signed with `alg` under `kid`, fetching discovery and the JWKS
    /// when the key is not known and the refresh rule allows it.
    pub async fn key(&self, kid: Option<&str>, alg: Algorithm, http: &reqwest::Client) -> Result<Arc<VerifyKey>, OidcFailure> {
        let checked = |k: Arc<VerifyKey>| {
            if k.accepts(alg) { Ok(k) } else { Err(OidcFailure::Invalid("the algorithm does not match the key")) }
        };
        let fresh = || self.keys.read().1.is_some_and(|t| t.elapsed() < JWKS_MAX_AGE);
        if let (Some(k), true) = (self.find(kid), fresh()) {
            return checked(k);
        }
        let mut st = self.fetch.lock().await;
        // Another request may have refreshed while this one waited.
        let known = self.find(kid);
        if let (Some(k), true) = (&known, fresh()) {
            return checked(k.clone());
        }
        // Here the kid is unknown, or the set is older than JWKS_MAX_AGE (then `known` may be
        // used when no fetch is allowed or the fetch fails).
        let now = Instant::now();
        let min = Duration::from_secs(self.conf.jwks_refresh_min_seconds);
        if st.last_ok.is_some_and(|t| now.duration_since(t) < min) {
            return match known {
                Some(k) => checked(k),
                None => Err(OidcFailure::Invalid("unknown key id (the JWKS was fetched recently)")),
            };
        }
        if let Some((t, why)) = &st.last_failure {
            if now.duration_since(*t) < FAILED_FETCH_PAUSE.min(min) {
                return match known {
                    Some(k) => checked(k),
                    None => Err(OidcFailure::Unavailable(why.clone())),
                };
            }
        }
        self.fetches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match self.fetch_keys(&mut st, http).await {
            Ok(keys) => {
                tracing::info!(issuer = %self.conf.issuer, keys = keys.len(), "fetched the issuer's JWKS");
                *self.keys.write() = (Arc::new(keys), Some(Instant::now()));
                st.last_ok = Some(Instant::now());
                st.last_failure = None;
            }
            Err(why) => {
                tracing::warn!(issuer = %self.conf.issuer, error = %why, "cannot fetch the issuer's keys");
                st.last_failure = Some((Instant::now(), why.clone()));
                return match known {
                    Some(k) => checked(k),
                    None => Err(OidcFailure::Unavailable(why)),
                };
            }
        }
        drop(st);
        match self.find(kid) {
            Some(k) => checked(k),
            None => Err(OidcFailure::Invalid("unknown key id")),
        }
    }

    /// Discovery (once it succeeded, the JWKS URL is kept) and the JWKS (parsed by `openidconnect`),
    /// each body at most `capped::MAX_BODY`.
    async fn fetch_keys(&self, st: &mut FetchState, http: &reqwest::Client) -> Result<Vec<Arc<VerifyKey>>, String> {
        let jwks_uri = match &st.jwks_uri {
            Some(u) => u.clone(),
            None => {
                let u = self.discover(http).await?;
                st.jwks_uri = Some(u.clone());
                u
            }
        };
        let r = http.get(&jwks_uri).header("Accept", "application/json").send().await.map_err(|e| format!("JWKS: {}", cause(&e)))?;
        if !r.status().is_success() {
            return Err(format!("JWKS: HTTP {}", r.status()));
        }
        let set: CoreJsonWebKeySet = capped::json(r, capped::MAX_BODY).await.map_err(|e| format!("JWKS: {e}"))?;
        let keys: Vec<Arc<VerifyKey>> = set
            .keys()
            .iter()
            .filter_map(|k| serde_json::to_value(k).ok())
            .filter_map(|v| serde_json::from_value::<Jwk>(v).ok())
            .filter_map(|j| VerifyKey::from_jwk(&j))
            .map(Arc::new)
            .collect();
        if keys.is_empty() {
            return Err("the JWKS has no signature key usable here".into());
        }
        Ok(keys)
    }

    /// `<issuer>/.well-known/openid-configuration`: its `issuer` must be ours exactly; the
    /// `jwks_uri` must be https (or http on loopback, like the issuer). Only these two fields are
    /// read: Kubernetes' service-account issuer publishes no authorization endpoint, which
    /// `openidconnect`'s full provider metadata requires.
    async fn discover(&self, http: &reqwest::Client) -> Result<String, String> {
        let url = format!("{}/.well-known/openid-configuration", self.conf.issuer.trim_end_matches('/'));
        let r = http.get(&url).header("Accept", "application/json").send().await.map_err(|e| format!("discovery: {}", cause(&e)))?;
        if !r.status().is_success() {
            return Err(format!("discovery: HTTP {}", r.status()));
        }
        let d: Discovery = capped::json(r, capped::MAX_BODY).await.map_err(|e| format!("discovery document: {e}"))?;
        if d.issuer != self.conf.issuer {
            return Err(format!("discovery names issuer {:?}, not the configured one", d.issuer));
        }
        let ju = url::Url::parse(&d.jwks_uri).map_err(|e| format!("jwks_uri: {e}"))?;
        let loopback = match ju.host() {
            Some(url::Host::Ipv4(a)) => a.is_loopback(),
            Some(url::Host::Ipv6(a)) => a.is_loopback(),
            Some(url::Host::Domain(h)) => h.eq_ignore_ascii_case("localhost"),
            None => false,
        };
        if !(ju.scheme() == "https" || (ju.scheme() == "http" && loopback)) {
            return Err("jwks_uri must be https (http only on loopback)".into());
        }
        Ok(d.jwks_uri)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwk(v: serde_json::Value) -> Option<VerifyKey> {
        VerifyKey::from_jwk(&serde_json::from_value::<Jwk>(v).unwrap())
    }

    #[test]
    fn keys_accept_only_their_own_algorithms() {
        let rsa = jwk(serde_json::json!({"kty": "RSA", "kid": "r", "use": "sig", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"})).unwrap();
        assert_eq!(rsa.kind, KeyKind::Rsa);
        assert!(rsa.accepts(Algorithm::RS256) && rsa.accepts(Algorithm::PS256));
        for a in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512, Algorithm::ES256, Algorithm::EdDSA] {
            assert!(!rsa.accepts(a), "{a:?} with an RSA key");
        }
        let ec = jwk(serde_json::json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})).unwrap();
        assert!(ec.accepts(Algorithm::ES256));
        assert!(!ec.accepts(Algorithm::ES384) && !ec.accepts(Algorithm::RS256) && !ec.accepts(Algorithm::HS256));
        // A JWK whose alg names another algorithm restricts it to that one; an alg that does
        // not fit the key type makes the key unusable.
        let rs384_only = jwk(serde_json::json!({"kty": "RSA", "alg": "RS384", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"})).unwrap();
        assert!(rs384_only.accepts(Algorithm::RS384) && !rs384_only.accepts(Algorithm::RS256));
        assert!(jwk(serde_json::json!({"kty": "EC", "crv": "P-256", "alg": "HS256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})).is_none());
        // Symmetric keys and encryption keys are never signature keys here.
        assert!(jwk(serde_json::json!({"kty": "oct", "k": "c2VjcmV0"})).is_none());
        assert!(jwk(serde_json::json!({"kty": "EC", "crv": "P-256", "use": "enc", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})).is_none());
    }
}
