//! Asymmetric orders on the key-generation queue ([`crate::service::keygen_queue`]: bounded,
//! fair between projects), and the orders an earlier run left PENDING.

use std::sync::Arc;

use super::process::{process, Failure};
use crate::service::keygen_queue::Ticket;
use crate::service::{Core, ServiceError, ServiceResult};
use crate::store::orders as repo;

/// Reserves a place for one of the project's asymmetric orders in the key-generation queue,
/// before anything is written: 503 when the queue (in all, or the project's share) is full.
pub(super) fn reserve(core: &Core, project: &str) -> ServiceResult<Ticket> {
    core.keygen.reserve(project).map_err(|full| {
        tracing::warn!(project, bound = ?full, "key-generation queue full; order refused");
        ServiceError::QueueFull
    })
}

/// Queues a created order on its reserved place. The receiver fires once the order has been
/// processed (it is dropped unanswered if processing died).
pub(super) fn submit(core: Arc<Core>, ticket: Ticket, id: String) -> tokio::sync::oneshot::Receiver<()> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    ticket.submit(Box::new(move || {
        run_job(&core, &id);
        let _ = tx.send(());
    }));
    rx
}

fn run_job(core: &Core, id: &str) {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| process(core, id)));
    match r {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(order = %id, error = %e, "order left PENDING: it will be processed again at the next start"),
        Err(_) => {
            tracing::error!(order = %id, "order processing panicked");
            let reason = Failure::Internal(String::new()).code_and_reason();
            if let Ok(mut conn) = core.conn() {
                let _ = repo::fail(&mut conn, id, reason.0, &reason.1);
            }
        }
    }
}

/// At start: queues every live order still PENDING (left by a crash or a shutdown), so none
/// stays PENDING; they have their rows already, so the queue's bounds do not refuse them.
/// Returns how many were queued.
pub fn recover(core: Arc<Core>) -> ServiceResult<usize> {
    let pending = repo::pending_ids(&mut *core.conn()?)?;
    let n = pending.len();
    if n > 0 {
        tracing::warn!(orders = n, "processing orders left PENDING by an earlier run");
    }
    for (id, project) in pending {
        let c = core.clone();
        core.keygen.submit_unbounded(&project, Box::new(move || run_job(&c, &id)));
    }
    Ok(n)
}
