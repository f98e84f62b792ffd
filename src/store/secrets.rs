//! Secrets, their user metadata and their consumers.

use diesel::prelude::*;

use super::schema::{secret_consumers, secret_counts, secret_user_metadata, secrets};
use super::{from_micros, now_micros, to_micros, DbConn, StoreResult};
use crate::model::{DateCond, Page, Secret, SecretConsumer, SecretFilter, SecretSortKey};

type Db = <DbConn as diesel::Connection>::Backend;

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>);

#[derive(Queryable, Selectable, Debug)]
#[diesel(table_name = secrets)]
pub struct SecretRow {
    pub id: String,
    pub project_id: String,
    pub creator_id: Option<String>,
    pub name: Option<String>,
    pub secret_type: String,
    pub expiration: Option<i64>,
    pub algorithm: Option<String>,
    pub bit_length: Option<i32>,
    pub mode: Option<String>,
    pub status: String,
    pub content_type: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<SecretRow> for Secret {
    fn from(r: SecretRow) -> Secret {
        Secret {
            id: r.id,
            project_id: r.project_id,
            creator_id: r.creator_id,
            name: r.name,
            secret_type: r.secret_type,
            expiration: r.expiration.map(from_micros),
            algorithm: r.algorithm,
            bit_length: r.bit_length,
            mode: r.mode,
            status: r.status,
            content_type: r.content_type,
            created_at: from_micros(r.created_at),
            updated_at: from_micros(r.updated_at),
        }
    }
}

/// The encrypted payload of a secret.
#[derive(Queryable, Debug)]
pub struct PayloadRow {
    pub kek_id: Option<String>,
    pub cypher_text: Option<Vec<u8>>,
}

/// Values of a new secret row.
pub struct NewSecret<'a> {
    pub secret: &'a Secret,
    pub kek_id: Option<&'a str>,
    pub cypher_text: Option<&'a [u8]>,
    /// A row that is already soft-deleted (imported as it was); None for every new secret.
    pub deleted_at: Option<i64>,
}

pub fn insert(conn: &mut DbConn, n: &NewSecret) -> QueryResult<()> {
    let s = n.secret;
    diesel::insert_into(secrets::table)
        .values((
            (
                secrets::id.eq(&s.id),
                secrets::project_id.eq(&s.project_id),
                secrets::creator_id.eq(&s.creator_id),
                secrets::name.eq(&s.name),
                secrets::secret_type.eq(&s.secret_type),
                secrets::expiration.eq(s.expiration.map(to_micros)),
                secrets::algorithm.eq(&s.algorithm),
                secrets::bit_length.eq(&s.bit_length),
            ),
            (
                secrets::mode.eq(&s.mode),
                secrets::status.eq(&s.status),
                secrets::content_type.eq(&s.content_type),
                secrets::kek_id.eq(n.kek_id),
                secrets::cypher_text.eq(n.cypher_text),
                secrets::created_at.eq(to_micros(s.created_at)),
                secrets::updated_at.eq(to_micros(s.updated_at)),
                secrets::deleted_at.eq(n.deleted_at),
            ),
        ))
        .execute(conn)?;
    Ok(())
}

/// A live secret with what a single-secret route needs, in one query: the row, the caller's
/// standing in its `read` ACL, and its sealed payload.
pub struct SecretView {
    pub secret: Secret,
    pub acl: super::acls::ReadFacts,
    pub payload: PayloadRow,
}

