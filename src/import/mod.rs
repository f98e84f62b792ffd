//! `portcullis import barbican`: brings a Barbican deployment's database over, with its ids and
//! times, re-encrypting every simple_crypto secret under Portcullis project KEKs.
//!
//! The Barbican database is only read. Each object is inserted only when its id is missing
//! here, in batches of one transaction each, so a second run (or a run after a kill) adds only
//! what is missing. Plaintexts live in zeroizing memory between the Fernet decrypt and the
//! AES-GCM seal; `--verify` compares SHA-256 hashes of them, in memory.

pub mod barbican_db;
pub mod fernet;
mod objects;
pub mod report;
mod secrets;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use diesel::Connection;

use crate::service::Core;
use crate::store::{imported, DbConn};
use barbican_db::Source;
use fernet::{FernetKey, MultiFernet};
pub use report::Report;

/// Objects per write transaction.
const BATCH: usize = 250;

pub struct Options {
    pub barbican_conf: PathBuf,
    /// Overrides the barbican.conf `[database] connection`.
    pub connection: Option<String>,
    pub dry_run: bool,
    pub verify: bool,
}

/// What the import phases share.
pub(crate) struct Ctx<'a> {
    core: &'a Core,
    src: Source,
    /// Barbican's internal project id -> the Keystone project id.
    projects: HashMap<String, String>,
    dry_run: bool,
    report: Report,
    /// Secrets not brought over (another plugin, failed): what hangs on them is skipped.
    secrets_left: HashSet<String>,
    containers_left: HashSet<String>,
}

impl Ctx<'_> {
    fn conn(&self) -> Result<crate::store::PooledConn, String> {
        self.core.store.conn().map_err(|e| format!("Portcullis database: {e}"))
    }

    fn existing(&self, t: imported::Table) -> Result<HashSet<String>, String> {
        imported::existing(&mut *self.conn()?, t).map_err(|e| format!("Portcullis database: {e}"))
    }

    fn project(&self, internal: &str) -> Option<String> {
        self.projects.get(internal).cloned()
    }

    /// Inserts `items` (all missing here) in batches, one transaction each; a batch that fails
    /// is retried row by row, so one bad row fails alone (with its reason).
    fn write<T>(
        &mut self,
        kind: &'static str,
        items: &[T],
        insert: impl Fn(&mut DbConn, &T) -> diesel::QueryResult<()>,
    ) -> Result<(), String> {
        self.write_with(kind, items, insert, true)
    }

    /// [`Ctx::write`], with or without its own progress bar.
    fn write_with<T>(
        &mut self,
        kind: &'static str,
        items: &[T],
        insert: impl Fn(&mut DbConn, &T) -> diesel::QueryResult<()>,
        show: bool,
    ) -> Result<(), String> {
        self.report.of(kind);
        if self.dry_run {
            self.report.of(kind).imported += items.len() as u64;
            return Ok(());
        }
        let mut progress = report::Progress::new(kind, if show { items.len() } else { 0 });
        let mut conn = self.conn()?;
        for (i, chunk) in items.chunks(BATCH).enumerate() {
            let all = (*conn).transaction(|c| chunk.iter().try_for_each(|it| insert(c, it)));
            if all.is_ok() {
                self.report.of(kind).imported += chunk.len() as u64;
            } else {
                for it in chunk {
                    match (*conn).transaction(|c| insert(c, it)) {
                        Ok(()) => self.report.of(kind).imported += 1,
                        Err(e) => self.report.fail(kind, format!("database refused the row: {e}")),
                    }
                }
            }
            progress.at((i * BATCH + chunk.len()).min(items.len()));
        }
        Ok(())
    }
}

/// Reads the master KEK list of barbican.conf.
fn master_keys(conf: &barbican_db::BarbicanConf, file: &std::path::Path) -> Result<MultiFernet, String> {
    if conf.keks.is_empty() {
        return Err(format!(
            "{} has no [simple_crypto_plugin] kek: the Barbican secrets cannot be decrypted without it",
            file.display()
        ));
    }
    let keys = conf
        .keks
        .iter()
        .enumerate()
        .map(|(i, k)| {
            FernetKey::from_text(k.as_bytes()).map_err(|_| {
                format!("[simple_crypto_plugin] kek #{} in {} is not a Fernet key (urlsafe base64 of 32 bytes)", i + 1, file.display())
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(MultiFernet(keys))
}

/// Barbican's side, read and checked before anything here is touched: the database open
/// (read only), the project map, and every simple_crypto project KEK unwrapped.
pub struct Prepared {
    src: Source,
    projects: HashMap<String, String>,
    keks: HashMap<String, FernetKey>,
}

impl Prepared {
    /// Errors (a missing file, an unreadable database, a wrong KEK) come before any write.
    pub fn open(opts: &Options) -> Result<Prepared, String> {
        let conf = barbican_db::read_conf(&opts.barbican_conf)?;
        let url = opts.connection.clone().or(conf.connection.clone()).ok_or_else(|| {
            format!("{} has no [database] connection; give --connection", opts.barbican_conf.display())
        })?;
        let master = master_keys(&conf, &opts.barbican_conf)?;
        drop(conf);
        let mut src = Source::open(&url)?;
        let projects: HashMap<String, String> =
            src.rows("projects", &["id", "external_id"], "")?.into_iter().map(|r| (r.req(0), r.req(1))).collect();
        // Every project KEK opens under the given KEK(s), or nothing is written.
        let keks = secrets::project_keks(&mut src, &projects, &master, &opts.barbican_conf)?;
        Ok(Prepared { src, projects, keks })
    }

    /// Runs the import into `core`; the report says what was done.
    pub fn run(self, core: &Core, opts: &Options) -> Result<Report, String> {
        let mut ctx = Ctx {
            core,
            src: self.src,
            projects: self.projects,
            dry_run: opts.dry_run,
            report: { let mut r = Report::default(); r.dry_run = opts.dry_run; r },
            secrets_left: HashSet::new(),
            containers_left: HashSet::new(),
        };
        let hashes = secrets::import(&mut ctx, &self.keks)?;
        drop(self.keks);
        objects::import(&mut ctx)?;
        if opts.verify && !opts.dry_run {
            ctx.report.verified = Some(secrets::verify(&ctx, &hashes)?);
        }
        Ok(ctx.report)
    }
}

/// The Portcullis side, as `serve` opens it: the store (migrated unless `dry_run`, which
/// writes nothing) and the key manager over the configured master-KEK provider.
pub fn open_core(cfg: &crate::config::Config, dry_run: bool) -> Result<Core, String> {
    let mut cfg = cfg.clone();
    if dry_run {
        cfg.default.db_auto_create = false;
    }
    let provider = crate::server::provider(&cfg, false)?;
    let store = crate::server::open_store(&cfg)?;
    let keys = crate::kek::KeyManager::new(provider, cfg.kek.cache_size)
        .map_err(|e| format!("cannot unseal the master KEK: {e}"))?;
    Ok(Core::new(store, keys, cfg.quotas.clone()))
}
