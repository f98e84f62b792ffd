//! How many live, unexpired secrets a project has, without counting its rows: the trigger-kept
//! `secret_counts`, less the expired-but-undeleted ones (kept per project while exact).

use diesel::prelude::*;

use super::schema::{secret_counts, secrets};
use super::{now_micros, DbConn};

/// The project's live, unexpired secrets without counting them: the trigger-kept number of
/// live ones (`secret_counts`), less the live ones already expired (an index range over
/// `ix_secrets_live_count`, as long as the expired-but-undeleted rows). The same number as
/// [`count_live_rows`], in one statement: each shard row carries the expired count as a scalar
/// subquery. (No shard row: the project never had a live secret, so none is expired either.)
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
        .filter(super::secret_list::listable(now))
        .count()
        .get_result(conn)
}