/// One look-up for a single-secret route: the row left-joined to its `read` ACL and the
/// caller's entry in that ACL's users (both unique, so at most one row), plus the payload
/// columns. Replaces the row, ACL, ACL-user and payload queries a payload GET made before.
pub fn view(conn: &mut DbConn, id: &str, caller: Option<&str>) -> StoreResult<Option<SecretView>> {
    use super::schema::{acl_users, acls};
    let user = caller.unwrap_or("");
    type Row = (SecretRow, Option<bool>, Option<String>, Option<String>, Option<Vec<u8>>);
    let rows: Vec<Row> = super::native!(conn, |c| secrets::table
        .left_join(
            acls::table.on(acls::entity_id
                .eq(secrets::id)
                .and(acls::entity_type.eq("secret"))
                .and(acls::operation.eq("read"))),
        )
        .left_join(acl_users::table.on(acl_users::acl_id.eq(acls::id).and(acl_users::user_id.eq(user))))
        .filter(secrets::id.eq(id))
        .filter(secrets::deleted_at.is_null())
        .select((
            SecretRow::as_select(),
            acls::project_access.nullable(),
            acl_users::id.nullable(),
            secrets::kek_id,
            secrets::cypher_text,
        ))
        .load(c))?;
    let row = rows.into_iter().next();
    Ok(row.map(|(row, project_access, listed, kek_id, cypher_text)| SecretView {
        secret: Secret::from(row),
        acl: super::acls::ReadFacts { project_access, caller_listed: caller.is_some() && listed.is_some() },
        payload: PayloadRow { kek_id, cypher_text },
    }))
}

/// A live (not deleted) secret by id, from any project; expiry is the caller's business.
pub fn get(conn: &mut DbConn, id: &str) -> StoreResult<Option<Secret>> {
    Ok(secrets::table
        .filter(secrets::id.eq(id))
        .filter(secrets::deleted_at.is_null())
        .select(SecretRow::as_select())
        .load(conn)?
        .into_iter()
        .next()
        .map(Secret::from))
}

/// Stores the payload of a secret that has none yet. False when it already had one (or is gone).
pub fn set_payload(
    conn: &mut DbConn,
    id: &str,
    project: &str,
    content_type: &str,
    kek_id: &str,
    cypher_text: &[u8],
) -> StoreResult<bool> {
    let n = diesel::update(
        secrets::table
            .filter(secrets::id.eq(id))
            .filter(secrets::project_id.eq(project))
            .filter(secrets::deleted_at.is_null())
            .filter(secrets::content_type.is_null()),
    )
    .set((
        secrets::content_type.eq(content_type),
        secrets::kek_id.eq(kek_id),
        secrets::cypher_text.eq(cypher_text),
        secrets::updated_at.eq(now_micros()),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// What [`delete`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Yes,
    /// No live secret with this id in the project.
    NotFound,
    /// Refused: the secret has live consumers.
    HasConsumers,
}

/// Soft-deletes a secret: its ciphertext is erased at once, its user metadata removed and its
/// consumers soft-deleted, in one transaction. With `refuse_if_consumers` a secret with live
/// consumers stays; the check runs in the transaction, after the secret's row lock (its first
/// statement), so a consumer registered concurrently (which takes the same lock first, see
/// [`super::consumers::secret_register`]) is either seen here or finds the secret gone.
pub fn delete(conn: &mut DbConn, id: &str, project: &str, refuse_if_consumers: bool) -> StoreResult<Deleted> {
    conn.transaction(|c| {
        let live = || {
            secrets::table
                .filter(secrets::id.eq(id))
                .filter(secrets::project_id.eq(project))
                .filter(secrets::deleted_at.is_null())
        };
        // The row lock (PostgreSQL/MySQL), or SQLite's write lock, before any read.
        if diesel::update(live()).set(secrets::updated_at.eq(secrets::updated_at)).execute(c)? == 0 {
            return Ok(Deleted::NotFound);
        }
        if refuse_if_consumers && consumer_count(c, id)? > 0 {
            return Ok(Deleted::HasConsumers);
        }
        let t = now_micros();
        let n = diesel::update(
            secrets::table
                .filter(secrets::id.eq(id))
                .filter(secrets::project_id.eq(project))
                .filter(secrets::deleted_at.is_null()),
        )
        .set((
            secrets::deleted_at.eq(Some(t)),
            secrets::updated_at.eq(t),
            secrets::cypher_text.eq(None::<Vec<u8>>),
            secrets::status.eq("DELETED"),
        ))
        .execute(c)?;
        if n == 0 {
            return Ok(Deleted::NotFound);
        }
        diesel::delete(secret_user_metadata::table.filter(secret_user_metadata::secret_id.eq(id)))
            .execute(c)?;
        // ACLs go with the secret (hard delete, as Barbican does).
        super::acls::delete_all_in(c, "secret", id)?;
        diesel::update(
            secret_consumers::table
                .filter(secret_consumers::secret_id.eq(id))
                .filter(secret_consumers::deleted_at.is_null()),
        )
        .set(secret_consumers::deleted_at.eq(Some(t)))
        .execute(c)?;
        // The secret leaves the `secret_refs` of its containers (links soft-deleted, §6.2).
        super::containers::soft_delete_links_to_secret(c, id, t)?;
        Ok(Deleted::Yes)
    })
}

fn date_filter<'a>(
    q: secrets::BoxedQuery<'a, Db>,
    col: DateCol,
    conds: &[DateCond],
) -> secrets::BoxedQuery<'a, Db> {
    let mut q = q;
    for c in conds {
        let c = &match *c {
            DateCond::Gt(t) => DateCondM::Gt(to_micros(t)),
            DateCond::Gte(t) => DateCondM::Gte(to_micros(t)),
            DateCond::Lt(t) => DateCondM::Lt(to_micros(t)),
            DateCond::Lte(t) => DateCondM::Lte(to_micros(t)),
            DateCond::Eq(t) => DateCondM::Eq(to_micros(t)),
        };
        q = match col {
            DateCol::Created => match *c {
                DateCondM::Gt(t) => q.filter(secrets::created_at.gt(t)),
                DateCondM::Gte(t) => q.filter(secrets::created_at.ge(t)),
                DateCondM::Lt(t) => q.filter(secrets::created_at.lt(t)),
                DateCondM::Lte(t) => q.filter(secrets::created_at.le(t)),
                DateCondM::Eq(t) => q.filter(secrets::created_at.eq(t)),
            },
            DateCol::Updated => match *c {
                DateCondM::Gt(t) => q.filter(secrets::updated_at.gt(t)),
                DateCondM::Gte(t) => q.filter(secrets::updated_at.ge(t)),
                DateCondM::Lt(t) => q.filter(secrets::updated_at.lt(t)),
                DateCondM::Lte(t) => q.filter(secrets::updated_at.le(t)),
                DateCondM::Eq(t) => q.filter(secrets::updated_at.eq(t)),
            },
            DateCol::Expiration => match *c {
                DateCondM::Gt(t) => q.filter(secrets::expiration.gt(t)),
                DateCondM::Gte(t) => q.filter(secrets::expiration.ge(t)),
                DateCondM::Lt(t) => q.filter(secrets::expiration.lt(t)),
                DateCondM::Lte(t) => q.filter(secrets::expiration.le(t)),
                DateCondM::Eq(t) => q.filter(secrets::expiration.eq(t)),
            },
        };
    }
    q
}

