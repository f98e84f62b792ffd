//! Serving the KMS v2 service on a unix socket, on a thread of its own with its own tokio
//! runtime (the HTTP server's actix runtime is left alone). A stale socket file from an earlier
//! run is replaced, anything else at the path is refused; the file is removed at shutdown.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::proto::key_management_service_server::KeyManagementServiceServer;
use super::{KmsBackend, KmsService};

/// How long in-flight calls get to finish once shutdown is asked for.
const DRAIN: Duration = Duration::from_secs(5);
/// Requests are a few hundred bytes; nothing larger is decoded.
const MAX_MESSAGE: usize = 64 * 1024;

/// A running KMS v2 endpoint. Dropping it (or [`KmsServer::stop`]) stops serving, waits for the
/// thread and removes the socket file.
pub struct KmsServer {
    path: PathBuf,
    /// (device, inode) of the socket file this server made: only that file is removed.
    file_id: (u64, u64),
    stop: Option<tokio::sync::watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl KmsServer {
    /// Binds `path` (mode `mode`) and serves `backend` on it. Fails when the path is taken by
    /// something other than a stale socket, or by a socket another process still listens on.
    pub fn start(path: &Path, mode: u32, backend: Arc<dyn KmsBackend>) -> Result<KmsServer, String> {
        let err = |e: std::io::Error| format!("[kms_v2] socket {}: {e}", path.display());
        let listener = bind(path, mode)?;
        let meta = std::fs::symlink_metadata(path).map_err(err)?;
        let file_id = (meta.dev(), meta.ino());
        let mut server = KmsServer { path: path.to_path_buf(), file_id, stop: None, thread: None };
        // Everything that can fail happens here, so a failure stops `serve` (and the socket file
        // is removed when `server` is dropped on the way out).
        listener.set_nonblocking(true).map_err(err)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .max_blocking_threads(64)
            .build()
            .map_err(|e| format!("[kms_v2]: cannot start a runtime: {e}"))?;
        let listener = {
            let _in_rt = rt.enter();
            tokio::net::UnixListener::from_std(listener).map_err(err)?
        };
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let shown = path.display().to_string();
        let thread = std::thread::Builder::new()
            .name("kms-v2".into())
            .spawn(move || {
                rt.block_on(serve(listener, backend, stop_rx, shown));
                // A backend call stuck past the drain (a hung database) does not hold the exit.
                rt.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(|e| format!("[kms_v2]: cannot start the server thread: {e}"))?;
        server.stop = Some(stop_tx);
        server.thread = Some(thread);
        tracing::info!(socket = %path.display(), mode = format!("{mode:04o}"), "serving the Kubernetes KMS v2 plugin API");
        Ok(server)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting, lets in-flight calls finish (up to a few seconds), removes the socket.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // Only the file this server made: another process may have taken the path since.
        if let Ok(m) = std::fs::symlink_metadata(&self.path) {
            if (m.dev(), m.ino()) == self.file_id {
                if let Err(e) = std::fs::remove_file(&self.path) {
                    tracing::warn!(socket = %self.path.display(), error = %e, "cannot remove the KMS v2 socket file");
                }
            }
        }
        self.file_id = (u64::MAX, u64::MAX);
    }
}

impl Drop for KmsServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Removes a stale socket (nobody listening on it) and binds a new one with `mode`.
fn bind(path: &Path, mode: u32) -> Result<UnixListener, String> {
    let shown = path.display();
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if UnixStream::connect(path).is_ok() {
                return Err(format!("[kms_v2] socket {shown}: another process is listening on it"));
            }
            std::fs::remove_file(path).map_err(|e| format!("[kms_v2] socket {shown}: cannot remove the stale socket: {e}"))?;
            tracing::info!(socket = %shown, "removed a stale KMS v2 socket file");
        }
        Ok(_) => return Err(format!("[kms_v2] socket {shown}: the path exists and is not a socket; refusing to replace it")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("[kms_v2] socket {shown}: {e}")),
    }
    let listener = UnixListener::bind(path).map_err(|e| format!("[kms_v2] socket {shown}: cannot listen: {e}"))?;
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
        drop(listener);
        let _ = std::fs::remove_file(path);
        return Err(format!("[kms_v2] socket {shown}: cannot set mode {mode:04o}: {e}"));
    }
    Ok(listener)
}

/// The server thread's task on its current-thread runtime (I/O here; backend calls go to the
/// runtime's blocking pool).
async fn serve(listener: tokio::net::UnixListener, backend: Arc<dyn KmsBackend>, mut stop: tokio::sync::watch::Receiver<bool>, shown: String) {
    let incoming = futures_util::stream::unfold(listener, |l| async move {
        loop {
            match l.accept().await {
                Ok((s, _)) => return Some((Ok::<_, std::io::Error>(s), l)),
                // Out of descriptors and the like: back off instead of spinning.
                Err(e) => {
                    tracing::warn!(error = %e, "kms v2: cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    let svc = KeyManagementServiceServer::new(KmsService::new(backend)).max_decoding_message_size(MAX_MESSAGE);
    let mut stop2 = stop.clone();
    let server = tonic::transport::Server::builder().serve_with_incoming_shutdown(svc, incoming, async move {
        let _ = stop2.wait_for(|s| *s).await;
    });
    let drain_deadline = async move {
        let _ = stop.wait_for(|s| *s).await;
        tokio::time::sleep(DRAIN).await;
    };
    tokio::select! {
        r = server => if let Err(e) = r {
            tracing::error!(socket = %shown, error = %e, "kms v2: the server stopped");
        },
        _ = drain_deadline => tracing::warn!(socket = %shown, "kms v2: calls still running at shutdown were cut off"),
    }
}
