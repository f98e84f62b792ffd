//! Orders (§5.8): an order row is created PENDING under the `orders` quota, then processed into
//! a symmetric key secret (`key`) or an RSA key pair in an `rsa` container (`asymmetric`), and
//! left ACTIVE, or ERROR with Barbican's `error_status_code` and `error_reason`.
//!
//! Symmetric keys are cheap and are made inside the request (on the blocking pool), RSA keys on
//! the key-generation queue ([`super::keygen_queue`]: bounded, fair between projects), which the
//! request waits for up to a time budget. Orders left PENDING by a crash or a shutdown are
//! queued again at start ([`recover`]). Finishing an order is conditional on it still being
//! PENDING, in the transaction that stores what it generated, so a second worker on the same
//! order (a restart racing a replica) rolls back instead of duplicating.
//!
//! An asymmetric order's `passphrase` never reaches the stored meta: it is sealed under the
//! project KEK in the order's own columns while the order runs, and cleared when it ends.

use crate::service::Missing;
use std::sync::Arc;

use chrono::NaiveDateTime;
use diesel::Connection;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::keygen_queue::Ticket;
use super::quotas::{self, Resource};
use super::{secrets, Core, ServiceError, ServiceResult};
use crate::crypto::{self, keygen};
use crate::model::{Page, Secret, OCTET_STREAM, PKCS8, TEXT_PLAIN};
use crate::store::orders::{self as repo, OrderRow, PENDING};
use crate::store::{containers, now, DbConn};


/// The operation name Barbican's worker reports failures under.
const OP: &str = "Process TypeOrder";

/// Symmetric algorithms the reference generates (compared lowercased).
const SYMMETRIC_ALGORITHMS: [&str; 6] = ["aes", "des", "hmacsha1", "hmacsha256", "hmacsha384", "hmacsha512"];
/// Symmetric key lengths (after halving for XTS).
const SYMMETRIC_BITS: [i64; 4] = [64, 128, 192, 256];

/// Meta `expiration` as stored: normalised UTC with microseconds.
pub const META_TS_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6f";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderType {
    Key,
    Asymmetric,
}

impl OrderType {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderType::Key => "key",
            OrderType::Asymmetric => "asymmetric",
        }
    }
}

/// A validated order to create; `meta` is the validated meta object (with `name` and
/// `expiration` normalised).
pub struct NewOrder {
    pub id: String,
    pub project_id: String,
    pub creator_id: Option<String>,
    pub order_type: OrderType,
    pub meta: Map<String, Value>,
}

/// Creates the PENDING order row under the project's `orders` quota; an asymmetric order's
/// passphrase is sealed apart from the meta.
pub fn create(core: &Core, o: &NewOrder) -> ServiceResult<()> {
    let mut meta = o.meta.clone();
    let passphrase = take_passphrase(o.order_type.as_str(), &mut meta);
    let meta = serde_json::to_string(&meta).map_err(|e| ServiceError::Internal(e.to_string()))?;
    let mut conn = core.conn()?;
    core.ensure_project(&mut conn, &o.project_id)?;
    let sealed = match &passphrase {
        Some(p) => Some(seal_passphrase(core, &mut conn, &o.id, &o.project_id, p)?),
        None => None,
    };
    conn.transaction(|c| {
        quotas::enforce(c, &core.quotas, &o.project_id, Resource::Orders, |c| repo::count_live(c, &o.project_id))?;
        repo::insert(
            c,
            &repo::NewOrder {
                id: &o.id,
                project_id: &o.project_id,
                creator_id: o.creator_id.as_deref(),
                order_type: o.order_type.as_str(),
                meta: &meta,
                created_at: now(),
                passphrase: sealed.as_ref().map(|(k, c)| (k.as_str(), c.as_slice())),
            },
        )?;
        Ok(())
    })
}

/// A live order of the project (another project's order is not found either).
pub fn get(core: &Core, id: &str, project: &str) -> ServiceResult<OrderRow> {
    repo::get(&mut *core.conn()?, id, project)?.ok_or(ServiceError::NotFound(Missing::Order))
}

