//! API key scopes.
//!
//! A scope names an operation family. Secret keys may hold any scope;
//! publishable keys (`zk_pub_…`, shipped to browsers) only the browser-safe
//! ones ([`PUBLISHABLE_ALLOWED`]). Later features add scopes here (and
//! keyring scopes of the form `keyring:<name>`).

/// Read records (`GET /v1/records…`).
pub const RECORDS_READ: &str = "records:read";
/// Create records (`POST /v1/records`).
pub const RECORDS_WRITE: &str = "records:write";
/// Delete records (`DELETE /v1/records/{id}`).
pub const RECORDS_DELETE: &str = "records:delete";
/// Platform-key encryption (`POST /v1/encrypt`, `/v1/rewrap`, `/v1/blind-index`).
pub const ENCRYPT: &str = "encrypt";
/// Platform-key decryption (`POST /v1/decrypt`).
pub const DECRYPT: &str = "decrypt";
/// AI analysis requests (`POST /v1/ai/analyze`, job status).
pub const AI_ANALYZE: &str = "ai:analyze";
/// Enclave attestation (`GET /v1/ai/attestation`).
pub const AI_ATTESTATION: &str = "ai:attestation";
/// Usage metering (`GET /v1/usage`).
pub const USAGE_READ: &str = "usage:read";
/// Tenant self-administration (its own keys and keyrings).
pub const ADMIN: &str = "admin";

/// Every operation scope the gateway knows.
pub const ALL: &[&str] = &[
    RECORDS_READ,
    RECORDS_WRITE,
    RECORDS_DELETE,
    ENCRYPT,
    DECRYPT,
    AI_ANALYZE,
    AI_ATTESTATION,
    USAGE_READ,
    ADMIN,
];

/// Default scopes of a new secret key (everything except `admin`).
pub const SECRET_DEFAULT: &[&str] = &[
    RECORDS_READ,
    RECORDS_WRITE,
    RECORDS_DELETE,
    ENCRYPT,
    DECRYPT,
    AI_ANALYZE,
    AI_ATTESTATION,
    USAGE_READ,
];

/// The only scopes a publishable key may hold (also its default).
pub const PUBLISHABLE_ALLOWED: &[&str] = &[AI_ATTESTATION, AI_ANALYZE];

/// Why a scope list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// A scope is not known and not a valid keyring scope.
    #[error("unknown scope")]
    Unknown,
    /// A publishable key asked for a scope reserved to secret keys.
    #[error("publishable keys may only hold ai:attestation and ai:analyze")]
    NotForPublishable,
    /// The list is empty.
    #[error("at least one scope is required")]
    Empty,
}

/// Whether `s` is a keyring scope `keyring:<name>` with a name of 1 to 48
/// characters from `[a-z0-9_-]`.
pub fn is_keyring_scope(s: &str) -> bool {
    s.strip_prefix("keyring:").is_some_and(|name| {
        !name.is_empty()
            && name.len() <= 48
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    })
}

/// Validates a requested scope list for a key, returning it sorted and
/// deduplicated.
pub fn validate(requested: &[String], secret: bool) -> Result<Vec<String>, ScopeError> {
    if requested.is_empty() {
        return Err(ScopeError::Empty);
    }
    let mut out: Vec<String> = Vec::with_capacity(requested.len());
    for s in requested {
        let known = ALL.contains(&s.as_str()) || is_keyring_scope(s);
        if !known {
            return Err(ScopeError::Unknown);
        }
        if !secret && !PUBLISHABLE_ALLOWED.contains(&s.as_str()) {
            return Err(ScopeError::NotForPublishable);
        }
        out.push(s.clone());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The default scopes of a new key.
pub fn defaults(secret: bool) -> Vec<String> {
    let list = if secret {
        SECRET_DEFAULT
    } else {
        PUBLISHABLE_ALLOWED
    };
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn validation_rules() {
        assert_eq!(
            validate(
                &v(&["records:write", "records:read", "records:write"]),
                true
            ),
            Ok(v(&["records:read", "records:write"]))
        );
        assert_eq!(
            validate(&v(&["records:read"]), false),
            Err(ScopeError::NotForPublishable)
        );
        assert_eq!(validate(&v(&["root"]), true), Err(ScopeError::Unknown));
        assert_eq!(validate(&[], true), Err(ScopeError::Empty));
        assert!(validate(&v(&["keyring:encrypt-username"]), true).is_ok());
        assert!(validate(&v(&["keyring:Bad Name"]), true).is_err());
        assert!(validate(&defaults(false), false).is_ok());
        assert!(validate(&defaults(true), true).is_ok());
    }
}
