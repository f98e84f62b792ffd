//! Asymmetric orders on the key-generation queue ([`crate::service::keygen_queue`]: bounded,
//! fair between projects), and the orders this replica claimed from the database (left by a
//! crash, or by a replica that died; see `lease.rs`).

use std::sync::Arc;

use super::process::{process, Failure};
use crate::service::keygen_queue::Ticket;
use crate::service::{Core, ServiceError, ServiceResult};
use crate::store::{now_micros, order_leases, orders as repo};

/// Reserves a place for one of the project's asymmetric orders in the key-generation queue,
/// before anything is written: 503 when the queue (in all, or the project's share) is full.
pub(super) fn reserve(core: &Core, project: &str) -> ServiceResult<Ticket> {
    core.keygen.reserve(project).map_err(|full| {
        tracing::warn!(project, bound = ?full, "key-generation queue full; order refused");
        ServiceError::QueueFull
    })
}

/// Queues a created order (its lease held by this replica) on its reserved place. The receiver
/// fires once the order has been processed (it is dropped unanswered if processing died).
pub(super) fn submit(core: Arc<Core>, ticket: Ticket, id: String) -> tokio::sync::oneshot::Receiver<()> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    ticket.submit(Box::new(move || {
        run_job(&core, &id);
        let _ = tx.send(());
    }));
    rx
}

/// Queues an order this replica has just claimed; it has its row already, so the queue's
/// bounds do not refuse it.
pub(super) fn requeue(core: &Arc<Core>, id: String, project: &str) {
    let c = core.clone();
    core.keygen.submit_unbounded(project, Box::new(move || run_job(&c, &id)));
}

/// Processes the order, then stops renewing its lease. An order left PENDING (the database
/// failed) has its lease released, so the next sweep of any replica picks it up again.
fn run_job(core: &Core, id: &str) {
    let owner = core.leases.owner();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| process(core, id)));
    match r {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::error!(order = %id, error = %e, "order left PENDING: a later sweep will process it again");
            if let Ok(mut conn) = core.conn() {
                let _ = order_leases::release(&mut conn, id, owner, now_micros());
            }
        }
        Err(_) => {
            tracing::error!(order = %id, "order processing panicked");
            let reason = Failure::Internal(String::new()).code_and_reason();
            if let Ok(mut conn) = core.conn() {
                let _ = repo::fail(&mut conn, id, owner, reason.0, &reason.1);
            }
        }
    }
    core.leases.done(id);
}
