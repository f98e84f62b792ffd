//! Secrets: create, read, payload, delete, list, user metadata.

use zeroize::Zeroizing;

use diesel::Connection;

use super::quotas::{self, Resource};
use super::{Core, ServiceError, ServiceResult};
use crate::crypto;
use crate::model::{Page, Secret, SecretConsumer, SecretFilter};
use crate::store::secrets as repo;
use crate::store::{now, DbConn};

pub const NOT_FOUND: &str = "Secret not found.";

/// A live, unexpired secret by id (from any project: policy decides who may see it).
pub fn lookup(conn: &mut DbConn, id: &str) -> ServiceResult<Secret> {
    match repo::get(conn, id)? {
        Some(s) if !s.is_expired(now()) => Ok(s),
        _ => Err(ServiceError::NotFound(NOT_FOUND)),
    }
}

pub fn consumers(conn: &mut DbConn, id: &str) -> ServiceResult<Vec<SecretConsumer>> {
    Ok(repo::consumers_of(conn, &[id])?.into_iter().map(|(_, c)| c).collect())
}

/// Creates a secret, encrypting its payload (if any) under the project's KEK.
pub fn create(
    core: &Core,
    secret: &Secret,
    payload: Option<Zeroizing<Vec<u8>>>,
) -> ServiceResult<()> {
    let mut conn = core.conn()?;
    core.ensure_project(&mut conn, &secret.project_id)?;
    let sealed = match payload {
        None => None,
        Some(plain) => {
            let ct = secret.content_type.as_deref().unwrap_or(crate::model::OCTET_STREAM);
            let (kek_id, cipher) = core.keys.active_kek(&mut conn, &secret.project_id)?;
            let sealed = cipher
                .seal(&plain, &crypto::secret_aad(&secret.id, &secret.project_id, &kek_id, ct))
                .map_err(|e| ServiceError::Internal(e.to_string()))?;
            Some((kek_id, sealed))
        }
    };
    conn.transaction(|c| {
        quotas::enforce(c, &core.quotas, &secret.project_id, Resource::Secrets, |c| {
            repo::count_live(c, &secret.project_id)
        })?;
        repo::insert(
            c,
            &repo::NewSecret {
                secret,
                kek_id: sealed.as_ref().map(|(k, _)| k.as_str()),
                cypher_text: sealed.as_ref().map(|(_, s)| s.as_slice()),
            },
        )?;
        Ok(())
    })
}

/// Two-step upload: stores the payload of a secret that has none.
pub fn put_payload(
    core: &Core,
    secret: &Secret,
    content_type: &str,
    plain: Zeroizing<Vec<u8>>,
) -> ServiceResult<()> {
    let mut conn = core.conn()?;
    core.ensure_project(&mut conn, &secret.project_id)?;
    let (kek_id, cipher) = core.keys.active_kek(&mut conn, &secret.project_id)?;
    let sealed = cipher
        .seal(&plain, &crypto::secret_aad(&secret.id, &secret.project_id, &kek_id, content_type))
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    if !repo::set_payload(&mut conn, &secret.id, &secret.project_id, content_type, &kek_id, &sealed)? {
        return Err(ServiceError::Conflict("Secret already has data, cannot modify it."));
    }
    Ok(())
}

/// Decrypts a secret's payload. A ciphertext that does not belong to this row fails here.
pub fn payload(core: &Core, secret: &Secret) -> ServiceResult<Zeroizing<Vec<u8>>> {
    let ct = secret.content_type.as_deref().ok_or(ServiceError::NotFound(NO_PAYLOAD))?;
    let mut conn = core.conn()?;
    let row = repo::get_payload(&mut conn, &secret.id, &secret.project_id)?
        .ok_or(ServiceError::NotFound(NOT_FOUND))?;
    let (Some(kek_id), Some(sealed)) = (row.kek_id, row.cypher_text) else {
        return Err(ServiceError::NotFound(NO_PAYLOAD));
    };
    let cipher = core.keys.kek(&mut conn, &secret.project_id, &kek_id)?;
    cipher
        .open(&sealed, &crypto::secret_aad(&secret.id, &secret.project_id, &kek_id, ct))
        .map_err(|e| ServiceError::Internal(format!("secret {} does not decrypt: {e}", secret.id)))
}

pub const NO_PAYLOAD: &str = "Not Found. Sorry but your secret has no payload.";

