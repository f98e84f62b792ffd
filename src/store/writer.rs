//! Group commit for SQLite: one writer thread per store that runs the write jobs waiting for it
//! in ONE transaction (each job in its own savepoint) and commits them with one fsync.
//!
//! SQLite has a single writer anyway: with `synchronous = FULL` every commit fsyncs the WAL, so
//! committing jobs one by one would cap creates at the disk's fsync rate and queue them on the
//! write lock (the busy handler's sleeps made p99 hundreds of ms). Here the jobs queue on a
//! channel instead; the writer takes the first, then whatever else is waiting (up to
//! [`MAX_BATCH`]), and:
//!
//! 1. `BEGIN IMMEDIATE`: takes the database's write lock up front, waiting `busy_timeout` for
//!    another process (e.g. `portcullis kek rotate`) to let go; if it cannot, every job of the
//!    batch fails with that error (503 "database is locked").
//! 2. each job runs between `SAVEPOINT` and `RELEASE`; a job that returns an error (a quota
//!    refusal, a constraint) or panics is rolled back to its savepoint alone and answered with
//!    its own error after the commit, the others go on. A savepoint that cannot be rolled back
//!    or released (SQLite rolled the whole transaction back, e.g. on a full disk) fails the
//!    whole batch.
//! 3. `COMMIT`: one fsync for the batch. Only then is any job answered: with its result if the
//!    commit succeeded, with the commit's error otherwise (never a success for a lost write).
//!
//! Everything inside one writer is serial, so checks such as quotas stay exact. On
//! PostgreSQL/MySQL (and SQLite `:memory:`, where another connection would be another database)
//! [`super::Store::write`] runs the job in its own transaction on a pooled connection instead.

use std::any::Any;
use std::num::NonZeroU32;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::Connection;

use super::checkpoint::{Checkpointer, WRITER_AUTOCHECKPOINT};
use super::{DbConn, StoreError};

/// The most jobs one transaction takes.
pub const MAX_BATCH: usize = 64;

/// Why a whole batch failed, kept so that each job gets its own copy of the error.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    kind: DatabaseErrorKind,
    message: String,
}

impl Failure {
    fn of(e: &DieselError) -> Failure {
        match e {
            DieselError::DatabaseError(kind, info) => Failure { kind: *kind, message: info.message().to_string() },
            // A broken transaction manager or connection: the database cannot serve right now.
            DieselError::BrokenTransactionManager => {
                Failure { kind: DatabaseErrorKind::ClosedConnection, message: e.to_string() }
            }
            other => Failure { kind: DatabaseErrorKind::Unknown, message: other.to_string() },
        }
    }

    fn connect(e: &StoreError) -> Failure {
        Failure { kind: DatabaseErrorKind::ClosedConnection, message: e.to_string() }
    }

    /// A fresh diesel error carrying the same kind and message (so that
    /// [`super::unavailable`] still recognises "database is locked" and lost connections).
    fn error(&self) -> DieselError {
        DieselError::DatabaseError(self.kind, Box::new(self.message.clone()))
    }
}

/// A job waiting for the writer (type-erased: each carries its own result channel).
pub(crate) trait Pending: Send {
    /// Runs the job on `conn` inside a savepoint of the batch's transaction.
    fn run(self: Box<Self>, conn: &mut DbConn) -> Ran;
    /// Answers the job without running it: its batch failed before its turn.
    fn fail(self: Box<Self>, f: &Failure);
}

/// A job that ran, to be answered once the batch's fate is known.
pub(crate) struct Ran {
    answer: Box<dyn Answer>,
    /// The savepoint could not be released or rolled back: the batch must not commit.
    poisoned: Option<Failure>,
}

trait Answer: Send {
    fn send(self: Box<Self>, commit: Result<(), &Failure>);
}

type Reply<T, E> = mpsc::SyncSender<Result<Result<T, E>, Box<dyn Any + Send>>>;

struct Job<F, T, E> {
    f: F,
    reply: Reply<T, E>,
}

struct Outcome<T, E> {
    result: Result<Result<T, E>, Box<dyn Any + Send>>,
    reply: Reply<T, E>,
}

impl<F, T, E> Pending for Job<F, T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<DieselError> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &mut DbConn) -> Ran {
        let Job { f, reply } = *self;
        let (result, poisoned) = in_savepoint(conn, f);
        Ran { answer: Box::new(Outcome { result, reply }), poisoned }
    }

    fn fail(self: Box<Self>, f: &Failure) {
        let _ = self.reply.send(Ok(Err(E::from(f.error()))));
    }
}

impl<T: Send, E: From<DieselError> + Send> Answer for Outcome<T, E> {
    fn send(self: Box<Self>, commit: Result<(), &Failure>) {
        let result = match (self.result, commit) {
            // Only a committed success is a success; a job's own error (rolled back to its
            // savepoint) stays its answer whatever became of the batch.
            (Ok(Ok(v)), Ok(())) => Ok(Ok(v)),
            (Ok(Ok(_)), Err(f)) => Ok(Err(E::from(f.error()))),
            (other, _) => other,
        };
        let _ = self.reply.send(result);
    }
}

