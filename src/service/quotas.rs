//! Quotas (§5.9): -1 (any negative) unlimited, 0 disabled, n > 0 at most n live entities.

use super::{ServiceError, ServiceResult};
use crate::config::QuotasSection;
use crate::store::quotas::{self, QuotaRow};
use crate::store::DbConn;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Secrets,
    Orders,
    Containers,
    Consumers,
    Cas,
}

/// The effective quota: the project's override when set, else the configured default.
pub fn effective(defaults: &QuotasSection, row: Option<&QuotaRow>, r: Resource) -> i64 {
    let (over, def) = match r {
        Resource::Secrets => (row.and_then(|q| q.secrets), defaults.quota_secrets),
        Resource::Orders => (row.and_then(|q| q.orders), defaults.quota_orders),
        Resource::Containers => (row.and_then(|q| q.containers), defaults.quota_containers),
        Resource::Consumers => (row.and_then(|q| q.consumers), defaults.quota_consumers),
        Resource::Cas => (row.and_then(|q| q.cas), defaults.quota_cas),
    };
    over.map(i64::from).unwrap_or(def)
}

pub fn reached() -> ServiceError {
    ServiceError::Issue(403, "Creation not allowed because a quota has been reached".into())
}

/// Checks the quota of `r` for `project` inside the caller's transaction. When the quota is
/// limited, the project row is locked first, so that the count and the insert that follows are
/// not raced by another request (no overshoot). `count` counts the live entities.
pub fn enforce(
    conn: &mut DbConn,
    defaults: &QuotasSection,
    project: &str,
    r: Resource,
    count: impl FnOnce(&mut DbConn) -> diesel::QueryResult<i64>,
) -> ServiceResult<()> {
    let row = quotas::get(conn, project)?;
    let q = effective(defaults, row.as_ref(), r);
    if q < 0 {
        return Ok(());
    }
    if q == 0 {
        return Err(reached());
    }
    quotas::lock_project(conn, project)?;
    if count(conn)? >= q {
        return Err(reached());
    }
    Ok(())
}
