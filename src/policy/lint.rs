//! Load-time warnings about the graph of `rule:` references, as oslo.policy's `check_rules`
//! warns ("Policies … are part of a cyclical reference"): a cycle, or a chain longer than a
//! decision follows, denies every request that reaches it.

use std::collections::{BTreeSet, HashMap};

use super::check::{referenced_rules, RuleSet, MAX_RULE_DEPTH};

/// At most this many cycles are spelled out.
const MAX_REPORTED_CYCLES: usize = 10;

struct Frame<'a> {
    name: &'a str,
    refs: Vec<&'a str>,
    next: usize,
    height: usize,
}

/// Warnings for the rules `names` of `set` (walked without recursion: a file may chain
/// thousands of rules).
pub fn rule_graph<'a>(names: &[&'a str], set: &'a dyn RuleSet) -> Vec<String> {
    let frame = |name: &'a str| {
        let mut refs: Vec<&'a str> = match set.resolve(name) {
            Some((_, c)) => referenced_rules(c).iter().filter_map(|r| set.resolve(r).map(|(n, _)| n)).collect(),
            None => Vec::new(),
        };
        refs.sort_unstable();
        refs.dedup();
        Frame { name, refs, next: 0, height: 0 }
    };
    let mut done: HashMap<&str, usize> = HashMap::new(); // rule -> longest chain below it
    let mut on_stack: HashMap<&str, usize> = HashMap::new(); // rule -> index in `stack`
    let mut cycles: BTreeSet<Vec<&str>> = BTreeSet::new();
    let mut more_cycles = false;
    let mut sorted = names.to_vec();
    sorted.sort_unstable();
    for &start in &sorted {
        if done.contains_key(start) {
            continue;
        }
        let mut stack = vec![frame(start)];
        on_stack.insert(start, 0);
        while let Some(top) = stack.last_mut() {
            if let Some(&r) = top.refs.get(top.next) {
                top.next += 1;
                if let Some(&h) = done.get(r) {
                    top.height = top.height.max(h + 1);
                } else if let Some(&pos) = on_stack.get(r) {
                    if cycles.len() < MAX_REPORTED_CYCLES {
                        let mut members: Vec<&str> = stack[pos..].iter().map(|f| f.name).collect();
                        // One spelling per cycle: start at its smallest name.
                        let min = members.iter().enumerate().min_by_key(|(_, n)| **n).map_or(0, |(i, _)| i);
                        members.rotate_left(min);
                        cycles.insert(members);
                    } else {
                        more_cycles = true;
                    }
                } else {
                    on_stack.insert(r, stack.len());
                    stack.push(frame(r));
                }
            } else if let Some(f) = stack.pop() {
                on_stack.remove(f.name);
                done.insert(f.name, f.height);
                if let Some(parent) = stack.last_mut() {
                    parent.height = parent.height.max(f.height + 1);
                }
            }
        }
    }
    let mut out = Vec::new();
    for c in &cycles {
        let path: Vec<String> = c.iter().chain(c.first()).map(|n| format!("rule:{n}")).collect();
        out.push(format!(
            "rules {} refer to each other in a cycle: a decision that reaches them is cut off and denies",
            path.join(" -> ")
        ));
    }
    if more_cycles {
        out.push(format!("more rule cycles than the {MAX_REPORTED_CYCLES} above"));
    }
    let too_deep: Vec<(&str, usize)> = done.iter().filter(|(_, h)| **h > MAX_RULE_DEPTH).map(|(n, h)| (*n, *h)).collect();
    if let Some((name, h)) = too_deep.iter().max_by_key(|(n, h)| (*h, std::cmp::Reverse(*n))) {
        out.push(format!(
            "rule '{name}' starts a chain of {h} rule references ({} rule(s) chain more than {MAX_RULE_DEPTH}): \
             a decision that follows such a chain to its end is cut off and denies",
            too_deep.len()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::check::{parse, Check};

    struct Rules(HashMap<String, Check>);
    impl RuleSet for Rules {
        fn resolve(&self, name: &str) -> Option<(&str, &Check)> {
            self.0.get_key_value(name).map(|(k, c)| (k.as_str(), c))
        }
    }

    fn rules(src: &[(&str, &str)]) -> Rules {
        Rules(src.iter().map(|(n, s)| (n.to_string(), parse(s).unwrap())).collect())
    }

    fn warn(r: &Rules) -> Vec<String> {
        let names: Vec<&str> = r.0.keys().map(String::as_str).collect();
        rule_graph(&names, r)
    }

    #[test]
    fn cycles_are_reported_once_each() {
        let r = rules(&[("a", "rule:b"), ("b", "rule:a or role:x"), ("c", "not rule:c"), ("d", "rule:a")]);
        let w = warn(&r);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("rule:a -> rule:b -> rule:a"), "{w:?}");
        assert!(w[1].contains("rule:c -> rule:c"), "{w:?}");
        assert!(warn(&rules(&[("a", "rule:b and rule:b"), ("b", "role:x")])).is_empty());
    }

    #[test]
    fn long_chains_are_reported_without_recursion() {
        // 100,000 chained rules: a recursive walk would overflow the stack.
        let n = 100_000;
        let mut src: Vec<(String, String)> = (1..n).map(|i| (format!("r{i}"), format!("rule:r{}", i - 1))).collect();
        src.push(("r0".into(), "role:x".into()));
        let r = Rules(src.iter().map(|(k, v)| (k.clone(), parse(v).unwrap())).collect());
        let w = warn(&r);
        assert_eq!(w.len(), 1, "{w:?}");
        let expected = format!("rule 'r{}' starts a chain of {} rule references ({} rule(s)", n - 1, n - 1, n - 1 - MAX_RULE_DEPTH);
        assert!(w[0].starts_with(&expected), "{w:?}");
    }
}
