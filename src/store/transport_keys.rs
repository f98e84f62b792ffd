//! Transport keys (`transport_keys`): global, soft-deleted.

use diesel::prelude::*;

use super::schema::transport_keys;
use super::{now_micros, DbConn, StoreResult};
use crate::model::Page;

#[derive(Queryable, Selectable, Debug, Clone, PartialEq)]
#[diesel(table_name = transport_keys)]
pub struct TransportKeyRow {
    pub id: String,
    pub plugin_name: String,
    pub transport_key: String,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

impl From<TransportKeyRow> for crate::model::TransportKey {
    fn from(r: TransportKeyRow) -> Self {
        crate::model::TransportKey {
            id: r.id,
            plugin_name: r.plugin_name,
            transport_key: r.transport_key,
            status: r.status,
            created_at: super::from_micros(r.created_at),
            updated_at: super::from_micros(r.updated_at),
            deleted_at: r.deleted_at.map(super::from_micros),
        }
    }
}

pub fn insert(conn: &mut DbConn, id: &str, plugin_name: &str, transport_key: &str) -> StoreResult<TransportKeyRow> {
    let now = now_micros();
    let row = TransportKeyRow {
        id: id.to_string(),
        plugin_name: plugin_name.to_string(),
        transport_key: transport_key.to_string(),
        status: "ACTIVE".into(),
        created_at: now,
        updated_at: now,
        deleted_at: None,
    };
    diesel::insert_into(transport_keys::table)
        .values((
            transport_keys::id.eq(&row.id),
            transport_keys::plugin_name.eq(&row.plugin_name),
            transport_keys::transport_key.eq(&row.transport_key),
            transport_keys::status.eq(&row.status),
            transport_keys::created_at.eq(row.created_at),
            transport_keys::updated_at.eq(row.updated_at),
        ))
        .execute(conn)?;
    Ok(row)
}

/// A live transport key.
pub fn get(conn: &mut DbConn, id: &str) -> StoreResult<Option<TransportKeyRow>> {
    Ok(transport_keys::table
        .find(id)
        .filter(transport_keys::deleted_at.is_null())
        .select(TransportKeyRow::as_select())
        .first(conn)
        .optional()?)
}

/// A page of the live transport keys' ids (oldest first), optionally of one plugin, and the total.
pub fn list(conn: &mut DbConn, plugin_name: Option<&str>, page: Page) -> StoreResult<(Vec<String>, i64)> {
    let filtered = || {
        let mut q = transport_keys::table.filter(transport_keys::deleted_at.is_null()).into_boxed();
        if let Some(p) = plugin_name {
            q = q.filter(transport_keys::plugin_name.eq(p.to_string()));
        }
        q
    };
    let total: i64 = filtered().count().get_result(conn)?;
    if total <= page.offset {
        return Ok((Vec::new(), total));
    }
    let ids = filtered()
        .order((transport_keys::created_at.asc(), transport_keys::id.asc()))
        .offset(page.offset)
        .limit(page.limit)
        .select(transport_keys::id)
        .load(conn)?;
    Ok((ids, total))
}

/// Soft delete; false when there was no live key.
pub fn delete(conn: &mut DbConn, id: &str) -> StoreResult<bool> {
    let now = now_micros();
    let n = diesel::update(transport_keys::table.find(id).filter(transport_keys::deleted_at.is_null()))
        .set((
            transport_keys::deleted_at.eq(Some(now)),
            transport_keys::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(n > 0)
}
