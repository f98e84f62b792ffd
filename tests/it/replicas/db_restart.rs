//! Database restart under load: two replicas on a private PostgreSQL (or MariaDB) server, which
//! is stopped for a few seconds while requests flow. Meanwhile requests get 503 with
//! Retry-After (never a 500), `/healthcheck` stays 200 and `/healthcheck?deep` says the
//! database is down; once it is back every replica serves again without a restart, and keeps
//! serving (the pools kept no broken connection).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use super::private_db::{Kind, PrivateDb};
use super::{req, Cluster, Db};

/// (when, replica, status or None for a transport error, Retry-After present)
type Event = (Instant, usize, Option<u16>, bool);

async fn worker(http: &reqwest::Client, bases: &[String], w: usize, stop: &AtomicBool, events: &Mutex<Vec<Event>>, acked: &Mutex<Vec<(usize, String)>>) {
    let p = format!("proj-restart-{w}");
    let mut i = w;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let r = i % bases.len();
        let body = json!({"payload": format!("p{i}"), "payload_content_type": "text/plain"});
        let res = req(http, Method::POST, format!("{}/v1/secrets", bases[r]), &p).json(&body).send().await;
        let ev = match res {
            Ok(resp) => {
                let s = resp.status().as_u16();
                let retry = resp.headers().contains_key("retry-after");
                if s == 201 {
                    let v: Value = resp.json().await.unwrap();
                    acked.lock().unwrap().push((w, v["secret_ref"].as_str().unwrap().rsplit('/').next().unwrap().to_string()));
                }
                (Instant::now(), r, Some(s), retry)
            }
            Err(_) => (Instant::now(), r, None, false),
        };
        let failed = ev.2 != Some(201);
        events.lock().unwrap().push(ev);
        if failed {
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn deep(http: &reqwest::Client, base: &str) -> (u16, Value) {
    let r = http.get(format!("{base}/healthcheck?deep")).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[actix_web::test]
async fn replicas_answer_503_while_the_database_restarts_then_heal() {
    let url = std::env::var("PORTCULLIS_TEST_DATABASE_URL").unwrap_or_default();
    let kind = if url.starts_with("postgres") {
        Kind::Postgres
    } else if url.starts_with("mysql") || url.starts_with("mariadb") {
        Kind::Mariadb
    } else {
        return;
    };
    let name = if matches!(kind, Kind::Postgres) { "PostgreSQL" } else { "MariaDB" };
    let Some(server) = PrivateDb::start(kind) else { return };
    let _serial = super::serial();
    let db = Db::on(&server.admin_url());
    let cluster = Cluster::new(&db.url);
    let replicas = [cluster.start("a", "", &[]), cluster.start("b", "", &[])];
    let bases: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let (stop, events, acked) = (AtomicBool::new(false), Mutex::new(Vec::new()), Mutex::new(Vec::new()));

    let load = futures_util::future::join_all((0..4).map(|w| worker(&http, &bases, w, &stop, &events, &acked)));
    let drive = async {
        actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
        let server = actix_web::rt::task::spawn_blocking(move || {
            let mut s = server;
            s.down();
            s
        })
        .await
        .unwrap();
        let down_at = Instant::now();
        // Liveness stays cheap and up; readiness names the database.
        let plain = http.get(format!("{}/healthcheck", bases[0])).send().await.unwrap();
        assert_eq!(plain.status(), 200);
        let (status, body) = deep(&http, &bases[0]).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["checks"]["database"]["ok"], false, "{body}");
        assert_eq!(body["checks"]["master_kek"]["ok"], true, "{body}");
        actix_web::rt::time::sleep(Duration::from_secs(4).saturating_sub(down_at.elapsed())).await;
        let server = actix_web::rt::task::spawn_blocking(move || {
            let mut s = server;
            s.up();
            s
        })
        .await
        .unwrap();
        let up_at = Instant::now();
        // Run until every replica has answered 30 creates in a row after the restart.
        loop {
            let healed = {
                let ev = events.lock().unwrap();
                (0..bases.len()).all(|r| {
                    let mine: Vec<_> = ev.iter().filter(|e| e.1 == r && e.0 > up_at).collect();
                    mine.len() >= 30 && mine[mine.len() - 30..].iter().all(|e| e.2 == Some(201))
                })
            };
            if healed {
                break;
            }
            assert!(up_at.elapsed() < Duration::from_secs(40), "replicas did not heal");
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
        stop.store(true, Ordering::Relaxed);
        (server, down_at, up_at)
    };
    let (_, (_server, down_at, up_at)) = futures_util::future::join(load, drive).await;

    let ev = events.into_inner().unwrap();
    let bad: Vec<_> = ev.iter().filter(|e| e.2 != Some(201) && !(e.2 == Some(503) && e.3)).collect();
    let errors: Vec<String> = replicas.iter().flat_map(|r| r.log_text().lines().filter(|l| l.contains("ERROR")).map(str::to_string).collect::<Vec<_>>()).collect();
    assert!(bad.is_empty(), "{errors:#?}\nanswers other than 201 or 503 + Retry-After: {:?}", bad.iter().map(|e| e.2).collect::<Vec<_>>());
    let n503 = ev.iter().filter(|e| e.2 == Some(503)).count();
    assert!(n503 > 0, "the outage was seen");
    let before = ev.iter().filter(|e| e.0 < down_at - Duration::from_millis(800)).count();
    assert!(before > 0 && ev.iter().filter(|e| e.0 < down_at - Duration::from_millis(800)).all(|e| e.2 == Some(201)), "served before the outage");
    let mut heal = Duration::ZERO;
    for r in 0..bases.len() {
        let first_ok = ev.iter().find(|e| e.1 == r && e.0 > up_at && e.2 == Some(201)).expect("served again").0;
        heal = heal.max(first_ok - up_at);
        // After its first success, a replica never failed again: no broken pooled connection.
        let later_bad = ev.iter().filter(|e| e.1 == r && e.0 > first_ok && e.2 != Some(201)).count();
        assert_eq!(later_bad, 0, "replica {r} failed after it healed");
    }
    let (status, body) = deep(&http, &bases[1]).await;
    assert_eq!(status, 200, "{body}");
    // Every acknowledged create is there.
    let acked = acked.into_inner().unwrap();
    for (w, id) in &acked {
        let r = req(&http, Method::GET, format!("{}/v1/secrets/{id}", bases[w % 2]), &format!("proj-restart-{w}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "acknowledged secret {id}");
    }
    eprintln!(
        "replicas db restart ({name}): {} requests, {n503} answered 503 + Retry-After, outage {:.1}s, healed {:.2}s after the database was back, {} acknowledged creates all found",
        ev.len(),
        (up_at - down_at).as_secs_f64(),
        heal.as_secs_f64(),
        acked.len()
    );
}
