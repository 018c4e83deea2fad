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

/// Key Management Service: encrypt with any keyring (`kms:encrypt:<keyring>` for one).
pub const KMS_ENCRYPT: &str = "kms:encrypt";
/// Key Management Service: decrypt with any keyring (`kms:decrypt:<keyring>` for one).
pub const KMS_DECRYPT: &str = "kms:decrypt";
/// Key Management Service: rewrap with any keyring (`kms:rewrap:<keyring>` for one).
pub const KMS_REWRAP: &str = "kms:rewrap";
/// Key Management Service: blind indexes with any keyring (`kms:blind-index:<keyring>` for one).
pub const KMS_BLIND_INDEX: &str = "kms:blind-index";

/// Whether `s` is a keyring-restricted KMS scope `kms:<op>:<keyring>` (op
/// `encrypt|decrypt|rewrap|blind-index`, keyring `[a-z0-9][a-z0-9-]{0,63}`).
pub fn is_kms_keyring_scope(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("kms:") else {
        return false;
    };
    let Some((op, keyring)) = rest.split_once(':') else {
        return false;
    };
    matches!(op, "encrypt" | "decrypt" | "rewrap" | "blind-index")
        && zenalyze_store::keyring::is_valid_keyring_name(keyring)
}

/// Whether `scopes` allow the KMS operation `op` (`encrypt`, `decrypt`,
/// `rewrap`, `blind-index`) on `keyring`:
///
/// * `kms:<op>:<keyring>` allows exactly that; otherwise
/// * an unrestricted grant — `kms:<op>`, or the older `encrypt` (for
///   encrypt, rewrap, blind-index) / `decrypt` (for decrypt) — allows it,
///   unless the key also holds `keyring:<name>` scopes, which then limit
///   unrestricted grants to those keyrings.
pub fn allows_kms(scopes: &[String], op: &str, keyring: &str) -> bool {
    let has = |want: &str| scopes.iter().any(|s| s == want);
    if has(&format!("kms:{op}:{keyring}")) {
        return true;
    }
    let legacy = match op {
        "decrypt" => DECRYPT,
        "encrypt" | "rewrap" | "blind-index" => ENCRYPT,
        _ => return false,
    };
    let granted = has(&format!("kms:{op}")) || has(legacy);
    let restricted = scopes.iter().any(|s| s.starts_with("keyring:"));
    granted && (!restricted || has(&format!("keyring:{keyring}")))
}

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
    KMS_ENCRYPT,
    KMS_DECRYPT,
    KMS_REWRAP,
    KMS_BLIND_INDEX,
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
        let known = ALL.contains(&s.as_str()) || is_keyring_scope(s) || is_kms_keyring_scope(s);
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
        assert!(validate(&v(&["kms:decrypt:encrypt-email", "kms:encrypt"]), true).is_ok());
        assert!(validate(&v(&["kms:sign:encrypt-email"]), true).is_err());
        assert!(validate(&v(&["kms:decrypt:Bad"]), true).is_err());
        assert!(validate(&v(&["kms:encrypt"]), false).is_err());
    }

    #[test]
    fn kms_policy() {
        let enc_only = v(&["kms:encrypt", "kms:blind-index"]);
        assert!(allows_kms(&enc_only, "encrypt", "encrypt-email"));
        assert!(allows_kms(&enc_only, "blind-index", "encrypt-email"));
        assert!(!allows_kms(&enc_only, "decrypt", "encrypt-email"));
        assert!(!allows_kms(&enc_only, "rewrap", "encrypt-email"));
        let one = v(&["kms:decrypt:encrypt-email"]);
        assert!(allows_kms(&one, "decrypt", "encrypt-email"));
        assert!(!allows_kms(&one, "decrypt", "encrypt-username"));
        assert!(!allows_kms(&one, "encrypt", "encrypt-email"));
        let legacy = v(&["encrypt", "decrypt"]);
        for op in ["encrypt", "decrypt", "rewrap", "blind-index"] {
            assert!(allows_kms(&legacy, op, "any"));
        }
        let limited = v(&["decrypt", "keyring:encrypt-email"]);
        assert!(allows_kms(&limited, "decrypt", "encrypt-email"));
        assert!(!allows_kms(&limited, "decrypt", "encrypt-username"));
        assert!(!allows_kms(&limited, "encrypt", "encrypt-email"));
        assert!(!allows_kms(&v(&["admin"]), "encrypt", "x"));
        assert!(!allows_kms(&legacy, "sign", "x"));
    }
}
