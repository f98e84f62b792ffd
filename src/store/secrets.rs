//! Secrets, their user metadata and their consumers.

use diesel::prelude::*;

use super::schema::{secret_consumers, secret_user_metadata, secrets};
use super::{from_micros, now_micros, to_micros, DbConn, StoreResult};
use crate::model::{Secret, SecretConsumer};

pub use super::secret_list::{list, Scope};
pub use super::secret_totals::{count_live, count_live_rows, live_unexpired, KeptCounts};

#[derive(Queryable, Selectable, Debug)]
#[diesel(table_name = secrets)]
pub struct SecretRow {
    pub id: String,
    pub project_id: String,
    pub creator_id: Option<String>,
    pub name: Option<String>,
    pub secret_type: String,
    pub expiration: Option<i64>,
    pub algorithm: Option<String>,
    pub bit_length: Option<i32>,
    pub mode: Option<String>,
    pub status: String,
    pub content_type: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<SecretRow> for Secret {
    fn from(r: SecretRow) -> Secret {
        Secret {
            id: r.id,
            project_id: r.project_id,
            creator_id: r.creator_id,
            name: r.name,
            secret_type: r.secret_type,
            expiration: r.expiration.map(from_micros),
            algorithm: r.algorithm,
            bit_length: r.bit_length,
            mode: r.mode,
            status: r.status,
            content_type: r.content_type,
            created_at: from_micros(r.created_at),
            updated_at: from_micros(r.updated_at),
        }
    }
}

/// The encrypted payload of a secret.
#[derive(Queryable, Debug)]
pub struct PayloadRow {
    pub kek_id: Option<String>,
    pub cypher_text: Option<Vec<u8>>,
}

/// Values of a new secret row.
pub struct NewSecret<'a> {
    pub secret: &'a Secret,
    pub kek_id: Option<&'a str>,
    pub cypher_text: Option<&'a [u8]>,
    /// A row that is already soft-deleted (imported as it was); None for every new secret.
    pub deleted_at: Option<i64>,
}

pub fn insert(conn: &mut DbConn, n: &NewSecret) -> QueryResult<()> {
    let s = n.secret;
    diesel::insert_into(secrets::table)
        .values((
            (
                secrets::id.eq(&s.id),
                secrets::project_id.eq(&s.project_id),
                secrets::creator_id.eq(&s.creator_id),
                secrets::name.eq(&s.name),
                secrets::secret_type.eq(&s.secret_type),
                secrets::expiration.eq(s.expiration.map(to_micros)),
                secrets::algorithm.eq(&s.algorithm),
                secrets::bit_length.eq(&s.bit_length),
            ),
            (
                secrets::mode.eq(&s.mode),
                secrets::status.eq(&s.status),
                secrets::content_type.eq(&s.content_type),
                secrets::kek_id.eq(n.kek_id),
                secrets::cypher_text.eq(n.cypher_text),
                secrets::created_at.eq(to_micros(s.created_at)),
                secrets::updated_at.eq(to_micros(s.updated_at)),
                secrets::deleted_at.eq(n.deleted_at),
            ),
        ))
        .execute(conn)?;
    Ok(())
}

/// A live secret with what a single-secret route needs, in one query: the row, the caller's
/// standing in its `read` ACL, and its sealed payload.
pub struct SecretView {
    pub secret: Secret,
    pub acl: super::acls::ReadFacts,
    pub payload: PayloadRow,
}

/// One look-up for a single-secret route: the row left-joined to its `read` ACL and the
/// caller's entry in that ACL's users (both unique, so at most one row), plus the payload
/// columns. Replaces the row, ACL, ACL-user and payload queries a payload GET made before.
pub fn view(conn: &mut DbConn, id: &str, caller: Option<&str>) -> StoreResult<Option<SecretView>> {
    use super::schema::{acl_users, acls};
    let user = caller.unwrap_or("");
    type Row = (SecretRow, Option<bool>, Option<String>, Option<String>, Option<Vec<u8>>);
    let rows: Vec<Row> = super::native!(conn, |c| secrets::table
        .left_join(
            acls::table.on(acls::entity_id
                .eq(secrets::id)
                .and(acls::entity_type.eq("secret"))
                .and(acls::operation.eq("read"))),
        )
        .left_join(acl_users::table.on(acl_users::acl_id.eq(acls::id).and(acl_users::user_id.eq(user))))
        .filter(secrets::id.eq(id))
        .filter(secrets::deleted_at.is_null())
        .select((
            SecretRow::as_select(),
            acls::project_access.nullable(),
            acl_users::id.nullable(),
            secrets::kek_id,
            secrets::cypher_text,
        ))
        .load(c))?;
    let row = rows.into_iter().next();
    Ok(row.map(|(row, project_access, listed, kek_id, cypher_text)| SecretView {
        secret: Secret::from(row),
        acl: super::acls::ReadFacts { project_access, caller_listed: caller.is_some() && listed.is_some() },
        payload: PayloadRow { kek_id, cypher_text },
    }))
}

