//! Rows brought over from another key manager (`portcullis import barbican`), inserted with the
//! ids and times they had there. Each function inserts one row as given; the importer checks
//! first which ids exist ([`existing`]) so that a second run inserts only what is missing.

use std::collections::HashSet;

use diesel::prelude::*;

use super::schema::*;
use super::orders::OrderRow;
use super::{to_micros, DbConn, StoreResult};
use crate::model::Container;

/// The tables the importer fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    Secrets,
    SecretMetadata,
    SecretConsumers,
    Containers,
    ContainerSecrets,
    ContainerConsumers,
    Acls,
    AclUsers,
    Orders,
    ProjectQuotas,
    SecretStores,
    ProjectSecretStore,
    TransportKeys,
}

/// Every id (the project id for the per-project tables) present in `table`.
pub fn existing(conn: &mut DbConn, table: Table) -> StoreResult<HashSet<String>> {
    let v: Vec<String> = match table {
        Table::Secrets => secrets::table.select(secrets::id).load(conn)?,
        Table::SecretMetadata => secret_user_metadata::table.select(secret_user_metadata::id).load(conn)?,
        Table::SecretConsumers => secret_consumers::table.select(secret_consumers::id).load(conn)?,
        Table::Containers => containers::table.select(containers::id).load(conn)?,
        Table::ContainerSecrets => container_secrets::table.select(container_secrets::id).load(conn)?,
        Table::ContainerConsumers => container_consumers::table.select(container_consumers::id).load(conn)?,
        Table::Acls => acls::table.select(acls::id).load(conn)?,
        Table::AclUsers => acl_users::table.select(acl_users::id).load(conn)?,
        Table::Orders => orders::table.select(orders::id).load(conn)?,
        Table::ProjectQuotas => project_quotas::table.select(project_quotas::project_id).load(conn)?,
        Table::SecretStores => secret_stores::table.select(secret_stores::id).load(conn)?,
        Table::ProjectSecretStore => project_secret_store::table.select(project_secret_store::project_id).load(conn)?,
        Table::TransportKeys => transport_keys::table.select(transport_keys::id).load(conn)?,
    };
    Ok(v.into_iter().collect())
}

/// Secret-store names to ids (a store of the same name may already exist under another id).
pub fn store_names(conn: &mut DbConn) -> StoreResult<Vec<(String, String)>> {
    Ok(secret_stores::table.select((secret_stores::name, secret_stores::id)).load(conn)?)
}

pub fn metadatum(conn: &mut DbConn, id: &str, secret_id: &str, key: &str, value: &str, created: i64, updated: i64) -> QueryResult<()> {
    diesel::insert_into(secret_user_metadata::table)
        .values((
            secret_user_metadata::id.eq(id),
            secret_user_metadata::secret_id.eq(secret_id),
            secret_user_metadata::meta_key.eq(key),
            secret_user_metadata::meta_value.eq(value),
            secret_user_metadata::created_at.eq(created),
            secret_user_metadata::updated_at.eq(updated),
        ))
        .execute(conn)
        .map(drop)
}

/// A consumer of a secret (`resource` = service, resource type, resource id).
#[allow(clippy::too_many_arguments)]
pub fn secret_consumer(
    conn: &mut DbConn,
    id: &str,
    secret_id: &str,
    project_id: Option<&str>,
    resource: (&str, &str, &str),
    created: i64,
    updated: i64,
    deleted: Option<i64>,
) -> QueryResult<()> {
    diesel::insert_into(secret_consumers::table)
        .values((
            secret_consumers::id.eq(id),
            secret_consumers::secret_id.eq(secret_id),
            secret_consumers::project_id.eq(project_id),
            secret_consumers::service.eq(resource.0),
            secret_consumers::resource_type.eq(resource.1),
            secret_consumers::resource_id.eq(resource.2),
            secret_consumers::created_at.eq(created),
            secret_consumers::updated_at.eq(updated),
            secret_consumers::deleted_at.eq(deleted),
        ))
        .execute(conn)
        .map(drop)
}

/// A container as it was there, soft-deleted at `deleted_at` (microseconds) if it was.
pub fn container(conn: &mut DbConn, (c, deleted_at): &(Container, Option<i64>)) -> QueryResult<()> {
    diesel::insert_into(containers::table)
        .values((
            containers::id.eq(&c.id),
            containers::project_id.eq(&c.project_id),
            containers::creator_id.eq(&c.creator_id),
            containers::name.eq(&c.name),
            containers::container_type.eq(&c.container_type),
            containers::status.eq(&c.status),
            containers::created_at.eq(to_micros(c.created_at)),
            containers::updated_at.eq(to_micros(c.updated_at)),
            containers::deleted_at.eq(deleted_at),
        ))
        .execute(conn)
        .map(drop)
}

pub fn container_secret(
    conn: &mut DbConn,
    id: &str,
    container_id: &str,
    secret_id: &str,
    name: Option<&str>,
    created: i64,
    deleted: Option<i64>,
) -> QueryResult<()> {
    diesel::insert_into(container_secrets::table)
        .values((
            container_secrets::id.eq(id),
            container_secrets::container_id.eq(container_id),
            container_secrets::secret_id.eq(secret_id),
            container_secrets::name.eq(name),
            container_secrets::created_at.eq(created),
            container_secrets::deleted_at.eq(deleted),
        ))
        .execute(conn)
        .map(drop)
}

