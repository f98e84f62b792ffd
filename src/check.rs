//! `portcullis check`: validates a configuration without starting the server and reports the
//! SCS Key Manager posture a CSP checks by itself: the master KEK is not in plaintext on the
//! host, a Keystone `member` may do what `creator` may, TLS is on, authentication is on.

use std::path::Path;

use crate::auth::RequestContext;
use crate::config::{AuthStrategy, Config, KekProviderKind};
use crate::policy::{Policy, PolicyOptions, PolicyTarget};

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Item {
    pub name: &'static str,
    pub pass: bool,
    pub detail: String,
}

/// The posture items of a configuration that loaded and validated (see [`validate`]).
pub fn posture(cfg: &Config, policy: &Policy) -> Vec<Item> {
    let kek = match cfg.kek.provider {
        KekProviderKind::Tpm => Item {
            name: "master-kek",
            pass: true,
            detail: format!("[kek] provider = \"tpm\": the master KEK is sealed to the TPM ({}), not stored in plaintext on the host", cfg.kek.tcti),
        },
        KekProviderKind::File => Item {
            name: "master-kek",
            pass: false,
            detail: format!("[kek] provider = \"file\": the master KEK is in plaintext on the host ({}); use provider = \"tpm\"", cfg.kek.file_path.display()),
        },
    };
    let denied = member_gaps(policy);
    let member = Item {
        name: "member-role",
        pass: denied.is_empty(),
        detail: if denied.is_empty() {
            "a Keystone member may do everything a creator may on secrets and containers".into()
        } else {
            format!("a creator may, a member may not: {} (enforce_new_defaults = true, or map member to creator in the policy file)", denied.join(", "))
        },
    };
    let tls = match (&cfg.ssl.cert_file, cfg.ssl.client_auth()) {
        (Some(cert), mode) => Item {
            name: "tls",
            pass: true,
            detail: format!(
                "TLS 1.2/1.3 with {}{}",
                cert.display(),
                match mode {
                    Some(m) => format!("; client certificates {m:?} (ca_file)").to_lowercase(),
                    None => String::new(),
                }
            ),
        },
        (None, _) => Item { name: "tls", pass: false, detail: "[ssl] cert_file and key_file are not set: plain HTTP".into() },
    };
    let auth = match cfg.auth.strategy {
        AuthStrategy::Keystone => Item {
            name: "noauth-off",
            pass: true,
            detail: format!("Keystone tokens are validated ({})", cfg.keystone_authtoken.auth_url),
        },
        AuthStrategy::Noauth => Item {
            name: "noauth-off",
            pass: false,
            detail: "[auth] strategy = \"noauth\" trusts X-Project-Id and X-Roles as sent".into(),
        },
    };
    vec![kek, member, tls, auth]
}

/// The secret and container rules a `creator` passes and a `member` (with the `reader` role
/// Keystone implies) does not, on the caller's own resources and on a colleague's.
pub fn member_gaps(policy: &Policy) -> Vec<String> {
    let ctx = |roles: &[&str]| RequestContext {
        user_id: Some("check-user".into()),
        project_id: Some("check-project".into()),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        ..RequestContext::default()
    };
    let (creator, member) = (ctx(&["creator"]), ctx(&["member", "reader"]));
    let targets: Vec<PolicyTarget> = ["check-user", "colleague"]
        .iter()
        .map(|owner| {
            let mut t = PolicyTarget::entity("secret", "check-project", Some(owner), false, None, true);
            t.0.extend(PolicyTarget::entity("container", "check-project", Some(owner), false, None, true).0);
            t
        })
        .collect();
    let rules: Vec<String> = policy
        .dump()
        .keys()
        .filter(|n| {
            n.split_once(':')
                .is_some_and(|(res, _)| (res.starts_with("secret") && !res.starts_with("secretstore")) || res.starts_with("container"))
        })
        .map(|n| n.to_string())
        .collect();
    rules
        .into_iter()
        .filter(|rule| {
            targets.iter().any(|t| {
                policy.decide(rule, &creator, t).unwrap_or(false) && !policy.decide(rule, &member, t).unwrap_or(false)
            })
        })
        .collect()
}

/// Everything `serve` would refuse before listening, without opening the database or the TPM:
/// the settings, the [ssl] certificate and key, the policy file. Returns the loaded policy.
pub fn validate(cfg: &Config) -> Result<Policy, String> {
    cfg.secretstore.validate()?;
    cfg.oidc.validate()?;
    cfg.kms_v2.validate()?;
    crate::tls::load(&cfg.ssl)?;
    if cfg.auth.strategy == AuthStrategy::Keystone {
        if cfg.keystone_authtoken.auth_type != "password" {
            return Err(format!("[keystone_authtoken] auth_type = \"{}\" is not supported; use \"password\"", cfg.keystone_authtoken.auth_type));
        }
        if cfg.keystone_authtoken.username.is_empty() {
            return Err("[keystone_authtoken] username and password of the service user are required".into());
        }
    }
    if cfg.default.production {
        if cfg.auth.strategy == AuthStrategy::Noauth {
            return Err("[auth] strategy = \"noauth\" is refused when [DEFAULT] production = true".into());
        }
        if cfg.kek.provider == KekProviderKind::File {
            return Err("[kek] provider = \"file\" is refused when [DEFAULT] production = true".into());
        }
    }
    let opts = PolicyOptions {
        enforce_new_defaults: cfg.oslo_policy.enforce_new_defaults,
        enforce_scope: cfg.oslo_policy.enforce_scope,
    };
    let (policy, _warnings) = Policy::load(opts, cfg.oslo_policy.policy_file.as_deref())?;
    Ok(policy)
}

/// Loads `path` (with the environment's overrides), prints the report to stdout; the exit code:
/// 0 all items pass, 1 a required item fails, 2 the configuration is invalid.
pub fn run(path: &Path, env: impl Iterator<Item = (String, String)>) -> u8 {
    println!("portcullis check: {}", path.display());
    let cfg = match Config::load(Some(path), env) {
        Ok(c) => c,
        Err(e) => {
            println!("FAIL  config       {e}");
            return 2;
        }
    };
    let policy = match validate(&cfg) {
        Ok(p) => p,
        Err(e) => {
            println!("FAIL  config       {e}");
            return 2;
        }
    };
    println!("PASS  config       the configuration is valid");
    for i in &cfg.oidc.issuers {
        let project = match (&i.project, &i.project_claim) {
            (Some(p), _) => format!("project {p}"),
            (None, Some(c)) => format!("project from claim {c}"),
            _ => String::new(),
        };
        println!("INFO  oidc         trusted issuer {} (audiences {}; {project}; roles [{}])", i.issuer, i.audiences.join(", "), i.roles.join(", "));
    }
    let items = posture(&cfg, &policy);
    for i in &items {
        println!("{}  {:<12} {}", if i.pass { "PASS" } else { "FAIL" }, i.name, i.detail);
    }
    let failed = items.iter().filter(|i| !i.pass).count();
    if failed == 0 {
        println!("SCS Key Manager posture: all {} required items pass", items.len());
        0
    } else {
        println!("SCS Key Manager posture: {failed} of {} required items FAIL", items.len());
        1
    }
}
