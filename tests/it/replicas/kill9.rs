//! Kill -9 under load: three replicas on one database take creates, two-step uploads, consumer
//! registrations, containers and deletes from a driver that spreads requests over all of them;
//! one is SIGKILLed mid-stream. Afterwards every acknowledged (2xx) request is in the database
//! and readable through a survivor, and nothing unacknowledged is half-written.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use super::{count, req, Cluster, Db};


/// What the replicas acknowledged.
#[derive(Default)]
struct Ledger {
    /// (project, secret id, payload if one was acknowledged)
    secrets: Vec<(String, String, Option<String>)>,
    /// (project, secret id) whose DELETE was acknowledged
    deleted: Vec<(String, String)>,
    /// secret ids whose DELETE got no answer: it may or may not have been carried out
    maybe_deleted: Vec<String>,
    /// (project, secret id, resource id)
    consumers: Vec<(String, String, String)>,
    /// (project, container id, linked secret ids)
    containers: Vec<(String, String, Vec<String>)>,
    /// requests that got no 2xx (connection refused or reset by the kill, or a 5xx)
    unacknowledged: usize,
    acknowledged: usize,
}

fn id_of(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap().rsplit('/').next().unwrap().to_string()
}

struct Driver<'a> {
    http: reqwest::Client,
    bases: &'a [String],
    ledger: &'a Mutex<Ledger>,
}

impl Driver<'_> {
    /// Sends one request; Some(body) when it was acknowledged.
    async fn send(&self, r: reqwest::RequestBuilder) -> Option<Value> {
        let ok = match r.send().await {
            Ok(resp) if resp.status().is_success() => Some(resp.json::<Value>().await.unwrap_or(Value::Null)),
            Ok(resp) if resp.status().is_server_error() => None,
            Ok(resp) => panic!("unexpected answer {} from {}: {:?}", resp.status(), resp.url().clone(), resp.text().await),
            Err(_) => None,
        };
        let mut l = self.ledger.lock().unwrap();
        match ok {
            Some(_) => l.acknowledged += 1,
            None => l.unacknowledged += 1,
        }
        ok
    }

    fn req(&self, m: Method, replica: usize, path: &str, p: &str) -> reqwest::RequestBuilder {
        req(&self.http, m, format!("{}{path}", self.bases[replica % self.bases.len()]), p)
    }

    async fn worker(&self, w: usize, until: Instant) {
        let p = format!("proj-k9-{}-{}", w % 4, &uuid::Uuid::new_v4().to_string()[..8]);
        let mut full: Vec<String> = Vec::new();
        let mut i = w;
        while Instant::now() < until {
            i += 1;
            let (r, r2) = (i, i + 1);
            match i % 5 {
                0 | 3 => {
                    let payload = format!("payload-{w}-{i}");
                    let body = json!({"name": "k9", "payload": payload, "payload_content_type": "text/plain"});
                    if let Some(v) = self.send(self.req(Method::POST, r, "/v1/secrets", &p).json(&body)).await {
                        let id = id_of(&v, "secret_ref");
                        self.ledger.lock().unwrap().secrets.push((p.clone(), id.clone(), Some(payload)));
                        full.push(id);
                    }
                }
                1 => {
                    let Some(v) = self.send(self.req(Method::POST, r, "/v1/secrets", &p).json(&json!({"name": "two-step"}))).await else { continue };
                    let id = id_of(&v, "secret_ref");
                    let payload = format!("later-{w}-{i}");
                    let put = self.req(Method::PUT, r2, &format!("/v1/secrets/{id}"), &p).header("Content-Type", "text/plain").body(payload.clone());
                    let acked = self.send(put).await.is_some();
                    self.ledger.lock().unwrap().secrets.push((p.clone(), id, acked.then_some(payload)));
                }
                2 => {
                    let Some(s) = full.last().cloned() else { continue };
                    let rid = format!("vm-{w}-{i}");
                    let body = json!({"service": "nova", "resource_type": "instance", "resource_id": rid});
                    if self.send(self.req(Method::POST, r, &format!("/v1/secrets/{s}/consumers"), &p).json(&body)).await.is_some() {
                        self.ledger.lock().unwrap().consumers.push((p.clone(), s, rid));
                    }
                }
                _ => {
                    if full.len() >= 2 {
                        let (a, b) = (full[full.len() - 2].clone(), full[full.len() - 1].clone());
                        let base = super::HREF;
                        let refs = json!([{"name": "a", "secret_ref": format!("{base}/v1/secrets/{a}")},
                                          {"name": "b", "secret_ref": format!("{base}/v1/secrets/{b}")}]);
                        let body = json!({"type": "generic", "name": "k9", "secret_refs": refs});
                        if let Some(v) = self.send(self.req(Method::POST, r, "/v1/containers", &p).json(&body)).await {
                            self.ledger.lock().unwrap().containers.push((p.clone(), id_of(&v, "container_ref"), vec![a, b]));
                        }
                    }
                    // A secret created to be deleted (on another replica).
                    let body = json!({"payload": "doomed", "payload_content_type": "text/plain"});
                    let Some(v) = self.send(self.req(Method::POST, r2, "/v1/secrets", &p).json(&body)).await else { continue };
                    let id = id_of(&v, "secret_ref");
                    self.ledger.lock().unwrap().secrets.push((p.clone(), id.clone(), Some("doomed".into())));
                    if self.send(self.req(Method::DELETE, r, &format!("/v1/secrets/{id}"), &p)).await.is_some() {
                        self.ledger.lock().unwrap().deleted.push((p.clone(), id));
                    } else {
                        self.ledger.lock().unwrap().maybe_deleted.push(id);
                    }
                }
            }
        }
    }
}

