//! Transport keys (§5.11): a global list of backend public keys, kept for API compatibility
//! (no secret store of Portcullis uses them). Each operation asks the policy (on no target:
//! the keys belong to no project) before it touches the database.

use super::access::Caller;
use super::{Core, Missing, ServiceError, ServiceResult};
use crate::model::{Page, TransportKey};
use crate::policy::PolicyTarget;
use crate::store::transport_keys as repo;

/// `transport_keys:post`, then `input` (the API's Content-Type and body checks), then the key.
pub fn create<E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    input: impl FnOnce() -> Result<(String, String), E>,
) -> Result<TransportKey, E> {
    caller.require("transport_keys:post", &PolicyTarget::none())?;
    let (plugin_name, transport_key) = input()?;
    let id = uuid::Uuid::new_v4().to_string();
    let row = repo::insert(&mut *core.conn()?, &id, &plugin_name, &transport_key).map_err(ServiceError::from)?;
    Ok(row.into())
}

/// `transport_key:get`, then the live key (404 for an unknown id, where Barbican answers 500).
pub fn get(core: &Core, caller: &Caller, id: &str) -> ServiceResult<TransportKey> {
    caller.require("transport_key:get", &PolicyTarget::none())?;
    let row = repo::get(&mut *core.conn()?, id)?.ok_or(ServiceError::NotFound(Missing::TransportKey))?;
    Ok(row.into())
}

/// `transport_keys:get`, then a page of the live keys' ids (optionally of one plugin) and the
/// total.
pub fn list(core: &Core, caller: &Caller, plugin_name: Option<&str>, page: Page) -> ServiceResult<(Vec<String>, i64)> {
    caller.require("transport_keys:get", &PolicyTarget::none())?;
    Ok(repo::list(&mut *core.conn()?, plugin_name, page)?)
}

/// `transport_key:delete`, then the soft delete.
pub fn delete(core: &Core, caller: &Caller, id: &str) -> ServiceResult<()> {
    caller.require("transport_key:delete", &PolicyTarget::none())?;
    if repo::delete(&mut *core.conn()?, id)? {
        Ok(())
    } else {
        Err(ServiceError::NotFound(Missing::TransportKey))
    }
}
