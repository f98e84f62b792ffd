//! Consumers of secrets (§5.4) and of containers (§5.6).
//!
//! A consumer's identity is (secret, service, resource type, resource id) or (container, name,
//! URL); the unique constraints cover deleted rows too, so registering a consumer again revives
//! its row. `project_id` is the project of the caller that registered it.

use diesel::prelude::*;

use super::schema::{container_consumers, containers, projects, secret_consumers, secrets};
use super::{from_micros, now_micros, DbConn, StoreResult};
use crate::model::Page;
pub use crate::model::{ContainerConsumerRecord, SecretConsumerKey, SecretConsumerRecord};

/// Whether Barbican knows the project (it has written something once).
pub fn project_exists(conn: &mut DbConn, project: &str) -> StoreResult<bool> {
    Ok(projects::table.find(project).count().get_result::<i64>(conn)? > 0)
}

// ---- secret consumers ------------------------------------------------------------------------

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = secret_consumers)]
struct SecretConsumerRow {
    id: String,
    secret_id: String,
    project_id: Option<String>,
    service: String,
    resource_type: String,
    resource_id: String,
    created_at: i64,
    updated_at: i64,
}

impl From<SecretConsumerRow> for SecretConsumerRecord {
    fn from(r: SecretConsumerRow) -> Self {
        SecretConsumerRecord {
            id: r.id,
            secret_id: r.secret_id,
            project_id: r.project_id,
            service: r.service,
            resource_type: r.resource_type,
            resource_id: r.resource_id,
            created_at: from_micros(r.created_at),
            updated_at: from_micros(r.updated_at),
        }
    }
}

/// One page of a secret's live consumers, oldest first, and their total.
pub fn secret_list(conn: &mut DbConn, secret_id: &str, page: Page) -> StoreResult<(Vec<SecretConsumerRecord>, i64)> {
    let live = || {
        secret_consumers::table
            .filter(secret_consumers::secret_id.eq(secret_id))
            .filter(secret_consumers::deleted_at.is_null())
    };
    let total: i64 = live().count().get_result(conn)?;
    if total <= page.offset {
        return Ok((Vec::new(), total));
    }
    let rows: Vec<SecretConsumerRow> = live()
        .order((secret_consumers::created_at.asc(), secret_consumers::id.asc()))
        .offset(page.offset)
        .limit(page.limit)
        .select(SecretConsumerRow::as_select())
        .load(conn)?;
    Ok((rows.into_iter().map(Into::into).collect(), total))
}

/// A live consumer of the secret by its id.
pub fn secret_get(conn: &mut DbConn, secret_id: &str, id: &str) -> StoreResult<Option<SecretConsumerRecord>> {
    Ok(secret_consumers::table
        .filter(secret_consumers::id.eq(id))
        .filter(secret_consumers::secret_id.eq(secret_id))
        .filter(secret_consumers::deleted_at.is_null())
        .select(SecretConsumerRow::as_select())
        .first(conn)
        .optional()?
        .map(Into::into))
}

/// Barbican's register: revive the row with this identity (live or deleted); if there is none,
/// insert one in a savepoint, and if a concurrent request inserted it first, revive that one.
fn revive_or_insert(
    conn: &mut DbConn,
    revive: impl Fn(&mut DbConn) -> QueryResult<usize>,
    insert: impl FnOnce(&mut DbConn) -> QueryResult<usize>,
) -> QueryResult<()> {
    if revive(conn)? > 0 {
        return Ok(());
    }
    match conn.transaction(insert) {
        Ok(_) => Ok(()),
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            revive(conn).map(|_| ())
        }
        Err(e) => Err(e),
    }
}

/// The live consumer of the secret with this identity.
pub fn secret_find(conn: &mut DbConn, secret_id: &str, k: &SecretConsumerKey) -> StoreResult<Option<SecretConsumerRecord>> {
    Ok(secret_consumers::table
        .filter(secret_consumers::secret_id.eq(secret_id))
        .filter(secret_consumers::service.eq(&k.service))
        .filter(secret_consumers::resource_type.eq(&k.resource_type))
        .filter(secret_consumers::resource_id.eq(&k.resource_id))
        .filter(secret_consumers::deleted_at.is_null())
        .select(SecretConsumerRow::as_select())
        .first(conn)
        .optional()?
        .map(Into::into))
}