/// Runs `f` between `SAVEPOINT` and `RELEASE` (or `ROLLBACK TO` when it fails or panics).
/// Returns its result, and a failure when the savepoint could not be closed cleanly.
#[allow(clippy::type_complexity)]
fn in_savepoint<F, T, E>(conn: &mut DbConn, f: F) -> (Result<Result<T, E>, Box<dyn Any + Send>>, Option<Failure>)
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<DieselError>,
{
    type Tm = <DbConn as Connection>::TransactionManager;
    if let Err(e) = Tm::begin_transaction(conn) {
        let f = Failure::of(&e);
        return (Ok(Err(E::from(e))), Some(f));
    }
    let result = catch_unwind(AssertUnwindSafe(|| f(&mut *conn)));
    // The job must leave the depth as it found it (its own nested transactions closed).
    let depth = Tm::transaction_manager_status_mut(conn).transaction_depth();
    if depth != Ok(NonZeroU32::new(2)) {
        let f = Failure {
            kind: DatabaseErrorKind::Unknown,
            message: format!("a write job left the transaction at depth {depth:?}"),
        };
        return (result, Some(f));
    }
    match result {
        Ok(Ok(v)) => match Tm::commit_transaction(conn) {
            Ok(()) => (Ok(Ok(v)), None),
            Err(e) => {
                let f = Failure::of(&e);
                (Ok(Err(E::from(e))), Some(f))
            }
        },
        other => match Tm::rollback_transaction(conn) {
            Ok(()) => (other, None),
            Err(e) => {
                let f = Failure::of(&e);
                (other, Some(f))
            }
        },
    }
}

/// The handle a store keeps: the job queue of its writer thread. Dropping the last one ends
/// the thread (and its checkpointer) and waits for them, so that a stopped server has closed
/// every connection to its database.
pub(crate) struct Writer {
    tx: Option<mpsc::Sender<Box<dyn Pending>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            // Not from the writer itself (a job holding the last handle): it ends on its own.
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

impl Writer {
    /// Starts the writer thread; `connect` opens (and sets up) its own connection, again after
    /// a failed batch. The thread ends when the last handle is dropped.
    /// Its WAL checkpoints run on a [`Checkpointer`] thread of their own, on another
    /// connection from `connect`.
    pub(crate) fn start(
        name: String,
        connect: impl Fn() -> Result<DbConn, StoreError> + Send + Sync + 'static,
    ) -> std::io::Result<Writer> {
        let connect = std::sync::Arc::new(connect);
        let c = connect.clone();
        let checkpointer = Checkpointer::start(format!("{name}-checkpoint"), move || c())?;
        let (tx, rx) = mpsc::channel::<Box<dyn Pending>>();
        let thread = std::thread::Builder::new().name(name).spawn(move || {
            let connect_writer = || {
                let mut c = connect()?;
                c.batch_execute(&format!("PRAGMA wal_autocheckpoint = {WRITER_AUTOCHECKPOINT}"))
                    .map_err(StoreError::Query)?;
                Ok(c)
            };
            writer_loop(rx, connect_writer, &checkpointer)
        })?;
        Ok(Writer { tx: Some(tx), thread: Some(thread) })
    }

    /// Queues `f` and waits for its answer (after its batch's commit). A panic in `f` is
    /// resumed here, in the caller's thread.
    pub(crate) fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DieselError> + Send + 'static,
    {
        let (reply, answer) = mpsc::sync_channel(1);
        let gone = || E::from(DieselError::BrokenTransactionManager);
        let Some(tx) = &self.tx else { return Err(gone()) };
        if tx.send(Box::new(Job { f, reply })).is_err() {
            return Err(gone());
        }
        match answer.recv() {
            Ok(Ok(r)) => r,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => Err(gone()),
        }
    }
}

fn writer_loop(
    rx: mpsc::Receiver<Box<dyn Pending>>,
    connect: impl Fn() -> Result<DbConn, StoreError>,
    checkpointer: &Checkpointer,
) {
    let mut conn: Option<DbConn> = None;
    while let Ok(first) = rx.recv() {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        if conn.is_none() {
            match connect() {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    let f = Failure::connect(&e);
                    batch.into_iter().for_each(|j| j.fail(&f));
                    continue;
                }
            }
        }
        let c = conn.as_mut().expect("connected above");
        if run_batch(c, batch) {
            checkpointer.nudge();
        } else {
            // Whatever state the connection is in, the next batch starts on a fresh one.
            conn = None;
        }
    }
}

