//! The KMS v2 client of the tests and of examples/kms_bench.rs: the tonic client generated from
//! the upstream proto, over a unix socket through hyper's own HTTP/2 client connection.

use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use portcullis::kms::proto::key_management_service_client::KeyManagementServiceClient;

/// hyper's HTTP/2 client connection as the tower service the generated client wants.
#[derive(Clone)]
pub struct H2(hyper::client::conn::http2::SendRequest<tonic::body::Body>);

impl tonic::codegen::Service<tonic::codegen::http::Request<tonic::body::Body>> for H2 {
    type Response = tonic::codegen::http::Response<hyper::body::Incoming>;
    type Error = hyper::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Self::Response, hyper::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), hyper::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: tonic::codegen::http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(self.0.send_request(req))
    }
}

pub type Client = KeyManagementServiceClient<H2>;

/// A client on its own connection, with `:authority: localhost` as kube-apiserver sends.
pub async fn connect(path: &Path) -> Client {
    let io = tokio::net::UnixStream::connect(path).await.expect("connect to the KMS socket");
    let (send, conn) = hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), hyper_util::rt::TokioIo::new(io))
        .await
        .expect("HTTP/2 handshake");
    tokio::spawn(conn);
    KeyManagementServiceClient::with_origin(H2(send), "http://localhost".parse().unwrap())
}
