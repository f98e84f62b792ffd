//! HTTP helpers shared by the handlers: Accept and Content-Type rules, bodies, hrefs, paging,
//! timestamps and ids, each as Barbican applies them.

use actix_web::http::header;
use actix_web::{web, HttpMessage, HttpRequest};
use chrono::{NaiveDate, NaiveDateTime, Timelike};
use futures_util::StreamExt;
use serde_json::Value;
use zeroize::Zeroizing;

use super::error::ApiError;
use super::wipe::{self, Wiped};
use super::AppState;
use crate::model::Page;

/// The microversion in effect (minor of 1.x), set by the microversion middleware.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(pub u8);

pub fn api_version(req: &HttpRequest) -> ApiVersion {
    req.extensions().get::<ApiVersion>().copied().unwrap_or(ApiVersion(0))
}

pub fn header_str(req: &HttpRequest, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// One media range of an Accept header.
pub struct MediaRange {
    pub mtype: String,
    pub q: f32,
}

pub fn media_ranges(accept: &str) -> Vec<MediaRange> {
    accept
        .split(',')
        .filter_map(|part| {
            let mut it = part.split(';');
            let mtype = it.next()?.trim().to_ascii_lowercase();
            if mtype.is_empty() {
                return None;
            }
            let mut q = 1.0;
            for p in it {
                if let Some((k, v)) = p.split_once('=') {
                    if k.trim().eq_ignore_ascii_case("q") {
                        q = v.trim().parse().unwrap_or(0.0);
                    }
                }
            }
            Some(MediaRange { mtype, q })
        })
        .collect()
}

fn range_matches(range: &str, offer: &str) -> bool {
    if range == "*/*" || range == offer {
        return true;
    }
    match (range.split_once('/'), offer.split_once('/')) {
        (Some((rt, "*")), Some((ot, _))) => rt == ot,
        _ => false,
    }
}

/// webob's `best_match`: the offer with the highest q (ties go to the earlier offer); None when
/// nothing acceptable. An absent Accept accepts the first offer.
pub fn best_match<'a>(accept: Option<&str>, offers: &[&'a str]) -> Option<&'a str> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return offers.first().copied();
    };
    let ranges = media_ranges(accept);
    let mut best: Option<(&str, f32)> = None;
    for offer in offers {
        let q = ranges
            .iter()
            .filter(|r| range_matches(&r.mtype, offer))
            .map(|r| r.q)
            .fold(f32::NAN, f32::max);
        if q > 0.0 && best.is_none_or(|(_, bq)| q > bq) {
            best = Some((offer, q));
        }
    }
    best.map(|(o, _)| o)
}

/// Accept negotiation of JSON-only routes (§2.5): 406 with a null description.
pub fn require_json_accept(req: &HttpRequest) -> Result<(), ApiError> {
    match best_match(header_str(req, header::ACCEPT), &["application/json"]) {
        Some(_) => Ok(()),
        None => Err(ApiError::not_acceptable()),
    }
}

/// [`require_json_accept`] as the hook an operation runs between its look-up and its policy
/// decision, where Barbican negotiates: decided now, reported then (an unknown id is 404
/// before it is 406).
pub fn json_accept<T: ?Sized>(req: &HttpRequest) -> impl FnOnce(&T) -> Result<(), ApiError> + Send + 'static {
    let refused = require_json_accept(req).err();
    move |_| refused.map_or(Ok(()), Err)
}

/// The media type of the request's Content-Type, lowercased, without parameters.
pub fn content_media_type(req: &HttpRequest) -> Option<String> {
    header_str(req, header::CONTENT_TYPE)
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
}

pub fn require_json_content_type(req: &HttpRequest) -> Result<(), ApiError> {
    match content_media_type(req).as_deref() {
        Some("application/json") => Ok(()),
        _ => Err(ApiError::bare(
            415,
            "Unexpected content type. Expected content types are: ['application/json']",
        )),
    }
}

