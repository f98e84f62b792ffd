//! Secrets: Barbican's simple_crypto ciphertexts opened (project KEK Fernet-wrapped under the
//! master KEK(s); payload Fernet under the project KEK; both stored base64 in TEXT columns) and
//! sealed again under the Portcullis project's active KEK.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use base64::Engine;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::barbican_db::{column_bytes, Row, Source};
use super::fernet::{FernetKey, MultiFernet};
use super::Ctx;
use crate::model::Secret;
use crate::store::{from_micros, imported, secrets as store_secrets};

const KIND: &str = "secrets";

/// What a Barbican plugin class path is called in the report.
fn plugin_label(name: &str) -> String {
    let n = name.to_ascii_lowercase();
    let label = if n.contains("p11") || n.contains("pkcs11") {
        "PKCS#11"
    } else if n.contains("kmip") {
        "KMIP"
    } else if n.contains("vault") {
        "Vault"
    } else if n.contains("dogtag") {
        "Dogtag"
    } else {
        return format!("stored by the plugin {name}, not simple_crypto");
    };
    format!("stored by the {label} plugin, not simple_crypto")
}

/// Barbican KEK id -> the unwrapped project Fernet key. Fails, naming the first KEK row that
/// does not open, when the configured KEK(s) are not the ones that wrapped them.
pub(super) fn project_keks(
    src: &mut Source,
    projects: &HashMap<String, String>,
    master: &MultiFernet,
    file: &Path,
) -> Result<HashMap<String, FernetKey>, String> {
    let rows = src.rows("kek_data", &["id", "project_id", "plugin_name", "plugin_meta"], "")?;
    let mut out = HashMap::new();
    for r in rows {
        let (Some(meta), true) = (r.s(3), r.req(2).contains("simple_crypto")) else { continue };
        let project = projects.get(&r.req(1)).cloned().unwrap_or_else(|| r.req(1));
        let key_text = master.decrypt(&column_bytes(&meta)).map_err(|_| {
            format!(
                "the [simple_crypto_plugin] kek in {} does not open Barbican's project KEK {} (project {project}): \
                 wrong KEK, or an older KEK missing from the list. Nothing was written.",
                file.display(),
                r.req(0)
            )
        })?;
        let key = FernetKey::from_text(&key_text).map_err(|_| format!("Barbican's project KEK {} is not a Fernet key", r.req(0)))?;
        out.insert(r.req(0), key);
    }
    Ok(out)
}

/// One Barbican secret, read and decrypted, ready to be sealed here.
struct Ready {
    row: Secret,
    /// Microseconds since the epoch, for a secret Barbican had soft-deleted.
    deleted_at: Option<i64>,
    plain: Option<Zeroizing<Vec<u8>>>,
}

const COLS: [&str; 14] = [
    "id", "project_id", "name", "secret_type", "expiration", "algorithm", "bit_length", "mode", "creator_id", "status",
    "created_at", "updated_at", "deleted_at", "deleted",
];

/// The secret as Portcullis keeps it, and its deletion time if Barbican had soft-deleted it.
fn secret_row(r: &Row, project: String, content_type: Option<String>) -> (Secret, Option<i64>) {
    let updated = r.time(11).unwrap_or_default();
    let secret = Secret {
        id: r.req(0),
        project_id: project,
        name: r.s(2),
        secret_type: r.s(3).unwrap_or_else(|| "opaque".into()),
        expiration: r.time(4).map(from_micros),
        algorithm: r.s(5),
        bit_length: r.int(6),
        mode: r.s(7),
        creator_id: r.s(8),
        status: r.s(9).unwrap_or_else(|| "ACTIVE".into()),
        content_type,
        created_at: from_micros(r.time(10).unwrap_or(updated)),
        updated_at: from_micros(updated),
    };
    (secret, r.flag(13).then(|| r.time(12).unwrap_or(updated)))
}

/// Decrypts one encrypted_data row: base64 text of a Fernet token under the project KEK.
fn open(keks: &HashMap<String, FernetKey>, kek_id: &str, cypher_text: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let key = keks.get(kek_id).ok_or("its project KEK row is missing or not simple_crypto's")?;
    let token = base64::engine::general_purpose::STANDARD
        .decode(column_bytes(cypher_text))
        .map_err(|_| "its cypher_text is not base64".to_string())?;
    key.decrypt(&token).map_err(|e| format!("its ciphertext does not open under its project KEK: {e}"))
}

