//! HTTP plumbing shared by the upstream providers: client selection, request
//! sending with a hard timeout, bounded response reading into wiped buffers,
//! error mapping, and exact-size JSON serialisation.

use std::io;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::StatusCode;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::{parse_retry_after, sanitize_error_type};
use crate::secret::ApiKey;
use crate::ProviderError;

/// Default bound on a response body (8 MiB).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// Default bound on the request content (prompt, instructions, inputs) (16 MiB).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;
/// Default upstream timeout (120 s): LLM answers can be slow.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The caller's client, or a fresh default one when none was given.
pub(crate) fn client_or_default(
    client: Option<reqwest::Client>,
) -> Result<reqwest::Client, ProviderError> {
    match client {
        Some(c) => Ok(c),
        None => reqwest::Client::builder()
            .build()
            .map_err(|_| ProviderError::Config("cannot build the default HTTP client")),
    }
}

/// Parses and checks a base URL (http or https, no query, no fragment) and
/// appends `suffix` (which starts with `/`).
pub(crate) fn endpoint(base: &str, suffix: &str) -> Result<reqwest::Url, ProviderError> {
    let trimmed = base.trim().trim_end_matches('/');
    let url = reqwest::Url::parse(&format!("{trimmed}{suffix}"))
        .map_err(|_| ProviderError::Config("invalid base URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ProviderError::Config("base URL must be http or https"));
    }
    if url.host_str().is_none() {
        return Err(ProviderError::Config("base URL has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ProviderError::Config(
            "base URL must not contain a query or fragment (use the query option)",
        ));
    }
    Ok(url)
}

/// Validates non-secret extra headers once, at construction.
pub(crate) fn header_map(headers: &[(String, String)]) -> Result<HeaderMap, ProviderError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ProviderError::Config("invalid extra header name"))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| ProviderError::Config("invalid extra header value"))?;
        map.append(name, value);
    }
    Ok(map)
}

/// A header carrying a secret, flagged sensitive so `Debug` of the header map
/// (and HTTP/2 HPACK indexing) never exposes it.
pub(crate) fn secret_header(
    name: &str,
    key: &ApiKey,
    prefix: &str,
) -> Result<(HeaderName, HeaderValue), ProviderError> {
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| ProviderError::Config("invalid secret header name"))?;
    let raw = Zeroizing::new(format!("{prefix}{}", key.expose()));
    let mut value = HeaderValue::from_str(&raw)
        .map_err(|_| ProviderError::Config("API key is not a valid header value"))?;
    value.set_sensitive(true);
    Ok((name, value))
}

/// Checks a model name: non-empty, at most 256 bytes, no control characters.
pub(crate) fn check_model(model: &str) -> Result<(), ProviderError> {
    if model.is_empty() || model.len() > 256 || model.chars().any(char::is_control) {
        return Err(ProviderError::InputRefused(
            crate::RefusalReason::InvalidModel,
        ));
    }
    Ok(())
}

struct Counter(usize);

impl io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 = self.0.saturating_add(buf.len());
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Serialises `value` to JSON into a buffer of exactly the right capacity (a
/// first pass counts bytes), so no reallocation leaves un-wiped copies behind.
pub(crate) fn to_json_exact<T: Serialize>(value: &T) -> Result<Zeroizing<Vec<u8>>, ProviderError> {
    let mut counter = Counter(0);
    serde_json::to_writer(&mut counter, value)
        .map_err(|_| ProviderError::Config("request serialisation failed"))?;
    let mut buf = Zeroizing::new(Vec::with_capacity(counter.0));
    serde_json::to_writer(&mut *buf, value)
        .map_err(|_| ProviderError::Config("request serialisation failed"))?;
    Ok(buf)
}

/// Appends to a wiped buffer; when it must grow, the old allocation is wiped
/// (it is dropped as `Zeroizing`) instead of being released with content in it.
/// Pretty-prints a JSON value into an exact-size wiped string (two passes).
pub(crate) fn to_pretty_json_exact(value: &serde_json::Value) -> Option<Zeroizing<String>> {
    let mut counter = Counter(0);
    {
        let mut ser = serde_json::Serializer::pretty(&mut counter);
        value.serialize(&mut ser).ok()?;
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(counter.0));
    {
        let mut ser = serde_json::Serializer::pretty(&mut *buf);
        value.serialize(&mut ser).ok()?;
    }
    // serde_json only writes UTF-8; moving the Vec into a String does not copy.
    let bytes = std::mem::take(&mut *buf);
    match String::from_utf8(bytes) {
        Ok(s) => Some(Zeroizing::new(s)),
        Err(e) => {
            let mut bytes = e.into_bytes();
            zeroize::Zeroize::zeroize(&mut bytes);
            None
        }
    }
}

pub(crate) fn push_wiped(buf: &mut Zeroizing<Vec<u8>>, chunk: &[u8]) {
    let needed = buf.len().saturating_add(chunk.len());
    if needed > buf.capacity() {
        let new_cap = needed.max(buf.capacity().saturating_mul(2)).max(1024);
        let mut grown = Zeroizing::new(Vec::with_capacity(new_cap));
        grown.extend_from_slice(buf);
        std::mem::swap(buf, &mut grown);
    }
    buf.extend_from_slice(chunk);
}

/// What came back from upstream.
pub(crate) struct RawResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Zeroizing<Vec<u8>>,
}