enum DateCondM {
    Gt(i64),
    Gte(i64),
    Lt(i64),
    Lte(i64),
    Eq(i64),
}

#[derive(Clone, Copy)]
enum DateCol {
    Created,
    Updated,
    Expiration,
}

/// Case-insensitive SQL LIKE (the same on every backend; `%` and `_` are wildcards, as in
/// Barbican).
fn like_ci(pattern: &str) -> String {
    pattern.to_lowercase()
}

/// Which secrets a list looks at.
pub enum Scope<'a> {
    /// A project's own secrets.
    Project(&'a str),
    /// Secrets from any project whose ACLs list this user (`acl_only=true`), found through
    /// `ix_acl_users_user` in a subquery (SQLite, MySQL).
    SharedWith(&'a str),
    /// The same secrets by their ids, loaded first (PostgreSQL: `id = ANY($1)` probes the
    /// primary key, where the `IN (subquery)` form made it hash the whole table).
    Ids(&'a [String]),
}

/// The ids of the secrets whose ACLs list `user`.
fn shared_ids(conn: &mut DbConn, user: &str) -> QueryResult<Vec<String>> {
    use super::schema::{acl_users, acls};
    acl_users::table
        .inner_join(acls::table.on(acls::id.eq(acl_users::acl_id)))
        .filter(acl_users::user_id.eq(user))
        .filter(acls::entity_type.eq("secret"))
        .select(acls::entity_id)
        .load(conn)
}

fn filtered<'a>(
    scope: &Scope<'a>,
    f: &'a SecretFilter,
    now: i64,
) -> secrets::BoxedQuery<'a, Db> {
    let mut q = secrets::table.into_boxed::<Db>();
    q = match scope {
        Scope::Project(p) => q.filter(secrets::project_id.eq(*p)),
        Scope::SharedWith(user) => {
            use super::schema::{acl_users, acls};
            let shared = acls::table
                .inner_join(acl_users::table.on(acl_users::acl_id.eq(acls::id)))
                .filter(acl_users::user_id.eq(*user))
                .filter(acls::entity_type.eq("secret"))
                .select(acls::entity_id);
            q.filter(secrets::id.eq_any(shared))
        }
        Scope::Ids(ids) => q.filter(secrets::id.eq_any(*ids)),
    };
    let mut q = q
        .filter(secrets::deleted_at.is_null())
        .filter(secrets::expiration.is_null().or(secrets::expiration.gt(now)));
    if let Some(n) = &f.name {
        q = q.filter(lower(secrets::name).like(like_ci(n)));
    }
    if let Some(a) = &f.alg {
        q = q.filter(lower(secrets::algorithm).like(like_ci(a)));
    }
    if let Some(m) = &f.mode {
        q = q.filter(lower(secrets::mode).like(like_ci(m)));
    }
    if let Some(b) = f.bits {
        q = q.filter(secrets::bit_length.eq(b));
    }
    if let Some(t) = &f.secret_type {
        q = q.filter(secrets::secret_type.eq(t));
    }
    q = date_filter(q, DateCol::Created, &f.created);
    q = date_filter(q, DateCol::Updated, &f.updated);
    date_filter(q, DateCol::Expiration, &f.expiration)
}

