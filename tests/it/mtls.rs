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
    assert_eq!(v["sha256"], fingerprint(&ccert));

    // client_auth = "optional": no certificate is served, without an identity.
    let (ok, out) = curl(&[&base[..], &[&url[..]]].concat());
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["project"], "p1");
    assert!(v["subject"].is_null() && v["sha256"].is_null(), "{v}");
    drop(handle.stop(false));
}

/// A certificate's SHA-256 fingerprint as openssl prints it, in lower-case hex.
fn fingerprint(cert: &std::path::Path) -> String {
    let out = Command::new("openssl").args(["x509", "-noout", "-fingerprint", "-sha256", "-in"]).arg(cert).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split('=').nth(1).unwrap().trim().replace(':', "").to_lowercase()
}

/// `curl` over the verified connection: (HTTP status, body).
fn call(base: &[&str], cert: Option<(&std::path::Path, &std::path::Path)>, method: &str, url: &str, body: &serde_json::Value, who: &[&str]) -> (u16, serde_json::Value) {
    let mut args: Vec<String> = base.iter().map(|s| s.to_string()).collect();
    if let Some((c, k)) = cert {
        args.extend(["--cert".into(), c.to_str().unwrap().into(), "--key".into(), k.to_str().unwrap().into()]);
    }
    for h in who {
        args.extend(["-H".into(), h.to_string()]);
    }
    args.extend(["-X".into(), method.into(), "-H".into(), "Content-Type: application/json".into(), "-d".into(), body.to_string()]);
    args.extend(["-w".into(), "\n%{http_code}".into(), url.into()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out) = curl(&refs);
    assert!(ok, "{out}");
    let (text, code) = out.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), serde_json::from_str(text).unwrap_or(serde_json::Value::Null))
}

/// Key grants to TLS client certificates, end to end through the real binary: a grant by SAN
/// (a SPIFFE ID) and one by SHA-256 fingerprint give exactly their operations, to callers whose
/// roles give nothing; without the certificate, or with another one, the same caller is refused.
#[test]
fn key_grants_to_client_certificates() {
    if !sqlite_only() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let (cert, key) = pki.issue("srv", "localhost", "DNS:localhost", false);
    let (c1, k1) = pki.issue("w1", "worker-1", "URI:spiffe://test/worker-1", true);
    let (c2, k2) = pki.issue("w2", "worker-2", "URI:spiffe://test/worker-2", true);
    let fp2 = fingerprint(&c2);
    let ca = pki.ca();
    let s = serve(dir.path(), &format!("cert_file = {cert:?}\nkey_file = {key:?}\nca_file = {ca:?}\nclient_auth = \"optional\"\n"));
    let resolve = format!("localhost:{}:127.0.0.1", s.port);
    let base = ["--cacert", ca.to_str().unwrap(), "--resolve", &resolve];
    let keys = format!("https://localhost:{}/v1/keys", s.port);
    let admin = ["X-Project-Id: p1", "X-Roles: admin,member,reader", "X-User-Id: adm"];
    let policy = serde_json::json!({ "grants": [
        { "identity": { "type": "cert", "san": "URI:spiffe://test/worker-1" }, "operations": ["encrypt"] },
        { "identity": { "type": "cert", "fingerprint_sha256": fp2 }, "operations": ["decrypt"] },
    ]});
    let (code, v) = call(&base, None, "POST", &keys, &serde_json::json!({ "name": "k", "type": "aes256-gcm", "policy": policy }), &admin);
    assert_eq!(code, 201, "{v}");
    let id = v["key_ref"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let url = |op: &str| format!("{keys}/{id}/{op}");
    // A workload of the key's project whose role no default rule knows.
    let workload = ["X-Project-Id: p1", "X-Roles: workload", "X-User-Id: w"];
    let plain = serde_json::json!({ "plaintext": "c2VjcmV0" });

    let (code, v) = call(&base, Some((&c1, &k1)), "POST", &url("encrypt"), &plain, &workload);
    assert_eq!(code, 200, "worker-1's SAN is granted encrypt: {v}");
    let ct = serde_json::json!({ "ciphertext": v["ciphertext"] });
    assert_eq!(call(&base, Some((&c1, &k1)), "POST", &url("decrypt"), &ct, &workload).0, 403, "not decrypt");
    assert_eq!(call(&base, None, "POST", &url("encrypt"), &plain, &workload).0, 403, "no certificate, no grant");
    let (code, v) = call(&base, Some((&c2, &k2)), "POST", &url("decrypt"), &ct, &workload);
    assert_eq!((code, v["plaintext"].clone()), (200, serde_json::json!("c2VjcmV0")), "worker-2's fingerprint is granted decrypt");
    assert_eq!(call(&base, Some((&c2, &k2)), "POST", &url("encrypt"), &plain, &workload).0, 403, "not encrypt");
    assert_eq!(call(&base, None, "POST", &url("decrypt"), &ct, &workload).0, 403);
}
