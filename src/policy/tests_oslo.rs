//! The policy engine against oslo.policy, corner by corner. Line numbers cite oslo.policy at
//! commit 69890e4 (oslo_policy/_parser.py, _checks.py, policy.py).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::check::{self, eval, parse, parse_noting, Check, Cred, Creds, Cut, RuleSet, Target, MAX_NESTING, MAX_RULE_DEPTH};

struct Rules(HashMap<String, Check>);

impl RuleSet for Rules {
    fn resolve(&self, name: &str) -> Option<(&str, &Check)> {
        self.0.get_key_value(name).map(|(k, c)| (k.as_str(), c))
    }
}

fn rules(src: &[(&str, &str)]) -> Rules {
    Rules(src.iter().map(|(n, s)| (n.to_string(), parse(s).unwrap())).collect())
}

fn creds(roles: &[&str], project: &str, user: Option<&str>) -> Creds {
    let mut c = Creds::new();
    c.insert("roles", Cred::List(roles.iter().map(|s| s.to_string()).collect()));
    c.insert("project_id", Cred::Str(Some(project.into())));
    c.insert("user_id", Cred::Str(user.map(String::from)));
    c.insert("is_admin_project", Cred::Bool(true));
    c
}

fn target(t: &[(&str, &str)]) -> Target {
    t.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn ev_in(rule: &str, t: &[(&str, &str)], c: &Creds, r: &Rules) -> Result<bool, Cut> {
    eval(&parse(rule).unwrap(), &target(t), c, r)
}

fn ev(rule: &str, t: &[(&str, &str)], c: &Creds) -> bool {
    ev_in(rule, t, c, &Rules(HashMap::new())) == Ok(true)
}

#[test]
fn oslo_semantics() {
    let c = creds(&["Admin", "member"], "p1", None);
    // _checks.py L359: `match.lower() in [x.lower() for x in creds['roles']]`
    assert!(ev("role:admin", &[], &c), "roles compare case-insensitively");
    assert!(!ev("role:reader", &[], &c));
    assert!(ev("role:%(target.role)s", &[("target.role", "MEMBER")], &c), "role match is %-formatted");
    // _checks.py L351-356: a target key missing from a RoleCheck's match is False.
    assert!(!ev("role:%(target.role)s", &[], &c));
    assert!(ev("project_id:%(target.secret.project_id)s", &[("target.secret.project_id", "p1")], &c));
    // _checks.py L418-423: a target key missing from a GenericCheck's match is False.
    assert!(!ev("project_id:%(target.secret.project_id)s", &[], &c), "missing key is false");
    // _checks.py L397: `match == str(test_value)`, and str(None) == 'None'.
    assert!(ev("user_id:%(target.secret.creator_id)s", &[("target.secret.creator_id", "None")], &c),
        "a null creator equals a null user, as str(None) == 'None'");
    // _checks.py L424-427: a kind that literal_eval reads is compared as str(literal).
    assert!(ev("True:%(enforce_new_defaults)s", &[("enforce_new_defaults", "True")], &c));
    assert!(!ev("True:%(enforce_new_defaults)s", &[("enforce_new_defaults", "False")], &c));
    assert!(ev("False:%(x)s", &[("x", "False")], &c));
    assert!(ev("None:%(x)s", &[("x", "None")], &c));
    assert!(ev("'read':%(target.secret.read)s", &[("target.secret.read", "read")], &c));
    assert!(!ev("'read':%(target.secret.read)s", &[], &c));
    assert!(ev("\"Member\":%(role.name)s", &[("role.name", "Member")], &c));
    assert!(!ev("'Member':%(role.name)s", &[("role.name", "member")], &c), "a literal compares exactly");
    assert!(ev("+1_0:%(n)s", &[("n", "10")], &c), "str(literal_eval('+1_0')) == '10'");
    assert!(!ev("1:%(n)s", &[("n", "01")], &c));
    // _checks.py L403-407: a list credential matches if any element does, case-sensitively
    // (only RoleCheck lowercases).
    assert!(ev("roles:member", &[], &c));
    assert!(!ev("roles:admin", &[], &c));
    // str(True) == 'True' for a boolean credential.
    assert!(ev("is_admin_project:True", &[], &c));
    assert!(!ev("is_admin_project:true", &[], &c));
    // _checks.py L398-402: a credential that is not there (or a dotted path into a string) is False.
    assert!(!ev("domain_id:None", &[], &c), "absent, not None");
    assert!(!ev("project_id.x:p1", &[], &c));
    // Python %: `%%` is a percent sign.
    let c2 = creds(&["50%"], "p1", None);
    assert!(ev("role:50%%", &[], &c2));
}

#[test]
fn grammar_as_oslos_parser_reduces_it() {
    let c = creds(&["member"], "p1", None);
    // _parser.py L186-189: `!` is FalseCheck, `@` is TrueCheck; L315-316: "" always accepts.
    assert!(!ev("!", &[], &c));
    assert!(ev("@", &[], &c));
    assert!(ev("", &[], &c));
    // L111-121 (`A or B and C` regroups to `A or (B and C)`): and binds tighter than or.
    assert!(ev("role:reader or role:member and @", &[], &c));
    assert!(!ev("role:member and role:reader or !", &[], &c));
    // L148-153: `not` takes the single check after it.
    assert!(ev("not role:reader and role:member", &[], &c));
    assert!(!ev("not (role:reader or role:member)", &[], &c));
    assert!(ev("not role:reader and (role:member or !)", &[], &c));
    // L284-292: and/or/not in any case.
    assert!(ev("NOT role:reader AND role:member Or !", &[], &c));
    // L262-305: parentheses stick to the checks; L250 splits on Python's \s, which includes
    // the separators U+001C..U+001F.
    // Without whitespace there is one token: only its outer parentheses come off.
    assert_eq!(parse("(role:member)and(role:x)"), Ok(Check::Role("member)and(role:x".into())));
    assert!(ev("((role:reader or role:member))", &[], &c));
    assert!(ev("role:reader\u{1f}or\u{a0}role:member", &[], &c));
}

#[test]
fn quoted_tokens_deny_as_in_oslo() {
    let c = creds(&["admin"], "p1", None);
    // _parser.py L295-299: a token in matching quotes is a StringToken; no reduction uses one,
    // so `result` raises (L171-178) and the rule becomes FalseCheck (L323-330).
    for rule in ["\"@\"", "'@'", "\"role:admin\"", "\"@\" or role:admin", "role:admin or ( '@' )"] {
        let mut notes = Vec::new();
        assert_eq!(parse_noting(rule, &mut notes), Ok(Check::False), "{rule}");
        assert!(notes.iter().any(|n| n.contains("quoted token")), "{rule}: {notes:?}");
        assert!(!ev(rule, &[], &c), "{rule}");
    }
    // L295 tests the token with its trailing ')' still on, so `"@")` is not a quoted string
    // but the check `"@"`, which has no ':' (oslo: FalseCheck, L191-196). Portcullis refuses it.
    assert!(parse("(\"@\")").is_err());
    // A quoted kind is a literal, not a quoted token: the last character is not a quote.
    assert!(ev("'admin':%(r)s", &[("r", "admin")], &c));
}

#[test]
fn malformed_is_refused() {
    assert!(parse("role:admin and").is_err());
    assert!(parse("(role:admin").is_err());
    assert!(parse("admin").is_err());
    assert!(parse("role:a role:b").is_err());
    // oslo: an empty stack raises (L171-172) and denies; Portcullis refuses whitespace-only.
    assert!(parse(" \t").unwrap_err().0.contains("only whitespace"));
    // Python would raise ValueError on these %-formats at every request: refused at load.
    assert!(parse("project_id:%(target.x)d").is_err());
    assert!(parse("role:100%").is_err());
    // literal_eval('1.5') is 1.5, whose str() Portcullis does not reproduce: refused.
    assert!(parse("1.5:%(x)s").is_err());
    // `not(role:x)` is one token, the generic check of kind `not(role` (oslo: literal_eval
    // raises SyntaxError at every request); refused so that the typo is reported.
    assert!(parse("not(role:reader)").unwrap_err().0.contains("neither a credential name nor a Python literal"));
    // Rule names are not %-formatted (_checks.py L329 uses self.match as it is).
    assert_eq!(parse("rule:100%"), Ok(Check::Rule("100%".into())));
    // oslo's external `http:` check (an entry point) is not supported: it denies, with a note.
    let mut notes = Vec::new();
    assert!(parse_noting("http://example.com/%(x)s", &mut notes).is_ok());
    assert!(notes.iter().any(|n| n.contains("HTTP check")), "{notes:?}");
}

#[test]
fn nesting_is_bounded() {
    let deep = |n: usize, open: &str, close: &str| format!("{}role:x{}", open.repeat(n), close.repeat(n));
    assert!(parse(&deep(MAX_NESTING, "not ", "")).is_ok());
    assert!(parse(&deep(MAX_NESTING, "(", ")")).is_ok());
    assert!(parse(&deep(MAX_NESTING / 2, "not (", ")")).is_ok());
    for s in [deep(MAX_NESTING + 1, "not ", ""), deep(MAX_NESTING + 1, "( ", " )"), deep(100_000, "not ", ""), deep(100_000, "(", ")")] {
        let e = parse(&s).unwrap_err();
        assert!(e.0.contains("nest more than 64 levels"), "{e}");
    }
}

#[test]
fn cycles_and_deep_chains_deny_and_not_cannot_flip_them() {
    let c = creds(&["x"], "p1", None);
    // oslo's RuleCheck (_checks.py L327-337) recurses without a guard: a cycle raises
    // RecursionError and the request fails. Here it is a cut-off that every operator passes up.
    let r = rules(&[("a", "rule:b"), ("b", "rule:a"), ("self", "not rule:self")]);
    for rule in ["rule:a", "not rule:a", "not not not rule:a", "not (rule:a and @)", "not (rule:a or !)", "rule:self", "not rule:self"] {
        assert!(matches!(ev_in(rule, &[], &c, &r), Err(Cut::Cycle(_))), "{rule}");
    }
    // Short-circuits as oslo's AndCheck/OrCheck (L222-226, L263-266): an unevaluated branch
    // cannot cut anything off.
    assert_eq!(ev_in("@ or rule:a", &[], &c, &r), Ok(true));
    assert_eq!(ev_in("! and rule:a", &[], &c, &r), Ok(false));
    // An unknown rule is False (L335-337), so `not` of it is True.
    assert_eq!(ev_in("not rule:nowhere", &[], &c, &r), Ok(true));
    // Chains: MAX_RULE_DEPTH references are followed, one more is cut off.
    let chain = |n: usize| {
        let mut v: Vec<(String, String)> = (1..=n).map(|i| (format!("r{i}"), format!("rule:r{}", i - 1))).collect();
        v.push(("r0".into(), "role:x".into()));
        Rules(v.into_iter().map(|(k, s)| (k, parse(&s).unwrap())).collect())
    };
    assert_eq!(ev_in(&format!("rule:r{}", MAX_RULE_DEPTH - 1), &[], &c, &chain(MAX_RULE_DEPTH)), Ok(true));
    let long = chain(MAX_RULE_DEPTH + 5);
    for rule in [format!("rule:r{MAX_RULE_DEPTH}"), format!("not rule:r{MAX_RULE_DEPTH}")] {
        assert!(matches!(ev_in(&rule, &[], &c, &long), Err(Cut::TooDeep(_))), "{rule}");
    }
}

/// r0 = role:x, rN = rule:rN-1 OP rule:rN-1: 2^40 checks without memoisation.
fn doubling(op: &str) -> Rules {
    let mut v: Vec<(String, String)> = (1..=40).map(|i| (format!("r{i}"), format!("rule:r{} {op} rule:r{}", i - 1, i - 1))).collect();
    v.push(("r0".into(), "role:x".into()));
    Rules(v.into_iter().map(|(k, s)| (k, parse(&s).unwrap())).collect())
}

#[test]
fn evaluation_cost_is_bounded() {
    let start = Instant::now();
    let (x, y) = (creds(&["x"], "p", None), creds(&["y"], "p", None));
    // `or` with a role that does not match and `and` with one that does: each visits every
    // branch. Each rule is evaluated once per decision, so these are exact and instant.
    assert_eq!(ev_in("rule:r40", &[], &y, &doubling("or")), Ok(false));
    assert_eq!(ev_in("not rule:r40", &[], &y, &doubling("or")), Ok(true));
    assert_eq!(ev_in("rule:r40", &[], &x, &doubling("and")), Ok(true));
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
    // One rule with more checks than the step budget: a cut-off, also under `not`.
    let huge = vec!["role:a"; check::MAX_STEPS as usize + 1].join(" or ");
    for rule in [huge.clone(), format!("not ({huge})")] {
        assert_eq!(ev_in(&rule, &[], &x, &Rules(HashMap::new())), Err(Cut::Budget));
    }
}

#[test]
fn worst_case_evaluation_fits_a_small_stack() {
    // 64 chained rules, each nested 64 deep: the evaluation depth bound cuts it off long
    // before a 512 KiB stack (a quarter of a Rust thread's default) runs out.
    let body = |i: usize| format!("{}rule:r{}", "not ".repeat(MAX_NESTING), i + 1);
    let r = Rules((0..MAX_RULE_DEPTH).map(|i| (format!("r{i}"), parse(&body(i)).unwrap())).collect());
    let res = std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || ev_in("not rule:r0", &[], &creds(&[], "p", None), &r))
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(res, Err(Cut::TooNested));
}

