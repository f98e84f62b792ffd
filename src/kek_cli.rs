//! `portcullis kek …` and `portcullis project-kek …`: thin wrappers over `portcullis::kek::admin`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;
use portcullis::config::{Config, KekProviderKind};
use portcullis::kek::admin::{self, BatchOptions};
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
    /// On a new replica: make a TPM-resident enrollment key and write its public part.
    ExportTargetKey {
        #[command(flatten)]
        common: Common,
        /// Where to write the public part (hand it to the source host).
        #[arg(long)]
        out: PathBuf,
    },
    /// On the source host: write the master KEK versions encrypted to a replica's TPM key.
    Export {
        #[command(flatten)]
        common: Common,
        /// The file `kek export-target-key` wrote on the replica.
        #[arg(long)]
        to: PathBuf,
        /// Where to write the blob.
        #[arg(long)]
        out: PathBuf,
    },
    /// On the replica: decrypt an export blob inside its TPM and seal the versions locally.
    Import {
        #[command(flatten)]
        common: Common,
        /// The blob `kek export` wrote.
        file: PathBuf,
        /// Do not check the imported keys against the database's project KEKs.
        #[arg(long)]
        skip_db_check: bool,
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
            let (text, name) = admin::export_target_key(&tpm).map_err(|e| e.to_string())?;
            std::fs::write(&out, text).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
            println!("enrollment key written to {}; its TPM name is {name}", out.display());
            Ok(())
        }
        KekCmd::Export { common, to, out } => {
            let cfg = config(&common)?;
            let p = server::provider(&cfg, false)?;
            let target = std::fs::read_to_string(&to).map_err(|e| format!("cannot read {}: {e}", to.display()))?;
            let (blob, name) = admin::export(p.as_ref(), &target).map_err(|e| e.to_string())?;
            std::fs::write(&out, blob).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
            println!("master KEK versions exported to {} for the TPM key named {name}; only that TPM can open it", out.display());
            Ok(())
        }
        KekCmd::Import { common, file, skip_db_check } => {
            let cfg = config(&common)?;
            let tpm = tpm_only(&cfg, "kek import")?;
            let text = std::fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let store = if skip_db_check { None } else { Some(server::open_store(&cfg)?) };
            let sealed = admin::import(&tpm, &text, store.as_ref()).map_err(|e| e.to_string())?;
            if sealed.is_empty() {
                println!("nothing to import: this host already has every version in {}", file.display());
            } else {
                println!(
                    "imported and sealed master KEK {}",
                    sealed.iter().map(|v| format!("v{v}")).collect::<Vec<_>>().join(", ")
                );
            }
            Ok(())
        }
    }
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