/// Reads at most `limit` bytes of the body; the flag says whether there was more.
pub async fn read_body(mut payload: web::Payload, limit: usize) -> Result<(Zeroizing<Vec<u8>>, bool), ApiError> {
    let mut buf = Zeroizing::new(Vec::new());
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| match e {
            actix_web::error::PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => ApiError::body_timeout(),
            _ => ApiError::malformed_json(),
        })?;
        if buf.len() + chunk.len() > limit {
            let take = limit - buf.len();
            wipe::push(&mut buf, &chunk[..take]);
            return Ok((buf, true));
        }
        wipe::push(&mut buf, &chunk);
    }
    Ok((buf, false))
}

/// A JSON request body read (bounded) before the service call and judged inside it, once the
/// policy has allowed the request: Content-Type first, then the body, as Barbican orders them.
pub struct LaterBody {
    content_type: Result<(), ApiError>,
    bytes: Zeroizing<Vec<u8>>,
    overflow: bool,
}

impl LaterBody {
    /// Notes the Content-Type verdict and reads at most `limit` bytes.
    pub async fn read(req: &HttpRequest, payload: web::Payload, limit: usize) -> Result<LaterBody, ApiError> {
        let content_type = require_json_content_type(req);
        let (bytes, overflow) = read_body(payload, limit).await?;
        Ok(LaterBody { content_type, bytes, overflow })
    }

    /// [`LaterBody::read`] for routes that judge the Content-Type in a hook of their own.
    pub async fn read_any(payload: web::Payload, limit: usize) -> Result<LaterBody, ApiError> {
        let (bytes, overflow) = read_body(payload, limit).await?;
        Ok(LaterBody { content_type: Ok(()), bytes, overflow })
    }

    /// The Content-Type verdict, then the body as [`json_from_bytes`] takes it.
    pub fn json(self) -> Result<Wiped, ApiError> {
        self.content_type?;
        json_from_bytes(&self.bytes, self.overflow)
    }

    /// The Content-Type verdict, then the raw bytes and whether there were more.
    pub fn bytes(self) -> Result<(Zeroizing<Vec<u8>>, bool), ApiError> {
        self.content_type?;
        Ok((self.bytes, self.overflow))
    }
}

/// Bounds the time a client has to send its body: past `within`, the stream ends with a
/// `TimedOut` error, which [`read_body`] answers with 408 and a closed connection.
pub fn deadline_payload(payload: actix_web::dev::Payload, within: std::time::Duration) -> actix_web::dev::Payload {
    use actix_web::error::PayloadError;
    let deadline = tokio::time::Instant::now() + within;
    let stream = futures_util::stream::unfold(Some(payload), move |state| async move {
        let mut p = state?;
        match tokio::time::timeout_at(deadline, p.next()).await {
            Ok(Some(item)) => Some((item, Some(p))),
            Ok(None) => None,
            Err(_) => {
                let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "request body timed out");
                Some((Err(PayloadError::Io(e)), None))
            }
        }
    });
    let boxed: std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<actix_web::web::Bytes, PayloadError>>>> = Box::pin(stream);
    actix_web::dev::Payload::from(boxed)
}

/// Barbican's `load_body` for JSON, on a body [`read_body`] read: at most
/// `max_allowed_request_size_in_bytes` (more is truncated, which makes it malformed), then
/// parsed; a NUL character in any string but a top-level `payload` (which is encrypted, never
/// stored as text) is refused, since no backend column keeps one (PostgreSQL refuses it
/// outright); then every string at every depth is stripped (§2.4). Its strings are wiped when
/// it drops.
pub fn json_from_bytes(bytes: &[u8], overflow: bool) -> Result<Wiped, ApiError> {
    if overflow {
        return Err(ApiError::malformed_json());
    }
    let mut v = Wiped(serde_json::from_slice(bytes).map_err(|_| ApiError::malformed_json())?);
    refuse_nul(&v)?;
    strip_strings(&mut v);
    Ok(v)
}

pub const NUL_REFUSED: &str = "Invalid input: strings may not contain NUL characters.";