/// Registers a consumer of a secret in the caller's transaction, as Barbican does: an existing
/// row (live or deleted) is replaced by a fresh one (new `created`, the caller's project), and
/// the secret's `updated` moves. A row inserted concurrently by another request is revived too
/// (the insert runs in a savepoint).
///
/// The secret's row is locked first (moving its `updated`), as [`super::secrets::delete`] does:
/// false, and nothing registered, when the secret is no longer live.
pub fn secret_register(conn: &mut DbConn, secret_id: &str, project: &str, k: &SecretConsumerKey) -> QueryResult<bool> {
    let t = now_micros();
    let locked = diesel::update(secrets::table.filter(secrets::id.eq(secret_id)).filter(secrets::deleted_at.is_null()))
        .set(secrets::updated_at.eq(t))
        .execute(conn)?;
    if locked == 0 {
        return Ok(false);
    }
    let revive = |c: &mut DbConn| {
        diesel::update(
            secret_consumers::table
                .filter(secret_consumers::secret_id.eq(secret_id))
                .filter(secret_consumers::service.eq(&k.service))
                .filter(secret_consumers::resource_type.eq(&k.resource_type))
                .filter(secret_consumers::resource_id.eq(&k.resource_id)),
        )
        .set((
            secret_consumers::project_id.eq(Some(project)),
            secret_consumers::created_at.eq(t),
            secret_consumers::updated_at.eq(t),
            secret_consumers::deleted_at.eq(None::<i64>),
        ))
        .execute(c)
    };
    revive_or_insert(conn, revive, |c| {
        diesel::insert_into(secret_consumers::table)
            .values((
                secret_consumers::id.eq(uuid::Uuid::new_v4().to_string()),
                secret_consumers::secret_id.eq(secret_id),
                secret_consumers::project_id.eq(Some(project)),
                secret_consumers::service.eq(&k.service),
                secret_consumers::resource_type.eq(&k.resource_type),
                secret_consumers::resource_id.eq(&k.resource_id),
                secret_consumers::created_at.eq(t),
                secret_consumers::updated_at.eq(t),
            ))
            .execute(c)
    })?;
    Ok(true)
}

pub fn secret_soft_delete(conn: &mut DbConn, id: &str) -> StoreResult<()> {
    let t = now_micros();
    diesel::update(secret_consumers::table.filter(secret_consumers::id.eq(id)))
        .set((secret_consumers::deleted_at.eq(Some(t)), secret_consumers::updated_at.eq(t)))
        .execute(conn)?;
    Ok(())
}

/// Live secret consumers registered by a project (what the `consumers` quota counts on
/// `POST …/secrets/{id}/consumers`).
pub fn secret_count_for_project(conn: &mut DbConn, project: &str) -> QueryResult<i64> {
    secret_consumers::table
        .filter(secret_consumers::project_id.eq(project))
        .filter(secret_consumers::deleted_at.is_null())
        .count()
        .get_result(conn)
}

// ---- container consumers ---------------------------------------------------------------------

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = container_consumers)]
struct ContainerConsumerRow {
    id: String,
    container_id: String,
    project_id: Option<String>,
    name: String,
    url: String,
    created_at: i64,
    updated_at: i64,
}

impl From<ContainerConsumerRow> for ContainerConsumerRecord {
    fn from(r: ContainerConsumerRow) -> Self {
        ContainerConsumerRecord {
            id: r.id,
            container_id: r.container_id,
            project_id: r.project_id,
            name: r.name,
            url: r.url,
            created_at: from_micros(r.created_at),
            updated_at: from_micros(r.updated_at),
        }
    }
}

