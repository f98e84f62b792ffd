//! Settings: one TOML file, then environment overrides `PORTCULLIS_<SECTION>__<KEY>=value`
//! (e.g. `PORTCULLIS_DEFAULT__HOST_HREF=https://kms.example.com`). Option names follow
//! barbican.conf where the meaning is the same.

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(rename = "DEFAULT", default)]
    pub default: DefaultSection,
    #[serde(default)]
    pub auth: AuthSection,
    #[serde(default)]
    pub kek: KekSection,
    #[serde(default)]
    pub oslo_policy: PolicySection,
    #[serde(default)]
    pub keystone_authtoken: KeystoneSection,
    #[serde(default)]
    pub quotas: QuotasSection,
    #[serde(default)]
    pub secretstore: SecretStoreSection,
    #[serde(default)]
    pub orders: OrdersSection,
    /// TLS (oslo.service's `[ssl]` names): see `crate::tls`.
    #[serde(default)]
    pub ssl: crate::tls::SslSection,
    #[serde(default)]
    pub metrics: MetricsSection,
    #[serde(default)]
    pub audit: AuditSection,
    /// Trusted OIDC issuers for workload JWTs: see `crate::auth::oidc::config`.
    #[serde(default)]
    pub oidc: crate::auth::oidc::config::OidcSection,
    /// The Kubernetes KMS v2 plugin endpoint: see `crate::kms`.
    #[serde(default)]
    pub kms_v2: KmsV2Section,
}

/// `[kms_v2]`: kube-apiserver's KMS v2 plugin API on a unix socket, backed by one managed key
/// (off by default).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KmsV2Section {
    /// The unix socket to listen on (kube-apiserver's `endpoint: unix:///PATH`); empty = off.
    pub socket: PathBuf,
    /// The managed key's id; required when `socket` is set.
    pub key: String,
    /// The socket file's mode, octal: a string (`"0600"`) or a TOML octal integer (`0o600`).
    /// Whoever can connect can decrypt kube-apiserver's data keys, so "others" get nothing.
    #[serde(deserialize_with = "octal_mode")]
    pub socket_mode: u32,
}

impl Default for KmsV2Section {
    fn default() -> Self {
        KmsV2Section { socket: PathBuf::new(), key: String::new(), socket_mode: 0o600 }
    }
}

impl KmsV2Section {
    pub fn enabled(&self) -> bool {
        !self.socket.as_os_str().is_empty()
    }

    /// A key named when the socket is set, an absolute socket path, no access for others.
    pub fn validate(&self) -> Result<(), String> {
        if !self.enabled() {
            return Ok(());
        }
        if self.key.trim().is_empty() {
            return Err("[kms_v2] socket is set but key is empty: name the managed key that backs the plugin".into());
        }
        if !self.socket.is_absolute() {
            return Err(format!("[kms_v2] socket = \"{}\" must be an absolute path", self.socket.display()));
        }
        if self.socket_mode & 0o007 != 0 {
            return Err(format!(
                "[kms_v2] socket_mode = \"{:04o}\" gives other users access to the socket (whoever connects can \
                 decrypt kube-apiserver's data keys); use 0600 or 0660",
                self.socket_mode
            ));
        }
        if self.socket_mode & 0o600 != 0o600 {
            return Err(format!("[kms_v2] socket_mode = \"{:04o}\" must give the owner read and write", self.socket_mode));
        }
        Ok(())
    }
}

/// A file mode: `"0600"`/`"600"`/`"0o600"`, or an integer (TOML `0o600`) no larger than 0o777
/// (so a decimal `600` is refused instead of read as 0o1130).
fn octal_mode<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Mode {
        Int(i64),
        Text(String),
    }
    let bad = |what: &str| serde::de::Error::custom(format!("socket_mode {what}: expected an octal mode such as \"0600\" or 0o600"));
    let m = match Mode::deserialize(d)? {
        Mode::Int(i) => u32::try_from(i).map_err(|_| bad(&i.to_string()))?,
        Mode::Text(t) => {
            let digits = t.trim().trim_start_matches("0o");
            if digits.is_empty() || !digits.bytes().all(|c| (b'0'..=b'7').contains(&c)) {
                return Err(bad(&format!("\"{t}\"")));
            }
            u32::from_str_radix(digits, 8).map_err(|_| bad(&format!("\"{t}\"")))?
        }
    };
    if m > 0o777 {
        return Err(bad(&format!("{m:o} (octal)")));
    }
    Ok(m)
}

