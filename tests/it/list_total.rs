//! The unfiltered secrets list's total comes from the trigger-kept `secret_counts` (less the
//! live ones already expired), not from counting the project's rows: it must stay the count of
//! live, unexpired secrets through creates, deletes, expiry and writes made in SQL (any
//! backend).

use crate::common;

use diesel::prelude::*;
use portcullis::store::schema::secrets;
use portcullis::store::{DbUrl, Store};
use reqwest::Method;
use serde_json::{json, Value};

async fn total(s: &common::TestServer, p: &str, query: &str) -> i64 {
    let v: Value = s.req(Method::GET, &format!("/v1/secrets?limit=1{query}"), p).send().await.unwrap().json().await.unwrap();
    v["total"].as_i64().unwrap()
}

fn counted(store: &Store, p: &str) -> (i64, i64) {
    let mut c = store.conn().unwrap();
    let now = portcullis::store::now_micros();
    (
        portcullis::store::secrets::live_unexpired(&mut c, p, now).unwrap(),
        portcullis::store::secrets::count_live_rows(&mut c, p).unwrap(),
    )
}

#[actix_web::test]
async fn the_total_follows_creates_deletes_expiry_and_sql_writes() {
    let s = common::start().await;
    let store = Store::open(&DbUrl::parse(&s.db_url).unwrap(), 2).unwrap();
    let (p, other) = (common::project(), common::project());
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(s.create_secret(&p, json!({"name": format!("t{i}"), "payload": "x", "payload_content_type": "text/plain"})).await);
    }
    s.create_secret(&other, json!({"name": "o"})).await;
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).format("%Y-%m-%dT%H:%M:%S").to_string();
    s.create_secret(&p, json!({"name": "soon", "expiration": soon})).await;
    assert_eq!(total(&s, &p, "").await, 7);
    assert_eq!(counted(&store, &p), (7, 7));

    for id in &ids[..2] {
        let r = s.req(Method::DELETE, &format!("/v1/secrets/{id}"), &p).send().await.unwrap();
        assert_eq!(r.status(), 204);
    }
    assert_eq!(total(&s, &p, "").await, 5);
    assert_eq!(total(&s, &other, "").await, 1);

    // Expiry needs no write: the expired one leaves the total by itself.
    tokio::time::sleep(std::time::Duration::from_millis(2600)).await;
    assert_eq!(total(&s, &p, "").await, 4);
    assert_eq!(counted(&store, &p), (4, 4));
    // A filtered list still counts its rows; the same rows here.
    assert_eq!(total(&s, &p, "&name=t%25").await, 4);

    // SQL writes that touch only expired rows leave the total as it is while the live count
    // moves: a server that keeps the expired count must see them (the project's version moves).
    {
        let mut c = store.conn().unwrap();
        let long_ago = portcullis::store::now_micros() - 3_600_000_000;
        diesel::insert_into(secrets::table)
            .values((
                secrets::id.eq(uuid::Uuid::new_v4().to_string()),
                secrets::project_id.eq(&p),
                secrets::secret_type.eq("opaque"),
                secrets::status.eq("ACTIVE"),
                secrets::expiration.eq(Some(long_ago)),
                secrets::created_at.eq(long_ago),
                secrets::updated_at.eq(long_ago),
            ))
            .execute(&mut *c)
            .unwrap();
    }
    assert_eq!(total(&s, &p, "").await, 4, "an expired row imported in SQL");
    {
        let mut c = store.conn().unwrap();
        diesel::update(secrets::table.filter(secrets::project_id.eq(&p)).filter(secrets::name.eq("soon")))
            .set(secrets::deleted_at.eq(Some(portcullis::store::now_micros())))
            .execute(&mut *c)
            .unwrap();
    }
    assert_eq!(total(&s, &p, "").await, 4, "the expired one deleted in SQL");
    assert_eq!(counted(&store, &p), (4, 4));

    // Writes made in SQL (an operator's fix, a restore) are counted by the triggers too.
    let mut c = store.conn().unwrap();
    let now = portcullis::store::now_micros();
    diesel::update(secrets::table.filter(secrets::id.eq(&ids[0]))).set(secrets::deleted_at.eq(None::<i64>)).execute(&mut *c).unwrap();
    assert_eq!(counted(&store, &p), (5, 5));
    diesel::update(secrets::table.filter(secrets::id.eq(&ids[2]))).set(secrets::deleted_at.eq(Some(now))).execute(&mut *c).unwrap();
    diesel::delete(secrets::table.filter(secrets::id.eq(&ids[3]))).execute(&mut *c).unwrap();
    // Deleting an already deleted row changes nothing.
    diesel::delete(secrets::table.filter(secrets::id.eq(&ids[1]))).execute(&mut *c).unwrap();
    // An update that does not touch deletion changes nothing either.
    diesel::update(secrets::table.filter(secrets::id.eq(&ids[4]))).set(secrets::name.eq(Some("renamed"))).execute(&mut *c).unwrap();
    drop(c);
    assert_eq!(counted(&store, &p), (3, 3));
    assert_eq!(total(&s, &p, "").await, 3);
    assert_eq!(total(&s, &other, "").await, 1);
}

/// Concurrent creates and deletes in one project (on PostgreSQL/MySQL spread over shards):
/// the total stays exact.
#[actix_web::test]
async fn the_total_stays_exact_under_concurrent_writes() {
    let s = common::start_with(|cfg| cfg.default.sql_pool_size = 8).await;
    let p = common::project();
    let creates = (0..60).map(|i| {
        s.req(Method::POST, "/v1/secrets", &p).json(&json!({"name": format!("c{i}")})).send()
    });
    let mut ids = Vec::new();
    for r in futures_util::future::join_all(creates).await {
        let r = r.unwrap();
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.unwrap();
        ids.push(v["secret_ref"].as_str().unwrap().rsplit('/').next().unwrap().to_string());
    }
    let deletes = ids[..25].iter().map(|id| s.req(Method::DELETE, &format!("/v1/secrets/{id}"), &p).send());
    let more = (0..15).map(|i| s.req(Method::POST, "/v1/secrets", &p).json(&json!({"name": format!("d{i}")})).send());
    let (d, m) = futures_util::future::join(futures_util::future::join_all(deletes), futures_util::future::join_all(more)).await;
    assert!(d.iter().all(|r| r.as_ref().unwrap().status() == 204));
    assert!(m.iter().all(|r| r.as_ref().unwrap().status() == 201));
    assert_eq!(total(&s, &p, "").await, 60 - 25 + 15);
}
