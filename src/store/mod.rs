//! Storage: one diesel code path over SQLite, PostgreSQL and MySQL/MariaDB.
//!
//! Look-ups that match at most one row (by primary or unique key) are `.load(conn)?` then the
//! first element, not `.first(conn)`, which adds a bound `LIMIT ?`: SQLite plans a bound LIMIT
//! by its value and re-prepared such statements at every execution (sqlite3Reprepare under
//! sqlite3_step in profiles). Every SQLite connection also runs with the query-planner
//! stability guarantee (`sqlite_qpsg`), so the lists' `LIMIT ?`/`OFFSET ?` stay prepared too.
//!
//! The hottest reads run through [`native!`] on the backend's own connection type: diesel's
//! `MultiConnection` writes a query's SQL text again at every execution (its bind-collecting
//! pass serializes the whole statement), about 5% of a secret GET; a native connection finds
//! the prepared statement by the query's type and writes no SQL.
//!
//! The backend is picked from the database URL's scheme (diesel's `MultiConnection::establish`
//! hides the real error behind "Invalid connection url", so we dispatch ourselves).

/// Runs `$body` with `$c` bound to the connection's own backend connection (SQLite,
/// PostgreSQL or MySQL); the body (a query built and run there) is compiled once per backend.
macro_rules! native {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::store::DbConn::Sqlite($c) => $body,
            $crate::store::DbConn::Postgres($c) => $body,
            $crate::store::DbConn::Mysql($c) => $body,
        }
    };
}
pub(crate) use native;

pub mod schema;
mod sqlite_qpsg;
mod checkpoint;
mod liveness;
pub use liveness::PING_AFTER;
pub mod secrets;
mod secret_list;
mod secret_totals;
pub mod acls;
pub mod consumers;
pub mod containers;
pub mod imported;
pub mod keks;
pub mod managed_keys;
pub mod master_keks;
pub mod orders;
pub mod order_leases;
pub mod projects;
pub mod quotas;
pub mod stores;
pub mod transport_keys;
pub mod writer;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{CustomizeConnection, Pool, PooledConnection};
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const MYSQL_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/mysql");

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Sqlite(diesel::SqliteConnection),
    Postgres(diesel::PgConnection),
    Mysql(diesel::MysqlConnection),
}

pub type DbPool = Pool<Manager>;
pub type PooledConn = PooledConnection<Manager>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Connect(String),
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database pool: {0}")]
    Pool(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// The database is down, unreachable or locked (as opposed to a bad query or bad data).
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Pool(_) | StoreError::Connect(_) => true,
            StoreError::Query(e) => unavailable(e),
            _ => false,
        }
    }
}

/// Errors that mean "the database cannot serve right now": a lost or closed connection
/// (PostgreSQL restarted, MySQL gone away), SQLite's lock not obtained within the busy timeout.
pub fn unavailable(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => true,
        Error::DatabaseError(_, info) => {
            let m = info.message().to_ascii_lowercase();
            [
                "database is locked",
                "database table is locked",
                "server closed the connection",
                "terminating connection",
                "connection to server",
                "no connection to the server",
                "server has gone away",
                "lost connection",
                "the database system is shutting down",
                "the database system is starting up",
                "could not connect",
                "can't connect",
                "connection refused",
            ]
            .iter()
            .any(|p| m.contains(p))
        }
        Error::BrokenTransactionManager => true,
        // A COMMIT cut off by a lost connection (MySQL: "Lost connection to server during
        // query", then the rollback finds the server gone).
        Error::RollbackErrorOnCommit { rollback_error, commit_error } => {
            unavailable(commit_error) || unavailable(rollback_error)
        }
        _ => false,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    Mysql,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
            Backend::Mysql => "MySQL/MariaDB",
        }
    }
}

/// A parsed database URL: the backend, the URL the driver gets, and a description that is safe
/// to print (host and database, never the password).
#[derive(Clone)]
pub struct DbUrl {
    pub backend: Backend,
    pub driver_url: String,
    pub display: String,
    password: Option<String>,
    /// The cuts its network connections met ([`liveness::Cuts`]).
    cuts: Arc<liveness::Cuts>,
}

impl std::fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DbUrl({})", self.display)
    }
}

