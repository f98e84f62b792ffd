//! A page of secrets and its total: a project's own (the unfiltered total from
//! [`super::secret_totals`]), or those shared with a user (`acl_only`).

use diesel::prelude::*;

use super::schema::secrets;
use super::secret_totals::KeptCounts;
use super::secrets::SecretRow;
use super::{now_micros, to_micros, DbConn, StoreResult};
use crate::model::{DateCond, Page, Secret, SecretFilter, SecretSortKey};

type Db = <DbConn as diesel::Connection>::Backend;

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>);

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

/// A secret a list shows and the totals count: not deleted, not expired at `now`
/// (the `ix_secrets_live*` indexes hold these rows and columns after the project).
#[diesel::dsl::auto_type]
pub(super) fn listable(now: i64) -> _ {
    secrets::deleted_at.is_null().and(secrets::expiration.is_null().or(secrets::expiration.gt(now)))
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
    let mut q = q.filter(listable(now));
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
            .filter(listable(now))
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

