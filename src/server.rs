//! Assembling the service from its configuration, and serving it.

use std::net::SocketAddr;

use actix_web::{web, App, HttpServer};

use crate::api::{self, AppState};
use crate::config::{AuthStrategy, Config, KekProviderKind};
use crate::kek::{file::FileProvider, KeyManager, MasterKekProvider};
use crate::auth::keystone::KeystoneAuth;
use crate::auth::Authenticator;
use crate::policy::{PolicyOptions, PolicyStore};
use crate::service::Core;
use crate::store::{DbUrl, Store};

/// Options that only the command line sets.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub dev: bool,
    pub listen: Option<SocketAddr>,
}

/// Applies `--dev` and `--listen`: SQLite and the development KEK under `./data`, noauth,
/// loopback only.
pub fn apply_overrides(cfg: &mut Config, o: &Overrides) -> Result<SocketAddr, String> {
    if o.dev {
        cfg.default.sql_connection = "sqlite://data/portcullis.db".into();
        cfg.kek.provider = KekProviderKind::File;
        cfg.kek.file_path = "data/dev-master.kek".into();
        cfg.auth.strategy = AuthStrategy::Noauth;
        cfg.default.production = false;
    }
    let listen = match o.listen {
        Some(l) => l,
        None => format!("{}:{}", cfg.default.bind_host, cfg.default.bind_port)
            .parse()
            .map_err(|e| format!("bind_host/bind_port do not form an address: {e}"))?,
    };
    if o.dev && !listen.ip().is_loopback() {
        return Err(format!("--dev serves on loopback only; {listen} is not a loopback address"));
    }
    let default_href = cfg.default.host_href == crate::config::DefaultSection::default().host_href;
    let scheme = if cfg.ssl.enabled() { "https" } else { "http" };
    if o.dev && default_href {
        cfg.default.host_href = format!("{scheme}://{listen}");
    } else if default_href && cfg.ssl.enabled() {
        cfg.default.host_href = cfg.default.host_href.replacen("http://", "https://", 1);
    }
    Ok(listen)
}

/// The configured master-KEK provider (`create_dev_key`: make the development key file if it
/// is missing, as `serve --dev` does).
pub fn provider(cfg: &Config, create_dev_key: bool) -> Result<Box<dyn MasterKekProvider>, String> {
    match cfg.kek.provider {
        KekProviderKind::File => {
            if cfg.default.production {
                return Err("the 'file' master-KEK provider keeps the master KEK in plaintext and is \
                            refused when [DEFAULT] production = true; use provider = \"tpm\""
                    .into());
            }
            let p = FileProvider::new(cfg.kek.file_path.clone());
            if create_dev_key && p.create_if_missing().map_err(|e| e.to_string())? {
                tracing::warn!(path = %cfg.kek.file_path.display(), "created a development master KEK file");
            }
            tracing::warn!(
                path = %cfg.kek.file_path.display(),
                "DEVELOPMENT ONLY: the master KEK is stored in plaintext on disk (kek provider 'file')"
            );
            Ok(Box::new(p))
        }
        KekProviderKind::Tpm => Ok(Box::new(crate::kek::tpm::TpmProvider::new(
            cfg.kek.tcti.clone(),
            cfg.kek.sealed_dir.clone(),
            cfg.kek.pcrs.clone(),
        ))),
    }
}

/// Opens the store (and migrates it when configured).
pub fn open_store(cfg: &Config) -> Result<Store, String> {
    let url = DbUrl::parse(&cfg.default.sql_connection).map_err(|e| e.to_string())?;
    let wait = std::time::Duration::from_secs(cfg.default.sql_pool_timeout.max(1));
    let store = Store::open_with(&url, cfg.default.sql_pool_size, wait).map_err(|e| e.to_string())?;
    if cfg.default.db_auto_create {
        let n = store.upgrade().map_err(|e| format!("{}: {e}", url.display))?;
        if n > 0 {
            tracing::info!(migrations = n, database = %url.display, "database schema upgraded");
        }
    }
    Ok(store)
}

