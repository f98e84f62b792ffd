use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use portcullis::config::Config;
use portcullis::server::{self, Overrides};

#[derive(Parser)]
#[command(name = "portcullis", version, about = "A key manager wire-compatible with OpenStack Barbican")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Clone)]
struct Common {
    /// TOML configuration file (environment overrides: PORTCULLIS_<SECTION>__<KEY>).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Development defaults: SQLite and a plaintext dev master KEK under ./data, noauth, loopback only.
    #[arg(long)]
    dev: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the Barbican v1 API.
    Serve {
        #[command(flatten)]
        common: Common,
        /// Address to listen on (default 127.0.0.1:9311, or bind_host/bind_port from the config).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Database maintenance.
    Db {
        #[command(subcommand)]
        cmd: DbCmd,
    },
}

#[derive(Subcommand)]
enum DbCmd {
    /// Apply pending schema migrations.
    Upgrade {
        #[command(flatten)]
        common: Common,
    },
}

fn load(common: &Common, listen: Option<SocketAddr>) -> Result<(Config, SocketAddr), String> {
    let mut cfg = Config::load(common.config.as_deref(), std::env::vars()).map_err(|e| e.to_string())?;
    let listen = server::apply_overrides(&mut cfg, &Overrides { dev: common.dev, listen })?;
    Ok((cfg, listen))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PORTCULLIS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let res = match cli.cmd {
        Cmd::Serve { common, listen } => serve(common, listen),
        Cmd::Db { cmd: DbCmd::Upgrade { common } } => load(&common, None).and_then(|(mut cfg, _)| {
            cfg.default.db_auto_create = false;
            let store = server::open_store(&cfg)?;
            let n = store.upgrade().map_err(|e| e.to_string())?;
            println!("applied {n} migration(s)");
            Ok(())
        }),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portcullis: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(common: Common, listen: Option<SocketAddr>) -> Result<(), String> {
    let (cfg, listen) = load(&common, listen)?;
    if common.dev {
        tracing::warn!("running with --dev: development settings, NOT for production");
    }
    let workers = cfg.default.workers;
    let state = server::prepare(cfg, common.dev)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let (srv, addr) = server::bind(state, listen, workers).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        tracing::info!(%addr, "portcullis is serving the Barbican v1 API");
        srv.await.map_err(|e| e.to_string())
    })
}