/// One page of a project's live secrets and the total that match.
pub fn list(
    conn: &mut DbConn,
    scope: Scope,
    f: &SecretFilter,
    page: Page,
    kept: &KeptCounts,
) -> StoreResult<(Vec<Secret>, i64)> {
    let now = now_micros();
    if let Scope::SharedWith(user) = scope {
        // The shared secrets are the caller's ACL entries, whatever the size of their projects:
        // one pass over them gives the page and (as a window count) the total.
        if matches!(conn, DbConn::Postgres(_)) {
            let ids = shared_ids(conn, user)?;
            return shared_page(conn, Scope::Ids(&ids), f, page, now);
        }
        return shared_page(conn, scope, f, page, now);
    }
    let total: i64 = match scope {
        Scope::Project(p) if unfiltered(f) => kept.live_unexpired(conn, p, now)?,
        _ => filtered(&scope, f, now).count().get_result(conn)?,
    };
    if total <= page.offset {
        return Ok((Vec::new(), total));
    }
    if let (Scope::Project(p), true) = (&scope, unfiltered(f) && f.sort.is_empty()) {
        // The common page (no filter, default order) as a static query, run natively.
        let rows: Vec<SecretRow> = super::native!(conn, |c| secrets::table
            .filter(secrets::project_id.eq(*p))
            .filter(secrets::deleted_at.is_null())
            .filter(secrets::expiration.is_null().or(secrets::expiration.gt(now)))
            .order((secrets::created_at.asc(), secrets::id.asc()))
            .offset(page.offset)
            .limit(page.limit)
            .select(SecretRow::as_select())
            .load(c))?;
        return Ok((rows.into_iter().map(Secret::from).collect(), total));
    }
    let rows: Vec<SecretRow> = ordered(filtered(&scope, f, now), f)
        .offset(page.offset)
        .limit(page.limit)
        .select(SecretRow::as_select())
        .load(conn)?;
    Ok((rows.into_iter().map(Secret::from).collect(), total))
}

