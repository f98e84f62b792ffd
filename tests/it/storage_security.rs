//! What ends up in the database (SQLite only: these tests read the database file directly).
//!
//! Skipped when `PORTCULLIS_TEST_DATABASE_URL` names another backend.

use crate::common;
use base64::Engine;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use portcullis::store::{DbConn, DbUrl};
use reqwest::Method;
use serde_json::json;

fn sqlite_only() -> bool {
    match std::env::var("PORTCULLIS_TEST_DATABASE_URL") {
        Ok(u) if !u.trim().is_empty() && !u.trim().to_ascii_lowercase().starts_with("sqlite") => {
            eprintln!("skipped: SQLite-only test, PORTCULLIS_TEST_DATABASE_URL is another backend");
            false
        }
        _ => true,
    }
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

fn db_path(s: &common::TestServer) -> std::path::PathBuf {
    let u = DbUrl::parse(&s.db_url).unwrap();
    std::path::PathBuf::from(u.driver_url)
}

/// The database file and its WAL/SHM companions, concatenated.
fn db_bytes(s: &common::TestServer) -> Vec<u8> {
    let path = db_path(s);
    let mut all = std::fs::read(&path).expect("database file");
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut p = path.clone().into_os_string();
        p.push(suffix);
        if let Ok(b) = std::fs::read(&p) {
            all.extend_from_slice(&b);
        }
    }
    all
}

fn sqlite(s: &common::TestServer) -> diesel::SqliteConnection {
    match DbUrl::parse(&s.db_url).unwrap().establish().expect("connect") {
        DbConn::Sqlite(c) => c,
        _ => unreachable!("SQLite only"),
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(c: &mut diesel::SqliteConnection, sql: &str, bind: Option<&str>) -> i64 {
    let q = diesel::sql_query(sql);
    let rows: Vec<Count> = match bind {
        Some(b) => q.bind::<Text, _>(b).load(c),
        None => q.load(c),
    }
    .expect("count query");
    rows[0].n
}

/// The master KEK bytes from the development key file (`VERSION:BASE64` lines).
fn master_keys(path: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let text = std::fs::read_to_string(path).expect("kek file");
    let keys: Vec<(String, Vec<u8>)> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (_, k) = l.split_once(':').expect("VERSION:BASE64");
            (k.trim().to_string(), base64::engine::general_purpose::STANDARD.decode(k.trim()).expect("base64"))
        })
        .collect();
    assert!(!keys.is_empty());
    for (_, k) in &keys {
        assert_eq!(k.len(), 32);
    }
    keys
}

#[actix_web::test]
async fn no_plaintext_or_master_kek_in_the_database_file() {
    if !sqlite_only() {
        return;
    }
    let s = common::start().await;
    let p = common::project();
    let text = format!("PORTCULLIS-CANARY-TEXT-{}", uuid::Uuid::new_v4().simple());
    let binary = format!("PORTCULLIS-CANARY-BIN-{}", uuid::Uuid::new_v4().simple()).into_bytes();
    let two_step = format!("PORTCULLIS-CANARY-PUT-{}", uuid::Uuid::new_v4().simple());
    s.create_secret(&p, json!({"payload": text, "payload_content_type": "text/plain"})).await;
    s.create_secret(&p, json!({"payload": b64(&binary), "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"}))
        .await;
    let id = s.create_secret(&p, json!({"name": "two-step"})).await;
    let r = s.req(Method::PUT, &format!("/v1/secrets/{id}"), &p).header("Content-Type", "text/plain").body(two_step.clone()).send().await.unwrap();
    assert_eq!(r.status(), 204);
    // The payloads do decrypt: they are stored.
    let r = s.req(Method::GET, &format!("/v1/secrets/{id}/payload"), &p).header("Accept", "text/plain").send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), two_step);

    let db = db_bytes(&s);
    assert!(contains(&db, b"two-step"), "sanity: the file is the server's database");
    for plain in [text.as_bytes(), &binary, two_step.as_bytes()] {
        assert!(!contains(&db, plain), "plaintext payload found in the database");
        assert!(!contains(&db, b64(plain).as_bytes()), "base64 of a payload found in the database");
    }
    for (k64, k) in master_keys(&s.kek_file) {
        assert!(!contains(&db, &k), "master KEK bytes found in the database");
        assert!(!contains(&db, k64.as_bytes()), "master KEK base64 found in the database");
    }
}

#[actix_web::test]
async fn ciphertext_moved_to_another_row_does_not_decrypt() {
    if !sqlite_only() {
        return;
    }
    let s = common::start().await;
    let p = common::project();
    let donor_text = format!("DONOR-{}", uuid::Uuid::new_v4().simple());
    let donor = s.create_secret(&p, json!({"payload": donor_text, "payload_content_type": "text/plain"})).await;
    let victim = s.create_secret(&p, json!({"payload": "victim payload", "payload_content_type": "text/plain"})).await;

    let mut c = sqlite(&s);
    let n = diesel::sql_query(
        "UPDATE secrets SET cypher_text = (SELECT cypher_text FROM secrets WHERE id = ?), \
         kek_id = (SELECT kek_id FROM secrets WHERE id = ?) WHERE id = ?",
    )
    .bind::<Text, _>(&donor)
    .bind::<Text, _>(&donor)
    .bind::<Text, _>(&victim)
    .execute(&mut c)
    .expect("swap ciphertext");
    assert_eq!(n, 1);

    for accept in ["text/plain", "application/octet-stream", "*/*"] {
        let r = s.req(Method::GET, &format!("/v1/secrets/{victim}/payload"), &p).header("Accept", accept).send().await.unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_eq!(status, 500, "{accept}: {body}");
        assert!(!body.contains(&donor_text), "the donor's plaintext leaked");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap(),
            json!({"code": 500, "title": "Internal Server Error",
                   "description": "Secret payload retrieval failure seen - please contact site administrator."})
        );
    }
    // The legacy download path fails the same way, under its own operation name.
    let r = s.req(Method::GET, &format!("/v1/secrets/{victim}"), &p).header("Accept", "text/plain").send().await.unwrap();
    common::assert_error(r, 500, "Internal Server Error", Some("Secret retrieval failure seen - please contact site administrator.")).await;
    // The donor itself is intact.
    let r = s.req(Method::GET, &format!("/v1/secrets/{donor}/payload"), &p).header("Accept", "text/plain").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), donor_text);
}

