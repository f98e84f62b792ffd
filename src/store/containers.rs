//! Containers and their secret links (§5.5, §6.2). Container consumers are in `consumers`.

use diesel::prelude::*;

use super::schema::{container_consumers, container_secrets, containers, secrets};
use super::{from_micros, now_micros, DbConn, StoreResult};
use crate::model::Page;
pub use crate::model::{Container, ContainerFilter};

type Db = <DbConn as diesel::Connection>::Backend;

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>);

#[derive(Queryable, Selectable, Debug)]
#[diesel(table_name = containers)]
struct ContainerRow {
    id: String,
    project_id: String,
    creator_id: Option<String>,
    name: Option<String>,
    container_type: String,
    status: String,
    created_at: i64,
    updated_at: i64,
}

impl From<ContainerRow> for Container {
    fn from(r: ContainerRow) -> Container {
        Container {
            id: r.id,
            project_id: r.project_id,
            creator_id: r.creator_id,
            name: r.name,
            container_type: r.container_type,
            status: r.status,
            created_at: from_micros(r.created_at),
            updated_at: from_micros(r.updated_at),
        }
    }
}

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
        add_link(conn, n.id, secret_id, name.as_deref())?;
    }
    Ok(())
}

/// A live container and the caller's standing in its `read` ACL, in one query (the row
/// left-joined to its `read` ACL and the caller's entry in that ACL's users; both unique).
pub fn view(conn: &mut DbConn, id: &str, caller: Option<&str>) -> StoreResult<Option<(Container, super::acls::ReadFacts)>> {
    use super::schema::{acl_users, acls};
    let row: Option<(ContainerRow, Option<bool>, Option<String>)> = containers::table
        .left_join(
            acls::table.on(acls::entity_id
                .eq(containers::id)
                .and(acls::entity_type.eq("container"))
                .and(acls::operation.eq("read"))),
        )
        .left_join(acl_users::table.on(acl_users::acl_id.eq(acls::id).and(acl_users::user_id.eq(caller.unwrap_or("")))))
        .filter(containers::id.eq(id))
        .filter(containers::deleted_at.is_null())
        .select((ContainerRow::as_select(), acls::project_access.nullable(), acl_users::id.nullable()))
        .load(conn)?
        .into_iter()
        .next();
    Ok(row.map(|(row, project_access, listed)| {
        let facts = super::acls::ReadFacts { project_access, caller_listed: caller.is_some() && listed.is_some() };
        (Container::from(row), facts)
    }))
}

/// A live (not deleted) container by id, from any project: policy decides who may see it.
pub fn get(conn: &mut DbConn, id: &str) -> StoreResult<Option<Container>> {
    Ok(containers::table
        .filter(containers::id.eq(id))
        .filter(containers::deleted_at.is_null())
        .select(ContainerRow::as_select())
        .load(conn)?
        .into_iter()
        .next()
        .map(Container::from))
}

/// Takes the container's row lock until the end of the current transaction (SQLite: its write
/// lock), so that concurrent changes of its links are serialised. False if it is gone.
pub fn lock(conn: &mut DbConn, id: &str) -> QueryResult<bool> {
    let n = diesel::update(containers::table.filter(containers::id.eq(id)).filter(containers::deleted_at.is_null()))
        .set(containers::updated_at.eq(containers::updated_at))
        .execute(conn)?;
    Ok(n > 0)
}

fn filtered<'a>(project: &'a str, f: &'a ContainerFilter) -> containers::BoxedQuery<'a, Db> {
    let mut q = containers::table
        .into_boxed::<Db>()
        .filter(containers::project_id.eq(project))
        .filter(containers::deleted_at.is_null());
    if let Some(n) = &f.name {
        q = q.filter(lower(containers::name).like(n.to_lowercase()));
    }
    if let Some(t) = &f.container_type {
        q = q.filter(containers::container_type.eq(t));
    }
    q
}

/// One page of a project's live containers (oldest first) and the total that match.
pub fn list(conn: &mut DbConn, project: &str, f: &ContainerFilter, page: Page) -> StoreResult<(Vec<Container>, i64)> {
    let total: i64 = filtered(project, f).count().get_result(conn)?;
    if total <= page.offset {
        return Ok((Vec::new(), total));
    }
    let rows: Vec<ContainerRow> = filtered(project, f)
        .order((containers::created_at.asc(), containers::id.asc()))
        .offset(page.offset)
        .limit(page.limit)
        .select(ContainerRow::as_select())
        .load(conn)?;
    Ok((rows.into_iter().map(Container::from).collect(), total))
}

