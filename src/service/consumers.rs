//! Consumers of secrets (§5.4) and containers (§5.6): register (quota-checked, idempotent,
//! reviving deleted ones), remove, list, read. Each operation opens its secret or container
//! (look-up, `pre`, policy) and runs on the same connection, in one blocking hop.
//!
//! Registering takes two hooks after the policy decision, as Barbican orders them: `check` (the
//! request's Content-Type), then the caller's project is created, then `input` (the body).

use super::access::Caller;
use super::containers::{self as container_svc, project_locked_tx, ContainerView};
use super::quotas::{self, Resource};
use super::secrets as secret_svc;
use super::{Core, Missing, ServiceError, ServiceResult};
use crate::model::{
    Container, ContainerConsumerRecord, Page, Secret, SecretConsumer, SecretConsumerKey, SecretConsumerRecord,
};
use crate::store::consumers as repo;
use crate::store::DbConn;

/// A secret and its live consumers, as the consumer routes answer.
pub type SecretWithConsumers = (Secret, Vec<SecretConsumer>);

fn secret_with_consumers(conn: &mut DbConn, secret_id: &str) -> ServiceResult<SecretWithConsumers> {
    let s = secret_svc::lookup(conn, secret_id)?;
    let c = secret_svc::consumers(conn, secret_id)?;
    Ok((s, c))
}

// ---- secret consumers ------------------------------------------------------------------------

/// `secret_consumers:get`: a page of the secret's live consumers, oldest first.
pub fn list_secret<E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    secret_id: &str,
    pre: impl FnOnce(&Secret) -> Result<(), E>,
    page: Page,
) -> Result<(Vec<SecretConsumerRecord>, i64), E> {
    let mut conn = core.conn()?;
    let found = secret_svc::open(&mut conn, caller, secret_id, false, pre, "secret_consumers:get")?;
    Ok(repo::secret_list(&mut conn, &found.secret.id, page).map_err(ServiceError::from)?)
}

/// `consumer:get` (a container rule: with a secret target only its role checks can pass): one
/// live consumer of the secret.
pub fn get_secret<E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    secret_id: &str,
    consumer_id: &str,
    pre: impl FnOnce(&Secret) -> Result<(), E>,
) -> Result<SecretConsumerRecord, E> {
    let mut conn = core.conn()?;
    let found = secret_svc::open(&mut conn, caller, secret_id, false, pre, "consumer:get")?;
    let c = repo::secret_get(&mut conn, &found.secret.id, consumer_id).map_err(ServiceError::from)?;
    Ok(c.ok_or(ServiceError::NotFound(Missing::Consumer))?)
}

/// `secret_consumers:post`: registers (or revives) the consumer `input` names for the caller's
/// project, after the `consumers` quota (the project's live secret consumers).
pub fn register_secret<E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    secret_id: &str,
    pre: impl FnOnce(&Secret) -> Result<(), E>,
    check: impl FnOnce() -> Result<(), E>,
    input: impl FnOnce() -> Result<SecretConsumerKey, E>,
) -> Result<SecretWithConsumers, E> {
    let mut conn = core.conn()?;
    let found = secret_svc::open(&mut conn, caller, secret_id, false, pre, "secret_consumers:post")?;
    check()?;
    core.ensure_project(&mut conn, caller.project())?;
    let key = input()?;
    let (id, project) = (found.secret.id.as_str(), caller.project());
    project_locked_tx(&mut conn, project, |c| {
        quotas::enforce(c, &core.quotas, project, Resource::Consumers, |c| repo::secret_count_for_project(c, project))?;
        if !repo::secret_register(c, id, project, &key)? {
            return Err(ServiceError::NotFound(Missing::Secret));
        }
        Ok(())
    })?;
    Ok(secret_with_consumers(&mut conn, id)?)
}

/// `secret_consumers:delete`: removes (soft-deletes) the consumer `input` names; only the
/// consumer's project or the secret's may.
pub fn remove_secret<E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    secret_id: &str,
    pre: impl FnOnce(&Secret) -> Result<(), E>,
    input: impl FnOnce() -> Result<SecretConsumerKey, E>,
) -> Result<SecretWithConsumers, E> {
    let mut conn = core.conn()?;
    let found = secret_svc::open(&mut conn, caller, secret_id, false, pre, "secret_consumers:delete")?;
    let key = input()?;
    Ok(unregister_secret(&mut conn, &found.secret, caller.project(), &key)?)
}

