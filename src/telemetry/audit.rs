//! The audit sink: CADF events as JSON lines appended to a file.
//!
//! Requests serialise their event on their own thread; the shared part is one short critical
//! section that copies the line into a buffered writer. The buffer is flushed every second (and
//! when full), or after every event with `fail_closed`, so that a failed write is known before
//! the request that caused it is answered. A file that cannot be opened or written makes the
//! sink "broken": it is opened again at most once a second, on demand.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

const RETRY_EVERY: Duration = Duration::from_secs(1);

pub struct AuditLog {
    path: PathBuf,
    fail_closed: bool,
    out: Mutex<Option<BufWriter<File>>>,
    healthy: AtomicBool,
    /// Milliseconds since `epoch` of the last attempt to open the file.
    last_open_ms: AtomicU64,
    epoch: Instant,
}

fn open(path: &Path) -> std::io::Result<BufWriter<File>> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
    Ok(BufWriter::with_capacity(64 * 1024, f))
}

impl AuditLog {
    /// Opens the file; a failure is logged and leaves the sink broken (and, with
    /// `fail_closed`, every `/v1` request refused until the file can be opened).
    pub fn open(path: PathBuf, fail_closed: bool) -> Arc<AuditLog> {
        let out = match open(&path) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, fail_closed, "cannot open the audit log");
                None
            }
        };
        let log = Arc::new(AuditLog {
            healthy: AtomicBool::new(out.is_some()),
            out: Mutex::new(out),
            path,
            fail_closed,
            last_open_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        });
        if !fail_closed {
            let weak: Weak<AuditLog> = Arc::downgrade(&log);
            let _ = std::thread::Builder::new().name("portcullis-audit".into()).spawn(move || loop {
                std::thread::sleep(Duration::from_secs(1));
                match weak.upgrade() {
                    Some(log) => log.flush(),
                    None => return,
                }
            });
        }
        log
    }

    pub fn fail_closed(&self) -> bool {
        self.fail_closed
    }

    /// Whether events can be written now (a broken sink is retried at most once a second).
    pub fn ready(&self) -> bool {
        if self.healthy.load(Ordering::Relaxed) {
            return true;
        }
        let now = self.epoch.elapsed().as_millis() as u64;
        let last = self.last_open_ms.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < RETRY_EVERY.as_millis() as u64 {
            return false;
        }
        self.last_open_ms.store(now.max(1), Ordering::Relaxed);
        let mut out = self.out.lock();
        if self.healthy.load(Ordering::Relaxed) {
            return true;
        }
        match open(&self.path) {
            Ok(w) => {
                *out = Some(w);
                self.healthy.store(true, Ordering::Relaxed);
                tracing::warn!(path = %self.path.display(), "the audit log is writable again");
                true
            }
            Err(_) => false,
        }
    }

    /// Appends one event (`line` without its newline).
    pub fn write(&self, line: &[u8]) -> std::io::Result<()> {
        let res = {
            let mut guard = self.out.lock();
            match guard.as_mut() {
                None => Err(std::io::Error::other("the audit log is not open")),
                Some(w) => {
                    let r = w.write_all(line).and_then(|_| w.write_all(b"\n"));
                    if self.fail_closed { r.and_then(|_| w.flush()) } else { r }
                }
            }
        };
        if let Err(e) = &res {
            self.broken(e);
        }
        let m = crate::telemetry::metrics::get();
        match (&res, m) {
            (Ok(_), Some(m)) => m.audit_written.increment(1),
            (Err(_), Some(m)) => m.audit_failed.increment(1),
            _ => {}
        }
        res
    }

    /// Writes out what is buffered.
    pub fn flush(&self) {
        let res = match self.out.lock().as_mut() {
            Some(w) => w.flush(),
            None => return,
        };
        if let Err(e) = res {
            self.broken(&e);
        }
    }

    fn broken(&self, e: &std::io::Error) {
        if self.healthy.swap(false, Ordering::Relaxed) {
            tracing::error!(path = %self.path.display(), error = %e, fail_closed = self.fail_closed, "cannot write the audit log");
            // Drop the writer (and what it buffered: it cannot be written either); reopened on demand.
            let mut out = self.out.lock();
            if let Some(w) = out.take() {
                let (_, _) = w.into_parts();
            }
            self.last_open_ms.store(self.epoch.elapsed().as_millis().max(1) as u64, Ordering::Relaxed);
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        if let Some(w) = self.out.get_mut().as_mut() {
            let _ = w.flush();
        }
    }
}
