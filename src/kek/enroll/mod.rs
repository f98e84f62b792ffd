//! Replica enrollment: moving the master KEK versions to another host's TPM, never in
//! plaintext, only to a key that provably lives in a genuine TPM, and only keys the database
//! vouches for.
//!
//! 1. On the replica, `kek export-target-key` makes, under its storage primary key, an
//!    attestation key (AK: restricted RSA signing key) and an enrollment key (RSA-OAEP
//!    decryption key), both fixedTPM/fixedParent; the AK certifies the enrollment key
//!    (TPM2_Certify). The target file carries the endorsement key's (EK) certificate (NV index
//!    0x01c00002), the EK, AK and enrollment key public areas, and the certification.
//! 2. On the source host, `kek export --to FILE` checks the target (`target::verify`): the EK
//!    certificate chains to a CA of `[kek] ek_ca_file` and is for the EK in the file, which has
//!    the TCG default EK template; the AK is a restricted non-duplicable signing key; the
//!    certification is signed by the AK and names exactly the enrollment key, itself a
//!    non-duplicable decryption key. Then, in software, it makes a credential for the AK's name
//!    under the EK (TPM2_MakeCredential, `credential`) and a data key encrypted to the
//!    enrollment key with RSA-OAEP, and seals the master KEK versions with AES-256-GCM under
//!    HMAC(credential, data key), every other field of the blob as associated data (`blob`).
//! 3. On the replica, `kek import` asks its TPM for both secrets: TPM2_ActivateCredential
//!    (the EK's private key opens the seed, and the TPM releases the credential only while an
//!    object with the AK's name, that is the AK itself with its attributes, is loaded in it),
//!    and TPM2_RSA_Decrypt with the enrollment key. It then checks every version against the
//!    database's key-check values (`kek::check`) before sealing anything.
//!
//! Why this proves residency in one round trip: the exporter cannot itself tell a TPM-made AK
//! from a software key with the same attribute bits, but it does not need to: the credential
//! is released only by the TPM that holds the certified EK, and only while the object with the
//! AK's exact name is loaded there, and authorised (ADMIN role): a TPM loads an object with
//! fixedTPM set and its private part only if it made it (TPM2_LoadExternal refuses fixedTPM keys
//! with a private part), and authorises no use of an object whose public part alone is loaded;
//! likewise it certifies only objects whose private part it holds. So whoever opens the blob drives the genuine TPM holding that
//! AK, and the AK being restricted, the certification that names the enrollment key is that
//! TPM's own statement: the master KEK is released by TPM2_RSA_Decrypt of a key that never
//! leaves it. A forged target (software enrollment key, forged certification, EK from another
//! CA, EK swapped) is refused by `kek export`; a target with a software AK passes its checks
//! but yields a blob nobody can open. Both sides print the target's names (EK, AK, enrollment
//! key) for the operator to compare out of band: the CA proves a genuine TPM, not which one.
//!
//! Import trusts nothing in the blob but its keys, and those only when the database lists
//! their version with a matching check value; the current version is the database's.

pub mod blob;
pub mod credential;
pub mod ekcert;
pub mod target;

use std::collections::BTreeMap;

use rand::RngCore;
use rsa::Oaep;
use sha2::Sha256;
use zeroize::Zeroizing;

use self::blob::{ExportBlob, Unlock};
use self::target::{hex, EkTrust, Target};
use super::admin::admin_lock;
use super::check::{self, Listed};
use super::tpm::{TpmProvider, ENROLL_LABEL};
use super::{KekError, MasterKekProvider};
use crate::crypto::Key;
use crate::store::Store;

fn perr(msg: impl Into<String>) -> KekError {
    KekError::Provider(msg.into())
}

fn versions(v: &[i32]) -> String {
    v.iter().map(|v| format!("v{v}")).collect::<Vec<_>>().join(", ")
}

/// The names of a target, for the operator to compare on both hosts.
pub fn describe(t: &Target) -> String {
    let mut s = format!("EK {}\nattestation key {}\nenrollment key {}", hex(&t.ek_name), hex(&t.ak_name), hex(&t.key_name));
    if let Some(c) = &t.ek_cert {
        s.push_str(&format!("\nEK certificate: issuer \"{}\", serial {}, subject \"{}\"", c.issuer, c.serial, c.subject));
    }
    s
}

/// `kek export-target-key`: the target file, and its description.
pub fn export_target_key(tpm: &TpmProvider) -> Result<(String, String), KekError> {
    let material = tpm.create_target()?;
    let text = material.to_file();
    let t = target::verify(&text, &EkTrust::Insecure)?;
    let mut desc = describe(&t);
    if material.ek_certificate.is_none() {
        desc.push_str("\nWARNING: this TPM has no EK certificate; a source host will only export to it with --insecure-skip-ek-ca-check");
    }
    Ok((text, desc))
}

