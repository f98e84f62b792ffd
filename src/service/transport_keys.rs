//! Transport keys (§5.11): a global list of backend public keys, kept for API compatibility
//! (no secret store of Portcullis uses them).

use crate::service::Missing;
use super::{Core, ServiceError, ServiceResult};
use crate::model::Page;
use crate::store::transport_keys::{self as repo, TransportKeyRow};


pub fn create(core: &Core, plugin_name: &str, transport_key: &str) -> ServiceResult<TransportKeyRow> {
    let id = uuid::Uuid::new_v4().to_string();
    Ok(repo::insert(&mut *core.conn()?, &id, plugin_name, transport_key)?)
}

pub fn get(core: &Core, id: &str) -> ServiceResult<TransportKeyRow> {
    repo::get(&mut *core.conn()?, id)?.ok_or(ServiceError::NotFound(Missing::TransportKey))
}

pub fn list(core: &Core, plugin_name: Option<&str>, page: Page) -> ServiceResult<(Vec<String>, i64)> {
    Ok(repo::list(&mut *core.conn()?, plugin_name, page)?)
}

pub fn delete(core: &Core, id: &str) -> ServiceResult<()> {
    if repo::delete(&mut *core.conn()?, id)? {
        Ok(())
    } else {
        Err(ServiceError::NotFound(Missing::TransportKey))
    }
}
