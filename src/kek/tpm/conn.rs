//! One connection to the TPM, and the objects Portcullis loads through it.
//!
//! On a TPM without a resource manager (the simulator, `/dev/tpm0`) objects stay loaded when
//! the process that loaded them dies; three or so leftovers and the TPM answers "out of object
//! memory". Portcullis flushes only its own leftovers, never another program's objects: each
//! transient object or session it loads is written to a journal in the sealed directory
//! (`.tpm-handles`: pid, TPM handle, and the object's TPM name), and struck off when flushed or
//! when the connection closes. At connect, the entries of Portcullis processes that no longer
//! run are flushed, an object only if the handle still holds an object of the same name.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use parking_lot::{Mutex, MutexGuard};
use tss_esapi::attributes::{ObjectAttributesBuilder, SessionAttributesBuilder};
use tss_esapi::constants::response_code::Tss2ResponseCodeKind;
use tss_esapi::constants::{CapabilityType, SessionType};
use tss_esapi::handles::{KeyHandle, ObjectHandle, SessionHandle, TpmHandle};
use tss_esapi::interface_types::algorithm::{HashingAlgorithm, PublicAlgorithm};
use tss_esapi::interface_types::ecc::EccCurve;
use tss_esapi::interface_types::resource_handles::Hierarchy;
use tss_esapi::interface_types::session_handles::{AuthSession, PolicySession};
use tss_esapi::structures::{
    CapabilityData, Digest, EccPoint, PcrSelectionList, PublicBuilder, PublicEccParametersBuilder,
    SymmetricDefinition, SymmetricDefinitionObject,
};
use tss_esapi::traits::Marshall;
use tss_esapi::Context;

/// What the TPM's answer means to an operator.
pub(super) fn explain(e: &tss_esapi::Error) -> Option<&'static str> {
    let tss_esapi::Error::Tss2Error(rc) = e else { return None };
    Some(match rc.kind()? {
        Tss2ResponseCodeKind::Lockout => {
            "the TPM is in dictionary-attack lockout and refuses DA-protected objects until the \
             lockout interval passes or the owner clears it (tpm2_dictionarylockout --clear-lockout)"
        }
        Tss2ResponseCodeKind::ObjectMemory | Tss2ResponseCodeKind::SessionMemory => {
            "the TPM is out of object or session memory: a process left objects loaded on a TPM \
             without a resource manager (use /dev/tpmrm0, or restart the simulator)"
        }
        Tss2ResponseCodeKind::Retry | Tss2ResponseCodeKind::Testing | Tss2ResponseCodeKind::Yielded => {
            "the TPM is busy; try again"
        }
        Tss2ResponseCodeKind::Initialize => "the TPM has not been started up (TPM2_Startup)",
        _ => return None,
    })
}

pub(super) fn is_kind(e: &tss_esapi::Error, kinds: &[Tss2ResponseCodeKind]) -> bool {
    matches!(e, tss_esapi::Error::Tss2Error(rc) if rc.kind().is_some_and(|k| kinds.contains(&k)))
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const SESSION: &str = "session";

struct Entry {
    pid: u32,
    handle: u32,
    /// The object's TPM name (hex), or "session".
    name: String,
}

/// The journal of the objects Portcullis processes have loaded (see the module doc).
pub(super) struct Journal {
    path: PathBuf,
}

impl Journal {
    pub(super) fn new(dir: &Path) -> Option<Journal> {
        dir.is_dir().then(|| Journal { path: dir.join(".tpm-handles") })
    }

    /// Reads, changes and writes the journal under an exclusive lock.
    fn update(&self, f: impl FnOnce(&mut Vec<Entry>)) -> std::io::Result<()> {
        let mut opts = std::fs::OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts.open(&self.path)?;
        file.lock()?;
        let mut text = String::new();
        file.read_to_string(&mut text)?;
        let mut entries: Vec<Entry> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                let pid = w.next()?.parse().ok()?;
                let handle = u32::from_str_radix(w.next()?.trim_start_matches("0x"), 16).ok()?;
                Some(Entry { pid, handle, name: w.next()?.to_string() })
            })
            .collect();
        f(&mut entries);
        let mut out = String::from("# TPM objects loaded by Portcullis processes: pid handle name (see src/kek/tpm/conn.rs)\n");
        for e in &entries {
            out.push_str(&format!("{} {:#010x} {}\n", e.pid, e.handle, e.name));
        }
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(out.as_bytes())
    }

    fn update_or_log(&self, f: impl FnOnce(&mut Vec<Entry>)) {
        if let Err(e) = self.update(f) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot update the journal of loaded TPM objects");
        }
    }
}

