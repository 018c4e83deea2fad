//! API key material: generation, format checks, hashing and constant-time
//! comparison.
//!
//! Keys are `zk_live_`, `zk_test_` (secret) or `zk_pub_` (publishable)
//! followed by 43 base62 characters drawn from the system CSPRNG (256 bits).
//! Only `SHA-256(key)` is stored. A plain hash (not HMAC under a pepper) is
//! deliberate: with 256 bits of entropy a stolen hash cannot be inverted by
//! guessing, so a pepper would add no protection while adding an operational
//! secret whose loss or rotation invalidates every key of every tenant, and
//! which every gateway instance would have to share. Lookups are by hash, so
//! the database never compares the secret itself, and the final equality
//! check on the hash is constant-time.

use std::fmt;

use aws_lc_rs::digest;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Number of random base62 characters in a generated key (43 × log2(62) ≈ 256 bits).
pub const KEY_RANDOM_CHARS: usize = 43;

/// Minimum number of characters after the prefix that a key may have
/// (accepted for keys supplied by an operator, e.g. `ZENALYZE_DEV_API_KEY`).
pub const MIN_KEY_RANDOM_CHARS: usize = 32;

/// Maximum number of characters after the prefix.
pub const MAX_KEY_RANDOM_CHARS: usize = 128;

/// Characters of a key kept for display (the prefix plus four characters).
pub const DISPLAY_EXTRA_CHARS: usize = 4;

/// Random base62 string of `len` characters from the system CSPRNG
/// (rejection sampling, so every character is uniform).
pub fn random_base62(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        if aws_lc_rs::rand::fill(&mut buf).is_err() {
            // The system RNG does not fail on supported platforms; abort
            // rather than produce a weak key.
            std::process::abort();
        }
        for &b in buf.iter() {
            // 248 = 4 × 62: values above are rejected to avoid modulo bias.
            if b < 248 && out.len() < len {
                out.push(char::from(BASE62[usize::from(b % 62)]));
            }
        }
    }
    buf.zeroize();
    out
}

/// `n` random bytes from the system CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    if aws_lc_rs::rand::fill(&mut out).is_err() {
        std::process::abort();
    }
    out
}

/// The kind of an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// `zk_live_…`: secret key for production backends.
    Live,
    /// `zk_test_…`: secret key for development and tests.
    Test,
    /// `zk_pub_…`: publishable key for browsers (attestation and AI only).
    Publishable,
}

impl KeyKind {
    /// The textual prefix of keys of this kind.
    pub fn prefix(self) -> &'static str {
        match self {
            KeyKind::Live => "zk_live_",
            KeyKind::Test => "zk_test_",
            KeyKind::Publishable => "zk_pub_",
        }
    }

    /// The name used in the API and the database (`live`, `test`, `publishable`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Live => "live",
            KeyKind::Test => "test",
            KeyKind::Publishable => "publishable",
        }
    }

    /// Parses the API name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "live" => Some(KeyKind::Live),
            "test" => Some(KeyKind::Test),
            "publishable" => Some(KeyKind::Publishable),
            _ => None,
        }
    }

    /// Whether keys of this kind are secret (server-side) keys.
    pub fn is_secret(self) -> bool {
        !matches!(self, KeyKind::Publishable)
    }
}

/// A plaintext API key. Wiped on drop, redacted in `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ApiKeySecret(String);

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeySecret({}…)", self.display_prefix())
    }
}

/// Why a string is not an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    /// The prefix is not `zk_live_`, `zk_test_` or `zk_pub_`.
    #[error("an API key starts with zk_live_, zk_test_ or zk_pub_")]
    UnknownPrefix,
    /// The part after the prefix is too short, too long or not base62.
    #[error("an API key has 32 to 128 base62 characters after its prefix")]
    BadBody,
}

impl ApiKeySecret {
    /// Generates a new key of the given kind.
    pub fn generate(kind: KeyKind) -> Self {
        let mut s = String::with_capacity(kind.prefix().len() + KEY_RANDOM_CHARS);
        s.push_str(kind.prefix());
        s.push_str(&Zeroizing::new(random_base62(KEY_RANDOM_CHARS)));
        ApiKeySecret(s)
    }

