//! The `tpm` master-KEK provider: each master KEK version is a sealed data object (keyed-hash,
//! no sign/decrypt) under an ECC P-256 storage primary key of the owner hierarchy. The sealed
//! object's public and private blobs rest in `sealed_dir`; the private blob is encrypted and
//! integrity-protected by the TPM, so it opens only in the TPM that made it.
//!
//! The master KEK crosses the TCTI only inside salted sessions with parameter encryption
//! (AES-128-CFB): on `create` the sensitive data goes in encrypted, on `unseal` it comes back
//! encrypted. With `[kek] pcrs` set, the object opens only under a PolicyPCR (sha256 bank), so
//! a change in the measured platform state (PCR 7: Secure Boot policy) keeps it sealed.
//!
//! The sessions are salted to the storage primary key, so they are only as good as that key
//! is the TPM's own: its TPM name is pinned in `storage-primary.name` the first time this host
//! uses it (`kek init`, or `kek export-target-key` on a replica; a deployment older than the pin
//! records it at its next start), and every later connection refuses a primary key whose name
//! differs (another TPM, a cleared owner hierarchy, or something answering in the TPM's place
//! that would read the salt).
//!
//! The TPM connection lives only for the duration of one operation; every transient handle
//! (primary, loaded objects, sessions) is flushed on every path: explicitly on success, and by
//! the tss-esapi `Context`'s drop (it flushes what it created) on errors. Without a resource
//! manager, Portcullis flushes its own leftovers only (see `conn`). Connections to one TPM take
//! turns (`conn::Exclusive`): keys of sensitivity `high` (`root_keys`) run in the TPM while the
//! server serves, and a TPM without a resource manager cannot hold two connections' objects.
//!
//! Files per version N: `master-vN.priv`, `master-vN.meta` (JSON: PCR selection), and
//! `master-vN.pub`, written last and atomically: a version exists when its `.pub` exists.

mod conn;
mod enroll;
mod keyblob;
pub mod root_keys;

use std::collections::HashMap;
use std::convert::TryFrom;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use tss_esapi::attributes::ObjectAttributesBuilder;
use tss_esapi::constants::response_code::Tss2ResponseCodeKind;
use tss_esapi::constants::SessionType;
use tss_esapi::handles::KeyHandle;
use tss_esapi::interface_types::algorithm::{HashingAlgorithm, PublicAlgorithm};
use tss_esapi::interface_types::session_handles::{AuthSession, PolicySession};
use tss_esapi::structures::{
    Digest, KeyedHashScheme, PcrSelectionList, PcrSelectionListBuilder, PcrSlot, Private, Public,
    PublicBuilder, PublicKeyedHashParameters, SensitiveData,
};
use tss_esapi::traits::{Marshall, UnMarshall};
use tss_esapi::{Context, TctiNameConf};
use zeroize::Zeroizing;

use self::conn::{explain, hex, is_kind, Exclusive, Journal, Tpm};
use super::{KekError, MasterKekProvider, MasterKeys};
use crate::crypto::Key;

/// The OAEP label of the enrollment data key (the TPM wants labels NUL-terminated).
pub const ENROLL_LABEL: &[u8] = b"portcullis master KEK enrollment v2\0";
const PIN_FILE: &str = "storage-primary.name";

#[derive(Clone)]
pub struct TpmProvider {
    tcti: String,
    dir: PathBuf,
    pcrs: Vec<u32>,
    /// Which key types of sensitivity `high` this TPM runs (see `root_keys`).
    support: root_keys::SupportCache,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Meta {
    version: i32,
    pcr_bank: String,
    pcrs: Vec<u32>,
}

fn perr(msg: impl Into<String>) -> KekError {
    KekError::Provider(msg.into())
}

impl TpmProvider {
    pub fn new(tcti: impl Into<String>, dir: impl Into<PathBuf>, pcrs: Vec<u32>) -> TpmProvider {
        TpmProvider { tcti: tcti.into(), dir: dir.into(), pcrs, support: Default::default() }
    }

    pub fn sealed_dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, stem: &str, ext: &str) -> PathBuf {
        self.dir.join(format!("{stem}.{ext}"))
    }

    fn stem(version: i32) -> String {
        format!("master-v{version}")
    }