fn pid_alive(pid: u32) -> bool {
    // Where /proc does not exist, count every process as alive: flush nothing.
    !Path::new("/proc/self").exists() || Path::new(&format!("/proc/{pid}")).exists()
}

/// The right to talk to a TPM alone, held for the life of one connection. A TPM without a
/// resource manager would otherwise see two connections' objects at once (and run out of object
/// slots, or flush each other's objects): connections to one TCTI take turns within the process
/// (a lock per TCTI) and, without a resource manager, across processes too (an exclusive lock
/// on `.tpm.lock` in the sealed directory). Always taken in this order, never nested.
pub(super) struct Exclusive {
    _process: MutexGuard<'static, ()>,
    _file: Option<std::fs::File>,
}

impl Exclusive {
    pub(super) fn acquire(tcti: &str, dir: Option<&Path>) -> std::io::Result<Exclusive> {
        static LOCKS: Mutex<BTreeMap<String, &'static Mutex<()>>> = Mutex::new(BTreeMap::new());
        // One small lock per TCTI this process ever opens (a handful), kept for its lifetime.
        let lock: &'static Mutex<()> = LOCKS.lock().entry(tcti.to_string()).or_insert_with(|| Box::leak(Box::default()));
        let process = lock.lock();
        let file = match dir.filter(|d| d.is_dir()) {
            Some(d) => {
                let mut opts = std::fs::OpenOptions::new();
                opts.read(true).write(true).create(true).truncate(false);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    opts.mode(0o600);
                }
                let f = opts.open(d.join(".tpm.lock"))?;
                f.lock()?;
                Some(f)
            }
            None => None,
        };
        Ok(Exclusive { _process: process, _file: file })
    }
}

/// One open TPM connection. Dropping it flushes whatever the context still tracks.
pub(super) struct Tpm {
    pub ctx: Context,
    /// None with a resource manager (it flushes what a closed connection left).
    journal: Option<Journal>,
    /// TPM handles loaded when we last looked, and ours among them (by ESYS handle).
    known: BTreeSet<u32>,
    ours: HashMap<ObjectHandle, u32>,
    /// Released last, after the context has flushed what it tracks (fields drop in order).
    _exclusive: Exclusive,
}

impl Tpm {
    pub(super) fn new(ctx: Context, journal: Option<Journal>, exclusive: Exclusive) -> Tpm {
        let mut t = Tpm { ctx, journal, known: BTreeSet::new(), ours: HashMap::new(), _exclusive: exclusive };
        if t.journal.is_some() {
            t.flush_leftovers();
            t.known = t.loaded_handles();
        }
        t
    }

    /// Transient objects and sessions loaded in the TPM (the loaded-session query lists HMAC
    /// and policy sessions alike, each with its own handle type).
    fn loaded_handles(&mut self) -> BTreeSet<u32> {
        let mut out = BTreeSet::new();
        if let Ok((CapabilityData::Handles(list), _)) = self.ctx.get_capability(CapabilityType::Handles, 0x0200_0000, 64) {
            out.extend(list.into_inner().into_iter().map(u32::from).filter(|h| matches!(h >> 24, 0x02 | 0x03)));
        }
        let mut from = 0x8000_0000u32;
        while let Ok((CapabilityData::Handles(list), more)) = self.ctx.get_capability(CapabilityType::Handles, from, 64) {
            let hs: Vec<u32> = list.into_inner().into_iter().map(u32::from).filter(|h| h >> 24 == 0x80).collect();
            out.extend(&hs);
            match hs.last() {
                Some(last) if more => from = last + 1,
                _ => break,
            }
        }
        out
    }

