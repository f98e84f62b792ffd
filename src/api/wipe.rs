//! Bodies that may carry key material (payloads, plaintexts, exported keys, data keys): read
//! into buffers that never leave an unwiped copy behind when they grow, parsed into JSON values
//! whose strings are wiped when dropped, and answered from a buffer actix hands to the socket
//! without copying and that is wiped when actix drops it. (Copies outside the server's reach
//! remain: actix's connection write buffer, the kernel's socket buffers.)

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::HttpResponse;
use serde_json::Value;
use zeroize::{Zeroize, Zeroizing};

/// A parsed JSON body whose strings (at every depth) are wiped on drop.
#[derive(Debug, Default)]
pub struct Wiped(pub Value);

impl std::ops::Deref for Wiped {
    type Target = Value;
    fn deref(&self) -> &Value {
        &self.0
    }
}

impl std::ops::DerefMut for Wiped {
    fn deref_mut(&mut self) -> &mut Value {
        &mut self.0
    }
}

impl Drop for Wiped {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

/// A JSON object of these fields, moved in (`json!` would serialize a copy of each value and
/// drop the originals unwiped).
pub fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// Zeroes every string of `v` (their whole allocations) and every key of its objects.
pub fn wipe(v: &mut Value) {
    match v {
        Value::String(s) => s.zeroize(),
        Value::Array(a) => a.iter_mut().for_each(wipe),
        Value::Object(o) => {
            for (mut key, mut val) in std::mem::take(o) {
                key.zeroize();
                wipe(&mut val);
            }
        }
        _ => {}
    }
}

/// Appends to a wiped buffer; when it must grow, the bytes move to a new allocation and the old
/// one is zeroed before it is freed (`Vec`'s own growth frees it as it is).
pub fn push(buf: &mut Zeroizing<Vec<u8>>, more: &[u8]) {
    let need = buf.len() + more.len();
    if need > buf.capacity() {
        let mut grown = Zeroizing::new(Vec::with_capacity(need.max(buf.capacity() * 2).max(1024)));
        grown.extend_from_slice(buf);
        std::mem::swap(buf, &mut grown);
        // `grown` (the old allocation) is zeroed here, as it drops.
    }
    buf.extend_from_slice(more);
}

/// An `io::Write` into a wiped buffer that grows by [`push`].
struct Sink(Zeroizing<Vec<u8>>);

impl std::io::Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        push(&mut self.0, b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A response body that is wiped when actix drops it, with no copy on the way.
pub fn body(bytes: Zeroizing<Vec<u8>>) -> Bytes {
    Bytes::from_owner(bytes)
}

/// A 200 JSON answer holding key material: serialized into a wiped buffer, never cached; the
/// value is wiped once serialized.
pub fn json_response(v: Value) -> HttpResponse {
    let v = Wiped(v);
    let mut out = Sink(Zeroizing::new(Vec::new()));
    // A Value always serializes (its keys are strings); the buffer grows through `push`.
    let _ = serde_json::to_writer(&mut out, &*v);
    let buf = out.0;
    HttpResponse::Ok()
        .content_type("application/json")
        // Key material must not rest in a proxy's or client's HTTP cache.
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .body(body(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wipe_empties_every_string_and_object() {
        let mut v = serde_json::json!({"plaintext": "c2VjcmV0", "batch": [{"k": "v"}, "w", 3], "n": null});
        let mut inner = v["batch"].clone();
        wipe(&mut inner);
        assert_eq!(inner, serde_json::json!([{}, "", 3]));
        wipe(&mut v);
        assert_eq!(v, serde_json::json!({}));
    }

    #[test]
    fn push_keeps_the_bytes_across_growth() {
        let mut buf = Zeroizing::new(Vec::new());
        let mut want = Vec::new();
        for i in 0..5000u32 {
            let chunk = i.to_le_bytes();
            push(&mut buf, &chunk);
            want.extend_from_slice(&chunk);
        }
        assert_eq!(&buf[..], &want[..]);
    }

    #[actix_web::test]
    async fn the_answer_is_the_json_and_not_cacheable() {
        let big: Vec<Value> = (0..500).map(|i| serde_json::json!({"plaintext": format!("item {i}")})).collect();
        let v = serde_json::json!({"batch_results": big, "é": "\u{1}"});
        let r = json_response(v.clone());
        assert_eq!(r.headers().get(header::CACHE_CONTROL).unwrap(), "no-store");
        assert_eq!(r.headers().get(header::CONTENT_TYPE).unwrap(), "application/json");
        let body = actix_web::body::to_bytes(r.into_body()).await.unwrap();
        assert_eq!(body.as_ref(), serde_json::to_vec(&v).unwrap().as_slice(), "grown through push, byte for byte");
    }
}
