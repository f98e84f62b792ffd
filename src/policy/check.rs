//! The oslo.policy check language: parsing and evaluation with oslo's semantics.
//!
//! Grammar (oslo.policy `_parser`): atoms `@` (always), `!` (never), `rule:NAME`, `role:NAME`,
//! and generic `KIND:MATCH`; combined with `and`, `or`, `not` and parentheses. `and` binds tighter
//! than `or`. An empty string is `@`.

use std::collections::HashMap;

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

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct ParseError(pub String);

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Atom(String),
}

fn tokenize(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    for raw in s.split_whitespace() {
        let mut t = raw;
        let mut opens = 0;
        while let Some(r) = t.strip_prefix('(') {
            opens += 1;
            t = r;
        }
        let mut closes = 0;
        while let Some(r) = t.strip_suffix(')') {
            closes += 1;
            t = r;
        }
        out.extend(std::iter::repeat_n(Tok::LParen, opens));
        if !t.is_empty() {
            let lower = t.to_ascii_lowercase();
            out.push(match lower.as_str() {
                "and" => Tok::And,
                "or" => Tok::Or,
                "not" => Tok::Not,
                _ => {
                    // oslo strips one level of quotes around a whole token
                    let unq = if t.len() >= 2
                        && ((t.starts_with('"') && t.ends_with('"'))
                            || (t.starts_with('\'') && t.ends_with('\'')))
                        && !t.contains(':')
                    {
                        &t[1..t.len() - 1]
                    } else {
                        t
                    };
                    Tok::Atom(unq.to_string())
                }
            });
        }
        out.extend(std::iter::repeat_n(Tok::RParen, closes));
    }
    out
}

fn atom(s: &str) -> Result<Check, ParseError> {
    match s {
        "@" => return Ok(Check::True),
        "!" => return Ok(Check::False),
        _ => {}
    }
    let (kind, m) = s
        .split_once(':')
        .ok_or_else(|| ParseError(format!("'{s}' is not a check (expected KIND:MATCH, @ or !)")))?;
    Ok(match kind {
        "rule" => Check::Rule(m.to_string()),
        "role" => Check::Role(m.to_string()),
        _ => Check::Generic { kind: kind.to_string(), matcher: m.to_string() },
    })
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn or_expr(&mut self) -> Result<Check, ParseError> {
        let mut items = vec![self.and_expr()?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            items.push(self.and_expr()?);
        }
        Ok(if items.len() == 1 { items.pop().unwrap_or(Check::False) } else { Check::Or(items) })
    }
    fn and_expr(&mut self) -> Result<Check, ParseError> {
        let mut items = vec![self.unary()?];
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 { items.pop().unwrap_or(Check::False) } else { Check::And(items) })
    }
    fn unary(&mut self) -> Result<Check, ParseError> {
        match self.next() {
            Some(Tok::Not) => Ok(Check::Not(Box::new(self.unary()?))),
            Some(Tok::LParen) => {
                let inner = self.or_expr()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(inner),
                    _ => Err(ParseError("missing ')'".into())),
                }
            }
            Some(Tok::Atom(a)) => atom(&a),
            Some(t) => Err(ParseError(format!("unexpected {t:?}"))),
            None => Err(ParseError("unexpected end of rule".into())),
        }
    }
}

/// Parses a check string. Unlike oslo (which logs and denies), a malformed string is an error, so
/// that a bad policy file is refused instead of silently denying.
pub fn parse(s: &str) -> Result<Check, ParseError> {
    let toks = tokenize(s);
    if toks.is_empty() {
        return Ok(Check::True);
    }
    let mut p = Parser { toks, pos: 0 };
    let c = p.or_expr()?;
    if p.pos != p.toks.len() {
        return Err(ParseError(format!("unexpected {:?} after a complete rule", p.toks[p.pos])));
    }
    Ok(c)
}

/// A credential value as oslo sees it.
#[derive(Debug, Clone)]
pub enum Cred {
    Str(Option<String>),
    List(Vec<String>),
    Bool(bool),
}

