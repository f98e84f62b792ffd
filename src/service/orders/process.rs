//! Processing an order: the key material its meta asks for is generated, stored (sealed under
//! the project KEK) and the order marked ACTIVE in one transaction, or the order is marked ERROR
//! with Barbican's `error_status_code` and `error_reason`. Finishing is conditional on the order
//! still being PENDING and this replica still holding its lease, so a second worker on the same
//! order rolls back instead of duplicating. A replica that cannot unwrap the project's KEK (a
//! host not enrolled for the current master KEK) hands the order back instead of failing it.

use chrono::NaiveDateTime;
use diesel::Connection;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::passphrase::{open_passphrase, truthy};
use crate::crypto::keygen;
use crate::model::{OrderType, Secret, OCTET_STREAM, PKCS8, TEXT_PLAIN};
use crate::service::{secrets, Core, ServiceError, ServiceResult};
use crate::store::orders::{self as repo, OrderRow, PENDING};
use crate::kek::KekError;
use crate::store::{containers, now, now_micros, order_leases, DbConn};

/// The operation name Barbican's worker reports failures under.
const OP: &str = "Process TypeOrder";

/// Symmetric algorithms the reference generates (compared lowercased).
const SYMMETRIC_ALGORITHMS: [&str; 6] = ["aes", "des", "hmacsha1", "hmacsha256", "hmacsha384", "hmacsha512"];
/// Symmetric key lengths (after halving for XTS).
const SYMMETRIC_BITS: [i64; 4] = [64, 128, 192, 256];

/// Why an order failed, as Barbican's worker reports it.
#[derive(Debug)]
pub(super) enum Failure {
    /// A known error: `"400"`, `Process TypeOrder issue seen - {msg}.`
    Issue(&'static str),
    /// Anything else: `"500"`, `Process TypeOrder failure seen - please contact site
    /// administrator.`; the detail is only logged.
    Internal(String),
}

impl Failure {
    pub(super) fn code_and_reason(&self) -> (u16, String) {
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

/// A live order still PENDING (None once it has ended or been deleted).
fn pending(conn: &mut DbConn, id: &str) -> ServiceResult<Option<OrderRow>> {
    Ok(repo::get_any(conn, id)?.filter(|o| o.status == PENDING))
}

/// Processes one order if it is still PENDING: generates, stores and marks it ACTIVE, or marks
/// it ERROR, while this replica holds its lease. An Err means the order could not even be
/// marked (e.g. the database is down): it stays PENDING for a later sweep. Each step takes its own pooled connection; none is held
/// while keys are generated (an RSA key takes seconds).
pub fn process(core: &Core, id: &str) -> ServiceResult<()> {
    let owner = core.leases.owner();
    let (order, passphrase) = {
        let mut conn = core.conn()?;
        let Some(order) = pending(&mut conn, id)? else { return Ok(()) };
        if !order_leases::holds(&mut conn, id, owner, now_micros())? {
            tracing::info!(order = %id, "order lease lost to another replica; not working on it");
            return Ok(());
        }
        core.ensure_project(&mut conn, &order.project_id)?;
        match core.keys.active_kek(&mut conn, &order.project_id) {
            Ok(_) => {}
            Err(KekError::Store(e)) => return Err(e.into()),
            Err(e) => {
                tracing::error!(order = %id, error = %e, "cannot unwrap the project KEK: order handed back to replicas that can");
                core.leases.refuse(id);
                order_leases::release(&mut conn, id, owner, now_micros())?;
                return Ok(());
            }
        }
        let passphrase = open_passphrase(core, &mut conn, &order).map_err(|e| Failure::Internal(e.to_string()));
        (order, passphrase)
    };
    tracing::info!(order = %id, owner, "working on order");
    test_delay();
    let result = passphrase.and_then(|p| spec(&order, p)).and_then(|s| {
        let g = generate(&order.order_type, &s)?;
        let mut conn = core.conn().map_err(|e| Failure::Internal(e.to_string()))?;
        store(core, &mut conn, &order, &s, g, owner)
    });
    if let Some((code, reason)) = failed(&order, result) {
        repo::fail(&mut *core.conn()?, &order.id, owner, code, &reason)?;
    }
    Ok(())
}

/// Test-only: `PORTCULLIS_TEST_ORDER_DELAY_MS` makes every queued order take that much longer,
/// so a test can kill the replica working on one. Unset in production.
fn test_delay() {
    static DELAY: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let ms = *DELAY.get_or_init(|| {
        std::env::var("PORTCULLIS_TEST_ORDER_DELAY_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(0)
    });
    if ms > 0 {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// [`process`] for a key order just created, on the request's own connection: a symmetric key
/// takes microseconds, and a key order has no passphrase.
pub(super) fn process_on(core: &Core, conn: &mut DbConn, id: &str) -> ServiceResult<()> {
    let Some(order) = pending(conn, id)? else { return Ok(()) };
    let result = spec(&order, None).and_then(|s| {
        let g = generate(&order.order_type, &s)?;
        store(core, conn, &order, &s, g, core.leases.owner())
    });
    if let Some((code, reason)) = failed(&order, result) {
        repo::fail(conn, &order.id, core.leases.owner(), code, &reason)?;
    }
    Ok(())
}

/// What to record of a failed processing (the detail of an internal failure is only logged).
fn failed(order: &OrderRow, result: Result<(), Failure>) -> Option<(u16, String)> {
    let f = result.err()?;
    if let Failure::Internal(detail) = &f {
        tracing::error!(order = %order.id, detail = %detail, "order processing failed");
    }
    Some(f.code_and_reason())
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
fn store(core: &Core, conn: &mut DbConn, o: &OrderRow, s: &Spec, g: Generated, owner: &str) -> Result<(), Failure> {
    let internal = |e: ServiceError| Failure::Internal(e.to_string());
    core.ensure_project(conn, &o.project_id).map_err(internal)?;
    let mut seal = |secret: &Secret, plain: &[u8]| secrets::seal(core, conn, secret, plain).map_err(internal);
    let res = match g {
        Generated::Symmetric(key) => {
            let secret = new_secret(o, s, "symmetric");
            let sealed = seal(&secret, &key)?;
            finish(conn, &o.id, owner, |c| {
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
            finish(conn, &o.id, owner, |c| {
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
/// back when the order is no longer PENDING or `owner` no longer holds its lease.
fn finish(
    conn: &mut DbConn,
    order_id: &str,
    owner: &str,
    insert: impl FnOnce(&mut DbConn) -> ServiceResult<(Option<String>, Option<String>)>,
) -> ServiceResult<()> {
    conn.transaction(|c| {
        let (secret_id, container_id) = insert(c)?;
        if repo::complete(c, order_id, owner, secret_id.as_deref(), container_id.as_deref())? {
            Ok(())
        } else {
            Err(ServiceError::OrderFinished)
        }
    })
}