/// Deletes a secret; with `refuse_if_consumers` (microversion 1.2 without force) a secret with
/// consumers stays.
pub fn delete(core: &Core, secret: &Secret, refuse_if_consumers: bool) -> ServiceResult<()> {
    let mut conn = core.conn()?;
    if refuse_if_consumers && repo::consumer_count(&mut conn, &secret.id)? > 0 {
        return Err(ServiceError::Issue(
            400,
            "Secret cannot be deleted as it has consumers.".into(),
        ));
    }
    if !repo::delete(&mut conn, &secret.id, &secret.project_id)? {
        return Err(ServiceError::NotFound(NOT_FOUND));
    }
    Ok(())
}

/// A page of the project's secrets, with their consumers when asked.
/// A page of the project's secrets (or, with `acl_user`, of the secrets from any project whose
/// ACLs list that user), with their consumers when asked.
pub fn list(
    core: &Core,
    project: &str,
    acl_user: Option<&str>,
    filter: &SecretFilter,
    page: Page,
    with_consumers: bool,
) -> ServiceResult<(Vec<(Secret, Vec<SecretConsumer>)>, i64)> {
    let mut conn = core.conn()?;
    let shared;
    let scope = match acl_user {
        None => repo::Scope::Project(project),
        Some(u) => {
            shared = crate::store::acls::entities_for_user(&mut conn, "secret", u)?;
            if shared.is_empty() {
                return Ok((Vec::new(), 0));
            }
            repo::Scope::Ids(&shared)
        }
    };
    let (rows, total) = repo::list(&mut conn, scope, filter, page)?;
    let mut cons = if with_consumers {
        let ids: Vec<&str> = rows.iter().map(|s| s.id.as_str()).collect();
        repo::consumers_of(&mut conn, &ids)?
    } else {
        Vec::new()
    };
    let out = rows
        .into_iter()
        .map(|s| {
            let mine: Vec<SecretConsumer> = if with_consumers {
                let (m, rest): (Vec<_>, Vec<_>) = cons.drain(..).partition(|(sid, _)| *sid == s.id);
                cons = rest;
                m.into_iter().map(|(_, c)| c).collect()
            } else {
                Vec::new()
            };
            (s, mine)
        })
        .collect();
    Ok((out, total))
}

// ---- user metadata -------------------------------------------------------------------------

pub const META_NOT_FOUND: &str = "Secret metadata not found.";

pub fn metadata(core: &Core, secret: &Secret) -> ServiceResult<Vec<(String, String)>> {
    Ok(repo::metadata(&mut *core.conn()?, &secret.id)?)
}

pub fn metadatum(core: &Core, secret: &Secret, key: &str) -> ServiceResult<String> {
    repo::metadatum(&mut *core.conn()?, &secret.id, key)?.ok_or(ServiceError::NotFound(META_NOT_FOUND))
}

pub fn replace_metadata(core: &Core, secret: &Secret, items: &[(String, String)]) -> ServiceResult<()> {
    Ok(repo::replace_metadata(&mut *core.conn()?, &secret.id, items)?)
}

pub fn add_metadatum(core: &Core, secret: &Secret, key: &str, value: &str) -> ServiceResult<()> {
    if repo::add_metadatum(&mut *core.conn()?, &secret.id, key, value)? {
        Ok(())
    } else {
        Err(ServiceError::Conflict("Conflict. Key in request is already in the secret metadata"))
    }
}

/// PUT …/metadata/{key}: the key must exist, and the body's key must be the URL's.
pub fn update_metadatum(
    core: &Core,
    secret: &Secret,
    url_key: &str,
    body_key: &str,
    value: &str,
) -> ServiceResult<()> {
    let mut conn = core.conn()?;
    if repo::metadatum(&mut conn, &secret.id, url_key)?.is_none() {
        return Err(ServiceError::NotFound(META_NOT_FOUND));
    }
    if body_key != url_key {
        return Err(ServiceError::Conflict("Key in request data does not match key in the "));
    }
    if !repo::update_metadatum(&mut conn, &secret.id, url_key, value)? {
        return Err(ServiceError::NotFound(META_NOT_FOUND));
    }
    Ok(())
}

pub fn delete_metadatum(core: &Core, secret: &Secret, key: &str) -> ServiceResult<()> {
    Ok(repo::delete_metadatum(&mut *core.conn()?, &secret.id, key)?)
}
