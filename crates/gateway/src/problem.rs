//! RFC 9457 `application/problem+json` errors.
//!
//! Every error the gateway returns is a [`Problem`]: a stable `type` URI
//! under [`PROBLEM_BASE`], a fixed title, the HTTP status, an optional
//! detail written by the gateway (never an echo of submitted data) and the
//! request id. The list of types is documented in `docs/api.md`.

use std::borrow::Cow;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::request_id;

/// Prefix of every problem `type` URI.
pub const PROBLEM_BASE: &str = "https://zenalyze.dev/problems/";

/// Media type of problem documents.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The stable kinds of problem the gateway reports. Each has a slug (the
/// last segment of its `type` URI), a status and a title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// The body is not syntactically valid JSON (400).
    MalformedJson,
    /// The JSON is well-formed but does not match the schema: wrong types,
    /// missing or unknown fields (422).
    InvalidBody,
    /// A field value is out of range (length, characters, count) (422).
    ValidationFailed,
    /// The query string or a path parameter is invalid (400).
    InvalidParameter,
    /// The body is not `application/json` (415).
    UnsupportedMediaType,
    /// The body exceeds the configured limit (413).
    PayloadTooLarge,
    /// The submitted envelope is not a well-formed v1 envelope (422).
    InvalidEnvelope,
    /// The `X-Request-Id` header is not ≤128 chars of `[A-Za-z0-9._-]` (400).
    InvalidRequestId,
    /// The `Idempotency-Key` header is malformed (400).
    InvalidIdempotencyKey,
    /// The idempotency key was already used with a different request (422).
    IdempotencyKeyReused,
    /// A request with the same idempotency key is still being processed (409).
    IdempotencyInProgress,
    /// Missing, malformed, unknown or revoked credentials (401).
    Unauthorized,
    /// The credentials are valid but lack the required scope (403).
    Forbidden,
    /// No such resource (or it belongs to another tenant) (404).
    NotFound,
    /// The route exists but not with this method (405).
    MethodNotAllowed,
    /// The request conflicts with the current state (409).
    Conflict,
    /// The client took too long to send the request (408).
    RequestTimeout,
    /// The request did not complete within the server's deadline (503).
    Timeout,
    /// A dependency (database, audit log) is unavailable; nothing was
    /// changed (503).
    Unavailable,
    /// An unexpected server error; details are in the server logs, keyed by
    /// request id (500).
    Internal,
    /// Any other status produced by the HTTP stack.
    Other(StatusCode),
}

