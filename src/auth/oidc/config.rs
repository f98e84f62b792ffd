//! `[oidc]`: the OIDC issuers whose JWTs Portcullis accepts as workload identities.
//!
//! ```toml
//! [oidc]
//! cache_size = 10000           # validated tokens kept (by SHA-256), each until its exp
//! http_timeout_seconds = 5     # discovery and JWKS requests
//!
//! [[oidc.issuers]]
//! issuer = "https://kubernetes.default.svc"   # the exact `iss`; discovery at
//!                                             # <issuer>/.well-known/openid-configuration
//! audiences = ["portcullis"]                  # required: the token's aud must name one
//! project = "4f1c..."                         # every workload of this issuer in one project,
//! # project_claim = "portcullis_project"      # or the project from a claim (exactly one of both)
//! subject_claim = "sub"                       # default
//! groups_claim = "groups"                     # optional
//! roles = ["member"]                          # Keystone-style roles for the oslo policy
//! algorithms = ["RS256", "ES256", "EdDSA"]    # default; HS* and none are never accepted
//! leeway_seconds = 30                         # exp/nbf
//! jwks_refresh_min_seconds = 60               # an unknown kid refetches the JWKS at most this often
//! ```
//!
//! The issuer must be `https://`; `http://` is accepted only with a loopback host (127.0.0.0/8,
//! ::1, localhost), for tests and a local proxy. Environment overrides
//! (`PORTCULLIS_OIDC__CACHE_SIZE=...`) work for the section's scalar options; an array of tables
//! can be given whole as a TOML inline value, e.g.
//! `PORTCULLIS_OIDC__ISSUERS='[{issuer = "https://i.example", audiences = ["kms"], project = "p"}]'`,
//! which replaces the file's list (no per-issuer override).

use serde::Deserialize;

/// Algorithms never accepted, whatever the configuration says: HMAC would turn the issuer's
/// public key into a shared secret (the algorithm-confusion attack); `none` signs nothing.
pub const FORBIDDEN_ALGORITHMS: &[&str] = &["HS256", "HS384", "HS512", "none"];

/// Longest subject, project and group name taken from a token (the width of Barbican's
/// project and creator columns).
pub const MAX_CLAIM_LEN: usize = 255;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcSection {
    pub issuers: Vec<IssuerConf>,
    /// Validated tokens kept in memory (keyed by their SHA-256, never the token), each until
    /// its `exp`.
    pub cache_size: usize,
    /// Seconds a discovery or JWKS request may take (connect included).
    pub http_timeout_seconds: u64,
}

