//! Containers (§5.5): create (quota-checked), read, list, delete, and the secrets of generic
//! containers.

use crate::service::Missing;
use diesel::Connection;

use super::quotas::{self, Resource};
use super::{Core, ServiceError, ServiceResult};
use crate::model::Page;
use crate::store::consumers as consumer_repo;
use crate::store::containers::{self as repo, Container, ContainerFilter};
use crate::store::{now, secrets as secret_repo, DbConn};


/// A live container by id (from any project: policy decides who may see it).
pub fn lookup(conn: &mut DbConn, id: &str) -> ServiceResult<Container> {
    repo::get(conn, id)?.ok_or(ServiceError::NotFound(Missing::Container))
}

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

/// The representation's data of a live container.
pub fn view(core: &Core, id: &str) -> ServiceResult<ContainerView> {
    let mut conn = core.conn()?;
    view_in(&mut conn, id)
}

pub fn view_in(conn: &mut DbConn, id: &str) -> ServiceResult<ContainerView> {
    let c = lookup(conn, id)?;
    Ok(views(conn, vec![c])?.pop().expect("one view per container"))
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

/// Creates a container of the caller's project: quota, then each secret must be the
/// project's, live and unexpired. Returns the new id.
pub fn create(core: &Core, project: &str, creator: Option<&str>, req: &NewContainerReq) -> ServiceResult<String> {
    let mut conn = core.conn()?;
    core.ensure_project(&mut conn, project)?;
    let id = uuid::Uuid::new_v4().to_string();
    project_locked_tx(&mut conn, project, |c| {
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
                creator_id: creator,
                name: req.name.as_deref(),
                container_type: &req.container_type,
                secrets: &req.refs,
            },
        )?;
        Ok(())
    })?;
    Ok(id)
}

/// A page of the project's containers, oldest first.
pub fn list(core: &Core, project: &str, f: &ContainerFilter, page: Page) -> ServiceResult<(Vec<ContainerView>, i64)> {
    let mut conn = core.conn()?;
    let (rows, total) = repo::list(&mut conn, project, f, page)?;
    Ok((views(&mut conn, rows)?, total))
}

/// Deletes a container of the caller's project; another project's is "not found".
pub fn delete(core: &Core, id: &str, project: &str) -> ServiceResult<()> {
    if repo::delete(&mut *core.conn()?, id, project)? {
        Ok(())
    } else {
        Err(ServiceError::NotFound(Missing::Container))
    }
}

/// `POST …/containers/{id}/secrets`: links a secret of the caller's project under a name.
pub fn add_secret(core: &Core, container_id: &str, project: &str, secret_id: &str, name: Option<&str>) -> ServiceResult<()> {
    let mut conn = core.conn()?;
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

/// `DELETE …/containers/{id}/secrets`: unlinks (soft-deletes) the secret under that name.
pub fn remove_secret(
    core: &Core,
    container_id: &str,
    project: &str,
    secret_id: &str,
    name: Option<&str>,
    secret_ref: &str,
) -> ServiceResult<()> {
    let mut conn = core.conn()?;
    conn.transaction(|c| {
        if !repo::lock(c, container_id)? {
            return Err(ServiceError::NotFound(Missing::Container));
        }
        if !secret_in_project(c, secret_id, project)? {
            return Err(ServiceError::SecretRefGone { name: name.map(str::to_string), secret_ref: secret_ref.to_string() });
        }
        let links = repo::links_matching(c, container_id, secret_id, name)?;
        if links.is_empty() {
            return Err(ServiceError::NotFound(Missing::ContainerLink));
        }
        repo::soft_delete_links(c, &links)?;
        Ok(())
    })
}