/// A page of the secrets shared with the caller, with the total from the same query
/// (`COUNT(*) OVER ()`); a page past the end has no row to carry it, so it counts alone.
fn shared_page(conn: &mut DbConn, scope: Scope, f: &SecretFilter, page: Page, now: i64) -> StoreResult<(Vec<Secret>, i64)> {
    let rows: Vec<(SecretRow, i64)> = ordered(filtered(&scope, f, now), f)
        .offset(page.offset)
        .limit(page.limit)
        .select((SecretRow::as_select(), diesel::dsl::sql::<diesel::sql_types::BigInt>("COUNT(*) OVER ()")))
        .load(conn)?;
    let total = match rows.first() {
        Some((_, total)) => *total,
        None if page.offset == 0 => 0,
        None => filtered(&scope, f, now).count().get_result(conn)?,
    };
    Ok((rows.into_iter().map(|(r, _)| Secret::from(r)).collect(), total))
}

/// The requested sort keys, then the stable default and tie-break order: oldest first.
fn ordered<'a>(mut q: secrets::BoxedQuery<'a, Db>, f: &SecretFilter) -> secrets::BoxedQuery<'a, Db> {
    for (key, desc) in &f.sort {
        q = match (key, desc) {
            (SecretSortKey::Algorithm, false) => q.then_order_by(secrets::algorithm.asc()),
            (SecretSortKey::Algorithm, true) => q.then_order_by(secrets::algorithm.desc()),
            (SecretSortKey::BitLength, false) => q.then_order_by(secrets::bit_length.asc()),
            (SecretSortKey::BitLength, true) => q.then_order_by(secrets::bit_length.desc()),
            (SecretSortKey::Created, false) => q.then_order_by(secrets::created_at.asc()),
            (SecretSortKey::Created, true) => q.then_order_by(secrets::created_at.desc()),
            (SecretSortKey::Expiration, false) => q.then_order_by(secrets::expiration.asc()),
            (SecretSortKey::Expiration, true) => q.then_order_by(secrets::expiration.desc()),
            (SecretSortKey::Mode, false) => q.then_order_by(secrets::mode.asc()),
            (SecretSortKey::Mode, true) => q.then_order_by(secrets::mode.desc()),
            (SecretSortKey::Name, false) => q.then_order_by(secrets::name.asc()),
            (SecretSortKey::Name, true) => q.then_order_by(secrets::name.desc()),
            (SecretSortKey::SecretType, false) => q.then_order_by(secrets::secret_type.asc()),
            (SecretSortKey::SecretType, true) => q.then_order_by(secrets::secret_type.desc()),
            (SecretSortKey::Status, false) => q.then_order_by(secrets::status.asc()),
            (SecretSortKey::Status, true) => q.then_order_by(secrets::status.desc()),
            (SecretSortKey::Updated, false) => q.then_order_by(secrets::updated_at.asc()),
            (SecretSortKey::Updated, true) => q.then_order_by(secrets::updated_at.desc()),
        };
    }
    q.then_order_by(secrets::created_at.asc()).then_order_by(secrets::id.asc())
}

/// No condition on the rows (a sort order changes no total).
fn unfiltered(f: &SecretFilter) -> bool {
    f.name.is_none()
        && f.alg.is_none()
        && f.mode.is_none()
        && f.bits.is_none()
        && f.secret_type.is_none()
        && f.created.is_empty()
        && f.updated.is_empty()
        && f.expiration.is_empty()
}

/// The project's live, unexpired secrets without counting them: the trigger-kept number of
/// live ones (`secret_counts`), less the live ones already expired (an index range over
/// `ix_secrets_live_count`, as long as the expired-but-undeleted rows). The same number as
/// [`count_live_rows`].
/// One statement: each shard row carries the expired count as a scalar subquery. (No shard
/// row: the project never had a live secret, so none is expired either.)
pub fn live_unexpired(conn: &mut DbConn, project: &str, now: i64) -> QueryResult<i64> {
    Ok(counts_now(conn, project, now)?.total())
}

/// A project's live count, the version of its live set and its expired-but-undeleted count,
/// with the next expiration to come, as of one statement.
struct Counts {
    live: i64,
    version: i64,
    expired: i64,
    next_expiry: Option<i64>,
}

impl Counts {
    fn total(&self) -> i64 {
        self.live - self.expired
    }
}

