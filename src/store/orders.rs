//! Orders (§5.8): rows move PENDING → ACTIVE or ERROR, only from PENDING and only by the
//! replica holding the order's lease ([`super::order_leases`]), so that two workers finishing the
//! same order cannot both win. An asymmetric
//! order's passphrase is kept sealed in `order_passphrases` while the order runs, and deleted
//! when it ends or is deleted.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use super::schema::{order_passphrases, orders};
use super::{from_micros, now_micros, to_micros, DbConn, StoreResult};
use crate::model::Page;

type Db = <DbConn as diesel::Connection>::Backend;

pub const PENDING: &str = "PENDING";
pub const ACTIVE: &str = "ACTIVE";
pub const ERROR: &str = "ERROR";

/// An order as stored; `meta` is the JSON text of the validated request meta.
#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = orders)]
pub struct OrderRow {
    pub id: String,
    pub project_id: String,
    pub creator_id: Option<String>,
    pub order_type: String,
    pub status: String,
    pub meta: String,
    pub secret_id: Option<String>,
    pub container_id: Option<String>,
    pub error_status_code: Option<String>,
    pub error_reason: Option<String>,
    pub sub_status: Option<String>,
    pub sub_status_message: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl OrderRow {
    pub fn created(&self) -> NaiveDateTime {
        from_micros(self.created_at)
    }
    pub fn updated(&self) -> NaiveDateTime {
        from_micros(self.updated_at)
    }
}

impl From<OrderRow> for crate::model::Order {
    /// The meta text is the JSON object validated at creation; anything else reads as `{}`.
    fn from(o: OrderRow) -> Self {
        let meta = serde_json::from_str(&o.meta).unwrap_or_default();
        crate::model::Order {
            created_at: o.created(),
            updated_at: o.updated(),
            id: o.id,
            project_id: o.project_id,
            creator_id: o.creator_id,
            order_type: o.order_type,
            status: o.status,
            meta,
            secret_id: o.secret_id,
            container_id: o.container_id,
            error_status_code: o.error_status_code,
            error_reason: o.error_reason,
            sub_status: o.sub_status,
            sub_status_message: o.sub_status_message,
        }
    }
}

/// Values of a new order (always PENDING).
pub struct NewOrder<'a> {
    pub id: &'a str,
    pub project_id: &'a str,
    pub creator_id: Option<&'a str>,
    pub order_type: &'a str,
    pub meta: &'a str,
    pub created_at: NaiveDateTime,
    /// The passphrase sealed under a project KEK: (KEK id, sealed bytes).
    pub passphrase: Option<(&'a str, &'a [u8])>,
    /// The creating replica's lease on it: (owner, expiry in microseconds).
    pub lease: Option<(&'a str, i64)>,
}

/// Inserts the order (and its sealed passphrase); call it in a transaction.
pub fn insert(conn: &mut DbConn, n: &NewOrder) -> QueryResult<()> {
    let t = to_micros(n.created_at);
    diesel::insert_into(orders::table)
        .values((
            orders::id.eq(n.id),
            orders::project_id.eq(n.project_id),
            orders::creator_id.eq(n.creator_id),
            orders::order_type.eq(n.order_type),
            orders::status.eq(PENDING),
            orders::meta.eq(n.meta),
            orders::created_at.eq(t),
            orders::updated_at.eq(t),
        ))
        .execute(conn)?;
    if let Some((kek_id, sealed)) = n.passphrase {
        set_passphrase(conn, n.id, kek_id, sealed)?;
    }
    if let Some((owner, until)) = n.lease {
        super::order_leases::insert(conn, n.id, owner, until)?;
    }
    Ok(())
}

fn set_passphrase(conn: &mut DbConn, order_id: &str, kek_id: &str, sealed: &[u8]) -> QueryResult<()> {
    diesel::insert_into(order_passphrases::table)
        .values((
            order_passphrases::order_id.eq(order_id),
            order_passphrases::kek_id.eq(kek_id),
            order_passphrases::cypher_text.eq(sealed),
            order_passphrases::created_at.eq(now_micros()),
        ))
        .execute(conn)?;
    Ok(())
}

fn drop_passphrase(conn: &mut DbConn, order_id: &str) -> QueryResult<()> {
    diesel::delete(order_passphrases::table.find(order_id)).execute(conn)?;
    Ok(())
}

/// The sealed passphrase of a live order, while it runs: (KEK id, sealed bytes).
pub fn passphrase(conn: &mut DbConn, id: &str) -> StoreResult<Option<(String, Vec<u8>)>> {
    Ok(order_passphrases::table
        .find(id)
        .select((order_passphrases::kek_id, order_passphrases::cypher_text))
        .first(conn)
        .optional()?)
}

/// Deletes the passphrases of orders that are no longer running (ended or deleted, e.g. by a
/// process that stopped between the two statements of [`fail`]). Returns how many.
pub fn purge_ended_passphrases(conn: &mut DbConn) -> StoreResult<usize> {
    let running = orders::table
        .filter(orders::status.eq(PENDING))
        .filter(orders::deleted_at.is_null())
        .select(orders::id);
    Ok(diesel::delete(order_passphrases::table.filter(order_passphrases::order_id.ne_all(running))).execute(conn)?)
}

/// Orders (live or deleted) whose meta text contains `needle`: (id, project, type, status, meta).
pub fn with_meta_text(conn: &mut DbConn, needle: &str) -> StoreResult<Vec<(String, String, String, String, String)>> {
    let b = backend_of(conn);
    Ok(orders::table
        .filter(meta_contains(b, needle.to_string()))
        .select((orders::id, orders::project_id, orders::order_type, orders::status, orders::meta))
        .load(conn)?)
}

/// Replaces an order's meta text and, when given, stores its sealed passphrase, in one
/// transaction.
pub fn rewrite_meta(conn: &mut DbConn, id: &str, meta: &str, passphrase: Option<(&str, &[u8])>) -> QueryResult<()> {
    conn.transaction(|c| {
        diesel::update(orders::table.filter(orders::id.eq(id))).set(orders::meta.eq(meta)).execute(c)?;
        if let Some((kek_id, sealed)) = passphrase {
            drop_passphrase(c, id)?;
            set_passphrase(c, id, kek_id, sealed)?;
        }
        Ok(())
    })
}

/// A live order of the project (the look-up is project-scoped, §2.3.4).
pub fn get(conn: &mut DbConn, id: &str, project: &str) -> StoreResult<Option<OrderRow>> {
    Ok(orders::table
        .filter(orders::id.eq(id))
        .filter(orders::project_id.eq(project))
        .filter(orders::deleted_at.is_null())
        .select(OrderRow::as_select())
        .first(conn)
        .optional()?)
}

/// A live order by id, whatever its project (for the processing itself).
pub fn get_any(conn: &mut DbConn, id: &str) -> StoreResult<Option<OrderRow>> {
    Ok(orders::table
        .filter(orders::id.eq(id))
        .filter(orders::deleted_at.is_null())
        .select(OrderRow::as_select())
        .first(conn)
        .optional()?)
}

/// Live orders of a project (what the `orders` quota counts).
pub fn count_live(conn: &mut DbConn, project: &str) -> QueryResult<i64> {
    orders::table
        .filter(orders::project_id.eq(project))
        .filter(orders::deleted_at.is_null())
        .count()
        .get_result(conn)
}

/// Case-sensitive "the meta JSON text contains `needle`", in each backend's dialect (SQLite's
/// LIKE ignores ASCII case; `meta` is a binary-collated column on MySQL).
fn meta_contains(backend_is: Backendish, needle: String) -> Box<dyn BoxableExpression<orders::table, Db, SqlType = Bool>> {
    use diesel::dsl::sql;
    match backend_is {
        Backendish::Sqlite => Box::new(sql::<Bool>("instr(meta, ").bind::<Text, _>(needle).sql(") > 0")),
        Backendish::Postgres => Box::new(sql::<Bool>("strpos(meta, ").bind::<Text, _>(needle).sql(") > 0")),
        Backendish::Mysql => Box::new(sql::<Bool>("LOCATE(").bind::<Text, _>(needle).sql(", meta) > 0")),
    }
}

#[derive(Clone, Copy)]
enum Backendish {
    Sqlite,
    Postgres,
    Mysql,
}

fn backend_of(conn: &DbConn) -> Backendish {
    match conn {
        DbConn::Sqlite(_) => Backendish::Sqlite,
        DbConn::Postgres(_) => Backendish::Postgres,
        DbConn::Mysql(_) => Backendish::Mysql,
    }
}

/// A page of the project's live orders, oldest first, with the total. `meta_needle` is matched
/// as a substring of the stored meta JSON text.
pub fn list(
    conn: &mut DbConn,
    project: &str,
    meta_needle: Option<&str>,
    page: Page,
) -> StoreResult<(Vec<OrderRow>, i64)> {
    let b = backend_of(conn);
    let base = || {
        let mut q = orders::table
            .filter(orders::project_id.eq(project.to_string()))
            .filter(orders::deleted_at.is_null())
            .into_boxed::<Db>();
        if let Some(n) = meta_needle {
            q = q.filter(meta_contains(b, n.to_string()));
        }
        q
    };
    let total: i64 = base().count().get_result(conn)?;
    if total <= page.offset {
        return Ok((Vec::new(), total));
    }
    let rows = base()
        .order_by(orders::created_at.asc())
        .then_order_by(orders::id.asc())
        .offset(page.offset)
        .limit(page.limit)
        .select(OrderRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// Soft-deletes an order of the project; the secrets and container it made stay.
pub fn delete(conn: &mut DbConn, id: &str, project: &str) -> StoreResult<bool> {
    let t = now_micros();
    let n = diesel::update(
        orders::table
            .filter(orders::id.eq(id))
            .filter(orders::project_id.eq(project))
            .filter(orders::deleted_at.is_null()),
    )
    .set((orders::deleted_at.eq(Some(t)), orders::updated_at.eq(t)))
    .execute(conn)?;
    if n == 1 {
        drop_passphrase(conn, id)?;
        super::order_leases::remove(conn, id)?;
    }
    Ok(n == 1)
}

/// PENDING → ACTIVE with what was generated. False when the order was no longer PENDING (another
/// worker finished it) or `owner` no longer holds its lease; the caller's transaction must then
/// be rolled back.
pub fn complete(
    conn: &mut DbConn,
    id: &str,
    owner: &str,
    secret_id: Option<&str>,
    container_id: Option<&str>,
) -> QueryResult<bool> {
    let n = diesel::update(
        orders::table
            .filter(orders::id.eq(id))
            .filter(orders::status.eq(PENDING))
            .filter(diesel::dsl::exists(super::order_leases::held_by(id, owner))),
    )
        .set((
            orders::status.eq(ACTIVE),
            orders::secret_id.eq(secret_id),
            orders::container_id.eq(container_id),
            orders::sub_status.eq(Some("Unknown")),
            orders::sub_status_message.eq(Some("Unknown")),
            orders::updated_at.eq(now_micros()),
        ))
        .execute(conn)?;
    if n == 1 {
        drop_passphrase(conn, id)?;
        super::order_leases::remove(conn, id)?;
    }
    Ok(n == 1)
}

/// PENDING → ERROR with Barbican's `error_status_code` (a string) and `error_reason`
/// (at most 255 characters). False when the order was no longer PENDING or `owner` no longer
/// holds its lease.
pub fn fail(conn: &mut DbConn, id: &str, owner: &str, status_code: u16, reason: &str) -> QueryResult<bool> {
    let reason: String = reason.chars().take(255).collect();
    let n = diesel::update(
        orders::table
            .filter(orders::id.eq(id))
            .filter(orders::status.eq(PENDING))
            .filter(diesel::dsl::exists(super::order_leases::held_by(id, owner))),
    )
        .set((
            orders::status.eq(ERROR),
            orders::error_status_code.eq(Some(status_code.to_string())),
            orders::error_reason.eq(Some(reason)),
            orders::updated_at.eq(now_micros()),
        ))
        .execute(conn)?;
    if n == 1 {
        drop_passphrase(conn, id)?;
        super::order_leases::remove(conn, id)?;
    }
    Ok(n == 1)
}
