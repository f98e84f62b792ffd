//! PENDING orders are leased: the replica working on an order keeps it while alive (its lease
//! renewed), another replica takes it over only after the owner died and the lease lapsed, and
//! no order is ever worked by two live replicas.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use super::{count, req, Cluster, Db, Replica};

/// A short lease (renewed every 1.7 s), with room for a replica stalled a few seconds on a loaded
/// test machine (a replica that cannot renew within the lease counts as dead).
const LEASE: &str = "[orders]\nlease_seconds = 5\ninline_budget_ms = 0\nkeygen_workers = 2\n";

/// The ids of the orders a replica logged it worked on.
fn worked(r: &Replica) -> Vec<String> {
    r.log_text()
        .lines()
        .filter(|l| l.contains("working on order"))
        .filter_map(|l| l.split("order=").nth(1).map(|s| s.chars().take(36).collect::<String>()))
        .collect()
}

async fn order(http: &reqwest::Client, r: &Replica, project: &str, id: &str) -> Value {
    let resp = req(http, Method::GET, r.url(&format!("/v1/orders/{id}")), project).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

#[actix_web::test]
async fn a_killed_replicas_order_is_finished_by_another_once_its_lease_lapses() {
    let Some(db) = Db::fresh() else { return };
    let _serial = super::serial();
    let cluster = Cluster::new(&db.url);
    // A takes a minute per order (test knob): it is killed while working on it.
    let mut a = cluster.start("a", LEASE, &[("PORTCULLIS_TEST_ORDER_DELAY_MS", "60000")]);
    let b = cluster.start("b", LEASE, &[]);
    let http = reqwest::Client::new();
    let p = format!("proj-{}", uuid::Uuid::new_v4());
    let resp = req(&http, Method::POST, a.url("/v1/orders"), &p)
        .json(&json!({"type": "asymmetric", "meta": {"algorithm": "rsa", "bit_length": 2048}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let body: Value = resp.json().await.unwrap();
    let id = body["order_ref"].as_str().unwrap().rsplit('/').next().unwrap().to_string();

    let start = Instant::now();
    while !worked(&a).contains(&id) {
        assert!(start.elapsed() < Duration::from_secs(10), "A never worked on {id}: {}", a.log_text());
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    // While A lives, its lease is renewed: B leaves the order alone for well past a lease.
    actix_web::rt::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(order(&http, &b, &p, &id).await["status"], "PENDING");
    assert!(!worked(&b).contains(&id), "B worked on an order A holds: {}", b.log_text());

    a.kill9();
    let killed = Instant::now();
    let o = loop {
        let o = order(&http, &b, &p, &id).await;
        if o["status"] != "PENDING" {
            break o;
        }
        assert!(killed.elapsed() < Duration::from_secs(30), "B never took the order over: {}", b.log_text());
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    };
    let took = killed.elapsed();
    assert_eq!(o["status"], "ACTIVE", "{o}");
    assert!(worked(&b).contains(&id), "{}", b.log_text());
    eprintln!("replicas: order taken over {:.1}s after its owner was killed (lease 5s)", took.as_secs_f64());
    // One key pair, one container: nothing made twice.
    let mut conn = db.conn();
    assert_eq!(count(&mut conn, &format!("SELECT COUNT(*) AS n FROM containers WHERE project_id = '{p}'")), 1);
    assert_eq!(count(&mut conn, &format!("SELECT COUNT(*) AS n FROM secrets WHERE project_id = '{p}'")), 2);
}

/// Orders left PENDING with no lease (by an earlier version, say) and three replicas starting at
/// once: each order is claimed and worked by exactly one of them, though a replica holding most
/// of them keeps them queued past the lease (renewed while queued and running).
#[actix_web::test]
async fn live_replicas_never_work_the_same_order() {
    let Some(db) = Db::fresh() else { return };
    let _serial = super::serial();
    let cluster = Cluster::new(&db.url);
    let p = format!("proj-{}", uuid::Uuid::new_v4());
    let ids: Vec<String> = (0..12).map(|_| insert_pending(&db.url, &p)).collect();
    let starts = ["a", "b", "c"];
    let replicas: Vec<Replica> = std::thread::scope(|s| {
        let hs: Vec<_> = starts
            .iter()
            .map(|n| s.spawn(|| cluster.start(n, LEASE, &[("PORTCULLIS_TEST_ORDER_DELAY_MS", "1200")])))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut conn = db.conn();
    let start = Instant::now();
    let pending = format!("SELECT COUNT(*) AS n FROM orders WHERE project_id = '{p}' AND status = 'PENDING'");
    while count(&mut conn, &pending) > 0 {
        assert!(start.elapsed() < Duration::from_secs(60), "orders still PENDING");
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    let mut by: HashMap<String, Vec<String>> = HashMap::new();
    for r in &replicas {
        for id in worked(r) {
            by.entry(id).or_default().push(r.name.clone());
        }
    }
    // Finished once each (one key pair, one container), whatever the logs say.
    let per: Vec<usize> = replicas.iter().map(|r| worked(r).len()).collect();
    let active = format!("SELECT COUNT(*) AS n FROM orders WHERE project_id = '{p}' AND status = 'ACTIVE'");
    assert_eq!(count(&mut conn, &active), 12);
    assert_eq!(count(&mut conn, &format!("SELECT COUNT(*) AS n FROM containers WHERE project_id = '{p}'")), 12);
    assert_eq!(count(&mut conn, &format!("SELECT COUNT(*) AS n FROM secrets WHERE project_id = '{p}'")), 24);
    if std::env::var_os("REPLICAS_KEEP_LOGS").is_some() {
        for r in &replicas {
            std::fs::copy(&r.log, format!("/tmp/replicas-log-{}.log", r.name)).unwrap();
        }
    }
    for id in &ids {
        let trail: Vec<String> = replicas
            .iter()
            .flat_map(|r| {
                let keep = |l: &&str| l.contains(id.as_str()) || l.contains("WARN") || l.contains("ERROR");
                r.log_text().lines().filter(keep).map(|l| format!("{}: {l}", r.name)).collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(by.get(id).map(Vec::len), Some(1), "order {id} worked by {:?}: {trail:#?}", by.get(id));
    }
    assert_eq!(by.keys().collect::<HashSet<_>>().len(), 12);
    eprintln!("replicas: 12 orders worked once each, split {per:?}");
}

fn insert_pending(db_url: &str, project: &str) -> String {
    use diesel::prelude::*;
    use portcullis::store::schema::orders as o;
    let id = uuid::Uuid::new_v4().to_string();
    let t = portcullis::store::now_micros();
    diesel::insert_into(o::table)
        .values((
            o::id.eq(&id),
            o::project_id.eq(project),
            o::order_type.eq("asymmetric"),
            o::status.eq("PENDING"),
            o::meta.eq(json!({"algorithm": "rsa", "bit_length": 1024}).to_string()),
            o::created_at.eq(t),
            o::updated_at.eq(t),
        ))
        .execute(&mut connect(db_url))
        .expect("insert order");
    id
}

/// A replica that cannot unwrap the project's KEK (it lacks the master KEK version in use: not
/// enrolled after a rotation) hands the order back instead of failing it; a replica that can
/// then finishes it. In-process servers, on every backend.
#[actix_web::test]
async fn a_replica_without_the_master_kek_in_use_hands_the_order_back() {
    use base64::Engine;
    let b64 = |k: [u8; 32]| base64::engine::general_purpose::STANDARD.encode(k);
    let dir = tempfile::tempdir().unwrap();
    let base_cfg = crate::common::test_config(dir.path());
    let v1 = std::fs::read_to_string(&base_cfg.kek.file_path).unwrap_or_default();
    let v1 = if v1.trim().is_empty() { format!("1:{}\n", b64(rand_key())) } else { v1 };
    let both = dir.path().join("both.kek");
    let only_v1 = dir.path().join("v1.kek");
    std::fs::write(&both, format!("{v1}2:{}\n", b64(rand_key()))).unwrap();
    std::fs::write(&only_v1, &v1).unwrap();
    let db_url = base_cfg.default.sql_connection.clone();
    let with = |kek: std::path::PathBuf, lease: u64| {
        let db_url = db_url.clone();
        move |cfg: &mut portcullis::config::Config| {
            cfg.default.sql_connection = db_url;
            cfg.kek.file_path = kek;
            cfg.orders.lease_seconds = lease;
        }
    };
    let p = format!("proj-{}", uuid::Uuid::new_v4());
    // A holds v1 and v2 (current): the project's KEK is wrapped under v2.
    let a = crate::common::start_with(with(both.clone(), 30)).await;
    a.create_secret(&p, json!({"payload": "x", "payload_content_type": "text/plain"})).await;
    drop(a);
    let id = insert_pending(&db_url, &p);

    // B holds v1 only: it claims the order at start, cannot unwrap, and lets the lease lapse.
    let b = crate::common::start_with(with(only_v1, 30)).await;
    let mut conn = connect(&db_url);
    let start = Instant::now();
    loop {
        let lapsed = format!("SELECT COUNT(*) AS n FROM order_leases WHERE order_id = '{id}' AND expires_at < {}", portcullis::store::now_micros());
        if count(&mut conn, &lapsed) == 1 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "B never handed the order back");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    let status = format!("SELECT COUNT(*) AS n FROM orders WHERE id = '{id}' AND status = 'PENDING'");
    assert_eq!(count(&mut conn, &status), 1, "handed back, not failed");

    // C holds both versions: it takes the order over and finishes it.
    let c = crate::common::start_with(with(both, 1)).await;
    let start = Instant::now();
    let active = format!("SELECT COUNT(*) AS n FROM orders WHERE id = '{id}' AND status = 'ACTIVE'");
    while count(&mut conn, &active) == 0 {
        assert!(start.elapsed() < Duration::from_secs(30), "C never finished the order");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    drop((b, c));
}

fn rand_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    for (i, b) in uuid::Uuid::new_v4().as_bytes().iter().chain(uuid::Uuid::new_v4().as_bytes()).enumerate() {
        k[i] = *b;
    }
    k
}

/// A direct connection (on SQLite, one that waits for the servers' write locks).
fn connect(url: &str) -> portcullis::store::DbConn {
    use diesel::connection::SimpleConnection;
    let mut c = portcullis::store::DbUrl::parse(url).unwrap().establish().expect("test connection");
    if url.starts_with("sqlite") {
        c.batch_execute("PRAGMA busy_timeout = 10000").unwrap();
    }
    c
}
