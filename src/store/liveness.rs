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
//!
//! A cut is rarely alone: a database restart or a network break cuts every connection of the
//! pool at once, the idle ones too. So the first cut any connection meets ends the others'
//! bypass as well ([`Cuts`]): each is pinged at its next check-out (and replaced when the ping
//! fails) until it has answered again, instead of failing one more request each.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::{Instrumentation, InstrumentationEvent};

/// A connection that answered within this long is not pinged at check-out.
pub const PING_AFTER: Duration = Duration::from_secs(1);

/// How many cuts the connections to one database have met: shared by them all.
#[derive(Default)]
pub struct Cuts(AtomicU64);

impl Cuts {
    fn now(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// Per-connection instrumentation (installed on network connections only).
pub struct Liveness {
    last_ok: Instant,
    /// The pool's cut count when this connection last answered.
    cuts_seen: u64,
    cut: bool,
    cuts: Arc<Cuts>,
}

impl Liveness {
    /// A connection that has just been established (and so answered).
    pub fn new(cuts: Arc<Cuts>) -> Liveness {
        Liveness { last_ok: Instant::now(), cuts_seen: cuts.now(), cut: false, cuts }
    }

    /// Answered recently enough, and since the last cut any connection met, to skip the
    /// check-out ping.
    pub fn fresh(&self) -> bool {
        !self.cut && self.last_ok.elapsed() < PING_AFTER && self.cuts_seen == self.cuts.now()
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
                None => {
                    self.last_ok = Instant::now();
                    self.cuts_seen = self.cuts.now();
                }
                Some(e) if super::unavailable(e) => {
                    self.cut = true;
                    self.cuts.0.fetch_add(1, Ordering::AcqRel);
                }
                Some(_) => {}
            }
        }
    }
}