fn map_transport(e: &reqwest::Error) -> ProviderError {
    if e.is_timeout() {
        ProviderError::Timeout
    } else if e.is_connect() {
        ProviderError::Transport("connect failed")
    } else if e.is_body() || e.is_decode() {
        ProviderError::Transport("response body interrupted")
    } else if e.is_request() {
        ProviderError::Transport("request failed")
    } else {
        ProviderError::Transport("HTTP error")
    }
}

/// Sends a JSON POST and reads the whole (bounded) response, all within `timeout`.
pub(crate) async fn post_json(
    client: &reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
    body: Zeroizing<Vec<u8>>,
    timeout: Duration,
    max_response_bytes: usize,
) -> Result<RawResponse, ProviderError> {
    let fut = async {
        let body = reqwest::Body::from(bytes::Bytes::from_owner(body));
        let mut resp = client
            .post(url)
            .headers(headers)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(timeout)
            .body(body)
            .send()
            .await
            .map_err(|e| map_transport(&e))?;
        let status = resp.status();
        let headers = std::mem::take(resp.headers_mut());
        let declared = resp
            .content_length()
            .map(|l| usize::try_from(l).unwrap_or(usize::MAX));
        if declared.is_some_and(|l| l > max_response_bytes) {
            return Err(ProviderError::MalformedResponse("response too large"));
        }
        let hint = declared.unwrap_or(0);
        let mut buf = Zeroizing::new(Vec::with_capacity(hint));
        while let Some(chunk) = resp.chunk().await.map_err(|e| map_transport(&e))? {
            if buf.len().saturating_add(chunk.len()) > max_response_bytes {
                return Err(ProviderError::MalformedResponse("response too large"));
            }
            push_wiped(&mut buf, &chunk);
        }
        Ok(RawResponse {
            status,
            headers,
            body: buf,
        })
    };
    // Belt and braces: reqwest's per-request timeout plus an outer one that
    // also bounds body streaming.
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(ProviderError::Timeout),
    }
}

/// `Retry-After` (seconds) or `retry-after-ms` (Azure, OpenAI), ms preferred.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        return Some(Duration::from_millis(ms.min(86_400_000)));
    }
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after)
}

/// Extracts the machine-readable `error.type` (or string `error.code`) from an
/// error body of either API; never the free-text message.
pub(crate) fn upstream_error_type(body: &[u8]) -> Option<String> {
    let mut v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let found = v.get("error").and_then(|e| {
        e.get("type")
            .and_then(|t| t.as_str())
            .or_else(|| e.get("code").and_then(|c| c.as_str()))
            .and_then(sanitize_error_type)
    });
    crate::types::zeroize_json(&mut v);
    found
}

/// Maps a non-success status to a typed error. `overload_statuses` lists the
/// statuses that mean "overloaded" for this API (503, and 529 for Anthropic).
pub(crate) fn status_error(raw: &RawResponse, overload_statuses: &[u16]) -> ProviderError {
    let status = raw.status.as_u16();
    let error_type = upstream_error_type(&raw.body);
    if status == 429 {
        ProviderError::RateLimited {
            retry_after: retry_after(&raw.headers),
            error_type,
        }
    } else if overload_statuses.contains(&status) {
        ProviderError::Overloaded {
            status,
            retry_after: retry_after(&raw.headers),
            error_type,
        }
    } else {
        ProviderError::Upstream { status, error_type }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_rules() {
        assert_eq!(
            endpoint("https://api.openai.com/v1/", "/chat/completions")
                .unwrap()
                .as_str(),
            "https://api.openai.com/v1/chat/completions"
        );
        assert!(endpoint("ftp://x", "/a").is_err());
        assert!(endpoint("not a url", "/a").is_err());
        assert!(endpoint("https://x/v1?x=1", "/a").is_err());
    }

    #[test]
    fn exact_json_capacity() {
        let v = serde_json::json!({"a": "b\u{1}c", "n": [1, 2, 3]});
        let buf = to_json_exact(&v).unwrap();
        assert_eq!(buf.len(), buf.capacity());
        assert_eq!(&buf[..], serde_json::to_vec(&v).unwrap().as_slice());
    }

    #[test]
    fn pretty_json_exact() {
        let v = serde_json::json!({"a": ["b", 1], "c": {"d": null}});
        let s = to_pretty_json_exact(&v).unwrap();
        assert_eq!(s.as_str(), serde_json::to_string_pretty(&v).unwrap());
        assert_eq!(s.len(), s.capacity());
    }

    #[test]
    fn push_wiped_grows() {
        let mut b = Zeroizing::new(Vec::new());
        for i in 0..5000u32 {
            push_wiped(&mut b, &i.to_le_bytes());
        }
        assert_eq!(b.len(), 20000);
        assert_eq!(&b[4..8], &1u32.to_le_bytes());
    }

    #[test]
    fn error_type_extraction() {
        assert_eq!(
            upstream_error_type(
                br#"{"error":{"message":"my diary","type":"invalid_request_error"}}"#
            )
            .as_deref(),
            Some("invalid_request_error")
        );
        assert_eq!(
            upstream_error_type(
                br#"{"error":{"message":"x","type":null,"code":"rate_limit_exceeded"}}"#
            )
            .as_deref(),
            Some("rate_limit_exceeded")
        );
        assert_eq!(upstream_error_type(br#"{"error":"plain string"}"#), None);
        assert_eq!(upstream_error_type(b"<html>"), None);
    }

    #[test]
    fn retry_after_ms_preferred() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert("retry-after-ms", HeaderValue::from_static("1500"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
    }
}