#[test]
fn undefined_rules_fall_back_to_default_as_in_oslo() {
    use super::{Policy, PolicyOptions, PolicyTarget};
    use crate::auth::RequestContext;
    // policy.py L423-442 (Rules.__missing__) with policy_default_rule = 'default' (opts.py):
    // an undefined `rule:X` stands for the rule named "default" when there is one.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("policy.yaml");
    let ctx = RequestContext { project_id: Some("p".into()), roles: vec!["x".into()], ..RequestContext::default() };
    let t = PolicyTarget::none();
    std::fs::write(&f, "\"secrets:get\": \"rule:typo\"\n").unwrap();
    let (p, w) = Policy::load(PolicyOptions::default(), Some(&f)).unwrap();
    assert!(!p.enforce("secrets:get", &ctx, &t));
    assert!(w.iter().any(|m| m.contains("'rule:typo'") && m.contains("always denies")), "{w:?}");
    std::fs::write(&f, "\"secrets:get\": \"rule:typo\"\n\"default\": \"role:x\"\n").unwrap();
    let (p, w) = Policy::load(PolicyOptions::default(), Some(&f)).unwrap();
    assert!(p.enforce("secrets:get", &ctx, &t));
    assert!(w.iter().any(|m| m.contains("'rule:typo'") && m.contains("stands for rule 'default'")), "{w:?}");
    // A default that is itself undefined loops in oslo (RecursionError); here it is a cycle.
    std::fs::write(&f, "\"secrets:get\": \"not rule:typo\"\n\"default\": \"rule:typo2\"\n").unwrap();
    let (p, w) = Policy::load(PolicyOptions::default(), Some(&f)).unwrap();
    assert!(matches!(p.decide("secrets:get", &ctx, &t), Err(Cut::Cycle(_))));
    assert!(!p.enforce("secrets:get", &ctx, &t));
    assert!(w.iter().any(|m| m.contains("rule:default -> rule:default")), "{w:?}");
}
