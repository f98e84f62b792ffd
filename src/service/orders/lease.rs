//! This replica's leases on PENDING orders ([`crate::store::order_leases`]), and the sweeper
//! that keeps them: every third of the lease it renews the leases of the orders it is working on
//! (queued or running), then claims orders nobody holds (never leased, left by a crash, or whose
//! owner died and stopped renewing) and queues them for key generation. At start the sweep runs
//! once at once, so no order stays PENDING after a restart.
//!
//! An order is worked by one live replica at a time: claiming is one conditional UPDATE, and an
//! order is finished only while its worker still holds the lease.

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use crate::service::{Core, ServiceResult};
use crate::store::{now_micros, order_leases as repo};

/// This replica's identity as a lease owner, and the orders it is working on.
pub struct Leases {
    owner: String,
    duration: Duration,
    /// Most orders this replica queues at once (the rest stay for other replicas).
    limit: usize,
    inflight: Mutex<HashSet<String>>,
    /// Orders this replica handed back because it cannot unwrap their project's KEK: left to
    /// replicas that can (or to this one after a restart).
    refused: Mutex<HashSet<String>>,
}

impl Leases {
    pub fn new(duration: Duration, limit: usize) -> Leases {
        let short = &uuid::Uuid::new_v4().simple().to_string()[..12];
        Leases {
            owner: format!("pid{}-{short}", std::process::id()),
            duration: duration.max(Duration::from_secs(1)),
            limit: limit.max(1),
            inflight: Mutex::new(HashSet::new()),
            refused: Mutex::new(HashSet::new()),
        }
    }

    /// The owner name this replica writes into `orders.lease_owner`.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The lease expiry for a claim or renewal made now.
    pub fn until(&self) -> i64 {
        now_micros() + self.duration.as_micros() as i64
    }

    /// How often the sweeper renews and claims.
    pub fn tick(&self) -> Duration {
        self.duration / 3
    }

    /// Records an order this replica holds and will work on (renewed until [`Leases::done`]).
    pub(super) fn track(&self, id: &str) {
        self.inflight.lock().insert(id.to_string());
    }

    pub(super) fn done(&self, id: &str) {
        self.inflight.lock().remove(id);
    }

    /// Hands the order back: this replica will not claim it again.
    pub(super) fn refuse(&self, id: &str) {
        self.refused.lock().insert(id.to_string());
    }

    fn skip(&self, id: &str) -> bool {
        self.inflight.lock().contains(id) || self.refused.lock().contains(id)
    }
}

/// Renews this replica's leases; returns how many were renewed.
pub fn renew(core: &Core) -> ServiceResult<usize> {
    let ids: Vec<String> = core.leases.inflight.lock().iter().cloned().collect();
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(repo::renew(&mut *core.conn()?, core.leases.owner(), &ids, core.leases.until())?)
}

/// Claims the orders nobody holds (as many as this replica may queue) and queues them.
/// Returns how many were claimed.
pub fn sweep(core: &Arc<Core>) -> ServiceResult<usize> {
    let room = core.leases.limit.saturating_sub(core.leases.inflight.lock().len());
    if room == 0 {
        return Ok(0);
    }
    let mut conn = core.conn()?;
    let candidates = repo::claimable(&mut conn, now_micros(), (room + core.leases.refused.lock().len()) as i64)?;
    let mut claimed = 0;
    for (id, project) in candidates {
        if claimed >= room || core.leases.skip(&id) {
            continue;
        }
        if !repo::claim(&mut conn, &id, core.leases.owner(), now_micros(), core.leases.until())? {
            continue; // another replica was first
        }
        tracing::info!(order = %id, owner = core.leases.owner(), "order claimed");
        core.leases.track(&id);
        super::queue::requeue(core, id, &project);
        claimed += 1;
    }
    Ok(claimed)
}

/// Sweeps once now (the orders an earlier run left PENDING), then starts the sweeper thread,
/// which ends once the service is dropped. Returns how many orders the first sweep claimed.
pub fn start(core: &Arc<Core>) -> ServiceResult<usize> {
    let first = sweep(core);
    if let Ok(n @ 1..) = first {
        tracing::warn!(orders = n, "processing orders left PENDING by an earlier run or a replica that stopped");
    }
    let weak: Weak<Core> = Arc::downgrade(core);
    let tick = core.leases.tick();
    let spawned = std::thread::Builder::new().name("portcullis-order-leases".into()).spawn(move || loop {
        std::thread::sleep(tick);
        let Some(core) = weak.upgrade() else { return };
        if let Err(e) = renew(&core) {
            tracing::warn!(error = %e, "cannot renew order leases");
        }
        if let Err(e) = sweep(&core) {
            tracing::warn!(error = %e, "cannot look for orders to take over");
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the order-lease thread");
    }
    first
}