    /// Notes an object or session we just loaded: the one handle that was not loaded before.
    pub(super) fn track(&mut self, h: ObjectHandle) {
        if self.journal.is_none() {
            return;
        }
        let now = self.loaded_handles();
        let new: Vec<u32> = now.difference(&self.known).copied().collect();
        self.known = now;
        let [handle] = new[..] else {
            tracing::debug!(?new, "cannot tell which TPM handle was just loaded; not journaled");
            return;
        };
        let name = if handle >> 24 == 0x80 {
            match self.ctx.tr_get_name(h) {
                Ok(n) => hex(n.value()),
                Err(_) => return,
            }
        } else {
            SESSION.to_string()
        };
        self.ours.insert(h, handle);
        let pid = std::process::id();
        if let Some(j) = &self.journal {
            j.update_or_log(|es| es.push(Entry { pid, handle, name }));
        }
    }

    pub(super) fn track_session(&mut self, s: AuthSession) {
        self.track(ObjectHandle::from(SessionHandle::from(s)));
    }

    pub(super) fn flush(&mut self, h: ObjectHandle) {
        if let Err(e) = self.ctx.flush_context(h) {
            tracing::debug!(error = %e, "TPM flush failed");
        }
        if let Some(handle) = self.ours.remove(&h) {
            self.known.remove(&handle);
            let pid = std::process::id();
            if let Some(j) = &self.journal {
                j.update_or_log(|es| es.retain(|e| !(e.pid == pid && e.handle == handle)));
            }
        }
    }

    pub(super) fn flush_session(&mut self, s: AuthSession) {
        self.flush(ObjectHandle::from(SessionHandle::from(s)));
    }

    /// Flushes what Portcullis processes that no longer run left loaded (see the module doc).
    fn flush_leftovers(&mut self) {
        let Some(journal) = self.journal.take() else { return };
        let loaded = self.loaded_handles();
        let me = std::process::id();
        journal.update_or_log(|entries| {
            entries.retain(|e| {
                if e.pid == me || pid_alive(e.pid) {
                    return true;
                }
                if loaded.contains(&e.handle) {
                    self.flush_leftover(e);
                }
                false
            })
        });
        self.journal = Some(journal);
    }

    fn flush_leftover(&mut self, e: &Entry) {
        let Ok(mut obj) = TpmHandle::try_from(e.handle).and_then(|h| self.ctx.tr_from_tpm_public(h)) else {
            tracing::debug!(handle = e.handle, "cannot open a leftover TPM handle");
            return;
        };
        let same = e.name == SESSION || self.ctx.tr_get_name(obj).is_ok_and(|n| hex(n.value()) == e.name);
        if !same {
            // Another program's object now sits at that handle: leave it loaded. (tss-esapi
            // answers an error here because it meant to flush a transient handle, but ESYS has
            // closed it by then, so the context can no longer flush it.)
            let _ = self.ctx.tr_close(&mut obj);
            return;
        }
        match self.ctx.flush_context(obj) {
            Ok(()) => tracing::warn!(handle = format!("{:#010x}", e.handle), pid = e.pid, "flushed a TPM object that a Portcullis process which no longer runs left loaded"),
            Err(err) => {
                tracing::debug!(handle = e.handle, error = %err, "cannot flush a leftover TPM handle");
                let _ = self.ctx.tr_close(&mut obj);
            }
        }
    }

