//! The key lifecycle behind `portcullis kek …` and `portcullis project-kek …`: init, status,
//! master-KEK rotation, project-KEK rotation (with optional re-encryption), and enrollment.
//!
//! Every step that changes rows is a conditional update in a short transaction, so any of these
//! commands can be killed at any point and finished by running it again, while servers keep
//! serving.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use diesel::Connection;

use super::{check, KekError, KeyManager, MasterKekProvider};
use crate::crypto::{self, Key};
use crate::store::{keks, master_keks, Store};

fn perr(msg: impl Into<String>) -> KekError {
    KekError::Provider(msg.into())
}

/// Held while an administrative command changes the stored master KEK versions.
pub struct AdminLock(#[allow(dead_code)] std::fs::File);

pub fn admin_lock(p: &dyn MasterKekProvider) -> Result<AdminLock, KekError> {
    let path = p.lock_path();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| perr(format!("cannot create {}: {e}", dir.display())))?;
    }
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| perr(format!("cannot open the lock file {}: {e}", path.display())))?;
    match f.try_lock() {
        Ok(()) => Ok(AdminLock(f)),
        Err(std::fs::TryLockError::WouldBlock) => Err(perr(format!(
            "another `portcullis kek` command is running (it holds {}); wait for it to finish",
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(perr(format!("cannot lock {}: {e}", path.display()))),
    }
}

/// `kek init`: a new master KEK, version 1, sealed, and its key-check value recorded in the
/// database. Refuses when this host has a version sealed, or the database lists one (then this
/// deployment has a master KEK: enroll this host instead).
pub fn init(p: &dyn MasterKekProvider, store: &Store) -> Result<String, KekError> {
    let _lock = admin_lock(p)?;
    let existing = p.versions()?;
    if !existing.is_empty() {
        return Err(perr(format!(
            "a master KEK already exists (versions {existing:?}, {}); refusing to overwrite it. \
             Use `portcullis kek rotate` for a new version",
            p.describe()
        )));
    }
    let mut conn = store.conn()?;
    let listed = check::Listed::load(&mut conn)?;
    if !listed.is_empty() {
        return Err(perr(format!(
            "the database already lists master KEK versions ({}): this deployment has a master KEK. \
             Enroll this host from one that holds it (`kek export-target-key` here, `kek export` there, \
             `kek import` here) instead of making a new one",
            listed.0.keys().map(|v| format!("v{v}")).collect::<Vec<_>>().join(", ")
        )));
    }
    let key = Key::generate();
    p.store(1, &key)?;
    // Prove it opens again before anyone relies on it.
    let keys = p.load()?;
    if !keys.versions.get(&1).is_some_and(|k| check::matches(1, k, &check::check_value(1, &key))) {
        return Err(perr("the master KEK just sealed does not unseal to the same key"));
    }
    check::record(&mut conn, 1, &key).map_err(|e| {
        perr(format!(
            "master KEK v1 is sealed ({}) but its key-check value was not recorded in the database: {e}",
            p.describe()
        ))
    })?;
    Ok(format!("master KEK v1 created, {}; its key-check value is recorded in the database", p.describe()))
}

/// `kek status`.
pub struct Status {
    pub provider: &'static str,
    pub location: String,
    pub sealed_versions: Vec<i32>,
    pub current: Option<i32>,
    pub unseal: Result<(), String>,
    pub rows_by_version: Vec<(i32, i64)>,
    /// Each version this host unsealed, against the database's key-check values.
    pub check_values: Vec<(i32, check::CheckState)>,
    /// The database's current version (the highest not retired), if it lists any.
    pub listed_current: Option<i32>,
    pub plaintext: Vec<String>,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "provider: {}", self.provider)?;
        writeln!(f, "location: {}", self.location)?;
        let list = |v: &[i32]| v.iter().map(|v| format!("v{v}")).collect::<Vec<_>>().join(", ");
        writeln!(f, "master KEK versions at rest: {}", if self.sealed_versions.is_empty() { "none (run `portcullis kek init`)".into() } else { list(&self.sealed_versions) })?;
        match self.current {
            Some(c) => writeln!(f, "current master KEK version: v{c}")?,
            None => writeln!(f, "current master KEK version: none")?,
        }
        match &self.unseal {
            Ok(()) => writeln!(f, "unseal: ok")?,
            Err(e) => writeln!(f, "unseal: FAILED: {e}")?,
        }
        if let Some(c) = self.listed_current {
            writeln!(f, "database: current master KEK version v{c}")?;
        }
        for (v, st) in &self.check_values {
            let what = match st {
                check::CheckState::Matches => "matches the database's key-check value",
                check::CheckState::Missing => "not listed in the database yet (`kek rotate` or `kek export` on this host records it)",
                check::CheckState::Differs => "DIFFERS from the database's key-check value: this key belongs to another deployment",
            };
            writeln!(f, "master KEK v{v}: {what}")?;
        }
        if self.rows_by_version.is_empty() {
            writeln!(f, "project KEKs: none")?;
        }
        for (v, n) in &self.rows_by_version {
            writeln!(f, "project KEKs under master v{v}: {n}")?;
        }
        if let Some(c) = self.current {
            let behind: i64 = self.rows_by_version.iter().filter(|(v, _)| *v < c).map(|(_, n)| n).sum();
            let old: Vec<i32> = self.sealed_versions.iter().copied().filter(|v| *v < c).collect();
            if behind > 0 || !old.is_empty() {
                writeln!(f, "rotation: unfinished ({behind} project KEKs still under an older version, older versions at rest: {}); run `portcullis kek rotate` to finish it", list(&old))?;
            } else {
                writeln!(f, "rotation: none in progress")?;
            }
        }
        if self.plaintext.is_empty() {
            writeln!(f, "master KEK in plaintext on this host: no")?;
        } else {
            writeln!(f, "master KEK in plaintext on this host: YES")?;
            for p in &self.plaintext {
                writeln!(f, "  - {p}")?;
            }
        }
        Ok(())
    }
}