    /// `device:PATH` (default `/dev/tpmrm0`): the device must exist and open for reading and
    /// writing, or we say so before the TSS answers with an opaque I/O code.
    fn check_device(&self) -> Result<(), KekError> {
        let Some(rest) = self.tcti.strip_prefix("device") else { return Ok(()) };
        let path = rest.strip_prefix(':').filter(|p| !p.is_empty()).unwrap_or("/dev/tpmrm0");
        let path = Path::new(path);
        if !path.exists() {
            return Err(perr(format!(
                "TPM device {} does not exist: this host has no TPM 2.0, it is disabled in the \
                 firmware, or the kernel's TPM driver is not loaded ([kek] tcti = \"{}\")",
                path.display(),
                self.tcti
            )));
        }
        if let Err(e) = std::fs::OpenOptions::new().read(true).write(true).open(path) {
            let hint = if e.kind() == std::io::ErrorKind::PermissionDenied {
                ": run portcullis as a member of the 'tss' group (the owner group of /dev/tpmrm0)"
            } else {
                ""
            };
            return Err(perr(format!("TPM device {} is not readable and writable by this user ({e}){hint}", path.display())));
        }
        Ok(())
    }

    /// A TCTI without a resource manager (simulator, /dev/tpm0) keeps objects that a killed
    /// process left loaded; we flush them when we connect.
    fn has_resource_manager(&self) -> bool {
        self.tcti.starts_with("tabrmd")
            || (self.tcti.starts_with("device") && !self.tcti.contains("/dev/tpm0"))
    }

    fn open(&self) -> Result<Tpm, KekError> {
        self.check_device()?;
        let conf = TctiNameConf::from_str(&self.tcti).map_err(|e| {
            perr(format!(
                "[kek] tcti = \"{}\" is not understood ({e}); use device:/dev/tpmrm0 or swtpm:host=H,port=P",
                self.tcti
            ))
        })?;
        let shared = !self.has_resource_manager();
        let exclusive = Exclusive::acquire(&self.tcti, shared.then_some(self.dir.as_path()))
            .map_err(|e| perr(format!("cannot lock {}: {e}", self.dir.join(".tpm.lock").display())))?;
        let ctx = Context::new(conf).map_err(|e| {
            perr(format!("cannot connect to the TPM through TCTI \"{}\": {e} (is a TPM, or the simulator, listening there?)", self.tcti))
        })?;
        let journal = if shared { Journal::new(&self.dir) } else { None };
        Ok(Tpm::new(ctx, journal, exclusive))
    }

    /// The storage primary key, checked against the name pinned in the sealed directory (and
    /// pinned there if this host has none yet).
    fn primary(&self, tpm: &mut Tpm) -> Result<KeyHandle, KekError> {
        let (handle, name) = tpm.create_srk().map_err(|e| self.tpm_failure("cannot create the storage primary key", e))?;
        let name = hex(&name);
        let pin = self.dir.join(PIN_FILE);
        match std::fs::read_to_string(&pin) {
            Ok(pinned) if pinned.trim() == name => Ok(handle),
            Ok(pinned) => {
                tpm.flush(handle.into());
                Err(perr(format!(
                    "the TPM's storage primary key (name {name}) is not the one this host recorded ({}, in {}): \
                     this is another TPM, its owner hierarchy was cleared, or something between Portcullis and \
                     the TPM answers in its place; refusing to use it",
                    pinned.trim(),
                    pin.display()
                )))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.ensure_dir()?;
                self.write_file(&pin, format!("{name}\n").as_bytes())?;
                tracing::info!(name = %name, "pinned the TPM's storage primary key");
                Ok(handle)
            }
            Err(e) => {
                tpm.flush(handle.into());
                Err(perr(format!("cannot read {}: {e}", pin.display())))
            }
        }
    }

    fn pcr_selection(pcrs: &[u32]) -> Result<PcrSelectionList, KekError> {
        let mut slots = Vec::new();
        for p in pcrs {
            let slot = (*p < 24)
                .then(|| PcrSlot::try_from(1u32 << p).ok())
                .flatten()
                .ok_or_else(|| perr(format!("[kek] pcrs: {p} is not a PCR index (0-23)")))?;
            slots.push(slot);
        }
        PcrSelectionListBuilder::new()
            .with_selection(HashingAlgorithm::Sha256, &slots)
            .build()
            .map_err(|e| perr(format!("[kek] pcrs: {e}")))
    }

    fn tpm_failure(&self, what: &str, e: tss_esapi::Error) -> KekError {
        match explain(&e) {
            Some(why) => perr(format!("{what}: {why} (TPM: {e})")),
            None => perr(format!("{what}: TPM error: {e}")),
        }
    }

    fn read_blob(&self, path: &Path, version: i32) -> Result<Vec<u8>, KekError> {
        std::fs::read(path).map_err(|e| {
            perr(format!(
                "sealed blob {} of master KEK v{version} is missing or unreadable ({e}); restore \
                 it from backup, or enroll this host again from a replica",
                path.display()
            ))
        })
    }

