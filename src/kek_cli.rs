//! `portcullis kek …` and `portcullis project-kek …`: thin wrappers over `portcullis::kek::admin`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;
use portcullis::config::{Config, KekProviderKind};
use portcullis::kek::admin::{self, BatchOptions};
use portcullis::kek::enroll::{self, ekcert::Anchors, target::EkTrust};
use portcullis::kek::tpm::TpmProvider;
use portcullis::kek::KeyManager;
use portcullis::server;

use crate::Common;

#[derive(clap::Args, Clone)]
pub struct Batches {
    /// Rows per batch (each batch is one short transaction of conditional updates).
    #[arg(long, default_value_t = 500)]
    batch_size: i64,
    /// Pause between batches, in milliseconds, to spare a busy database.
    #[arg(long, default_value_t = 0)]
    batch_pause_ms: u64,
}

impl Batches {
    fn options(&self) -> BatchOptions {
        BatchOptions { batch_size: self.batch_size.max(1), pause: Duration::from_millis(self.batch_pause_ms) }
    }
}

#[derive(Subcommand)]
pub enum KekCmd {
    /// Make a new master KEK (version 1) and seal it; refuses if one exists.
    Init {
        #[command(flatten)]
        common: Common,
    },
    /// Provider, master KEK versions, project KEKs per master version, and whether any master
    /// KEK rests in plaintext on this host.
    Status {
        #[command(flatten)]
        common: Common,
    },
    /// Seal a new master KEK version and rewrap every project KEK under it, in batches, while
    /// servers keep serving; safe to kill, finished by running it again. Older versions are
    /// retired once no project KEK needs them.
    Rotate {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        batches: Batches,
    },
    /// On a new replica: make an attestation key and an enrollment key in its TPM, certify the
    /// one with the other, and write what the source host needs (EK certificate, public keys,
    /// certification).
    ExportTargetKey {
        #[command(flatten)]
        common: Common,
        /// Where to write the public part (hand it to the source host).
        #[arg(long)]
        out: PathBuf,
    },
    /// On the source host: check a replica's target file (EK certificate against [kek]
    /// ek_ca_file, attestation key, certification of its enrollment key) and write the master
    /// KEK versions so that only that TPM opens them.
    Export {
        #[command(flatten)]
        common: Common,
        /// The file `kek export-target-key` wrote on the replica.
        #[arg(long)]
        to: PathBuf,
        /// Where to write the blob.
        #[arg(long)]
        out: PathBuf,
        /// INSECURE: export without checking the target's EK certificate against [kek]
        /// ek_ca_file; then nothing proves the target is a genuine TPM (tests, labs only).
        #[arg(long)]
        insecure_skip_ek_ca_check: bool,
    },
    /// On the replica: open an export blob in its TPM, check every version against the
    /// database's key-check values, and seal the versions locally.
    Import {
        #[command(flatten)]
        common: Common,
        /// The blob `kek export` wrote.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum ProjectKekCmd {
    /// Give a project a new active KEK: new secrets use it, older ones still decrypt.
    Rotate {
        #[command(flatten)]
        common: Common,
        /// The project (Keystone project id).
        #[arg(long)]
        project: String,
        /// Also re-encrypt the project's secrets under the new KEK, in batches.
        #[arg(long)]
        reencrypt: bool,
        #[command(flatten)]
        batches: Batches,
    },
}

fn config(common: &Common) -> Result<Config, String> {
    crate::load(common, None).map(|(cfg, _)| cfg)
}

fn tpm_only(cfg: &Config, what: &str) -> Result<TpmProvider, String> {
    if cfg.kek.provider != KekProviderKind::Tpm {
        return Err(format!("{what} needs [kek] provider = \"tpm\" on this host"));
    }
    Ok(TpmProvider::new(cfg.kek.tcti.clone(), cfg.kek.sealed_dir.clone(), cfg.kek.pcrs.clone()))
}

fn say(msg: &str) {
    eprintln!("{msg}");
}

pub fn kek(cmd: KekCmd) -> Result<(), String> {
    match cmd {
        KekCmd::Init { common } => {
            let cfg = config(&common)?;
            let p = server::provider(&cfg, false)?;
            let store = server::open_store(&cfg)?;
            println!("{}", admin::init(p.as_ref(), &store).map_err(|e| e.to_string())?);
            Ok(())
        }
        KekCmd::Status { common } => {
            let cfg = config(&common)?;
            let p = server::provider(&cfg, false)?;
            let store = server::open_store(&cfg)?;
            let st = admin::status(p.as_ref(), Some(&store), Some(&cfg.kek.file_path)).map_err(|e| e.to_string())?;
            print!("{st}");
            if st.unseal.is_err() {
                return Err("the master KEK does not unseal on this host".into());
            }
            Ok(())
        }
        KekCmd::Rotate { common, batches } => {
            let cfg = config(&common)?;
            let p = server::provider(&cfg, false)?;
            let store = server::open_store(&cfg)?;
            let r = admin::rotate_master(p.as_ref(), &store, &batches.options(), &mut |m| say(m))
                .map_err(|e| e.to_string())?;
            let secs = r.elapsed.as_secs_f64().max(1e-6);
            println!(
                "master KEK is now v{}: {} project KEKs rewrapped in {} batches in {:.3}s ({:.0}/s); retired: {}",
                r.target,
                r.rewrapped,
                r.batches,
                secs,
                r.rewrapped as f64 / secs,
                if r.retired.is_empty() { "none".into() } else { r.retired.iter().map(|v| format!("v{v}")).collect::<Vec<_>>().join(", ") }
            );
            Ok(())
        }
        KekCmd::ExportTargetKey { common, out } => {
            let cfg = config(&common)?;
            let tpm = tpm_only(&cfg, "kek export-target-key")?;
            let (text, desc) = enroll::export_target_key(&tpm).map_err(|e| e.to_string())?;
            write_private(&out, &text)?;
            println!("enrollment target written to {}; compare these names with what `kek export` prints:\n{desc}", out.display());
            Ok(())
        }
        KekCmd::Export { common, to, out, insecure_skip_ek_ca_check } => {
            let cfg = config(&common)?;
            let trust = match (&cfg.kek.ek_ca_file, insecure_skip_ek_ca_check) {
                (_, true) => {
                    say("WARNING: --insecure-skip-ek-ca-check: nothing proves that the target is a genuine TPM");
                    EkTrust::Insecure
                }
                (Some(path), false) => EkTrust::Ca(Anchors::load(path).map_err(|e| e.to_string())?),
                (None, false) => {
                    return Err("kek export needs [kek] ek_ca_file: the CA certificates (PEM) that vouch for the \
                                target TPM's endorsement key (or --insecure-skip-ek-ca-check, for tests only)"
                        .into())
                }
            };
            let p = server::provider(&cfg, false)?;
            let store = server::open_store(&cfg)?;
            let target = std::fs::read_to_string(&to).map_err(|e| format!("cannot read {}: {e}", to.display()))?;
            let r = enroll::export(p.as_ref(), &store, &target, &trust).map_err(|e| e.to_string())?;
            for v in &r.recorded {
                say(&format!("recorded the key-check value of master KEK v{v} in the database"));
            }
            write_private(&out, &r.blob)?;
            println!(
                "master KEK {} exported to {}; only the TPM of this target opens it:\n{}",
                r.versions.iter().map(|v| format!("v{v}")).collect::<Vec<_>>().join(", "),
                out.display(),
                r.target
            );
            Ok(())
        }
        KekCmd::Import { common, file } => {
            let cfg = config(&common)?;
            let tpm = tpm_only(&cfg, "kek import")?;
            let text = std::fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let store = server::open_store(&cfg)?;
            let r = enroll::import(&tpm, &text, &store).map_err(|e| e.to_string())?;
            if !r.skipped_retired.is_empty() {
                say(&format!("skipped retired master KEK {}", r.skipped_retired.iter().map(|v| format!("v{v}")).collect::<Vec<_>>().join(", ")));
            }
            if r.sealed.is_empty() {
                println!("nothing to import: this host already has every version in {}", file.display());
            } else {
                println!(
                    "imported and sealed master KEK {} (current: v{})",
                    r.sealed.iter().map(|v| format!("v{v}")).collect::<Vec<_>>().join(", "),
                    r.current
                );
            }
            Ok(())
        }
    }
}

/// Writes a file only its owner reads (0600).
fn write_private(path: &std::path::Path, text: &str) -> Result<(), String> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    use std::io::Write;
    opts.open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

pub fn project_kek(cmd: ProjectKekCmd) -> Result<(), String> {
    match cmd {
        ProjectKekCmd::Rotate { common, project, reencrypt, batches } => {
            let cfg = config(&common)?;
            let p = server::provider(&cfg, false)?;
            let store = server::open_store(&cfg)?;
            let keys = KeyManager::new(p, 16).map_err(|e| e.to_string())?;
            let r = admin::rotate_project(&keys, &store, &project, reencrypt, &batches.options(), &mut |m| say(m))
                .map_err(|e| e.to_string())?;
            if reencrypt {
                println!("project {project}: new active KEK {}; {} secrets re-encrypted under it", r.new_kek, r.reencrypted);
            } else {
                println!("project {project}: new active KEK {}; existing secrets stay under their KEK", r.new_kek);
            }
            Ok(())
        }
    }
}
