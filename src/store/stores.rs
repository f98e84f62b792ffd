//! Secret stores (`secret_stores`) and each project's preferred store (`project_secret_store`).
//! Both are hard-deleted, like Barbican's.

use diesel::prelude::*;

use super::schema::{project_secret_store, secret_stores};
use super::{now_micros, DbConn, StoreResult};

#[derive(Queryable, Selectable, Debug, Clone, PartialEq)]
#[diesel(table_name = secret_stores)]
pub struct StoreRow {
    pub id: String,
    pub name: String,
    pub store_plugin: String,
    pub crypto_plugin: Option<String>,
    pub global_default: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<StoreRow> for crate::model::SecretStore {
    fn from(s: StoreRow) -> Self {
        crate::model::SecretStore {
            id: s.id,
            name: s.name,
            store_plugin: s.store_plugin,
            crypto_plugin: s.crypto_plugin,
            global_default: s.global_default,
            created_at: super::from_micros(s.created_at),
            updated_at: super::from_micros(s.updated_at),
        }
    }
}

/// Every store, oldest first.
pub fn list(conn: &mut DbConn) -> StoreResult<Vec<StoreRow>> {
    Ok(secret_stores::table
        .order((secret_stores::created_at.asc(), secret_stores::name.asc()))
        .select(StoreRow::as_select())
        .load(conn)?)
}

pub fn get(conn: &mut DbConn, id: &str) -> StoreResult<Option<StoreRow>> {
    Ok(secret_stores::table.find(id).select(StoreRow::as_select()).first(conn).optional()?)
}

pub fn global_default(conn: &mut DbConn) -> StoreResult<Option<StoreRow>> {
    Ok(secret_stores::table
        .filter(secret_stores::global_default.eq(true))
        .order(secret_stores::created_at.asc())
        .select(StoreRow::as_select())
        .first(conn)
        .optional()?)
}

/// The project's preferred store, if it has one.
pub fn preferred(conn: &mut DbConn, project: &str) -> StoreResult<Option<StoreRow>> {
    Ok(project_secret_store::table
        .inner_join(secret_stores::table.on(secret_stores::id.eq(project_secret_store::secret_store_id)))
        .filter(project_secret_store::project_id.eq(project))
        .select(StoreRow::as_select())
        .first(conn)
        .optional()?)
}

/// Sets or replaces the project's preferred store.
pub fn set_preferred(conn: &mut DbConn, project: &str, store_id: &str) -> StoreResult<()> {
    let now = now_micros();
    let updated = diesel::update(project_secret_store::table.find(project))
        .set((project_secret_store::secret_store_id.eq(store_id), project_secret_store::updated_at.eq(now)))
        .execute(conn)?;
    if updated > 0 {
        return Ok(());
    }
    let inserted = diesel::insert_into(project_secret_store::table)
        .values((
            project_secret_store::project_id.eq(project),
            project_secret_store::secret_store_id.eq(store_id),
            project_secret_store::created_at.eq(now),
            project_secret_store::updated_at.eq(now),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(()),
        // A concurrent request inserted it first: the last writer wins, as with an update.
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            diesel::update(project_secret_store::table.find(project))
                .set((project_secret_store::secret_store_id.eq(store_id), project_secret_store::updated_at.eq(now)))
                .execute(conn)?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Removes the project's preference; false when it had none.
pub fn unset_preferred(conn: &mut DbConn, project: &str) -> StoreResult<bool> {
    Ok(diesel::delete(project_secret_store::table.find(project)).execute(conn)? > 0)
}

/// A store as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSpec {
    pub name: String,
    pub store_plugin: String,
    pub crypto_plugin: Option<String>,
    pub global_default: bool,
}

/// What [`sync`] changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub added: Vec<String>,
    pub updated: Vec<String>,
    pub removed: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("the secret store '{0}' is no longer configured but is the preferred store of {1} project(s); keep it in [[secretstore.stores]] or remove those preferences first")]
    InUse(String, i64),
    #[error(transparent)]
    Store(#[from] super::StoreError),
}

impl From<diesel::result::Error> for SyncError {
    fn from(e: diesel::result::Error) -> Self {
        SyncError::Store(e.into())
    }
}

/// Barbican's `sync_secret_stores`: stores are identified by their plugin pair; new ones are
/// added, changed names and default flags updated, and stores no longer configured removed
/// (refused while a project prefers one). Runs in one transaction.
pub fn sync(conn: &mut DbConn, wanted: &[StoreSpec]) -> Result<SyncReport, SyncError> {
    conn.transaction(|c| {
        let mut report = SyncReport::default();
        let existing = list(c)?;
        let key = |p: &str, cp: &Option<String>| (p.to_string(), cp.clone());
        let mut keep: Vec<(StoreRow, &StoreSpec)> = Vec::new();
        for row in existing {
            match wanted.iter().find(|w| key(&w.store_plugin, &w.crypto_plugin) == key(&row.store_plugin, &row.crypto_plugin)) {
                Some(w) => keep.push((row, w)),
                None => {
                    let users: i64 = project_secret_store::table
                        .filter(project_secret_store::secret_store_id.eq(&row.id))
                        .count()
                        .get_result(c)?;
                    if users > 0 {
                        return Err(SyncError::InUse(row.name, users));
                    }
                    diesel::delete(secret_stores::table.find(&row.id)).execute(c)?;
                    report.removed.push(row.name);
                }
            }
        }
        let now = now_micros();
        // Renames go through the id first, so that two stores may swap names (UNIQUE(name)).
        let renamed: Vec<&(StoreRow, &StoreSpec)> = keep.iter().filter(|(r, w)| r.name != w.name).collect();
        for (row, _) in &renamed {
            diesel::update(secret_stores::table.find(&row.id)).set(secret_stores::name.eq(&row.id)).execute(c)?;
        }
        for (row, w) in &keep {
            if row.name != w.name || row.global_default != w.global_default {
                diesel::update(secret_stores::table.find(&row.id))
                    .set((
                        secret_stores::name.eq(&w.name),
                        secret_stores::global_default.eq(w.global_default),
                        secret_stores::updated_at.eq(now),
                    ))
                    .execute(c)?;
                report.updated.push(w.name.clone());
            }
        }
        for (i, w) in wanted.iter().enumerate() {
            if keep.iter().any(|(_, k)| key(&k.store_plugin, &k.crypto_plugin) == key(&w.store_plugin, &w.crypto_plugin)) {
                continue;
            }
            // Configuration order is the listing order.
            let t = now + i as i64;
            diesel::insert_into(secret_stores::table)
                .values((
                    secret_stores::id.eq(uuid::Uuid::new_v4().to_string()),
                    secret_stores::name.eq(&w.name),
                    secret_stores::store_plugin.eq(&w.store_plugin),
                    secret_stores::crypto_plugin.eq(&w.crypto_plugin),
                    secret_stores::global_default.eq(w.global_default),
                    secret_stores::created_at.eq(t),
                    secret_stores::updated_at.eq(t),
                ))
                .execute(c)?;
            report.added.push(w.name.clone());
        }
        Ok(report)
    })
}
