//! Quotas (§5.9): -1 (any negative) unlimited, 0 disabled, n > 0 at most n live entities.

use super::access::Caller;
use super::{Core, Missing, ServiceError, ServiceResult};
use crate::config::QuotasSection;
use crate::model::{Page, ProjectQuotas, QuotaOverrides};
use crate::policy::PolicyTarget;
use crate::store::quotas;
use crate::store::DbConn;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Secrets,
    Orders,
    Containers,
    Consumers,
    Cas,
    /// Managed keys: the configured default alone (no project override carries it).
    Keys,
}

/// The effective quota: the project's override when set, else the configured default.
pub fn effective(defaults: &QuotasSection, overrides: Option<&QuotaOverrides>, r: Resource) -> i64 {
    let def = match r {
        Resource::Secrets => defaults.quota_secrets,
        Resource::Orders => defaults.quota_orders,
        Resource::Containers => defaults.quota_containers,
        Resource::Consumers => defaults.quota_consumers,
        Resource::Cas => defaults.quota_cas,
        Resource::Keys => defaults.quota_keys,
    };
    overrides.and_then(|q| override_of(q, r)).map(i64::from).unwrap_or(def)
}

/// The project's overrides, if it has any.
fn overrides(conn: &mut DbConn, project: &str) -> ServiceResult<Option<QuotaOverrides>> {
    Ok(quotas::get(conn, project)?.map(|row| ProjectQuotas::from(row).quotas))
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
    let q = effective(defaults, overrides(conn, project)?.as_ref(), r);
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

/// The override of one resource (None when unset).
pub fn override_of(q: &QuotaOverrides, r: Resource) -> Option<i32> {
    match r {
        Resource::Secrets => q.secrets,
        Resource::Orders => q.orders,
        Resource::Containers => q.containers,
        Resource::Consumers => q.consumers,
        Resource::Cas => q.cas,
        Resource::Keys => None,
    }
}

// ---- the routes: each asks the policy (on no target: quotas are an admin's business) first ---

/// `GET /v1/quotas` (`quotas:get`): the caller's effective quotas, in [`RESOURCES`] order (the
/// project is created on the way, as Barbican does).
pub fn effective_all(core: &Core, caller: &Caller) -> ServiceResult<[(Resource, i64); 5]> {
    caller.require("quotas:get", &PolicyTarget::none())?;
    let mut conn = core.conn()?;
    core.ensure_project(&mut conn, caller.project())?;
    let own = overrides(&mut conn, caller.project())?;
    Ok(RESOURCES.map(|(r, _)| (r, effective(&core.quotas, own.as_ref(), r))))
}

/// `project_quotas:get`: one project's overrides.
pub fn get_override(core: &Core, caller: &Caller, project: &str) -> ServiceResult<ProjectQuotas> {
    caller.require("project_quotas:get", &PolicyTarget::none())?;
    let row = quotas::get(&mut *core.conn()?, project)?.ok_or(ServiceError::NotFound(Missing::ProjectQuotas))?;
    Ok(row.into())
}

/// `project_quotas:get`: a page of the projects with overrides, and their total.
pub fn list_overrides(core: &Core, caller: &Caller, page: Page) -> ServiceResult<(Vec<ProjectQuotas>, i64)> {
    caller.require("project_quotas:get", &PolicyTarget::none())?;
    let (rows, total) = quotas::list(&mut *core.conn()?, page)?;
    Ok((rows.into_iter().map(ProjectQuotas::from).collect(), total))
}

/// `project_quotas:put`, then `input` (the API's Content-Type and body checks), then the
/// project's overrides created or merged; the project (any id) is created on the way.
pub fn set_override<E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    project: &str,
    input: impl FnOnce() -> Result<QuotaOverrides, E>,
) -> Result<(), E> {
    caller.require("project_quotas:put", &PolicyTarget::none())?;
    let update = input()?;
    let mut conn = core.conn()?;
    core.ensure_project(&mut conn, project)?;
    quotas::upsert(&mut conn, project, &(&update).into()).map_err(ServiceError::from)?;
    Ok(())
}

/// `project_quotas:delete`, then the project's overrides removed.
pub fn delete_override(core: &Core, caller: &Caller, project: &str) -> ServiceResult<()> {
    caller.require("project_quotas:delete", &PolicyTarget::none())?;
    if quotas::delete(&mut *core.conn()?, project)? {
        Ok(())
    } else {
        Err(ServiceError::NotFound(Missing::ProjectQuotas))
    }
}
