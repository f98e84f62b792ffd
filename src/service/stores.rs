//! Secret stores (§5.10): the configured stores, the global default and each project's
//! preferred store. Every store is served by the same envelope-encryption engine.

use super::access::Caller;
use super::{Core, Missing, ServiceError, ServiceResult};
use crate::config::SecretStoreSection;
use crate::model::SecretStore;
use crate::policy::PolicyTarget;
use crate::store::stores::{self as repo, StoreSpec, SyncError, SyncReport};
use crate::store::DbConn;


fn specs(cfg: &SecretStoreSection) -> Vec<StoreSpec> {
    cfg.stores
        .iter()
        .map(|s| StoreSpec {
            name: s.name.trim().to_string(),
            store_plugin: s.secret_store_plugin.trim().to_string(),
            crypto_plugin: s.crypto_plugin.as_deref().map(str::trim).map(str::to_string),
            global_default: s.global_default,
        })
        .collect()
}

/// Start-up: validates `[secretstore]` and, when the secret-stores API is on, brings the
/// `secret_stores` table in line with it. Another replica starting at the same moment may
/// insert the same rows first: then the sync is simply run again.
pub fn sync_from_config(core: &Core, cfg: &SecretStoreSection) -> Result<Option<SyncReport>, String> {
    if !cfg.enable_multiple_secret_stores {
        return Ok(None);
    }
    cfg.validate()?;
    let wanted = specs(cfg);
    let mut last = String::new();
    for _ in 0..3 {
        let mut conn = core.conn().map_err(|e| e.to_string())?;
        match repo::sync(&mut conn, &wanted) {
            Ok(r) => return Ok(Some(r)),
            Err(e @ SyncError::InUse(..)) => return Err(e.to_string()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!("cannot synchronise the secret stores with [secretstore]: {last}"))
}

// ---- the routes ----------------------------------------------------------------------------
//
// With the secret-stores API off every route answers "not enabled": after the policy decision on
// the collection routes, before anything on the `/{id}` routes (as Barbican does).

fn enabled(core: &Core) -> ServiceResult<()> {
    if core.stores_enabled {
        Ok(())
    } else {
        Err(ServiceError::StoresDisabled)
    }
}

/// A collection route: policy `rule` (on no target), the switch, then `op` on a connection on
/// which the caller's project exists (Barbican creates it on the way).
fn collection<T>(core: &Core, caller: &Caller, rule: &str, op: impl FnOnce(&mut DbConn) -> ServiceResult<T>) -> ServiceResult<T> {
    caller.require(rule, &PolicyTarget::none())?;
    enabled(core)?;
    let mut conn = core.conn()?;
    core.ensure_project(&mut conn, caller.project())?;
    op(&mut conn)
}

/// `secretstores:get`: every store.
pub fn list(core: &Core, caller: &Caller) -> ServiceResult<Vec<SecretStore>> {
    collection(core, caller, "secretstores:get", |c| Ok(repo::list(c)?.into_iter().map(SecretStore::from).collect()))
}

/// `secretstores:get_global_default`: the global default store.
pub fn global_default(core: &Core, caller: &Caller) -> ServiceResult<SecretStore> {
    collection(core, caller, "secretstores:get_global_default", |c| {
        let row = repo::global_default(c)?
            .ok_or_else(|| ServiceError::Internal("no global default secret store in the database".into()))?;
        Ok(row.into())
    })
}

/// `secretstores:get_preferred`: the caller's project's preferred store.
pub fn preferred(core: &Core, caller: &Caller) -> ServiceResult<SecretStore> {
    collection(core, caller, "secretstores:get_preferred", |c| {
        Ok(repo::preferred(c, caller.project())?.ok_or(ServiceError::NotFound(Missing::PreferredStore))?.into())
    })
}

/// The store by id.
fn lookup(conn: &mut DbConn, id: &str) -> ServiceResult<SecretStore> {
    Ok(repo::get(conn, id)?.ok_or(ServiceError::NotFound(Missing::SecretStore))?.into())
}

/// The routing look-up of `/{id}…`: the switch, then the store exists.
pub fn find(core: &Core, id: &str) -> ServiceResult<SecretStore> {
    enabled(core)?;
    lookup(&mut *core.conn()?, id)
}

/// A `/{id}` route: the switch, the look-up, `pre` (checks Barbican runs before its policy),
/// policy `rule` (on no target), then `op` with the store on the same connection.
fn on_store<T, E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    id: &str,
    pre: impl FnOnce(&SecretStore) -> Result<(), E>,
    rule: &str,
    op: impl FnOnce(&mut DbConn, SecretStore) -> ServiceResult<T>,
) -> Result<T, E> {
    enabled(core)?;
    let mut conn = core.conn()?;
    let store = lookup(&mut conn, id)?;
    pre(&store)?;
    caller.require(rule, &PolicyTarget::none())?;
    Ok(op(&mut conn, store)?)
}

/// `secretstore:get`: one store.
pub fn get<E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    id: &str,
    pre: impl FnOnce(&SecretStore) -> Result<(), E>,
) -> Result<SecretStore, E> {
    on_store(core, caller, id, pre, "secretstore:get", |_, s| Ok(s))
}

/// `secretstore_preferred:post`: the store becomes the caller's project's preferred one.
pub fn set_preferred<E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    id: &str,
    pre: impl FnOnce(&SecretStore) -> Result<(), E>,
) -> Result<(), E> {
    on_store(core, caller, id, pre, "secretstore_preferred:post", |c, s| {
        core.ensure_project(c, caller.project())?;
        Ok(repo::set_preferred(c, caller.project(), &s.id)?)
    })
}

/// `secretstore_preferred:delete`: the caller's project's preference goes, whichever store it
/// names.
pub fn unset_preferred<E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    id: &str,
    pre: impl FnOnce(&SecretStore) -> Result<(), E>,
) -> Result<(), E> {
    on_store(core, caller, id, pre, "secretstore_preferred:delete", |c, _| {
        core.ensure_project(c, caller.project())?;
        if repo::unset_preferred(c, caller.project())? {
            Ok(())
        } else {
            Err(ServiceError::NotFound(Missing::PreferredStore))
        }
    })
}
