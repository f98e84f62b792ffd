//! The first writes of a new project, at once: the project row is created by whichever request
//! comes first, and the others neither fail nor abort their transaction (PostgreSQL aborts a
//! transaction on a unique violation, even one the code catches).

use crate::common;
use std::sync::{Arc, Barrier};

use diesel::prelude::*;
use reqwest::Method;
use serde_json::{json, Value};

/// 20 concurrent first creates (secrets under a limited quota, so each takes the project's lock)
/// in a fresh project all succeed.
#[actix_web::test]
async fn twenty_concurrent_first_creates_all_succeed() {
    let s = common::start_with(|cfg| {
        cfg.quotas.quota_secrets = 1000;
        cfg.default.sql_pool_size = 20;
    })
    .await;
    let p = common::project();
    let sends = (0..20).map(|i| {
        s.req(Method::POST, "/v1/secrets", &p)
            .json(&json!({"name": format!("s{i}"), "payload": "x", "payload_content_type": "text/plain"}))
            .send()
    });
    let results = futures_util::future::join_all(sends).await;
    for r in results {
        let r = r.unwrap();
        let st = r.status();
        assert_eq!(st, 201, "{:?}", r.text().await);
    }
    let l: Value = s.req(Method::GET, "/v1/secrets", &p).send().await.unwrap().json().await.unwrap();
    assert_eq!(l["total"], 20);
}

/// The project lock that quota checks take inside their transaction creates a missing project
/// row: 20 transactions doing it at once for one new project all commit.
#[actix_web::test]
async fn project_lock_creates_the_row_without_aborting_the_transaction() {
    let s = common::start().await;
    let store = portcullis::store::Store::open(&portcullis::store::DbUrl::parse(&s.db_url).unwrap(), 20).unwrap();
    let p = common::project();
    let barrier = Arc::new(Barrier::new(20));
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let (store, p, barrier) = (store.clone(), p.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut conn = store.conn().unwrap();
                barrier.wait();
                conn.transaction(|c| {
                    portcullis::store::quotas::lock_project(c, &p)?;
                    // Any statement after it: fails if the transaction was aborted.
                    portcullis::store::quotas::lock_project(c, &p)
                })
                .map_err(|e| e.to_string())
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap().expect("transaction commits");
    }
    use portcullis::store::schema::projects;
    let n: i64 = projects::table.filter(projects::external_id.eq(&p)).count().get_result(&mut *store.conn().unwrap()).unwrap();
    assert_eq!(n, 1);
}
