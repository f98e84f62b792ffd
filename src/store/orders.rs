//! Orders (§5.8): rows move PENDING → ACTIVE or ERROR, and only from PENDING, so that two
//! workers finishing the same order (a restart racing a replica) cannot both win.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use super::schema::orders;
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

/// Values of a new order (always PENDING).
pub struct NewOrder<'a> {
    pub id: &'a str,
    pub project_id: &'a str,
    pub creator_id: Option<&'a str>,
    pub order_type: &'a str,
    pub meta: &'a str,
    pub created_at: NaiveDateTime,
}

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
    Ok(())
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
    Ok(n == 1)
}

/// PENDING → ACTIVE with what was generated. False when the order was no longer PENDING (another
/// worker finished it); the caller's transaction must then be rolled back.
pub fn complete(
    conn: &mut DbConn,
    id: &str,
    secret_id: Option<&str>,
    container_id: Option<&str>,
) -> QueryResult<bool> {
    let n = diesel::update(orders::table.filter(orders::id.eq(id)).filter(orders::status.eq(PENDING)))
        .set((
            orders::status.eq(ACTIVE),
            orders::secret_id.eq(secret_id),
            orders::container_id.eq(container_id),
            orders::sub_status.eq(Some("Unknown")),
            orders::sub_status_message.eq(Some("Unknown")),
            orders::updated_at.eq(now_micros()),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// PENDING → ERROR with Barbican's `error_status_code` (a string) and `error_reason`
/// (at most 255 characters). False when the order was no longer PENDING.
pub fn fail(conn: &mut DbConn, id: &str, status_code: u16, reason: &str) -> QueryResult<bool> {
    let reason: String = reason.chars().take(255).collect();
    let n = diesel::update(orders::table.filter(orders::id.eq(id)).filter(orders::status.eq(PENDING)))
        .set((
            orders::status.eq(ERROR),
            orders::error_status_code.eq(Some(status_code.to_string())),
            orders::error_reason.eq(Some(reason)),
            orders::updated_at.eq(now_micros()),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Ids of live orders still PENDING (oldest first), e.g. left behind by a crash.
pub fn pending_ids(conn: &mut DbConn) -> StoreResult<Vec<String>> {
    Ok(orders::table
        .filter(orders::status.eq(PENDING))
        .filter(orders::deleted_at.is_null())
        .order_by(orders::created_at.asc())
        .select(orders::id)
        .load(conn)?)
}