fn counts_now(conn: &mut DbConn, project: &str, now: i64) -> QueryResult<Counts> {
    let live_ones = || secrets::table.filter(secrets::project_id.eq(project)).filter(secrets::deleted_at.is_null());
    let expired = live_ones().filter(secrets::expiration.le(now)).select(diesel::dsl::count_star()).single_value();
    let next = live_ones().filter(secrets::expiration.gt(now)).select(diesel::dsl::min(secrets::expiration)).single_value();
    let shards: Vec<(i64, i64, Option<i64>, Option<i64>)> = secret_counts::table
        .filter(secret_counts::project_id.eq(project))
        .select((secret_counts::live, secret_counts::changes, expired, next))
        .load(conn)?;
    let first = shards.first();
    Ok(Counts {
        live: shards.iter().map(|s| s.0).sum(),
        version: shards.iter().map(|s| s.1).sum(),
        expired: first.and_then(|s| s.2).unwrap_or(0),
        next_expiry: first.and_then(|s| s.3),
    })
}

/// The expired-but-undeleted counts a server keeps per project, so that an unfiltered list of
/// a big project reads its total from `secret_counts` alone.
///
/// That count only changes when a secret of the project is created, deleted, restored or moved
/// (each of which moves the project's summed `secret_counts.changes`, on any server) or when
/// time passes the next expiration of a live secret (expirations are never updated). So a kept
/// count is used while the version read with the live count is the one it was taken at and
/// `now` is before that next expiration: the total is exact, as if counted.
pub struct KeptCounts {
    kept: quick_cache::sync::Cache<String, Kept>,
}

#[derive(Clone, Copy)]
struct Kept {
    version: i64,
    expired: i64,
    until: i64,
}

impl KeptCounts {
    pub fn new(capacity: usize) -> KeptCounts {
        KeptCounts { kept: crate::cache::bounded(capacity) }
    }

    /// [`live_unexpired`]: one primary-key read of the shards when the kept count holds,
    /// otherwise the full statement (whose result is kept).
    pub fn live_unexpired(&self, conn: &mut DbConn, project: &str, now: i64) -> QueryResult<i64> {
        if let Some(k) = self.kept.get(project) {
            if now < k.until {
                let shards: Vec<(i64, i64)> = super::native!(conn, |c| secret_counts::table
                    .filter(secret_counts::project_id.eq(project))
                    .select((secret_counts::live, secret_counts::changes))
                    .load(c))?;
                if shards.iter().map(|s| s.1).sum::<i64>() == k.version {
                    return Ok(shards.iter().map(|s| s.0).sum::<i64>() - k.expired);
                }
            }
        }
        let c = counts_now(conn, project, now)?;
        let until = c.next_expiry.unwrap_or(i64::MAX);
        self.kept.insert(project.to_string(), Kept { version: c.version, expired: c.expired, until });
        Ok(c.total())
    }
}

/// Live consumers of the given secrets, in creation order, keyed by secret id.
pub fn consumers_of(
    conn: &mut DbConn,
    ids: &[&str],
) -> StoreResult<Vec<(String, SecretConsumer)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(String, String, String, String)> = secret_consumers::table
        .filter(secret_consumers::secret_id.eq_any(ids))
        .filter(secret_consumers::deleted_at.is_null())
        .order((secret_consumers::created_at.asc(), secret_consumers::id.asc()))
        .select((
            secret_consumers::secret_id,
            secret_consumers::service,
            secret_consumers::resource_type,
            secret_consumers::resource_id,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(sid, service, resource_type, resource_id)| {
            (sid, SecretConsumer { service, resource_type, resource_id })
        })
        .collect())
}

/// Live, unexpired secrets of a project (what the `secrets` quota counts), from the
/// trigger-kept counts ([`live_unexpired`]): a quota check does not count a big project's rows.
pub fn count_live(conn: &mut DbConn, project: &str) -> QueryResult<i64> {
    live_unexpired(conn, project, now_micros())
}

/// [`count_live`] by counting the rows (tests compare the two).
pub fn count_live_rows(conn: &mut DbConn, project: &str) -> QueryResult<i64> {
    let now = now_micros();
    secrets::table
        .filter(secrets::project_id.eq(project))
        .filter(secrets::deleted_at.is_null())
        .filter(secrets::expiration.is_null().or(secrets::expiration.gt(now)))
        .count()
        .get_result(conn)
}

