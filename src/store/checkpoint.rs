//! WAL checkpoints for the SQLite group-commit writer, on a thread of their own.
//!
//! SQLite checkpoints a WAL database by itself inside the `COMMIT` that grows the log past
//! 1,000 pages: on the writer's thread, while the next batch of creates waits. With
//! `synchronous = FULL` a checkpoint copies the pages back and fsyncs the database file; on a
//! big table (random pages of the uuid indexes) that took tens of milliseconds, and it was the
//! creates' p99. So the writer's connection checkpoints only as a backstop
//! ([`WRITER_AUTOCHECKPOINT`] pages) and nudges this thread after each commit instead; it runs a
//! `PASSIVE` checkpoint (which neither waits for nor blocks the writer or the readers) at most
//! every [`EVERY`].

use std::sync::mpsc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;

use super::{DbConn, StoreError};

/// At most one checkpoint per this long while writes go on.
pub const EVERY: Duration = Duration::from_millis(100);

/// The writer's own `wal_autocheckpoint`: only if this thread fell far behind (or died) does a
/// commit checkpoint inline again.
pub const WRITER_AUTOCHECKPOINT: u32 = 10_000;

/// The handle the writer keeps: nudges coalesce into one pending checkpoint. Dropping it
/// ends the thread and waits for it, so its connection is closed when the writer's is.
pub(crate) struct Checkpointer {
    tx: Option<mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread; `connect` opens its connection (again after an error).
    pub(crate) fn start(
        name: String,
        connect: impl Fn() -> Result<DbConn, StoreError> + Send + 'static,
    ) -> std::io::Result<Checkpointer> {
        let (tx, rx) = mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new().name(name).spawn(move || {
            let mut conn: Option<DbConn> = None;
            let mut last: Option<Instant> = None;
            while rx.recv().is_ok() {
                // At most one checkpoint per EVERY; nudges meanwhile join this one. The
                // handle's drop ends the wait at once.
                if let Some(t) = last {
                    if !wait_until(&rx, t + EVERY) {
                        return;
                    }
                }
                last = Some(Instant::now());
                if conn.is_none() {
                    conn = connect().map_err(|e| tracing::warn!("WAL checkpointer: {e}")).ok();
                }
                if let Some(c) = conn.as_mut() {
                    if let Err(e) = c.batch_execute("PRAGMA wal_checkpoint(PASSIVE)") {
                        tracing::warn!("WAL checkpoint failed: {e}");
                        conn = None;
                    }
                }
            }
        })?;
        Ok(Checkpointer { tx: Some(tx), thread: Some(thread) })
    }

    /// After a commit: a checkpoint soon (a no-op if one is already pending).
    pub(crate) fn nudge(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.try_send(());
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Waits until `deadline`, taking the nudges that come meanwhile. False when the handle is gone.
fn wait_until(rx: &mpsc::Receiver<()>, deadline: Instant) -> bool {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        match rx.recv_timeout(deadline - now) {
            Ok(()) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => return true,
            Err(mpsc::RecvTimeoutError::Disconnected) => return false,
        }
    }
}