/// Gathers `kek status`. `dev_file`: the `[kek] file_path`, reported if a plaintext master KEK
/// file lies there even when another provider is configured.
pub fn status(p: &dyn MasterKekProvider, store: Option<&Store>, dev_file: Option<&std::path::Path>) -> Result<Status, KekError> {
    let sealed_versions = p.versions()?;
    let loaded = p.load();
    let (mut rows_by_version, mut check_values, mut listed_current) = (Vec::new(), Vec::new(), None);
    if let Some(s) = store {
        let mut conn = s.conn()?;
        rows_by_version = keks::count_by_master_version(&mut conn)?;
        let listed = check::Listed::load(&mut conn)?;
        listed_current = listed.current();
        if let Ok(keys) = &loaded {
            let mut vs: Vec<i32> = keys.versions.keys().copied().collect();
            vs.sort_unstable();
            check_values = vs.into_iter().map(|v| (v, check::state(v, &keys.versions[&v], &listed))).collect();
        }
    }
    let unseal = loaded.map(|_| ()).map_err(|e| e.to_string());
    let mut plaintext = Vec::new();
    if p.plaintext_at_rest() && !sealed_versions.is_empty() {
        plaintext.push(format!("the '{}' provider keeps it in plaintext: {}", p.name(), p.describe()));
    } else if let Some(f) = dev_file.filter(|f| f.exists()) {
        if !p.plaintext_at_rest() {
            plaintext.push(format!("a development master KEK file exists at {} (delete it if nothing uses it)", f.display()));
        }
    }
    Ok(Status {
        provider: p.name(),
        location: p.describe(),
        current: sealed_versions.last().copied(),
        sealed_versions,
        unseal,
        rows_by_version,
        check_values,
        listed_current,
        plaintext,
    })
}

#[derive(Debug, Clone)]
pub struct BatchOptions {
    pub batch_size: i64,
    /// A pause between batches, to spare a busy database.
    pub pause: Duration,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions { batch_size: 500, pause: Duration::ZERO }
    }
}

