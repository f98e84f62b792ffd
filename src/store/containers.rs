//! Containers, their secret links and their consumers.

use diesel::prelude::*;

use super::schema::{container_secrets, containers};
use super::{now_micros, DbConn};

/// A new container row and its secret links, inserted in the caller's transaction.
pub struct NewContainer<'a> {
    pub id: &'a str,
    pub project_id: &'a str,
    pub creator_id: Option<&'a str>,
    pub name: Option<&'a str>,
    pub container_type: &'a str,
    /// (link name, secret id)
    pub secrets: &'a [(Option<String>, String)],
}

pub fn insert(conn: &mut DbConn, n: &NewContainer) -> QueryResult<()> {
    let t = now_micros();
    diesel::insert_into(containers::table)
        .values((
            containers::id.eq(n.id),
            containers::project_id.eq(n.project_id),
            containers::creator_id.eq(n.creator_id),
            containers::name.eq(n.name),
            containers::container_type.eq(n.container_type),
            containers::status.eq("ACTIVE"),
            containers::created_at.eq(t),
            containers::updated_at.eq(t),
        ))
        .execute(conn)?;
    for (name, secret_id) in n.secrets {
        diesel::insert_into(container_secrets::table)
            .values((
                container_secrets::id.eq(uuid::Uuid::new_v4().to_string()),
                container_secrets::container_id.eq(n.id),
                container_secrets::secret_id.eq(secret_id),
                container_secrets::name.eq(name.as_deref()),
                container_secrets::created_at.eq(t),
            ))
            .execute(conn)?;
    }
    Ok(())
}