    fn read_version(&self, version: i32) -> Result<(Public, Private, Meta), KekError> {
        let stem = Self::stem(version);
        let pub_path = self.file(&stem, "pub");
        let pub_raw = self.read_blob(&pub_path, version)?;
        let priv_raw = self.read_blob(&self.file(&stem, "priv"), version)?;
        let meta_path = self.file(&stem, "meta");
        let meta: Meta = serde_json::from_slice(&self.read_blob(&meta_path, version)?).map_err(|e| {
            perr(format!("{} is corrupt or was altered: {e}", meta_path.display()))
        })?;
        let public = Public::unmarshall(&pub_raw).map_err(|e| {
            perr(format!("sealed blob {} is corrupt or was altered (it does not parse: {e})", pub_path.display()))
        })?;
        let private = Private::try_from(priv_raw).map_err(|e| {
            perr(format!("sealed blob {} is corrupt or was altered ({e})", self.file(&stem, "priv").display()))
        })?;
        Ok((public, private, meta))
    }

    /// Writes a file atomically (temporary file, fsync, rename), mode 0600.
    fn write_file(&self, path: &Path, bytes: &[u8]) -> Result<(), KekError> {
        let tmp = path.with_extension("tmp");
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).map_err(|e| perr(format!("cannot write {}: {e}", tmp.display())))?;
        f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| perr(format!("cannot write {}: {e}", tmp.display())))?;
        std::fs::rename(&tmp, path).map_err(|e| perr(format!("cannot write {}: {e}", path.display())))?;
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    fn ensure_dir(&self) -> Result<(), KekError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| perr(format!("cannot create {}: {e}", self.dir.display())))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700));
        }
        Ok(())
    }

}

