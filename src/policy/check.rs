//! The oslo.policy check language (oslo_policy/_parser.py and _checks.py): the check tree, its
//! printer, and the limits that keep parsing and evaluation bounded.
//!
//! Grammar: atoms `@` (always), `!` (never), `rule:NAME`, `role:NAME` and generic `KIND:MATCH`,
//! combined with `and`, `or`, `not` and parentheses; `and` binds tighter than `or`; the empty
//! string is `@`. Parsing is in `parse.rs`, evaluation in `eval.rs`, and the bits of Python a
//! check uses (`%`-formatting, `ast.literal_eval`) in `pyfmt.rs`.
//!
//! Limits (every one ends in a refusal or a denial, never in a crash or an allow):
//! - [`MAX_NESTING`]: `(` and `not` nest at most 64 deep inside one check string; a deeper
//!   string is refused when the policy file is loaded (Barbican's own rules nest 3 deep).
//! - [`MAX_RULE_DEPTH`]: a decision follows at most 64 `rule:` references in a row; a rule
//!   cycle or a longer chain cuts the decision off, and a cut-off denies whatever `not`s surround
//!   it. Loading a policy warns about both, as oslo.policy's `check_rules` warns about cycles.
//! - [`MAX_EVAL_DEPTH`]: an evaluation recurses at most 256 checks deep (rule chains times the
//!   nesting inside each rule), which keeps it well inside any thread's stack.
//! - [`MAX_STEPS`]: a decision visits at most 100,000 checks. Each rule is evaluated once per
//!   decision (its result is remembered), so a rule that doubles itself 40 times costs 80
//!   steps, not 2^40; only a policy with more checks than this can run out, and it then denies.

use std::fmt;

pub use super::eval::{allows, eval, Cred, Creds, Cut, RuleSet, Target};
pub use super::parse::{parse, parse_noting, ParseError};

pub const MAX_NESTING: usize = 64;
pub const MAX_RULE_DEPTH: usize = 64;
pub const MAX_EVAL_DEPTH: usize = 256;
pub const MAX_STEPS: u32 = 100_000;

#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    True,
    False,
    Rule(String),
    Role(String),
    /// `kind:match`; kind is a credential path or a Python literal.
    Generic { kind: String, matcher: String },
    Not(Box<Check>),
    And(Vec<Check>),
    Or(Vec<Check>),
}

/// oslo's `__str__`: `@`, `!`, `kind:match`, `not X`, `(A and B)`, `(A or B)`.
///
/// One addition: an atom that starts and ends with the same quote (`'a':b'`) is printed in
/// parentheses, because standing alone oslo's tokenizer would read it as a quoted string.
impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let atom = |f: &mut fmt::Formatter<'_>, s: String| {
            let quoted = s.len() >= 2 && (s.starts_with('"') && s.ends_with('"') || s.starts_with('\'') && s.ends_with('\''));
            if quoted {
                write!(f, "({s})")
            } else {
                f.write_str(&s)
            }
        };
        let join = |f: &mut fmt::Formatter<'_>, items: &[Check], op: &str| {
            f.write_str("(")?;
            for (i, c) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(op)?;
                }
                write!(f, "{c}")?;
            }
            f.write_str(")")
        };
        match self {
            Check::True => f.write_str("@"),
            Check::False => f.write_str("!"),
            Check::Rule(m) => atom(f, format!("rule:{m}")),
            Check::Role(m) => atom(f, format!("role:{m}")),
            Check::Generic { kind, matcher } => atom(f, format!("{kind}:{matcher}")),
            Check::Not(c) => write!(f, "not {c}"),
            Check::And(items) => join(f, items, " and "),
            Check::Or(items) => join(f, items, " or "),
        }
    }
}

/// Names of the rules a check references through `rule:`.
pub fn referenced_rules(c: &Check) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(c: &Check, out: &mut Vec<String>) {
        match c {
            Check::Rule(n) => out.push(n.clone()),
            Check::Not(i) => walk(i, out),
            Check::And(v) | Check::Or(v) => v.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    walk(c, &mut out);
    out
}
