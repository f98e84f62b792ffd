//! oslo.policy-compatible authorization.

pub mod check;
pub mod defaults;
mod eval;
pub mod file;
mod lint;
mod parse;
mod pyfmt;
#[cfg(test)]
mod tests_load;
#[cfg(test)]
mod tests_oslo;
#[cfg(test)]
mod tests_props;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use check::{Check, Cred, Creds, Cut, RuleSet, Target};
use parking_lot::RwLock;

use crate::auth::RequestContext;

#[derive(Debug, Clone, Default)]
pub struct PolicyOptions {
    pub enforce_new_defaults: bool,
    pub enforce_scope: bool,
}

/// One effective policy: every rule parsed, with its text (for `policy dump`).
pub struct Policy {
    rules: HashMap<String, (Check, String)>,
    opts: PolicyOptions,
}

/// oslo.policy's `policy_default_rule`: `rule:X` for an X that no rule defines stands for the
/// rule of this name, when there is one (Barbican defines none; an operator's file may).
pub const DEFAULT_RULE: &str = "default";

impl RuleSet for Policy {
    fn resolve(&self, name: &str) -> Option<(&str, &Check)> {
        self.rules
            .get_key_value(name)
            .or_else(|| self.rules.get_key_value(DEFAULT_RULE))
            .map(|(k, (c, _))| (k.as_str(), c))
    }
}

fn builtin(s: &str) -> Check {
    check::parse(s).unwrap_or(Check::False)
}

impl Policy {
    /// Barbican's defaults, combined as oslo.policy combines new and deprecated rules.
    pub fn defaults(opts: PolicyOptions) -> Policy {
        let mut rules = HashMap::new();
        for (name, s) in defaults::BASE_RULES {
            rules.insert(name.to_string(), (builtin(s), s.to_string()));
        }
        for (name, new, legacy) in defaults::ROUTE_RULES {
            let new_s = new.expand();
            let (c, text) = if opts.enforce_new_defaults {
                (builtin(&new_s), new_s)
            } else {
                (Check::Or(vec![builtin(&new_s), builtin(legacy)]), format!("({new_s}) or ({legacy})"))
            };
            rules.insert(name.to_string(), (c, text));
        }
        Policy { rules, opts }
    }

    /// The defaults with an operator file's rules on top; also returns the file's warnings.
    pub fn load(opts: PolicyOptions, path: Option<&Path>) -> Result<(Policy, Vec<String>), String> {
        let mut p = Policy::defaults(opts);
        let mut warnings = Vec::new();
        if let Some(path) = path {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the policy file {}: {e}", path.display()))?;
            let (rules, w) = file::parse(&text, &path.display().to_string())?;
            warnings = w;
            for r in rules {
                p.rules.insert(r.name, (r.check, r.text));
            }
            let names: Vec<&str> = p.rules.keys().map(String::as_str).collect();
            warnings.extend(lint::rule_graph(&names, &p).into_iter().map(|w| format!("{}: {w}", path.display())));
        }
        Ok((p, warnings))
    }

    /// The effective rules, sorted by name.
    pub fn dump(&self) -> BTreeMap<&str, &str> {
        self.rules.iter().map(|(k, (_, t))| (k.as_str(), t.as_str())).collect()
    }

    pub fn has_rule(&self, name: &str) -> bool {
        self.rules.contains_key(name)
    }

    /// Decides `rule` for the caller on the target (entity facts only, never request input).
    /// A decision that was cut off (rule cycle, too deep, too long) denies and is logged.
    pub fn enforce(&self, rule: &str, ctx: &RequestContext, target: &PolicyTarget) -> bool {
        match self.decide(rule, ctx, target) {
            Ok(allow) => allow,
            Err(cut) => {
                tracing::warn!(rule, "policy decision cut off, denied: {cut}");
                false
            }
        }
    }