/// One page of a container's live consumers, by name, and their total.
pub fn container_list(conn: &mut DbConn, container_id: &str, page: Page) -> StoreResult<(Vec<ContainerConsumerRecord>, i64)> {
    let live = || {
        container_consumers::table
            .filter(container_consumers::container_id.eq(container_id))
            .filter(container_consumers::deleted_at.is_null())
    };
    let total: i64 = live().count().get_result(conn)?;
    if total <= page.offset {
        return Ok((Vec::new(), total));
    }
    let rows: Vec<ContainerConsumerRow> = live()
        .order((container_consumers::name.asc(), container_consumers::created_at.asc(), container_consumers::id.asc()))
        .offset(page.offset)
        .limit(page.limit)
        .select(ContainerConsumerRow::as_select())
        .load(conn)?;
    Ok((rows.into_iter().map(Into::into).collect(), total))
}

/// Live consumers of the given containers, in registration order.
pub fn container_consumers_of(conn: &mut DbConn, ids: &[&str]) -> StoreResult<Vec<ContainerConsumerRecord>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<ContainerConsumerRow> = container_consumers::table
        .filter(container_consumers::container_id.eq_any(ids))
        .filter(container_consumers::deleted_at.is_null())
        .order((container_consumers::created_at.asc(), container_consumers::id.asc()))
        .select(ContainerConsumerRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub fn container_get(conn: &mut DbConn, container_id: &str, id: &str) -> StoreResult<Option<ContainerConsumerRecord>> {
    Ok(container_consumers::table
        .filter(container_consumers::id.eq(id))
        .filter(container_consumers::container_id.eq(container_id))
        .filter(container_consumers::deleted_at.is_null())
        .select(ContainerConsumerRow::as_select())
        .first(conn)
        .optional()?
        .map(Into::into))
}

/// The live consumer of the container with this name and URL.
pub fn container_find(conn: &mut DbConn, container_id: &str, name: &str, url: &str) -> StoreResult<Option<ContainerConsumerRecord>> {
    Ok(container_consumers::table
        .filter(container_consumers::container_id.eq(container_id))
        .filter(container_consumers::name.eq(name))
        .filter(container_consumers::url.eq(url))
        .filter(container_consumers::deleted_at.is_null())
        .select(ContainerConsumerRow::as_select())
        .first(conn)
        .optional()?
        .map(Into::into))
}

/// Registers a consumer of a container in the caller's transaction (see [`secret_register`]);
/// the container's `updated` moves.
pub fn container_register(conn: &mut DbConn, container_id: &str, project: &str, name: &str, url: &str) -> QueryResult<()> {
    let t = now_micros();
    let revive = |c: &mut DbConn| {
        diesel::update(
            container_consumers::table
                .filter(container_consumers::container_id.eq(container_id))
                .filter(container_consumers::name.eq(name))
                .filter(container_consumers::url.eq(url)),
        )
        .set((
            container_consumers::project_id.eq(Some(project)),
            container_consumers::created_at.eq(t),
            container_consumers::updated_at.eq(t),
            container_consumers::deleted_at.eq(None::<i64>),
        ))
        .execute(c)
    };
    revive_or_insert(conn, revive, |c| {
        diesel::insert_into(container_consumers::table)
            .values((
                container_consumers::id.eq(uuid::Uuid::new_v4().to_string()),
                container_consumers::container_id.eq(container_id),
                container_consumers::project_id.eq(Some(project)),
                container_consumers::name.eq(name),
                container_consumers::url.eq(url),
                container_consumers::created_at.eq(t),
                container_consumers::updated_at.eq(t),
            ))
            .execute(c)
    })?;
    diesel::update(containers::table.filter(containers::id.eq(container_id)))
        .set(containers::updated_at.eq(t))
        .execute(conn)?;
    Ok(())
}

pub fn container_soft_delete(conn: &mut DbConn, id: &str) -> StoreResult<()> {
    let t = now_micros();
    diesel::update(container_consumers::table.filter(container_consumers::id.eq(id)))
        .set((container_consumers::deleted_at.eq(Some(t)), container_consumers::updated_at.eq(t)))
        .execute(conn)?;
    Ok(())
}

/// Live container consumers registered by a project (what the `consumers` quota counts on
/// `POST …/containers/{id}/consumers`).
pub fn container_count_for_project(conn: &mut DbConn, project: &str) -> QueryResult<i64> {
    container_consumers::table
        .filter(container_consumers::project_id.eq(project))
        .filter(container_consumers::deleted_at.is_null())
        .count()
        .get_result(conn)
}
