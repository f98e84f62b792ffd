//! When a pooled PostgreSQL or MySQL connection last answered, so that a check-out pings only
//! the connections that have been idle for a while.
//!
//! r2d2 validates a connection at every check-out (`is_valid`), and the validation was a
//! `SELECT 1` round trip: on PostgreSQL one request in two round trips was the ping. As
//! HikariCP's `aliveBypassWindowMs`, a connection that answered a query within
//! [`PING_AFTER`] is handed out without one. A connection that a server restart or
//! `pg_terminate_backend` cut while it was busy fails its next query with an error that
//! [`super::unavailable`] recognises; this records that, and the pool drops the connection when
//! it comes back (`has_broken`) instead of handing it out again.

use std::time::{Duration, Instant};

use diesel::connection::{Instrumentation, InstrumentationEvent};

/// A connection that answered within this long is not pinged at check-out.
pub const PING_AFTER: Duration = Duration::from_secs(1);

/// Per-connection instrumentation (installed on network connections only).
pub struct Liveness {
    last_ok: Instant,
    cut: bool,
}

impl Liveness {
    /// A connection that has just been established (and so answered).
    pub fn new() -> Liveness {
        Liveness { last_ok: Instant::now(), cut: false }
    }

    /// Answered recently enough to skip the check-out ping.
    pub fn fresh(&self) -> bool {
        !self.cut && self.last_ok.elapsed() < PING_AFTER
    }

    /// Lost: a query failed because the connection is gone.
    pub fn cut(&self) -> bool {
        self.cut
    }
}

impl Instrumentation for Liveness {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::FinishQuery { error, .. } = event {
            match error {
                None => self.last_ok = Instant::now(),
                Some(e) if super::unavailable(e) => self.cut = true,
                Some(_) => {}
            }
        }
    }
}
