//! Containers (§5.5): create (quota-checked), read, list, delete, and the secrets of generic
//! containers. Each single-container operation looks the container up, gathers its policy target
//! and asks the policy ([`open`]), then runs, on one connection in one blocking hop.

use diesel::Connection;

use super::access::{no_check, Caller};
use super::quotas::{self, Resource};
use super::{Core, Missing, ServiceError, ServiceResult};
use crate::model::{Container, ContainerFilter, Page};
use crate::policy::PolicyTarget;
use crate::store::acls::ReadFacts;
use crate::store::consumers as consumer_repo;
use crate::store::containers as repo;
use crate::store::{now, secrets as secret_repo, DbConn};

// ---- one door: look-up, policy target, decision --------------------------------------------

/// A container as a single-container route sees it: its row and the caller's standing in its
/// `read` ACL (what the policy target needs).
pub struct Found {
    pub container: Container,
    acl: ReadFacts,
}

impl Found {
    /// The policy target of a single-container route (§4.1), from the stored row only.
    pub fn target(&self) -> PolicyTarget {
        let c = &self.container;
        PolicyTarget::entity("container", &c.project_id, c.creator_id.as_deref(), self.acl.caller_listed, self.acl.project_access, true)
    }
}

/// A live container by id (from any project: policy decides who may see it).
pub fn lookup(conn: &mut DbConn, id: &str) -> ServiceResult<Container> {
    repo::get(conn, id)?.ok_or(ServiceError::NotFound(Missing::Container))
}

/// Looks the container up (any project: policy decides), with the caller's ACL standing.
fn find(conn: &mut DbConn, caller: &Caller, id: &str) -> ServiceResult<Found> {
    let (container, acl) = repo::view(conn, id, caller.user())?.ok_or(ServiceError::NotFound(Missing::Container))?;
    Ok(Found { container, acl })
}

/// Look-up, then `pre` (checks Barbican runs before its policy), then the policy `rule`: the
/// start of every single-container operation (consumers' too), on the operation's connection.
pub(super) fn open<E: From<ServiceError>>(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
    pre: impl FnOnce(&Container) -> Result<(), E>,
    rule: &str,
) -> Result<Found, E> {
    let found = find(conn, caller, id)?;
    pre(&found.container)?;
    caller.require(rule, &found.target())?;
    Ok(found)
}

/// The container exists: routing 405s and unknown sub-paths look it up before they answer.
pub fn exists(core: &Core, id: &str) -> ServiceResult<()> {
    lookup(&mut *core.conn()?, id).map(drop)
}

// ---- representation --------------------------------------------------------------------------

/// A container with what its representation lists.
#[derive(Debug, Clone)]
pub struct ContainerView {
    pub container: Container,
    /// (link name, secret id) of the live links to live secrets, in link order.
    pub secret_refs: Vec<(Option<String>, String)>,
    /// (name, URL) of the live consumers, in registration order.
    pub consumers: Vec<(String, String)>,
}

fn views(conn: &mut DbConn, list: Vec<Container>) -> ServiceResult<Vec<ContainerView>> {
    let ids: Vec<&str> = list.iter().map(|c| c.id.as_str()).collect();
    let refs = repo::secret_refs_of(conn, &ids)?;
    let cons = consumer_repo::container_consumers_of(conn, &ids)?;
    Ok(list
        .into_iter()
        .map(|c| ContainerView {
            secret_refs: refs
                .iter()
                .filter(|r| r.container_id == c.id)
                .map(|r| (r.name.clone(), r.secret_id.clone()))
                .collect(),
            consumers: cons.iter().filter(|k| k.container_id == c.id).map(|k| (k.name.clone(), k.url.clone())).collect(),
            container: c,
        })
        .collect())
}

fn view_of(conn: &mut DbConn, c: Container) -> ServiceResult<ContainerView> {
    Ok(views(conn, vec![c])?.pop().expect("one view per container"))
}

