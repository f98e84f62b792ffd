//! Project quota overrides (`project_quotas`), and the per-project lock that makes
//! count-then-insert safe under concurrency.

use diesel::prelude::*;

use super::schema::{project_quotas, projects};
use super::{DbConn, StoreResult};

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

pub fn get(conn: &mut DbConn, project: &str) -> StoreResult<Option<QuotaRow>> {
    Ok(project_quotas::table.find(project).select(QuotaRow::as_select()).first(conn).optional()?)
}

/// Takes the project's row lock until the end of the current transaction: PostgreSQL and
/// MySQL lock the row, SQLite takes its single write lock. Concurrent quota-checked creates of
/// one project therefore count and insert one after the other. The project row must exist.
pub fn lock_project(conn: &mut DbConn, project: &str) -> QueryResult<()> {
    diesel::update(projects::table.find(project))
        .set(projects::created_at.eq(projects::created_at))
        .execute(conn)?;
    Ok(())
}
