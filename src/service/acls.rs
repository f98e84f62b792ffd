//! ACLs of secrets and containers (§5.7): read, replace (PUT), patch, delete. Each operation
//! looks the entity up and asks the policy `{kind}_acls:{action}` on a target with only the
//! entity's project and creator (the ACL routes see no ACL facts), then runs, on one connection
//! in one blocking hop.

use super::access::{no_check, Caller};
use super::containers as container_svc;
use super::secrets as secret_svc;
use super::{Core, ServiceError, ServiceResult};
use crate::model::{Acl, AclChange};
use crate::policy::PolicyTarget;
use crate::store::acls as repo;
use crate::store::DbConn;

/// The two kinds of entity that have ACLs: same semantics, own rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Secret,
    Container,
}

impl Entity {
    /// `entity_type` in the store and `target.<kind>.*` in policy.
    pub fn kind(self) -> &'static str {
        match self {
            Entity::Secret => "secret",
            Entity::Container => "container",
        }
    }
}

/// What the ACL routes' policy target holds of an entity.
#[derive(Debug, Clone)]
pub struct Owned {
    pub id: String,
    pub project_id: String,
    pub creator_id: Option<String>,
}

/// Look-up (a live secret or container), `pre` (checks Barbican runs before its policy), then the
/// policy `{kind}_acls:{action}`.
fn open<E: From<ServiceError>>(
    conn: &mut DbConn,
    caller: &Caller,
    e: Entity,
    id: &str,
    pre: impl FnOnce(&Owned) -> Result<(), E>,
    action: &str,
) -> Result<Owned, E> {
    let owned = match e {
        Entity::Secret => {
            let s = secret_svc::lookup(conn, id)?;
            Owned { id: s.id, project_id: s.project_id, creator_id: s.creator_id }
        }
        Entity::Container => {
            let c = container_svc::lookup(conn, id)?;
            Owned { id: c.id, project_id: c.project_id, creator_id: c.creator_id }
        }
    };
    pre(&owned)?;
    let target = PolicyTarget::entity(e.kind(), &owned.project_id, owned.creator_id.as_deref(), false, None, false);
    caller.require(&format!("{}_acls:{action}", e.kind()), &target)?;
    Ok(owned)
}

/// The entity exists: routing 405s look it up before they answer.
pub fn exists(core: &Core, e: Entity, id: &str) -> ServiceResult<()> {
    match e {
        Entity::Secret => secret_svc::exists(core, id),
        Entity::Container => container_svc::exists(core, id),
    }
}

/// `{kind}_acls:get`: the entity's ACLs, by operation.
pub fn get<E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    e: Entity,
    id: &str,
    pre: impl FnOnce(&Owned) -> Result<(), E>,
) -> Result<Vec<Acl>, E> {
    let mut conn = core.conn()?;
    let owned = open(&mut conn, caller, e, id, pre, "get")?;
    Ok(repo::list(&mut conn, e.kind(), &owned.id).map_err(ServiceError::from)?)
}

/// `{kind}_acls:put_patch`, then `input` (Content-Type and body): PUT replaces the entity's
/// ACLs with the given ones, PATCH (`patch`) changes only what they name.
pub fn set<E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    e: Entity,
    id: &str,
    pre: impl FnOnce(&Owned) -> Result<(), E>,
    input: impl FnOnce() -> Result<Vec<AclChange>, E>,
    patch: bool,
) -> Result<(), E> {
    let mut conn = core.conn()?;
    let owned = open(&mut conn, caller, e, id, pre, "put_patch")?;
    let changes = input()?;
    let r = if patch {
        repo::patch(&mut conn, e.kind(), &owned.id, &changes)
    } else {
        repo::replace(&mut conn, e.kind(), &owned.id, &changes)
    };
    Ok(r.map_err(ServiceError::from)?)
}

/// `{kind}_acls:delete`: the entity's ACLs are removed (back to the defaults).
pub fn remove(core: &Core, caller: &Caller, e: Entity, id: &str) -> ServiceResult<()> {
    let mut conn = core.conn()?;
    let owned = open(&mut conn, caller, e, id, no_check::<_, ServiceError>, "delete")?;
    Ok(repo::delete_all(&mut conn, e.kind(), &owned.id)?)
}
