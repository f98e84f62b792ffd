//! Projects are created on demand, the first time an external project id writes.

use diesel::prelude::*;

use super::schema::projects;
use super::{now_micros, DbConn, StoreResult};

pub fn ensure(conn: &mut DbConn, external_id: &str) -> StoreResult<()> {
    let exists = projects::table
        .find(external_id)
        .select(projects::external_id)
        .first::<String>(conn)
        .optional()?
        .is_some();
    if !exists {
        insert_if_absent(conn, external_id)?;
    }
    Ok(())
}

/// Creates the project row unless it exists, in one statement that never fails on a row
/// another request or replica inserted first (`ON CONFLICT DO NOTHING`; MySQL: `ON DUPLICATE
/// KEY UPDATE external_id = external_id`). A caught unique violation would not do inside a
/// transaction: PostgreSQL aborts the whole transaction on it.
pub fn insert_if_absent(conn: &mut DbConn, external_id: &str) -> QueryResult<()> {
    let row = (projects::external_id.eq(external_id), projects::created_at.eq(now_micros()));
    let q = diesel::insert_into(projects::table).values(row).on_conflict_do_nothing();
    match conn {
        DbConn::Sqlite(c) => q.execute(c),
        DbConn::Postgres(c) => q.execute(c),
        DbConn::Mysql(c) => q.execute(c),
    }?;
    Ok(())
}