pub fn consumer_count(conn: &mut DbConn, id: &str) -> StoreResult<i64> {
    Ok(secret_consumers::table
        .filter(secret_consumers::secret_id.eq(id))
        .filter(secret_consumers::deleted_at.is_null())
        .count()
        .get_result(conn)?)
}

// ---- user metadata -------------------------------------------------------------------------

pub fn metadata(conn: &mut DbConn, id: &str) -> StoreResult<Vec<(String, String)>> {
    Ok(super::native!(conn, |c| secret_user_metadata::table
        .filter(secret_user_metadata::secret_id.eq(id))
        .order(secret_user_metadata::meta_key.asc())
        .select((secret_user_metadata::meta_key, secret_user_metadata::meta_value))
        .load(c))?)
}

pub fn metadatum(conn: &mut DbConn, id: &str, key: &str) -> StoreResult<Option<String>> {
    Ok(secret_user_metadata::table
        .filter(secret_user_metadata::secret_id.eq(id))
        .filter(secret_user_metadata::meta_key.eq(key))
        .select(secret_user_metadata::meta_value)
        .load(conn)?
        .into_iter()
        .next())
}

fn insert_metadatum(conn: &mut DbConn, id: &str, key: &str, value: &str) -> QueryResult<usize> {
    let t = now_micros();
    diesel::insert_into(secret_user_metadata::table)
        .values((
            secret_user_metadata::id.eq(uuid::Uuid::new_v4().to_string()),
            secret_user_metadata::secret_id.eq(id),
            secret_user_metadata::meta_key.eq(key),
            secret_user_metadata::meta_value.eq(value),
            secret_user_metadata::created_at.eq(t),
            secret_user_metadata::updated_at.eq(t),
        ))
        .execute(conn)
}

/// Replaces all user metadata of a secret, in one transaction.
pub fn replace_metadata(
    conn: &mut DbConn,
    id: &str,
    items: &[(String, String)],
) -> StoreResult<()> {
    conn.transaction(|c| {
        diesel::delete(secret_user_metadata::table.filter(secret_user_metadata::secret_id.eq(id)))
            .execute(c)?;
        for (k, v) in items {
            insert_metadatum(c, id, k, v)?;
        }
        Ok(())
    })
}

/// Adds one key; false if it already exists.
pub fn add_metadatum(conn: &mut DbConn, id: &str, key: &str, value: &str) -> StoreResult<bool> {
    match insert_metadatum(conn, id, key, value) {
        Ok(_) => Ok(true),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Updates one existing key; false if it does not exist.
pub fn update_metadatum(conn: &mut DbConn, id: &str, key: &str, value: &str) -> StoreResult<bool> {
    let n = diesel::update(
        secret_user_metadata::table
            .filter(secret_user_metadata::secret_id.eq(id))
            .filter(secret_user_metadata::meta_key.eq(key)),
    )
    .set((secret_user_metadata::meta_value.eq(value), secret_user_metadata::updated_at.eq(now_micros())))
    .execute(conn)?;
    Ok(n > 0)
}

pub fn delete_metadatum(conn: &mut DbConn, id: &str, key: &str) -> StoreResult<()> {
    diesel::delete(
        secret_user_metadata::table
            .filter(secret_user_metadata::secret_id.eq(id))
            .filter(secret_user_metadata::meta_key.eq(key)),
    )
    .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The single-secret look-up is prepared once per connection and then served from diesel's
    /// statement cache (SQLite parses it once), through the multi-backend connection too.
    #[test]
    fn view_is_prepared_once() {
        let (started, prepared) = crate::store::count_prepares(|conn| {
            for _ in 0..3 {
                assert!(super::view(conn, "00000000-0000-4000-8000-000000000000", Some("u")).unwrap().is_none());
            }
        });
        assert_eq!(started, 3);
        assert_eq!(prepared, 1, "prepared for the cache once, then reused");
    }
}
