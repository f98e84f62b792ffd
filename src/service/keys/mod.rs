//! Managed keys (`/v1/keys`): a Portcullis extension. Keys are made server-side, stored like
//! payloads (each version sealed under the project KEK), used by operations on the server
//! ([`ops`]), and governed per key by a policy of grants ([`access`]).

pub mod access;
pub mod kms;
pub mod material;
pub mod ops;

use crate::crypto::managed::Op;
use crate::model::managed_key::{Grant, KeyUpdate, KeyVersionInfo, ManagedKey, NewKey, Sensitivity};
use crate::model::{now, Page};
use crate::policy::PolicyTarget;
use crate::service::access::Caller;
use crate::service::quotas::{self, Resource};
use crate::service::{Core, Missing, ServiceError, ServiceResult};
use crate::store::managed_keys as repo;
use crate::store::{now_micros, to_micros, DbConn};

/// A key and its versions' public facts.
pub struct KeyView {
    pub key: ManagedKey,
    pub versions: Vec<KeyVersionInfo>,
}

fn found(conn: &mut DbConn, id: &str) -> ServiceResult<ManagedKey> {
    repo::get(conn, id)?.ok_or(ServiceError::NotFound(Missing::Key))
}

fn view(conn: &mut DbConn, key: ManagedKey) -> ServiceResult<KeyView> {
    let versions = repo::versions(conn, &key.id)?;
    Ok(KeyView { key, versions })
}

/// `POST /v1/keys` (`keys:post`): makes version 1 and stores the key; the creator holds
/// `key:admin` through the default policy.
pub fn create<E: From<ServiceError>>(core: &Core, caller: &Caller, input: impl FnOnce() -> Result<NewKey, E>) -> Result<KeyView, E> {
    caller.require("keys:post", &PolicyTarget::none())?;
    let n = input()?;
    if n.exportable && n.sensitivity != Sensitivity::Low {
        return Err(ServiceError::Invalid("Only keys of sensitivity low can be exportable.".into()).into());
    }
    material::check_makeable(core, n.key_type, n.sensitivity)?;
    let t = now();
    let key = ManagedKey {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: caller.project().to_string(),
        creator_id: caller.user().map(str::to_string),
        name: n.name,
        key_type: n.key_type,
        sensitivity: n.sensitivity,
        exportable: n.exportable,
        deletion_allowed: false,
        current_version: 1,
        min_decryption_version: 1,
        min_encryption_version: 0,
        auto_rotate_seconds: n.auto_rotate_seconds,
        rotated_at: t,
        grants: n.grants,
        created_at: t,
        updated_at: t,
    };
    let v1 = {
        let mut conn = core.conn()?;
        core.ensure_project(&mut conn, &key.project_id)?;
        material::make(core, &mut conn, &key, 1)?
    };
    let (stored, row, quota) = (key.clone(), v1.clone(), core.quotas.clone());
    core.store.write(move |c| {
        let project = &stored.project_id;
        quotas::enforce(c, &quota, project, Resource::Keys, |c| repo::count(c, project))?;
        repo::insert(c, &stored, &row).map_err(ServiceError::from)
    })?;
    let versions = vec![KeyVersionInfo { version: 1, created_at: crate::store::from_micros(v1.created_at), public_der: v1.public_der }];
    Ok(KeyView { key, versions })
}

/// `GET /v1/keys` (`keys:get`): a page of the caller's project's keys.
pub fn list(core: &Core, caller: &Caller, name: Option<&str>, page: Page) -> ServiceResult<(Vec<ManagedKey>, i64)> {
    caller.require("keys:get", &PolicyTarget::none())?;
    let mut conn = core.conn()?;
    Ok(repo::list(&mut conn, caller.project(), name, page)?)
}

/// `GET /v1/keys/{id}` (`key:get`, i.e. `describe`).
pub fn describe(core: &Core, caller: &Caller, id: &str) -> ServiceResult<KeyView> {
    let mut conn = core.conn()?;
    let key = found(&mut conn, id)?;
    access::require(caller, &key, Op::Describe)?;
    view(&mut conn, key)
}

/// Applies a settings change: sensitivity and `exportable` only tighten.
fn apply(key: &mut ManagedKey, u: KeyUpdate) -> ServiceResult<()> {
    let bad = |m: &str| Err(ServiceError::Invalid(m.to_string()));
    if let Some(s) = u.sensitivity {
        if s < key.sensitivity {
            return bad("A key's sensitivity can only be raised, never lowered.");
        }
        if s == Sensitivity::High && key.sensitivity != Sensitivity::High {
            return bad("Material made outside the root of trust cannot move into it: create a new key of sensitivity high.");
        }
        key.sensitivity = s;
    }
    if let Some(e) = u.exportable {
        if e && !key.exportable {
            return bad("A key that is not exportable can never become exportable.");
        }
        key.exportable = e;
    }
    if key.sensitivity != Sensitivity::Low {
        // Raising the sensitivity tightens export with it.
        key.exportable = false;
    }
    if let Some(v) = u.min_decryption_version {
        if v < 1 || v > key.current_version {
            return bad("min_decryption_version must be between 1 and the key's current version.");
        }
        key.min_decryption_version = v;
    }
    if let Some(v) = u.min_encryption_version {
        if v < 0 || v > key.current_version {
            return bad("min_encryption_version must be between 0 (the latest) and the key's current version.");
        }
        key.min_encryption_version = v;
    }
    if key.min_encryption_version != 0 && key.min_encryption_version < key.min_decryption_version {
        return bad("min_encryption_version must not be below min_decryption_version.");
    }
    if let Some(d) = u.deletion_allowed {
        key.deletion_allowed = d;
    }
    if let Some(r) = u.auto_rotate_seconds {
        key.auto_rotate_seconds = r;
    }
    if let Some(n) = u.name {
        key.name = n;
    }
    key.updated_at = now();
    Ok(())
}

