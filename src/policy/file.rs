//! Operator policy files (YAML or JSON, like oslo.policy's): `"rule name": "check string"`.
//! A file overrides only the rules it names. Errors name the file and line.

use std::collections::HashMap;

use super::check::{self, Check};
use super::defaults;

/// A rule read from a file, with the line it stands on.
pub struct FileRule {
    pub name: String,
    pub check: Check,
    pub text: String,
    pub line: usize,
}

/// 1-based line of a key in the file text (quoted or bare, followed by a colon).
fn line_of(text: &str, key: &str) -> usize {
    for (i, l) in text.lines().enumerate() {
        let t = l.trim_start().trim_start_matches('{').trim_start();
        for q in ["\"", "'", ""] {
            if let Some(rest) = t.strip_prefix(q).and_then(|r| r.strip_prefix(key)).and_then(|r| r.strip_prefix(q)) {
                if rest.trim_start().starts_with(':') {
                    return i + 1;
                }
            }
        }
    }
    0
}

fn is_known(name: &str) -> bool {
    defaults::BASE_RULES.iter().any(|(n, _)| *n == name) || defaults::ROUTE_RULES.iter().any(|(n, _, _)| *n == name)
}

/// Parses a policy file's text. Returns the rules and warnings (unknown rule names).
pub fn parse(text: &str, origin: &str) -> Result<(Vec<FileRule>, Vec<String>), String> {
    let pairs: Vec<(String, String)> = if text.trim_start().starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| format!("{origin} line {}: not valid JSON: {e}", e.line()))?;
        let obj = v.as_object().ok_or_else(|| format!("{origin}: a policy file is a mapping of rule names to check strings"))?;
        let mut out = Vec::new();
        for (k, v) in obj {
            let s = v.as_str().ok_or_else(|| {
                format!("{origin} line {}: rule '{k}': the check must be a string", line_of(text, k))
            })?;
            out.push((k.clone(), s.to_string()));
        }
        out
    } else {
        use yaml_rust2::{Yaml, YamlLoader};
        let docs = YamlLoader::load_from_str(text).map_err(|e| {
            format!("{origin} line {}: not valid YAML: {}", e.marker().line(), e.info())
        })?;
        let mut out = Vec::new();
        match docs.into_iter().next() {
            None | Some(Yaml::Null) => {}
            Some(Yaml::Hash(h)) => {
                for (k, v) in h {
                    let Yaml::String(k) = k else {
                        return Err(format!("{origin}: rule names must be strings ({k:?})"));
                    };
                    let s = match v {
                        Yaml::String(s) => s,
                        Yaml::Null => String::new(),
                        other => {
                            return Err(format!(
                                "{origin} line {}: rule '{k}': the check must be a string, not {other:?}",
                                line_of(text, &k)
                            ))
                        }
                    };
                    out.push((k, s));
                }
            }
            Some(_) => return Err(format!("{origin}: a policy file is a mapping of rule names to check strings")),
        }
        out
    };
    let mut rules = Vec::with_capacity(pairs.len());
    let mut warnings = Vec::new();
    for (name, s) in pairs {
        let line = line_of(text, &name);
        let c = check::parse(&s).map_err(|e| format!("{origin} line {line}: rule '{name}': {e}"))?;
        if !is_known(&name) {
            warnings.push(format!(
                "{origin} line {line}: '{name}' is not a Barbican rule; it only matters where another rule references it"
            ));
        }
        rules.push(FileRule { name, check: c, text: s, line });
    }
    // References to rules that exist nowhere deny silently in oslo; say so.
    let mut names: HashMap<&str, ()> = rules.iter().map(|r| (r.name.as_str(), ())).collect();
    for (n, _) in defaults::BASE_RULES {
        names.insert(n, ());
    }
    for (n, _, _) in defaults::ROUTE_RULES {
        names.insert(n, ());
    }
    for r in &rules {
        for referenced in check::referenced_rules(&r.check) {
            if !names.contains_key(referenced.as_str()) {
                warnings.push(format!(
                    "{origin} line {}: rule '{}' references 'rule:{referenced}', which is defined nowhere (it always denies)",
                    r.line, r.name
                ));
            }
        }
    }
    Ok((rules, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json_with_lines() {
        let (r, w) = parse("# comment\n\"secrets:get\": \"role:member\"\ncreator: role:creator or role:member\n", "p.yaml").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].line, 2);
        assert_eq!(r[1].line, 3);
        assert!(w.is_empty(), "{w:?}");
        let (r, _) = parse("{\n  \"secrets:get\": \"role:x\"\n}\n", "p.json").unwrap();
        assert_eq!(r[0].line, 2);
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("a: role:x\n\"secrets:get\": \"role:member and\"\n", "p.yaml").err().unwrap();
        assert!(e.starts_with("p.yaml line 2: rule 'secrets:get'"), "{e}");
        let e = parse("a: [1\nb: c\n", "p.yaml").err().unwrap();
        assert!(e.contains("not valid YAML"), "{e}");
        let e = parse("{\"a\": 1}", "p.json").err().unwrap();
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn unknown_rule_names_warn() {
        let (_, w) = parse("secret:gett: role:admin\nsecrets:get: rule:nope\n", "p.yaml").unwrap();
        assert!(w.iter().any(|m| m.contains("'secret:gett' is not a Barbican rule")), "{w:?}");
        assert!(w.iter().any(|m| m.contains("'rule:nope'")), "{w:?}");
    }
}