impl Default for OidcSection {
    fn default() -> Self {
        OidcSection { issuers: Vec::new(), cache_size: 10_000, http_timeout_seconds: 5 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConf {
    /// The exact `iss` of its tokens.
    pub issuer: String,
    /// At least one; a token whose `aud` names none of them is refused.
    pub audiences: Vec<String>,
    /// The project every workload of this issuer acts in ...
    #[serde(default)]
    pub project: Option<String>,
    /// ... or the claim that names it (a token without it is refused).
    #[serde(default)]
    pub project_claim: Option<String>,
    #[serde(default = "default_subject_claim")]
    pub subject_claim: String,
    #[serde(default)]
    pub groups_claim: Option<String>,
    /// Roles the oslo policy sees for these workloads.
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    #[serde(default = "default_refresh_min")]
    pub jwks_refresh_min_seconds: u64,
}

fn default_subject_claim() -> String {
    "sub".into()
}
fn default_algorithms() -> Vec<String> {
    vec!["RS256".into(), "ES256".into(), "EdDSA".into()]
}
fn default_leeway() -> u64 {
    30
}
fn default_refresh_min() -> u64 {
    60
}

impl OidcSection {
    /// Everything `serve` refuses in `[oidc]`, with the issuer it is about.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for i in &self.issuers {
            let name = &i.issuer;
            let err = |m: String| Err(format!("[[oidc.issuers]] '{name}': {m}"));
            let url = match url::Url::parse(name) {
                Ok(u) => u,
                Err(e) => return err(format!("issuer is not a URL ({e})")),
            };
            match url.scheme() {
                "https" => {}
                "http" if is_loopback(&url) => {}
                "http" => return err("http:// is accepted only on a loopback host (tests); use https://".into()),
                s => return err(format!("scheme {s}:// is not an issuer URL")),
            }
            if url.query().is_some() || url.fragment().is_some() {
                return err("issuer must not have a query or fragment".into());
            }
            if !seen.insert(name.clone()) {
                return err("listed twice".into());
            }
            if i.audiences.iter().all(|a| a.trim().is_empty()) {
                return err("audiences is required (at least one)".into());
            }
            match (&i.project, &i.project_claim) {
                (Some(p), None) if !p.trim().is_empty() && p.len() <= MAX_CLAIM_LEN => {}
                (None, Some(c)) if !c.trim().is_empty() => {}
                _ => return err("exactly one of project (1 to 255 characters) and project_claim is required".into()),
            }
            if i.subject_claim.trim().is_empty() || i.groups_claim.as_deref().is_some_and(|g| g.trim().is_empty()) {
                return err("subject_claim and groups_claim must name a claim".into());
            }
            if i.algorithms.is_empty() {
                return err("algorithms is empty".into());
            }
            for a in &i.algorithms {
                if FORBIDDEN_ALGORITHMS.iter().any(|f| f.eq_ignore_ascii_case(a)) {
                    return err(format!("algorithm {a} is never accepted (HMAC and none are refused)"));
                }
                if a.parse::<jsonwebtoken::Algorithm>().is_err() {
                    return err(format!("unknown algorithm {a} (RS256/384/512, PS256/384/512, ES256/384, EdDSA)"));
                }
            }
        }
        Ok(())
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer(toml_text: &str) -> Result<(), String> {
        let s: OidcSection = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        s.validate()
    }

    #[test]
    fn validation() {
        let ok = "[[issuers]]\nissuer = \"https://k8s.example\"\naudiences = [\"kms\"]\nproject = \"p\"\n";
        issuer(ok).unwrap();
        let s: OidcSection = toml::from_str(ok).unwrap();
        assert_eq!(s.issuers[0].algorithms, vec!["RS256", "ES256", "EdDSA"]);
        assert_eq!((s.issuers[0].leeway_seconds, s.issuers[0].jwks_refresh_min_seconds), (30, 60));
        assert_eq!(s.issuers[0].subject_claim, "sub");
        issuer("[[issuers]]\nissuer = \"http://127.0.0.1:8080/a\"\naudiences = [\"kms\"]\nproject_claim = \"p\"\n").unwrap();
        issuer("[[issuers]]\nissuer = \"http://localhost:8080\"\naudiences = [\"kms\"]\nproject = \"p\"\n").unwrap();
        let bad = [
            ("issuer = \"http://k8s.example\"\naudiences = [\"kms\"]\nproject = \"p\"", "loopback"),
            ("issuer = \"https://k8s.example\"\naudiences = []\nproject = \"p\"", "audiences"),
            ("issuer = \"https://k8s.example\"\naudiences = [\"kms\"]", "exactly one"),
            ("issuer = \"https://k8s.example\"\naudiences = [\"kms\"]\nproject = \"p\"\nproject_claim = \"c\"", "exactly one"),
            ("issuer = \"https://k8s.example\"\naudiences = [\"kms\"]\nproject = \"p\"\nalgorithms = [\"RS256\", \"HS256\"]", "never accepted"),
            ("issuer = \"https://k8s.example\"\naudiences = [\"kms\"]\nproject = \"p\"\nalgorithms = [\"none\"]", "never accepted"),
            ("issuer = \"https://k8s.example\"\naudiences = [\"kms\"]\nproject = \"p\"\nalgorithms = [\"XS1\"]", "unknown algorithm"),
            ("issuer = \"ftp://k8s.example\"\naudiences = [\"kms\"]\nproject = \"p\"", "scheme"),
        ];
        for (body, want) in bad {
            let e = issuer(&format!("[[issuers]]\n{body}\n")).unwrap_err();
            assert!(e.contains(want), "{body}: {e}");
        }
        let twice = format!("{ok}{ok}");
        assert!(issuer(&twice).unwrap_err().contains("twice"));
    }
}