#[actix_web::test]
async fn acknowledged_requests_survive_a_replica_killed_under_load() {
    let Some(db) = Db::fresh() else { return };
    let _serial = super::serial();
    let cluster = Cluster::new(&db.url);
    let mut replicas: Vec<_> = ["r0", "r1", "r2"].iter().map(|n| cluster.start(n, "", &[])).collect();
    let bases: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();
    let ledger = Mutex::new(Ledger::default());
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let driver = Driver { http: http.clone(), bases: &bases, ledger: &ledger };
    let until = Instant::now() + Duration::from_secs(5);
    let load = futures_util::future::join_all((0..12).map(|w| driver.worker(w, until)));
    let kill = async {
        actix_web::rt::time::sleep(Duration::from_millis(2000)).await;
        let before = ledger.lock().unwrap().acknowledged;
        replicas[1].kill9();
        before
    };
    let (_, acked_before_kill) = futures_util::future::join(load, kill).await;
    let l = ledger.into_inner().unwrap();

    // Every acknowledged request, read back through a survivor.
    let survivor = |i: usize| if i % 2 == 0 { &bases[0] } else { &bases[2] };
    let mut checked = 0;
    let mut lost = Vec::new();
    let mut unanswered_deletes_done = 0;
    for (i, (p, id, payload)) in l.secrets.iter().enumerate() {
        let deleted = l.deleted.iter().any(|(_, d)| d == id);
        let meta = req(&http, Method::GET, format!("{}/v1/secrets/{id}", survivor(i)), p).send().await.unwrap();
        checked += 1;
        if deleted {
            if meta.status() != 404 {
                lost.push(format!("deleted secret {id} answers {}", meta.status()));
            }
            continue;
        }
        if meta.status() == 404 && l.maybe_deleted.contains(id) {
            // Its unanswered DELETE was carried out: the row is there, soft-deleted.
            let sql = format!("SELECT COUNT(*) AS n FROM secrets WHERE id = '{id}' AND deleted_at IS NOT NULL");
            if count(&mut db.conn(), &sql) != 1 {
                lost.push(format!("secret {id}: 404 and no deleted row"));
            }
            unanswered_deletes_done += 1;
            continue;
        }
        if meta.status() != 200 {
            lost.push(format!("secret {id}: {}", meta.status()));
            continue;
        }
        if let Some(want) = payload {
            checked += 1;
            let got = req(&http, Method::GET, format!("{}/v1/secrets/{id}/payload", survivor(i + 1)), p)
                .header("Accept", "text/plain")
                .send()
                .await
                .unwrap();
            let status = got.status();
            let text = got.text().await.unwrap();
            if status != 200 || &text != want {
                lost.push(format!("payload of {id}: {status} {text:?}"));
            }
        }
    }
    for (i, (p, s, rid)) in l.consumers.iter().enumerate() {
        checked += 1;
        let v: Value = req(&http, Method::GET, format!("{}/v1/secrets/{s}/consumers", survivor(i)), p).send().await.unwrap().json().await.unwrap();
        if !v["consumers"].as_array().unwrap().iter().any(|c| c["resource_id"] == rid.as_str()) {
            lost.push(format!("consumer {rid} of {s}"));
        }
    }
    for (i, (p, c, links)) in l.containers.iter().enumerate() {
        checked += 1;
        let r = req(&http, Method::GET, format!("{}/v1/containers/{c}", survivor(i)), p).send().await.unwrap();
        let v: Value = if r.status() == 200 { r.json().await.unwrap() } else { Value::Null };
        let refs = v["secret_refs"].as_array().map(Vec::len).unwrap_or(0);
        if refs != links.len() {
            lost.push(format!("container {c}: {refs} links"));
        }
    }

    // Nothing half-written, acknowledged or not.
    let mut conn = db.conn();
    let half = [
        ("secrets claiming a payload without ciphertext", "SELECT COUNT(*) AS n FROM secrets WHERE deleted_at IS NULL AND content_type IS NOT NULL AND (cypher_text IS NULL OR kek_id IS NULL)"),
        ("ciphertext without a content type", "SELECT COUNT(*) AS n FROM secrets WHERE content_type IS NULL AND cypher_text IS NOT NULL"),
        ("deleted secrets keeping ciphertext", "SELECT COUNT(*) AS n FROM secrets WHERE deleted_at IS NOT NULL AND cypher_text IS NOT NULL"),
        ("containers without both links", "SELECT COUNT(*) AS n FROM containers c WHERE c.deleted_at IS NULL AND (SELECT COUNT(*) FROM container_secrets l WHERE l.container_id = c.id AND l.deleted_at IS NULL) <> 2"),
        ("links to missing secrets", "SELECT COUNT(*) AS n FROM container_secrets l WHERE NOT EXISTS (SELECT 1 FROM secrets s WHERE s.id = l.secret_id)"),
        ("consumers of missing secrets", "SELECT COUNT(*) AS n FROM secret_consumers c WHERE NOT EXISTS (SELECT 1 FROM secrets s WHERE s.id = c.secret_id)"),
        ("secret counts off", "SELECT COUNT(*) AS n FROM (SELECT project_id, SUM(live) AS s FROM secret_counts GROUP BY project_id) c \
           LEFT JOIN (SELECT project_id, COUNT(*) AS k FROM secrets WHERE deleted_at IS NULL GROUP BY project_id) s ON s.project_id = c.project_id \
           WHERE COALESCE(s.k, 0) <> c.s"),
        ("secrets outside the counts", "SELECT COUNT(*) AS n FROM secrets s WHERE s.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM secret_counts c WHERE c.project_id = s.project_id)"),
    ];
    for (what, sql) in half {
        assert_eq!(count(&mut conn, sql), 0, "{what}");
    }
    let acked = l.acknowledged;
    eprintln!(
        "replicas kill -9 ({}): acknowledged {acked} ({acked_before_kill} before the kill), unacknowledged {}, \
         checked afterwards {checked} (of which {unanswered_deletes_done} secrets whose unanswered DELETE had been carried out), lost {}",
        if db.is_postgres() { "PostgreSQL" } else { "MariaDB" },
        l.unacknowledged,
        lost.len()
    );
    assert!(lost.is_empty(), "acknowledged but lost: {lost:#?}");
    assert!(acked > acked_before_kill + 50, "load went on after the kill: {acked} vs {acked_before_kill}");
    assert!(l.unacknowledged > 0, "the killed replica refused requests");
}
