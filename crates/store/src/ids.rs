//! Identifiers.
//!
//! Store-generated identifiers carry a type prefix and 128 random bits in
//! lowercase hex: `ten_…` (tenants), `key_…` (API keys), `rec_…` (records).
//! Caller-supplied identifiers ([`UserId`], [`OpaqueId`]) must be *opaque*:
//! 1 to 128 characters from `[A-Za-z0-9._:-]`. No `@`, no spaces: an e-mail
//! address or a name (PHI) is refused by construction, so it can never reach
//! the database or the audit log through these types.

use crate::error::StoreError;
use rand::RngCore;
use std::fmt;

/// Maximum length of an opaque identifier, in bytes.
pub const MAX_OPAQUE_ID_LEN: usize = 128;

fn is_opaque_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-')
}

/// True when `s` is a valid opaque identifier (see the module docs).
pub fn is_valid_opaque_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_OPAQUE_ID_LEN && s.bytes().all(is_opaque_char)
}

fn random_hex_128() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The prefix every identifier of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh random identifier (prefix + 128 random bits in hex).
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, random_hex_128()))
            }

            /// Parses an identifier: the prefix followed by 1 to 64
            /// characters from `[a-z0-9]`.
            pub fn parse(s: &str) -> Result<Self, StoreError> {
                let rest = s
                    .strip_prefix($prefix)
                    .ok_or(StoreError::InvalidInput($what))?;
                if rest.is_empty()
                    || rest.len() > 64
                    || !rest.bytes().all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
                {
                    return Err(StoreError::InvalidInput($what));
                }
                Ok(Self(s.to_owned()))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = StoreError;
            fn from_str(s: &str) -> Result<Self, StoreError> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = StoreError;
            fn try_from(s: String) -> Result<Self, StoreError> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

prefixed_id!(
    /// A tenant identifier, `ten_…`.
    TenantId,
    "ten_",
    "tenant id"
);
prefixed_id!(
    /// An API key identifier, `key_…` (safe to show and to log; the key's
    /// secret is never stored).
    ApiKeyId,
    "key_",
    "api key id"
);
prefixed_id!(
    /// A record identifier, `rec_…`.
    RecordId,
    "rec_",
    "record id"
);
prefixed_id!(
    /// An asynchronous AI job identifier, `job_…`.
    JobId,
    "job_",
    "job id"
);

macro_rules! opaque_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses an opaque identifier: 1 to 128 characters from
            /// `[A-Za-z0-9._:-]`.
            pub fn parse(s: &str) -> Result<Self, StoreError> {
                if is_valid_opaque_id(s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(StoreError::InvalidInput($what))
                }
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = StoreError;
            fn from_str(s: &str) -> Result<Self, StoreError> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = StoreError;
            fn try_from(s: String) -> Result<Self, StoreError> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

opaque_id!(
    /// The customer's opaque identifier of an end user (the owner of
    /// records, the *subject* of audit events). Never an e-mail or a name.
    UserId,
    "user id"
);
opaque_id!(
    /// Any other opaque identifier: an audit event's resource id or request
    /// id, an idempotency key.
    OpaqueId,
    "opaque id"
);

impl From<TenantId> for OpaqueId {
    fn from(id: TenantId) -> Self {
        OpaqueId(id.0)
    }
}
impl From<ApiKeyId> for OpaqueId {
    fn from(id: ApiKeyId) -> Self {
        OpaqueId(id.0)
    }
}
impl From<JobId> for OpaqueId {
    fn from(id: JobId) -> Self {
        OpaqueId(id.0)
    }
}

impl From<RecordId> for OpaqueId {
    fn from(id: RecordId) -> Self {
        OpaqueId(id.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back() {
        let t = TenantId::generate();
        assert!(t.as_str().starts_with("ten_"));
        assert_eq!(t.as_str().len(), 4 + 32);
        assert_eq!(TenantId::parse(t.as_str()).unwrap(), t);
        assert_ne!(RecordId::generate(), RecordId::generate());
    }

    #[test]
    fn prefixed_ids_reject_bad_input() {
        assert!(TenantId::parse("rec_abc").is_err());
        assert!(TenantId::parse("ten_").is_err());
        assert!(TenantId::parse("ten_ABC").is_err());
        assert!(TenantId::parse("ten_a b").is_err());
        assert!(ApiKeyId::parse(&format!("key_{}", "a".repeat(65))).is_err());
        assert!(ApiKeyId::parse("key_0a").is_ok());
    }

    #[test]
    fn opaque_ids_refuse_emails_and_spaces() {
        assert!(UserId::parse("alice@example.com").is_err());
        assert!(UserId::parse("Alice Smith").is_err());
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse(&"a".repeat(129)).is_err());
        assert!(UserId::parse(&"a".repeat(128)).is_ok());
        assert!(UserId::parse("usr_01HZX-9:a.b").is_ok());
        assert!(OpaqueId::parse("req\n1").is_err());
    }
}
