//! Property tests of the parser and the evaluator (256 cases each, so they stay quick in CI).

use std::collections::HashMap;

use proptest::prelude::*;
use proptest::sample::{select, subsequence};

use super::check::{eval, parse, Check, Cred, Creds, Cut, RuleSet, Target};

#[derive(Debug, Clone)]
struct Rules(HashMap<String, Check>);

impl RuleSet for Rules {
    fn resolve(&self, name: &str) -> Option<(&str, &Check)> {
        self.0.get_key_value(name).map(|(k, c)| (k.as_str(), c))
    }
}

const RULE_NAMES: [&str; 4] = ["a", "b", "c", "d"];

/// Atoms that parse as themselves: rule references (to the generated rules, and to none),
/// role checks and generic checks on credentials and literals, with and without the target.
fn atom() -> impl Strategy<Value = Check> {
    prop_oneof![
        Just(Check::True),
        Just(Check::False),
        select(vec!["a", "b", "c", "d", "nowhere"]).prop_map(|n| Check::Rule(n.into())),
        select(vec!["admin", "Member", "reader", "%(target.role)s", "%(missing)s"]).prop_map(|m| Check::Role(m.into())),
        (
            select(vec!["project_id", "user_id", "roles", "is_admin_project", "True", "False", "None", "'read'", "1", "domain_id"]),
            select(vec!["p1", "p2", "%(target.project_id)s", "%(missing)s", "True", "read", "x'", "1", "None", "member", "%%"]),
        )
            .prop_map(|(k, m)| Check::Generic { kind: k.into(), matcher: m.into() }),
    ]
}

fn tree(depth: u32, size: u32) -> impl Strategy<Value = Check> {
    atom().prop_recursive(depth, size, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|c| Check::Not(Box::new(c))),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Check::And),
            prop::collection::vec(inner, 2..4).prop_map(Check::Or),
        ]
    })
}

/// Four rules that may reference each other, cycles included.
fn rule_set() -> impl Strategy<Value = Rules> {
    prop::collection::vec(tree(3, 12), 4)
        .prop_map(|v| Rules(RULE_NAMES.iter().map(|n| n.to_string()).zip(v).collect()))
}

fn creds() -> impl Strategy<Value = Creds> {
    (subsequence(vec!["admin", "member", "Reader", "x"], 0..=4), select(vec!["p1", "p2"]), any::<bool>(), any::<bool>())
        .prop_map(|(roles, project, user, admin)| {
            let mut c = Creds::new();
            c.insert("roles", Cred::List(roles.into_iter().map(String::from).collect()));
            c.insert("project_id", Cred::Str(Some(project.into())));
            c.insert("user_id", Cred::Str(user.then(|| "p1".to_string())));
            c.insert("is_admin_project", Cred::Bool(admin));
            c
        })
}

fn target() -> impl Strategy<Value = Target> {
    (prop::option::of(select(vec!["p1", "p2", "None"])), prop::option::of(select(vec!["admin", "MEMBER"]))).prop_map(|(p, r)| {
        let mut t = Target::new();
        if let Some(p) = p {
            t.insert("target.project_id".into(), p.into());
        }
        if let Some(r) = r {
            t.insert("target.role".into(), r.into());
        }
        t
    })
}

/// Token soup: pieces of the language, glued with or without whitespace.
fn soup() -> impl Strategy<Value = String> {
    let pieces = vec![
        "and", "or", "not", "AND", "Not", "(", ")", "((", "))", "@", "!", "rule:a", "rule:nowhere", "role:admin",
        "role:%(target.role)s", "project_id:%(target.project_id)s", "\"@\"", "'x'", "'read':%(r)s", "True:%(t)s",
        "%(", "x:%(a", "1.5:x", "(role:admin)", "not(", "admin", "rule:", ":", "\u{1f}", "\u{a0}", "'a':b'",
    ];
    prop::collection::vec((select(pieces), select(vec![" ", "", "\t"])), 0..30)
        .prop_map(|v| v.into_iter().flat_map(|(p, sep)| [p, sep]).collect())
}

/// The plain recursive evaluation oslo does (no memo, no budget), with cycles detected.
fn naive(c: &Check, t: &Target, cr: &Creds, r: &Rules, active: &mut Vec<String>) -> Result<bool, Cut> {
    match c {
        Check::Rule(n) => match r.resolve(n) {
            None => Ok(false),
            Some((name, _)) if active.iter().any(|a| a == name) => Err(Cut::Cycle(name.to_string())),
            Some((name, body)) => {
                active.push(name.to_string());
                let v = naive(body, t, cr, r, active);
                active.pop();
                v
            }
        },
        Check::Not(i) => Ok(!naive(i, t, cr, r, active)?),
        Check::And(items) => {
            for i in items {
                if !naive(i, t, cr, r, active)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Check::Or(items) => {
            for i in items {
                if naive(i, t, cr, r, active)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        leaf => eval(leaf, t, cr, r),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn not_not_is_the_identity_and_not_never_turns_a_cut_into_an_allow(
        c in tree(5, 48), r in rule_set(), cr in creds(), t in target()
    ) {
        let x = eval(&c, &t, &cr, &r);
        let not_x = eval(&Check::Not(Box::new(c.clone())), &t, &cr, &r);
        let not_not_x = eval(&Check::Not(Box::new(Check::Not(Box::new(c)))), &t, &cr, &r);
        prop_assert_eq!(&not_not_x, &x);
        match x {
            Ok(v) => prop_assert_eq!(not_x, Ok(!v)),
            Err(_) => prop_assert!(not_x.is_err(), "not turned a cut-off into {:?}", not_x),
        }
    }

    #[test]
    fn memoised_evaluation_equals_the_plain_recursive_one(
        c in tree(4, 24), r in rule_set(), cr in creds(), t in target()
    ) {
        prop_assert_eq!(eval(&c, &t, &cr, &r), naive(&c, &t, &cr, &r, &mut Vec::new()));
    }

    #[test]
    fn printed_rules_parse_back_to_themselves(c in tree(5, 48)) {
        let printed = c.to_string();
        prop_assert_eq!(parse(&printed), Ok(c), "{}", printed);
    }

    #[test]
    fn parser_and_evaluator_never_panic_on_token_soup(s in soup(), r in rule_set(), cr in creds(), t in target()) {
        if let Ok(c) = parse(&s) {
            let _ = eval(&c, &t, &cr, &r);
            prop_assert_eq!(parse(&c.to_string()), Ok(c.clone()), "{:?} printed as {}", s, c);
        }
    }

    #[test]
    fn parser_and_evaluator_never_panic_on_any_string(s in any::<String>(), r in rule_set(), cr in creds(), t in target()) {
        if let Ok(c) = parse(&s) {
            let _ = eval(&c, &t, &cr, &r);
            prop_assert_eq!(parse(&c.to_string()), Ok(c.clone()), "{:?} printed as {}", s, c);
        }
    }
}