pub fn list(core: &Core, project: &str, meta_needle: Option<&str>, page: Page) -> ServiceResult<(Vec<OrderRow>, i64)> {
    Ok(repo::list(&mut *core.conn()?, project, meta_needle, page)?)
}

pub fn delete(core: &Core, id: &str, project: &str) -> ServiceResult<()> {
    if repo::delete(&mut *core.conn()?, id, project)? {
        Ok(())
    } else {
        Err(ServiceError::NotFound(Missing::Order))
    }
}

// ---- the passphrase ------------------------------------------------------------------------

/// Removes `passphrase` from the meta; returns it when the order will use it (an asymmetric
/// order with a truthy one, as Barbican's worker reads it).
fn take_passphrase(order_type: &str, meta: &mut Map<String, Value>) -> Option<Value> {
    let v = meta.remove("passphrase")?;
    (order_type == OrderType::Asymmetric.as_str() && truthy(&v)).then_some(v)
}

/// Seals the JSON of a passphrase under the project's active KEK: (KEK id, sealed bytes).
fn seal_passphrase(core: &Core, conn: &mut DbConn, order_id: &str, project: &str, v: &Value) -> ServiceResult<(String, Vec<u8>)> {
    let plain = Zeroizing::new(serde_json::to_vec(v).map_err(|e| ServiceError::Internal(e.to_string()))?);
    let (kek_id, cipher) = core.keys.active_kek(conn, project)?;
    let sealed = cipher
        .seal(&plain, &crypto::order_passphrase_aad(order_id, project, &kek_id))
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    Ok((kek_id, sealed))
}

/// The sealed passphrase of a running order, opened.
fn open_passphrase(core: &Core, conn: &mut DbConn, o: &OrderRow) -> ServiceResult<Option<Value>> {
    let Some((kek_id, sealed)) = repo::passphrase(conn, &o.id)? else { return Ok(None) };
    let cipher = core.keys.kek(conn, &o.project_id, &kek_id)?;
    let plain = cipher
        .open(&sealed, &crypto::order_passphrase_aad(&o.id, &o.project_id, &kek_id))
        .map_err(|e| ServiceError::Internal(format!("order {}: the passphrase does not decrypt: {e}", o.id)))?;
    serde_json::from_slice(&plain).map(Some).map_err(|_| ServiceError::Internal(format!("order {}: sealed passphrase is not JSON", o.id)))
}

/// At start: an earlier version kept the passphrase in the order's meta. Every such meta loses
/// it; a running asymmetric order gets it sealed instead. Then the sealed passphrases of orders
/// no longer running are deleted. Returns how many orders changed.
pub fn seal_legacy_passphrases(core: &Core) -> ServiceResult<usize> {
    let mut conn = core.conn()?;
    let rows = repo::with_meta_text(&mut conn, "\"passphrase\"")?;
    let mut changed = 0;
    for (id, project, order_type, status, meta) in rows {
        let Ok(mut m) = serde_json::from_str::<Map<String, Value>>(&meta) else { continue };
        if !m.contains_key("passphrase") {
            continue; // the text was inside another value
        }
        let used = take_passphrase(&order_type, &mut m).filter(|_| status == PENDING);
        let text = serde_json::to_string(&m).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let sealed = match &used {
            Some(p) => {
                core.ensure_project(&mut conn, &project)?;
                Some(seal_passphrase(core, &mut conn, &id, &project, p)?)
            }
            None => None,
        };
        repo::rewrite_meta(&mut conn, &id, &text, sealed.as_ref().map(|(k, c)| (k.as_str(), c.as_slice())))?;
        changed += 1;
    }
    if changed > 0 {
        tracing::warn!(orders = changed, "order passphrases moved out of meta");
    }
    repo::purge_ended_passphrases(&mut conn)?;
    Ok(changed)
}

// ---- processing ----------------------------------------------------------------------------