impl ProblemKind {
    /// The last segment of the `type` URI.
    pub fn slug(self) -> &'static str {
        match self {
            ProblemKind::MalformedJson => "malformed-json",
            ProblemKind::InvalidBody => "invalid-body",
            ProblemKind::ValidationFailed => "validation-failed",
            ProblemKind::InvalidParameter => "invalid-parameter",
            ProblemKind::UnsupportedMediaType => "unsupported-media-type",
            ProblemKind::PayloadTooLarge => "payload-too-large",
            ProblemKind::InvalidEnvelope => "invalid-envelope",
            ProblemKind::InvalidRequestId => "invalid-request-id",
            ProblemKind::InvalidIdempotencyKey => "invalid-idempotency-key",
            ProblemKind::IdempotencyKeyReused => "idempotency-key-reused",
            ProblemKind::IdempotencyInProgress => "idempotency-in-progress",
            ProblemKind::Unauthorized => "unauthorized",
            ProblemKind::Forbidden => "forbidden",
            ProblemKind::NotFound => "not-found",
            ProblemKind::MethodNotAllowed => "method-not-allowed",
            ProblemKind::Conflict => "conflict",
            ProblemKind::RequestTimeout => "request-timeout",
            ProblemKind::Timeout => "timeout",
            ProblemKind::Unavailable => "unavailable",
            ProblemKind::Internal => "internal",
            ProblemKind::Other(_) => "http-error",
        }
    }

    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            ProblemKind::MalformedJson
            | ProblemKind::InvalidParameter
            | ProblemKind::InvalidRequestId
            | ProblemKind::InvalidIdempotencyKey => StatusCode::BAD_REQUEST,
            ProblemKind::InvalidBody
            | ProblemKind::ValidationFailed
            | ProblemKind::InvalidEnvelope
            | ProblemKind::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemKind::IdempotencyInProgress | ProblemKind::Conflict => StatusCode::CONFLICT,
            ProblemKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ProblemKind::Forbidden => StatusCode::FORBIDDEN,
            ProblemKind::NotFound => StatusCode::NOT_FOUND,
            ProblemKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ProblemKind::Timeout | ProblemKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ProblemKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ProblemKind::Other(s) => s,
        }
    }

    /// A short, fixed, human-readable summary.
    pub fn title(self) -> &'static str {
        match self {
            ProblemKind::MalformedJson => "Malformed JSON",
            ProblemKind::InvalidBody => "Request body does not match the schema",
            ProblemKind::ValidationFailed => "Validation failed",
            ProblemKind::InvalidParameter => "Invalid parameter",
            ProblemKind::UnsupportedMediaType => "Unsupported media type",
            ProblemKind::PayloadTooLarge => "Payload too large",
            ProblemKind::InvalidEnvelope => "Invalid envelope",
            ProblemKind::InvalidRequestId => "Invalid request id",
            ProblemKind::InvalidIdempotencyKey => "Invalid idempotency key",
            ProblemKind::IdempotencyKeyReused => "Idempotency key reused with a different request",
            ProblemKind::IdempotencyInProgress => "Request with this idempotency key in progress",
            ProblemKind::Unauthorized => "Unauthorized",
            ProblemKind::Forbidden => "Forbidden",
            ProblemKind::NotFound => "Not found",
            ProblemKind::MethodNotAllowed => "Method not allowed",
            ProblemKind::Conflict => "Conflict",
            ProblemKind::RequestTimeout => "Request timeout",
            ProblemKind::Timeout => "Request timed out",
            ProblemKind::Unavailable => "Service unavailable",
            ProblemKind::Internal => "Internal server error",
            ProblemKind::Other(s) => s.canonical_reason().unwrap_or("HTTP error"),
        }
    }

    /// The full `type` URI.
    pub fn type_uri(self) -> String {
        format!("{PROBLEM_BASE}{}", self.slug())
    }

    /// The kind the gateway uses for a bare status produced by the HTTP
    /// stack (405 from the router, 413 from a body limit, …).
    pub fn from_status(status: StatusCode) -> Self {
        match status {
            StatusCode::BAD_REQUEST => ProblemKind::InvalidParameter,
            StatusCode::UNAUTHORIZED => ProblemKind::Unauthorized,
            StatusCode::FORBIDDEN => ProblemKind::Forbidden,
            StatusCode::NOT_FOUND => ProblemKind::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => ProblemKind::MethodNotAllowed,
            StatusCode::REQUEST_TIMEOUT => ProblemKind::RequestTimeout,
            StatusCode::CONFLICT => ProblemKind::Conflict,
            StatusCode::PAYLOAD_TOO_LARGE => ProblemKind::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ProblemKind::UnsupportedMediaType,
            StatusCode::UNPROCESSABLE_ENTITY => ProblemKind::InvalidBody,
            StatusCode::INTERNAL_SERVER_ERROR => ProblemKind::Internal,
            StatusCode::SERVICE_UNAVAILABLE => ProblemKind::Unavailable,
            other => ProblemKind::Other(other),
        }
    }
}

/// An error response. Build it with [`Problem::new`] and optionally a
/// gateway-written detail or a machine-readable `code`.
#[derive(Debug, Clone)]
pub struct Problem {
    kind: ProblemKind,
    detail: Option<Cow<'static, str>>,
    code: Option<&'static str>,
}

impl Problem {
    /// A problem of the given kind with no detail.
    pub fn new(kind: ProblemKind) -> Self {
        Problem {
            kind,
            detail: None,
            code: None,
        }
    }

