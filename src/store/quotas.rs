//! Project quota overrides (`project_quotas`), and the per-project lock that makes
//! count-then-insert safe under concurrency.

use diesel::prelude::*;

use super::schema::{project_quotas, projects};
use super::{DbConn, StoreResult};
use crate::model::{ProjectQuotas, QuotaOverrides};

#[derive(Queryable, Selectable, Debug, Clone, PartialEq)]
#[diesel(table_name = project_quotas)]
pub struct QuotaRow {
    pub project_id: String,
    pub secrets: Option<i32>,
    pub orders: Option<i32>,
    pub containers: Option<i32>,
    pub consumers: Option<i32>,
    pub cas: Option<i32>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<QuotaRow> for ProjectQuotas {
    fn from(r: QuotaRow) -> Self {
        let quotas = QuotaOverrides {
            secrets: r.secrets,
            orders: r.orders,
            containers: r.containers,
            consumers: r.consumers,
            cas: r.cas,
        };
        ProjectQuotas { project_id: r.project_id, quotas }
    }
}

pub fn get(conn: &mut DbConn, project: &str) -> StoreResult<Option<QuotaRow>> {
    Ok(project_quotas::table.find(project).select(QuotaRow::as_select()).first(conn).optional()?)
}

/// Takes the project's row lock until the end of the current transaction: PostgreSQL and
/// MySQL lock the row, SQLite takes its single write lock. Concurrent quota-checked creates of
/// one project therefore count and insert one after the other. The project row must exist.
pub fn lock_project(conn: &mut DbConn, project: &str) -> QueryResult<()> {
    let n = diesel::update(projects::table.find(project))
        .set(projects::created_at.eq(projects::created_at))
        .execute(conn)?;
    if n == 0 {
        // No project row yet: create it (a concurrent creator may win, without aborting this
        // transaction; either way the row exists afterwards) and take its lock.
        super::projects::insert_if_absent(conn, project)?;
        diesel::update(projects::table.find(project))
            .set(projects::created_at.eq(projects::created_at))
            .execute(conn)?;
    }
    Ok(())
}

/// The values a `PUT /v1/project-quotas/{id}` gives; `None` = not given (left as it is).
#[derive(AsChangeset, Debug, Clone, Copy, Default, PartialEq, Eq)]
#[diesel(table_name = project_quotas)]
pub struct QuotaUpdate {
    pub secrets: Option<i32>,
    pub orders: Option<i32>,
    pub containers: Option<i32>,
    pub consumers: Option<i32>,
    pub cas: Option<i32>,
}

impl From<&QuotaOverrides> for QuotaUpdate {
    fn from(q: &QuotaOverrides) -> Self {
        QuotaUpdate { secrets: q.secrets, orders: q.orders, containers: q.containers, consumers: q.consumers, cas: q.cas }
    }
}

impl QuotaUpdate {
    pub fn is_empty(&self) -> bool {
        *self == QuotaUpdate::default()
    }
}

/// A page of the overrides, oldest first, and their total.
pub fn list(conn: &mut DbConn, page: crate::model::Page) -> StoreResult<(Vec<QuotaRow>, i64)> {
    let total: i64 = project_quotas::table.count().get_result(conn)?;
    if total <= page.offset {
        return Ok((Vec::new(), total));
    }
    let rows = project_quotas::table
        .order((project_quotas::created_at.asc(), project_quotas::project_id.asc()))
        .offset(page.offset)
        .limit(page.limit)
        .select(QuotaRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

fn update_row(conn: &mut DbConn, project: &str, u: &QuotaUpdate, now: i64) -> QueryResult<usize> {
    if u.is_empty() {
        // Nothing to change; only say whether the row is there.
        return project_quotas::table.find(project).count().get_result::<i64>(conn).map(|n| n as usize);
    }
    diesel::update(project_quotas::table.find(project))
        .set((u, project_quotas::updated_at.eq(now)))
        .execute(conn)
}

/// Creates the project's override row (values not given stay null) or updates only the values
/// given (Barbican's `create_or_update_by_project_id`).
pub fn upsert(conn: &mut DbConn, project: &str, u: &QuotaUpdate) -> StoreResult<()> {
    let now = super::now_micros();
    if update_row(conn, project, u, now)? > 0 {
        return Ok(());
    }
    let inserted = diesel::insert_into(project_quotas::table)
        .values((
            project_quotas::project_id.eq(project),
            project_quotas::secrets.eq(u.secrets),
            project_quotas::orders.eq(u.orders),
            project_quotas::containers.eq(u.containers),
            project_quotas::consumers.eq(u.consumers),
            project_quotas::cas.eq(u.cas),
            project_quotas::created_at.eq(now),
            project_quotas::updated_at.eq(now),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(()),
        // Created concurrently: merge into it.
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            update_row(conn, project, u, now)?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Hard-deletes the project's override; false when there was none.
pub fn delete(conn: &mut DbConn, project: &str) -> StoreResult<bool> {
    Ok(diesel::delete(project_quotas::table.find(project)).execute(conn)? > 0)
}
