//! Consumers of secrets (§5.4) and containers (§5.6): register (quota-checked, idempotent,
//! reviving deleted ones), remove, list.

use crate::service::Missing;
use super::containers::{self as container_svc, project_locked_tx, ContainerView};
use super::quotas::{self, Resource};
use super::secrets as secret_svc;
use super::{Core, ServiceError, ServiceResult};
use crate::model::{Page, Secret, SecretConsumer};
use crate::store::consumers::{self as repo, ContainerConsumerRecord, SecretConsumerKey, SecretConsumerRecord};


fn not_owner() -> ServiceError {
    ServiceError::ConsumerNotOwned
}

/// A secret and its live consumers, as the consumer routes answer.
pub type SecretWithConsumers = (Secret, Vec<SecretConsumer>);

fn secret_with_consumers(conn: &mut crate::store::DbConn, secret_id: &str) -> ServiceResult<SecretWithConsumers> {
    let s = secret_svc::lookup(conn, secret_id)?;
    let c = secret_svc::consumers(conn, secret_id)?;
    Ok((s, c))
}

// ---- secret consumers ------------------------------------------------------------------------

/// Registers (or revives) a consumer of a secret for the caller's project, after the
/// `consumers` quota (the project's live secret consumers).
pub fn register_secret(core: &Core, secret_id: &str, project: &str, k: &SecretConsumerKey) -> ServiceResult<SecretWithConsumers> {
    let mut conn = core.conn()?;
    core.ensure_project(&mut conn, project)?;
    project_locked_tx(&mut conn, project, |c| {
        quotas::enforce(c, &core.quotas, project, Resource::Consumers, |c| repo::secret_count_for_project(c, project))?;
        if !repo::secret_register(c, secret_id, project, k)? {
            return Err(ServiceError::NotFound(Missing::Secret));
        }
        Ok(())
    })?;
    secret_with_consumers(&mut conn, secret_id)
}

/// Removes (soft-deletes) a consumer of a secret: only the consumer's project or the secret's
/// may.
pub fn remove_secret(core: &Core, secret: &Secret, project: &str, k: &SecretConsumerKey) -> ServiceResult<SecretWithConsumers> {
    let mut conn = core.conn()?;
    if !repo::project_exists(&mut conn, project)? {
        return Err(ServiceError::NotFound(Missing::Consumer));
    }
    let consumer = repo::secret_find(&mut conn, &secret.id, k)?.ok_or(ServiceError::NotFound(Missing::Consumer))?;
    if consumer.project_id.as_deref() != Some(project) && secret.project_id != project {
        return Err(not_owner());
    }
    repo::secret_soft_delete(&mut conn, &consumer.id)?;
    secret_with_consumers(&mut conn, &secret.id)
}

pub fn list_secret(core: &Core, secret_id: &str, page: Page) -> ServiceResult<(Vec<SecretConsumerRecord>, i64)> {
    Ok(repo::secret_list(&mut *core.conn()?, secret_id, page)?)
}

pub fn get_secret(core: &Core, secret_id: &str, id: &str) -> ServiceResult<SecretConsumerRecord> {
    repo::secret_get(&mut *core.conn()?, secret_id, id)?.ok_or(ServiceError::NotFound(Missing::Consumer))
}

// ---- container consumers ---------------------------------------------------------------------

/// Registers (or revives) a consumer of a container for the caller's project, after the
/// `consumers` quota (the project's live container consumers).
pub fn register_container(core: &Core, container_id: &str, project: &str, name: &str, url: &str) -> ServiceResult<ContainerView> {
    let mut conn = core.conn()?;
    core.ensure_project(&mut conn, project)?;
    project_locked_tx(&mut conn, project, |c| {
        quotas::enforce(c, &core.quotas, project, Resource::Consumers, |c| repo::container_count_for_project(c, project))?;
        repo::container_register(c, container_id, project, name, url)?;
        Ok(())
    })?;
    container_svc::view_in(&mut conn, container_id)
}

/// Removes (soft-deletes) a consumer of a container: only the consumer's project or the
/// container's may.
pub fn remove_container(
    core: &Core,
    container: &crate::store::containers::Container,
    project: &str,
    name: &str,
    url: &str,
) -> ServiceResult<ContainerView> {
    let mut conn = core.conn()?;
    if !repo::project_exists(&mut conn, project)? {
        return Err(ServiceError::NotFound(Missing::Consumer));
    }
    let consumer = repo::container_find(&mut conn, &container.id, name, url)?.ok_or(ServiceError::NotFound(Missing::Consumer))?;
    if consumer.project_id.as_deref() != Some(project) && container.project_id != project {
        return Err(not_owner());
    }
    repo::container_soft_delete(&mut conn, &consumer.id)?;
    container_svc::view_in(&mut conn, &container.id)
}

pub fn list_container(core: &Core, container_id: &str, page: Page) -> ServiceResult<(Vec<ContainerConsumerRecord>, i64)> {
    Ok(repo::container_list(&mut *core.conn()?, container_id, page)?)
}

pub fn get_container(core: &Core, container_id: &str, id: &str) -> ServiceResult<ContainerConsumerRecord> {
    repo::container_get(&mut *core.conn()?, container_id, id)?.ok_or(ServiceError::NotFound(Missing::Consumer))
}
