//! Loading policy files: the live reload refuses what it cannot use and keeps the last good
//! policy, and the shipped files in policy/ mean what the built-in defaults mean.

use super::check::{self, Cut};
use super::{defaults, Policy, PolicyOptions, PolicyStore, PolicyTarget};
use crate::auth::RequestContext;

fn ctx(roles: &[&str], project: &str, user: &str) -> RequestContext {
    RequestContext {
        project_id: Some(project.into()),
        user_id: Some(user.into()),
        roles: roles.iter().map(|s| s.to_string()).collect(),
        ..RequestContext::default()
    }
}

#[test]
fn reload_refuses_deep_files_and_keeps_the_last_good_policy() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("policy.yaml");
    std::fs::write(&f, "\"secrets:post\": \"role:member\"\n").unwrap();
    let store = PolicyStore::new(PolicyOptions::default(), Some(f.clone())).unwrap();
    let member = ctx(&["member"], "p1", "u1");
    let none = PolicyTarget::none();
    assert!(store.enforce("secrets:post", &member, &none));
    let n = 100_000;
    for text in [
        format!("\"secrets:post\": \"{}role:member\"\n", "not ".repeat(n)),
        format!("\"secrets:post\": \"{}role:member{}\"\n", "(".repeat(n), ")".repeat(n)),
        format!("\"secrets:post\": {}{}\n", "[".repeat(n), "]".repeat(n)),
    ] {
        std::fs::write(&f, &text).unwrap();
        let err = store.reload_if_changed().expect("refused");
        assert!(err.contains("line 1") && err.contains("secrets:post"), "{err}");
        assert!(store.enforce("secrets:post", &member, &none), "last good policy in force");
    }
    // A cycle loads (oslo only warns about it) and denies, also under `not`.
    std::fs::write(&f, "\"secrets:post\": \"not rule:a\"\na: rule:b\nb: rule:a\n").unwrap();
    assert_eq!(store.reload_if_changed(), None);
    assert!(matches!(store.get().decide("secrets:post", &member, &none), Err(Cut::Cycle(_))));
    assert!(!store.enforce("secrets:post", &member, &none));
    let (_, w) = Policy::load(PolicyOptions::default(), Some(&f)).unwrap();
    assert!(w.iter().any(|m| m.contains("rule:a -> rule:b -> rule:a")), "{w:?}");
}

#[test]
fn shipped_dumps_load_cleanly_and_decide_as_the_defaults() {
    // Every default check string parses (Policy::defaults would turn a failure into `!`),
    // and the dumped files in policy/ load without warnings and decide exactly as the
    // built-in defaults do.
    for (n, s) in defaults::BASE_RULES {
        assert!(check::parse(s).is_ok(), "{n}");
    }
    for (n, new, legacy) in defaults::ROUTE_RULES {
        assert!(check::parse(&new.expand()).is_ok() && check::parse(legacy).is_ok(), "{n}");
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policy");
    let roles: [&[&str]; 8] = [&["admin"], &["creator"], &["observer"], &["audit"], &["member"],
        &["member", "reader"], &["admin", "member", "reader"], &["key-manager:service-admin"]];
    let targets = [
        PolicyTarget::secret("p1", Some("u1"), false, None, true),
        PolicyTarget::secret("p1", Some("u1"), true, Some(false), true),
        PolicyTarget::entity("container", "p1", None, false, Some(false), true),
        PolicyTarget::order("p1", Some("u1")),
        PolicyTarget::key("p1", Some("u1"), |op| op == crate::crypto::managed::Op::Encrypt),
    ];
    for (file, new) in [("barbican-defaults.yaml", false), ("barbican-secure-rbac.yaml", true)] {
        let opts = PolicyOptions { enforce_new_defaults: new, enforce_scope: false };
        let (p, w) = Policy::load(opts.clone(), Some(&dir.join(file))).unwrap();
        assert!(w.is_empty(), "{file}: {w:?}");
        let d = Policy::defaults(opts);
        let mut decided = 0;
        for rule in d.dump().keys() {
            for r in roles {
                for (project, user) in [("p1", "u1"), ("p1", "u2"), ("p2", "u1")] {
                    for t in &targets {
                        let c = ctx(r, project, user);
                        assert_eq!(p.decide(rule, &c, t), d.decide(rule, &c, t), "{file} {rule} {r:?} {project} {user} {t:?}");
                        decided += d.enforce(rule, &c, t) as usize;
                    }
                }
            }
        }
        assert!(decided > 100, "{file}: the comparison saw allows too ({decided})");
    }
}