fn refuse_nul(v: &Value) -> Result<(), ApiError> {
    fn has_nul(v: &Value) -> bool {
        match v {
            Value::String(s) => s.contains('\0'),
            Value::Array(a) => a.iter().any(has_nul),
            Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            _ => false,
        }
    }
    let found = match v {
        Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || (k != "payload" && has_nul(v))),
        other => has_nul(other),
    };
    if found {
        return Err(ApiError::bare(400, NUL_REFUSED));
    }
    Ok(())
}

pub fn strip_strings(v: &mut Value) {
    match v {
        Value::String(s) => {
            // In place: a trimmed copy would leave the untrimmed text unwiped.
            let end = s.trim_end_matches(is_py_whitespace).len();
            s.truncate(end);
            let start = s.len() - s.trim_start_matches(is_py_whitespace).len();
            s.drain(..start);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_strings),
        Value::Object(o) => o.values_mut().for_each(strip_strings),
        _ => {}
    }
}

/// Python's `str.strip()` whitespace.
pub fn is_py_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `{base}`: `host_href` when set, else derived from the request (§2.8).
pub fn base_href(req: &HttpRequest, st: &AppState) -> String {
    if let Some(h) = &st.host_href {
        return h.clone();
    }
    let scheme = req
        .headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        // `secure`: the request came over the [ssl] listener
        .unwrap_or(if req.app_config().secure() { "https" } else { "http" });
    let host = header_str(req, header::HOST).unwrap_or("localhost");
    format!("{scheme}://{host}")
}

/// Timestamps as Barbican prints them: UTC, no zone, microseconds only when non-zero.
/// Written field by field: chrono's `format` parses its format string at every call, and a
/// list of ten secrets prints thirty of these (5% of the route's time in a profile).
pub fn fmt_ts(t: &NaiveDateTime) -> String {
    use chrono::Datelike;
    use std::fmt::Write;
    let (year, nanos) = (t.year(), t.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        // Signed years and leap seconds, as chrono prints them.
        return fmt_ts_chrono(t);
    }
    let mut s = String::with_capacity(26);
    let _ = write!(s, "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}", t.month(), t.day(), t.hour(), t.minute(), t.second());
    if nanos / 1000 != 0 {
        let _ = write!(s, ".{:06}", nanos / 1000);
    }
    s
}

fn fmt_ts_chrono(t: &NaiveDateTime) -> String {
    if t.nanosecond() / 1000 == 0 {
        t.format("%Y-%m-%dT%H:%M:%S").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
    }
}

/// ISO 8601 as oslo's `parse_isotime` takes it: date only, naive, `Z` or an offset (converted
/// to UTC), fractional seconds; truncated to microseconds.
pub fn parse_isotime(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let trunc = |t: NaiveDateTime| t.with_nanosecond(t.nanosecond() / 1000 * 1000);
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(s) {
        return trunc(d.naive_utc());
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M%#z"] {
        if let Ok(d) = chrono::DateTime::parse_from_str(s, f) {
            return trunc(d.naive_utc());
        }
    }
    let naive = s.strip_suffix('Z').or_else(|| s.strip_suffix('z')).unwrap_or(s);
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y%m%dT%H%M%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, f) {
            return trunc(t);
        }
    }
    NaiveDate::parse_from_str(naive, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0))
}

/// Canonical lowercase UUID4 with the RFC 4122 variant (§2.6).
pub fn valid_uuid4(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 36 {
        return false;
    }
    for (i, c) in b.iter().enumerate() {
        let ok = match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        };
        if !ok {
            return false;
        }
    }
    b[14] == b'4' && matches!(b[19], b'8' | b'9' | b'a' | b'b')
}

/// The query string as ordered (key, value) pairs, decoded once.
pub fn query_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    url::form_urlencoded::parse(req.query_string().as_bytes()).into_owned().collect()
}

pub fn query_get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Cleans `offset` and `limit` (§2.9).
pub fn page(pairs: &[(String, String)], st: &AppState) -> Page {
    let offset = query_get(pairs, "offset").and_then(|v| v.trim().parse::<i64>().ok()).unwrap_or(0).max(0);
    let d = &st.cfg.default;
    let limit = match query_get(pairs, "limit").map(str::trim) {
        None | Some("") => d.default_limit_paging,
        Some(v) => v.parse::<i64>().unwrap_or(d.default_limit_paging),
    };
    Page { offset, limit: limit.clamp(1, d.max_limit_paging) }
}

