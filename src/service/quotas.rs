//! Quotas (§5.9): -1 (any negative) unlimited, 0 disabled, n > 0 at most n live entities.

use crate::service::Missing;
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
    ServiceError::QuotaReached
}

/// Checks the quota of `r` for `project` inside the caller's transaction (of which it must be
/// the first statement). When the quota is limited the project row is locked before counting,
/// so that the count and the insert that follows are not raced by another request (no
/// overshoot). `count` counts the live entities.
pub fn enforce(
    conn: &mut DbConn,
    defaults: &QuotasSection,
    project: &str,
    r: Resource,
    count: impl FnOnce(&mut DbConn) -> diesel::QueryResult<i64>,
) -> ServiceResult<()> {
    // SQLite: take the (single) write lock before any read, so the transaction never has to
    // upgrade a read snapshot (which fails at once with SQLITE_BUSY when another write landed).
    // PostgreSQL/MySQL: lock only when the quota is limited, so unlimited projects create in
    // parallel; both run READ COMMITTED (see store::ConnSetup), so once the row lock is held
    // the count sees every create committed before it.
    let sqlite = matches!(conn, DbConn::Sqlite(_));
    if sqlite {
        quotas::lock_project(conn, project)?;
    }
    let row = quotas::get(conn, project)?;
    let q = effective(defaults, row.as_ref(), r);
    if q < 0 {
        return Ok(());
    }
    if q == 0 {
        return Err(reached());
    }
    if !sqlite {
        quotas::lock_project(conn, project)?;
    }
    if count(conn)? >= q {
        return Err(reached());
    }
    Ok(())
}

/// Every resource, in the order Barbican prints them.
pub const RESOURCES: [(Resource, &str); 5] = [
    (Resource::Secrets, "secrets"),
    (Resource::Orders, "orders"),
    (Resource::Containers, "containers"),
    (Resource::Consumers, "consumers"),
    (Resource::Cas, "cas"),
];

/// The override of one resource in a row (null when unset).
pub fn override_of(row: &QuotaRow, r: Resource) -> Option<i32> {
    match r {
        Resource::Secrets => row.secrets,
        Resource::Orders => row.orders,
        Resource::Containers => row.containers,
        Resource::Consumers => row.consumers,
        Resource::Cas => row.cas,
    }
}


/// `GET /v1/quotas`: the caller's effective quotas (the project is created on the way).
pub fn effective_all(core: &super::Core, project: &str) -> ServiceResult<[(Resource, i64); 5]> {
    let mut conn = core.conn()?;
    core.ensure_project(&mut conn, project)?;
    let row = quotas::get(&mut conn, project)?;
    Ok(RESOURCES.map(|(r, _)| (r, effective(&core.quotas, row.as_ref(), r))))
}

pub fn get_override(core: &super::Core, project: &str) -> ServiceResult<QuotaRow> {
    let mut conn = core.conn()?;
    quotas::get(&mut conn, project)?.ok_or(ServiceError::NotFound(Missing::ProjectQuotas))
}

pub fn list_overrides(core: &super::Core, page: crate::model::Page) -> ServiceResult<(Vec<QuotaRow>, i64)> {
    let mut conn = core.conn()?;
    Ok(quotas::list(&mut conn, page)?)
}

/// Creates or merges the project's override; the project (any id) is created on the way.
pub fn set_override(core: &super::Core, project: &str, u: &quotas::QuotaUpdate) -> ServiceResult<()> {
    let mut conn = core.conn()?;
    core.ensure_project(&mut conn, project)?;
    Ok(quotas::upsert(&mut conn, project, u)?)
}

pub fn delete_override(core: &super::Core, project: &str) -> ServiceResult<()> {
    let mut conn = core.conn()?;
    if quotas::delete(&mut conn, project)? {
        Ok(())
    } else {
        Err(ServiceError::NotFound(Missing::ProjectQuotas))
    }
}