    /// Parses a key supplied by a client or an operator, checking its format.
    pub fn parse(text: &str) -> Result<Self, KeyFormatError> {
        let kind = Self::kind_of(text).ok_or(KeyFormatError::UnknownPrefix)?;
        let body = text
            .get(kind.prefix().len()..)
            .ok_or(KeyFormatError::BadBody)?;
        if body.len() < MIN_KEY_RANDOM_CHARS
            || body.len() > MAX_KEY_RANDOM_CHARS
            || !body.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(KeyFormatError::BadBody);
        }
        Ok(ApiKeySecret(text.to_owned()))
    }

    fn kind_of(text: &str) -> Option<KeyKind> {
        [KeyKind::Live, KeyKind::Test, KeyKind::Publishable]
            .into_iter()
            .find(|k| text.starts_with(k.prefix()))
    }

    /// The kind of this key.
    pub fn kind(&self) -> KeyKind {
        // Constructors guarantee a known prefix.
        Self::kind_of(&self.0).unwrap_or(KeyKind::Publishable)
    }

    /// The full key text. Show it once to its owner; never log it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// SHA-256 of the key: what the database stores and looks up.
    pub fn hash(&self) -> [u8; 32] {
        sha256(self.0.as_bytes())
    }

    /// The non-secret display prefix (`zk_test_AbC1`), for listings.
    pub fn display_prefix(&self) -> String {
        let n = self.kind().prefix().len() + DISPLAY_EXTRA_CHARS;
        self.0.get(..n).unwrap_or(self.kind().prefix()).to_owned()
    }
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Constant-time equality of two 32-byte values.
pub fn ct_eq32(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

/// The operator's admin token, compared in constant time (by comparing the
/// SHA-256 of both sides, so neither the content nor the length leaks
/// through timing). Wiped on drop, redacted in `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct AdminToken(String);

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// Minimum length of an admin token.
pub const MIN_ADMIN_TOKEN_LEN: usize = 32;

/// Why a string cannot be an admin token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AdminTokenError {
    /// Shorter than [`MIN_ADMIN_TOKEN_LEN`] characters.
    #[error("the admin token must be at least 32 characters")]
    TooShort,
    /// Contains characters outside printable ASCII (or spaces).
    #[error("the admin token must be printable ASCII without spaces")]
    BadCharacters,
}

impl AdminToken {
    /// A fresh token: `zat_` + 43 base62 characters.
    pub fn generate() -> Self {
        AdminToken(format!("zat_{}", random_base62(KEY_RANDOM_CHARS)))
    }

    /// Checks an operator-supplied token (surrounding whitespace trimmed).
    pub fn parse(text: &str) -> Result<Self, AdminTokenError> {
        let t = text.trim();
        if t.len() < MIN_ADMIN_TOKEN_LEN {
            return Err(AdminTokenError::TooShort);
        }
        if !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(AdminTokenError::BadCharacters);
        }
        Ok(AdminToken(t.to_owned()))
    }

    /// Constant-time check of a presented token.
    pub fn verify(&self, presented: &str) -> bool {
        ct_eq32(&sha256(self.0.as_bytes()), &sha256(presented.as_bytes()))
    }

    /// The token text, to print once in `zenalyze dev`. Never log it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_differ() {
        for kind in [KeyKind::Live, KeyKind::Test, KeyKind::Publishable] {
            let a = ApiKeySecret::generate(kind);
            let b = ApiKeySecret::generate(kind);
            assert_ne!(a.expose_secret(), b.expose_secret());
            assert_eq!(a.kind(), kind);
            let parsed = ApiKeySecret::parse(a.expose_secret()).expect("parses");
            assert_eq!(parsed.hash(), a.hash());
            assert_eq!(
                a.expose_secret().len(),
                kind.prefix().len() + KEY_RANDOM_CHARS
            );
            assert!(!format!("{a:?}").contains(a.expose_secret()));
        }
    }

    #[test]
    fn parse_rejects_bad_keys() {
        assert_eq!(
            ApiKeySecret::parse("sk_live_abc").unwrap_err(),
            KeyFormatError::UnknownPrefix
        );
        assert_eq!(
            ApiKeySecret::parse("zk_test_short").unwrap_err(),
            KeyFormatError::BadBody
        );
        let bad = format!("zk_test_{}-", "a".repeat(40));
        assert_eq!(
            ApiKeySecret::parse(&bad).unwrap_err(),
            KeyFormatError::BadBody
        );
        assert!(ApiKeySecret::parse("zk_test_é").is_err());
    }

    #[test]
    fn random_base62_is_roughly_uniform() {
        let s = random_base62(62 * 200);
        let mut counts = [0usize; 62];
        for b in s.bytes() {
            let i = BASE62.iter().position(|&c| c == b).expect("alphabet");
            counts[i] += 1;
        }
        assert!(counts.iter().all(|&c| c > 100 && c < 320), "{counts:?}");
    }

    #[test]
    fn admin_token() {
        let t = AdminToken::generate();
        assert!(t.verify(t.expose_secret()));
        assert!(!t.verify("nope"));
        assert!(AdminToken::parse("short").is_err());
        assert!(AdminToken::parse(&"x".repeat(40)).is_ok());
        assert!(!format!("{t:?}").contains(t.expose_secret()));
    }
}
