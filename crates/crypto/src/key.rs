use std::fmt;

use aws_lc_rs::aead::{LessSafeKey, UnboundKey, AES_256_GCM};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// A user's 256-bit AES-GCM key (derived by [`crate::kdf::derive_key_v1`]).
///
/// The raw bytes are wiped from memory when the value is dropped, and
/// `Debug` prints only a redaction marker. Equality is constant-time.
pub struct UserKey {
    bytes: Zeroizing<[u8; 32]>,
    aead: LessSafeKey,
}

impl UserKey {
    /// Wraps 32 raw key bytes (for example a key shared with the enclave
    /// for one record). Prefer [`crate::kdf::derive_key_v1`] for user keys.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let bytes = Zeroizing::new(bytes);
        Self::from_zeroizing(bytes)
    }

    /// Wraps raw key bytes from a slice; `None` unless exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let mut raw = Zeroizing::new([0u8; 32]);
        if bytes.len() != raw.len() {
            return None;
        }
        raw.copy_from_slice(bytes);
        Some(Self::from_zeroizing(raw))
    }

    fn from_zeroizing(bytes: Zeroizing<[u8; 32]>) -> Self {
        // AES-256 accepts every 32-byte string, so this cannot fail.
        let unbound = match UnboundKey::new(&AES_256_GCM, bytes.as_slice()) {
            Ok(k) => k,
            Err(_) => unreachable!("AES-256-GCM accepts any 32-byte key"),
        };
        UserKey {
            bytes,
            aead: LessSafeKey::new(unbound),
        }
    }

    /// The raw key bytes. Handle with care: only for sharing a record key
    /// with an attested enclave or for test vectors.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.bytes
    }

    pub(crate) fn aead(&self) -> &LessSafeKey {
        &self.aead
    }
}

impl Clone for UserKey {
    fn clone(&self) -> Self {
        Self::from_zeroizing(Zeroizing::new(*self.bytes))
    }
}

impl PartialEq for UserKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes.ct_eq(&*other.bytes).into()
    }
}

impl Eq for UserKey {}

impl fmt::Debug for UserKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UserKey([REDACTED])")
    }
}
