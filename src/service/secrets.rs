//! Secrets: create, read, payload, delete, list, user metadata.

use diesel::Connection;
use zeroize::Zeroizing;

use super::quotas::{self, Resource};
use super::access::{no_check, Caller};
use super::{Core, Missing, ServiceError, ServiceResult};
use crate::policy::PolicyTarget;
use crate::crypto;
use crate::model::{NewSecret, Page, Secret, SecretConsumer, SecretFilter};
use crate::store::secrets as repo;
use crate::store::{now, DbConn};


// ---- one door: look-up, policy target, decision and operation on one connection ----------

/// A secret as a single-secret route sees it: its row, its consumers when asked, and the
/// caller's standing in its `read` ACL (what the policy target needs).
pub struct Found {
    pub secret: Secret,
    pub consumers: Vec<SecretConsumer>,
    acl: crate::store::acls::ReadFacts,
    /// The sealed payload, read with the row (a payload GET needs no second query).
    payload: repo::PayloadRow,
}

impl Found {
    /// The policy target of a single-secret route (§4.1), from the stored row only.
    pub fn target(&self) -> PolicyTarget {
        let s = &self.secret;
        PolicyTarget::secret(&s.project_id, s.creator_id.as_deref(), self.acl.caller_listed, self.acl.project_access, true)
    }
}

/// Looks the secret up (any project: policy decides), with the caller's ACL standing.
fn find(conn: &mut DbConn, caller: &Caller, id: &str, with_consumers: bool) -> ServiceResult<Found> {
    let view = repo::view(conn, id, caller.user())?
        .filter(|v| !v.secret.is_expired(now()))
        .ok_or(ServiceError::NotFound(Missing::Secret))?;
    let consumers = if with_consumers { consumers(conn, id)? } else { Vec::new() };
    Ok(Found { secret: view.secret, consumers, acl: view.acl, payload: view.payload })
}

/// Look-up, then `pre` (checks Barbican runs before its policy), then the policy `rule`: the
/// start of every single-secret operation (consumers' too), on the operation's own connection.
pub(super) fn open<E: From<ServiceError>>(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
    with_consumers: bool,
    pre: impl FnOnce(&Secret) -> Result<(), E>,
    rule: &str,
) -> Result<Found, E> {
    let found = find(conn, caller, id, with_consumers)?;
    pre(&found.secret)?;
    caller.require(rule, &found.target())?;
    Ok(found)
}

/// The secret exists: routing 405s and unknown sub-paths look it up before they answer.
pub fn exists(core: &Core, id: &str) -> ServiceResult<()> {
    lookup(&mut *core.conn()?, id).map(drop)
}

/// A secret the caller may see: `pre` runs after the look-up, then policy `rule` decides.
pub fn get<E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    id: &str,
    with_consumers: bool,
    pre: impl FnOnce(&Secret) -> Result<(), E>,
    rule: &str,
) -> Result<Found, E> {
    open(&mut *core.conn()?, caller, id, with_consumers, pre, rule)
}

/// `secret:decrypt`, then `check` (the API's representation checks), then the plaintext.
pub fn decrypt<E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    id: &str,
    check: impl FnOnce(&Secret) -> Result<(), E>,
) -> Result<(Secret, Zeroizing<Vec<u8>>), E> {
    let mut conn = core.conn()?;
    let found = open(&mut conn, caller, id, false, no_check, "secret:decrypt")?;
    check(&found.secret)?;
    let plain = payload_on(core, &mut conn, &found.secret, found.payload)?;
    Ok((found.secret, plain))
}

/// Two-step upload (`secret:put`): `input` turns the request into (content type, plaintext)
/// once policy allowed it, seeing the stored secret (which must have no payload yet).
pub fn upload<E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    id: &str,
    input: impl FnOnce(&Secret) -> Result<(&'static str, Zeroizing<Vec<u8>>), E>,
) -> Result<(), E> {
    let mut conn = core.conn()?;
    let found = open(&mut conn, caller, id, false, no_check, "secret:put")?;
    let (content_type, plain) = input(&found.secret)?;
    store_payload(core, &mut conn, &found.secret, content_type, plain)?;
    Ok(())
}

/// `secret:delete`; `refuse_if_consumers` is worked out (and may fail) after the decision.
pub fn remove<E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    id: &str,
    refuse_if_consumers: impl FnOnce() -> Result<bool, E>,
) -> Result<(), E> {
    let mut conn = core.conn()?;
    let found = open(&mut conn, caller, id, false, no_check, "secret:delete")?;
    let refuse = refuse_if_consumers()?;
    delete_on(&mut conn, &found.secret, refuse)?;
    Ok(())
}