fn unregister_secret(conn: &mut DbConn, secret: &Secret, project: &str, k: &SecretConsumerKey) -> ServiceResult<SecretWithConsumers> {
    if !repo::project_exists(conn, project)? {
        return Err(ServiceError::NotFound(Missing::Consumer));
    }
    let consumer = repo::secret_find(conn, &secret.id, k)?.ok_or(ServiceError::NotFound(Missing::Consumer))?;
    if consumer.project_id.as_deref() != Some(project) && secret.project_id != project {
        return Err(ServiceError::ConsumerNotOwned);
    }
    repo::secret_soft_delete(conn, &consumer.id)?;
    secret_with_consumers(conn, &secret.id)
}

// ---- container consumers ---------------------------------------------------------------------

/// `container_consumers:get`: a page of the container's live consumers, by name.
pub fn list_container<E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    container_id: &str,
    pre: impl FnOnce(&Container) -> Result<(), E>,
    page: Page,
) -> Result<(Vec<ContainerConsumerRecord>, i64), E> {
    let mut conn = core.conn()?;
    let found = container_svc::open(&mut conn, caller, container_id, pre, "container_consumers:get")?;
    Ok(repo::container_list(&mut conn, &found.container.id, page).map_err(ServiceError::from)?)
}

/// `consumer:get`: one live consumer of the container.
pub fn get_container<E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    container_id: &str,
    consumer_id: &str,
    pre: impl FnOnce(&Container) -> Result<(), E>,
) -> Result<ContainerConsumerRecord, E> {
    let mut conn = core.conn()?;
    let found = container_svc::open(&mut conn, caller, container_id, pre, "consumer:get")?;
    let c = repo::container_get(&mut conn, &found.container.id, consumer_id).map_err(ServiceError::from)?;
    Ok(c.ok_or(ServiceError::NotFound(Missing::Consumer))?)
}

/// `container_consumers:post`: registers (or revives) the consumer (name, URL) `input` names
/// for the caller's project, after the `consumers` quota (the project's live container
/// consumers).
pub fn register_container<E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    container_id: &str,
    pre: impl FnOnce(&Container) -> Result<(), E>,
    check: impl FnOnce() -> Result<(), E>,
    input: impl FnOnce() -> Result<(String, String), E>,
) -> Result<ContainerView, E> {
    let mut conn = core.conn()?;
    let found = container_svc::open(&mut conn, caller, container_id, pre, "container_consumers:post")?;
    check()?;
    core.ensure_project(&mut conn, caller.project())?;
    let (name, url) = input()?;
    let (id, project) = (found.container.id.as_str(), caller.project());
    project_locked_tx(&mut conn, project, |c| {
        quotas::enforce(c, &core.quotas, project, Resource::Consumers, |c| repo::container_count_for_project(c, project))?;
        repo::container_register(c, id, project, &name, &url)?;
        Ok(())
    })?;
    Ok(container_svc::view_in(&mut conn, id)?)
}

/// `container_consumers:delete`: removes (soft-deletes) the consumer (name, URL) `input` names;
/// only the consumer's project or the container's may.
pub fn remove_container<E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    container_id: &str,
    pre: impl FnOnce(&Container) -> Result<(), E>,
    input: impl FnOnce() -> Result<(String, String), E>,
) -> Result<ContainerView, E> {
    let mut conn = core.conn()?;
    let found = container_svc::open(&mut conn, caller, container_id, pre, "container_consumers:delete")?;
    let (name, url) = input()?;
    Ok(unregister_container(&mut conn, &found.container, caller.project(), &name, &url)?)
}

fn unregister_container(conn: &mut DbConn, container: &Container, project: &str, name: &str, url: &str) -> ServiceResult<ContainerView> {
    if !repo::project_exists(conn, project)? {
        return Err(ServiceError::NotFound(Missing::Consumer));
    }
    let consumer = repo::container_find(conn, &container.id, name, url)?.ok_or(ServiceError::NotFound(Missing::Consumer))?;
    if consumer.project_id.as_deref() != Some(project) && container.project_id != project {
        return Err(ServiceError::ConsumerNotOwned);
    }
    repo::container_soft_delete(conn, &consumer.id)?;
    container_svc::view_in(conn, &container.id)
}