/// The representation's data of a live container, looked up again (after a change).
pub(super) fn view_in(conn: &mut DbConn, id: &str) -> ServiceResult<ContainerView> {
    let c = lookup(conn, id)?;
    view_of(conn, c)
}

// ---- operations ------------------------------------------------------------------------------

/// `container:get`: the container's representation data.
pub fn get<E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    id: &str,
    pre: impl FnOnce(&Container) -> Result<(), E>,
) -> Result<ContainerView, E> {
    let mut conn = core.conn()?;
    let found = open(&mut conn, caller, id, pre, "container:get")?;
    Ok(view_of(&mut conn, found.container)?)
}

/// A page of the caller's project's containers, oldest first (`containers:get`).
pub fn list(core: &Core, caller: &Caller, f: &ContainerFilter, page: Page) -> ServiceResult<(Vec<ContainerView>, i64)> {
    caller.require("containers:get", &PolicyTarget::none())?;
    let mut conn = core.conn()?;
    let (rows, total) = repo::list(&mut conn, caller.project(), f, page)?;
    Ok((views(&mut conn, rows)?, total))
}

/// Runs `f` in a transaction whose first statement takes the project's row lock. Quota checks
/// need the lock before any read: SQLite cannot upgrade a read snapshot to a write once another
/// writer committed, and a MySQL consistent read would use a snapshot taken before the lock.
pub(crate) fn project_locked_tx<T>(
    conn: &mut DbConn,
    project: &str,
    f: impl FnOnce(&mut DbConn) -> ServiceResult<T>,
) -> ServiceResult<T> {
    conn.transaction(|c| {
        crate::store::quotas::lock_project(c, project)?;
        f(c)
    })
}

/// Whether the project owns a live, unexpired secret with this id.
pub(crate) fn secret_in_project(conn: &mut DbConn, secret_id: &str, project: &str) -> ServiceResult<bool> {
    Ok(matches!(secret_repo::get(conn, secret_id)?, Some(s) if s.project_id == project && !s.is_expired(now())))
}

/// A validated `POST /v1/containers` body.
#[derive(Debug, Clone)]
pub struct NewContainerReq {
    pub name: Option<String>,
    pub container_type: String,
    /// (link name, secret id)
    pub refs: Vec<(Option<String>, String)>,
}

/// `containers:post`, then `check` (the request's Content-Type), then the caller's project is
/// created (Barbican does it before it reads the body), then `input` (the validated body).
/// The container is the caller's project's, its creator the caller: quota, then each secret
/// must be the project's, live and unexpired. Returns the new id.
pub fn create<E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    check: impl FnOnce() -> Result<(), E>,
    input: impl FnOnce() -> Result<NewContainerReq, E>,
) -> Result<String, E> {
    caller.require("containers:post", &PolicyTarget::none())?;
    check()?;
    let mut conn = core.conn()?;
    core.ensure_project(&mut conn, caller.project())?;
    let req = input()?;
    Ok(insert(core, &mut conn, caller, &req)?)
}

fn insert(core: &Core, conn: &mut DbConn, caller: &Caller, req: &NewContainerReq) -> ServiceResult<String> {
    let id = uuid::Uuid::new_v4().to_string();
    let project = caller.project();
    project_locked_tx(conn, project, |c| {
        quotas::enforce(c, &core.quotas, project, Resource::Containers, |c| repo::count_live(c, project))?;
        for (name, secret_id) in &req.refs {
            if !secret_in_project(c, secret_id, project)? {
                return Err(ServiceError::SecretRefMissing(name.clone()));
            }
        }
        repo::insert(
            c,
            &repo::NewContainer {
                id: &id,
                project_id: project,
                creator_id: caller.user(),
                name: req.name.as_deref(),
                container_type: &req.container_type,
                secrets: &req.refs,
            },
        )?;
        Ok(())
    })?;
    Ok(id)
}

