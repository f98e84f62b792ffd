//! Response bodies from Keystone and OIDC issuers, read with a size cap: the client's timeout
//! bounds how long a peer may talk, this bounds how much it may make the server hold. A body
//! past the cap (by its Content-Length or as it streams) is refused before it is parsed.

use serde::de::DeserializeOwned;

/// Keystone token bodies (`?nocatalog`) and a JWKS are a few KiB; a discovery document less.
pub const MAX_BODY: usize = 1 << 20;

/// The body, at most `max` bytes.
pub async fn bytes(mut r: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    if r.content_length().is_some_and(|n| n > max as u64) {
        return Err(format!("body larger than {max} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = r.chunk().await.map_err(|e| format!("body: {}", without_url(&e)))? {
        if body.len() + chunk.len() > max {
            return Err(format!("body larger than {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The body as JSON, at most `max` bytes.
pub async fn json<T: DeserializeOwned>(r: reqwest::Response, max: usize) -> Result<T, String> {
    let body = bytes(r, max).await?;
    serde_json::from_slice(&body).map_err(|e| format!("JSON: {e}"))
}

/// A reqwest error without its URL (reqwest prints the URL and little else): the cause.
pub fn without_url(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    if e.is_connect() {
        return "connection refused or failed".into();
    }
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(u.as_str(), "");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot HTTP server on loopback answering `head` then `body_len` bytes of `{`-free
    /// JSON filler (a string), so that the client sees a real response.
    async fn serve(content_length: Option<usize>, body_len: usize) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut req = [0u8; 1024];
            let _ = s.read(&mut req).await;
            let mut body = vec![b'a'; body_len];
            if body_len >= 2 {
                body[0] = b'"';
                body[body_len - 1] = b'"';
            }
            let head = match content_length {
                Some(n) => format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {n}\r\n\r\n"),
                None => "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n".to_string(),
            };
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(&body).await;
            let _ = s.shutdown().await;
        });
        format!("http://{addr}/")
    }

    async fn get(url: &str) -> reqwest::Response {
        reqwest::Client::new().get(url).send().await.unwrap()
    }

    #[tokio::test]
    async fn a_body_within_the_cap_is_read_whole() {
        let url = serve(Some(1000), 1000).await;
        let s: String = json(get(&url).await, 1000).await.unwrap();
        assert_eq!(s.len(), 998);
        let url = serve(None, 1000).await;
        assert_eq!(bytes(get(&url).await, 1000).await.unwrap().len(), 1000);
    }

    #[tokio::test]
    async fn a_body_past_the_cap_is_refused_by_its_length_or_as_it_streams() {
        let url = serve(Some(1001), 1001).await;
        assert_eq!(bytes(get(&url).await, 1000).await.unwrap_err(), "body larger than 1000 bytes");
        // No Content-Length (read to the close): the cap holds while streaming.
        let url = serve(None, 200_000).await;
        assert_eq!(bytes(get(&url).await, 1000).await.unwrap_err(), "body larger than 1000 bytes");
    }
}
