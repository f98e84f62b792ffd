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
    if exists {
        return Ok(());
    }
    match diesel::insert_into(projects::table)
        .values((projects::external_id.eq(external_id), projects::created_at.eq(now_micros())))
        .execute(conn)
    {
        Ok(_) => Ok(()),
        // Another request or replica created it first.
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