impl Cred {
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

/// Python `%`-substitution of `%(key)s` from the target; None when a key is missing.
fn substitute(m: &str, target: &Target) -> Option<String> {
    if !m.contains("%(") {
        return Some(m.to_string());
    }
    let mut out = String::with_capacity(m.len());
    let mut rest = m;
    while let Some(i) = rest.find("%(") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let j = after.find(")s")?;
        out.push_str(target.get(&after[..j])?);
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    Some(out)
}

/// `ast.literal_eval(kind)` for the literals a policy can hold, rendered with `str()`.
fn py_literal(kind: &str) -> Option<String> {
    let k = kind.trim();
    if k.len() >= 2
        && ((k.starts_with('\'') && k.ends_with('\'')) || (k.starts_with('"') && k.ends_with('"')))
    {
        return Some(k[1..k.len() - 1].to_string());
    }
    match k {
        "True" | "False" | "None" => return Some(k.to_string()),
        _ => {}
    }
    if let Ok(i) = k.parse::<i64>() {
        return Some(i.to_string());
    }
    None
}

pub trait RuleSet {
    fn rule(&self, name: &str) -> Option<&Check>;
}

pub fn eval(c: &Check, target: &Target, creds: &Creds, rules: &dyn RuleSet, depth: u32) -> bool {
    if depth > 64 {
        return false; // a rule cycle: deny
    }
    match c {
        Check::True => true,
        Check::False => false,
        Check::Rule(name) => match rules.rule(name) {
            Some(r) => eval(r, target, creds, rules, depth + 1),
            None => false,
        },
        Check::Role(m) => {
            let Some(m) = substitute(m, target) else { return false };
            match creds.get("roles") {
                Some(Cred::List(roles)) => {
                    let m = m.to_lowercase();
                    roles.iter().any(|r| r.to_lowercase() == m)
                }
                _ => false,
            }
        }
        Check::Generic { kind, matcher } => {
            let Some(m) = substitute(matcher, target) else { return false };
            if let Some(lit) = py_literal(kind) {
                return m == lit;
            }
            match creds.get(kind.as_str()) {
                Some(Cred::List(items)) => items.iter().any(|x| *x == m),
                Some(v) => v.py_str() == m,
                None => false,
            }
        }
        Check::Not(inner) => !eval(inner, target, creds, rules, depth + 1),
        Check::And(items) => items.iter().all(|i| eval(i, target, creds, rules, depth + 1)),
        Check::Or(items) => items.iter().any(|i| eval(i, target, creds, rules, depth + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoRules;
    impl RuleSet for NoRules {
        fn rule(&self, _: &str) -> Option<&Check> {
            None
        }
    }

    fn creds(roles: &[&str], project: &str, user: Option<&str>) -> Creds {
        let mut c = Creds::new();
        c.insert("roles", Cred::List(roles.iter().map(|s| s.to_string()).collect()));
        c.insert("project_id", Cred::Str(Some(project.into())));
        c.insert("user_id", Cred::Str(user.map(String::from)));
        c
    }

    fn ev(rule: &str, t: &[(&str, &str)], c: &Creds) -> bool {
        let target: Target = t.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        eval(&parse(rule).unwrap(), &target, c, &NoRules, 0)
    }

    #[test]
    fn oslo_semantics() {
        let c = creds(&["Admin", "member"], "p1", None);
        assert!(ev("role:admin", &[], &c), "roles compare case-insensitively");
        assert!(!ev("role:reader", &[], &c));
        assert!(ev("project_id:%(target.secret.project_id)s", &[("target.secret.project_id", "p1")], &c));
        assert!(!ev("project_id:%(target.secret.project_id)s", &[], &c), "missing key is false");
        assert!(ev("user_id:%(target.secret.creator_id)s", &[("target.secret.creator_id", "None")], &c),
            "a null creator equals a null user, as str(None) == 'None'");
        assert!(ev("True:%(enforce_new_defaults)s", &[("enforce_new_defaults", "True")], &c));
        assert!(!ev("True:%(enforce_new_defaults)s", &[("enforce_new_defaults", "False")], &c));
        assert!(ev("'read':%(target.secret.read)s", &[("target.secret.read", "read")], &c));
        assert!(!ev("'read':%(target.secret.read)s", &[], &c));
        assert!(ev("not role:reader and (role:member or !)", &[], &c));
        assert!(ev("role:reader or role:member and @", &[], &c), "and binds tighter than or");
        assert!(!ev("!", &[], &c));
        assert!(ev("", &[], &c));
    }

    #[test]
    fn malformed_is_an_error() {
        assert!(parse("role:admin and").is_err());
        assert!(parse("(role:admin").is_err());
        assert!(parse("admin").is_err());
        assert!(parse("role:a role:b").is_err());
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