    /// [`Policy::enforce`], telling a denial from a cut-off.
    pub fn decide(&self, rule: &str, ctx: &RequestContext, target: &PolicyTarget) -> Result<bool, Cut> {
        if self.opts.enforce_scope && (ctx.system_scope.is_some() || ctx.project_id.is_none()) {
            return Ok(false); // every Barbican rule has scope_types = ['project']
        }
        let Some((c, _)) = self.rules.get(rule) else { return Ok(false) };
        let mut t = target.0.clone();
        t.insert(
            "enforce_new_defaults".into(),
            if self.opts.enforce_new_defaults { "True" } else { "False" }.into(),
        );
        check::eval(c, &t, &creds(ctx), self)
    }
}

/// The policy in force, re-read when its file changes; a malformed file is refused and the last
/// good policy stays.
pub struct PolicyStore {
    current: RwLock<Arc<Policy>>,
    opts: PolicyOptions,
    path: Option<PathBuf>,
    stamp: RwLock<Option<(SystemTime, u64)>>,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl PolicyStore {
    pub fn new(opts: PolicyOptions, path: Option<PathBuf>) -> Result<PolicyStore, String> {
        let st = path.as_deref().and_then(stamp);
        let (p, warnings) = Policy::load(opts.clone(), path.as_deref())?;
        for w in warnings {
            tracing::warn!("{w}");
        }
        Ok(PolicyStore { current: RwLock::new(Arc::new(p)), opts, path, stamp: RwLock::new(st) })
    }

    pub fn get(&self) -> Arc<Policy> {
        self.current.read().clone()
    }

    pub fn enforce(&self, rule: &str, ctx: &RequestContext, target: &PolicyTarget) -> bool {
        self.get().enforce(rule, ctx, target)
    }

    /// Re-reads the file if it changed. Returns Some(error) when the new file was refused.
    pub fn reload_if_changed(&self) -> Option<String> {
        let path = self.path.as_deref()?;
        let now = stamp(path);
        if now == *self.stamp.read() {
            return None;
        }
        *self.stamp.write() = now;
        match Policy::load(self.opts.clone(), Some(path)) {
            Ok((p, warnings)) => {
                for w in warnings {
                    tracing::warn!("{w}");
                }
                *self.current.write() = Arc::new(p);
                tracing::info!(file = %path.display(), "policy file reloaded");
                None
            }
            Err(e) => {
                tracing::error!("policy file refused, the previous policy stays in force: {e}");
                Some(e)
            }
        }
    }

    /// Watches the file from a background thread.
    pub fn watch(self: &Arc<Self>, every: Duration) {
        if self.path.is_none() {
            return;
        }
        let me = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("policy-watch".into())
            .spawn(move || loop {
                std::thread::sleep(every);
                match me.upgrade() {
                    Some(s) => {
                        s.reload_if_changed();
                    }
                    None => return,
                }
            })
            .ok();
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

    /// Target of a single-secret route (§4.1): `caller_listed` = the caller is a user of the
    /// secret's `read` ACL; `read_project_access` = that ACL's project access (None: no ACL row,
    /// which means true). The ACL routes themselves get no ACL facts.
    pub fn secret(
        project_id: &str,
        creator_id: Option<&str>,
        caller_listed: bool,
        read_project_access: Option<bool>,
        with_acl_facts: bool,
    ) -> PolicyTarget {
        PolicyTarget::entity("secret", project_id, creator_id, caller_listed, read_project_access, with_acl_facts)
    }

    /// The same for containers (`target.container.*`).
    pub fn entity(
        kind: &str,
        project_id: &str,
        creator_id: Option<&str>,
        caller_listed: bool,
        read_project_access: Option<bool>,
        with_acl_facts: bool,
    ) -> PolicyTarget {
        let mut t = Target::new();
        t.insert(format!("target.{kind}.project_id"), project_id.to_string());
        t.insert(format!("target.{kind}.creator_id"), creator_id.unwrap_or("None").to_string());
        if with_acl_facts {
            if caller_listed {
                t.insert(format!("target.{kind}.read"), "read".into());
            }
            let pa = read_project_access.unwrap_or(true);
            t.insert(format!("target.{kind}.read_project_access"), if pa { "True" } else { "False" }.into());
        }
        PolicyTarget(t)
    }

    /// Target of a managed-key route: the key's project and creator, and for every operation
    /// whether the key's policy grants it to this caller (`target.key.grant.<op>`: True/False).
    pub fn key(project_id: &str, creator_id: Option<&str>, granted: impl Fn(crate::crypto::managed::Op) -> bool) -> PolicyTarget {
        let mut t = Target::new();
        t.insert("target.key.project_id".into(), project_id.to_string());
        t.insert("target.key.creator_id".into(), creator_id.unwrap_or("None").to_string());
        for op in crate::crypto::managed::Op::ALL {
            let v = if granted(op) { "True" } else { "False" };
            t.insert(format!("target.key.grant.{}", op.as_str()), v.into());
        }
        PolicyTarget(t)
    }

    /// Target of an order route.
    pub fn order(project_id: &str, creator_id: Option<&str>) -> PolicyTarget {
        let mut t = Target::new();
        t.insert("target.order.project_id".into(), project_id.to_string());
        t.insert("target.order.creator_id".into(), creator_id.unwrap_or("None").to_string());
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
        PolicyTarget::secret(project, Some(creator), false, None, true)
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
        let private = PolicyTarget::secret("p1", Some("u1"), false, Some(false), true);
        assert!(!p.enforce("secret:decrypt", &ctx(&["member"], "p1", "u2"), &private));
        assert!(p.enforce("secret:decrypt", &ctx(&["member"], "p1", "u1"), &private));
        let acl = PolicyTarget::secret("p1", Some("u1"), true, Some(false), true);
        assert!(p.enforce("secret:decrypt", &ctx(&[], "p3", "u7"), &acl), "ACL user, any project");
        let mut sys = ctx(&["admin"], "p1", "u1");
        sys.system_scope = Some("all".into());
        assert!(!p.enforce("secrets:get", &sys, &t), "system scope refused under enforce_scope");
    }

    #[test]
    fn file_overrides_reload_and_bad_file_keeps_last_good() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("policy.yaml");
        std::fs::write(&f, "\"secrets:post\": \"role:member\"\n").unwrap();
        let store = PolicyStore::new(PolicyOptions::default(), Some(f.clone())).unwrap();
        let member = ctx(&["member"], "p1", "u1");
        let creator = ctx(&["creator"], "p1", "u1");
        let none = PolicyTarget::none();
        assert!(store.enforce("secrets:post", &member, &none), "file rule replaces the default");
        assert!(!store.enforce("secrets:post", &creator, &none));
        assert!(store.enforce("secrets:get", &creator, &none), "other rules keep their defaults");
        // A changed file is picked up (different size, so the stamp changes even within a second).
        std::fs::write(&f, "\"secrets:post\": \"role:creator or role:member\"\n").unwrap();
        assert_eq!(store.reload_if_changed(), None);
        assert!(store.enforce("secrets:post", &creator, &none));
        // A malformed file is refused with its line; the last good policy stays.
        std::fs::write(&f, "# ok\n\"secrets:post\": \"role:admin and\"\n").unwrap();
        let err = store.reload_if_changed().expect("refused");
        assert!(err.contains("line 2") && err.contains("secrets:post"), "{err}");
        assert!(store.enforce("secrets:post", &creator, &none), "last good policy in force");
        // A server does not start on a malformed file.
        assert!(PolicyStore::new(PolicyOptions::default(), Some(f)).is_err());
    }

    #[test]
    fn scs_profile_lets_member_do_what_creator_may() {
        let f = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policy/scs-member-as-creator.yaml");
        let (p, w) = Policy::load(PolicyOptions::default(), Some(&f)).unwrap();
        assert!(w.is_empty(), "{w:?}");
        let t = secret("p1", "u1");
        for rule in ["secrets:post", "secrets:get", "secret:get", "secret:decrypt", "secret:put", "secret_meta:put", "containers:post", "orders:post"] {
            assert!(p.enforce(rule, &ctx(&["member"], "p1", "u1"), &t), "{rule}");
        }
        assert!(!p.enforce("secret:get", &ctx(&["member"], "p2", "u1"), &t), "still project-bound");
    }
}