/// Everything but the listener: checks the settings, opens the store, unseals the master KEK.
pub fn prepare(cfg: Config, dev: bool) -> Result<web::Data<AppState>, String> {
    cfg.kms_v2.validate()?;
    let auth = match cfg.auth.strategy {
        AuthStrategy::Noauth => {
            if cfg.default.production {
                return Err("[auth] strategy = \"noauth\" is refused when [DEFAULT] production = true".into());
            }
            tracing::warn!("DEVELOPMENT ONLY: authentication is off (noauth): X-Project-Id and X-Roles headers are trusted as sent");
            Authenticator::Noauth { admin_role: cfg.default.admin_role.clone() }
        }
        AuthStrategy::Keystone => {
            if cfg.keystone_authtoken.auth_type != "password" {
                return Err(format!(
                    "[keystone_authtoken] auth_type = \"{}\" is not supported; use \"password\"",
                    cfg.keystone_authtoken.auth_type
                ));
            }
            if cfg.keystone_authtoken.username.is_empty() {
                return Err("[keystone_authtoken] username and password of the service user are required".into());
            }
            let ks = KeystoneAuth::new(cfg.keystone_authtoken.clone())?;
            tracing::info!(auth_url = %cfg.keystone_authtoken.auth_url, "validating Keystone tokens");
            Authenticator::Keystone(std::sync::Arc::new(ks))
        }
    };
    let oidc = crate::auth::oidc::OidcAuth::new(&cfg.oidc)?.map(std::sync::Arc::new);
    if let Some(o) = &oidc {
        tracing::info!(issuers = ?o.issuers(), "accepting workload JWTs (Authorization: Bearer) of the [oidc] issuers");
    }
    let provider = provider(&cfg, dev)?;
    let store = open_store(&cfg)?;
    let keys = KeyManager::new(provider, cfg.kek.cache_size)
        .map_err(|e| format!("refusing to start: cannot unseal the master KEK: {e}"))?;
    let policy = std::sync::Arc::new(PolicyStore::new(
        PolicyOptions {
            enforce_new_defaults: cfg.oslo_policy.enforce_new_defaults,
            enforce_scope: cfg.oslo_policy.enforce_scope,
        },
        cfg.oslo_policy.policy_file.clone(),
    )?);
    policy.watch(std::time::Duration::from_secs(2));
    let core = Core::new(store, keys, cfg.quotas.clone()).with_orders(&cfg.orders).with_secret_stores(&cfg.secretstore);
    if let Some(r) = crate::service::stores::sync_from_config(&core, &cfg.secretstore)? {
        tracing::info!(added = ?r.added, updated = ?r.updated, removed = ?r.removed, "secret stores synchronised with [secretstore]");
    }
    let mut state = AppState::new(cfg, core, policy, auth);
    state.oidc = oidc;
    let state = web::Data::new(state);
    // Passphrases an earlier version kept in order meta are sealed (running orders) or dropped.
    if let Err(e) = crate::service::orders::seal_legacy_passphrases(&state.core) {
        tracing::error!(error = %e, "cannot look for order passphrases kept in meta by an earlier version");
    }
    // Orders left PENDING by a crash, a shutdown or a replica that died are claimed and
    // processed again (never left PENDING); the sweeper keeps doing so while serving.
    if let Err(e) = crate::service::orders::start_sweeper(&state.core) {
        tracing::error!(error = %e, "cannot look for orders left PENDING; the sweeper tries again");
    }
    Ok(state)
}

/// Development-only settings serve loopback only, with or without `--dev`, whatever
/// `production` says: noauth trusts identity headers as sent, and the `file` provider keeps the
/// master KEK in plaintext.
pub fn check_listener(cfg: &Config, listen: SocketAddr) -> Result<(), String> {
    if listen.ip().is_loopback() {
        return Ok(());
    }
    if cfg.auth.strategy == AuthStrategy::Noauth {
        return Err(format!(
            "refusing to serve on {listen}: [auth] strategy = \"noauth\" trusts X-Project-Id and X-Roles \
             as sent and is served on loopback addresses only; set [auth] strategy = \"keystone\" \
             (or listen on 127.0.0.1)"
        ));
    }
    if cfg.kek.provider == KekProviderKind::File {
        return Err(format!(
            "refusing to serve on {listen}: [kek] provider = \"file\" keeps the master KEK in plaintext \
             and is served on loopback addresses only; set [kek] provider = \"tpm\" (or listen on 127.0.0.1)"
        ));
    }
    Ok(())
}

/// Binds the HTTP server (plain HTTP); SIGTERM/SIGINT drain in-flight requests before exit.
pub fn bind(
    state: web::Data<AppState>,
    listen: SocketAddr,
    workers: Option<usize>,
) -> std::io::Result<(actix_web::dev::Server, SocketAddr)> {
    bind_with(state, listen, workers, None)
}

/// Binds the HTTP server, over TLS when `tls` is given (see [`crate::tls::load`]).
pub fn bind_with(
    state: web::Data<AppState>,
    listen: SocketAddr,
    workers: Option<usize>,
    tls: Option<rustls::ServerConfig>,
) -> std::io::Result<(actix_web::dev::Server, SocketAddr)> {
    check_listener(&state.cfg, listen).map_err(std::io::Error::other)?;
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            // pecan serves `/v1/secrets/{id}/` and `/v1//secrets` as if the slash were absent
            .wrap(actix_web::middleware::NormalizePath::trim())
            .wrap(actix_web::middleware::from_fn(api::middleware::request_id))
            .configure(api::configure)
    })
    .shutdown_timeout(30);
    if let Some(w) = workers {
        server = server.workers(w.max(1));
    }
    let server = match tls {
        Some(tls) => server.on_connect(crate::tls::on_connect).bind_rustls_0_23(listen, tls)?,
        None => server.bind(listen)?,
    };
    let addr = server.addrs().first().copied().unwrap_or(listen);
    Ok((server.run(), addr))
}

/// `[kms_v2]`: starts the Kubernetes KMS v2 plugin endpoint on its unix socket when one is set
/// (None when not), backed by the managed key `[kms_v2] key` (see [`crate::kms::backend_for`]).
/// The returned server stops and removes its socket file when stopped or dropped.
pub fn start_kms(state: &AppState) -> Result<Option<crate::kms::KmsServer>, String> {
    let k = &state.cfg.kms_v2;
    if !k.enabled() {
        return Ok(None);
    }
    k.validate()?;
    let backend = crate::kms::backend_for(&state.core, &k.key)?;
    crate::kms::KmsServer::start(&k.socket, k.socket_mode, backend).map(Some)
}
