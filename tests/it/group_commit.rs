//! Durable creates: SQLite runs `synchronous = FULL`, and writes go through the store's
//! group-commit writer (`Store::write`): jobs share a transaction, each in its own savepoint,
//! and are answered only after the commit.

use crate::common;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use portcullis::store::{DbConn, DbUrl, Store, StoreError};
use reqwest::Method;
use serde_json::{json, Value};

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn sqlite_store(dir: &std::path::Path, wait: Duration) -> Store {
    let url = DbUrl::parse(&format!("sqlite://{}", dir.join("gc.db").display())).unwrap();
    let store = Store::open_with(&url, 8, wait).unwrap();
    store.conn().unwrap().batch_execute("CREATE TABLE IF NOT EXISTS gc (x INTEGER PRIMARY KEY)").unwrap();
    store
}

fn count(store: &Store, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<N>(&mut *store.conn().unwrap()).unwrap().n
}

#[derive(Debug)]
enum E {
    Refused,
    Store(String, bool),
}
impl From<diesel::result::Error> for E {
    fn from(e: diesel::result::Error) -> E {
        E::Store(e.to_string(), portcullis::store::unavailable(&e))
    }
}
impl From<StoreError> for E {
    fn from(e: StoreError) -> E {
        E::Store(e.to_string(), e.is_unavailable())
    }
}

fn insert(c: &mut DbConn, x: i64) -> Result<(), E> {
    diesel::sql_query(format!("INSERT INTO gc VALUES ({x})")).execute(c)?;
    Ok(())
}

#[test]
fn pooled_sqlite_connections_run_synchronous_full() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path(), Duration::from_secs(5));
    assert_eq!(count(&store, "SELECT synchronous AS n FROM pragma_synchronous"), 2, "FULL");
    assert_eq!(count(&store, "SELECT timeout AS n FROM pragma_busy_timeout"), 5000);
    // The writer's own connection too.
    let sync = store
        .write(|c| -> Result<i64, E> {
            Ok(diesel::sql_query("SELECT synchronous AS n FROM pragma_synchronous").get_result::<N>(c)?.n)
        })
        .unwrap();
    assert_eq!(sync, 2);
}

/// The writer does not checkpoint the WAL inside its commits (that stalled the batch behind
/// it); a checkpointer thread copies the committed pages into the database file soon after.
#[test]
fn the_wal_is_checkpointed_off_the_writer_thread() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path(), Duration::from_secs(5));
    let autocheckpoint = store
        .write(|c| -> Result<i64, E> {
            #[derive(QueryableByName)]
            struct W {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                wal_autocheckpoint: i64,
            }
            Ok(diesel::sql_query("PRAGMA wal_autocheckpoint").get_result::<W>(c)?.wal_autocheckpoint)
        })
        .unwrap();
    assert!(autocheckpoint >= 10_000, "the writer checkpoints inline only as a backstop: {autocheckpoint}");
    for x in 0..20 {
        store.write(move |c| insert(c, x)).unwrap();
    }
    // `immutable=1` reads the database file alone, not the WAL: the rows are there only once a
    // checkpoint copied them (20 small commits are far below any auto-checkpoint threshold).
    let main_file = format!("file:{}?immutable=1", dir.path().join("gc.db").display());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = diesel::SqliteConnection::establish(&main_file).unwrap();
        let n = diesel::sql_query("SELECT count(*) AS n FROM gc").get_result::<N>(&mut c).map(|r| r.n).unwrap_or(-1);
        if n == 20 {
            break;
        }
        assert!(Instant::now() < deadline, "the database file has {n} of the 20 committed rows");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A dropped store has closed every connection, the writer's and the checkpointer's included
/// (a stopped server leaves no thread holding its database): the last close removes the WAL.
#[test]
fn dropping_the_store_closes_every_connection() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path(), Duration::from_secs(5));
    for x in 0..5 {
        store.write(move |c| insert(c, x)).unwrap();
    }
    assert!(dir.path().join("gc.db-wal").exists());
    drop(store);
    assert!(!dir.path().join("gc.db-wal").exists(), "a connection outlived the store");
}

