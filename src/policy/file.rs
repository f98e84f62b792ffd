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

/// 1-based line of each key in a JSON text: the first line whose first token (after an optional
/// `{` or `,`) is the quoted key followed by a colon. One pass over the text.
fn json_key_lines(text: &str) -> HashMap<&str, usize> {
    let mut out = HashMap::new();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim_start().trim_start_matches(['{', ',']).trim_start();
        let Some(rest) = t.strip_prefix('"') else { continue };
        let Some(end) = rest.find('"') else { continue };
        if rest[end + 1..].trim_start().starts_with(':') {
            out.entry(&rest[..end]).or_insert(i + 1);
        }
    }
    out
}

fn is_known(name: &str) -> bool {
    defaults::BASE_RULES.iter().any(|(n, _)| *n == name) || defaults::ROUTE_RULES.iter().any(|(n, _, _)| *n == name)
}

/// (rule name, check string, line) from a JSON text. serde_json refuses nesting deeper than 128.
fn json_pairs(text: &str, origin: &str) -> Result<Vec<(String, String, usize)>, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("{origin} line {}: not valid JSON: {e}", e.line()))?;
    let obj = v.as_object().ok_or_else(|| format!("{origin}: a policy file is a mapping of rule names to check strings"))?;
    let lines = json_key_lines(text);
    let mut out = Vec::new();
    for (k, v) in obj {
        let line = lines.get(k.as_str()).copied().unwrap_or(0);
        // null is the empty rule, as in YAML (oslo.policy: `parse_rule(None)` is TrueCheck).
        let s = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            _ => return Err(format!("{origin} line {line}: rule '{k}': the check must be a string")),
        };
        out.push((k.clone(), s, line));
    }
    Ok(out)
}

/// A YAML scalar as YamlLoader would type it: Ok(Some(text)) for a string, Ok(None) for null,
/// Err(what it is) for a boolean or a number.
fn yaml_scalar(v: String, style: yaml_rust2::scanner::TScalarStyle, tag: Option<yaml_rust2::parser::Tag>) -> Result<Option<String>, &'static str> {
    use yaml_rust2::Yaml;
    let typed = if style != yaml_rust2::scanner::TScalarStyle::Plain {
        return Ok(Some(v));
    } else if let Some(t) = tag.filter(|t| t.handle == "tag:yaml.org,2002:") {
        match t.suffix.as_str() {
            "bool" => Yaml::Boolean(true),
            "int" => Yaml::Integer(0),
            "float" => Yaml::Real(v),
            "null" if v == "~" || v == "null" => Yaml::Null,
            "null" => Yaml::BadValue,
            _ => return Ok(Some(v)),
        }
    } else {
        Yaml::from_str(&v)
    };
    match typed {
        Yaml::String(s) => Ok(Some(s)),
        Yaml::Null => Ok(None),
        Yaml::Boolean(_) => Err("a boolean"),
        Yaml::Integer(_) | Yaml::Real(_) => Err("a number"),
        _ => Err("not a valid scalar"),
    }
}