impl DbUrl {
    pub fn parse(raw: &str) -> Result<DbUrl, StoreError> {
        let raw = raw.trim();
        let (scheme, rest) = match raw.split_once("://") {
            Some((s, r)) => (s.to_ascii_lowercase(), r),
            None if raw.starts_with("sqlite:") => ("sqlite".to_string(), &raw["sqlite:".len()..]),
            None => ("sqlite".to_string(), raw),
        };
        // SQLAlchemy spellings (barbican.conf) are accepted: mysql+pymysql://, postgresql+psycopg2://
        let base = scheme.split('+').next().unwrap_or("").to_string();
        match base.as_str() {
            "sqlite" | "file" => {
                let path = if rest.is_empty() { ":memory:" } else { rest };
                Ok(DbUrl {
                    backend: Backend::Sqlite,
                    driver_url: path.to_string(),
                    display: format!("SQLite database at {path}"),
                    password: None,
                    cuts: Arc::default(),
                })
            }
            "postgres" | "postgresql" | "mysql" | "mariadb" => {
                let backend =
                    if base.starts_with("postgres") { Backend::Postgres } else { Backend::Mysql };
                let driver_scheme = if backend == Backend::Postgres { "postgres" } else { "mysql" };
                let url = url::Url::parse(&format!("{driver_scheme}://{rest}"))
                    .map_err(|e| StoreError::Connect(format!("the database URL is not valid: {e}")))?;
                let host = url.host_str().unwrap_or("localhost");
                let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
                let db = url.path().trim_start_matches('/');
                let password = url.password().map(|p| {
                    percent_encoding::percent_decode_str(p).decode_utf8_lossy().into_owned()
                });
                Ok(DbUrl {
                    backend,
                    driver_url: url.to_string(),
                    display: format!("{} database '{db}' on {host}{port}", backend.name()),
                    password,
                    cuts: Arc::default(),
                })
            }
            other => Err(StoreError::Connect(format!(
                "unsupported database URL scheme '{other}': use sqlite://PATH, postgresql://… or mysql://…"
            ))),
        }
    }

    /// Removes the password from a driver message, in case a driver echoes the URL.
    fn scrub(&self, msg: &str) -> String {
        match &self.password {
            Some(p) if !p.is_empty() => msg.replace(p.as_str(), "***"),
            _ => msg.to_string(),
        }
    }

    pub fn establish(&self) -> Result<DbConn, StoreError> {
        let res = match self.backend {
            Backend::Sqlite => {
                sqlite_qpsg::install();
                diesel::SqliteConnection::establish(&self.driver_url).map(DbConn::Sqlite)
            }
            Backend::Postgres => diesel::PgConnection::establish(&self.driver_url).map(|mut c| {
                c.set_instrumentation(liveness::Liveness::new(self.cuts.clone()));
                DbConn::Postgres(c)
            }),
            Backend::Mysql => diesel::MysqlConnection::establish(&self.driver_url).map(|mut c| {
                c.set_instrumentation(liveness::Liveness::new(self.cuts.clone()));
                DbConn::Mysql(c)
            }),
        };
        res.map_err(|e| {
            StoreError::Connect(format!(
                "cannot connect to the {}: {}",
                self.display,
                self.scrub(e.to_string().trim())
            ))
        })
    }
}

#[derive(Debug)]
struct ConnSetup {
    backend: Backend,
    busy_timeout_ms: u64,
}