/// Why an order failed, as Barbican's worker reports it.
#[derive(Debug)]
enum Failure {
    /// A known error: `"400"`, `Process TypeOrder issue seen - {msg}.`
    Issue(&'static str),
    /// Anything else: `"500"`, `Process TypeOrder failure seen - please contact site
    /// administrator.`; the detail is only logged.
    Internal(String),
}

impl Failure {
    fn code_and_reason(&self) -> (u16, String) {
        match self {
            Failure::Issue(m) => (400, format!("{OP} issue seen - {m}.")),
            Failure::Internal(_) => (500, format!("{OP} failure seen - please contact site administrator.")),
        }
    }
}

/// What processing reads from the stored meta.
struct Spec {
    algorithm: String,
    bit_length: i64,
    mode: Option<String>,
    name: Option<String>,
    expiration: Option<NaiveDateTime>,
    content_type: &'static str,
    passphrase: Option<Zeroizing<String>>,
}

/// `sealed_passphrase`: the order's opened passphrase (a row written before passphrases were
/// sealed may still hold it in its meta, until [`seal_legacy_passphrases`] runs).
fn spec(o: &OrderRow, sealed_passphrase: Option<Value>) -> Result<Spec, Failure> {
    let bad = |what: &str| Failure::Internal(format!("order {}: stored meta {what}", o.id));
    let meta: Map<String, Value> = serde_json::from_str(&o.meta).map_err(|_| bad("is not a JSON object"))?;
    let opt_str = |k: &str| -> Result<Option<String>, Failure> {
        match meta.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(&format!("'{k}' is not a string"))),
        }
    };
    let algorithm = opt_str("algorithm")?.filter(|a| !a.is_empty()).ok_or_else(|| bad("has no algorithm"))?;
    let bit_length = meta
        .get("bit_length")
        .and_then(Value::as_f64)
        .filter(|f| f.fract() == 0.0 && *f >= 1.0 && *f <= 32767.0)
        .map(|f| f as i64)
        .ok_or_else(|| bad("has no valid bit_length"))?;
    let expiration = match opt_str("expiration")? {
        None => None,
        Some(e) => Some(
            NaiveDateTime::parse_from_str(&e, "%Y-%m-%dT%H:%M:%S%.f").map_err(|_| bad("has an invalid expiration"))?,
        ),
    };
    let content_type = match opt_str("payload_content_type")? {
        None => OCTET_STREAM,
        Some(ct) => {
            let media = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            match media.as_str() {
                TEXT_PLAIN => TEXT_PLAIN,
                PKCS8 => PKCS8,
                _ => OCTET_STREAM,
            }
        }
    };
    // Barbican encrypts the key under any truthy passphrase; a non-string one makes it fail.
    let passphrase = sealed_passphrase.or_else(|| meta.get("passphrase").cloned());
    let passphrase = match passphrase.as_ref().filter(|v| truthy(v)) {
        None => None,
        Some(Value::String(s)) => Some(Zeroizing::new(s.clone())),
        Some(_) if o.order_type != OrderType::Asymmetric.as_str() => None,
        Some(_) => return Err(bad("has a passphrase that is not a string")),
    };
    Ok(Spec {
        algorithm,
        bit_length,
        mode: opt_str("mode")?,
        name: opt_str("name")?,
        expiration,
        content_type,
        passphrase,
    })
}

/// Python's truthiness of a JSON value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Key material generated for an order.
enum Generated {
    Symmetric(Zeroizing<Vec<u8>>),
    Rsa(keygen::RsaPem),
}