impl MasterKekProvider for TpmProvider {
    fn name(&self) -> &'static str {
        "tpm"
    }

    fn plaintext_at_rest(&self) -> bool {
        false
    }

    fn describe(&self) -> String {
        let pcrs = if self.pcrs.is_empty() {
            "no PCR policy".to_string()
        } else {
            format!("PCR policy sha256:{}", self.pcrs.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(","))
        };
        format!("sealed by the TPM at \"{}\" in {} ({pcrs})", self.tcti, self.dir.display())
    }

    fn versions(&self) -> Result<Vec<i32>, KekError> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(perr(format!("cannot read {}: {e}", self.dir.display()))),
        };
        let mut v: Vec<i32> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_prefix("master-v")?.strip_suffix(".pub")?.parse().ok()
            })
            .collect();
        v.sort_unstable();
        Ok(v)
    }

    fn load(&self) -> Result<MasterKeys, KekError> {
        let versions = self.versions()?;
        let Some(&current) = versions.last() else {
            return Err(perr(format!(
                "no sealed master KEK in {}: run `portcullis kek init` (or `kek import` on a replica)",
                self.dir.display()
            )));
        };
        self.check_device()?;
        let mut blobs = Vec::new();
        for v in &versions {
            blobs.push((*v, self.read_version(*v)?));
        }
        let mut tpm = self.open()?;
        let primary = self.primary(&mut tpm)?;
        let mut keys = HashMap::new();
        for (v, (public, private, meta)) in blobs {
            let stem = Self::stem(v);
            let obj = tpm
                .ctx
                .execute_with_session(Some(AuthSession::Password), |c| c.load(primary, private, public))
                .map_err(|e| {
                    if explain(&e).is_some() {
                        return self.tpm_failure(&format!("cannot load master KEK v{v}"), e);
                    }
                    perr(format!(
                        "sealed blob of master KEK v{v} ({}) was tampered with or corrupted, or sealed by \
                         another TPM: the TPM refuses to load it ({e})",
                        self.file(&stem, "pub").display()
                    ))
                })?;
            tpm.track(obj.into());
            let sel = Self::pcr_selection(&meta.pcrs)?;
            let policy = !meta.pcrs.is_empty();
            let kind = if policy { SessionType::Policy } else { SessionType::Hmac };
            let session = match tpm.salted_session(primary, kind, false, true) {
                Ok(s) => s,
                Err(e) => {
                    tpm.flush(obj.into());
                    return Err(self.tpm_failure("cannot start a salted session", e));
                }
            };
            let r = (|| {
                if policy {
                    tpm.ctx.policy_pcr(PolicySession::try_from(session)?, Digest::default(), sel)?;
                }
                tpm.ctx.execute_with_session(Some(session), |c| c.unseal(obj.into()))
            })();
            tpm.flush_session(session);
            tpm.flush(obj.into());
            let data = r.map_err(|e| {
                if is_kind(&e, &[Tss2ResponseCodeKind::PolicyFail, Tss2ResponseCodeKind::PcrChanged, Tss2ResponseCodeKind::Pcr]) {
                    perr(format!(
                        "the platform state changed since master KEK v{v} was sealed: its PCR policy \
                         (sha256:{}) is not satisfied, the PCR values differ from sealing time (firmware, \
                         boot loader or Secure Boot settings changed). Boot into the sealed state, or \
                         enroll this host again from a replica (kek export / kek import) (TPM: {e})",
                        meta.pcrs.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(",")
                    ))
                } else {
                    self.tpm_failure(&format!("cannot unseal master KEK v{v}"), e)
                }
            })?;
            let mut raw = Zeroizing::new(data.value().to_vec());
            drop(data);
            let key = Key::from_slice(&mut raw[..]).ok_or_else(|| {
                perr(format!("master KEK v{v} unsealed to the wrong length: the blob is not a Portcullis master KEK"))
            })?;
            keys.insert(v, key);
        }
        tpm.flush(primary.into());
        Ok(MasterKeys { current, versions: keys })
    }

    fn store(&self, version: i32, key: &Key) -> Result<(), KekError> {
        let stem = Self::stem(version);
        if self.file(&stem, "pub").exists() {
            return Err(perr(format!(
                "master KEK v{version} is already sealed in {}; refusing to overwrite it",
                self.dir.display()
            )));
        }
        self.ensure_dir()?;
        let sel = Self::pcr_selection(&self.pcrs)?;
        let mut tpm = self.open()?;
        let primary = self.primary(&mut tpm)?;
        let policy = if self.pcrs.is_empty() {
            None
        } else {
            Some(tpm.pcr_policy_digest(sel).map_err(|e| self.tpm_failure("cannot compute the PCR policy", e))?)
        };
        let attrs = ObjectAttributesBuilder::new()
            .with_fixed_tpm(true)
            .with_fixed_parent(true)
            .with_user_with_auth(policy.is_none())
            .build()
            .map_err(|e| perr(e.to_string()))?;
        let mut pb = PublicBuilder::new()
            .with_public_algorithm(PublicAlgorithm::KeyedHash)
            .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
            .with_object_attributes(attrs)
            .with_keyed_hash_parameters(PublicKeyedHashParameters::new(KeyedHashScheme::Null))
            .with_keyed_hash_unique_identifier(Digest::default());
        if let Some(d) = policy {
            pb = pb.with_auth_policy(d);
        }
        let public = pb.build().map_err(|e| perr(e.to_string()))?;
        let data = SensitiveData::try_from(key.expose().to_vec()).map_err(|e| perr(e.to_string()))?;
        // decrypt: the sensitive data goes to the TPM encrypted under the session key
        let session = tpm.salted_session(primary, SessionType::Hmac, true, false).map_err(|e| self.tpm_failure("cannot start a salted session", e))?;
        let r = tpm.ctx.execute_with_session(Some(session), |c| c.create(primary, public, None, Some(data), None, None));
        tpm.flush_session(session);
        tpm.flush(primary.into());
        drop(tpm);
        let r = r.map_err(|e| self.tpm_failure(&format!("cannot seal master KEK v{version}"), e))?;
        let meta = Meta { version, pcr_bank: "sha256".into(), pcrs: self.pcrs.clone() };
        self.write_file(&self.file(&stem, "priv"), r.out_private.value())?;
        self.write_file(&self.file(&stem, "meta"), &serde_json::to_vec_pretty(&meta).map_err(|e| perr(e.to_string()))?)?;
        let pub_bytes = r.out_public.marshall().map_err(|e| perr(e.to_string()))?;
        self.write_file(&self.file(&stem, "pub"), &pub_bytes)?;
        Ok(())
    }

    fn retire(&self, version: i32) -> Result<(), KekError> {
        let stem = Self::stem(version);
        if self.versions()?.len() <= 1 && self.file(&stem, "pub").exists() {
            return Err(perr("refusing to retire the last master KEK version"));
        }
        for ext in ["pub", "priv", "meta"] {
            match std::fs::remove_file(self.file(&stem, ext)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(perr(format!("cannot remove {}: {e}", self.file(&stem, ext).display()))),
            }
        }
        Ok(())
    }

    fn lock_path(&self) -> PathBuf {
        self.dir.join(".admin.lock")
    }

    fn root_keys(&self) -> Option<Arc<dyn super::root_keys::RootKeys>> {
        Some(Arc::new(root_keys::TpmRootKeys::new(self.clone())))
    }
}