#[derive(Debug)]
pub struct RotateReport {
    pub target: i32,
    pub started_new: bool,
    pub rewrapped: u64,
    pub batches: u64,
    pub retired: Vec<i32>,
    pub elapsed: Duration,
}

/// `kek rotate`: seals a new master version (unless an unfinished rotation is found, which it
/// finishes), rewraps every project KEK under it in batches of conditional updates, then retires
/// the older versions once no row needs them.
pub fn rotate_master(
    p: &dyn MasterKekProvider,
    store: &Store,
    opts: &BatchOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<RotateReport, KekError> {
    let started = Instant::now();
    let _lock = admin_lock(p)?;
    let mut keys = p.load()?;
    let mut conn = store.conn()?;
    let older_at_rest: Vec<i32> = p.versions()?.into_iter().filter(|v| *v < keys.current).collect();
    // This host's keys must be the deployment's (and versions sealed before check values
    // existed, or whose record a crash interrupted, get theirs now).
    for v in check::reconcile(&keys, &mut conn)? {
        progress(&format!("recorded the key-check value of master KEK v{v} in the database"));
    }
    if let Some(h) = check::Listed::load(&mut conn)?.highest().filter(|h| *h > keys.current) {
        return Err(perr(format!(
            "the database lists master KEK v{h}, newer than this host's v{}: the master KEK was rotated \
             on another host; enroll this host again instead of rotating here",
            keys.current
        )));
    }
    let rows = keks::count_by_master_version(&mut conn)?;
    if let Some((v, n)) = rows.iter().find(|(v, _)| *v > keys.current) {
        return Err(perr(format!(
            "{n} project KEKs are wrapped under master v{v}, newer than this host's v{}: the master KEK \
             was rotated on another host; enroll this host again instead of rotating here",
            keys.current
        )));
    }
    let behind = rows.iter().any(|(v, n)| *v < keys.current && *n > 0);
    let started_new = older_at_rest.is_empty() && !behind;
    if started_new {
        let v = keys.current + 1;
        let key = Key::generate();
        p.store(v, &key)?;
        if let Err(e) = check::record(&mut conn, v, &key) {
            // Another host listed v{v} first: ours must not stay, or this host would wrap
            // project KEKs under a key nobody else has.
            let undo = p.retire(v).err().map(|u| format!(" (and removing it again failed: {u})")).unwrap_or_default();
            return Err(perr(format!("master KEK v{v} was sealed but not recorded in the database: {e}{undo}")));
        }
        keys.versions.insert(v, key);
        keys.current = v;
        progress(&format!("sealed master KEK v{v} and recorded its key-check value"));
    } else {
        progress(&format!("finishing an unfinished rotation to master KEK v{}", keys.current));
    }
    let target = keys.current;
    for (v, n) in &rows {
        if *v != target && !keys.versions.contains_key(v) {
            return Err(perr(format!(
                "{n} project KEKs are wrapped under master v{v}, which this host does not have"
            )));
        }
    }
    let new_master = keys.versions[&target].cipher();
    let olds: BTreeMap<i32, crypto::Cipher> =
        keys.versions.iter().filter(|(v, _)| **v != target).map(|(v, k)| (*v, k.cipher())).collect();
    let (mut rewrapped, mut batches) = (0u64, 0u64);
    loop {
        let rows = keks::behind(&mut conn, target, opts.batch_size)?;
        if rows.is_empty() {
            break;
        }
        let n = conn.transaction::<u64, KekError, _>(|c| {
            let mut n = 0;
            for row in &rows {
                let old = olds.get(&row.master_version).ok_or(KekError::MissingMaster(row.master_version))?;
                let mut raw = old
                    .open(&row.wrapped_key, &crypto::kek_aad(&row.project_id, &row.id, row.master_version))
                    .map_err(|e| KekError::Unwrap(row.id.clone(), e))?;
                let wrapped = new_master.seal(&raw, &crypto::kek_aad(&row.project_id, &row.id, target));
                zeroize::Zeroize::zeroize(&mut raw[..]);
                if keks::rewrap(c, &row.id, row.master_version, target, &wrapped?)? {
                    n += 1;
                }
            }
            Ok(n)
        })?;
        rewrapped += n;
        batches += 1;
        progress(&format!("batch {batches}: rewrapped {n} project KEKs ({rewrapped} so far)"));
        if !opts.pause.is_zero() {
            std::thread::sleep(opts.pause);
        }
    }
    // Retire the older versions that no row needs (a server that wrapped a new project KEK under
    // an old version meanwhile brings it to the newest one itself; see KeyManager::create_kek).
    let mut retired = Vec::new();
    let in_use = keks::count_by_master_version(&mut conn)?;
    for v in p.versions()?.into_iter().filter(|v| *v < target) {
        if in_use.iter().any(|(u, n)| *u == v && *n > 0) {
            progress(&format!("master KEK v{v} is still needed by some rows; run `portcullis kek rotate` again"));
            continue;
        }
        p.retire(v)?;
        master_keks::mark_retired(&mut conn, v)?;
        retired.push(v);
        progress(&format!("retired master KEK v{v}"));
    }
    Ok(RotateReport { target, started_new, rewrapped, batches, retired, elapsed: started.elapsed() })
}

#[derive(Debug)]
pub struct ProjectRotateReport {
    pub new_kek: String,
    pub reencrypted: u64,
    pub failed: Vec<String>,
}

/// `project-kek rotate`: a new active project KEK (new secrets use it; old ones still decrypt
/// under their KEK); with `reencrypt`, the project's secrets are sealed again under it, in
/// batches of conditional updates.
pub fn rotate_project(
    keys: &KeyManager,
    store: &Store,
    project: &str,
    reencrypt: bool,
    opts: &BatchOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<ProjectRotateReport, KekError> {
    let mut conn = store.conn()?;
    let new_kek = keys.rotate_project_kek(&mut conn, project)?;
    progress(&format!("project {project}: new active project KEK {new_kek}"));
    let mut report = ProjectRotateReport { new_kek: new_kek.clone(), reencrypted: 0, failed: Vec::new() };
    if !reencrypt {
        return Ok(report);
    }
    reencrypt_project(keys, store, project, &new_kek, opts, progress, &mut report)?;
    Ok(report)
}

fn reencrypt_project(
    keys: &KeyManager,
    store: &Store,
    project: &str,
    new_kek: &str,
    opts: &BatchOptions,
    progress: &mut dyn FnMut(&str),
    report: &mut ProjectRotateReport,
) -> Result<(), KekError> {
    let mut conn = store.conn()?;
    let new = keys.kek(&mut conn, project, new_kek)?;
    let mut after = String::new();
    loop {
        let rows = keks::payloads_not_under(&mut conn, project, new_kek, &after, opts.batch_size)?;
        let Some(last) = rows.last() else { break };
        after = last.id.clone();
        let mut sealed = Vec::with_capacity(rows.len());
        for r in &rows {
            let ct = r.content_type.as_deref().unwrap_or(crate::model::OCTET_STREAM);
            let old = keys.kek(&mut conn, project, &r.kek_id)?;
            match old.open(&r.cypher_text, &crypto::secret_aad(&r.id, project, &r.kek_id, ct)) {
                Ok(plain) => sealed.push((r, new.seal(&plain, &crypto::secret_aad(&r.id, project, new_kek, ct))?)),
                Err(_) => report.failed.push(r.id.clone()),
            }
        }
        let n = conn.transaction::<u64, KekError, _>(|c| {
            let mut n = 0;
            for (r, ct) in &sealed {
                if keks::reseal_payload(c, &r.id, &r.kek_id, new_kek, ct)? {
                    n += 1;
                }
            }
            Ok(n)
        })?;
        report.reencrypted += n;
        progress(&format!("re-encrypted {n} secrets ({} so far)", report.reencrypted));
        if !opts.pause.is_zero() {
            std::thread::sleep(opts.pause);
        }
    }
    if !report.failed.is_empty() {
        return Err(perr(format!(
            "{} secrets of project {project} do not decrypt and were left as they are: {}",
            report.failed.len(),
            report.failed.join(", ")
        )));
    }
    Ok(())
}