/// Prometheus `/metrics` on the main port (off by default).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    pub enabled: bool,
    /// Answer `/metrics` to loopback clients only (others get 404); a remote Prometheus needs
    /// `loopback_only = false` (and a firewall or TLS-terminating proxy in front).
    pub loopback_only: bool,
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection { enabled: false, loopback_only: true }
    }
}

/// CADF audit records of every `/v1` request, one JSON object per line (off by default).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSection {
    pub enabled: bool,
    /// The JSON-lines file, opened for appending (mode 0600).
    pub file: PathBuf,
    /// Refuse `/v1` requests (503) while the file cannot be written, instead of serving them
    /// unaudited.
    pub fail_closed: bool,
}

impl Default for AuditSection {
    fn default() -> Self {
        AuditSection { enabled: false, file: PathBuf::from("/var/log/portcullis/audit.log"), fail_closed: false }
    }
}

/// Secret stores (barbican.conf `[secretstore]` and its `[secretstore:<suffix>]` sections).
/// Every store is served by Portcullis's one envelope-encryption engine; the list is what the
/// `/v1/secret-stores` API shows and what a project may pick as its preferred store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretStoreSection {
    /// Turns the `/v1/secret-stores` API on (off: every route answers 404).
    pub enable_multiple_secret_stores: bool,
    /// The stores, synchronised into the database at start when the API is on.
    pub stores: Vec<SecretStoreConf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretStoreConf {
    /// The friendly name shown by the API (unique).
    pub name: String,
    pub secret_store_plugin: String,
    #[serde(default)]
    pub crypto_plugin: Option<String>,
    #[serde(default)]
    pub global_default: bool,
}

impl Default for SecretStoreSection {
    fn default() -> Self {
        // Barbican's devstack multiple-backend layout: software crypto (the default) and PKCS#11.
        SecretStoreSection {
            enable_multiple_secret_stores: false,
            stores: vec![
                SecretStoreConf {
                    name: "Software Only Crypto".into(),
                    secret_store_plugin: "store_crypto".into(),
                    crypto_plugin: Some("simple_crypto".into()),
                    global_default: true,
                },
                SecretStoreConf {
                    name: "PKCS11 HSM".into(),
                    secret_store_plugin: "store_crypto".into(),
                    crypto_plugin: Some("p11_crypto".into()),
                    global_default: false,
                },
            ],
        }
    }
}

impl SecretStoreSection {
    /// Names and plugin pairs unique, exactly one global default (checked at start when the
    /// secret-stores API is on).
    pub fn validate(&self) -> Result<(), String> {
        if self.stores.is_empty() {
            return Err("[secretstore] enable_multiple_secret_stores = true needs at least one \
                        [[secretstore.stores]] entry"
                .into());
        }
        let mut names = std::collections::HashSet::new();
        let mut plugins = std::collections::HashSet::new();
        for s in &self.stores {
            let name = s.name.trim();
            if name.is_empty() || name.chars().count() > 255 {
                return Err("[[secretstore.stores]] name must be 1 to 255 characters".into());
            }
            if s.secret_store_plugin.trim().is_empty() {
                return Err(format!("[[secretstore.stores]] '{name}': secret_store_plugin is empty"));
            }
            if s.crypto_plugin.as_deref().is_some_and(|c| c.trim().is_empty()) {
                return Err(format!("[[secretstore.stores]] '{name}': crypto_plugin is empty (leave it out instead)"));
            }
            if !names.insert(name.to_string()) {
                return Err(format!("[[secretstore.stores]] name '{name}' is used twice"));
            }
            let pair = (s.secret_store_plugin.trim().to_string(), s.crypto_plugin.as_deref().map(str::trim).map(str::to_string));
            if !plugins.insert(pair) {
                return Err(format!(
                    "[[secretstore.stores]] '{name}': another store already has secret_store_plugin = \"{}\" and the same crypto_plugin",
                    s.secret_store_plugin.trim()
                ));
            }
        }
        match self.stores.iter().filter(|s| s.global_default).count() {
            1 => Ok(()),
            0 => Err("[[secretstore.stores]]: no store has global_default = true; exactly one must".into()),
            n => Err(format!("[[secretstore.stores]]: {n} stores have global_default = true; exactly one must")),
        }
    }
}