    /// Adds a detail. It must be written by the gateway and never contain
    /// submitted data.
    pub fn detail(mut self, detail: impl Into<Cow<'static, str>>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds a stable machine-readable code (e.g. an envelope error code).
    pub fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// The kind of this problem.
    pub fn kind(&self) -> ProblemKind {
        self.kind
    }

    /// Shortcut for a 404 problem.
    pub fn not_found() -> Self {
        Problem::new(ProblemKind::NotFound)
    }

    /// Shortcut for a 503 problem: a dependency failed and nothing changed.
    pub fn unavailable() -> Self {
        Problem::new(ProblemKind::Unavailable)
            .detail("a dependency is unavailable; the request was not applied, retry later")
    }

    /// Shortcut for a 500 problem.
    pub fn internal() -> Self {
        Problem::new(ProblemKind::Internal)
    }

    /// The JSON document of this problem, with the current request id.
    pub fn document(&self) -> ProblemDocument {
        ProblemDocument {
            r#type: self.kind.type_uri(),
            title: self.kind.title().to_owned(),
            status: self.kind.status().as_u16(),
            detail: self.detail.as_ref().map(|d| d.to_string()),
            code: self.code.map(str::to_owned),
            request_id: request_id::current(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.kind.title(), self.kind.status())
    }
}

impl std::error::Error for Problem {}

impl From<ProblemKind> for Problem {
    fn from(kind: ProblemKind) -> Self {
        Problem::new(kind)
    }
}

/// The serialized form of a problem (RFC 9457 members plus `code` and
/// `request_id` extensions).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProblemDocument {
    /// Stable URI identifying the problem type, under `https://zenalyze.dev/problems/`.
    #[schema(example = "https://zenalyze.dev/problems/invalid-envelope")]
    pub r#type: String,
    /// Short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Explanation written by the gateway (never echoes submitted data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Machine-readable error code, when the type has several causes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The request id (also in the `X-Request-Id` response header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.kind.status();
        let body = serde_json::to_vec(&self.document()).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body is not read: the connection cannot be
            // reused, so tell the client before it tries.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"zenalyze\""),
            );
        }
        response
    }
}

impl From<zenalyze_store::StoreError> for Problem {
    fn from(e: zenalyze_store::StoreError) -> Self {
        use zenalyze_store::StoreError as E;
        match e {
            E::InvalidInput(what) => {
                Problem::new(ProblemKind::ValidationFailed).detail(format!("invalid {what}"))
            }
            E::AuditUnavailable(_) | E::WriterClosed | E::Database(_) | E::Io(_) => {
                tracing::error!(error = %e, "store unavailable");
                Problem::unavailable()
            }
            other => {
                tracing::error!(error = %other, "store error");
                Problem::internal()
            }
        }
    }
}

/// Every problem type with its status and title, for the documentation and
/// the tests that check it.
pub const ALL_KINDS: &[ProblemKind] = &[
    ProblemKind::MalformedJson,
    ProblemKind::InvalidBody,
    ProblemKind::ValidationFailed,
    ProblemKind::InvalidParameter,
    ProblemKind::UnsupportedMediaType,
    ProblemKind::PayloadTooLarge,
    ProblemKind::InvalidEnvelope,
    ProblemKind::InvalidRequestId,
    ProblemKind::InvalidIdempotencyKey,
    ProblemKind::IdempotencyKeyReused,
    ProblemKind::IdempotencyInProgress,
    ProblemKind::Unauthorized,
    ProblemKind::Forbidden,
    ProblemKind::NotFound,
    ProblemKind::MethodNotAllowed,
    ProblemKind::Conflict,
    ProblemKind::RequestTimeout,
    ProblemKind::Timeout,
    ProblemKind::Unavailable,
    ProblemKind::Internal,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_unique_and_documented_format() {
        let mut seen = std::collections::HashSet::new();
        for kind in ALL_KINDS {
            assert!(seen.insert(kind.slug()), "duplicate slug {}", kind.slug());
            assert!(kind
                .slug()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '-'));
            assert!(kind.status().is_client_error() || kind.status().is_server_error());
        }
    }

    #[test]
    fn every_problem_type_is_documented() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md");
        let doc = std::fs::read_to_string(path).expect("docs/api.md");
        for kind in ALL_KINDS {
            let row = format!("| `{}` | {} |", kind.slug(), kind.status().as_u16());
            assert!(doc.contains(&row), "docs/api.md lacks the row {row}");
        }
        assert!(doc.contains(PROBLEM_BASE));
    }

    #[test]
    fn from_status_round_trips_for_common_statuses() {
        for kind in ALL_KINDS {
            let back = ProblemKind::from_status(kind.status());
            assert_eq!(back.status(), kind.status());
        }
    }
}
