//! Secret stores (§5.10): the configured stores, the global default and each project's
//! preferred store. Every store is served by the same envelope-encryption engine.

use crate::service::Missing;
use super::{Core, ServiceError, ServiceResult};
use crate::config::SecretStoreSection;
use crate::store::stores::{self as repo, StoreRow, StoreSpec, SyncError, SyncReport};


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

/// Every store; the project is created on the way, as Barbican does.
pub fn list(core: &Core, project: &str) -> ServiceResult<Vec<StoreRow>> {
    let mut conn = core.conn()?;
    core.ensure_project(&mut conn, project)?;
    Ok(repo::list(&mut conn)?)
}

pub fn get(core: &Core, id: &str) -> ServiceResult<StoreRow> {
    repo::get(&mut *core.conn()?, id)?.ok_or(ServiceError::NotFound(Missing::SecretStore))
}

/// The global default store; the project is created on the way, as Barbican does.
pub fn global_default(core: &Core, project: &str) -> ServiceResult<StoreRow> {
    let mut conn = core.conn()?;
    core.ensure_project(&mut conn, project)?;
    repo::global_default(&mut conn)?
        .ok_or_else(|| ServiceError::Internal("no global default secret store in the database".into()))
}

pub fn preferred(core: &Core, project: &str) -> ServiceResult<StoreRow> {
    let mut conn = core.conn()?;
    core.ensure_project(&mut conn, project)?;
    repo::preferred(&mut conn, project)?.ok_or(ServiceError::NotFound(Missing::PreferredStore))
}

pub fn set_preferred(core: &Core, project: &str, store_id: &str) -> ServiceResult<()> {
    let mut conn = core.conn()?;
    core.ensure_project(&mut conn, project)?;
    Ok(repo::set_preferred(&mut conn, project, store_id)?)
}

/// Removes the project's preference, whichever store it names.
pub fn unset_preferred(core: &Core, project: &str) -> ServiceResult<()> {
    let mut conn = core.conn()?;
    core.ensure_project(&mut conn, project)?;
    if repo::unset_preferred(&mut conn, project)? {
        Ok(())
    } else {
        Err(ServiceError::NotFound(Missing::PreferredStore))
    }
}