/// The reference's rules for what can be generated (§5.8), then the generation itself.
fn generate(order_type: &str, s: &Spec) -> Result<Generated, Failure> {
    let alg = s.algorithm.to_lowercase();
    match order_type {
        "key" => {
            if alg == "3des" {
                return Err(Failure::Issue("Secret generate supported plugin not found."));
            }
            if !SYMMETRIC_ALGORITHMS.contains(&alg.as_str()) {
                return Err(Failure::Issue("Requested algorithm is not supported"));
            }
            // XTS uses two keys: the requested length is twice the algorithm's.
            let factor = if s.mode.as_deref().is_some_and(|m| m.to_lowercase() == "xts") { 2 } else { 1 };
            if s.bit_length % factor != 0 || !SYMMETRIC_BITS.contains(&(s.bit_length / factor)) {
                return Err(Failure::Internal(format!("unsupported length {} for {alg}", s.bit_length)));
            }
            keygen::symmetric(s.bit_length as usize).map(Generated::Symmetric).map_err(|e| Failure::Internal(e.to_string()))
        }
        "asymmetric" => {
            // DSA is not generated (no vetted crate makes 4096-bit DSA and PKCS#8 DER easy, and
            // python-barbicanclient cannot read `dsa` containers): reported like other algorithms.
            if alg != "rsa" {
                return Err(Failure::Issue("Requested algorithm is not supported"));
            }
            let bits = usize::try_from(s.bit_length).unwrap_or(0);
            if !keygen::RSA_BITS.contains(&bits) {
                return Err(Failure::Internal(format!("unsupported RSA length {bits}")));
            }
            let pass = s.passphrase.as_ref().map(|p| p.as_bytes());
            keygen::rsa(bits, pass).map(Generated::Rsa).map_err(|e| Failure::Internal(e.to_string()))
        }
        other => Err(Failure::Internal(format!("unknown order type '{other}'"))),
    }
}

/// Processes one order if it is still PENDING: generates, stores and marks it ACTIVE, or marks
/// it ERROR. An Err means the order could not even be marked (e.g. the database is down): it
/// stays PENDING for the next start.
pub fn process(core: &Core, id: &str) -> ServiceResult<()> {
    let (order, passphrase) = {
        let mut conn = core.conn()?;
        let order = match repo::get_any(&mut conn, id)? {
            Some(o) if o.status == PENDING => o,
            _ => return Ok(()),
        };
        let passphrase = open_passphrase(core, &mut conn, &order).map_err(|e| Failure::Internal(e.to_string()));
        (order, passphrase)
    };
    // No pooled connection is held while keys are generated.
    let result = passphrase.and_then(|p| spec(&order, p)).and_then(|s| {
        let g = generate(&order.order_type, &s)?;
        store(core, &order, &s, g)
    });
    match result {
        Ok(()) => Ok(()),
        Err(f) => {
            if let Failure::Internal(detail) = &f {
                tracing::error!(order = %order.id, detail = %detail, "order processing failed");
            }
            let (code, reason) = f.code_and_reason();
            let mut conn = core.conn()?;
            repo::fail(&mut conn, &order.id, code, &reason)?;
            Ok(())
        }
    }
}


fn new_secret(o: &OrderRow, s: &Spec, secret_type: &str) -> Secret {
    let t = now();
    Secret {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: o.project_id.clone(),
        creator_id: o.creator_id.clone(),
        name: s.name.clone(),
        secret_type: secret_type.into(),
        expiration: s.expiration,
        algorithm: Some(s.algorithm.clone()),
        bit_length: Some(s.bit_length as i32),
        mode: s.mode.clone(),
        status: "ACTIVE".into(),
        content_type: Some(s.content_type.into()),
        created_at: t,
        updated_at: t,
    }
}

