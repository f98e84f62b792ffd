//! The verified client certificate of a mutual-TLS connection, as a [`ClientIdentity`] in the
//! connection's data (`HttpRequest::conn_data`), from where the authentication middleware puts
//! it on the request context.

use std::any::Any;
use std::sync::Arc;

use actix_web::dev::Extensions;
use sha2::{Digest, Sha256};
use x509_cert::der::Decode;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;

use crate::auth::ClientIdentity;

type TlsStream = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;

/// `HttpServer::on_connect` hook. rustls has verified the chain before this runs (a connection
/// whose certificate fails verification never gets here).
pub fn on_connect(conn: &dyn Any, data: &mut Extensions) {
    let Some(tls) = conn.downcast_ref::<TlsStream>() else { return };
    let (_, session) = tls.get_ref();
    if let Some(leaf) = session.peer_certificates().and_then(|c| c.first()) {
        data.insert(Arc::new(identity(leaf.as_ref())));
    }
}

/// Subject, subject alternative names and SHA-256 fingerprint of a DER certificate. A part
/// that does not parse is left empty (the fingerprint is always there).
pub fn identity(der: &[u8]) -> ClientIdentity {
    let mut id = ClientIdentity { subject: String::new(), sans: Vec::new(), fingerprint_sha256: sha256_hex(der) };
    let Ok(cert) = x509_cert::Certificate::from_der(der) else { return id };
    id.subject = cert.tbs_certificate.subject.to_string();
    if let Ok(Some((_, san))) = cert.tbs_certificate.get::<SubjectAltName>() {
        for name in san.0 {
            match name {
                GeneralName::DnsName(n) => id.sans.push(format!("DNS:{n}")),
                GeneralName::UniformResourceIdentifier(n) => id.sans.push(format!("URI:{n}")),
                GeneralName::Rfc822Name(n) => id.sans.push(format!("email:{n}")),
                GeneralName::IpAddress(ip) => {
                    let b = ip.as_bytes();
                    let ip = match b.len() {
                        4 => <[u8; 4]>::try_from(b).map(|a| std::net::IpAddr::from(a).to_string()).ok(),
                        16 => <[u8; 16]>::try_from(b).map(|a| std::net::IpAddr::from(a).to_string()).ok(),
                        _ => None,
                    };
                    if let Some(ip) = ip {
                        id.sans.push(format!("IP:{ip}"));
                    }
                }
                _ => {}
            }
        }
    }
    id
}

pub fn sha256_hex(der: &[u8]) -> String {
    Sha256::digest(der).iter().map(|b| format!("{b:02x}")).collect()
}
