//! What an import did, per object type, and a progress line on a terminal.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::Instant;

#[derive(Default, Debug, Clone)]
pub struct Counts {
    pub imported: u64,
    pub already: u64,
    /// reason -> count
    pub skipped: BTreeMap<String, u64>,
    pub failed: BTreeMap<String, u64>,
}

/// Counts per object type, in the order first seen.
#[derive(Default, Debug)]
pub struct Report {
    pub dry_run: bool,
    kinds: Vec<(&'static str, Counts)>,
    /// Secrets checked by --verify: (matched, differed or unreadable).
    pub verified: Option<(u64, u64)>,
}

impl Report {
    pub fn of(&mut self, kind: &'static str) -> &mut Counts {
        if let Some(i) = self.kinds.iter().position(|(k, _)| *k == kind) {
            return &mut self.kinds[i].1;
        }
        self.kinds.push((kind, Counts::default()));
        &mut self.kinds.last_mut().expect("just pushed").1
    }

    pub fn get(&self, kind: &str) -> Option<&Counts> {
        self.kinds.iter().find(|(k, _)| *k == kind).map(|(_, c)| c)
    }

    pub fn skip(&mut self, kind: &'static str, reason: impl Into<String>) {
        *self.of(kind).skipped.entry(reason.into()).or_default() += 1;
    }

    pub fn fail(&mut self, kind: &'static str, reason: impl Into<String>) {
        *self.of(kind).failed.entry(reason.into()).or_default() += 1;
    }

    pub fn failures(&self) -> u64 {
        self.kinds.iter().map(|(_, c)| c.failed.values().sum::<u64>()).sum::<u64>() + self.verified.map_or(0, |v| v.1)
    }

    /// The summary table (and the reasons under it).
    pub fn table(&self) -> String {
        let done = if self.dry_run { "would import" } else { "imported" };
        let mut out = format!("{:<26} {:>12} {:>14} {:>8} {:>8}\n", "object", done, "already there", "skipped", "failed");
        let mut reasons = String::new();
        for (k, c) in &self.kinds {
            let s: u64 = c.skipped.values().sum();
            let f: u64 = c.failed.values().sum();
            out += &format!("{:<26} {:>12} {:>14} {:>8} {:>8}\n", k, c.imported, c.already, s, f);
            for (r, n) in &c.skipped {
                reasons += &format!("  {k}: {n} skipped: {r}\n");
            }
            for (r, n) in &c.failed {
                reasons += &format!("  {k}: {n} failed: {r}\n");
            }
        }
        if let Some((ok, bad)) = self.verified {
            out += &format!("verify: {ok} secret payload(s) read back through Portcullis equal Barbican's, {bad} differ or fail\n");
        }
        out + &reasons
    }
}

/// A one-line progress indicator, drawn on stderr only when it is a terminal.
pub struct Progress {
    tty: bool,
    what: &'static str,
    total: usize,
    last: Instant,
}

impl Progress {
    /// A bar for `total` steps (none for 0).
    pub fn new(what: &'static str, total: usize) -> Progress {
        Progress { tty: total > 0 && std::io::stderr().is_terminal(), what, total, last: Instant::now() }
    }

    pub fn at(&mut self, done: usize) {
        if !self.tty || (self.last.elapsed().as_millis() < 100 && done < self.total) {
            return;
        }
        self.last = Instant::now();
        let width = 30;
        let filled = (done * width).checked_div(self.total).unwrap_or(width);
        let bar: String = "#".repeat(filled) + &" ".repeat(width - filled.min(width));
        let _ = write!(std::io::stderr(), "\r{:<24} [{bar}] {done}/{}", self.what, self.total);
        if done >= self.total {
            let _ = writeln!(std::io::stderr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_counts_and_reasons() {
        let mut r = Report::default();
        r.of("secrets").imported += 2;
        r.of("secrets").already += 1;
        r.skip("secrets", "stored by the PKCS#11 plugin");
        r.fail("orders", "boom");
        let t = r.table();
        assert!(t.contains("secrets") && t.contains("1 skipped: stored by the PKCS#11 plugin"), "{t}");
        assert!(t.contains("orders: 1 failed: boom"));
        assert_eq!(r.failures(), 1);
    }
}