/// `PUT /v1/keys/{id}` (`key:admin`): read, check and write in one transaction.
pub fn update(core: &Core, caller: &Caller, id: &str, u: KeyUpdate) -> ServiceResult<KeyView> {
    let (caller, id2) = (caller.clone(), id.to_string());
    let key = core.store.write(move |c| {
        let mut key = found(c, &id2)?;
        access::require(&caller, &key, Op::Admin)?;
        apply(&mut key, u)?;
        repo::update(c, &key)?;
        Ok::<_, ServiceError>(key)
    })?;
    view(&mut *core.conn()?, key)
}

/// `PUT /v1/keys/{id}/policy` (`key:admin`): replaces the grants.
pub fn set_policy(core: &Core, caller: &Caller, id: &str, grants: Vec<Grant>) -> ServiceResult<Vec<Grant>> {
    let (caller, id) = (caller.clone(), id.to_string());
    core.store.write(move |c| {
        let mut key = found(c, &id)?;
        access::require(&caller, &key, Op::Admin)?;
        key.grants = grants;
        key.updated_at = now();
        repo::update(c, &key)?;
        Ok(key.grants)
    })
}

/// `GET /v1/keys/{id}/policy` (`key:get`).
pub fn policy(core: &Core, caller: &Caller, id: &str) -> ServiceResult<Vec<Grant>> {
    let key = found(&mut *core.conn()?, id)?;
    access::require(caller, &key, Op::Describe)?;
    Ok(key.grants)
}

/// `DELETE /v1/keys/{id}` (`key:admin`): only once `deletion_allowed` is set; every version's
/// material goes with it, so whatever it encrypted is lost.
pub fn delete(core: &Core, caller: &Caller, id: &str) -> ServiceResult<()> {
    let (caller, id) = (caller.clone(), id.to_string());
    core.store.write(move |c| {
        let key = found(c, &id)?;
        access::require(&caller, &key, Op::Admin)?;
        if !key.deletion_allowed {
            return Err(ServiceError::DeletionNotAllowed);
        }
        repo::delete(c, &id)?;
        Ok(())
    })
}

/// `POST /v1/keys/{id}/rotate` (`key:rotate`): a new current version.
pub fn rotate(core: &Core, caller: &Caller, id: &str) -> ServiceResult<KeyView> {
    let mut conn = core.conn()?;
    let key = found(&mut conn, id)?;
    access::require(caller, &key, Op::Rotate)?;
    let key = add_version(core, &mut conn, key)?;
    view(&mut conn, key)
}

/// Makes and stores the next version; when another request or replica rotated first, the key
/// as it now is (one rotation happened, as asked).
fn add_version(core: &Core, conn: &mut DbConn, key: ManagedKey) -> ServiceResult<ManagedKey> {
    let row = material::make(core, conn, &key, key.current_version + 1)?;
    let t = now_micros();
    write_on(core, conn, move |c| repo::add_version(c, &row, t).map_err(ServiceError::from))?;
    found(conn, &key.id)
}

/// A write while holding a pooled connection: on SQLite through the group-commit writer (its
/// own connection), elsewhere in a transaction on the connection held, so that a request never
/// waits for a second pooled connection while holding one (a full pool would deadlock).
fn write_on<T: Send + 'static>(
    core: &Core,
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> ServiceResult<T> + Send + 'static,
) -> ServiceResult<T> {
    use diesel::Connection;
    if core.store.group_commit() {
        core.store.write(f)
    } else {
        conn.transaction(f)
    }
}

/// Whether `auto_rotate_period` has passed since the last rotation.
pub fn rotation_due(key: &ManagedKey) -> bool {
    key.auto_rotate_seconds
        .is_some_and(|s| s > 0 && to_micros(now()) >= to_micros(key.rotated_at).saturating_add(s.saturating_mul(1_000_000)))
}

/// Rotates a key whose period has passed (no caller: the key's own setting asks for it).
pub fn rotate_if_due(core: &Core, conn: &mut DbConn, key: ManagedKey) -> ServiceResult<ManagedKey> {
    if !rotation_due(&key) {
        return Ok(key);
    }
    add_version(core, conn, key)
}
