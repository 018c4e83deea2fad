//! Typed provider errors. No variant carries request or response content:
//! messages name a category, a status code or a fixed reason only.

use std::time::Duration;

/// Why an input was refused before anything was sent upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefusalReason {
    /// A `bytes` input with a media type this provider cannot forward.
    UnsupportedMediaType,
    /// A `bytes`/`record` input that had to be text but is not valid UTF-8.
    NotUtf8,
    /// The request exceeds the provider's configured size limit.
    TooLarge,
    /// The requested model name is empty or not acceptable.
    InvalidModel,
    /// `max_tokens` is zero or above the provider's limit.
    InvalidMaxTokens,
    /// Nothing to send: empty prompt and no inputs with content.
    EmptyRequest,
}

impl RefusalReason {
    /// Stable, content-free description.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::UnsupportedMediaType => "unsupported media type",
            RefusalReason::NotUtf8 => "input is not valid UTF-8 text",
            RefusalReason::TooLarge => "request too large",
            RefusalReason::InvalidModel => "invalid model name",
            RefusalReason::InvalidMaxTokens => "invalid max_tokens",
            RefusalReason::EmptyRequest => "empty request",
        }
    }
}

impl std::fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error returned by [`crate::Provider::analyze`].
///
/// Messages never contain prompt, input, output or key material. The upstream
/// `error_type` is the provider's machine-readable classification (for example
/// `invalid_request_error`), sanitised to `[A-Za-z0-9_.-]` and at most 64
/// characters; upstream free-text messages are never kept because they can echo
/// the input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The upstream answered HTTP 429. `retry_after` comes from the
    /// `Retry-After` header (delta-seconds), when present.
    #[error("upstream rate limited the request (HTTP 429)")]
    RateLimited {
        /// Delay requested by the upstream.
        retry_after: Option<Duration>,
        /// Upstream error type, sanitised.
        error_type: Option<String>,
    },
    /// The upstream reported overload or unavailability (HTTP 503, Anthropic 529).
    #[error("upstream overloaded (HTTP {status})")]
    Overloaded {
        /// The HTTP status.
        status: u16,
        /// Delay requested by the upstream (`Retry-After`), when present.
        retry_after: Option<Duration>,
        /// Upstream error type, sanitised.
        error_type: Option<String>,
    },
    /// Any other non-success HTTP status (401, 400, 404, 500…).
    #[error("upstream returned HTTP {status}")]
    Upstream {
        /// The HTTP status.
        status: u16,
        /// Upstream error type, sanitised.
        error_type: Option<String>,
    },
    /// The upstream did not answer within the configured timeout.
    #[error("upstream request timed out")]
    Timeout,
    /// Connection-level failure (DNS, connect, TLS, reset) before an HTTP status.
    #[error("upstream transport error ({0})")]
    Transport(&'static str),
    /// The upstream answered 2xx but the body is not the expected shape.
    #[error("malformed upstream response: {0}")]
    MalformedResponse(&'static str),
    /// The input was refused before any upstream call.
    #[error("input refused: {0}")]
    InputRefused(RefusalReason),
    /// The provider is misconfigured (bad base URL, bad header name…).
    #[error("provider configuration error: {0}")]
    Config(&'static str),
}

impl ProviderError {
    /// The upstream HTTP status, when the error comes from one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ProviderError::RateLimited { .. } => Some(429),
            ProviderError::Overloaded { status, .. } | ProviderError::Upstream { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// The `Retry-After` delay the upstream asked for, when any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::RateLimited { retry_after, .. }
            | ProviderError::Overloaded { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether retrying later may succeed (rate limit, overload, timeout,
    /// transport failure, upstream 5xx).
    pub fn is_retryable(&self) -> bool {
        match self {
            ProviderError::RateLimited { .. }
            | ProviderError::Overloaded { .. }
            | ProviderError::Timeout
            | ProviderError::Transport(_) => true,
            ProviderError::Upstream { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// Keeps only a short machine-readable identifier from an upstream error type.
pub(crate) fn sanitize_error_type(s: &str) -> Option<String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    ok.then(|| s.to_owned())
}

/// Parses a `Retry-After` header given as delta-seconds (HTTP-dates are ignored:
/// the enclave has no trustworthy clock to compare them with). Capped at one day.
pub(crate) fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if v.is_empty() || v.len() > 12 {
        return None;
    }
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs.min(86_400)));
    }
    // Some gateways send fractional seconds.
    let f = v.parse::<f64>().ok()?;
    (f.is_finite() && f >= 0.0).then(|| Duration::from_secs_f64(f.min(86_400.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_parsing() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(
            parse_retry_after("999999999"),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-3"), None);
        assert_eq!(parse_retry_after("NaN"), None);
        assert_eq!(parse_retry_after(""), None);
    }

    #[test]
    fn error_type_sanitised() {
        assert_eq!(
            sanitize_error_type("rate_limit_error").as_deref(),
            Some("rate_limit_error")
        );
        assert_eq!(sanitize_error_type("my diary says hi"), None);
        assert_eq!(sanitize_error_type(&"a".repeat(65)), None);
        assert_eq!(sanitize_error_type(""), None);
    }

    #[test]
    fn status_and_retryability() {
        let e = ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
            error_type: None,
        };
        assert_eq!(e.status(), Some(429));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        assert!(e.is_retryable());
        let e = ProviderError::Upstream {
            status: 401,
            error_type: None,
        };
        assert!(!e.is_retryable());
        assert_eq!(e.to_string(), "upstream returned HTTP 401");
        assert!(ProviderError::Upstream {
            status: 502,
            error_type: None
        }
        .is_retryable());
        assert!(!ProviderError::InputRefused(RefusalReason::NotUtf8).is_retryable());
    }
}