/// (rule name, check string, line) from a YAML text, read as a stream of parser events: only a
/// top-level mapping of scalars is accepted, so no nested structure is ever built (a file of
/// 100,000 nested sequences is refused at its second level) and aliases never expand.
fn yaml_pairs(text: &str, origin: &str) -> Result<Vec<(String, String, usize)>, String> {
    use yaml_rust2::parser::{Event, Parser};
    let not_mapping = |line: usize| format!("{origin} line {line}: a policy file is a mapping of rule names to check strings");
    let mut parser = Parser::new_from_str(text);
    let mut out = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut anchors: HashMap<usize, Result<Option<String>, &'static str>> = HashMap::new();
    let mut in_map = false;
    let mut docs = 0;
    let mut key: Option<(String, usize)> = None;
    loop {
        let (ev, mark) = parser
            .next_token()
            .map_err(|e| format!("{origin} line {}: not valid YAML: {}", e.marker().line(), e.info()))?;
        let line = mark.line();
        let scalar = match ev {
            Event::StreamEnd => break,
            Event::StreamStart | Event::Nothing | Event::DocumentEnd => continue,
            Event::DocumentStart => {
                docs += 1;
                if docs > 1 {
                    return Err(format!("{origin} line {line}: a policy file holds one YAML document"));
                }
                continue;
            }
            Event::MappingStart(..) if !in_map && key.is_none() && out.is_empty() => {
                in_map = true;
                continue;
            }
            Event::MappingEnd => {
                in_map = false;
                continue;
            }
            Event::Scalar(v, style, aid, tag) => {
                let s = yaml_scalar(v, style, tag);
                if aid > 0 {
                    anchors.insert(aid, s.clone());
                }
                s
            }
            Event::Alias(id) => anchors.get(&id).cloned().unwrap_or(Err("an alias of a collection")),
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                let what = if matches!(ev, Event::SequenceStart(..)) { "a list" } else { "a mapping" };
                return Err(match &key {
                    Some((k, l)) => format!("{origin} line {l}: rule '{k}': the check must be a string, not {what}"),
                    None if in_map => format!("{origin} line {line}: rule names must be strings, not {what}"),
                    None => not_mapping(line),
                });
            }
            Event::SequenceEnd => return Err(not_mapping(line)),
        };
        if !in_map {
            // A document that is a lone scalar: empty or `~` means no rules, anything else is wrong.
            if scalar == Ok(None) {
                continue;
            }
            return Err(not_mapping(line));
        }
        match key.take() {
            None => {
                let k = scalar
                    .and_then(|k| k.ok_or("null"))
                    .map_err(|what| format!("{origin} line {line}: rule names must be strings, not {what}"))?;
                if let Some(first) = seen.insert(k.clone(), line) {
                    return Err(format!("{origin} line {line}: rule '{k}' is already defined on line {first}"));
                }
                key = Some((k, line));
            }
            Some((k, l)) => {
                // null is the empty rule (oslo.policy: `parse_rule(None)` is TrueCheck).
                let s = scalar
                    .map_err(|what| format!("{origin} line {l}: rule '{k}': the check must be a string, not {what}"))?
                    .unwrap_or_default();
                out.push((k, s, l));
            }
        }
    }
    Ok(out)
}

