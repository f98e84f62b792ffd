//! The two pieces of Python a check string leans on, as oslo.policy's `_checks.py` runs them:
//! `self.match % target` (RoleCheck and GenericCheck) and `ast.literal_eval(self.kind)`
//! (GenericCheck). Portcullis understands the forms Barbican's policies use and refuses the rest
//! when the file is loaded, instead of guessing what Python would have printed.

/// `match % target` with a dict on the right: `%(key)s` inserts `str(target[key])`, `%%` is a
/// percent sign. Returns `Ok(None)` for a missing key (oslo catches that KeyError and denies) and
/// `Err` for a format Python would raise on (ValueError/TypeError) or that Portcullis does not do
/// (flags, widths, conversions other than `s`, keyless `%s`).
pub fn format<'t>(m: &str, lookup: impl Fn(&str) -> Option<&'t str>) -> Result<Option<String>, String> {
    if !m.contains('%') {
        return Ok(Some(m.to_string())); // the common case: Python returns the string unchanged
    }
    let mut out = String::with_capacity(m.len());
    let mut it = m.char_indices().peekable();
    while let Some((_, c)) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match it.next() {
            None => return Err(format!("'{m}': incomplete %-format at the end")),
            Some((_, '%')) => out.push('%'),
            Some((open, '(')) => {
                // Python counts nested parentheses inside the key.
                let mut depth = 1;
                let mut close = None;
                for (i, k) in it.by_ref() {
                    match k {
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                close = Some(i);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let Some(close) = close else {
                    return Err(format!("'{m}': incomplete %(key) (no closing parenthesis)"));
                };
                match it.next() {
                    Some((_, 's')) => {}
                    Some((_, other)) => {
                        return Err(format!(
                            "'{m}': '%(…){other}' is not supported; write %(key)s (or %% for a percent sign)"
                        ))
                    }
                    None => return Err(format!("'{m}': incomplete %-format after %(…)")),
                }
                match lookup(&m[open + 1..close]) {
                    Some(v) => out.push_str(v),
                    None => return Ok(None),
                }
            }
            Some((_, other)) => {
                return Err(format!(
                    "'{m}': '%{other}' is not supported; write %(key)s (or %% for a percent sign)"
                ))
            }
        }
    }
    Ok(Some(out))
}

/// What oslo makes of a GenericCheck's kind.
#[derive(Debug, PartialEq)]
pub enum Kind {
    /// `ast.literal_eval(kind)` succeeded: the check compares the match with `str()` of this.
    Literal(String),
    /// literal_eval raised ValueError: the kind is a dotted path into the credentials.
    Path,
}

/// Classifies a kind as `ast.literal_eval` would. Supported literals: `True`, `False`, `None`,
/// a plain single- or double-quoted string without backslashes (optionally `u`-prefixed) and a
/// decimal integer. Other literal forms (floats, bytes, raw strings, containers, …) are refused:
/// their `str()` is Python's to print, not ours to guess.
pub fn kind(k: &str) -> Result<Kind, String> {
    if matches!(k, "True" | "False" | "None") {
        return Ok(Kind::Literal(k.to_string()));
    }
    let b = k.as_bytes();
    let unsupported = |what: &str| {
        Err(format!(
            "'{k}' is a Python {what} literal, which Portcullis does not evaluate as a check kind \
             (use True, False, None, 'text' or an integer)"
        ))
    };
    // String literals, with an optional prefix of up to two letters.
    let prefix_len = b.iter().take(3).take_while(|c| c.is_ascii_alphabetic()).count();
    if prefix_len <= 2 && matches!(b.get(prefix_len), Some(b'\'' | b'"')) {
        let prefix = k[..prefix_len].to_ascii_lowercase();
        match prefix.as_str() {
            "" | "u" => {}
            "r" | "b" | "br" | "rb" | "f" | "fr" | "rf" => return unsupported(&format!("{prefix}-prefixed string")),
            _ => return not_a_kind(k), // `x'a'` is a SyntaxError: oslo raises at every request
        }
        let q = b[prefix_len] as char;
        let body = &k[prefix_len + 1..];
        return match body.strip_suffix(q) {
            Some(inner) if !inner.contains(q) && !inner.contains('\\') && !body.is_empty() => {
                Ok(Kind::Literal(inner.to_string()))
            }
            _ => unsupported("string (with escapes, several parts or no closing quote)"),
        };
    }
    // Numbers.
    let digits = k.strip_prefix(['+', '-']).unwrap_or(k);
    let first = digits.as_bytes().first().copied();
    if first.is_some_and(|c| c.is_ascii_digit()) || (first == Some(b'.') && digits != k) {
        if let Some(n) = decimal_int(digits) {
            let neg = k.starts_with('-') && n != "0";
            return Ok(Kind::Literal(if neg { format!("-{n}") } else { n }));
        }
        return unsupported("number (other than a decimal integer)");
    }
    if matches!(first, Some(b'.' | b'[' | b'{')) {
        return unsupported("container or Ellipsis");
    }
    let ident = |p: &str| p.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if k.split('.').all(ident) {
        return Ok(Kind::Path);
    }
    not_a_kind(k)
}

/// A kind that is neither a (dotted) credential name nor a literal: in oslo a SyntaxError raised
/// at every request (`not(role:x)` is the kind `not(role`), or a look-up of a credential no
/// context has (`user-id`). Refused, so that the typo is reported.
fn not_a_kind(k: &str) -> Result<Kind, String> {
    Err(format!("'{k}' is neither a credential name nor a Python literal"))
}

/// `str(int(s))` for a Python decimal integer literal (underscores between digits, no leading
/// zeros unless all zeros); None if `s` is not one.
fn decimal_int(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.is_empty() || b[0] == b'_' || b[b.len() - 1] == b'_' || s.contains("__") {
        return None;
    }
    if !b.iter().all(|c| c.is_ascii_digit() || *c == b'_') {
        return None;
    }
    let d: String = s.chars().filter(|c| *c != '_').collect();
    let trimmed = d.trim_start_matches('0');
    if trimmed.is_empty() {
        return Some("0".into());
    }
    if trimmed.len() != d.len() {
        return None; // `007` is a SyntaxError in Python 3
    }
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(m: &str) -> Result<Option<String>, String> {
        format(m, |k| match k {
            "a" => Some("A"),
            "x(y)" => Some("XY"),
            _ => None,
        })
    }

    #[test]
    fn percent_formatting_as_python_does_with_a_dict() {
        // `'%(a)s' % {'a': 'A'}` == 'A'; a missing key is a KeyError, which oslo turns into False.
        assert_eq!(fmt("p-%(a)s-q"), Ok(Some("p-A-q".into())));
        assert_eq!(fmt("%(missing)s"), Ok(None));
        // `'100%%' % {}` == '100%'; a string without % is returned as it is.
        assert_eq!(fmt("100%%"), Ok(Some("100%".into())));
        assert_eq!(fmt("plain"), Ok(Some("plain".into())));
        // Python counts parentheses inside the key: `'%(x(y))s' % {'x(y)': 1}` works.
        assert_eq!(fmt("%(x(y))s"), Ok(Some("XY".into())));
        // ValueError in Python ("incomplete format", "unsupported format character"): refused.
        for bad in ["100%", "%(a", "%(a)", "%(a)d", "%s", "%(a)-5s", "%z"] {
            assert!(fmt(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn literal_eval_of_kinds() {
        let lit = |s: &str| Ok(Kind::Literal(s.to_string()));
        assert_eq!(kind("True"), lit("True"));
        assert_eq!(kind("None"), lit("None"));
        assert_eq!(kind("'read'"), lit("read"));
        assert_eq!(kind("\"read\""), lit("read"));
        assert_eq!(kind("u'read'"), lit("read"));
        assert_eq!(kind("''"), lit(""));
        // str(int): sign folded, underscores dropped, -0 is 0.
        assert_eq!(kind("+1_000"), lit("1000"));
        assert_eq!(kind("-0"), lit("0"));
        assert_eq!(kind("-12"), lit("-12"));
        assert_eq!(kind("000"), lit("0"));
        // Names literal_eval rejects with ValueError: a (dotted) path into the credentials.
        for p in ["project_id", "true", "True.real", "a.b", "_x1"] {
            assert_eq!(kind(p), Ok(Kind::Path), "{p}");
        }
        // Other expressions (ValueError: a credential no context has) and SyntaxErrors.
        for bad in ["user-id", "-x", "x'a'", "not(role", "", "a..b", "a.", "@", "é"] {
            assert!(kind(bad).unwrap_err().contains("neither a credential name nor a Python literal"), "{bad}");
        }
        // Literals whose str() we do not reproduce, and SyntaxErrors that look like literals.
        for bad in ["1.5", "1e3", "0x10", "007", "1j", "b'x'", "r'x'", "'a''b'", "'a\\n'", "'open", "[1]", "{}", "...", ".5"] {
            assert!(kind(bad).is_err(), "{bad}");
        }
    }
}
