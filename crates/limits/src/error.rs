//! Errors.

/// Errors of the limiter.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// The tenant id is not 1–128 characters of `[A-Za-z0-9._:-]`.
    #[error("invalid tenant id")]
    InvalidTenant,
    /// Redis failed (only returned by calls that do not fall back, such as
    /// [`crate::RedisLimiter::connect_checked`]).
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A Redis call took longer than the configured timeout.
    #[error("redis call timed out")]
    Timeout,
    /// Redis answered something the script never returns.
    #[error("unexpected reply from the redis script")]
    BadReply,
    /// Invalid configuration.
    #[error("invalid limits configuration: {0}")]
    Config(&'static str),
    /// Registering the metrics failed (e.g. registered twice).
    #[error("metrics registration: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// Maximum length of a tenant id, in bytes.
pub const MAX_TENANT_ID_LEN: usize = 128;

/// Checks a tenant id: 1 to 128 characters from `[A-Za-z0-9._:-]` (store
/// ids are `ten_<hex>`); so it can be embedded in a Redis key and used as a
/// metric label.
pub fn validate_tenant(tenant: &str) -> Result<(), LimitError> {
    if tenant.is_empty()
        || tenant.len() > MAX_TENANT_ID_LEN
        || !tenant
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'))
    {
        return Err(LimitError::InvalidTenant);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids() {
        assert!(validate_tenant("ten_0123abcd").is_ok());
        assert!(validate_tenant("").is_err());
        assert!(validate_tenant("a{b}").is_err());
        assert!(validate_tenant("a b").is_err());
        assert!(validate_tenant(&"a".repeat(129)).is_err());
        assert!(validate_tenant(&"a".repeat(128)).is_ok());
    }
}