/// Stores what was generated (payloads sealed under the project KEK) and marks the order
/// ACTIVE, in one transaction.
fn store(core: &Core, o: &OrderRow, s: &Spec, g: Generated) -> Result<(), Failure> {
    let internal = |e: ServiceError| Failure::Internal(e.to_string());
    let mut conn = core.conn().map_err(internal)?;
    core.ensure_project(&mut conn, &o.project_id).map_err(internal)?;
    let mut seal = |secret: &Secret, plain: &[u8]| secrets::seal(core, &mut conn, secret, plain).map_err(internal);
    let res = match g {
        Generated::Symmetric(key) => {
            let secret = new_secret(o, s, "symmetric");
            let sealed = seal(&secret, &key)?;
            finish(&mut conn, &o.id, |c| {
                secrets::insert_generated(c, &secret, &sealed)?;
                Ok((Some(secret.id.clone()), None))
            })
        }
        Generated::Rsa(pem) => {
            let private = new_secret(o, s, "private");
            let public = new_secret(o, s, "public");
            let private_sealed = seal(&private, pem.private_pem.as_bytes())?;
            let public_sealed = seal(&public, pem.public_pem.as_bytes())?;
            let pass = match &s.passphrase {
                Some(p) => {
                    let secret = new_secret(o, s, "passphrase");
                    let sealed = seal(&secret, p.as_bytes())?;
                    Some((secret, sealed))
                }
                None => None,
            };
            let container_id = uuid::Uuid::new_v4().to_string();
            let mut links = vec![
                (Some("private_key".to_string()), private.id.clone()),
                (Some("public_key".to_string()), public.id.clone()),
            ];
            if let Some((p, _)) = &pass {
                links.push((Some("private_key_passphrase".to_string()), p.id.clone()));
            }
            let container_type = s.algorithm.to_lowercase();
            finish(&mut conn, &o.id, |c| {
                secrets::insert_generated(c, &private, &private_sealed)?;
                secrets::insert_generated(c, &public, &public_sealed)?;
                if let Some((p, sealed)) = &pass {
                    secrets::insert_generated(c, p, sealed)?;
                }
                containers::insert(
                    c,
                    &containers::NewContainer {
                        id: &container_id,
                        project_id: &o.project_id,
                        creator_id: o.creator_id.as_deref(),
                        name: s.name.as_deref(),
                        container_type: &container_type,
                        secrets: &links,
                    },
                )?;
                Ok((None, Some(container_id.clone())))
            })
        }
    };
    match res {
        Ok(()) => {
            tracing::info!(order = %o.id, "order processed");
            Ok(())
        }
        Err(ServiceError::OrderFinished) => Ok(()),
        Err(e) => Err(internal(e)),
    }
}

/// Runs `insert` and marks the order ACTIVE with its result, in one transaction that is rolled
/// back when the order is no longer PENDING.
fn finish(
    conn: &mut DbConn,
    order_id: &str,
    insert: impl FnOnce(&mut DbConn) -> ServiceResult<(Option<String>, Option<String>)>,
) -> ServiceResult<()> {
    conn.transaction(|c| {
        let (secret_id, container_id) = insert(c)?;
        if repo::complete(c, order_id, secret_id.as_deref(), container_id.as_deref())? {
            Ok(())
        } else {
            Err(ServiceError::OrderFinished)
        }
    })
}

// ---- background processing -----------------------------------------------------------------


/// Reserves a place for one of the project's asymmetric orders in the key-generation queue,
/// before anything is written: 503 when the queue (in all, or the project's share) is full.
pub fn reserve(core: &Core, project: &str) -> ServiceResult<Ticket> {
    core.keygen.reserve(project).map_err(|full| {
        tracing::warn!(project, bound = ?full, "key-generation queue full; order refused");
        ServiceError::QueueFull
    })
}

/// Queues a created order on its reserved place. The receiver fires once the order has been
/// processed (it is dropped unanswered if processing died).
pub fn submit(core: Arc<Core>, ticket: Ticket, id: String) -> tokio::sync::oneshot::Receiver<()> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    ticket.submit(Box::new(move || {
        run_job(&core, &id);
        let _ = tx.send(());
    }));
    rx
}

fn run_job(core: &Core, id: &str) {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| process(core, id)));
    match r {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(order = %id, error = %e, "order left PENDING: it will be processed again at the next start"),
        Err(_) => {
            tracing::error!(order = %id, "order processing panicked");
            let reason = Failure::Internal(String::new()).code_and_reason();
            if let Ok(mut conn) = core.conn() {
                let _ = repo::fail(&mut conn, id, reason.0, &reason.1);
            }
        }
    }
}

/// At start: queues every live order still PENDING (left by a crash or a shutdown), so none
/// stays PENDING; they have their rows already, so the queue's bounds do not refuse them.
/// Returns how many were queued.
pub fn recover(core: Arc<Core>) -> ServiceResult<usize> {
    let pending = repo::pending_ids(&mut *core.conn()?)?;
    let n = pending.len();
    if n > 0 {
        tracing::warn!(orders = n, "processing orders left PENDING by an earlier run");
    }
    for (id, project) in pending {
        let c = core.clone();
        core.keygen.submit_unbounded(&project, Box::new(move || run_job(&c, &id)));
    }
    Ok(n)
}
