//! The deployment's master KEK versions and their key-check values (see `kek::check`).

use diesel::prelude::*;

use super::schema::master_kek_versions;
use super::{now_micros, DbConn, StoreResult};

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = master_kek_versions)]
pub struct MasterVersionRow {
    pub version: i32,
    pub check_value: Vec<u8>,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

/// Every listed version, ascending.
pub fn list(conn: &mut DbConn) -> StoreResult<Vec<MasterVersionRow>> {
    Ok(master_kek_versions::table
        .order(master_kek_versions::version.asc())
        .select(MasterVersionRow::as_select())
        .load(conn)?)
}

pub fn get(conn: &mut DbConn, version: i32) -> StoreResult<Option<MasterVersionRow>> {
    Ok(master_kek_versions::table
        .find(version)
        .select(MasterVersionRow::as_select())
        .first(conn)
        .optional()?)
}

/// Lists a version with its check value. Returns the row as stored: ours, or the one another
/// process inserted first (the caller compares the check values).
pub fn insert(conn: &mut DbConn, version: i32, check_value: &[u8]) -> StoreResult<MasterVersionRow> {
    if let Some(row) = get(conn, version)? {
        return Ok(row);
    }
    let r = conn.transaction(|c| {
        diesel::insert_into(master_kek_versions::table)
            .values((
                master_kek_versions::version.eq(version),
                master_kek_versions::check_value.eq(check_value),
                master_kek_versions::created_at.eq(now_micros()),
            ))
            .execute(c)
    });
    match r {
        Ok(_) => {}
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {}
        Err(e) => return Err(e.into()),
    }
    get(conn, version)?.ok_or_else(|| super::StoreError::Corrupt(format!("master KEK v{version} vanished after its insert")))
}

/// Marks a version retired (kept listed, so nothing else can take its number).
pub fn mark_retired(conn: &mut DbConn, version: i32) -> StoreResult<()> {
    diesel::update(master_kek_versions::table)
        .filter(master_kek_versions::version.eq(version))
        .filter(master_kek_versions::retired_at.is_null())
        .set(master_kek_versions::retired_at.eq(now_micros()))
        .execute(conn)?;
    Ok(())
}
