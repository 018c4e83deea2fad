//! Typed errors. No error carries a request body, an envelope, plaintext
//! or the API key.

use std::fmt;
use std::time::Duration;

/// Prefix of the gateway's problem `type` URIs.
pub const PROBLEM_BASE: &str = "https://zenalyze.dev/problems/";

/// The gateway's stable problem types (`docs/api.md`; rate limits and quotas also in `docs/operations.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProblemType {
    /// `malformed-json` (400).
    MalformedJson,
    /// `invalid-parameter` (400).
    InvalidParameter,
    /// `invalid-request-id` (400).
    InvalidRequestId,
    /// `invalid-idempotency-key` (400).
    InvalidIdempotencyKey,
    /// `unauthorized` (401): missing, unknown or revoked API key.
    Unauthorized,
    /// `forbidden` (403): the key lacks the operation's scope.
    Forbidden,
    /// `not-found` (404), including another tenant's resource.
    NotFound,
    /// `method-not-allowed` (405).
    MethodNotAllowed,
    /// `request-timeout` (408).
    RequestTimeout,
    /// `conflict` (409).
    Conflict,
    /// `idempotency-in-progress` (409): retry later with the same key.
    IdempotencyInProgress,
    /// `payload-too-large` (413).
    PayloadTooLarge,
    /// `unsupported-media-type` (415).
    UnsupportedMediaType,
    /// `invalid-body` (422): the JSON does not match the schema.
    InvalidBody,
    /// `validation-failed` (422): a value out of range.
    ValidationFailed,
    /// `invalid-envelope` (422): the gateway refused the envelope.
    InvalidEnvelope,
    /// `idempotency-key-reused` (422): same key, different request.
    IdempotencyKeyReused,
    /// `rate-limited` (429): the per-second burst limit.
    RateLimited,
    /// `quota-exceeded` (429): the daily/monthly quota is used up.
    QuotaExceeded,
    /// `internal` (500).
    Internal,
    /// `timeout` (503): the server's deadline passed.
    Timeout,
    /// `unavailable` (503): a dependency is down; nothing changed.
    Unavailable,
    /// `http-error` or any type this SDK version does not know.
    Other,
}

impl ProblemType {
    /// The problem type of a `type` URI (falling back to the HTTP status for
    /// unknown or absent types).
    pub fn from_type_uri(uri: &str, status: u16) -> Self {
        match uri.strip_prefix(PROBLEM_BASE).unwrap_or("") {
            "malformed-json" => Self::MalformedJson,
            "invalid-parameter" => Self::InvalidParameter,
            "invalid-request-id" => Self::InvalidRequestId,
            "invalid-idempotency-key" => Self::InvalidIdempotencyKey,
            "unauthorized" => Self::Unauthorized,
            "forbidden" => Self::Forbidden,
            "not-found" => Self::NotFound,
            "method-not-allowed" => Self::MethodNotAllowed,
            "request-timeout" => Self::RequestTimeout,
            "conflict" => Self::Conflict,
            "idempotency-in-progress" => Self::IdempotencyInProgress,
            "payload-too-large" => Self::PayloadTooLarge,
            "unsupported-media-type" => Self::UnsupportedMediaType,
            "invalid-body" => Self::InvalidBody,
            "validation-failed" => Self::ValidationFailed,
            "invalid-envelope" => Self::InvalidEnvelope,
            "idempotency-key-reused" => Self::IdempotencyKeyReused,
            "rate-limited" => Self::RateLimited,
            "quota-exceeded" => Self::QuotaExceeded,
            "internal" => Self::Internal,
            "timeout" => Self::Timeout,
            "unavailable" => Self::Unavailable,
            _ => match status {
                400 => Self::InvalidParameter,
                401 => Self::Unauthorized,
                403 => Self::Forbidden,
                404 => Self::NotFound,
                409 => Self::Conflict,
                413 => Self::PayloadTooLarge,
                422 => Self::InvalidBody,
                429 => Self::RateLimited,
                500 => Self::Internal,
                503 => Self::Unavailable,
                _ => Self::Other,
            },
        }
    }

    /// `true` for 429 problems (`rate-limited`, `quota-exceeded`).
    pub fn is_rate_limit(self) -> bool {
        matches!(self, Self::RateLimited | Self::QuotaExceeded)
    }
}

/// An error answer of the gateway: an RFC 9457 problem document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The problem type (from `type`).
    pub problem: ProblemType,
    /// HTTP status.
    pub status: u16,
    /// The `type` URI as sent (`about:blank` when absent).
    pub type_uri: String,
    /// Short fixed summary.
    pub title: String,
    /// Gateway-written explanation (never echoes submitted data).
    pub detail: Option<String>,
    /// Machine-readable cause when a type has several (e.g. `too_short`).
    pub code: Option<String>,
    /// The request id, to quote to support.
    pub request_id: Option<String>,
    /// `Retry-After`, when the gateway sent one.
    pub retry_after: Option<Duration>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (HTTP {}", self.title, self.status)?;
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        write!(f, ")")?;
        if let Some(r) = &self.request_id {
            write!(f, " [request {r}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// Every error of the SDK.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client configuration is invalid (nothing was sent).
    #[error("configuration: {0}")]
    Config(&'static str),
    /// An argument is invalid (nothing was sent).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// `store_encrypted` refused the data locally because it is not a
    /// well-formed v1 envelope in standard base64; **nothing was sent**.
    /// `code` is `invalid_base64`, `too_short` or `unsupported_version`.
    #[error("not a v1 envelope ({code}): expected the client SDK's envelope in standard base64 with padding; nothing was sent")]
    InvalidEnvelope {
        /// Machine-readable cause (as in `docs/formats.md`).
        code: &'static str,
    },
    /// The gateway could not be reached, after all retries.
    #[error("could not reach the Zenalyze Encryption Service after {attempts} attempt(s)")]
    Network {
        /// Attempts made.
        attempts: u32,
    },
    /// No answer within the per-attempt timeout, after all retries.
    #[error("no answer from the Zenalyze Encryption Service within the timeout after {attempts} attempt(s)")]
    Timeout {
        /// Attempts made.
        attempts: u32,
    },
    /// The gateway answered with a problem document (boxed: it is large).
    #[error(transparent)]
    Api(Box<ApiError>),
    /// The gateway's answer was not what the API documents.
    #[error("unexpected answer from the gateway (HTTP {status}): {what}")]
    UnexpectedResponse {
        /// HTTP status.
        status: u16,
        /// What was wrong.
        what: &'static str,
    },
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Error::Api(Box::new(e))
    }
}

impl Error {
    /// The problem type when this is an API error.
    pub fn problem(&self) -> Option<ProblemType> {
        self.api().map(|e| e.problem)
    }

    /// The problem document when this is an API error.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }
}