/// A user-metadata operation on a secret: look-up, `pre`, policy `rule`, then `op` on the
/// same connection with the secret's id.
pub fn with_metadata<T, E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    id: &str,
    pre: impl FnOnce(&Secret) -> Result<(), E>,
    rule: &str,
    op: impl FnOnce(&mut DbConn, &str) -> Result<T, E>,
) -> Result<T, E> {
    let mut conn = core.conn()?;
    let found = open(&mut conn, caller, id, false, pre, rule)?;
    op(&mut conn, &found.secret.id)
}

/// `POST /v1/secrets` (`secrets:post`): `input` (the request, judged by the API) is reported
/// once policy allowed it; the secret is built from it and the caller. Returns the new id.
pub fn create_for<E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    input: impl FnOnce() -> Result<NewSecret, E>,
) -> Result<String, E> {
    caller.require("secrets:post", &PolicyTarget::none())?;
    let n = input()?;
    let t = now();
    let (content_type, payload) = match n.payload {
        Some((ct, p)) => (Some(ct), Some(p)),
        None => (None, None),
    };
    let secret = Secret {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: caller.project().to_string(),
        creator_id: caller.user().map(str::to_string),
        name: n.name,
        secret_type: n.secret_type,
        expiration: n.expiration,
        algorithm: n.algorithm,
        bit_length: n.bit_length,
        mode: n.mode,
        status: "ACTIVE".into(),
        content_type,
        created_at: t,
        updated_at: t,
    };
    create(core, &secret, payload)?;
    Ok(secret.id)
}

/// `GET /v1/secrets` (`secrets:get`): the query (filters and the `acl_only` user, judged by the
/// API) is reported once policy allowed the list; then the caller's page.
pub fn list_for<E: From<ServiceError>>(
    core: &Core,
    caller: &Caller,
    query: Result<(SecretFilter, Option<String>), E>,
    page: Page,
    with_consumers: bool,
) -> Result<(Vec<(Secret, Vec<SecretConsumer>)>, i64), E> {
    caller.require("secrets:get", &PolicyTarget::none())?;
    let (filter, acl_user) = query?;
    Ok(list(core, caller.project(), acl_user.as_deref(), &filter, page, with_consumers)?)
}

