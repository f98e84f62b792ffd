//! oslo.policy-compatible authorization.

pub mod check;
pub mod defaults;

use std::collections::HashMap;

use check::{Check, Cred, Creds, RuleSet, Target};

use crate::auth::RequestContext;

#[derive(Debug, Clone, Default)]
pub struct PolicyOptions {
    pub enforce_new_defaults: bool,
    pub enforce_scope: bool,
}

pub struct Policy {
    rules: HashMap<String, Check>,
    opts: PolicyOptions,
}

impl RuleSet for Policy {
    fn rule(&self, name: &str) -> Option<&Check> {
        self.rules.get(name)
    }
}

impl Policy {
    /// Barbican's defaults, combined as oslo.policy combines new and deprecated rules.
    pub fn defaults(opts: PolicyOptions) -> Policy {
        let mut rules = HashMap::new();
        for (name, s) in defaults::BASE_RULES {
            rules.insert(name.to_string(), check::parse(s).expect("built-in rule parses"));
        }
        for (name, new, legacy) in defaults::ROUTE_RULES {
            let new = check::parse(&new.expand()).expect("built-in rule parses");
            let c = if opts.enforce_new_defaults {
                new
            } else {
                Check::Or(vec![new, check::parse(legacy).expect("built-in rule parses")])
            };
            rules.insert(name.to_string(), c);
        }
        Policy { rules, opts }
    }

    pub fn options(&self) -> &PolicyOptions {
        &self.opts
    }

    /// Decides `rule` for the caller on the target (entity facts only, never request input).
    pub fn enforce(&self, rule: &str, ctx: &RequestContext, target: &PolicyTarget) -> bool {
        if self.opts.enforce_scope && (ctx.system_scope.is_some() || ctx.project_id.is_none()) {
            return false; // every Barbican rule has scope_types = ['project']
        }
        let Some(c) = self.rules.get(rule) else { return false };
        let mut t = target.0.clone();
        t.insert(
            "enforce_new_defaults".into(),
            if self.opts.enforce_new_defaults { "True" } else { "False" }.into(),
        );
        check::eval(c, &t, &creds(ctx), self, 0)
    }
}

fn creds(ctx: &RequestContext) -> Creds {
    let mut c = Creds::new();
    c.insert("user_id", Cred::Str(ctx.user_id.clone()));
    c.insert("project_id", Cred::Str(ctx.project_id.clone()));
    c.insert("roles", Cred::List(ctx.roles.clone()));
    c.insert("system_scope", Cred::Str(ctx.system_scope.clone()));
    c.insert("domain_id", Cred::Str(ctx.domain_id.clone()));
    c.insert("user_domain_id", Cred::Str(ctx.user_domain_id.clone()));
    c.insert("project_domain_id", Cred::Str(ctx.project_domain_id.clone()));
    c.insert("is_admin_project", Cred::Bool(ctx.is_admin_project));
    c.insert("service_roles", Cred::List(ctx.service_roles.clone()));
    c
}

/// A policy target: flat dotted keys with values rendered as Python's `str()` renders them.
#[derive(Debug, Clone, Default)]
pub struct PolicyTarget(pub Target);

impl PolicyTarget {
    pub fn none() -> PolicyTarget {
        PolicyTarget::default()
    }

    /// Target of a single-secret route (§4.1). `acl_read_users` / `read_project_access` come from
    /// the secret's `read` ACL; with no ACL row project access is implicitly true.
    pub fn secret(
        project_id: &str,
        creator_id: Option<&str>,
        caller: Option<&str>,
        acl_read_users: &[String],
        read_project_access: Option<bool>,
        with_acl_facts: bool,
    ) -> PolicyTarget {
        let mut t = Target::new();
        t.insert("target.secret.project_id".into(), project_id.to_string());
        t.insert("target.secret.creator_id".into(), creator_id.unwrap_or("None").to_string());
        if with_acl_facts {
            if let Some(u) = caller {
                if acl_read_users.iter().any(|x| x == u) {
                    t.insert("target.secret.read".into(), "read".into());
                }
            }
            let pa = read_project_access.unwrap_or(true);
            t.insert(
                "target.secret.read_project_access".into(),
                if pa { "True" } else { "False" }.into(),
            );
        }
        PolicyTarget(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(roles: &[&str], project: &str, user: &str) -> RequestContext {
        RequestContext {
            project_id: Some(project.into()),
            user_id: Some(user.into()),
            roles: roles.iter().map(|s| s.to_string()).collect(),
            ..RequestContext::default()
        }
    }

    fn secret(project: &str, creator: &str) -> PolicyTarget {
        PolicyTarget::secret(project, Some(creator), None, &[], None, true)
    }

    #[test]
    fn legacy_defaults() {
        let p = Policy::defaults(PolicyOptions::default());
        let t = secret("p1", "u1");
        assert!(p.enforce("secrets:post", &ctx(&["creator"], "p1", "u2"), &t));
        assert!(!p.enforce("secrets:post", &ctx(&["observer"], "p1", "u2"), &t));
        assert!(p.enforce("secret:decrypt", &ctx(&["observer"], "p1", "u2"), &t));
        assert!(p.enforce("secret:get", &ctx(&["audit"], "p1", "u2"), &t));
        assert!(!p.enforce("secret:decrypt", &ctx(&["audit"], "p1", "u2"), &t));
        assert!(!p.enforce("secret:get", &ctx(&["admin"], "p2", "u2"), &t), "other project's admin");
        assert!(!p.enforce("project_quotas:get", &ctx(&["admin"], "p1", "u1"), &t));
        // member is not a legacy role
        assert!(!p.enforce("secrets:post", &ctx(&["member"], "p1", "u1"), &t));
    }

    #[test]
    fn secure_rbac_defaults() {
        let p = Policy::defaults(PolicyOptions { enforce_new_defaults: true, enforce_scope: true });
        let t = secret("p1", "u1");
        assert!(p.enforce("secrets:post", &ctx(&["member", "reader"], "p1", "u2"), &t));
        assert!(!p.enforce("secrets:post", &ctx(&["reader"], "p1", "u2"), &t));
        assert!(!p.enforce("secret:get", &ctx(&["reader"], "p1", "u2"), &t));
        assert!(p.enforce("secret:get", &ctx(&["admin", "member", "reader"], "p2", "u9"), &t),
            "any project's admin may read metadata (copied quirk)");
        assert!(!p.enforce("secret:decrypt", &ctx(&["admin", "member", "reader"], "p2", "u9"), &t));
        assert!(!p.enforce("secrets:post", &ctx(&["creator"], "p1", "u2"), &t), "legacy role off");
        let private = PolicyTarget::secret("p1", Some("u1"), Some("u2"), &[], Some(false), true);
        assert!(!p.enforce("secret:decrypt", &ctx(&["member"], "p1", "u2"), &private));
        assert!(p.enforce("secret:decrypt", &ctx(&["member"], "p1", "u1"), &private));
        let acl = PolicyTarget::secret("p1", Some("u1"), Some("u7"), &["u7".into()], Some(false), true);
        assert!(p.enforce("secret:decrypt", &ctx(&[], "p3", "u7"), &acl), "ACL user, any project");
        let mut sys = ctx(&["admin"], "p1", "u1");
        sys.system_scope = Some("all".into());
        assert!(!p.enforce("secrets:get", &sys, &t), "system scope refused under enforce_scope");
    }
}