#[actix_web::test]
async fn bad_input_leaves_the_store_unchanged() {
    if !sqlite_only() {
        return;
    }
    let s = common::start().await;
    let owner = common::project();
    let existing = s.create_secret(&owner, json!({"name": "existing"})).await;
    let p = common::project(); // a project the store has never seen
    let mut c = sqlite(&s);
    let snapshot = |c: &mut diesel::SqliteConnection| {
        (
            count(c, "SELECT COUNT(*) AS n FROM secrets", None),
            count(c, "SELECT COUNT(*) AS n FROM projects", None),
            count(c, "SELECT COUNT(*) AS n FROM project_keks", None),
            count(c, "SELECT COUNT(*) AS n FROM secrets WHERE cypher_text IS NOT NULL", None),
        )
    };
    let before = snapshot(&mut c);
    assert_eq!(before.0, 1);

    let json_post = |body: String| s.req(Method::POST, "/v1/secrets", &p).header("Content-Type", "application/json").body(body);
    let past = json!({"expiration": "2001-01-01T00:00:00", "payload": "x", "payload_content_type": "text/plain"}).to_string();
    let cases: Vec<(&str, reqwest::RequestBuilder, u16)> = vec![
        ("malformed JSON", json_post("{\"payload\": ".into()), 400),
        ("oversize body", json_post(json!({"payload": "a".repeat(30000), "payload_content_type": "text/plain"}).to_string()), 400),
        ("oversize payload", json_post(json!({"payload": "a".repeat(20001), "payload_content_type": "text/plain"}).to_string()), 413),
        (
            "invalid base64",
            json_post(json!({"payload": "abc", "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"}).to_string()),
            400,
        ),
        ("past expiration", json_post(past), 400),
        ("unsupported payload content type", json_post(json!({"payload": "x", "payload_content_type": "application/json"}).to_string()), 400),
        (
            "unsupported request content type",
            s.req(Method::POST, "/v1/secrets", &p).header("Content-Type", "text/plain").body(json!({"payload": "x", "payload_content_type": "text/plain"}).to_string()),
            415,
        ),
        ("non-UUID id (PUT)", s.req(Method::PUT, "/v1/secrets/not-a-uuid", &p).header("Content-Type", "text/plain").body("x"), 404),
        ("non-UUID id (DELETE)", s.req(Method::DELETE, &format!("/v1/secrets/{}", existing.to_uppercase()), &owner), 404),
        (
            "PUT with a wrong content type",
            s.req(Method::PUT, &format!("/v1/secrets/{existing}"), &owner).header("Content-Type", "application/json").body("{}"),
            415,
        ),
        (
            "PUT with an unknown encoding",
            s.req(Method::PUT, &format!("/v1/secrets/{existing}"), &owner)
                .header("Content-Type", "application/octet-stream")
                .header("Content-Encoding", "gzip")
                .body("x"),
            400,
        ),
        (
            "PUT too large",
            s.req(Method::PUT, &format!("/v1/secrets/{existing}"), &owner).header("Content-Type", "text/plain").body("a".repeat(20001)),
            413,
        ),
    ];
    for (what, rb, status) in cases {
        let r = rb.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{what}");
        assert_eq!(snapshot(&mut c), before, "store changed by: {what}");
    }
}

#[actix_web::test]
async fn delete_erases_the_ciphertext() {
    if !sqlite_only() {
        return;
    }
    let s = common::start().await;
    let p = common::project();
    let id = s.create_secret(&p, json!({"payload": "to be erased", "payload_content_type": "text/plain"})).await;
    let keep = s.create_secret(&p, json!({"payload": "to be kept", "payload_content_type": "text/plain"})).await;
    let mut c = sqlite(&s);
    let with_ct = "SELECT COUNT(*) AS n FROM secrets WHERE id = ? AND cypher_text IS NOT NULL";
    assert_eq!(count(&mut c, with_ct, Some(&id)), 1);
    let r = s.req(Method::DELETE, &format!("/v1/secrets/{id}"), &p).send().await.unwrap();
    assert_eq!(r.status(), 204);
    // The row stays (soft delete) but the ciphertext is gone.
    assert_eq!(count(&mut c, "SELECT COUNT(*) AS n FROM secrets WHERE id = ? AND deleted_at IS NOT NULL", Some(&id)), 1);
    assert_eq!(count(&mut c, "SELECT COUNT(*) AS n FROM secrets WHERE id = ? AND cypher_text IS NULL", Some(&id)), 1);
    assert_eq!(count(&mut c, with_ct, Some(&keep)), 1, "other secrets untouched");
}
