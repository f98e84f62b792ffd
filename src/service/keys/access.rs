//! Who may do what with a managed key: the key policy's grants that name the caller become
//! facts of the policy target (`target.key.grant.<op>`), and the oslo.policy rule of the route
//! (`key:<op>`) decides, so an operator's policy file can change either side.

use std::collections::BTreeSet;

use crate::auth::RequestContext;
use crate::crypto::managed::Op;
use crate::model::managed_key::{Grant, Identity, ManagedKey};
use crate::policy::PolicyTarget;
use crate::service::access::Caller;
use crate::service::ServiceResult;

/// The oslo.policy rule of an operation on one key.
pub fn rule(op: Op) -> &'static str {
    match op {
        Op::Encrypt => "key:encrypt",
        Op::Decrypt => "key:decrypt",
        Op::Sign => "key:sign",
        Op::Verify => "key:verify",
        Op::Hmac => "key:hmac",
        Op::Datakey => "key:datakey",
        Op::Rewrap => "key:rewrap",
        Op::Export => "key:export",
        Op::Describe => "key:get",
        Op::Rotate => "key:rotate",
        Op::Admin => "key:admin",
    }
}

/// Whether `identity` is the caller. Roles count only in the key's own project.
pub fn matches(identity: &Identity, ctx: &RequestContext, key_project: &str) -> bool {
    match identity {
        Identity::User { id } => ctx.user_id.as_deref() == Some(id.as_str()),
        Identity::Project { id } => ctx.project_id.as_deref() == Some(id.as_str()),
        Identity::Role { name } => {
            ctx.project_id.as_deref() == Some(key_project) && ctx.roles.iter().any(|r| r.eq_ignore_ascii_case(name))
        }
        Identity::Oidc { issuer, subject } => {
            ctx.workload.as_ref().is_some_and(|w| &w.issuer == issuer && &w.subject == subject)
        }
        Identity::OidcGroup { issuer, group } => {
            ctx.workload.as_ref().is_some_and(|w| &w.issuer == issuer && w.groups.iter().any(|g| g == group))
        }
        Identity::Cert { subject, san, fingerprint_sha256 } => ctx.client_cert.as_ref().is_some_and(|c| {
            subject.as_ref().is_some_and(|s| s == &c.subject)
                || san.as_ref().is_some_and(|s| c.sans.iter().any(|x| x == s))
                || fingerprint_sha256.as_ref().is_some_and(|f| f.eq_ignore_ascii_case(&c.fingerprint_sha256))
        }),
    }
}

/// The operations the key's grants give the caller; `admin` stands for every operation.
pub fn granted(grants: &[Grant], ctx: &RequestContext, key_project: &str) -> BTreeSet<Op> {
    let mut ops = BTreeSet::new();
    for g in grants.iter().filter(|g| matches(&g.identity, ctx, key_project)) {
        if g.operations.contains(&Op::Admin) {
            return Op::ALL.into_iter().collect();
        }
        ops.extend(g.operations.iter().copied());
    }
    ops
}

/// The policy target of `key` for this caller.
pub fn target(key: &ManagedKey, caller: &Caller) -> PolicyTarget {
    let ops = granted(&key.grants, caller.ctx(), &key.project_id);
    PolicyTarget::key(&key.project_id, key.creator_id.as_deref(), |op| ops.contains(&op))
}

/// `Forbidden` unless policy lets the caller run `op` on `key`.
pub fn require(caller: &Caller, key: &ManagedKey, op: Op) -> ServiceResult<()> {
    caller.require(rule(op), &target(key, caller))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::WorkloadIdentity;

    fn workload(sub: &str, groups: &[&str]) -> RequestContext {
        RequestContext {
            project_id: Some("p1".into()),
            workload: Some(std::sync::Arc::new(WorkloadIdentity {
                issuer: "https://issuer".into(),
                subject: sub.into(),
                groups: groups.iter().map(|g| g.to_string()).collect(),
            })),
            ..RequestContext::default()
        }
    }

    #[test]
    fn grants_match_only_their_identity() {
        let grants = vec![
            Grant { identity: Identity::Oidc { issuer: "https://issuer".into(), subject: "a".into() }, operations: vec![Op::Encrypt] },
            Grant { identity: Identity::OidcGroup { issuer: "https://issuer".into(), group: "ops".into() }, operations: vec![Op::Describe] },
            Grant { identity: Identity::Role { name: "Auditor".into() }, operations: vec![Op::Verify] },
        ];
        assert_eq!(granted(&grants, &workload("a", &[]), "p1"), BTreeSet::from([Op::Encrypt]));
        assert_eq!(granted(&grants, &workload("b", &["ops"]), "p1"), BTreeSet::from([Op::Describe]));
        assert!(granted(&grants, &workload("b", &[]), "p1").is_empty());
        // Same subject at another issuer is another workload.
        let mut other = workload("a", &[]);
        other.workload = Some(std::sync::Arc::new(WorkloadIdentity { issuer: "https://evil".into(), subject: "a".into(), groups: vec![] }));
        assert!(granted(&grants, &other, "p1").is_empty());
        // A role counts only in the key's project.
        let auditor = RequestContext { project_id: Some("p1".into()), roles: vec!["auditor".into()], ..RequestContext::default() };
        assert_eq!(granted(&grants, &auditor, "p1"), BTreeSet::from([Op::Verify]));
        assert!(granted(&grants, &auditor, "p2").is_empty());
        // A verified client certificate, by SAN, subject or fingerprint.
        let cert = RequestContext {
            client_cert: Some(std::sync::Arc::new(crate::auth::ClientIdentity {
                subject: "CN=worker-1,O=Example".into(),
                sans: vec!["spiffe://example.org/ns/shop/sa/a".into(), "worker-1.example.org".into()],
                fingerprint_sha256: "ab".repeat(32),
            })),
            ..RequestContext::default()
        };
        let by = |subject: Option<&str>, san: Option<&str>, fp: Option<&str>| {
            vec![Grant {
                identity: Identity::Cert { subject: subject.map(Into::into), san: san.map(Into::into), fingerprint_sha256: fp.map(Into::into) },
                operations: vec![Op::Sign],
            }]
        };
        assert!(granted(&by(None, Some("spiffe://example.org/ns/shop/sa/a"), None), &cert, "p1").contains(&Op::Sign));
        assert!(granted(&by(Some("CN=worker-1,O=Example"), None, None), &cert, "p1").contains(&Op::Sign));
        assert!(granted(&by(None, None, Some(&"AB".repeat(32))), &cert, "p1").contains(&Op::Sign));
        assert!(granted(&by(None, Some("spiffe://example.org/ns/shop/sa/b"), None), &cert, "p1").is_empty());
        assert!(granted(&by(Some("CN=worker-1"), None, None), &cert, "p1").is_empty(), "exact subject only");
        assert!(granted(&by(None, Some("spiffe://example.org/ns/shop/sa/a"), None), &RequestContext::default(), "p1").is_empty());
        let admin = vec![Grant { identity: Identity::User { id: "u".into() }, operations: vec![Op::Admin] }];
        let user = RequestContext { user_id: Some("u".into()), ..RequestContext::default() };
        assert_eq!(granted(&admin, &user, "p1").len(), Op::ALL.len());
    }
}