/// Parses a policy file's text. Returns the rules and warnings (unknown rule names, references
/// to undefined rules, checks that deny because of how oslo.policy reads them).
pub fn parse(text: &str, origin: &str) -> Result<(Vec<FileRule>, Vec<String>), String> {
    let pairs = if text.trim_start().starts_with('{') { json_pairs(text, origin)? } else { yaml_pairs(text, origin)? };
    let mut rules = Vec::with_capacity(pairs.len());
    let mut warnings = Vec::new();
    for (name, s, line) in pairs {
        let mut notes = Vec::new();
        let c = check::parse_noting(&s, &mut notes).map_err(|e| format!("{origin} line {line}: rule '{name}': {e}"))?;
        warnings.extend(notes.into_iter().map(|n| format!("{origin} line {line}: rule '{name}': {n}")));
        if !is_known(&name) {
            warnings.push(format!(
                "{origin} line {line}: '{name}' is not a Barbican rule; it only matters where another rule references it"
            ));
        }
        rules.push(FileRule { name, check: c, text: s, line });
    }
    // References to rules that exist nowhere deny (or fall back to "default") in oslo; say so.
    let mut names: HashMap<&str, ()> = rules.iter().map(|r| (r.name.as_str(), ())).collect();
    for (n, _) in defaults::BASE_RULES {
        names.insert(n, ());
    }
    for (n, _, _) in defaults::ROUTE_RULES {
        names.insert(n, ());
    }
    let fallback = names.contains_key(super::DEFAULT_RULE);
    for r in &rules {
        for referenced in check::referenced_rules(&r.check) {
            if !names.contains_key(referenced.as_str()) {
                let then = if fallback {
                    format!("so it stands for rule '{}', as in oslo.policy", super::DEFAULT_RULE)
                } else {
                    "it always denies".to_string()
                };
                warnings.push(format!(
                    "{origin} line {}: rule '{}' references 'rule:{referenced}', which is defined nowhere ({then})",
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
        let (r, _) = parse("{\"secrets:get\": null,\n \"secret:get\": \"!\"}", "p.json").unwrap();
        let got: Vec<_> = r.iter().map(|r| (r.name.as_str(), r.line, &r.check)).collect();
        assert_eq!(got, [("secret:get", 2, &Check::False), ("secrets:get", 1, &Check::True)], "null is the empty rule");
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("a: role:x\n\"secrets:get\": \"role:member and\"\n", "p.yaml").err().unwrap();
        assert!(e.starts_with("p.yaml line 2: rule 'secrets:get'"), "{e}");
        let e = parse("a: role:x\nb: \"open\n", "p.yaml").err().unwrap();
        assert!(e.contains("not valid YAML"), "{e}");
        let e = parse("a: [1\nb: c\n", "p.yaml").err().unwrap();
        assert!(e.starts_with("p.yaml line 1: rule 'a': the check must be a string"), "{e}");
        let e = parse("{\"a\": 1}", "p.json").err().unwrap();
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn deep_files_are_refused_without_building_them() {
        // 100,000 levels of YAML or JSON nesting: refused with a message, no stack overflow.
        let n = 100_000;
        let cases = [
            (format!("{}x\n", "- ".repeat(n)), "p line 1: a policy file is a mapping"),
            (format!("{}{}\n", "[".repeat(n), "]".repeat(n)), "p line 1: not valid YAML: recursion limit exceeded"),
            (format!("\"secrets:get\": {}{}\n", "[".repeat(n), "]".repeat(n)), "p line 1: rule 'secrets:get': the check must be a string, not a list"),
            (format!("a: role:b\nc:\n{}x\n", "  - ".repeat(n)), "p line 2: rule 'c': the check must be a string, not a list"),
            (format!("a: role:b\n{}x: y\n", "? ".repeat(n)), "p line 2: rule names must be strings, not a mapping"),
            (format!("{{\"secrets:get\": {}{}}}", "[".repeat(n), "]".repeat(n)), "p line 1: not valid JSON: recursion limit exceeded"),
            (format!("{}{}", "{\"a\": ".repeat(n), "}".repeat(n)), "p line 1: not valid JSON: recursion limit exceeded"),
        ];
        for (text, want) in cases {
            let e = parse(&text, "p").err().unwrap();
            assert!(e.starts_with(want), "{e}");
        }
        // A check string nested 100,000 deep is refused by the check parser, with its line.
        let e = parse(&format!("a: role:b\nsecrets:get: {}role:x\n", "not ".repeat(n)), "p").err().unwrap();
        assert!(e.starts_with("p line 2: rule 'secrets:get': '(' and 'not' nest more than 64 levels deep"), "{e}");
    }

    #[test]
    fn yaml_scalars_aliases_and_documents() {
        // An alias of a string is that string (YAML anchors never expand into structures here).
        let (r, _) = parse("admin: &a role:admin\nobserver: *a\nempty:\n", "p").unwrap();
        assert_eq!(r.iter().map(|r| (r.name.as_str(), r.text.as_str(), r.line)).collect::<Vec<_>>(),
            [("admin", "role:admin", 1), ("observer", "role:admin", 2), ("empty", "", 3)]);
        assert_eq!(r[2].check, Check::True, "a null check is the empty rule, which allows");
        let e = parse("a: true\n", "p").err().unwrap();
        assert_eq!(e, "p line 1: rule 'a': the check must be a string, not a boolean");
        let e = parse("1: role:x\n", "p").err().unwrap();
        assert_eq!(e, "p line 1: rule names must be strings, not a number");
        let e = parse("a: role:x\n~: role:y\n", "p").err().unwrap();
        assert_eq!(e, "p line 2: rule names must be strings, not null");
        let e = parse("a: role:x\n---\nb: role:y\n", "p").err().unwrap();
        assert!(e.contains("one YAML document"), "{e}");
        let e = parse("a: role:x\na: role:y\n", "p").err().unwrap();
        assert_eq!(e, "p line 2: rule 'a' is already defined on line 1");
        assert!(parse("# only a comment\n", "p").unwrap().0.is_empty());
        assert!(parse("plain text\n", "p").is_err());
    }

    #[test]
    fn quoted_checks_warn_and_deny() {
        let (r, w) = parse("\"secrets:get\": '\"@\"'\n", "p").unwrap();
        assert_eq!(r[0].check, Check::False);
        assert!(w.iter().any(|m| m.starts_with("p line 1: rule 'secrets:get': the quoted token \"@\"")), "{w:?}");
    }

    #[test]
    fn unknown_rule_names_warn() {
        let (_, w) = parse("secret:gett: role:admin\nsecrets:get: rule:nope\n", "p.yaml").unwrap();
        assert!(w.iter().any(|m| m.contains("'secret:gett' is not a Barbican rule")), "{w:?}");
        assert!(w.iter().any(|m| m.contains("'rule:nope'")), "{w:?}");
    }
}
