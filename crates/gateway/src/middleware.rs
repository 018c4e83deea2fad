//! Cross-cutting middleware: request deadline, problem documents for bare
//! error statuses of the HTTP stack, and panic containment.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::problem::{Problem, ProblemKind, PROBLEM_CONTENT_TYPE};

/// Fails a request that does not finish within the deadline with a 503
/// `timeout` problem.
pub async fn deadline(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(
                timeout_ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
                "request deadline exceeded"
            );
            Problem::new(ProblemKind::Timeout)
                .detail("the request did not complete in time; it may or may not have been applied, retry with the same Idempotency-Key")
                .into_response()
        }
    }
}

/// Turns any 4xx/5xx response that is not already a problem document (a
/// 405 from the router, a 413 from a body limit…) into one.
pub async fn problem_bodies(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // Sealed EHBP answers (AI endpoints) are relayed unchanged.
    if response
        .headers()
        .contains_key(zenalyze_ehbp::RESPONSE_NONCE_HEADER)
    {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_CONTENT_TYPE));
    if is_problem {
        return response;
    }
    let kind = ProblemKind::from_status(status);
    let mut replaced = Problem::new(kind).into_response();
    // Keep headers the stack set on purpose (Allow on 405, Retry-After…).
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = response.headers().get(&name) {
            replaced.headers_mut().insert(name, v.clone());
        }
    }
    replaced
}

/// The response for a handler panic: a 500 problem, nothing of the panic
/// message (which could contain data) reaches the client; the log line says
/// only that a panic happened.
pub fn panic_response(_payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    let mut r = Problem::internal().into_response();
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r
}

/// Fallback for unknown routes: a 404 problem.
pub async fn not_found() -> Problem {
    Problem::not_found().detail("no such endpoint")
}
