//! Managed keys and their versions (`/v1/keys`).
//!
//! A single-key route reads the key row and the one version it needs (the current one, or the
//! one a ciphertext names) in one statement; rotation bumps `current_version` with a
//! conditional update, so two replicas rotating at once make one version, not two.

use diesel::prelude::*;

use super::schema::{managed_key_versions as kv, managed_keys as mk};
use super::{from_micros, to_micros, DbConn, StoreError, StoreResult};
use crate::crypto::managed::KeyType;
use crate::model::managed_key::{grants_from_json, grants_to_json, KeyVersionInfo, ManagedKey, Sensitivity};
use crate::model::Page;

#[derive(Queryable, Selectable)]
#[diesel(table_name = mk)]
struct KeyRow {
    id: String,
    project_id: String,
    creator_id: Option<String>,
    name: String,
    key_type: String,
    sensitivity: String,
    exportable: bool,
    deletion_allowed: bool,
    current_version: i32,
    min_decryption_version: i32,
    min_encryption_version: i32,
    auto_rotate_seconds: Option<i64>,
    rotated_at: i64,
    policy: String,
    created_at: i64,
    updated_at: i64,
}

/// One version's sealed material (under the project KEK `kek_id`).
#[derive(Queryable, Selectable, Clone)]
#[diesel(table_name = kv)]
pub struct VersionRow {
    pub key_id: String,
    pub version: i32,
    pub kek_id: String,
    pub sealed: Vec<u8>,
    pub public_der: Option<Vec<u8>>,
    pub created_at: i64,
}

impl TryFrom<KeyRow> for ManagedKey {
    type Error = StoreError;

    fn try_from(r: KeyRow) -> Result<ManagedKey, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("managed key {}: bad {what}", r.id));
        Ok(ManagedKey {
            key_type: KeyType::parse(&r.key_type).ok_or_else(|| corrupt("key_type"))?,
            sensitivity: Sensitivity::parse(&r.sensitivity).ok_or_else(|| corrupt("sensitivity"))?,
            grants: grants_from_json(&r.policy).ok_or_else(|| corrupt("policy"))?,
            id: r.id,
            project_id: r.project_id,
            creator_id: r.creator_id,
            name: r.name,
            exportable: r.exportable,
            deletion_allowed: r.deletion_allowed,
            current_version: r.current_version,
            min_decryption_version: r.min_decryption_version,
            min_encryption_version: r.min_encryption_version,
            auto_rotate_seconds: r.auto_rotate_seconds,
            rotated_at: from_micros(r.rotated_at),
            created_at: from_micros(r.created_at),
            updated_at: from_micros(r.updated_at),
        })
    }
}

/// The project's keys (what the `keys` quota counts), over `ix_managed_keys_project`.
pub fn count(conn: &mut DbConn, project: &str) -> QueryResult<i64> {
    mk::table.filter(mk::project_id.eq(project)).count().get_result(conn)
}

/// Inserts a key and its version 1, in the caller's transaction.
pub fn insert(conn: &mut DbConn, k: &ManagedKey, v1: &VersionRow) -> QueryResult<()> {
    diesel::insert_into(mk::table)
        .values((
            mk::id.eq(&k.id),
            mk::project_id.eq(&k.project_id),
            mk::creator_id.eq(k.creator_id.as_deref()),
            mk::name.eq(&k.name),
            mk::key_type.eq(k.key_type.as_str()),
            mk::sensitivity.eq(k.sensitivity.as_str()),
            mk::exportable.eq(k.exportable),
            mk::deletion_allowed.eq(k.deletion_allowed),
            mk::current_version.eq(k.current_version),
            mk::min_decryption_version.eq(k.min_decryption_version),
            mk::min_encryption_version.eq(k.min_encryption_version),
            mk::auto_rotate_seconds.eq(k.auto_rotate_seconds),
            mk::rotated_at.eq(to_micros(k.rotated_at)),
            mk::policy.eq(grants_to_json(&k.grants)),
            mk::created_at.eq(to_micros(k.created_at)),
            mk::updated_at.eq(to_micros(k.updated_at)),
        ))
        .execute(conn)?;
    insert_version(conn, v1)
}

