//! Request -> RequestContext. One module per method: `noauth` (development) and `keystone`,
//! and `oidc` (workload JWTs from trusted issuers), an extra door beside either of them.

pub mod capped;
pub mod keystone;
pub mod noauth;
pub mod oidc;

/// How requests are authenticated: one state, no impossible combination.
pub enum Authenticator {
    /// Keystone tokens (keystonemiddleware's behaviour).
    Keystone(std::sync::Arc<keystone::KeystoneAuth>),
    /// Development only: identity headers trusted as sent; `admin_role` when X-Roles is absent.
    Noauth { admin_role: String },
}

/// Who is calling, as Barbican's context middleware builds it (§3).
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub roles: Vec<String>,
    pub system_scope: Option<String>,
    pub domain_id: Option<String>,
    pub user_domain_id: Option<String>,
    pub project_domain_id: Option<String>,
    pub is_admin_project: bool,
    pub service_roles: Vec<String>,
    /// The TLS client certificate the connection presented and rustls verified against
    /// `[ssl] ca_file` (mutual TLS), for policy decisions on workload identities.
    pub client_cert: Option<std::sync::Arc<ClientIdentity>>,
    /// The workload a verified OIDC/JWT bearer token names (`[oidc]`); None for Keystone and
    /// noauth requests.
    pub workload: Option<std::sync::Arc<WorkloadIdentity>>,
}

/// A workload authenticated by a JWT of a trusted OIDC issuer (e.g. a Kubernetes service
/// account). What key policies grant to: the issuer and subject, and the groups claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadIdentity {
    /// The token's `iss`, exactly as configured.
    pub issuer: String,
    /// The issuer's `subject_claim` (default `sub`).
    pub subject: String,
    /// The issuer's `groups_claim`, empty when none is configured or the token has none.
    pub groups: Vec<String>,
}

/// A verified TLS client certificate, as the policy layer sees it. Never holds key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// Subject distinguished name, RFC 4514 (e.g. `CN=worker-1,O=Example`).
    pub subject: String,
    /// Subject alternative names: DNS names, URIs (SPIFFE IDs), e-mail addresses, IP addresses.
    pub sans: Vec<String>,
    /// Lower-case hex SHA-256 of the certificate's DER.
    pub fingerprint_sha256: String,
}

impl Default for RequestContext {
    fn default() -> Self {
        RequestContext {
            user_id: None,
            project_id: None,
            roles: Vec::new(),
            system_scope: None,
            domain_id: None,
            user_domain_id: None,
            project_domain_id: None,
            is_admin_project: true,
            service_roles: Vec::new(),
            client_cert: None,
            workload: None,
        }
    }
}

impl RequestContext {
    /// The owning project for writes and the scope of lists. The auth layer guarantees it is set
    /// on every request that reaches a `/v1` handler.
    pub fn project(&self) -> &str {
        self.project_id.as_deref().unwrap_or("")
    }
}

/// Why a request was not authenticated; rendered by the API layer (not in Barbican's format).
#[derive(Debug, Clone, PartialEq)]
pub enum AuthFailure {
    /// noauth without `X-Project-Id` → webob 400.
    MissingProjectId,
    /// noauth: an identity header longer than the column that keeps it (or holding NUL).
    BadHeader(&'static str, usize),
}