/// Seals `keys` for a verified target: the blob's text.
pub fn seal_for(t: &Target, keys: &BTreeMap<i32, &Key>) -> Result<String, KekError> {
    let mut credential = Zeroizing::new(vec![0u8; 32]);
    let mut data_key = Zeroizing::new(vec![0u8; 32]);
    rand::rngs::OsRng.fill_bytes(&mut credential);
    rand::rngs::OsRng.fill_bytes(&mut data_key);
    let cred = credential::make_credential(&t.ek, &t.ak_name, &credential)?;
    let label = std::str::from_utf8(ENROLL_LABEL).expect("ASCII label");
    let key_oaep = t
        .key
        .encrypt(&mut rand::rngs::OsRng, Oaep::new_with_label::<Sha256, _>(label), &data_key)
        .map_err(|e| perr(format!("RSA-OAEP encryption failed: {e}")))?;
    let header = ExportBlob::new(
        [hex(&t.ek_name), hex(&t.ak_name), hex(&t.key_name)],
        keys.keys().copied().collect(),
        &cred.id_object,
        &cred.encrypted_seed,
        &key_oaep,
    );
    header.seal(keys, &Unlock { credential, data_key })
}

pub struct ExportReport {
    pub blob: String,
    pub target: String,
    pub versions: Vec<i32>,
    /// Versions whose check value this export recorded (deployments older than check values).
    pub recorded: Vec<i32>,
}

/// `kek export --to FILE`: the versions the database lists and does not retire, for a target
/// that passes `target::verify`.
pub fn export(p: &dyn MasterKekProvider, store: &Store, target_text: &str, trust: &EkTrust) -> Result<ExportReport, KekError> {
    let t = target::verify(target_text, trust)?;
    let keys = p.load()?;
    let mut conn = store.conn()?;
    let recorded = check::reconcile(&keys, &mut conn)?;
    let listed = Listed::load(&mut conn)?;
    let current = listed.current().ok_or_else(|| perr("the database lists no master KEK version in use"))?;
    if !keys.versions.contains_key(&current) {
        return Err(perr(format!(
            "this host does not hold master KEK v{current}, the database's current version: export from a host that has it"
        )));
    }
    let chosen: BTreeMap<i32, &Key> = keys
        .versions
        .iter()
        .filter(|(v, _)| listed.0.get(v).is_some_and(|r| r.retired_at.is_none()))
        .map(|(v, k)| (*v, k))
        .collect();
    let blob = seal_for(&t, &chosen)?;
    Ok(ExportReport { blob, target: describe(&t), versions: chosen.keys().copied().collect(), recorded })
}

pub struct ImportReport {
    pub sealed: Vec<i32>,
    pub current: i32,
    pub skipped_retired: Vec<i32>,
}

/// `kek import BLOB`: opens the blob in this host's TPM, accepts only the versions the database
/// lists whose key matches its check value, and seals those this host lacks. Nothing is
/// written unless every check passed.
pub fn import(tpm: &TpmProvider, blob_text: &str, store: &Store) -> Result<ImportReport, KekError> {
    let _lock = admin_lock(tpm)?;
    let blob = ExportBlob::parse(blob_text)?;
    let mut conn = store.conn()?;
    let listed = Listed::load(&mut conn)?;
    let current = listed.current().ok_or_else(|| {
        perr("the database lists no master KEK version: run `kek export` on a host that holds the master KEK (it records the versions) and import again")
    })?;
    let keys = blob.open(&tpm.unlock_export(&blob)?)?;
    let mut skipped_retired = Vec::new();
    for (v, k) in &keys {
        let Some(row) = listed.0.get(v) else {
            return Err(perr(format!(
                "the export blob holds a master KEK v{v} that the database does not list (it lists {}): \
                 nobody vouched for that key; nothing was imported",
                versions(&listed.0.keys().copied().collect::<Vec<_>>())
            )));
        };
        if !check::matches(*v, k, &row.check_value) {
            return Err(perr(format!(
                "master KEK v{v} in the export blob does not match the database's key-check value: it comes \
                 from another deployment, or was forged; nothing was imported"
            )));
        }
        if row.retired_at.is_some() {
            skipped_retired.push(*v);
        }
    }
    let local = tpm.versions()?;
    if let Some(v) = local.iter().find(|v| **v > current) {
        return Err(perr(format!(
            "this host has master KEK v{v} sealed in {}, newer than the database's current v{current}: it is \
             not this deployment's; remove master-v{v}.* there first; nothing was imported",
            tpm.sealed_dir().display()
        )));
    }
    if !keys.contains_key(&current) && !local.contains(&current) {
        return Err(perr(format!(
            "the export blob lacks master KEK v{current}, the database's current version (it holds {}): export \
             again from a host that has it; nothing was imported",
            versions(&keys.keys().copied().collect::<Vec<_>>())
        )));
    }
    if local.iter().any(|v| keys.contains_key(v)) {
        let have = tpm.load()?;
        for (v, k) in &keys {
            if have.versions.get(v).is_some_and(|h| !check::matches(*v, h, &check::check_value(*v, k))) {
                return Err(perr(format!("master KEK v{v} sealed on this host differs from the imported one; nothing was imported")));
            }
        }
    }
    let mut sealed = Vec::new();
    for (v, k) in &keys {
        if !local.contains(v) && !skipped_retired.contains(v) {
            tpm.store(*v, k)?;
            sealed.push(*v);
        }
    }
    tpm.remove_target_key();
    Ok(ImportReport { sealed, current, skipped_retired })
}