/// Imports the secrets that are missing here; returns the SHA-256 of every payload read from
/// Barbican (live secrets), for `--verify`.
pub(super) fn import(ctx: &mut Ctx, keks: &HashMap<String, FernetKey>) -> Result<HashMap<String, [u8; 32]>, String> {
    let mut enc: HashMap<String, Row> = HashMap::new();
    for r in ctx.src.rows("encrypted_data", &["secret_id", "content_type", "kek_id", "cypher_text", "deleted"], "")? {
        if !r.flag(4) || !enc.contains_key(&r.req(0)) {
            enc.insert(r.req(0), r);
        }
    }
    let mut store_plugin: HashMap<String, String> = HashMap::new();
    for r in ctx.src.rows("secret_store_metadata", &["secret_id", "key", "value", "deleted"], "")? {
        if r.req(1) == "plugin_name" && !r.flag(3) {
            store_plugin.insert(r.req(0), r.req(2));
        }
    }
    let kek_plugin: HashMap<String, String> =
        ctx.src.rows("kek_data", &["id", "plugin_name"], "")?.into_iter().map(|r| (r.req(0), r.req(1))).collect();
    let rows = ctx.src.rows("secrets", &COLS, "ORDER BY created_at, id")?;
    let present = ctx.existing(imported::Table::Secrets)?;
    let mut hashes = HashMap::new();
    let mut ready = Vec::new();
    let mut progress = super::report::Progress::new("reading secrets", rows.len());
    for (i, r) in rows.iter().enumerate() {
        progress.at(i + 1);
        let id = r.req(0);
        let Some(project) = ctx.project(&r.req(1)) else {
            ctx.report.fail(KIND, "its Barbican project row is missing");
            ctx.secrets_left.insert(id);
            continue;
        };
        let e = enc.get(&id);
        let content_type = e.and_then(|e| e.s(1));
        let (row, deleted_at) = secret_row(r, project, content_type);
        let plain = match e {
            Some(e) if !kek_plugin.get(&e.req(2)).is_some_and(|p| p.contains("simple_crypto")) => {
                let p = kek_plugin.get(&e.req(2)).cloned().unwrap_or_default();
                ctx.report.skip(KIND, plugin_label(&p));
                ctx.secrets_left.insert(id);
                continue;
            }
            Some(e) if deleted_at.is_none() => match open(keks, &e.req(2), &e.req(3)) {
                Ok(p) => Some(p),
                Err(why) => {
                    ctx.report.fail(KIND, format!("does not decrypt: {why}"));
                    ctx.secrets_left.insert(id);
                    continue;
                }
            },
            // A deleted secret keeps no payload (Portcullis erases it on delete).
            Some(_) => None,
            None => match store_plugin.get(&id) {
                Some(p) if !p.contains("store_crypto") => {
                    ctx.report.skip(KIND, plugin_label(p));
                    ctx.secrets_left.insert(id);
                    continue;
                }
                _ => None,
            },
        };
        if let Some(p) = &plain {
            hashes.insert(id.clone(), Sha256::digest(&p[..]).into());
        }
        if present.contains(&id) {
            ctx.report.of(KIND).already += 1;
        } else {
            ready.push(Ready { row, deleted_at, plain });
        }
    }
    let (mut progress, total, mut done) = (super::report::Progress::new("writing secrets", ready.len()), ready.len(), 0);
    for chunk in ready.chunks_mut(super::BATCH) {
        write_chunk(ctx, chunk)?;
        done += chunk.len();
        if !ctx.dry_run {
            progress.at(done.min(total));
        }
    }
    Ok(hashes)
}

/// Seals a chunk's payloads under the projects' active KEKs (made on first use), then inserts
/// the chunk in one transaction.
fn write_chunk(ctx: &mut Ctx, chunk: &mut [Ready]) -> Result<(), String> {
    if ctx.dry_run {
        ctx.report.of(KIND).imported += chunk.len() as u64;
        return Ok(());
    }
    let mut conn = ctx.conn()?;
    let mut sealed = Vec::with_capacity(chunk.len());
    for r in chunk.iter_mut() {
        let model = &r.row;
        ctx.core.ensure_project(&mut conn, &model.project_id).map_err(|e| e.to_string())?;
        let one = match r.plain.take() {
            Some(p) => Some(crate::service::secrets::seal(ctx.core, &mut conn, model, &p).map_err(|e| e.to_string())?),
            None => None,
        };
        sealed.push(one);
    }
    drop(conn);
    let items: Vec<(&Ready, Option<(String, Vec<u8>)>)> = chunk.iter().zip(sealed).collect();
    ctx.write_with(KIND, &items, |c, (r, s)| {
        let new = store_secrets::NewSecret {
            secret: &r.row,
            kek_id: s.as_ref().map(|(k, _)| k.as_str()),
            cypher_text: s.as_ref().map(|(_, b)| b.as_slice()),
            deleted_at: r.deleted_at,
        };
        store_secrets::insert(c, &new)
    }, false)
}

/// Reads every payload back through Portcullis's decrypt path and compares hashes.
pub(super) fn verify(ctx: &Ctx, hashes: &HashMap<String, [u8; 32]>) -> Result<(u64, u64), String> {
    let mut conn = ctx.conn()?;
    let (mut ok, mut bad) = (0, 0);
    let skip: HashSet<&String> = ctx.secrets_left.iter().collect();
    let mut progress = super::report::Progress::new("verifying", hashes.len());
    for (i, (id, want)) in hashes.iter().enumerate() {
        progress.at(i + 1);
        if skip.contains(id) {
            continue;
        }
        let same = crate::service::secrets::read_payload(ctx.core, &mut conn, id)
            .map(|p| <[u8; 32]>::from(Sha256::digest(&p[..])) == *want)
            .unwrap_or(false);
        if same {
            ok += 1;
        } else {
            bad += 1;
            eprintln!("verify: secret {id} does not read back equal to Barbican's payload");
        }
    }
    Ok((ok, bad))
}