fn insert_version(conn: &mut DbConn, v: &VersionRow) -> QueryResult<()> {
    diesel::insert_into(kv::table)
        .values((
            kv::key_id.eq(&v.key_id),
            kv::version.eq(v.version),
            kv::kek_id.eq(&v.kek_id),
            kv::sealed.eq(&v.sealed),
            kv::public_der.eq(v.public_der.as_deref()),
            kv::created_at.eq(v.created_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The key and one of its versions (`version`, or the current one when None), in one query.
/// The version is None when the key has no such version.
pub fn view(conn: &mut DbConn, id: &str, version: Option<i32>) -> StoreResult<Option<(ManagedKey, Option<VersionRow>)>> {
    let rows: Option<(KeyRow, Option<VersionRow>)> = match version {
        None => mk::table
            .left_join(kv::table.on(kv::key_id.eq(mk::id).and(kv::version.eq(mk::current_version))))
            .filter(mk::id.eq(id))
            .select((KeyRow::as_select(), Option::<VersionRow>::as_select()))
            .load(conn)?
            .into_iter()
            .next(),
        Some(v) => mk::table
            .left_join(kv::table.on(kv::key_id.eq(mk::id).and(kv::version.eq(v))))
            .filter(mk::id.eq(id))
            .select((KeyRow::as_select(), Option::<VersionRow>::as_select()))
            .load(conn)?
            .into_iter()
            .next(),
    };
    rows.map(|(k, v)| Ok((ManagedKey::try_from(k)?, v))).transpose()
}

/// The key alone.
pub fn get(conn: &mut DbConn, id: &str) -> StoreResult<Option<ManagedKey>> {
    let row: Option<KeyRow> = mk::table.find(id).select(KeyRow::as_select()).load(conn)?.into_iter().next();
    row.map(ManagedKey::try_from).transpose()
}

/// Every version of a key, ascending, with its material (export, rewrap of all).
pub fn version_rows(conn: &mut DbConn, id: &str) -> StoreResult<Vec<VersionRow>> {
    Ok(kv::table.filter(kv::key_id.eq(id)).order(kv::version.asc()).select(VersionRow::as_select()).load(conn)?)
}

/// Every version's public facts, ascending.
pub fn versions(conn: &mut DbConn, id: &str) -> StoreResult<Vec<KeyVersionInfo>> {
    let rows: Vec<(i32, i64, Option<Vec<u8>>)> = kv::table
        .filter(kv::key_id.eq(id))
        .order(kv::version.asc())
        .select((kv::version, kv::created_at, kv::public_der))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(version, t, public_der)| KeyVersionInfo { version, created_at: from_micros(t), public_der })
        .collect())
}

/// A page of the project's keys (oldest first), optionally by exact name, and the total.
pub fn list(conn: &mut DbConn, project: &str, name: Option<&str>, page: Page) -> StoreResult<(Vec<ManagedKey>, i64)> {
    let mut q = mk::table.filter(mk::project_id.eq(project)).into_boxed();
    let mut count = mk::table.filter(mk::project_id.eq(project)).into_boxed();
    if let Some(n) = name {
        q = q.filter(mk::name.eq(n));
        count = count.filter(mk::name.eq(n));
    }
    let rows: Vec<KeyRow> = q
        .order((mk::created_at.asc(), mk::id.asc()))
        .offset(page.offset)
        .limit(page.limit)
        .select(KeyRow::as_select())
        .load(conn)?;
    let total: i64 = count.count().get_result(conn)?;
    let keys = rows.into_iter().map(ManagedKey::try_from).collect::<StoreResult<Vec<_>>>()?;
    Ok((keys, total))
}

/// Writes a key's settings and policy (the service read the row in the same transaction).
pub fn update(conn: &mut DbConn, k: &ManagedKey) -> QueryResult<bool> {
    let n = diesel::update(mk::table.find(&k.id))
        .set((
            mk::name.eq(&k.name),
            mk::sensitivity.eq(k.sensitivity.as_str()),
            mk::exportable.eq(k.exportable),
            mk::deletion_allowed.eq(k.deletion_allowed),
            mk::min_decryption_version.eq(k.min_decryption_version),
            mk::min_encryption_version.eq(k.min_encryption_version),
            mk::auto_rotate_seconds.eq(k.auto_rotate_seconds),
            mk::policy.eq(grants_to_json(&k.grants)),
            mk::updated_at.eq(to_micros(k.updated_at)),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Adds version `v.version` if the key's current version is still `v.version - 1`: false when
/// another request (or replica) rotated first.
pub fn add_version(conn: &mut DbConn, v: &VersionRow, now: i64) -> QueryResult<bool> {
    let n = diesel::update(mk::table.find(&v.key_id).filter(mk::current_version.eq(v.version - 1)))
        .set((mk::current_version.eq(v.version), mk::rotated_at.eq(now), mk::updated_at.eq(now)))
        .execute(conn)?;
    if n != 1 {
        return Ok(false);
    }
    insert_version(conn, v)?;
    Ok(true)
}

/// Deletes a key and every version of it (their material is gone for good).
pub fn delete(conn: &mut DbConn, id: &str) -> QueryResult<bool> {
    diesel::delete(kv::table.filter(kv::key_id.eq(id))).execute(conn)?;
    Ok(diesel::delete(mk::table.find(id)).execute(conn)? == 1)
}

#[cfg(test)]
mod tests {
    /// The one-query look-up of the key operations is prepared once per connection and then
    /// served from diesel's statement cache (SQLite parsing is a large share of a request).
    #[test]
    fn view_is_prepared_once() {
        let (started, prepared) = crate::store::count_prepares(|conn| {
            for v in [None, None, None, Some(2), Some(3)] {
                assert!(super::view(conn, "00000000-0000-4000-8000-000000000000", v).unwrap().is_none());
            }
        });
        assert_eq!(started, 5);
        assert_eq!(prepared, 2, "each of the two shapes prepared once, then reused");
    }
}
