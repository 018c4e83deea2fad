//! Prometheus metrics of the gateway and `GET /metrics` (text format
//! 0.0.4).
//!
//! The gateway's own families (registered into the app's one registry,
//! [`crate::AppState::registry`], next to the limiter's and the AI
//! endpoints'):
//!
//! - `zenalyze_http_requests_total{route,method,status_class}` and
//!   `zenalyze_http_request_duration_seconds{route,method,status_class}`:
//!   every request, labelled by the route TEMPLATE (`/v1/records/{id}`,
//!   `unmatched` when no route matched), a fixed set of methods and the
//!   status class (`2xx`…);
//! - `zenalyze_auth_failures_total{reason}`: 401 answers by reason
//!   ([`AuthFailure`]), never by key;
//! - `zenalyze_encryption_operations_total{operation,outcome}`: platform
//!   encryption requests (`encrypt`, `decrypt`, `rewrap`, `blind_index`)
//!   by outcome (`success`, `client_error`, `server_error`).
//!
//! Label cardinality is bounded: no user ids, no key ids, no raw paths.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

use crate::problem::{Problem, ProblemKind};
use crate::state::AppState;

/// Latency buckets of a request, in seconds (0.5 ms to 30 s).
pub const REQUEST_BUCKETS: [f64; 15] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Who may read `GET /metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricsAccess {
    /// Anyone who can reach the listener (`zenalyze dev` on loopback, or a
    /// dedicated metrics listener on a private network).
    Open,
    /// Only with `Authorization: Bearer <admin token>` (default of
    /// `zenalyze serve`).
    AdminToken,
    /// `GET /metrics` answers 404 on the API listener (use a dedicated
    /// metrics listener).
    Disabled,
}

/// Why an authentication failed (the `reason` label of
/// `zenalyze_auth_failures_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization: Bearer …` header.
    Missing,
    /// The token is not a well-formed API key.
    Malformed,
    /// No key with this hash.
    UnknownKey,
    /// The key is revoked, or its kind disagrees with its prefix.
    RevokedOrMismatched,
    /// The key's tenant no longer exists.
    UnknownTenant,
    /// Wrong or missing operator admin token.
    AdminToken,
}

impl AuthFailure {
    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing",
            AuthFailure::Malformed => "malformed",
            AuthFailure::UnknownKey => "unknown_key",
            AuthFailure::RevokedOrMismatched => "revoked_or_mismatched",
            AuthFailure::UnknownTenant => "unknown_tenant",
            AuthFailure::AdminToken => "admin_token",
        }
    }
}

/// The gateway's own metrics (cheap to clone). When the collectors could
/// not be created (a bug: the names are constants) every method is a
/// no-op, so metrics never take a request down.
#[derive(Debug, Clone)]
pub struct GatewayMetrics {
    inner: Option<std::sync::Arc<Collectors>>,
}

#[derive(Debug)]
struct Collectors {
    requests: IntCounterVec,
    duration: HistogramVec,
    auth_failures: IntCounterVec,
    encryption_ops: IntCounterVec,
}

impl Collectors {
    fn new() -> Result<Self, prometheus::Error> {
        let labels = &["route", "method", "status_class"];
        Ok(Collectors {
            requests: IntCounterVec::new(
                Opts::new(
                    "zenalyze_http_requests_total",
                    "HTTP requests by route template, method and status class.",
                ),
                labels,
            )?,
            duration: HistogramVec::new(
                HistogramOpts::new(
                    "zenalyze_http_request_duration_seconds",
                    "HTTP request latency by route template, method and status class.",
                )
                .buckets(REQUEST_BUCKETS.to_vec()),
                labels,
            )?,
            auth_failures: IntCounterVec::new(
                Opts::new(
                    "zenalyze_auth_failures_total",
                    "Failed authentications (401 answers) by reason.",
                ),
                &["reason"],
            )?,
            encryption_ops: IntCounterVec::new(
                Opts::new(
                    "zenalyze_encryption_operations_total",
                    "Platform-key encryption requests (encrypt, decrypt, rewrap, blind_index) by outcome.",
                ),
                &["operation", "outcome"],
            )?,
        })
    }
}

impl GatewayMetrics {
    /// Creates the metrics and registers them into `registry`. A
    /// registration failure (a name already registered) is logged; the
    /// metrics still count, unexported.
    pub fn register(registry: &Registry) -> Self {
        let c = match Collectors::new() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "gateway metrics could not be created");
                return GatewayMetrics { inner: None };
            }
        };
        let boxed: [Box<dyn prometheus::core::Collector>; 4] = [
            Box::new(c.requests.clone()),
            Box::new(c.duration.clone()),
            Box::new(c.auth_failures.clone()),
            Box::new(c.encryption_ops.clone()),
        ];
        for b in boxed {
            if let Err(e) = registry.register(b) {
                tracing::error!(error = %e, "gateway metric could not be registered");
            }
        }
        GatewayMetrics {
            inner: Some(std::sync::Arc::new(c)),
        }
    }

    /// Counts a failed authentication.
    pub fn auth_failure(&self, reason: AuthFailure) {
        if let Some(c) = &self.inner {
            c.auth_failures.with_label_values(&[reason.as_str()]).inc();
        }
    }

    /// Failed authentications counted so far for `reason`.
    pub fn auth_failures(&self, reason: AuthFailure) -> u64 {
        self.inner.as_ref().map_or(0, |c| {
            c.auth_failures.with_label_values(&[reason.as_str()]).get()
        })
    }

    /// Counts one platform encryption request of `operation` (an
    /// `Operation::as_str` name) answered with `status`.
    pub fn encryption_operation(&self, operation: &'static str, status: StatusCode) {
        let outcome = if status.is_server_error() {
            "server_error"
        } else if status.is_client_error() {
            "client_error"
        } else {
            "success"
        };
        if let Some(c) = &self.inner {
            c.encryption_ops
                .with_label_values(&[operation, outcome])
                .inc();
        }
    }

    fn observe(&self, route: &str, method: &str, status: StatusCode, seconds: f64) {
        if let Some(c) = &self.inner {
            let labels = [route, method, status_class(status)];
            c.requests.with_label_values(&labels).inc();
            c.duration.with_label_values(&labels).observe(seconds);
        }
    }
}

/// `2xx`, `4xx`…
pub fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// The bounded `method` label.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware: counts and times every request by route template, method
/// and status class (install with `Router::layer`, where axum knows the
/// matched route).
pub async fn track(State(metrics): State<GatewayMetrics>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let method = method_label(req.method());
    let response = next.run(req).await;
    metrics.observe(
        route.as_deref().unwrap_or("unmatched"),
        method,
        response.status(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Renders every metric of `registry` in the Prometheus text format 0.0.4.
pub fn render(registry: &Registry) -> Result<Vec<u8>, prometheus::Error> {
    let mut out = Vec::new();
    TextEncoder::new().encode(&registry.gather(), &mut out)?;
    Ok(out)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// `GET /metrics` (not metered, not in the OpenAPI document): the app's
/// registry in the text format, guarded per [`MetricsAccess`].
pub async fn metrics_handler(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match state.metrics_access() {
        MetricsAccess::Open => {}
        MetricsAccess::Disabled => return Problem::not_found().into_response(),
        MetricsAccess::AdminToken => {
            if !bearer(&headers).is_some_and(|t| state.admin_token().verify(t)) {
                state.metrics().auth_failure(AuthFailure::AdminToken);
                return Problem::new(ProblemKind::Unauthorized)
                    .detail("send the operator admin token as Authorization: Bearer …")
                    .into_response();
            }
        }
    }
    metrics_response(state.registry())
}

/// The `200 text/plain; version=0.0.4` answer with the registry's metrics.
pub fn metrics_response(registry: &Registry) -> Response {
    match render(registry) {
        Ok(body) => {
            let mut r = body.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "metrics could not be encoded");
            Problem::internal().into_response()
        }
    }
}

/// A router serving only `GET /metrics` (open), for a dedicated metrics
/// listener (`metrics_listen`).
pub fn standalone_router(registry: Registry) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let registry = registry.clone();
            async move { metrics_response(&registry) }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_register_and_render() {
        let registry = Registry::new();
        let m = GatewayMetrics::register(&registry);
        m.auth_failure(AuthFailure::UnknownKey);
        m.encryption_operation("encrypt", StatusCode::OK);
        m.observe("/v1/records/{id}", "GET", StatusCode::NOT_FOUND, 0.001);
        let text = String::from_utf8(render(&registry).unwrap_or_default()).unwrap_or_default();
        assert!(text.contains("zenalyze_auth_failures_total{reason=\"unknown_key\"} 1"));
        assert!(text.contains(
            "zenalyze_encryption_operations_total{operation=\"encrypt\",outcome=\"success\"} 1"
        ));
        assert!(text.contains("route=\"/v1/records/{id}\""));
        assert!(text.contains("status_class=\"4xx\""));
        // A second registration into the same registry does not panic.
        let again = GatewayMetrics::register(&registry);
        again.auth_failure(AuthFailure::Missing);
        assert_eq!(again.auth_failures(AuthFailure::Missing), 1);
    }

    #[test]
    fn labels_are_bounded() {
        assert_eq!(
            method_label(&Method::from_bytes(b"BREW").unwrap_or(Method::GET)),
            "other"
        );
        assert_eq!(status_class(StatusCode::TOO_MANY_REQUESTS), "4xx");
        assert_eq!(status_class(StatusCode::OK), "2xx");
    }
}
