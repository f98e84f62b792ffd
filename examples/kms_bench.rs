//! Benchmark client (not a test) for the KMS v2 endpoint: N concurrent callers, each on its own
//! HTTP/2 connection to the `[kms_v2]` socket as separate kube-apiservers would be, calling
//! Decrypt on one 32-byte seed for some seconds; prints calls/s, p50 and p99. Used by
//! scripts/bench_keys.sh:  kms_bench SOCKET [SECONDS] [CALLERS]

use std::path::Path;
use std::time::{Duration, Instant};

use portcullis::kms::proto::{DecryptRequest, EncryptRequest};

#[path = "../tests/common/kms_client.rs"]
mod kms_client;

use kms_client::connect;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let socket = args.get(1).expect("usage: kms_bench SOCKET [SECONDS] [CALLERS]").clone();
    let secs: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
    let callers: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(16);
    let mut c = connect(Path::new(&socket)).await;
    let e = c.encrypt(EncryptRequest { plaintext: vec![7u8; 32], uid: "bench".into() }).await.expect("Encrypt").into_inner();
    let end = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..callers {
        let (socket, ct, kid) = (socket.clone(), e.ciphertext.clone(), e.key_id.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = connect(Path::new(&socket)).await;
            let (mut lat, mut errors) = (Vec::new(), 0u64);
            while Instant::now() < end {
                let t0 = Instant::now();
                let req = DecryptRequest { ciphertext: ct.clone(), uid: "bench".into(), key_id: kid.clone(), annotations: Default::default() };
                match c.decrypt(req).await {
                    Ok(_) => lat.push(t0.elapsed()),
                    Err(_) => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let t0 = Instant::now();
    let (mut lat, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await.expect("caller");
        lat.extend(l);
        errors += e;
    }
    let took = t0.elapsed().as_secs_f64();
    lat.sort();
    let q = |p: f64| lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
    println!(
        "KMS v2 Decrypt x{callers} callers: {:.0} calls/s, p50 {:.2} ms, p99 {:.2} ms, errors {errors}",
        lat.len() as f64 / took,
        q(0.50),
        q(0.99)
    );
}