    /// The storage primary key: ECC NIST P-256, AES-128-CFB, the TCG SRK template (derived
    /// again from the owner seed each time: same seed, same key). Returns it and its TPM name.
    pub(super) fn create_srk(&mut self) -> tss_esapi::Result<(KeyHandle, Vec<u8>)> {
        let attrs = ObjectAttributesBuilder::new()
            .with_fixed_tpm(true)
            .with_fixed_parent(true)
            .with_sensitive_data_origin(true)
            .with_user_with_auth(true)
            .with_no_da(true)
            .with_restricted(true)
            .with_decrypt(true)
            .build()?;
        let public = PublicBuilder::new()
            .with_public_algorithm(PublicAlgorithm::Ecc)
            .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
            .with_object_attributes(attrs)
            .with_ecc_parameters(
                PublicEccParametersBuilder::new_restricted_decryption_key(
                    SymmetricDefinitionObject::AES_128_CFB,
                    EccCurve::NistP256,
                )
                .build()?,
            )
            .with_ecc_unique_identifier(EccPoint::default())
            .build()?;
        let r = self.ctx.execute_with_session(Some(AuthSession::Password), |c| {
            c.create_primary(Hierarchy::Owner, public, None, None, None, None)
        })?;
        self.track(r.key_handle.into());
        let name = crate::kek::enroll::target::tpm_name(&r.out_public.marshall()?);
        Ok((r.key_handle, name))
    }

    /// A session salted by the primary key (ECDH), with parameter encryption as asked:
    /// `decrypt` for the command's first parameter, `encrypt` for the response's.
    pub(super) fn salted_session(
        &mut self,
        primary: KeyHandle,
        kind: SessionType,
        decrypt: bool,
        encrypt: bool,
    ) -> tss_esapi::Result<AuthSession> {
        let s = self
            .ctx
            .start_auth_session(
                Some(primary),
                None,
                None,
                kind,
                SymmetricDefinition::AES_128_CFB,
                HashingAlgorithm::Sha256,
            )?
            .ok_or(tss_esapi::Error::WrapperError(tss_esapi::WrapperErrorKind::WrongValueFromTpm))?;
        self.track_session(s);
        let (attrs, mask) = SessionAttributesBuilder::new()
            .with_continue_session(true)
            .with_decrypt(decrypt)
            .with_encrypt(encrypt)
            .build();
        self.ctx.tr_sess_set_attributes(s, attrs, mask)?;
        Ok(s)
    }

    /// An unsalted policy session (for objects authorised by policy alone, as the EK).
    pub(super) fn policy_session(&mut self) -> tss_esapi::Result<AuthSession> {
        let s = self
            .ctx
            .start_auth_session(None, None, None, SessionType::Policy, SymmetricDefinition::AES_128_CFB, HashingAlgorithm::Sha256)?
            .ok_or(tss_esapi::Error::WrapperError(tss_esapi::WrapperErrorKind::WrongValueFromTpm))?;
        self.track_session(s);
        Ok(s)
    }

    /// The policy digest of PolicyPCR over the current values of the selected PCRs.
    pub(super) fn pcr_policy_digest(&mut self, sel: PcrSelectionList) -> tss_esapi::Result<Digest> {
        let trial = self
            .ctx
            .start_auth_session(None, None, None, SessionType::Trial, SymmetricDefinition::Null, HashingAlgorithm::Sha256)?
            .ok_or(tss_esapi::Error::WrapperError(tss_esapi::WrapperErrorKind::WrongValueFromTpm))?;
        self.track_session(trial);
        let ps = PolicySession::try_from(trial)?;
        let r = self.ctx.policy_pcr(ps, Digest::default(), sel).and_then(|_| self.ctx.policy_get_digest(ps));
        self.flush_session(trial);
        r
    }
}

impl Drop for Tpm {
    fn drop(&mut self) {
        // The context flushes what it still tracks right after this; strike our entries off.
        if let Some(j) = &self.journal {
            let pid = std::process::id();
            if !self.ours.is_empty() {
                j.update_or_log(|es| es.retain(|e| e.pid != pid));
            }
        }
    }
}
