//! Key derivation profile v1 (specification §2), exactly:
//!
//! 1. `email' = lowercase(NFC(trim(email)))` with Unicode default case
//!    mapping;
//! 2. `salt = SHA-256(UTF-8(email'))`;
//! 3. `key = PBKDF2-HMAC-SHA256(UTF-8(NFC(password)), salt, 100000, 32)`.
//!
//! `trim` removes the characters that ECMAScript's `String.prototype.trim`
//! removes (the design's reference implementation is TypeScript), so the
//! Rust and TypeScript SDKs derive the same key for every input; see
//! [`is_trimmed_char`].

use std::num::NonZeroU32;

use aws_lc_rs::{digest, pbkdf2};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use crate::UserKey;

/// PBKDF2 iteration count of profile v1 (frozen; OWASP now asks for 600 000).
pub const PBKDF2_ITERATIONS_V1: u32 = 100_000;

/// Length of the derived key in bytes.
pub const KEY_LEN: usize = 32;

/// Whether `c` is removed by `trim` in profile v1: exactly ECMAScript's
/// WhiteSpace and LineTerminator sets (TAB, VT, FF, SP, NBSP, ZWNBSP/BOM,
/// every `Zs` character, LF, CR, LS, PS). Note the two differences from
/// Rust's `char::is_whitespace`: U+FEFF is trimmed, U+0085 is not.
pub fn is_trimmed_char(c: char) -> bool {
    matches!(
        c,
        '\u{0009}'
            | '\u{000B}'
            | '\u{000C}'
            | '\u{0020}'
            | '\u{00A0}'
            | '\u{FEFF}'
            | '\u{1680}'
            | '\u{2000}'
            ..='\u{200A}'
                | '\u{202F}'
                | '\u{205F}'
                | '\u{3000}'
                | '\u{000A}'
                | '\u{000D}'
                | '\u{2028}'
                | '\u{2029}'
    )
}

/// `lowercase(NFC(trim(email)))`, step 1 of profile v1.
pub fn normalize_email(email: &str) -> String {
    let trimmed = email.trim_matches(is_trimmed_char);
    let nfc: String = trimmed.nfc().collect();
    nfc.to_lowercase()
}

/// `SHA-256(UTF-8(normalize_email(email)))`, step 2 of profile v1.
pub fn salt_v1(email: &str) -> [u8; 32] {
    let normalized = normalize_email(email);
    let d = digest::digest(&digest::SHA256, normalized.as_bytes());
    let mut salt = [0u8; 32];
    salt.copy_from_slice(d.as_ref());
    salt
}

/// Derives the user's key from email and password (profile v1). The
/// normalized password is held in a zeroizing buffer and wiped before
/// returning.
pub fn derive_key_v1(email: &str, password: &str) -> UserKey {
    let salt = salt_v1(email);
    let password_nfc: Zeroizing<String> = Zeroizing::new(password.nfc().collect());
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    let iterations = match NonZeroU32::new(PBKDF2_ITERATIONS_V1) {
        Some(n) => n,
        None => unreachable!("the v1 iteration count is a non-zero constant"),
    };
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        &salt,
        password_nfc.as_bytes(),
        out.as_mut_slice(),
    );
    UserKey::from_bytes(*out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_normalization_follows_the_spec() {
        assert_eq!(
            normalize_email("  Alice@Example.COM\t"),
            "alice@example.com"
        );
        // NFD e + combining acute composes to U+00E9 before lowercasing.
        assert_eq!(normalize_email("Jose\u{301}@x.io"), "jos\u{e9}@x.io");
        // Turkish dotted capital I lowercases to i + combining dot above.
        assert_eq!(normalize_email("\u{130}@x.io"), "i\u{307}@x.io");
        // Greek final sigma.
        assert_eq!(normalize_email("ΟΔΟΣ@x.gr"), "οδος@x.gr");
        // BOM is trimmed (as in JavaScript), NEL is not.
        assert_eq!(normalize_email("\u{feff}a@b\u{feff}"), "a@b");
        assert_eq!(normalize_email("\u{85}a@b"), "\u{85}a@b");
    }

    #[test]
    fn nfc_and_nfd_passwords_derive_the_same_key() {
        let a = derive_key_v1("a@b.c", "caf\u{e9}");
        let b = derive_key_v1("a@b.c", "cafe\u{301}");
        assert_eq!(a, b);
        let c = derive_key_v1("a@b.c", "cafe");
        assert_ne!(a, c);
    }

    #[test]
    fn debug_never_prints_key_bytes() {
        let k = UserKey::from_bytes([0xAB; 32]);
        let s = format!("{k:?}");
        assert!(!s.to_lowercase().contains("ab"), "{s}");
        assert!(s.contains("REDACTED"));
    }
}
