use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use portcullis::config::Config;
use portcullis::server::{self, Overrides};
use portcullis::telemetry::logs::{self, LogFormat};

mod kek_cli;

#[derive(Parser)]
#[command(name = "portcullis", version, about = "A key manager wire-compatible with OpenStack Barbican")]
struct Cli {
    /// Log lines for people (human, the default) or one JSON object per line for log shippers.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, env = "PORTCULLIS_LOG_FORMAT")]
    log_format: LogFormat,
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
    /// Validate a configuration without starting the server and print the SCS Key Manager
    /// posture (exit 0: all pass; 1: a required item fails; 2: the configuration is invalid).
    Check {
        /// TOML configuration file (environment overrides apply).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Database maintenance.
    Db {
        #[command(subcommand)]
        cmd: DbCmd,
    },
    /// Inspect the policy in force (defaults plus [oslo_policy] policy_file).
    Policy {
        #[command(subcommand)]
        cmd: PolicyCmd,
    },
    /// The master KEK: create, inspect, rotate, and enroll replicas.
    Kek {
        #[command(subcommand)]
        cmd: kek_cli::KekCmd,
    },
    /// Project KEKs.
    ProjectKek {
        #[command(subcommand)]
        cmd: kek_cli::ProjectKekCmd,
    },
    /// Bring another key manager's data over.
    Import {
        #[command(subcommand)]
        cmd: ImportCmd,
    },
}

#[derive(Subcommand)]
enum ImportCmd {
    /// Import a Barbican database (simple_crypto secrets re-encrypted under Portcullis KEKs).
    /// Reads Barbican's database only; inserts only what is missing here (safe to run again).
    Barbican {
        #[command(flatten)]
        common: Common,
        /// Barbican's configuration: [database] connection and [simple_crypto_plugin] kek(s).
        #[arg(long, value_name = "FILE")]
        barbican_conf: PathBuf,
        /// Barbican's database URL (SQLAlchemy form), instead of the one in --barbican-conf.
        #[arg(long, value_name = "URL")]
        connection: Option<String>,
        /// Read and decrypt everything, report what would be imported, write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Read every secret back through Portcullis and compare it with Barbican's (by hash).
        #[arg(long)]
        verify: bool,
    },
}

#[derive(Subcommand)]
enum PolicyCmd {
    /// Decide one rule for given credentials and target; prints "allow" or "deny"
    /// (exit 0 either way; 2 on an unknown rule or a bad file).
    Check {
        #[command(flatten)]
        common: Common,
        /// Rule name, e.g. secret:decrypt.
        rule: String,
        /// Comma-separated roles of the caller.
        #[arg(long, default_value = "")]
        roles: String,
        /// The caller's project.
        #[arg(long)]
        project: Option<String>,
        /// The caller's user id.
        #[arg(long)]
        user: Option<String>,
        /// A system-scoped caller (e.g. "all").
        #[arg(long)]
        system_scope: Option<String>,
        /// Target facts as KEY=VALUE, e.g. target.secret.project_id=P (repeatable).
        #[arg(long = "target", value_name = "KEY=VALUE")]
        target: Vec<String>,
        /// A policy file to use instead of the configured one.
        #[arg(long)]
        policy_file: Option<PathBuf>,
        /// Evaluate with the secure-RBAC defaults only.
        #[arg(long)]
        enforce_new_defaults: bool,
        #[arg(long)]
        enforce_scope: bool,
    },
    /// Print the effective policy as YAML.
    Dump {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        policy_file: Option<PathBuf>,
        #[arg(long)]
        enforce_new_defaults: bool,
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
    // Everything Portcullis creates (database, WAL/SHM, data directory, sealed blobs, key files)
    // is for its own user only.
    // SAFETY: umask(2) cannot fail and touches only the process's file-creation mask.
    unsafe { libc::umask(0o077) };
    let cli = Cli::parse();
    logs::init(cli.log_format);
    let res = match cli.cmd {
        Cmd::Check { config } => return ExitCode::from(portcullis::check::run(&config, std::env::vars())),
        Cmd::Serve { common, listen } => serve(common, listen),
        Cmd::Db { cmd: DbCmd::Upgrade { common } } => load(&common, None).and_then(|(mut cfg, _)| {
            cfg.default.db_auto_create = false;
            let store = server::open_store(&cfg)?;
            let n = store.upgrade().map_err(|e| e.to_string())?;
            println!("applied {n} migration(s)");
            Ok(())
        }),
        Cmd::Policy { cmd } => policy_cmd(cmd),
        Cmd::Kek { cmd } => kek_cli::kek(cmd),
        Cmd::ProjectKek { cmd } => kek_cli::project_kek(cmd),
        Cmd::Import { cmd } => import(cmd),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.starts_with("policy: ") => {
            eprintln!("portcullis {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("portcullis: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(common: Common, listen: Option<SocketAddr>) -> Result<(), String> {
    let (cfg, listen) = load(&common, listen)?;
    server::check_listener(&cfg, listen)?;
    if common.dev {
        tracing::warn!("running with --dev: development settings, NOT for production");
    }
    let workers = cfg.default.workers;
    // Certificate files are read before anything else is opened: a bad [ssl] stops the start.
    let tls = portcullis::tls::load(&cfg.ssl)?;
    if tls.is_none() && !listen.ip().is_loopback() {
        tracing::warn!(%listen, "serving plain HTTP on a non-loopback address: configure [ssl] unless a TLS-terminating proxy is in front");
    }
    let state = server::prepare(cfg, common.dev)?;
    // The KMS v2 socket ([kms_v2]) serves on its own thread; stopped (socket removed) at the end.
    let kms = server::start_kms(&state)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let local = tokio::task::LocalSet::new();
    let res = local.block_on(&rt, async move {
        let (config, cert) = match tls {
            Some(t) => (Some(t.config), Some(t.cert)),
            None => (None, None),
        };
        let (srv, addr) = server::bind_with(state, listen, workers, config)
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        if let Some(cert) = &cert {
            tracing::info!(sha256 = %cert.fingerprint(), "TLS on (1.2 and 1.3); SIGHUP reloads [ssl] cert_file and key_file");
        }
        portcullis::tls::reload_on_sighup(cert).map_err(|e| format!("cannot handle SIGHUP: {e}"))?;
        tracing::info!(%addr, "portcullis is serving the Barbican v1 API");
        srv.await.map_err(|e| e.to_string())
    });
    if let Some(k) = kms {
        k.stop();
    }
    res
}

fn import(cmd: ImportCmd) -> Result<(), String> {
    let ImportCmd::Barbican { common, barbican_conf, connection, dry_run, verify } = cmd;
    let (cfg, _) = load(&common, None)?;
    let started = std::time::Instant::now();
    let opts = portcullis::import::Options { barbican_conf, connection, dry_run, verify };
    // Barbican's side first: a wrong KEK or an unreadable database stops before Portcullis's
    // database is opened (let alone migrated or written).
    let prepared = portcullis::import::Prepared::open(&opts).map_err(|e| format!("import barbican: {e}"))?;
    let core = portcullis::import::open_core(&cfg, dry_run)?;
    let report = prepared.run(&core, &opts).map_err(|e| format!("import barbican: {e}"))?;
    print!("{}", report.table());
    println!("{} in {:.1} s", if dry_run { "dry run (nothing written)" } else { "import done" }, started.elapsed().as_secs_f64());
    match report.failures() {
        0 => Ok(()),
        n => Err(format!("import barbican: {n} object(s) failed; see above (run again to retry them)")),
    }
}

fn policy_cmd(cmd: PolicyCmd) -> Result<(), String> {
    use portcullis::auth::RequestContext;
    use portcullis::policy::{Policy, PolicyOptions, PolicyTarget};
    let load_policy = |common: &Common, file: Option<PathBuf>, new: bool, scope: bool| {
        let (cfg, _) = load(common, None)?;
        let opts = PolicyOptions {
            enforce_new_defaults: new || cfg.oslo_policy.enforce_new_defaults,
            enforce_scope: scope || cfg.oslo_policy.enforce_scope,
        };
        let file = file.or(cfg.oslo_policy.policy_file);
        let (p, warnings) = Policy::load(opts, file.as_deref()).map_err(|e| format!("policy: {e}"))?;
        for w in warnings {
            eprintln!("warning: {w}");
        }
        Ok::<Policy, String>(p)
    };
    match cmd {
        PolicyCmd::Check { common, rule, roles, project, user, system_scope, target, policy_file, enforce_new_defaults, enforce_scope } => {
            let p = load_policy(&common, policy_file, enforce_new_defaults, enforce_scope)?;
            if !p.has_rule(&rule) {
                return Err(format!("policy: unknown rule '{rule}'"));
            }
            let ctx = RequestContext {
                user_id: user,
                project_id: project,
                roles: roles.split(',').map(|r| r.trim().to_string()).filter(|r| !r.is_empty()).collect(),
                system_scope,
                ..RequestContext::default()
            };
            let mut t = PolicyTarget::none();
            for kv in target {
                let (k, v) = kv.split_once('=').ok_or_else(|| format!("policy: --target {kv}: expected KEY=VALUE"))?;
                t.0.insert(k.to_string(), v.to_string());
            }
            let allow = p.decide(&rule, &ctx, &t).unwrap_or_else(|cut| {
                eprintln!("note: the decision was cut off, which denies: {cut}");
                false
            });
            println!("{}", if allow { "allow" } else { "deny" });
            Ok(())
        }
        PolicyCmd::Dump { common, policy_file, enforce_new_defaults } => {
            let p = load_policy(&common, policy_file, enforce_new_defaults, false)?;
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let mut text = String::from("# Effective Portcullis policy (oslo.policy syntax)\n");
            for (k, v) in p.dump() {
                text.push_str(&format!("{}: {}\n", yaml_quote(k), yaml_quote(v)));
            }
            out.write_all(text.as_bytes()).ok(); // a closed pipe (| head) is not an error
            Ok(())
        }
    }
}

fn yaml_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