/// One transaction for the batch. False when the connection should be replaced.
pub(crate) fn run_batch(conn: &mut DbConn, batch: Vec<Box<dyn Pending>>) -> bool {
    let begun = match &mut *conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE"),
        // Not used (PostgreSQL/MySQL jobs run on pooled connections), but correct anyway.
        other => <DbConn as Connection>::TransactionManager::begin_transaction(other),
    };
    if let Err(e) = begun {
        let f = Failure::of(&e);
        batch.into_iter().for_each(|j| j.fail(&f));
        // "database is locked" leaves the connection fine; anything else: start afresh.
        return super::unavailable(&e) && !matches!(e, DieselError::BrokenTransactionManager);
    }
    let mut ran: Vec<Box<dyn Answer>> = Vec::with_capacity(batch.len());
    let mut poisoned: Option<Failure> = None;
    for job in batch {
        if let Some(f) = &poisoned {
            job.fail(f);
            continue;
        }
        let r = job.run(conn);
        ran.push(r.answer);
        poisoned = r.poisoned;
    }
    let commit = match poisoned {
        Some(f) => Err(f),
        None => <DbConn as Connection>::TransactionManager::commit_transaction(conn).map_err(|e| Failure::of(&e)),
    };
    let healthy = commit.is_ok();
    if !healthy {
        // Nothing of the batch may stay: roll back whatever is still open (errors ignored, the
        // connection is replaced anyway).
        if let DbConn::Sqlite(c) = conn {
            let _ = c.batch_execute("ROLLBACK");
        }
    }
    let commit = commit.as_ref().map(|_| ());
    for a in ran {
        a.send(commit);
    }
    healthy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> DbConn {
        let mut c = DbConn::Sqlite(diesel::SqliteConnection::establish(":memory:").unwrap());
        c.batch_execute("CREATE TABLE t (x INTEGER PRIMARY KEY)").unwrap();
        c
    }

    fn count(c: &mut DbConn) -> i64 {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::sql_query("SELECT count(*) AS n FROM t").get_result::<N>(c).unwrap().n
    }

    fn job(
        x: i64,
    ) -> (Box<dyn Pending>, mpsc::Receiver<Result<Result<i64, DieselError>, Box<dyn Any + Send>>>) {
        let (reply, rx) = mpsc::sync_channel(1);
        let f = move |c: &mut DbConn| -> Result<i64, DieselError> {
            use diesel::prelude::*;
            diesel::sql_query(format!("INSERT INTO t VALUES ({x})")).execute(c)?;
            Ok(x)
        };
        (Box::new(Job { f, reply }), rx)
    }

    #[test]
    fn a_failing_job_rolls_back_alone() {
        let mut c = memory();
        let (a, ra) = job(1);
        let (b, rb) = job(1); // duplicate key: fails
        let (d, rd) = job(2);
        assert!(run_batch(&mut c, vec![a, b, d]));
        assert_eq!(ra.recv().unwrap().unwrap().unwrap(), 1);
        assert!(rb.recv().unwrap().unwrap().is_err());
        assert_eq!(rd.recv().unwrap().unwrap().unwrap(), 2);
        assert_eq!(count(&mut c), 2);
    }

    #[test]
    fn a_failing_commit_fails_every_job() {
        let mut c = memory();
        // A deferred foreign key makes COMMIT itself fail.
        c.batch_execute(
            "PRAGMA foreign_keys = ON; CREATE TABLE p (id INTEGER PRIMARY KEY); \
             CREATE TABLE ch (pid INTEGER REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED)",
        )
        .unwrap();
        let (a, ra) = job(1);
        let (reply, rb) = mpsc::sync_channel(1);
        let bad = Box::new(Job {
            f: |c: &mut DbConn| -> Result<(), DieselError> {
                c.batch_execute("INSERT INTO ch VALUES (42)")?;
                Ok(())
            },
            reply,
        });
        assert!(!run_batch(&mut c, vec![a, bad]));
        assert!(ra.recv().unwrap().unwrap().is_err(), "no success for a write that was not committed");
        assert!(rb.recv().unwrap().unwrap().is_err());
        assert_eq!(count(&mut c), 0);
    }

    #[test]
    fn a_panicking_job_rolls_back_alone_and_panics_in_its_caller() {
        let mut c = memory();
        let (a, ra) = job(1);
        let (reply, rb) = mpsc::sync_channel::<Result<Result<(), DieselError>, Box<dyn Any + Send>>>(1);
        let bad = Box::new(Job {
            f: |c: &mut DbConn| -> Result<(), DieselError> {
                c.batch_execute("INSERT INTO t VALUES (7)")?;
                panic!("boom")
            },
            reply,
        });
        let (d, rd) = job(2);
        assert!(run_batch(&mut c, vec![a, bad, d]));
        assert!(ra.recv().unwrap().unwrap().is_ok());
        assert!(rb.recv().unwrap().is_err(), "the panic goes back to the caller");
        assert!(rd.recv().unwrap().unwrap().is_ok());
        assert_eq!(count(&mut c), 2);
    }
}