/// Jobs queued behind a slow one form one batch; the failing ones (every fourth) are rolled
/// back alone, the others land; each caller, once answered, already sees its row from another
/// connection (no answer before the commit).
#[test]
fn a_failing_job_in_a_batch_does_not_take_the_others_down() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path(), Duration::from_secs(5));
    let n = 40;
    let barrier = Arc::new(Barrier::new(n + 1));
    // Holds the writer while the others queue up.
    let slow = {
        let (store, barrier) = (store.clone(), barrier.clone());
        std::thread::spawn(move || {
            store.write(move |c| {
                barrier.wait();
                std::thread::sleep(Duration::from_millis(300));
                insert(c, 1000)
            })
        })
    };
    let threads: Vec<_> = (0..n as i64)
        .map(|i| {
            let (store, barrier) = (store.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let r = store.write(move |c| {
                    insert(c, i)?;
                    if i % 4 == 0 {
                        return Err(E::Refused);
                    }
                    Ok(())
                });
                if r.is_ok() {
                    let seen = count(&store, &format!("SELECT count(*) AS n FROM gc WHERE x = {i}"));
                    assert_eq!(seen, 1, "job {i} answered before its row was committed");
                }
                r
            })
        })
        .collect();
    slow.join().unwrap().unwrap();
    for (i, t) in threads.into_iter().enumerate() {
        match t.join().unwrap() {
            Ok(()) => assert!(i % 4 != 0),
            Err(E::Refused) => assert!(i % 4 == 0),
            Err(e) => panic!("job {i}: {e:?}"),
        }
    }
    assert_eq!(count(&store, "SELECT count(*) AS n FROM gc"), 1 + 30);
    assert_eq!(count(&store, "SELECT count(*) AS n FROM gc WHERE x % 4 = 0 AND x < 1000"), 0);
}

/// Another process holding SQLite's write lock (as `kek rotate` does): the writer waits for it
/// (busy timeout), and past the timeout answers "database is locked" (unavailable), then
/// serves again.
#[test]
fn the_writer_waits_for_another_process_lock_within_the_busy_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path(), Duration::from_millis(1500));
    let path = dir.path().join("gc.db");
    let hold = |ms: u64| {
        let path = path.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            let mut other = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
            other.batch_execute("BEGIN IMMEDIATE; INSERT INTO gc VALUES (-1)").unwrap();
            tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(ms));
            other.batch_execute("ROLLBACK").unwrap();
        });
        rx.recv().unwrap();
        t
    };
    let t = hold(400);
    let start = Instant::now();
    store.write(|c| insert(c, 1)).expect("waits for the lock");
    assert!(start.elapsed() >= Duration::from_millis(300), "{:?}", start.elapsed());
    t.join().unwrap();

    let t = hold(3000);
    match store.write(|c| insert(c, 2)) {
        Err(E::Store(msg, unavailable)) => assert!(unavailable, "{msg}"),
        other => panic!("expected database is locked, got {other:?}"),
    }
    t.join().unwrap();
    store.write(|c| insert(c, 3)).expect("serves again");
    assert_eq!(count(&store, "SELECT count(*) AS n FROM gc"), 2);
}

/// 300 concurrent one-step creates over HTTP (any backend): each lands exactly once and reads
/// back with its payload.
#[actix_web::test]
async fn concurrent_creates_all_land_exactly_once() {
    let s = common::start_with(|cfg| cfg.default.sql_pool_size = 8).await;
    let p = common::project();
    let n = 300;
    let sends = (0..n).map(|i| {
        s.req(Method::POST, "/v1/secrets", &p)
            .json(&json!({"name": format!("gc-{i}"), "payload": format!("payload-{i}"), "payload_content_type": "text/plain"}))
            .send()
    });
    let mut ids = Vec::new();
    for (i, r) in futures_util::future::join_all(sends).await.into_iter().enumerate() {
        let r = r.unwrap();
        assert_eq!(r.status(), 201, "{:?}", r.text().await);
        let v: Value = r.json().await.unwrap();
        ids.push((i, v["secret_ref"].as_str().unwrap().rsplit('/').next().unwrap().to_string()));
    }
    let l: Value =
        s.req(Method::GET, "/v1/secrets?limit=1", &p).send().await.unwrap().json().await.unwrap();
    assert_eq!(l["total"], n);
    let mut seen = std::collections::HashSet::new();
    for (i, id) in ids {
        assert!(seen.insert(id.clone()), "one id twice");
        let r = s
            .req(Method::GET, &format!("/v1/secrets/{id}/payload"), &p)
            .header("Accept", "text/plain")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), format!("payload-{i}"));
    }
}
