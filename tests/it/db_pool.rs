//! Pooled PostgreSQL/MySQL connections that the server cut (a restart, `pg_terminate_backend`,
//! `KILL`) are replaced, whether the check-out ping finds them or the next query does. (An
//! SQLite connection is a file handle: nothing to cut, so these return at once there.)

use diesel::dsl::sql;
use diesel::sql_types::BigInt;
use diesel::RunQueryDsl;
use portcullis::store::{DbConn, DbUrl, Store, PING_AFTER};

fn network_url() -> Option<String> {
    std::env::var("PORTCULLIS_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty() && !u.starts_with("sqlite"))
}

/// The server's id for the connection's session.
fn session_id(conn: &mut DbConn) -> diesel::QueryResult<i64> {
    match conn {
        DbConn::Postgres(c) => diesel::select(sql::<BigInt>("pg_backend_pid()::bigint")).get_result(c),
        DbConn::Mysql(c) => diesel::select(sql::<BigInt>("CAST(CONNECTION_ID() AS SIGNED)")).get_result(c),
        DbConn::Sqlite(_) => unreachable!("network backends only"),
    }
}

/// Ends a session from another connection, as an operator or a server restart would.
fn cut(url: &DbUrl, id: i64) {
    let mut admin = url.establish().expect("admin connection");
    match &mut admin {
        DbConn::Postgres(c) => {
            let ok: bool = diesel::select(sql::<diesel::sql_types::Bool>(&format!("pg_terminate_backend({id})")))
                .get_result(c)
                .expect("pg_terminate_backend");
            assert!(ok, "session {id} terminated");
        }
        DbConn::Mysql(c) => {
            diesel::sql_query(format!("KILL {id}")).execute(c).expect("KILL");
        }
        DbConn::Sqlite(_) => unreachable!(),
    }
}

#[test]
fn a_connection_cut_while_idle_is_replaced_at_check_out() {
    let Some(raw) = network_url() else { return };
    let url = DbUrl::parse(&raw).unwrap();
    let store = Store::open(&url, 1).expect("pool");
    let first = session_id(&mut store.conn().unwrap()).unwrap();
    cut(&url, first);
    // Idle for longer than the bypass window: the check-out pings, finds it dead and opens
    // another; the caller never sees the dead one.
    std::thread::sleep(PING_AFTER + std::time::Duration::from_millis(300));
    let second = session_id(&mut store.conn().unwrap()).expect("a live connection");
    assert_ne!(first, second, "a new session");
}

#[test]
fn a_connection_cut_while_hot_fails_one_query_then_is_dropped() {
    let Some(raw) = network_url() else { return };
    let url = DbUrl::parse(&raw).unwrap();
    let store = Store::open(&url, 1).expect("pool");
    let first = session_id(&mut store.conn().unwrap()).unwrap();
    cut(&url, first);
    // Answered a moment ago: handed out without a ping, so this query finds the cut.
    let e = session_id(&mut store.conn().unwrap()).expect_err("the cut session cannot answer");
    assert!(portcullis::store::unavailable(&e), "reported as the database being unavailable: {e}");
    // That connection went back marked cut and was dropped: the next check-out is a new session
    // at once (no waiting for the ping window).
    let second = session_id(&mut store.conn().unwrap()).expect("a live connection");
    assert_ne!(first, second, "a new session");
    for _ in 0..3 {
        assert_eq!(session_id(&mut store.conn().unwrap()).unwrap(), second, "the new session is reused");
    }
}

#[test]
fn after_one_cut_the_other_hot_connections_are_pinged_before_use() {
    let Some(raw) = network_url() else { return };
    let url = DbUrl::parse(&raw).unwrap();
    let store = Store::open(&url, 2).expect("pool");
    // Two sessions, both having answered just now.
    let (ids, conns): (Vec<i64>, Vec<_>) = (0..2)
        .map(|_| {
            let mut c = store.conn().unwrap();
            (session_id(&mut c).unwrap(), c)
        })
        .unzip();
    drop(conns);
    // A restart cuts them both at once.
    for id in &ids {
        cut(&url, *id);
    }
    // The first check-out is within the bypass window: its query meets the cut...
    let e = session_id(&mut store.conn().unwrap()).expect_err("the cut session cannot answer");
    assert!(portcullis::store::unavailable(&e), "{e}");
    // ... and from then on no connection that answered before that cut is handed out unpinged:
    // the other cut session is found by its ping and replaced, not by a second failed request.
    let next = session_id(&mut store.conn().unwrap()).expect("a live connection");
    assert!(!ids.contains(&next), "a new session: {next} not in {ids:?}");
}
