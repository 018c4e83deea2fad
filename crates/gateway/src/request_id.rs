//! `X-Request-Id`: accepted when valid (≤128 chars of `[A-Za-z0-9._-]`),
//! generated otherwise, echoed on every response, carried by the request's
//! tracing span (so every log line of the request has it) and by a task-local
//! so that problem documents can include it.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::problem::{Problem, ProblemKind};

/// The header name.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest accepted request id.
pub const MAX_LEN: usize = 128;

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request being served by the current task, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

/// The request id, available to handlers as an extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Whether a client-supplied id is acceptable.
pub fn is_valid(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A fresh random id: `req_` followed by 26 base62 characters (≥150 bits).
pub fn generate() -> String {
    format!("req_{}", crate::keys::random_base62(26))
}

/// The outermost middleware: assigns the id, opens the request span, logs
/// one line per finished request (method, route template, status,
/// latency), echoes the id, and sets `X-Content-Type-Options: nosniff` and
/// `Cache-Control: no-store` unless the handler chose otherwise.
pub async fn middleware(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let supplied = req.headers().get(&X_REQUEST_ID).map(|v| v.to_str().ok());
    let (id, invalid) = match supplied {
        None => (generate(), false),
        Some(Some(v)) if is_valid(v) => (v.to_owned(), false),
        Some(_) => (generate(), true),
    };
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "<unmatched>".to_owned());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        route = %route,
    );
    req.extensions_mut().insert(RequestId(id.clone()));
    let fut = CURRENT.scope(id.clone(), async move {
        if invalid {
            Problem::new(ProblemKind::InvalidRequestId)
                .detail("X-Request-Id must be 1 to 128 characters of [A-Za-z0-9._-]")
                .into_response()
        } else {
            next.run(req).await
        }
    });
    let mut response = fut.instrument(span.clone()).await;
    let status = response.status().as_u16();
    let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, latency_us, "request finished");
        } else {
            tracing::info!(status, latency_us, "request finished");
        }
    });
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(X_REQUEST_ID.clone(), value);
    }
    headers
        .entry(axum::http::header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    headers
        .entry(axum::http::header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(is_valid("abc-DEF_1.2"));
        assert!(is_valid(&"a".repeat(128)));
        assert!(!is_valid(&"a".repeat(129)));
        assert!(!is_valid(""));
        assert!(!is_valid("a b"));
        assert!(!is_valid("a/b"));
        assert!(!is_valid("é"));
        assert!(is_valid(&generate()));
    }
}
