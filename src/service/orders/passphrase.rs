//! An asymmetric order's `passphrase` never reaches the stored meta: it is sealed under the
//! project KEK in the order's own columns while the order runs, and cleared when it ends.

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::crypto;
use crate::model::OrderType;
use crate::service::{Core, ServiceError, ServiceResult};
use crate::store::orders::{self as repo, OrderRow, PENDING};
use crate::store::DbConn;

/// Removes `passphrase` from the meta; returns it when the order will use it (an asymmetric
/// order with a truthy one, as Barbican's worker reads it).
pub(super) fn take_passphrase(order_type: &str, meta: &mut Map<String, Value>) -> Option<Value> {
    let v = meta.remove("passphrase")?;
    (order_type == OrderType::Asymmetric.as_str() && truthy(&v)).then_some(v)
}

/// Seals the JSON of a passphrase under the project's active KEK: (KEK id, sealed bytes).
pub(super) fn seal_passphrase(core: &Core, conn: &mut DbConn, order_id: &str, project: &str, v: &Value) -> ServiceResult<(String, Vec<u8>)> {
    let plain = Zeroizing::new(serde_json::to_vec(v).map_err(|e| ServiceError::Internal(e.to_string()))?);
    let (kek_id, cipher) = core.keys.active_kek(conn, project)?;
    let sealed = cipher
        .seal(&plain, &crypto::order_passphrase_aad(order_id, project, &kek_id))
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    Ok((kek_id, sealed))
}

/// The sealed passphrase of a running order, opened.
pub(super) fn open_passphrase(core: &Core, conn: &mut DbConn, o: &OrderRow) -> ServiceResult<Option<Value>> {
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

/// Python's truthiness of a JSON value.
pub(super) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}