/// A paged collection body: `{"<name>": [...], "total": N, ["next"], ["previous"]}`, with
/// its keys in sorted order (as the `serde_json::Map` it replaced wrote them). The items are
/// serialized once, straight from their own types (no `Value` tree per item).
pub fn paged_body<T: serde::Serialize>(
    name: &'static str,
    items: Vec<T>,
    total: i64,
    page: Page,
    link_base: &str,
    extra: &[(String, String)],
) -> Paged<T> {
    let (mut next, mut previous) = (None, None);
    if !items.is_empty() {
        let link = |offset: i64| {
            let mut ser = url::form_urlencoded::Serializer::new(String::new());
            ser.append_pair("limit", &page.limit.to_string());
            ser.append_pair("offset", &offset.to_string());
            for (k, v) in extra {
                ser.append_pair(k, v);
            }
            format!("{link_base}?{}", ser.finish())
        };
        if total > page.offset + page.limit {
            next = Some(link(page.offset + page.limit));
        }
        if page.offset > 0 {
            previous = Some(link((page.offset - page.limit).max(0)));
        }
    }
    Paged { name, items, total, next, previous }
}

/// See [`paged_body`].
pub struct Paged<T> {
    name: &'static str,
    items: Vec<T>,
    total: i64,
    next: Option<String>,
    previous: Option<String>,
}

impl<T: serde::Serialize> serde::Serialize for Paged<T> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        enum V<'a, T> {
            Items(&'a [T]),
            Total(i64),
            Link(&'a str),
        }
        let mut entries: Vec<(&str, V<'_, T>)> = vec![(self.name, V::Items(&self.items)), ("total", V::Total(self.total))];
        if let Some(n) = &self.next {
            entries.push(("next", V::Link(n)));
        }
        if let Some(p) = &self.previous {
            entries.push(("previous", V::Link(p)));
        }
        entries.sort_by_key(|(k, _)| *k);
        let mut m = ser.serialize_map(Some(entries.len()))?;
        for (k, v) in &entries {
            match v {
                V::Items(items) => m.serialize_entry(k, items)?,
                V::Total(t) => m.serialize_entry(k, t)?,
                V::Link(l) => m.serialize_entry(k, l)?,
            }
        }
        m.end()
    }
}

/// Python's `repr()` of a JSON value, for jsonschema-style messages.
pub fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => py_str_repr(s),
        Value::Array(a) => format!("[{}]", a.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter().map(|(k, v)| format!("{}: {}", py_str_repr(k), py_repr(v))).collect::<Vec<_>>().join(", ")
        ),
    }
}