impl CustomizeConnection<DbConn, diesel::r2d2::Error> for ConnSetup {
    fn on_acquire(&self, conn: &mut DbConn) -> Result<(), diesel::r2d2::Error> {
        let sql = match self.backend {
            Backend::Sqlite => {
                return conn
                    .batch_execute(&format!(
                        // FULL: a commit returns once the WAL is fsynced, so an acknowledged
                        // write survives a power cut (NORMAL may lose the last commits).
                        // Creates win the fsyncs back by group commit (see `writer`).
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = {}; \
                         PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;",
                        self.busy_timeout_ms
                    ))
                    .map_err(diesel::r2d2::Error::QueryError);
            }
            // Generic plans: PostgreSQL re-planned the list's page at every execution (a bound
            // LIMIT makes the generic plan look dearer than a custom one, so it never switched),
            // and the planning cost three times the execution. Every statement here filters on
            // indexed keys; no plan depends on a bound value. (PostgreSQL 12 or later.)
            Backend::Postgres => "SET TIME ZONE 'UTC'; SET plan_cache_mode = force_generic_plan",
            // READ COMMITTED (as PostgreSQL's default): a count taken after a row lock sees
            // what committed before the lock, which the quota checks rely on.
            Backend::Mysql => "SET time_zone = '+00:00'; SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        };
        conn.batch_execute(sql).map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Projects whose expired-secret counts a server keeps.
const KEPT_COUNTS: usize = 10_000;

/// The connection pool plus what we know about its backend.
#[derive(Clone)]
pub struct Store {
    pub pool: DbPool,
    pub backend: Backend,
    /// SQLite files: the group-commit writer, started on the first [`Store::write`].
    writer: Option<Arc<WriterSlot>>,
    /// Projects' expired-but-undeleted secret counts, kept while exact (see
    /// [`secrets::KeptCounts`]).
    pub kept_counts: Arc<secrets::KeptCounts>,
}

struct WriterSlot {
    url: DbUrl,
    busy_timeout_ms: u64,
    writer: OnceLock<Result<writer::Writer, String>>,
}

impl Store {
    /// Opens the pool, checking first that the database answers, with a plain message if not.
    pub fn open(url: &DbUrl, max_size: u32) -> StoreResult<Store> {
        Store::open_with(url, max_size, Duration::from_secs(10))
    }

    /// [`Store::open`] with the time a request waits for a connection (or SQLite's write lock)
    /// before the database counts as unavailable.
    pub fn open_with(url: &DbUrl, max_size: u32, wait: Duration) -> StoreResult<Store> {
        if url.backend == Backend::Sqlite && url.driver_url != ":memory:" {
            private_sqlite_file(url)?;
        }
        // One direct attempt first: r2d2 would only report a timeout.
        drop(url.establish()?);
        let manager = Manager { url: url.clone() };
        let busy_timeout_ms = wait.as_millis().max(100) as u64;
        let pool = Pool::builder()
            .max_size(max_size.max(1))
            // Connections are opened as requests need them (up to max_size), not all at start.
            .min_idle(Some(1))
            .connection_timeout(wait.max(Duration::from_millis(100)))
            .connection_customizer(Box::new(ConnSetup { backend: url.backend, busy_timeout_ms }))
            .build(manager)
            .map_err(|e| StoreError::Pool(url.scrub(&e.to_string())))?;
        // `:memory:` is one database per connection: its writes stay on the pool.
        let writer = (url.backend == Backend::Sqlite && url.driver_url != ":memory:").then(|| {
            Arc::new(WriterSlot { url: url.clone(), busy_timeout_ms, writer: OnceLock::new() })
        });
        Ok(Store { pool, backend: url.backend, writer, kept_counts: Arc::new(secrets::KeptCounts::new(KEPT_COUNTS)) })
    }

    /// Runs a write `job` in a transaction and returns once that transaction has committed (or
    /// failed). On an SQLite file the job goes to the store's group-commit writer
    /// ([`writer`]): it runs in a savepoint of a batch transaction that other jobs share, on
    /// the writer's own connection, and its answer comes after the batch's one `COMMIT` (a
    /// failing job is rolled back alone; a failing commit fails every job of the batch). On
    /// PostgreSQL/MySQL it runs in its own transaction on a pooled connection. Called from
    /// blocking threads; the job must not take another connection of this store.
    pub fn write<T, E, F>(&self, job: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<diesel::result::Error> + From<StoreError> + Send + 'static,
    {
        let Some(slot) = &self.writer else {
            let mut conn = self.conn()?;
            return (*conn).transaction(job);
        };
        let w = slot.writer.get_or_init(|| {
            let url = slot.url.clone();
            let setup = ConnSetup { backend: Backend::Sqlite, busy_timeout_ms: slot.busy_timeout_ms };
            writer::Writer::start("portcullis-sqlite-writer".into(), move || {
                let mut c = url.establish()?;
                setup.on_acquire(&mut c).map_err(|e| StoreError::Connect(e.to_string()))?;
                Ok(c)
            })
            .map_err(|e| e.to_string())
        });
        match w {
            Ok(w) => w.write(job),
            Err(e) => Err(StoreError::Pool(format!("cannot start the SQLite writer: {e}")).into()),
        }
    }

    /// Writes go through the group-commit writer (an SQLite file); see [`Store::write`].
    pub fn group_commit(&self) -> bool {
        self.writer.is_some()
    }

    /// A read may run on the calling (async) thread: an SQLite file whose pool has an idle
    /// connection (WAL readers never wait for the writer). See `api::AppState::read`.
    pub fn reads_inline(&self) -> bool {
        self.group_commit() && self.pool.state().idle_connections > 0
    }

    /// A round trip on a pooled connection (readiness checks).
    pub fn ping(&self) -> StoreResult<()> {
        let mut c = self.conn()?;
        (*c).batch_execute("SELECT 1").map_err(StoreError::Query)
    }

    pub fn conn(&self) -> StoreResult<PooledConn> {
        let Some(m) = crate::telemetry::metrics::get() else {
            return self.pool.get().map_err(|e| StoreError::Pool(e.to_string()));
        };
        let start = std::time::Instant::now();
        let res = self.pool.get();
        m.pool_wait.record(start.elapsed().as_secs_f64());
        res.map_err(|e| {
            m.pool_timeout.increment(1);
            StoreError::Pool(e.to_string())
        })
    }

    /// Applies the pending migrations of this backend; returns how many ran.
    pub fn upgrade(&self) -> StoreResult<usize> {
        let mut conn = self.conn()?;
        let res = match &mut *conn {
            DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
            DbConn::Postgres(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|v| v.len()),
            DbConn::Mysql(c) => c.run_pending_migrations(MYSQL_MIGRATIONS).map(|v| v.len()),
        };
        res.map_err(|e| StoreError::Migration(e.to_string()))
    }
}

/// Creates the SQLite database's directory (0700) and file (0600) before SQLite does, so that
/// neither they nor the `-wal`/`-shm` files (SQLite gives those the database file's mode) are
/// readable by other users, whatever the umask.
fn private_sqlite_file(url: &DbUrl) -> StoreResult<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let path = std::path::Path::new(&url.driver_url);
    let fail = |what: &std::path::Path, e: std::io::Error| {
        StoreError::Connect(format!("cannot create {} for the {}: {e}", what.display(), url.display))
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent).map_err(|e| fail(parent, e))?;
    }
    if !path.exists() {
        std::fs::OpenOptions::new().write(true).create(true).truncate(false).mode(0o600).open(path).map_err(|e| fail(path, e))?;
    }
    Ok(())
}

/// Hands out connections through [`DbUrl::establish`], which dispatches on the URL's scheme
/// (diesel's `MultiConnection::establish` tries SQLite first, which would treat a PostgreSQL URL as
/// a file name).
pub struct Manager {
    url: DbUrl,
}

impl diesel::r2d2::ManageConnection for Manager {
    type Connection = DbConn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConn, Self::Error> {
        self.url.establish().map_err(|e| {
            diesel::r2d2::Error::ConnectionError(diesel::ConnectionError::BadConnection(
                e.to_string(),
            ))
        })
    }

    /// Checked at every check-out. An SQLite connection is a file handle that does not go
    /// stale, so it is not pinged (the ping was one more statement per request); a PostgreSQL
    /// or MySQL one may have been cut by a server restart, so it is pinged unless it answered
    /// a query within [`liveness::PING_AFTER`] (one round trip per request, not two).
    fn is_valid(&self, conn: &mut DbConn) -> Result<(), Self::Error> {
        use diesel::r2d2::R2D2Connection;
        let fresh = match conn {
            DbConn::Sqlite(_) => return Ok(()),
            DbConn::Postgres(c) => liveness_of(c).is_some_and(|l| l.fresh()),
            DbConn::Mysql(c) => liveness_of(c).is_some_and(|l| l.fresh()),
        };
        if fresh {
            return Ok(());
        }
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    /// Dropped on return: a broken transaction, or a connection a query found cut.
    fn has_broken(&self, conn: &mut DbConn) -> bool {
        use diesel::r2d2::R2D2Connection;
        let cut = match conn {
            DbConn::Sqlite(_) => false,
            DbConn::Postgres(c) => liveness_of(c).is_some_and(|l| l.cut()),
            DbConn::Mysql(c) => liveness_of(c).is_some_and(|l| l.cut()),
        };
        cut || conn.is_broken()
    }
}

/// The [`liveness::Liveness`] that [`DbUrl::establish`] installed on a network connection.
fn liveness_of(c: &mut impl Connection) -> Option<&liveness::Liveness> {
    c.instrumentation().downcast_ref::<liveness::Liveness>()
}

/// Current time, UTC, truncated to microseconds (what the store keeps).
pub fn now() -> chrono::NaiveDateTime {
    from_micros(to_micros(chrono::Utc::now().naive_utc()))
}

/// A UTC time as stored: microseconds since the Unix epoch.
pub fn to_micros(t: chrono::NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

pub fn now_micros() -> i64 {
    to_micros(chrono::Utc::now().naive_utc())
}

pub fn from_micros(m: i64) -> chrono::NaiveDateTime {
    chrono::DateTime::from_timestamp_micros(m).map(|d| d.naive_utc()).unwrap_or_default()
}

/// Test support: runs `f` on a connection to a fresh, migrated SQLite file and counts the
/// statements it started and the ones diesel prepared into its statement cache.
#[cfg(test)]
pub(crate) fn count_prepares(f: impl FnOnce(&mut DbConn)) -> (usize, usize) {
    use diesel::connection::{Connection, InstrumentationEvent};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let url = DbUrl::parse(&format!("sqlite://{}", dir.path().join("db").display())).unwrap();
    let store = Store::open(&url, 1).unwrap();
    store.upgrade().unwrap();
    let mut conn = store.conn().unwrap();
    let (started, prepared) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (s, p) = (started.clone(), prepared.clone());
    conn.set_instrumentation(move |e: InstrumentationEvent<'_>| match e {
        InstrumentationEvent::CacheQuery { .. } => drop(p.fetch_add(1, Ordering::SeqCst)),
        InstrumentationEvent::StartQuery { .. } => drop(s.fetch_add(1, Ordering::SeqCst)),
        _ => {}
    });
    f(&mut conn);
    (started.load(Ordering::SeqCst), prepared.load(Ordering::SeqCst))
}