/// Default quotas of every project (barbican.conf `[quotas]`): negative = unlimited.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotasSection {
    pub quota_secrets: i64,
    pub quota_orders: i64,
    pub quota_containers: i64,
    pub quota_consumers: i64,
    pub quota_cas: i64,
    /// Managed keys (`/v1/keys`) per project: Portcullis's own, a default only (Barbican's
    /// project-quotas body has no field for it).
    pub quota_keys: i64,
}

impl Default for QuotasSection {
    fn default() -> Self {
        QuotasSection { quota_secrets: -1, quota_orders: -1, quota_containers: -1, quota_consumers: -1, quota_cas: -1, quota_keys: -1 }
    }
}

/// Asymmetric (RSA) orders: key generation runs on a small pool of threads that serves the
/// projects round-robin, from a bounded queue (Portcullis's own options; Barbican has none).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrdersSection {
    /// How long `POST /v1/orders` waits for an asymmetric order to finish, so the first GET
    /// already shows it ACTIVE (as Barbican without a queue does). Past it the order answers
    /// PENDING and finishes in the background. 0 = never wait.
    pub inline_budget_ms: u64,
    /// Key-generation threads; 0 = one per CPU, at most 4.
    pub keygen_workers: usize,
    /// Asymmetric orders waiting or running, all projects together; past it new ones are
    /// refused with 503.
    pub queue_size: usize,
    /// The same, for one project.
    pub queue_size_per_project: usize,
    /// Seconds a replica's lease on a PENDING order lasts; it is renewed every third of that
    /// while the replica works on the order, and another replica takes the order over only once
    /// the lease has lapsed (its owner died). At least 1.
    pub lease_seconds: u64,
}

impl Default for OrdersSection {
    fn default() -> Self {
        OrdersSection { inline_budget_ms: 5000, keygen_workers: 0, queue_size: 256, queue_size_per_project: 32, lease_seconds: 30 }
    }
}

/// keystonemiddleware's options (same names).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeystoneSection {
    /// Keystone's identity endpoint, e.g. `http://keystone:5000` (with or without `/v3`).
    pub auth_url: String,
    /// Sent in `WWW-Authenticate` on 401s (default: auth_url).
    pub www_authenticate_uri: String,
    /// Only `password` is supported.
    pub auth_type: String,
    pub username: String,
    pub password: String,
    pub project_name: String,
    pub user_domain_name: String,
    pub project_domain_name: String,
    /// Seconds a validated token is cached (never past its expiry); 0 disables the cache.
    pub token_cache_time: u64,
    /// Most tokens kept in the cache.
    pub cache_size: usize,
    pub http_connect_timeout: f64,
    pub http_request_timeout: f64,
    pub service_token_roles: Vec<String>,
    pub service_token_roles_required: bool,
}

impl Default for KeystoneSection {
    fn default() -> Self {
        KeystoneSection {
            auth_url: String::new(),
            www_authenticate_uri: String::new(),
            auth_type: "password".into(),
            username: String::new(),
            password: String::new(),
            project_name: "service".into(),
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
            token_cache_time: 300,
            cache_size: 10_000,
            http_connect_timeout: 3.0,
            http_request_timeout: 10.0,
            service_token_roles: vec!["service".into()],
            service_token_roles_required: false,
        }
    }
}

