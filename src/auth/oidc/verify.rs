//! The steps of a token's check: the unverified issuer, the header, then signature and claims.

use base64::Engine;
use jsonwebtoken::{Algorithm, AlgorithmFamily, Validation};
use serde_json::{Map, Value};

use super::config::MAX_CLAIM_LEN;
use super::keys::{Issuer, VerifyKey};
use super::{OidcFailure, Validated};
use crate::auth::WorkloadIdentity;

const MALFORMED: OidcFailure = OidcFailure::Invalid("not a signed JWT");
/// Most groups taken from a token.
const MAX_GROUPS: usize = 256;

/// The payload's `iss`, before any check: only to pick the issuer whose keys verify the rest.
pub fn unverified_issuer(token: &str) -> Result<String, OidcFailure> {
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(MALFORMED);
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).map_err(|_| MALFORMED)?;
    #[derive(serde::Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    let iss: Iss = serde_json::from_slice(&bytes).map_err(|_| MALFORMED)?;
    iss.iss.ok_or(OidcFailure::Invalid("no iss claim"))
}

/// The header's `kid` and `alg`, if the algorithm is one the issuer allows (never HMAC; `none`
/// is no algorithm at all and fails to parse).
pub fn header(token: &str, issuer: &Issuer) -> Result<(Option<String>, Algorithm), OidcFailure> {
    let h = jsonwebtoken::decode_header(token).map_err(|_| OidcFailure::Invalid("malformed header or unknown algorithm"))?;
    if h.alg.family() == AlgorithmFamily::Hmac || !issuer.algorithms.contains(&h.alg) {
        return Err(OidcFailure::Invalid("algorithm not allowed for this issuer"));
    }
    Ok((h.kid, h.alg))
}

/// Signature, `iss`, `aud`, `exp`, `nbf`; then the claim mapping.
pub fn claims(token: &str, alg: Algorithm, key: &VerifyKey, issuer: &Issuer) -> Result<Validated, OidcFailure> {
    if !key.accepts(alg) {
        return Err(OidcFailure::Invalid("the algorithm does not match the key"));
    }
    let conf = &issuer.conf;
    let mut v = Validation::new(alg);
    v.algorithms = vec![alg];
    v.leeway = conf.leeway_seconds;
    v.validate_exp = true;
    v.validate_nbf = true;
    v.set_issuer(&[&conf.issuer]);
    v.set_audience(&conf.audiences);
    v.set_required_spec_claims(&["exp", "iss", "aud"]);
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &v).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind as K;
        OidcFailure::Invalid(match e.kind() {
            K::InvalidSignature => "bad signature",
            K::ExpiredSignature => "expired",
            K::ImmatureSignature => "not valid yet (nbf)",
            K::InvalidAudience => "wrong audience",
            K::InvalidIssuer => "wrong issuer",
            K::MissingRequiredClaim(_) => "a required claim (exp, iss, aud) is missing",
            K::InvalidAlgorithm => "the algorithm does not match the key",
            _ => "invalid token",
        })
    })?;
    let c = data.claims;
    let subject = string_claim(&c, &conf.subject_claim).ok_or(OidcFailure::Invalid("no usable subject claim"))?;
    let project = match (&conf.project, &conf.project_claim) {
        (Some(p), _) => p.clone(),
        (None, Some(claim)) => string_claim(&c, claim).ok_or(OidcFailure::Invalid("no usable project claim"))?,
        (None, None) => return Err(OidcFailure::Invalid("no project mapping")),
    };
    let groups = match &conf.groups_claim {
        None => Vec::new(),
        Some(g) => match c.get(g) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => {
                let groups: Vec<String> = a.iter().filter_map(|v| v.as_str()).filter(|s| usable(s)).map(str::to_string).collect();
                if groups.len() != a.len() || groups.len() > MAX_GROUPS {
                    return Err(OidcFailure::Invalid("the groups claim is not a list of names"));
                }
                groups
            }
            Some(_) => return Err(OidcFailure::Invalid("the groups claim is not a list of names")),
        },
    };
    let exp = c.get("exp").and_then(Value::as_u64).ok_or(OidcFailure::Invalid("exp is not a number"))?;
    Ok(Validated {
        identity: std::sync::Arc::new(WorkloadIdentity { issuer: conf.issuer.clone(), subject, groups }),
        project,
        roles: conf.roles.iter().map(|r| r.to_lowercase()).collect(),
        exp,
    })
}

/// A string claim fit for an identity column: 1 to 255 characters, no NUL.
fn string_claim(c: &Map<String, Value>, name: &str) -> Option<String> {
    c.get(name).and_then(Value::as_str).filter(|s| usable(s)).map(str::to_string)
}

fn usable(s: &str) -> bool {
    !s.trim().is_empty() && s.len() <= MAX_CLAIM_LEN && !s.contains('\0')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(v: &serde_json::Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[test]
    fn issuer_is_read_from_the_payload_only() {
        let t = format!("{}.{}.sig", b64(&serde_json::json!({"alg": "RS256"})), b64(&serde_json::json!({"iss": "https://i"})));
        assert_eq!(unverified_issuer(&t).unwrap(), "https://i");
        assert_eq!(unverified_issuer("a.b").unwrap_err(), MALFORMED);
        assert_eq!(unverified_issuer("a.b.c.d").unwrap_err(), MALFORMED);
        assert_eq!(unverified_issuer("x.!!.y").unwrap_err(), MALFORMED);
        let no_iss = format!("h.{}.s", b64(&serde_json::json!({"sub": "x"})));
        assert!(unverified_issuer(&no_iss).is_err());
    }

    #[test]
    fn header_refuses_hmac_none_and_unlisted_algorithms() {
        let conf: super::super::config::IssuerConf = toml::from_str(
            "issuer = \"https://i\"\naudiences = [\"a\"]\nproject = \"p\"\nalgorithms = [\"ES256\"]\n",
        )
        .unwrap();
        let issuer = Issuer::new(conf);
        let tok = |alg: &str| format!("{}.{}.c2ln", b64(&serde_json::json!({"alg": alg, "kid": "k"})), b64(&serde_json::json!({"iss": "https://i"})));
        assert_eq!(header(&tok("ES256"), &issuer).unwrap(), (Some("k".to_string()), Algorithm::ES256));
        for alg in ["HS256", "HS512", "none", "None", "RS256", "PS256", "EdDSA", ""] {
            assert!(header(&tok(alg), &issuer).is_err(), "{alg}");
        }
    }
}
