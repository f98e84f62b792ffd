//! Parsing a check string as oslo.policy's `_parser.py` does, with the nesting bounded.
//!
//! oslo logs and denies a string it cannot parse. Portcullis refuses such a string when the file
//! is loaded (so a typo is reported, not silently denied), with one exception taken over from
//! oslo as it is: a token in quotes (`"@"`, `'role:admin'`) is a string token that no grammar
//! rule uses, so the whole check denies (it is noted, and the loader warns).

use super::check::{Check, MAX_NESTING};
use super::pyfmt;

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
    /// oslo's StringToken: a whole token in matching quotes.
    Quoted(String),
}

/// Python's `\s` (`str.isspace`): Rust's whitespace plus the separators U+001C..U+001F.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// oslo's `_parse_tokenize`: split on whitespace, peel leading `(` and trailing `)` off each
/// piece, recognise `and`/`or`/`not` in any case. The quote test looks at the piece with its
/// trailing parentheses still on, as oslo's does (`"@")` is not a quoted string, `"@"` is).
fn tokenize(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    for piece in s.split(is_py_space).filter(|p| !p.is_empty()) {
        let tok = piece.trim_start_matches('(');
        out.extend(std::iter::repeat_n(Tok::LParen, piece.len() - tok.len()));
        if tok.is_empty() {
            continue;
        }
        let clean = tok.trim_end_matches(')');
        match clean.to_lowercase().as_str() {
            "and" => out.push(Tok::And),
            "or" => out.push(Tok::Or),
            "not" => out.push(Tok::Not),
            _ if clean.is_empty() => {}
            _ => {
                let b = tok.as_bytes();
                let quoted = b.len() >= 2 && matches!((b[0], b[b.len() - 1]), (b'"', b'"') | (b'\'', b'\''));
                out.push(if quoted { Tok::Quoted(tok[1..tok.len() - 1].to_string()) } else { Tok::Atom(clean.to_string()) });
            }
        }
        out.extend(std::iter::repeat_n(Tok::RParen, tok.len() - clean.len()));
    }
    out
}

/// oslo's `_parse_check` for one atom, plus the load-time checks Portcullis adds: the `%`-format
/// of the match and a kind that is a literal must be ones Portcullis evaluates as Python would.
fn atom(s: &str, notes: &mut Vec<String>) -> Result<Check, ParseError> {
    match s {
        "@" => return Ok(Check::True),
        "!" => return Ok(Check::False),
        _ => {}
    }
    let (kind, m) = s
        .split_once(':')
        .ok_or_else(|| ParseError(format!("'{s}' is not a check (expected KIND:MATCH, @ or !)")))?;
    let bad = |e: String| ParseError(format!("'{s}': {e}"));
    Ok(match kind {
        "rule" => Check::Rule(m.to_string()), // oslo does not %-format rule names
        "role" => {
            pyfmt::format(m, |_| Some("")).map_err(bad)?;
            Check::Role(m.to_string())
        }
        _ => {
            pyfmt::format(m, |_| Some("")).map_err(bad)?;
            pyfmt::kind(kind).map_err(bad)?;
            if kind == "http" || kind == "https" {
                notes.push(format!(
                    "'{s}': oslo.policy's external HTTP check is not supported; Portcullis reads it \
                     as the credential '{kind}', which does not exist, so it denies"
                ));
            }
            Check::Generic { kind: kind.to_string(), matcher: m.to_string() }
        }
    })
}

struct Parser<'n> {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
    quoted: Option<String>,
    notes: &'n mut Vec<String>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get_mut(self.pos).map(|t| std::mem::replace(t, Tok::RParen));
        self.pos += 1;
        t
    }
    /// One more level of `(` or `not`.
    fn deeper(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(ParseError(format!("'(' and 'not' nest more than {MAX_NESTING} levels deep")));
        }
        Ok(())
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
            Some(Tok::Not) => {
                self.deeper()?;
                let inner = self.unary()?;
                self.depth -= 1;
                Ok(Check::Not(Box::new(inner)))
            }
            Some(Tok::LParen) => {
                self.deeper()?;
                let inner = self.or_expr()?;
                self.depth -= 1;
                match self.next() {
                    Some(Tok::RParen) => Ok(inner),
                    _ => Err(ParseError("missing ')'".into())),
                }
            }
            Some(Tok::Atom(a)) => atom(&a, self.notes),
            Some(Tok::Quoted(q)) => {
                self.quoted.get_or_insert(q);
                Ok(Check::False)
            }
            Some(t) => Err(ParseError(format!("unexpected {t:?}"))),
            None => Err(ParseError("unexpected end of rule".into())),
        }
    }
}

/// Parses a check string. A malformed string is an error (see the module comment).
pub fn parse(s: &str) -> Result<Check, ParseError> {
    parse_noting(s, &mut Vec::new())
}

/// [`parse`], adding to `notes` what the loader should warn about (checks that deny because of
/// how oslo reads them).
pub fn parse_noting(s: &str, notes: &mut Vec<String>) -> Result<Check, ParseError> {
    if s.is_empty() {
        return Ok(Check::True); // oslo: "Empty rule means always accept"
    }
    let toks = tokenize(s);
    if toks.is_empty() {
        return Err(ParseError(
            "a check of only whitespace is not empty: oslo.policy cannot parse it and denies; \
             write \"\" to allow everyone or \"!\" to allow no one"
                .into(),
        ));
    }
    let mut p = Parser { toks, pos: 0, depth: 0, quoted: None, notes };
    let c = p.or_expr()?;
    if p.pos != p.toks.len() {
        return Err(ParseError(format!("unexpected {:?} after a complete rule", p.toks[p.pos])));
    }
    if let Some(q) = p.quoted {
        p.notes.push(format!(
            "the quoted token \"{q}\" is a string, not a check: oslo.policy cannot parse the rule \
             and denies it, and so does Portcullis (remove the quotes inside the check string)"
        ));
        return Ok(Check::False);
    }
    Ok(c)
}