/// A live (not deleted) secret by id, from any project; expiry is the caller's business.
pub fn get(conn: &mut DbConn, id: &str) -> StoreResult<Option<Secret>> {
    Ok(secrets::table
        .filter(secrets::id.eq(id))
        .filter(secrets::deleted_at.is_null())
        .select(SecretRow::as_select())
        .load(conn)?
        .into_iter()
        .next()
        .map(Secret::from))
}

/// Stores the payload of a secret that has none yet. False when it already had one (or is gone).
pub fn set_payload(
    conn: &mut DbConn,
    id: &str,
    project: &str,
    content_type: &str,
    kek_id: &str,
    cypher_text: &[u8],
) -> StoreResult<bool> {
    let n = diesel::update(
        secrets::table
            .filter(secrets::id.eq(id))
            .filter(secrets::project_id.eq(project))
            .filter(secrets::deleted_at.is_null())
            .filter(secrets::content_type.is_null()),
    )
    .set((
        secrets::content_type.eq(content_type),
        secrets::kek_id.eq(kek_id),
        secrets::cypher_text.eq(cypher_text),
        secrets::updated_at.eq(now_micros()),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// What [`delete`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Yes,
    /// No live secret with this id in the project.
    NotFound,
    /// Refused: the secret has live consumers.
    HasConsumers,
}

/// Soft-deletes a secret: its ciphertext is erased at once, its user metadata removed and its
/// consumers soft-deleted, in one transaction. With `refuse_if_consumers` a secret with live
/// consumers stays; the check runs in the transaction, after the secret's row lock (its first
/// statement), so a consumer registered concurrently (which takes the same lock first, see
/// [`super::consumers::secret_register`]) is either seen here or finds the secret gone.
pub fn delete(conn: &mut DbConn, id: &str, project: &str, refuse_if_consumers: bool) -> StoreResult<Deleted> {
    conn.transaction(|c| {
        let live = || {
            secrets::table
                .filter(secrets::id.eq(id))
                .filter(secrets::project_id.eq(project))
                .filter(secrets::deleted_at.is_null())
        };
        // The row lock (PostgreSQL/MySQL), or SQLite's write lock, before any read.
        if diesel::update(live()).set(secrets::updated_at.eq(secrets::updated_at)).execute(c)? == 0 {
            return Ok(Deleted::NotFound);
        }
        if refuse_if_consumers && consumer_count(c, id)? > 0 {
            return Ok(Deleted::HasConsumers);
        }
        let t = now_micros();
        let n = diesel::update(
            secrets::table
                .filter(secrets::id.eq(id))
                .filter(secrets::project_id.eq(project))
                .filter(secrets::deleted_at.is_null()),
        )
        .set((
            secrets::deleted_at.eq(Some(t)),
            secrets::updated_at.eq(t),
            secrets::cypher_text.eq(None::<Vec<u8>>),
            secrets::status.eq("DELETED"),
        ))
        .execute(c)?;
        if n == 0 {
            return Ok(Deleted::NotFound);
        }
        diesel::delete(secret_user_metadata::table.filter(secret_user_metadata::secret_id.eq(id)))
            .execute(c)?;
        // ACLs go with the secret (hard delete, as Barbican does).
        super::acls::delete_all_in(c, "secret", id)?;
        diesel::update(
            secret_consumers::table
                .filter(secret_consumers::secret_id.eq(id))
                .filter(secret_consumers::deleted_at.is_null()),
        )
        .set(secret_consumers::deleted_at.eq(Some(t)))
        .execute(c)?;
        // The secret leaves the `secret_refs` of its containers (links soft-deleted, §6.2).
        super::containers::soft_delete_links_to_secret(c, id, t)?;
        Ok(Deleted::Yes)
    })
}

/// Live consumers of the given secrets, in creation order, keyed by secret id.
pub fn consumers_of(
    conn: &mut DbConn,
    ids: &[&str],
) -> StoreResult<Vec<(String, SecretConsumer)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(String, String, String, String)> = secret_consumers::table
        .filter(secret_consumers::secret_id.eq_any(ids))
        .filter(secret_consumers::deleted_at.is_null())
        .order((secret_consumers::created_at.asc(), secret_consumers::id.asc()))
        .select((
            secret_consumers::secret_id,
            secret_consumers::service,
            secret_consumers::resource_type,
            secret_consumers::resource_id,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(sid, service, resource_type, resource_id)| {
            (sid, SecretConsumer { service, resource_type, resource_id })
        })
        .collect())
}

pub fn consumer_count(conn: &mut DbConn, id: &str) -> StoreResult<i64> {
    Ok(secret_consumers::table
        .filter(secret_consumers::secret_id.eq(id))
        .filter(secret_consumers::deleted_at.is_null())
        .count()
        .get_result(conn)?)
}

// ---- user metadata -------------------------------------------------------------------------

pub fn metadata(conn: &mut DbConn, id: &str) -> StoreResult<Vec<(String, String)>> {
    Ok(super::native!(conn, |c| secret_user_metadata::table
        .filter(secret_user_metadata::secret_id.eq(id))
        .order(secret_user_metadata::meta_key.asc())
        .select((secret_user_metadata::meta_key, secret_user_metadata::meta_value))
        .load(c))?)
}

pub fn metadatum(conn: &mut DbConn, id: &str, key: &str) -> StoreResult<Option<String>> {
    Ok(secret_user_metadata::table
        .filter(secret_user_metadata::secret_id.eq(id))
        .filter(secret_user_metadata::meta_key.eq(key))
        .select(secret_user_metadata::meta_value)
        .load(conn)?
        .into_iter()
        .next())
}

fn insert_metadatum(conn: &mut DbConn, id: &str, key: &str, value: &str) -> QueryResult<usize> {
    let t = now_micros();
    diesel::insert_into(secret_user_metadata::table)
        .values((
            secret_user_metadata::id.eq(uuid::Uuid::new_v4().to_string()),
            secret_user_metadata::secret_id.eq(id),
            secret_user_metadata::meta_key.eq(key),
            secret_user_metadata::meta_value.eq(value),
            secret_user_metadata::created_at.eq(t),
            secret_user_metadata::updated_at.eq(t),
        ))
        .execute(conn)
}

/// Replaces all user metadata of a secret, in one transaction.
pub fn replace_metadata(
    conn: &mut DbConn,
    id: &str,
    items: &[(String, String)],
) -> StoreResult<()> {
    conn.transaction(|c| {
        diesel::delete(secret_user_metadata::table.filter(secret_user_metadata::secret_id.eq(id)))
            .execute(c)?;
        for (k, v) in items {
            insert_metadatum(c, id, k, v)?;
        }
        Ok(())
    })
}

/// Adds one key; false if it already exists.
pub fn add_metadatum(conn: &mut DbConn, id: &str, key: &str, value: &str) -> StoreResult<bool> {
    match insert_metadatum(conn, id, key, value) {
        Ok(_) => Ok(true),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Updates one existing key; false if it does not exist.
pub fn update_metadatum(conn: &mut DbConn, id: &str, key: &str, value: &str) -> StoreResult<bool> {
    let n = diesel::update(
        secret_user_metadata::table
            .filter(secret_user_metadata::secret_id.eq(id))
            .filter(secret_user_metadata::meta_key.eq(key)),
    )
    .set((secret_user_metadata::meta_value.eq(value), secret_user_metadata::updated_at.eq(now_micros())))
    .execute(conn)?;
    Ok(n > 0)
}

pub fn delete_metadatum(conn: &mut DbConn, id: &str, key: &str) -> StoreResult<()> {
    diesel::delete(
        secret_user_metadata::table
            .filter(secret_user_metadata::secret_id.eq(id))
            .filter(secret_user_metadata::meta_key.eq(key)),
    )
    .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The single-secret look-up is prepared once per connection and then served from diesel's
    /// statement cache (SQLite parses it once), through the multi-backend connection too.
    #[test]
    fn view_is_prepared_once() {
        let (started, prepared) = crate::store::count_prepares(|conn| {
            for _ in 0..3 {
                assert!(super::view(conn, "00000000-0000-4000-8000-000000000000", Some("u")).unwrap().is_none());
            }
        });
        assert_eq!(started, 3);
        assert_eq!(prepared, 1, "prepared for the cache once, then reused");
    }
}
