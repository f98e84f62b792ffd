//! Leases on PENDING orders, so that replicas sharing a database never work one order at once.
//!
//! A replica claims an order with one conditional write (an UPDATE of a lapsed lease, or the
//! INSERT of a first one, which the primary key lets only one replica win), renews the leases
//! of the orders it is working on, and finishes an order only while it still holds the lease
//! ([`super::orders::complete`] and [`super::orders::fail`] check the owner). A replica that
//! died stops renewing; once its leases lapse, another replica claims the orders. Times are
//! microseconds since the Unix epoch.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};

use super::orders::PENDING;
use super::schema::{order_leases, orders};
use super::{DbConn, StoreResult};

/// The lease row `owner` holds on order `id` (whatever its expiry).
pub fn held_by<'a>(id: &'a str, owner: &'a str) -> diesel::dsl::Filter<diesel::dsl::Filter<order_leases::table, diesel::dsl::Eq<order_leases::order_id, &'a str>>, diesel::dsl::Eq<order_leases::owner, &'a str>> {
    order_leases::table.filter(order_leases::order_id.eq(id)).filter(order_leases::owner.eq(owner))
}

/// Takes the lease of a new order, in the transaction that inserts it.
pub fn insert(conn: &mut DbConn, id: &str, owner: &str, until: i64) -> QueryResult<()> {
    diesel::insert_into(order_leases::table)
        .values((order_leases::order_id.eq(id), order_leases::owner.eq(owner), order_leases::expires_at.eq(until)))
        .execute(conn)?;
    Ok(())
}

/// Claims a live PENDING order for `owner` until `until`: true when this replica now holds it
/// (it had no lease, its lease had lapsed at `now`, or `owner` already held it).
pub fn claim(conn: &mut DbConn, id: &str, owner: &str, now: i64, until: i64) -> QueryResult<bool> {
    let pending: i64 = orders::table
        .filter(orders::id.eq(id))
        .filter(orders::status.eq(PENDING))
        .filter(orders::deleted_at.is_null())
        .count()
        .get_result(conn)?;
    if pending == 0 {
        return Ok(false);
    }
    let n = diesel::update(
        order_leases::table
            .filter(order_leases::order_id.eq(id))
            .filter(order_leases::expires_at.lt(now).or(order_leases::owner.eq(owner))),
    )
    .set((order_leases::owner.eq(owner), order_leases::expires_at.eq(until)))
    .execute(conn)?;
    if n == 1 {
        return Ok(true);
    }
    match insert(conn, id, owner, until) {
        Ok(()) => Ok(true),
        // Held and not lapsed, or another replica inserted first.
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Extends `owner`'s leases on `ids` (those it still holds) to `until`; returns how many.
pub fn renew(conn: &mut DbConn, owner: &str, ids: &[String], until: i64) -> QueryResult<usize> {
    let mut n = 0;
    for chunk in ids.chunks(500) {
        n += diesel::update(
            order_leases::table.filter(order_leases::order_id.eq_any(chunk)).filter(order_leases::owner.eq(owner)),
        )
        .set(order_leases::expires_at.eq(until))
        .execute(conn)?;
    }
    Ok(n)
}

/// Lets go of an order left PENDING: its lease lapses at once, so any replica's next sweep may
/// claim it.
pub fn release(conn: &mut DbConn, id: &str, owner: &str, now: i64) -> QueryResult<bool> {
    let n = diesel::update(held_by(id, owner)).set(order_leases::expires_at.eq(now - 1)).execute(conn)?;
    Ok(n == 1)
}

/// Removes an order's lease (the order ended or was deleted).
pub fn remove(conn: &mut DbConn, id: &str) -> QueryResult<()> {
    diesel::delete(order_leases::table.find(id)).execute(conn)?;
    Ok(())
}

/// Whether `owner` holds the order's lease and it has not lapsed at `now`.
pub fn holds(conn: &mut DbConn, id: &str, owner: &str, now: i64) -> QueryResult<bool> {
    let n: i64 = held_by(id, owner).filter(order_leases::expires_at.ge(now)).count().get_result(conn)?;
    Ok(n == 1)
}

/// Live PENDING orders nobody holds at `now` (never leased, or the lease lapsed), oldest
/// first, at most `limit`: (id, project).
pub fn claimable(conn: &mut DbConn, now: i64, limit: i64) -> StoreResult<Vec<(String, String)>> {
    let held = order_leases::table.filter(order_leases::expires_at.ge(now)).select(order_leases::order_id);
    Ok(orders::table
        .filter(orders::status.eq(PENDING))
        .filter(orders::deleted_at.is_null())
        .filter(orders::id.ne_all(held))
        .order_by(orders::created_at.asc())
        .limit(limit)
        .select((orders::id, orders::project_id))
        .load(conn)?)
}