impl std::fmt::Debug for KeystoneSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeystoneSection")
            .field("auth_url", &self.auth_url)
            .field("username", &self.username)
            .field("password", &"***")
            .field("project_name", &self.project_name)
            .field("token_cache_time", &self.token_cache_time)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DefaultSection {
    /// Base of every href; empty = derived from the request (`X-Forwarded-Proto`, `Host`).
    pub host_href: String,
    pub bind_host: String,
    pub bind_port: u16,
    /// Database URL: `sqlite://PATH`, `postgresql://user:pw@host/db`, `mysql://user:pw@host/db`.
    pub sql_connection: String,
    /// Apply pending migrations at start.
    pub db_auto_create: bool,
    pub sql_pool_size: u32,
    pub max_allowed_secret_in_bytes: usize,
    pub max_allowed_request_size_in_bytes: usize,
    pub default_limit_paging: i64,
    pub max_limit_paging: i64,
    pub admin_role: String,
    /// HTTP worker threads (default: number of cores).
    pub workers: Option<usize>,
    /// A production deployment: refuses development-only settings (the `file` KEK provider).
    pub production: bool,
    /// Seconds a client has to send a request's whole body; slower ones get 408 and the
    /// connection is closed.
    pub request_body_timeout: u64,
    /// Seconds a request waits for a database connection (and SQLite for its write lock)
    /// before it is answered 503 with `Retry-After`.
    pub sql_pool_timeout: u64,
}