/// A consumer of a container (`nu` = name, URL).
#[allow(clippy::too_many_arguments)]
pub fn container_consumer(
    conn: &mut DbConn,
    id: &str,
    container_id: &str,
    project_id: Option<&str>,
    nu: (&str, &str),
    created: i64,
    updated: i64,
    deleted: Option<i64>,
) -> QueryResult<()> {
    diesel::insert_into(container_consumers::table)
        .values((
            container_consumers::id.eq(id),
            container_consumers::container_id.eq(container_id),
            container_consumers::project_id.eq(project_id),
            container_consumers::name.eq(nu.0),
            container_consumers::url.eq(nu.1),
            container_consumers::created_at.eq(created),
            container_consumers::updated_at.eq(updated),
            container_consumers::deleted_at.eq(deleted),
        ))
        .execute(conn)
        .map(drop)
}

/// An ACL of a secret or container (`entity` = ("secret"|"container", id)).
pub fn acl(conn: &mut DbConn, id: &str, entity: (&str, &str), operation: &str, project_access: bool, created: i64, updated: i64) -> QueryResult<()> {
    diesel::insert_into(acls::table)
        .values((
            acls::id.eq(id),
            acls::entity_type.eq(entity.0),
            acls::entity_id.eq(entity.1),
            acls::operation.eq(operation),
            acls::project_access.eq(project_access),
            acls::created_at.eq(created),
            acls::updated_at.eq(updated),
        ))
        .execute(conn)
        .map(drop)
}

pub fn acl_user(conn: &mut DbConn, id: &str, acl_id: &str, user_id: &str, created: i64) -> QueryResult<()> {
    diesel::insert_into(acl_users::table)
        .values((acl_users::id.eq(id), acl_users::acl_id.eq(acl_id), acl_users::user_id.eq(user_id), acl_users::created_at.eq(created)))
        .execute(conn)
        .map(drop)
}

/// An order row as it was there, soft-deleted at `deleted_at` (microseconds) if it was.
pub fn order(conn: &mut DbConn, (o, deleted_at): &(OrderRow, Option<i64>)) -> QueryResult<()> {
    diesel::insert_into(orders::table)
        .values((
            (
                orders::id.eq(&o.id),
                orders::project_id.eq(&o.project_id),
                orders::creator_id.eq(&o.creator_id),
                orders::order_type.eq(&o.order_type),
                orders::status.eq(&o.status),
                orders::meta.eq(&o.meta),
                orders::secret_id.eq(&o.secret_id),
                orders::container_id.eq(&o.container_id),
            ),
            (
                orders::error_status_code.eq(&o.error_status_code),
                orders::error_reason.eq(&o.error_reason),
                orders::sub_status.eq(&o.sub_status),
                orders::sub_status_message.eq(&o.sub_status_message),
                orders::created_at.eq(o.created_at),
                orders::updated_at.eq(o.updated_at),
                orders::deleted_at.eq(deleted_at),
            ),
        ))
        .execute(conn)
        .map(drop)
}

/// A project's quotas: secrets, orders, containers, consumers, cas.
pub fn quotas(conn: &mut DbConn, project_id: &str, q: [Option<i32>; 5], created: i64, updated: i64) -> QueryResult<()> {
    diesel::insert_into(project_quotas::table)
        .values((
            project_quotas::project_id.eq(project_id),
            project_quotas::secrets.eq(q[0]),
            project_quotas::orders.eq(q[1]),
            project_quotas::containers.eq(q[2]),
            project_quotas::consumers.eq(q[3]),
            project_quotas::cas.eq(q[4]),
            project_quotas::created_at.eq(created),
            project_quotas::updated_at.eq(updated),
        ))
        .execute(conn)
        .map(drop)
}

/// A secret store (`plugins` = store plugin, crypto plugin).
pub fn secret_store(conn: &mut DbConn, id: &str, name: &str, plugins: (&str, Option<&str>), global_default: bool, created: i64, updated: i64) -> QueryResult<()> {
    diesel::insert_into(secret_stores::table)
        .values((
            secret_stores::id.eq(id),
            secret_stores::name.eq(name),
            secret_stores::store_plugin.eq(plugins.0),
            secret_stores::crypto_plugin.eq(plugins.1),
            secret_stores::global_default.eq(global_default),
            secret_stores::created_at.eq(created),
            secret_stores::updated_at.eq(updated),
        ))
        .execute(conn)
        .map(drop)
}

pub fn preferred_store(conn: &mut DbConn, project_id: &str, store_id: &str, created: i64, updated: i64) -> QueryResult<()> {
    diesel::insert_into(project_secret_store::table)
        .values((
            project_secret_store::project_id.eq(project_id),
            project_secret_store::secret_store_id.eq(store_id),
            project_secret_store::created_at.eq(created),
            project_secret_store::updated_at.eq(updated),
        ))
        .execute(conn)
        .map(drop)
}

/// A transport key (`times` = created, updated, deleted).
pub fn transport_key(conn: &mut DbConn, id: &str, plugin_name: &str, key: &str, status: &str, times: (i64, i64, Option<i64>)) -> QueryResult<()> {
    diesel::insert_into(transport_keys::table)
        .values((
            transport_keys::id.eq(id),
            transport_keys::plugin_name.eq(plugin_name),
            transport_keys::transport_key.eq(key),
            transport_keys::status.eq(status),
            transport_keys::created_at.eq(times.0),
            transport_keys::updated_at.eq(times.1),
            transport_keys::deleted_at.eq(times.2),
        ))
        .execute(conn)
        .map(drop)
}
