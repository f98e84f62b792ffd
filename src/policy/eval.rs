//! Evaluating a check tree with oslo.policy's semantics (`_checks.py`), in bounded time and
//! stack, and never allowing by accident.
//!
//! An evaluation is error-propagating: a rule cycle, a too-deep rule chain, an exhausted step
//! budget or a malformed check is a [`Cut`], which `and`, `or` and `not` pass up unchanged, so a
//! cut-off denies however many `not`s surround it (oslo raises — RecursionError, ValueError —
//! and the request fails). `and`/`or` short-circuit left to right as oslo's do, so a cut-off in
//! a branch oslo would not evaluate does not happen here either.

use std::collections::HashMap;

use super::check::{Check, MAX_EVAL_DEPTH, MAX_RULE_DEPTH, MAX_STEPS};
use super::pyfmt::{self, Kind};

/// A credential value as oslo sees it.
#[derive(Debug, Clone)]
pub enum Cred {
    Str(Option<String>),
    List(Vec<String>),
    Bool(bool),
}

impl Cred {
    /// Python's `str()` of the value.
    fn py_str(&self) -> String {
        match self {
            Cred::Str(Some(s)) => s.clone(),
            Cred::Str(None) => "None".into(),
            Cred::Bool(true) => "True".into(),
            Cred::Bool(false) => "False".into(),
            Cred::List(l) => format!("{l:?}"),
        }
    }
}

pub type Creds = HashMap<&'static str, Cred>;

/// Target values, already rendered the way Python's `str()` renders them ("None", "True", …).
pub type Target = HashMap<String, String>;

pub trait RuleSet {
    /// The rule `rule:name` stands for, with the name it is known by: oslo's `Rules` falls back
    /// to the rule named by `policy_default_rule` ("default") for a name it does not hold.
    fn resolve(&self, name: &str) -> Option<(&str, &Check)>;
}

/// Why an evaluation was cut off. Every cut-off denies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Cut {
    #[error("rule '{0}' is part of a cycle of rule references")]
    Cycle(String),
    #[error("rule '{0}' is more than {MAX_RULE_DEPTH} rule references deep")]
    TooDeep(String),
    #[error("the checks nest more than {MAX_EVAL_DEPTH} deep")]
    TooNested,
    #[error("more than {MAX_STEPS} checks for one decision")]
    Budget,
    #[error("malformed check {0}")]
    Malformed(String),
}

/// Evaluates `c`: Ok(allow?) or the reason it was cut off.
pub fn eval(c: &Check, target: &Target, creds: &Creds, rules: &dyn RuleSet) -> Result<bool, Cut> {
    Evaluator { target, creds, rules, memo: HashMap::new(), active: Vec::new(), steps: 0 }.ev(c, 0)
}

/// Allow only on a clean `true`; a cut-off denies.
pub fn allows(c: &Check, target: &Target, creds: &Creds, rules: &dyn RuleSet) -> bool {
    eval(c, target, creds, rules) == Ok(true)
}

struct Evaluator<'r, 'x> {
    target: &'x Target,
    creds: &'x Creds,
    rules: &'r dyn RuleSet,
    /// Results of the rules evaluated so far: the target and credentials do not change during
    /// one decision, so neither does a rule's result. Cut-offs are not stored: they end the
    /// evaluation.
    memo: HashMap<&'r str, bool>,
    /// The chain of rules being evaluated, innermost last (cycle detection).
    active: Vec<&'r str>,
    steps: u32,
}

impl<'r> Evaluator<'r, '_> {
    fn ev(&mut self, c: &Check, depth: usize) -> Result<bool, Cut> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(Cut::Budget);
        }
        if depth > MAX_EVAL_DEPTH {
            return Err(Cut::TooNested);
        }
        match c {
            Check::True => Ok(true),
            Check::False => Ok(false),
            Check::Rule(name) => self.rule(name, depth),
            Check::Role(m) => role(m, self.target, self.creds),
            Check::Generic { kind, matcher } => generic(kind, matcher, self.target, self.creds),
            Check::Not(inner) => Ok(!self.ev(inner, depth + 1)?),
            Check::And(items) => {
                for i in items {
                    if !self.ev(i, depth + 1)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Check::Or(items) => {
                for i in items {
                    if self.ev(i, depth + 1)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
        }
    }

    /// oslo's RuleCheck: an unknown rule (and no "default") is False ("fail closed").
    fn rule(&mut self, name: &str, depth: usize) -> Result<bool, Cut> {
        let Some((name, body)) = self.rules.resolve(name) else { return Ok(false) };
        if let Some(&v) = self.memo.get(name) {
            return Ok(v);
        }
        if self.active.contains(&name) {
            return Err(Cut::Cycle(name.to_string()));
        }
        if self.active.len() >= MAX_RULE_DEPTH {
            return Err(Cut::TooDeep(name.to_string()));
        }
        self.active.push(name);
        let r = self.ev(body, depth + 1);
        self.active.pop();
        if let Ok(v) = r {
            self.memo.insert(name, v);
        }
        r
    }
}

fn substitute(m: &str, target: &Target) -> Result<Option<String>, Cut> {
    pyfmt::format(m, |k| target.get(k).map(String::as_str)).map_err(Cut::Malformed)
}

/// oslo's RoleCheck: `match % target`, then a case-insensitive membership test in `roles`.
#[inline(never)]
fn role(m: &str, target: &Target, creds: &Creds) -> Result<bool, Cut> {
    let Some(m) = substitute(m, target)? else { return Ok(false) };
    Ok(match creds.get("roles") {
        Some(Cred::List(roles)) => {
            let m = m.to_lowercase();
            roles.iter().any(|r| r.to_lowercase() == m)
        }
        _ => false,
    })
}

/// oslo's GenericCheck: `match % target`, then either `match == str(literal_eval(kind))` or a
/// look-up of `kind` in the credentials, where a list matches if any element's `str()` does.
#[inline(never)]
fn generic(kind: &str, matcher: &str, target: &Target, creds: &Creds) -> Result<bool, Cut> {
    let Some(m) = substitute(matcher, target)? else { return Ok(false) };
    match pyfmt::kind(kind).map_err(Cut::Malformed)? {
        Kind::Literal(lit) => Ok(m == lit),
        // Credentials are flat: a dotted path finds nothing, as oslo's `_find_in_dict` finds
        // nothing (or raises) when it walks into a string.
        Kind::Path => Ok(match creds.get(kind) {
            Some(Cred::List(items)) => items.contains(&m),
            Some(v) => v.py_str() == m,
            None => false,
        }),
    }
}
