//! Key material at rest: sealed under the project KEK, bound to its key and version.

use diesel::prelude::*;
use reqwest::Method;
use serde_json::json;

use super::{b64, create_key, json_of, op, send, unb64};
use crate::common;
use crate::common::who::{db, Who};


#[derive(QueryableByName)]
struct Sealed {
    #[diesel(sql_type = diesel::sql_types::Binary)]
    sealed: Vec<u8>,
}

#[tokio::test]
async fn material_is_sealed_and_a_moved_blob_does_not_open() {
    let s = common::start().await;
    let (p1, p2, p3) = (common::project(), common::project(), common::project());
    let admin = Who { project: &p1, roles: "admin", user: Some("adm") };
    let _ = (&p2, &p3, admin);
    let (a, _) = create_key(&s, admin, "aes256-gcm", json!({ "sensitivity": "low", "exportable": true })).await;
    let (b, _) = create_key(&s, admin, "aes256-gcm", json!({})).await;
    let (_, e) = json_of(send(&s, Method::GET, &format!("/v1/keys/{a}/export"), admin, None).await).await;
    let key = unb64(&e["keys"]["1"]);
    let mut conn = db(&s);
    let row: Sealed = diesel::sql_query(format!("SELECT sealed FROM managed_key_versions WHERE key_id = '{a}' AND version = 1"))
        .get_result(&mut conn)
        .unwrap();
    assert!(row.sealed.len() >= key.len() + 28, "nonce and tag around the material");
    assert!(!row.sealed.windows(key.len()).any(|w| w == key), "the material is not in the row");
    // Key b's version 1 given key a's sealed material: it must not open as b.
    let ct_b = {
        let (code, v) = op(&s, admin, &b, "encrypt", json!({ "plaintext": b64(b"x") })).await;
        assert_eq!(code, 200);
        v["ciphertext"].as_str().unwrap().to_string()
    };
    let hex: String = row.sealed.iter().map(|b| format!("{b:02x}")).collect();
    let lit = if s.db_url.starts_with("postgres") { format!("'\\x{hex}'::bytea") } else { format!("X'{hex}'") };
    let n = diesel::sql_query(format!("UPDATE managed_key_versions SET sealed = {lit} WHERE key_id = '{b}' AND version = 1"))
        .execute(&mut conn)
        .unwrap();
    assert_eq!(n, 1);
    let (code, v) = op(&s, admin, &b, "decrypt", json!({ "ciphertext": ct_b })).await;
    assert_eq!(code, 500, "a blob moved to another key fails closed: {v}");
    assert!(!v.to_string().contains(&b64(&key)), "{v}");
}
