//! Mutual TLS (`[ssl] ca_file`): with client auth required a client without a valid
//! certificate fails the handshake (curl, openssl s_client against the real binary); a verified
//! client's identity (subject, SANs, SHA-256 fingerprint) reaches the request context that the
//! policy layer sees (the library's TLS listener and authentication middleware, in-process).

use std::process::Command;

use actix_web::{web, App, HttpMessage, HttpRequest, HttpResponse, HttpServer};
use portcullis::auth::RequestContext;

use crate::tls::{curl, s_client, serve, sqlite_only, Pki};

#[test]
fn client_certificate_required() {
    if !sqlite_only() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let (cert, key) = pki.issue("srv", "localhost", "DNS:localhost", false);
    let (ccert, ckey) = pki.issue("client", "worker-1", "URI:spiffe://test/worker-1", true);
    // A client certificate from a CA the server does not trust.
    let stranger = tempfile::tempdir().unwrap();
    let other = Pki::new(stranger.path());
    let (xcert, xkey) = other.issue("x", "intruder", "DNS:intruder", true);
    let ca = pki.ca();
    let s = serve(dir.path(), &format!("cert_file = {cert:?}\nkey_file = {key:?}\nca_file = {ca:?}\n"));
    let ca = ca.to_str().unwrap();
    let url = format!("https://localhost:{}/v1/secrets", s.port);
    let resolve = format!("localhost:{}:127.0.0.1", s.port);

    let (ok, out) = curl(&["--cacert", ca, "--resolve", &resolve, "-H", "X-Project-Id: p", &url]);
    assert!(!ok, "no client certificate must fail: {out}");
    let (ok, out) = curl(&[
        "--cacert", ca, "--resolve", &resolve, "-H", "X-Project-Id: p",
        "--cert", xcert.to_str().unwrap(), "--key", xkey.to_str().unwrap(), &url,
    ]);
    assert!(!ok, "a certificate from an untrusted CA must fail: {out}");
    let (ok, out) = curl(&[
        "--cacert", ca, "--resolve", &resolve, "-H", "X-Project-Id: p",
        "--cert", ccert.to_str().unwrap(), "--key", ckey.to_str().unwrap(), &url,
    ]);
    assert!(ok && out.contains("\"total\""), "a valid client certificate is served: {out}");

    // s_client without a certificate: TLS 1.3 sends the alert after the client's Finished, so
    // send a request and look for the alert instead of an answer.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf 'GET /healthcheck HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' | openssl s_client -connect {} -CAfile {ca} -quiet 2>&1",
            s.addr()
        ))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("alert") && !text.contains("HTTP/1.1 200"), "{text}");
    let ok = s_client(&s.addr(), &["-CAfile", ca, "-cert", ccert.to_str().unwrap(), "-key", ckey.to_str().unwrap()]);
    assert!(ok.contains("Verify return code: 0 (ok)"), "{ok}");
}

/// What the policy layer sees: the request context of a request on a verified connection.
async fn whoami(req: HttpRequest) -> HttpResponse {
    let ext = req.extensions();
    let ctx = ext.get::<RequestContext>();
    let id = ctx.and_then(|c| c.client_cert.clone());
    HttpResponse::Ok().json(serde_json::json!({
        "project": ctx.and_then(|c| c.project_id.clone()),
        "subject": id.as_ref().map(|i| i.subject.clone()),
        "sans": id.as_ref().map(|i| i.sans.clone()),
        "sha256": id.as_ref().map(|i| i.fingerprint_sha256.clone()),
    }))
}

#[test]
fn verified_client_identity_reaches_the_request_context() {
    if !sqlite_only() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let (cert, key) = pki.issue("srv", "localhost", "DNS:localhost", false);
    let (ccert, ckey) = pki.issue("client", "worker-1", "URI:spiffe://test/worker-1,email:w1@example.org,IP:10.1.2.3", true);
    let mut cfg = crate::common::test_config(dir.path());
    cfg.ssl.cert_file = Some(cert);
    cfg.ssl.key_file = Some(key);
    cfg.ssl.ca_file = Some(pki.ca());
    cfg.ssl.client_auth = Some(portcullis::tls::ClientAuth::Optional);
    let tls = portcullis::tls::load(&cfg.ssl).unwrap().unwrap();
    let state = portcullis::server::prepare(cfg, true).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let srv = HttpServer::new(move || {
                App::new().app_data(state.clone()).service(
                    web::scope("/v1")
                        .wrap(actix_web::middleware::from_fn(portcullis::api::middleware::authenticate))
                        .route("/whoami", web::get().to(whoami)),
                )
            })
            .workers(1)
            .on_connect(portcullis::tls::on_connect)
            .bind_rustls_0_23("127.0.0.1:0", tls.config)
            .unwrap();
            let port = srv.addrs()[0].port();
            let srv = srv.run();
            tx.send((srv.handle(), port)).unwrap();
            let _ = srv.await;
        })
    });
    let (handle, port) = rx.recv().unwrap();
    let ca = pki.ca();
    let resolve = format!("localhost:{port}:127.0.0.1");
    let url = format!("https://localhost:{port}/v1/whoami");
    let base = ["--cacert", ca.to_str().unwrap(), "--resolve", &resolve, "-H", "X-Project-Id: p1"];

    let (ok, out) = curl(&[&base[..], &["--cert", ccert.to_str().unwrap(), "--key", ckey.to_str().unwrap(), &url]].concat());
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["project"], "p1");
    assert_eq!(v["subject"], "CN=worker-1");
    assert_eq!(v["sans"], serde_json::json!(["URI:spiffe://test/worker-1", "email:w1@example.org", "IP:10.1.2.3"]));
    let fp = Command::new("openssl").args(["x509", "-noout", "-fingerprint", "-sha256", "-in"]).arg(&ccert).output().unwrap();
    let fp = String::from_utf8_lossy(&fp.stdout).split('=').nth(1).unwrap().trim().replace(':', "").to_lowercase();
    assert_eq!(v["sha256"], fp);

    // client_auth = "optional": no certificate is served, without an identity.
    let (ok, out) = curl(&[&base[..], &[&url[..]]].concat());
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["project"], "p1");
    assert!(v["subject"].is_null() && v["sha256"].is_null(), "{v}");
    drop(handle.stop(false));
}