impl Default for DefaultSection {
    fn default() -> Self {
        DefaultSection {
            host_href: "http://localhost:9311".into(),
            bind_host: "127.0.0.1".into(),
            bind_port: 9311,
            sql_connection: "sqlite://portcullis.db".into(),
            db_auto_create: true,
            sql_pool_size: 16,
            max_allowed_secret_in_bytes: 20000,
            max_allowed_request_size_in_bytes: 25000,
            default_limit_paging: 10,
            max_limit_paging: 100,
            admin_role: "admin".into(),
            workers: None,
            production: false,
            request_body_timeout: 20,
            sql_pool_timeout: 5,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthStrategy {
    Keystone,
    Noauth,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    pub strategy: AuthStrategy,
}

impl Default for AuthSection {
    fn default() -> Self {
        AuthSection { strategy: AuthStrategy::Keystone }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KekProviderKind {
    Tpm,
    File,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KekSection {
    pub provider: KekProviderKind,
    /// `file` provider: where the development master KEK lives.
    pub file_path: PathBuf,
    /// `tpm` provider settings.
    pub tcti: String,
    pub sealed_dir: PathBuf,
    pub pcrs: Vec<u32>,
    /// PEM bundle of the CA certificates (TPM makers' roots and intermediates) trusted to issue
    /// endorsement-key certificates: `kek export` hands the master KEK only to a replica whose
    /// TPM's EK certificate chains to one of them.
    pub ek_ca_file: Option<PathBuf>,
    /// How many unwrapped project KEKs to keep in memory.
    pub cache_size: usize,
}

impl Default for KekSection {
    fn default() -> Self {
        KekSection {
            provider: KekProviderKind::Tpm,
            file_path: PathBuf::from("dev-master.kek"),
            tcti: "device:/dev/tpmrm0".into(),
            sealed_dir: PathBuf::from("/var/lib/portcullis/kek"),
            pcrs: Vec::new(),
            ek_ca_file: None,
            cache_size: 10_000,
        }
    }
}

/// `[oslo_policy]`. Both switches default to true, as in Barbican since 2024.1 (secure RBAC:
/// a project `member` creates and reads its project's secrets); the legacy rules are one setting
/// away (`enforce_new_defaults = false`, `enforce_scope = false`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicySection {
    pub enforce_new_defaults: bool,
    pub enforce_scope: bool,
    pub policy_file: Option<PathBuf>,
}

impl Default for PolicySection {
    fn default() -> Self {
        PolicySection { enforce_new_defaults: true, enforce_scope: true, policy_file: None }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0}: {1}")]
    Parse(String, String),
}

impl Config {
    /// Reads the file (if any), applies environment overrides from `env`.
    pub fn load(
        path: Option<&Path>,
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let (text, origin) = match path {
            Some(p) => (
                std::fs::read_to_string(p).map_err(|e| ConfigError::Read(p.to_path_buf(), e))?,
                p.display().to_string(),
            ),
            None => (String::new(), "built-in defaults".to_string()),
        };
        let mut doc: toml::Table =
            toml::from_str(&text).map_err(|e| ConfigError::Parse(origin.clone(), e.to_string()))?;
        for (k, v) in env {
            let Some(rest) = k.strip_prefix("PORTCULLIS_") else { continue };
            let Some((section, key)) = rest.split_once("__") else { continue };
            let section = if section.eq_ignore_ascii_case("default") {
                "DEFAULT".to_string()
            } else {
                section.to_ascii_lowercase()
            };
            let value = toml::from_str::<toml::Table>(&format!("v = {v}"))
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or(toml::Value::String(v));
            let entry = doc
                .entry(section)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(t) = entry {
                t.insert(key.to_ascii_lowercase(), value);
            }
        }
        toml::Value::Table(doc)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse(origin, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file_values() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[DEFAULT]\nhost_href = \"http://a\"\nbind_port = 1\n[oslo_policy]\nenforce_scope = true\n").unwrap();
        let env = vec![
            ("PORTCULLIS_DEFAULT__BIND_PORT".to_string(), "9999".to_string()),
            ("PORTCULLIS_AUTH__STRATEGY".to_string(), "noauth".to_string()),
            ("OTHER".to_string(), "x".to_string()),
        ];
        let c = Config::load(Some(&p), env.into_iter()).unwrap();
        assert_eq!(c.default.host_href, "http://a");
        assert_eq!(c.default.bind_port, 9999);
        assert_eq!(c.auth.strategy, AuthStrategy::Noauth);
        assert!(c.oslo_policy.enforce_scope);
        assert_eq!(c.default.max_allowed_secret_in_bytes, 20000);
    }

    #[test]
    fn secure_rbac_is_the_default() {
        let c = Config::load(None, std::iter::empty()).unwrap();
        assert!(c.oslo_policy.enforce_new_defaults && c.oslo_policy.enforce_scope);
        let env = vec![("PORTCULLIS_OSLO_POLICY__ENFORCE_NEW_DEFAULTS".to_string(), "false".to_string())];
        let c = Config::load(None, env.into_iter()).unwrap();
        assert!(!c.oslo_policy.enforce_new_defaults, "the legacy rules stay one setting away");
    }

    #[test]
    fn secret_stores_from_file_and_validation() {
        let d = SecretStoreSection::default();
        assert!(!d.enable_multiple_secret_stores);
        assert_eq!(d.stores.iter().filter(|s| s.global_default).count(), 1);
        d.validate().unwrap();

        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "[secretstore]\nenable_multiple_secret_stores = true\n\
             [[secretstore.stores]]\nname = \"A\"\nsecret_store_plugin = \"store_crypto\"\ncrypto_plugin = \"simple_crypto\"\n\
             [[secretstore.stores]]\nname = \"B\"\nsecret_store_plugin = \"kmip_plugin\"\nglobal_default = true\n",
        )
        .unwrap();
        let c = Config::load(Some(&p), std::iter::empty()).unwrap();
        assert!(c.secretstore.enable_multiple_secret_stores);
        assert_eq!(c.secretstore.stores.len(), 2);
        assert_eq!(c.secretstore.stores[1].crypto_plugin, None);
        c.secretstore.validate().unwrap();

        let mut two = c.secretstore.clone();
        two.stores[0].global_default = true;
        assert!(two.validate().unwrap_err().contains("2 stores have global_default"));
        let mut none = c.secretstore.clone();
        none.stores[1].global_default = false;
        assert!(none.validate().unwrap_err().contains("no store has global_default"));
        let mut dup = c.secretstore.clone();
        dup.stores[1].name = "A".into();
        assert!(dup.validate().unwrap_err().contains("used twice"));
        let mut pair = c.secretstore.clone();
        pair.stores[1].secret_store_plugin = "store_crypto".into();
        pair.stores[1].crypto_plugin = Some("simple_crypto".into());
        assert!(pair.validate().unwrap_err().contains("same crypto_plugin"));
        let empty = SecretStoreSection { enable_multiple_secret_stores: true, stores: vec![] };
        assert!(empty.validate().is_err());

        let env = vec![("PORTCULLIS_SECRETSTORE__ENABLE_MULTIPLE_SECRET_STORES".to_string(), "true".to_string())];
        let c = Config::load(None, env.into_iter()).unwrap();
        assert!(c.secretstore.enable_multiple_secret_stores);
        assert_eq!(c.secretstore.stores, SecretStoreSection::default().stores);
    }

    /// `[oidc]` from the file; the environment can set the section's scalars, and replace the
    /// whole issuer list with one TOML inline array (no per-issuer override).
    #[test]
    fn oidc_issuers_from_file_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "[oidc]\ncache_size = 5\n[[oidc.issuers]]\nissuer = \"https://a.example\"\naudiences = [\"kms\"]\nproject = \"p\"\nroles = [\"member\"]\n",
        )
        .unwrap();
        let c = Config::load(Some(&p), std::iter::empty()).unwrap();
        assert_eq!((c.oidc.cache_size, c.oidc.issuers.len()), (5, 1));
        assert_eq!(c.oidc.issuers[0].roles, vec!["member"]);
        c.oidc.validate().unwrap();
        let env = vec![
            ("PORTCULLIS_OIDC__HTTP_TIMEOUT_SECONDS".to_string(), "2".to_string()),
            (
                "PORTCULLIS_OIDC__ISSUERS".to_string(),
                r#"[{issuer = "https://b.example", audiences = ["x"], project_claim = "proj"}, {issuer = "https://c.example", audiences = ["y"], project = "q"}]"#.to_string(),
            ),
        ];
        let c = Config::load(Some(&p), env.into_iter()).unwrap();
        assert_eq!(c.oidc.http_timeout_seconds, 2);
        assert_eq!(c.oidc.cache_size, 5, "the file's other options stay");
        let names: Vec<&str> = c.oidc.issuers.iter().map(|i| i.issuer.as_str()).collect();
        assert_eq!(names, vec!["https://b.example", "https://c.example"]);
        assert_eq!(c.oidc.issuers[0].project_claim.as_deref(), Some("proj"));
        c.oidc.validate().unwrap();
    }

    #[test]
    fn kms_v2_section() {
        let d = Config::load(None, std::iter::empty()).unwrap().kms_v2;
        assert!(!d.enabled() && d.socket_mode == 0o600);
        d.validate().unwrap();

        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[kms_v2]\nsocket = \"/run/portcullis/kms.sock\"\nkey = \"k1\"\nsocket_mode = 0o660\n").unwrap();
        let c = Config::load(Some(&p), std::iter::empty()).unwrap().kms_v2;
        assert!(c.enabled() && c.key == "k1" && c.socket_mode == 0o660);
        c.validate().unwrap();

        // From the environment the mode is a string ("0600" is not a TOML integer).
        let env = vec![
            ("PORTCULLIS_KMS_V2__SOCKET".to_string(), "/run/k.sock".to_string()),
            ("PORTCULLIS_KMS_V2__SOCKET_MODE".to_string(), "0640".to_string()),
        ];
        let c = Config::load(None, env.into_iter()).unwrap().kms_v2;
        assert_eq!(c.socket_mode, 0o640);
        assert!(c.validate().unwrap_err().contains("key is empty"));

        for (mode, want) in [("600", 0o600), ("\"0o600\"", 0o600), ("\"660\"", 0o660)] {
            std::fs::write(&p, format!("[kms_v2]\nsocket_mode = {mode}\n")).unwrap();
            let e = Config::load(Some(&p), std::iter::empty());
            if mode == "600" {
                // A decimal 600 is 0o1130: refused, not taken for 0600.
                assert!(e.unwrap_err().to_string().contains("socket_mode"), "{mode}");
            } else {
                assert_eq!(e.unwrap().kms_v2.socket_mode, want, "{mode}");
            }
        }
        std::fs::write(&p, "[kms_v2]\nsocket_mode = \"0x80\"\n").unwrap();
        assert!(Config::load(Some(&p), std::iter::empty()).is_err());

        let ok = KmsV2Section { socket: "/run/k.sock".into(), key: "k".into(), socket_mode: 0o600 };
        ok.validate().unwrap();
        let world = KmsV2Section { socket_mode: 0o666, ..ok.clone() };
        assert!(world.validate().unwrap_err().contains("other users"));
        let no_owner = KmsV2Section { socket_mode: 0o060, ..ok.clone() };
        assert!(no_owner.validate().is_err());
        let relative = KmsV2Section { socket: "kms.sock".into(), ..ok };
        assert!(relative.validate().unwrap_err().contains("absolute"));
    }

    #[test]
    fn unknown_option_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[DEFAULT]\nhost_hreff = \"x\"\n").unwrap();
        let e = Config::load(Some(&p), std::iter::empty()).unwrap_err().to_string();
        assert!(e.contains("host_hreff"), "{e}");
    }
}