/// `container:delete`. Only a container of the caller's project is deleted; another project's
/// (which a policy may let through) is "not found".
pub fn remove(core: &Core, caller: &Caller, id: &str) -> ServiceResult<()> {
    let mut conn = core.conn()?;
    let found = open(&mut conn, caller, id, no_check::<_, ServiceError>, "container:delete")?;
    if repo::delete(&mut conn, &found.container.id, caller.project())? {
        Ok(())
    } else {
        Err(ServiceError::NotFound(Missing::Container))
    }
}

// ---- the secrets of a generic container ------------------------------------------------------

/// A validated `…/containers/{id}/secrets` body.
#[derive(Debug, Clone)]
pub struct LinkReq {
    /// The link's name (null when absent).
    pub name: Option<String>,
    /// The `secret_ref` as given.
    pub secret_ref: String,
    /// The secret id it names.
    pub secret_id: String,
}

/// Secrets are added only to generic containers.
pub fn modifiable(c: &Container) -> ServiceResult<()> {
    if c.container_type == "generic" {
        Ok(())
    } else {
        Err(ServiceError::ContainerNotGeneric)
    }
}

/// `container_secret:post`, then `input` (Content-Type, [`modifiable`], body, in Barbican's
/// order): links a secret of the caller's project under a name.
pub fn add_secret<E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    id: &str,
    pre: impl FnOnce(&Container) -> Result<(), E>,
    input: impl FnOnce(&Container) -> Result<LinkReq, E>,
) -> Result<(), E> {
    let mut conn = core.conn()?;
    let found = open(&mut conn, caller, id, pre, "container_secret:post")?;
    let link = input(&found.container)?;
    modifiable(&found.container)?;
    Ok(link_on(&mut conn, &found.container.id, caller.project(), &link)?)
}

fn link_on(conn: &mut DbConn, container_id: &str, project: &str, link: &LinkReq) -> ServiceResult<()> {
    let (secret_id, name) = (link.secret_id.as_str(), link.name.as_deref());
    conn.transaction(|c| {
        if !repo::lock(c, container_id)? {
            return Err(ServiceError::NotFound(Missing::Container));
        }
        if !secret_in_project(c, secret_id, project)? {
            return Err(ServiceError::NotFound(Missing::LinkedSecret));
        }
        if !repo::links_matching(c, container_id, secret_id, name)?.is_empty() {
            return Err(ServiceError::DuplicateLink);
        }
        repo::add_link(c, container_id, secret_id, name)?;
        Ok(())
    })
}

/// `container_secret:delete`, then `input` (the body): unlinks (soft-deletes) the secret under
/// that name.
pub fn remove_secret<E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    id: &str,
    input: impl FnOnce() -> Result<LinkReq, E>,
) -> Result<(), E> {
    let mut conn = core.conn()?;
    let found = open(&mut conn, caller, id, no_check::<_, E>, "container_secret:delete")?;
    let link = input()?;
    Ok(unlink_on(&mut conn, &found.container.id, caller.project(), &link)?)
}

fn unlink_on(conn: &mut DbConn, container_id: &str, project: &str, link: &LinkReq) -> ServiceResult<()> {
    let (secret_id, name) = (link.secret_id.as_str(), link.name.as_deref());
    conn.transaction(|c| {
        if !repo::lock(c, container_id)? {
            return Err(ServiceError::NotFound(Missing::Container));
        }
        if !secret_in_project(c, secret_id, project)? {
            return Err(ServiceError::SecretRefGone { name: link.name.clone(), secret_ref: link.secret_ref.clone() });
        }
        let links = repo::links_matching(c, container_id, secret_id, name)?;
        if links.is_empty() {
            return Err(ServiceError::NotFound(Missing::ContainerLink));
        }
        repo::soft_delete_links(c, &links)?;
        Ok(())
    })
}
