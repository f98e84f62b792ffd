//! ACLs of secrets and containers (§5.7): one row per (entity, operation) and its user ids.

use diesel::prelude::*;

use super::schema::{acl_users, acls, containers, secrets};
use super::{from_micros, now_micros, DbConn, StoreResult};
pub use crate::model::{Acl, AclChange};

/// What policy needs of an entity's `read` ACL: its project access (None = no ACL row) and
/// whether the caller is one of its users.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadFacts {
    pub project_access: Option<bool>,
    pub caller_listed: bool,
}

pub fn list(conn: &mut DbConn, entity_type: &str, entity_id: &str) -> StoreResult<Vec<Acl>> {
    let rows: Vec<(String, String, bool, i64, i64)> = acls::table
        .filter(acls::entity_type.eq(entity_type))
        .filter(acls::entity_id.eq(entity_id))
        .order(acls::operation.asc())
        .select((acls::id, acls::operation, acls::project_access, acls::created_at, acls::updated_at))
        .load(conn)?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, operation, project_access, created_at, updated_at) in rows {
        let users = acl_users::table
            .filter(acl_users::acl_id.eq(&id))
            .order(acl_users::created_at.asc())
            .select(acl_users::user_id)
            .load(conn)?;
        out.push(Acl {
            operation,
            project_access,
            users,
            created_at: from_micros(created_at),
            updated_at: from_micros(updated_at),
        });
    }
    Ok(out)
}

fn set_users(conn: &mut DbConn, acl_id: &str, users: &[String]) -> QueryResult<()> {
    diesel::delete(acl_users::table.filter(acl_users::acl_id.eq(acl_id))).execute(conn)?;
    let t = now_micros();
    let mut seen = std::collections::HashSet::new();
    for u in users.iter().filter(|u| seen.insert(u.as_str())) {
        diesel::insert_into(acl_users::table)
            .values((
                acl_users::id.eq(uuid::Uuid::new_v4().to_string()),
                acl_users::acl_id.eq(acl_id),
                acl_users::user_id.eq(u),
                acl_users::created_at.eq(t),
            ))
            .execute(conn)?;
    }
    Ok(())
}

fn find(conn: &mut DbConn, entity_type: &str, entity_id: &str, op: &str) -> QueryResult<Option<String>> {
    acls::table
        .filter(acls::entity_type.eq(entity_type))
        .filter(acls::entity_id.eq(entity_id))
        .filter(acls::operation.eq(op))
        .select(acls::id)
        .first(conn)
        .optional()
}

/// Serialises ACL writers of one entity: its row is locked first thing in the transaction
/// (PostgreSQL and MySQL lock the row; on SQLite the write takes the database's write lock
/// before anything is read, so no transaction fails to upgrade a read lock). Without it two
/// writers both find no ACL row and both insert one: a unique-constraint error, answered 500.
fn lock_entity(c: &mut DbConn, entity_type: &str, entity_id: &str) -> QueryResult<()> {
    if entity_type == "container" {
        diesel::update(containers::table.filter(containers::id.eq(entity_id)))
            .set(containers::id.eq(containers::id))
            .execute(c)?;
    } else {
        diesel::update(secrets::table.filter(secrets::id.eq(entity_id))).set(secrets::id.eq(secrets::id)).execute(c)?;
    }
    Ok(())
}

/// PUT: the given operations are set (defaults: project access true, no users); all others are
/// removed. One transaction.
pub fn replace(conn: &mut DbConn, entity_type: &str, entity_id: &str, set: &[AclChange]) -> StoreResult<()> {
    conn.transaction(|c| {
        lock_entity(c, entity_type, entity_id)?;
        let existing: Vec<(String, String)> = acls::table
            .filter(acls::entity_type.eq(entity_type))
            .filter(acls::entity_id.eq(entity_id))
            .select((acls::id, acls::operation))
            .load(c)?;
        for (id, op) in existing {
            if !set.iter().any(|s| s.operation == op) {
                diesel::delete(acl_users::table.filter(acl_users::acl_id.eq(&id))).execute(c)?;
                diesel::delete(acls::table.filter(acls::id.eq(&id))).execute(c)?;
            }
        }
        for s in set {
            upsert(c, entity_type, entity_id, &AclChange {
                operation: s.operation.clone(),
                project_access: Some(s.project_access.unwrap_or(true)),
                users: Some(s.users.clone().unwrap_or_default()),
            })?;
        }
        Ok(())
    })
}

fn upsert(c: &mut DbConn, entity_type: &str, entity_id: &str, s: &AclChange) -> QueryResult<()> {
    let t = now_micros();
    match find(c, entity_type, entity_id, &s.operation)? {
        Some(id) => {
            if let Some(pa) = s.project_access {
                diesel::update(acls::table.filter(acls::id.eq(&id)))
                    .set((acls::project_access.eq(pa), acls::updated_at.eq(t)))
                    .execute(c)?;
            } else {
                diesel::update(acls::table.filter(acls::id.eq(&id))).set(acls::updated_at.eq(t)).execute(c)?;
            }
            if let Some(users) = &s.users {
                set_users(c, &id, users)?;
            }
        }
        None => {
            let id = uuid::Uuid::new_v4().to_string();
            diesel::insert_into(acls::table)
                .values((
                    acls::id.eq(&id),
                    acls::entity_type.eq(entity_type),
                    acls::entity_id.eq(entity_id),
                    acls::operation.eq(&s.operation),
                    acls::project_access.eq(s.project_access.unwrap_or(true)),
                    acls::created_at.eq(t),
                    acls::updated_at.eq(t),
                ))
                .execute(c)?;
            set_users(c, &id, s.users.as_deref().unwrap_or(&[]))?;
        }
    }
    Ok(())
}

/// PATCH: the given operations are updated or created; others untouched.
pub fn patch(conn: &mut DbConn, entity_type: &str, entity_id: &str, set: &[AclChange]) -> StoreResult<()> {
    conn.transaction(|c| {
        lock_entity(c, entity_type, entity_id)?;
        for s in set {
            upsert(c, entity_type, entity_id, s)?;
        }
        Ok(())
    })
}

/// Removes every ACL of an entity (hard delete), in its own transaction.
pub fn delete_all(conn: &mut DbConn, entity_type: &str, entity_id: &str) -> StoreResult<()> {
    Ok(conn.transaction(|c| {
        lock_entity(c, entity_type, entity_id)?;
        delete_all_in(c, entity_type, entity_id)
    })?)
}

/// Removes every ACL of an entity inside the caller's transaction (entity deletion).
pub fn delete_all_in(c: &mut DbConn, entity_type: &str, entity_id: &str) -> QueryResult<()> {
    let ids: Vec<String> = acls::table
        .filter(acls::entity_type.eq(entity_type))
        .filter(acls::entity_id.eq(entity_id))
        .select(acls::id)
        .load(c)?;
    if !ids.is_empty() {
        diesel::delete(acl_users::table.filter(acl_users::acl_id.eq_any(&ids))).execute(c)?;
        diesel::delete(acls::table.filter(acls::id.eq_any(&ids))).execute(c)?;
    }
    Ok(())
}