/// A live, unexpired secret by id (from any project: policy decides who may see it).
pub fn lookup(conn: &mut DbConn, id: &str) -> ServiceResult<Secret> {
    match repo::get(conn, id)? {
        Some(s) if !s.is_expired(now()) => Ok(s),
        _ => Err(ServiceError::NotFound(Missing::Secret)),
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
    if !core.store.group_commit() {
        // PostgreSQL/MySQL: everything in one transaction on one connection (one check-out,
        // one round trip fewer than sealing on a connection of its own first).
        return conn.transaction(|c| {
            core.ensure_project(c, &secret.project_id)?;
            let sealed = payload.map(|plain| seal(core, c, secret, &plain)).transpose()?;
            insert_checked(c, &core.quotas, secret, sealed.as_ref())
        });
    }
    // SQLite file: seal here, in parallel with other requests; only the quota check and the
    // insert go to the group-commit writer (it returns once the row is committed with
    // `synchronous = FULL`).
    core.ensure_project(&mut conn, &secret.project_id)?;
    let sealed = payload.map(|plain| seal(core, &mut conn, secret, &plain)).transpose()?;
    drop(conn);
    let (quota, secret) = (core.quotas.clone(), secret.clone());
    core.store.write(move |c| insert_checked(c, &quota, &secret, sealed.as_ref()))
}

/// The `secrets` quota check and the insert, in the caller's transaction.
fn insert_checked(
    c: &mut DbConn,
    quota: &crate::config::QuotasSection,
    secret: &Secret,
    sealed: Option<&(String, Vec<u8>)>,
) -> ServiceResult<()> {
    quotas::enforce(c, quota, &secret.project_id, Resource::Secrets, |c| repo::count_live(c, &secret.project_id))?;
    repo::insert(
        c,
        &repo::NewSecret {
            secret,
            kek_id: sealed.map(|(k, _)| k.as_str()),
            cypher_text: sealed.map(|(_, s)| s.as_slice()),
            deleted_at: None,
        },
    )?;
    Ok(())
}

/// Seals a payload for `secret` under its project's active KEK: (KEK id, sealed bytes).
pub fn seal(core: &Core, conn: &mut DbConn, secret: &Secret, plain: &[u8]) -> ServiceResult<(String, Vec<u8>)> {
    let ct = secret.content_type.as_deref().unwrap_or(crate::model::OCTET_STREAM);
    let (kek_id, cipher) = core.keys.active_kek(conn, &secret.project_id)?;
    let sealed = cipher
        .seal(plain, &crypto::secret_aad(&secret.id, &secret.project_id, &kek_id, ct))
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    Ok((kek_id, sealed))
}

/// Inserts a secret whose payload [`seal`] sealed, in the caller's transaction and without the
/// `secrets` quota check: secrets generated by orders are not checked against it (§5.8).
pub fn insert_generated(conn: &mut DbConn, secret: &Secret, sealed: &(String, Vec<u8>)) -> ServiceResult<()> {
    repo::insert(
        conn,
        &repo::NewSecret { secret, kek_id: Some(sealed.0.as_str()), cypher_text: Some(sealed.1.as_slice()), deleted_at: None },
    )?;
    Ok(())
}

/// Two-step upload: stores the payload of a secret that has none.
fn store_payload(
    core: &Core,
    conn: &mut DbConn,
    secret: &Secret,
    content_type: &str,
    plain: Zeroizing<Vec<u8>>,
) -> ServiceResult<()> {
    if secret.content_type.is_some() {
        return Err(ServiceError::PayloadAlreadySet);
    }
    core.ensure_project(conn, &secret.project_id)?;
    let (kek_id, cipher) = core.keys.active_kek(conn, &secret.project_id)?;
    let sealed = cipher
        .seal(&plain, &crypto::secret_aad(&secret.id, &secret.project_id, &kek_id, content_type))
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    if !repo::set_payload(conn, &secret.id, &secret.project_id, content_type, &kek_id, &sealed)? {
        return Err(ServiceError::PayloadAlreadySet);
    }
    Ok(())
}


/// Decrypts a live secret's payload without a caller (the importer's `--verify`).
pub fn read_payload(core: &Core, conn: &mut DbConn, id: &str) -> ServiceResult<Zeroizing<Vec<u8>>> {
    let view = repo::view(conn, id, None)?.ok_or(ServiceError::NotFound(Missing::Secret))?;
    payload_on(core, conn, &view.secret, view.payload)
}

/// Decrypts a secret's payload. A ciphertext that does not belong to this row fails here.
fn payload_on(
    core: &Core,
    conn: &mut DbConn,
    secret: &Secret,
    row: repo::PayloadRow,
) -> ServiceResult<Zeroizing<Vec<u8>>> {
    let ct = secret.content_type.as_deref().ok_or(ServiceError::NotFound(Missing::Payload))?;
    let (Some(kek_id), Some(sealed)) = (row.kek_id, row.cypher_text) else {
        return Err(ServiceError::NotFound(Missing::Payload));
    };
    let cipher = core.keys.kek(conn, &secret.project_id, &kek_id)?;
    cipher
        .open(&sealed, &crypto::secret_aad(&secret.id, &secret.project_id, &kek_id, ct))
        .map_err(|e| ServiceError::Internal(format!("secret {} does not decrypt: {e}", secret.id)))
}


/// Deletes a secret; with `refuse_if_consumers` (microversion 1.2 without force) a secret with
/// consumers stays.
fn delete_on(conn: &mut DbConn, secret: &Secret, refuse_if_consumers: bool) -> ServiceResult<()> {
    match repo::delete(conn, &secret.id, &secret.project_id, refuse_if_consumers)? {
        repo::Deleted::Yes => Ok(()),
        repo::Deleted::NotFound => Err(ServiceError::NotFound(Missing::Secret)),
        repo::Deleted::HasConsumers => {
            Err(ServiceError::HasConsumers)
        }
    }
}

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
    let scope = match acl_user {
        None => repo::Scope::Project(project),
        Some(u) => repo::Scope::SharedWith(u),
    };
    let (rows, total) = repo::list(&mut conn, scope, filter, page, &core.store.kept_counts)?;
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


pub fn metadata(conn: &mut DbConn, id: &str) -> ServiceResult<Vec<(String, String)>> {
    Ok(repo::metadata(conn, id)?)
}

pub fn metadatum(conn: &mut DbConn, id: &str, key: &str) -> ServiceResult<String> {
    repo::metadatum(conn, id, key)?.ok_or(ServiceError::NotFound(Missing::Metadatum))
}

pub fn replace_metadata(conn: &mut DbConn, id: &str, items: &[(String, String)]) -> ServiceResult<()> {
    Ok(repo::replace_metadata(conn, id, items)?)
}

pub fn add_metadatum(conn: &mut DbConn, id: &str, key: &str, value: &str) -> ServiceResult<()> {
    if repo::add_metadatum(conn, id, key, value)? {
        Ok(())
    } else {
        Err(ServiceError::MetadatumExists)
    }
}

/// PUT …/metadata/{key}: the key must exist, and the body's key must be the URL's.
pub fn update_metadatum(conn: &mut DbConn, id: &str, url_key: &str, body_key: &str, value: &str) -> ServiceResult<()> {
    if repo::metadatum(conn, id, url_key)?.is_none() {
        return Err(ServiceError::NotFound(Missing::Metadatum));
    }
    if body_key != url_key {
        return Err(ServiceError::MetadatumKeyMismatch);
    }
    if !repo::update_metadatum(conn, id, url_key, value)? {
        return Err(ServiceError::NotFound(Missing::Metadatum));
    }
    Ok(())
}

pub fn delete_metadatum(conn: &mut DbConn, id: &str, key: &str) -> ServiceResult<()> {
    Ok(repo::delete_metadatum(conn, id, key)?)
}
