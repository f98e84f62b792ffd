//! Orders (§5.8): an order row is created PENDING under the `orders` quota, then processed into
//! a symmetric key secret (`key`) or an RSA key pair in an `rsa` container (`asymmetric`), and
//! left ACTIVE, or ERROR with Barbican's `error_status_code` and `error_reason` (`process.rs`).
//!
//! Symmetric keys are cheap and are made inside the request, on its connection; RSA keys on the
//! key-generation queue (`queue.rs`: bounded, fair between projects), which the request waits
//! for up to a time budget. Replicas sharing a database lease the orders they work on
//! (`lease.rs`): orders left PENDING by a crash, a shutdown or a replica that died are claimed
//! and queued again at start and by the sweeper ([`start_sweeper`]). An asymmetric order's
//! `passphrase` is kept apart (`passphrase.rs`).
//!
//! Each route is one call here: the project-scoped look-up, the policy decision on the stored
//! row, then the operation, on one connection in one blocking hop.

mod lease;
mod passphrase;
mod process;
mod queue;

use std::sync::Arc;

use diesel::Connection;
use tokio::sync::oneshot;

use super::access::Caller;
use super::quotas::{self, Resource};
use super::{Core, Missing, ServiceError, ServiceResult};
use crate::model::{NewOrder, Order, OrderType, Page};
use crate::policy::PolicyTarget;
use crate::store::orders::{self as repo};
use crate::store::{now, DbConn};

pub use passphrase::seal_legacy_passphrases;
pub use process::process;
pub use lease::{start as start_sweeper, Leases};

/// An order just created: its id and, for an asymmetric one, what fires once it has been
/// processed (dropped unanswered if processing died).
pub struct Created {
    pub id: String,
    pub done: Option<oneshot::Receiver<()>>,
}

/// `orders:post`, then `input` (the API's Content-Type, body and schema checks), then the order.
/// A key order is generated before this returns, so the answer already points at an ACTIVE
/// order. An asymmetric order first takes a place in the (bounded) key-generation queue, so a
/// full queue refuses it with nothing written; it is then queued for a key-generation thread.
pub fn create<E: From<ServiceError>>(
    core: &Arc<Core>,
    caller: &Caller,
    input: impl FnOnce() -> Result<NewOrder, E>,
) -> Result<Created, E> {
    caller.require("orders:post", &PolicyTarget::none())?;
    let order = input()?;
    let id = uuid::Uuid::new_v4().to_string();
    match order.order_type {
        OrderType::Key => {
            let mut conn = core.conn()?;
            insert(core, &mut conn, caller, &id, order)?;
            process::process_on(core, &mut conn, &id)?;
            Ok(Created { id, done: None })
        }
        OrderType::Asymmetric => {
            let ticket = queue::reserve(core, caller.project())?;
            core.leases.track(&id);
            if let Err(e) = insert(core, &mut *core.conn()?, caller, &id, order) {
                core.leases.done(&id);
                return Err(e.into());
            }
            let done = queue::submit(core.clone(), ticket, id.clone());
            Ok(Created { id, done: Some(done) })
        }
    }
}

/// Inserts the PENDING order row under the project's `orders` quota; an asymmetric order's
/// passphrase is sealed apart from the meta.
fn insert(core: &Core, conn: &mut DbConn, caller: &Caller, id: &str, order: NewOrder) -> ServiceResult<()> {
    let project = caller.project();
    let mut meta = order.meta;
    let passphrase = passphrase::take_passphrase(order.order_type.as_str(), &mut meta);
    let meta = serde_json::to_string(&meta).map_err(|e| ServiceError::Internal(e.to_string()))?;
    core.ensure_project(conn, project)?;
    let sealed = match &passphrase {
        Some(p) => Some(passphrase::seal_passphrase(core, conn, id, project, p)?),
        None => None,
    };
    conn.transaction(|c| {
        quotas::enforce(c, &core.quotas, project, Resource::Orders, |c| repo::count_live(c, project))?;
        repo::insert(
            c,
            &repo::NewOrder {
                id,
                project_id: project,
                creator_id: caller.user(),
                order_type: order.order_type.as_str(),
                meta: &meta,
                created_at: now(),
                passphrase: sealed.as_ref().map(|(k, c)| (k.as_str(), c.as_slice())),
                lease: Some((core.leases.owner(), core.leases.until())),
            },
        )?;
        Ok(())
    })
}

// ---- one order ----------------------------------------------------------------------------

/// A live order of the caller's project (another project's order is not found either, §2.3.4).
fn lookup(conn: &mut DbConn, caller: &Caller, id: &str) -> ServiceResult<Order> {
    let row = repo::get(conn, id, caller.project())?.ok_or(ServiceError::NotFound(Missing::Order))?;
    Ok(row.into())
}

/// The policy target of a single-order route, from the stored row.
fn target(o: &Order) -> PolicyTarget {
    PolicyTarget::order(&o.project_id, o.creator_id.as_deref())
}

/// The routing look-up of `/orders/{id}…` (its 405s and unknown sub-resources come after it).
pub fn find(core: &Core, caller: &Caller, id: &str) -> ServiceResult<Order> {
    lookup(&mut *core.conn()?, caller, id)
}

/// `order:get`: the look-up, `pre` (checks Barbican runs before its policy), then the decision.
pub fn get<E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    id: &str,
    pre: impl FnOnce(&Order) -> Result<(), E>,
) -> Result<Order, E> {
    let order = lookup(&mut *core.conn()?, caller, id)?;
    pre(&order)?;
    caller.require("order:get", &target(&order))?;
    Ok(order)
}

/// `order:delete`: the look-up, the decision, then the soft delete (the secrets and container
/// it made stay).
pub fn remove(core: &Core, caller: &Caller, id: &str) -> ServiceResult<()> {
    let mut conn = core.conn()?;
    let order = lookup(&mut conn, caller, id)?;
    caller.require("order:delete", &target(&order))?;
    if repo::delete(&mut conn, &order.id, &order.project_id)? {
        Ok(())
    } else {
        Err(ServiceError::NotFound(Missing::Order))
    }
}

// ---- the collection -----------------------------------------------------------------------

/// `orders:get`: a page of the caller's project's live orders, oldest first, and the total.
/// `meta_needle` is matched as a substring of the stored meta JSON text.
pub fn list(core: &Core, caller: &Caller, meta_needle: Option<&str>, page: Page) -> ServiceResult<(Vec<Order>, i64)> {
    caller.require("orders:get", &PolicyTarget::none())?;
    let (rows, total) = repo::list(&mut *core.conn()?, caller.project(), meta_needle, page)?;
    Ok((rows.into_iter().map(Order::from).collect(), total))
}

/// `orders:put`: orders are never updated, but the policy speaks first.
pub fn refuse_update(caller: &Caller) -> ServiceResult<()> {
    caller.require("orders:put", &PolicyTarget::none())?;
    Err(ServiceError::OrderUpdateUnsupported)
}
