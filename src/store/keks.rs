//! Project KEK rows (wrapped under the master KEK).

use diesel::prelude::*;

use super::schema::project_keks;
use super::{now_micros, DbConn, StoreResult};

#[derive(Queryable, Selectable, Debug)]
#[diesel(table_name = project_keks)]
pub struct KekRow {
    pub id: String,
    pub project_id: String,
    pub active: bool,
    pub master_version: i32,
    pub wrapped_key: Vec<u8>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn active_for_project(conn: &mut DbConn, project: &str) -> StoreResult<Option<KekRow>> {
    Ok(project_keks::table
        .filter(project_keks::project_id.eq(project))
        .filter(project_keks::active.eq(true))
        .order((project_keks::created_at.asc(), project_keks::id.asc()))
        .select(KekRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn get(conn: &mut DbConn, id: &str) -> StoreResult<Option<KekRow>> {
    Ok(project_keks::table.find(id).select(KekRow::as_select()).first(conn).optional()?)
}

pub fn insert(
    conn: &mut DbConn,
    id: &str,
    project: &str,
    master_version: i32,
    wrapped: &[u8],
) -> StoreResult<()> {
    let t = now_micros();
    diesel::insert_into(project_keks::table)
        .values((
            project_keks::id.eq(id),
            project_keks::project_id.eq(project),
            project_keks::active.eq(true),
            project_keks::master_version.eq(master_version),
            project_keks::wrapped_key.eq(wrapped),
            project_keks::created_at.eq(t),
            project_keks::updated_at.eq(t),
        ))
        .execute(conn)?;
    Ok(())
}