pub fn py_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The hand-written timestamp is byte for byte what chrono's format printed, over
        /// the whole range the store keeps (microseconds since the epoch, either sign).
        #[test]
        fn fmt_ts_matches_chrono(micros in -62_135_596_800_000_000i64..253_402_300_799_999_999i64, whole in proptest::bool::ANY) {
            let micros = if whole { micros / 1_000_000 * 1_000_000 } else { micros };
            let t = chrono::DateTime::from_timestamp_micros(micros).unwrap().naive_utc();
            proptest::prop_assert_eq!(fmt_ts(&t), fmt_ts_chrono(&t));
        }

        /// Stripping in place is Python's `str.strip()`, as the copying form was.
        #[test]
        fn strip_in_place_is_python_strip(text in "[ \t\n\u{1c}\u{3000}\u{85}a-zé]{0,12}") {
            let mut v = Value::String(text.clone());
            strip_strings(&mut v);
            proptest::prop_assert_eq!(v, Value::String(text.trim_matches(is_py_whitespace).to_string()));
        }
    }

    #[test]
    fn fmt_ts_outside_four_digit_years_and_leap_seconds() {
        let far = NaiveDate::from_ymd_opt(10000, 1, 2).unwrap().and_hms_micro_opt(3, 4, 5, 6).unwrap();
        assert_eq!(fmt_ts(&far), "+10000-01-02T03:04:05.000006");
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31).unwrap().and_hms_micro_opt(23, 59, 59, 1_500_000).unwrap();
        assert_eq!(fmt_ts(&leap), fmt_ts_chrono(&leap));
        let t = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap().and_hms_micro_opt(10, 4, 47, 120).unwrap();
        assert_eq!(fmt_ts(&t), "2026-12-02T10:04:47.000120");
        assert_eq!(fmt_ts(&t.with_nanosecond(0).unwrap()), "2026-12-02T10:04:47");
    }

    #[test]
    fn uuid4_rules() {
        assert!(valid_uuid4("0b3e0cfe-8d3c-4b47-9b8e-0d2a4e0a5d11"));
        assert!(!valid_uuid4("0B3E0CFE-8D3C-4B47-9B8E-0D2A4E0A5D11"));
        assert!(!valid_uuid4("0b3e0cfe-8d3c-1b47-9b8e-0d2a4e0a5d11"), "not v4");
        assert!(!valid_uuid4("0b3e0cfe-8d3c-4b47-cb8e-0d2a4e0a5d11"), "wrong variant");
        assert!(!valid_uuid4("{0b3e0cfe-8d3c-4b47-9b8e-0d2a4e0a5d11}"));
    }

    #[test]
    fn timestamps() {
        let t = parse_isotime("2031-05-01T08:00:00.123456789+02:00").unwrap();
        assert_eq!(fmt_ts(&t), "2031-05-01T06:00:00.123456");
        assert_eq!(fmt_ts(&parse_isotime("2031-01-01").unwrap()), "2031-01-01T00:00:00");
        assert_eq!(fmt_ts(&parse_isotime("2031-01-01T10:11:12Z").unwrap()), "2031-01-01T10:11:12");
        assert_eq!(fmt_ts(&parse_isotime("2031-01-01 10:11:12.5").unwrap()), "2031-01-01T10:11:12.500000");
        assert!(parse_isotime("not a date").is_none());
        assert!(parse_isotime("2031-13-01").is_none());
    }

    /// What GET prints parses back to the stored microsecond, so `created=<printed>` selects
    /// exactly that secret, with or without a printed fraction (Barbican's `isoformat()` then
    /// `parse_isotime`).
    #[test]
    fn printed_timestamps_parse_back_exactly() {
        let whole = NaiveDate::from_ymd_opt(2031, 5, 1).unwrap().and_hms_micro_opt(6, 0, 0, 0).unwrap();
        for micros in [0u32, 1, 999_999, 500_000, 123_456] {
            let t = whole.with_nanosecond(micros * 1000).unwrap();
            assert_eq!(parse_isotime(&fmt_ts(&t)), Some(t), "{}", fmt_ts(&t));
        }
        assert_eq!(fmt_ts(&whole.with_nanosecond(1000).unwrap()), "2031-05-01T06:00:00.000001");
    }

    #[test]
    fn accept_matching() {
        assert_eq!(best_match(None, &["application/json"]), Some("application/json"));
        assert_eq!(best_match(Some("text/html,application/json"), &["application/json"]), Some("application/json"));
        assert_eq!(best_match(Some("text/plain"), &["application/json"]), None);
        assert_eq!(best_match(Some("application/json;q=0"), &["application/json"]), None);
        assert_eq!(
            best_match(Some("application/json-home"), &["application/json", "application/json-home"]),
            Some("application/json-home")
        );
        assert_eq!(best_match(Some("*/*"), &["application/json", "application/json-home"]), Some("application/json"));
    }

    #[test]
    fn python_repr() {
        assert_eq!(py_repr(&serde_json::json!("x")), "'x'");
        assert_eq!(py_repr(&serde_json::json!([1, 2])), "[1, 2]");
        assert_eq!(py_repr(&serde_json::json!(null)), "None");
        assert_eq!(py_repr(&serde_json::json!("it's")), "\"it's\"");
        assert_eq!(py_repr(&serde_json::json!({"a": true})), "{'a': True}");
    }
}