/// Live containers of a project (what the `containers` quota counts).
pub fn count_live(conn: &mut DbConn, project: &str) -> QueryResult<i64> {
    containers::table
        .filter(containers::project_id.eq(project))
        .filter(containers::deleted_at.is_null())
        .count()
        .get_result(conn)
}

/// A link of a container to a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    pub container_id: String,
    pub name: Option<String>,
    pub secret_id: String,
}

/// The live links of the given containers to live secrets, in the order they were made.
pub fn secret_refs_of(conn: &mut DbConn, ids: &[&str]) -> StoreResult<Vec<SecretRef>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(String, Option<String>, String)> = container_secrets::table
        .inner_join(secrets::table.on(secrets::id.eq(container_secrets::secret_id)))
        .filter(container_secrets::container_id.eq_any(ids))
        .filter(container_secrets::deleted_at.is_null())
        .filter(secrets::deleted_at.is_null())
        .order((container_secrets::created_at.asc(), container_secrets::id.asc()))
        .select((container_secrets::container_id, container_secrets::name, container_secrets::secret_id))
        .load(conn)?;
    Ok(rows.into_iter().map(|(container_id, name, secret_id)| SecretRef { container_id, name, secret_id }).collect())
}

/// Ids of the live links of a container to a secret under a name (`None` matches a null name).
pub fn links_matching(conn: &mut DbConn, container_id: &str, secret_id: &str, name: Option<&str>) -> QueryResult<Vec<String>> {
    let q = container_secrets::table
        .filter(container_secrets::container_id.eq(container_id))
        .filter(container_secrets::secret_id.eq(secret_id))
        .filter(container_secrets::deleted_at.is_null())
        .select(container_secrets::id);
    match name {
        Some(n) => q.filter(container_secrets::name.eq(n)).load(conn),
        None => q.filter(container_secrets::name.is_null()).load(conn),
    }
}

pub fn add_link(conn: &mut DbConn, container_id: &str, secret_id: &str, name: Option<&str>) -> QueryResult<()> {
    diesel::insert_into(container_secrets::table)
        .values((
            container_secrets::id.eq(uuid::Uuid::new_v4().to_string()),
            container_secrets::container_id.eq(container_id),
            container_secrets::secret_id.eq(secret_id),
            container_secrets::name.eq(name),
            container_secrets::created_at.eq(now_micros()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Soft-deletes links (removed through `DELETE …/containers/{id}/secrets`).
pub fn soft_delete_links(conn: &mut DbConn, ids: &[String]) -> QueryResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    diesel::update(container_secrets::table.filter(container_secrets::id.eq_any(ids)))
        .set(container_secrets::deleted_at.eq(Some(now_micros())))
        .execute(conn)?;
    Ok(())
}

/// Soft-deletes every live link to a secret (the secret is being deleted), so that it leaves
/// the `secret_refs` of its containers.
pub fn soft_delete_links_to_secret(conn: &mut DbConn, secret_id: &str, at: i64) -> QueryResult<()> {
    diesel::update(
        container_secrets::table
            .filter(container_secrets::secret_id.eq(secret_id))
            .filter(container_secrets::deleted_at.is_null()),
    )
    .set(container_secrets::deleted_at.eq(Some(at)))
    .execute(conn)?;
    Ok(())
}

/// Deletes a container of the project, in one transaction: the container is soft-deleted, its
/// secret links and ACLs hard-deleted, its consumers soft-deleted (its secrets stay). False when
/// the project has no such live container.
pub fn delete(conn: &mut DbConn, id: &str, project: &str) -> StoreResult<bool> {
    conn.transaction(|c| {
        let t = now_micros();
        let n = diesel::update(
            containers::table
                .filter(containers::id.eq(id))
                .filter(containers::project_id.eq(project))
                .filter(containers::deleted_at.is_null()),
        )
        .set((containers::deleted_at.eq(Some(t)), containers::updated_at.eq(t), containers::status.eq("DELETED")))
        .execute(c)?;
        if n == 0 {
            return Ok(false);
        }
        diesel::delete(container_secrets::table.filter(container_secrets::container_id.eq(id))).execute(c)?;
        super::acls::delete_all_in(c, "container", id)?;
        diesel::update(
            container_consumers::table
                .filter(container_consumers::container_id.eq(id))
                .filter(container_consumers::deleted_at.is_null()),
        )
        .set((container_consumers::deleted_at.eq(Some(t)), container_consumers::updated_at.eq(t)))
        .execute(c)?;
        Ok(true)
    })
}
