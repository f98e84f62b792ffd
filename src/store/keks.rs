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
    insert_row(conn, id, project, master_version, wrapped)?;
    Ok(())
}

fn insert_row(
    conn: &mut DbConn,
    id: &str,
    project: &str,
    master_version: i32,
    wrapped: &[u8],
) -> QueryResult<usize> {
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
        .execute(conn)
}

/// Inserts a new active KEK for the project and makes its other KEKs inactive, in one
/// transaction (project-KEK rotation).
pub fn insert_replacing_active(
    conn: &mut DbConn,
    id: &str,
    project: &str,
    master_version: i32,
    wrapped: &[u8],
) -> StoreResult<()> {
    conn.transaction(|c| {
        diesel::update(project_keks::table)
            .filter(project_keks::project_id.eq(project))
            .filter(project_keks::active.eq(true))
            .set((project_keks::active.eq(false), project_keks::updated_at.eq(now_micros())))
            .execute(c)?;
        insert_row(c, id, project, master_version, wrapped)
    })?;
    Ok(())
}

/// The highest master version any project KEK is wrapped under.
pub fn max_master_version(conn: &mut DbConn) -> StoreResult<Option<i32>> {
    Ok(project_keks::table
        .select(diesel::dsl::max(project_keks::master_version))
        .first::<Option<i32>>(conn)?)
}

/// How many project KEKs each master version wraps, by version.
pub fn count_by_master_version(conn: &mut DbConn) -> StoreResult<Vec<(i32, i64)>> {
    let mut v: Vec<(i32, i64)> = project_keks::table
        .group_by(project_keks::master_version)
        .select((project_keks::master_version, diesel::dsl::count_star()))
        .load(conn)?;
    v.sort_unstable();
    Ok(v)
}

/// Up to `limit` project KEKs wrapped under a master version older than `target`.
pub fn behind(conn: &mut DbConn, target: i32, limit: i64) -> StoreResult<Vec<KekRow>> {
    Ok(project_keks::table
        .filter(project_keks::master_version.lt(target))
        .order(project_keks::id.asc())
        .limit(limit)
        .select(KekRow::as_select())
        .load(conn)?)
}

/// Replaces a row's wrapping, only if it is still under `from` (a conditional update: two
/// rotations, or a rotation and a server, never overwrite each other). True if it changed.
pub fn rewrap(conn: &mut DbConn, id: &str, from: i32, to: i32, wrapped: &[u8]) -> StoreResult<bool> {
    let n = diesel::update(project_keks::table)
        .filter(project_keks::id.eq(id))
        .filter(project_keks::master_version.eq(from))
        .set((
            project_keks::master_version.eq(to),
            project_keks::wrapped_key.eq(wrapped),
            project_keks::updated_at.eq(now_micros()),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// A secret's sealed payload, for re-encryption under another project KEK.
#[derive(Debug)]
pub struct SealedPayload {
    pub id: String,
    pub content_type: Option<String>,
    pub kek_id: String,
    pub cypher_text: Vec<u8>,
}

/// Up to `limit` of the project's secrets (ids after `after`, ascending) whose payload is
/// sealed under a KEK other than `kek_id`.
pub fn payloads_not_under(
    conn: &mut DbConn,
    project: &str,
    kek_id: &str,
    after: &str,
    limit: i64,
) -> StoreResult<Vec<SealedPayload>> {
    use super::schema::secrets;
    let rows: Vec<(String, Option<String>, Option<String>, Option<Vec<u8>>)> = secrets::table
        .filter(secrets::project_id.eq(project))
        .filter(secrets::id.gt(after))
        .filter(secrets::cypher_text.is_not_null())
        .filter(secrets::kek_id.is_not_null())
        .filter(secrets::kek_id.ne(kek_id))
        .order(secrets::id.asc())
        .limit(limit)
        .select((secrets::id, secrets::content_type, secrets::kek_id, secrets::cypher_text))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, content_type, k, ct)| {
            Some(SealedPayload { id, content_type, kek_id: k?, cypher_text: ct? })
        })
        .collect())
}

/// Every sealed payload of the project, ids after `after`, ascending (verification, tests).
pub fn payloads(conn: &mut DbConn, project: &str, after: &str, limit: i64) -> StoreResult<Vec<SealedPayload>> {
    payloads_not_under(conn, project, "", after, limit)
}

/// Replaces a secret's payload sealed under `from_kek` by one sealed under `to_kek`, only if it
/// is still under `from_kek`. True if it changed.
pub fn reseal_payload(
    conn: &mut DbConn,
    secret_id: &str,
    from_kek: &str,
    to_kek: &str,
    cypher_text: &[u8],
) -> StoreResult<bool> {
    use super::schema::secrets;
    let n = diesel::update(secrets::table)
        .filter(secrets::id.eq(secret_id))
        .filter(secrets::kek_id.eq(from_kek))
        .set((
            secrets::kek_id.eq(to_kek),
            secrets::cypher_text.eq(cypher_text),
            secrets::updated_at.eq(now_micros()),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// The projects that have project KEKs.
pub fn projects(conn: &mut DbConn) -> StoreResult<Vec<String>> {
    Ok(project_keks::table.select(project_keks::project_id).distinct().order(project_keks::project_id.asc()).load(conn)?)
}

/// One project KEK wrapped under the master version, if any (to check an imported key).
pub fn sample_under(conn: &mut DbConn, master_version: i32) -> StoreResult<Option<KekRow>> {
    Ok(project_keks::table
        .filter(project_keks::master_version.eq(master_version))
        .select(KekRow::as_select())
        .first(conn)
        .optional()?)
}
