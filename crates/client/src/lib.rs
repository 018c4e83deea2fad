//! # zenalyze-client
//!
//! The Rust client SDK of the Zenalyze platform. It derives the user's key
//! from email and password **on the device** (key derivation profile v1)
//! and encrypts values into v1 envelopes that servers can store but never
//! read. It is the Rust counterpart of `@zenalyze/client-sdk`: the same
//! credentials give the same key, and envelopes move freely between the
//! two.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use zenalyze_client::ZenalyzeEncryption;
//!
//! #[derive(Serialize, Deserialize, PartialEq, Debug)]
//! struct Entry { mood: u8, text: String }
//!
//! // Derives the key once (PBKDF2, 100 000 iterations).
//! let enc = ZenalyzeEncryption::new("patient@example.com", "correct horse battery")?;
//!
//! let entry = Entry { mood: 3, text: "Slept badly, feeling anxious".into() };
//! let blob: String = enc.encrypt_json(&entry)?;          // standard base64 v1 envelope
//! let back: Entry = enc.decrypt_json(&blob)?;
//! assert_eq!(back, entry);
//!
//! // Binding the envelope to a context (e.g. a record id) stops it from
//! // being moved to another record.
//! let bound = enc.encrypt_json_with_context(&entry, b"journal/2026-11-25")?;
//! assert!(enc.decrypt_json::<Entry>(&bound).is_err());
//! let ok: Entry = enc.decrypt_json_with_context(&bound, b"journal/2026-11-25")?;
//! assert_eq!(ok, entry);
//! # Ok::<(), zenalyze_client::ClientError>(())
//! ```
//!
//! Binary data (images, PDFs) uses the bytes API:
//!
//! ```
//! # use zenalyze_client::ZenalyzeEncryption;
//! let enc = ZenalyzeEncryption::new("patient@example.com", "correct horse battery")?;
//! let scan = vec![0x25, 0x50, 0x44, 0x46]; // "%PDF"
//! let blob = enc.encrypt_bytes(&scan)?;
//! assert_eq!(&enc.decrypt_bytes(&blob)?[..], &scan[..]);
//! # Ok::<(), zenalyze_client::ClientError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "ai")]
pub mod ai;

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;
use zenalyze_crypto::envelope::{self, IV_LEN};
use zenalyze_crypto::{kdf, UserKey};
use zeroize::Zeroizing;

pub use zenalyze_crypto::envelope::Plaintext;
pub use zenalyze_crypto::EnvelopeError;

/// Errors of the client SDK. None of them carries plaintext or key bytes.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The email is empty after trimming.
    #[error("email is empty")]
    EmptyEmail,
    /// The password is empty.
    #[error("password is empty")]
    EmptyPassword,
    /// The envelope could not be decoded, parsed or opened.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The value could not be serialized to JSON before encryption.
    #[error("value cannot be serialized to JSON: {0}")]
    Serialize(String),
    /// The decrypted plaintext is not JSON of the expected shape.
    #[error("decrypted data is not JSON of the expected type")]
    Deserialize,
    /// The operating system's random number generator failed.
    #[error("system random number generator failed")]
    Random,
}

/// A user's encryption context: the key derived once from email and
/// password, held in memory that is wiped on drop.
///
/// The password is not kept: only the derived key is.
#[derive(Clone)]
pub struct ZenalyzeEncryption {
    key: UserKey,
}

impl fmt::Debug for ZenalyzeEncryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZenalyzeEncryption")
            .field("key", &self.key)
            .finish()
    }
}

impl ZenalyzeEncryption {
    /// Derives the user key from email and password (profile v1; about
    /// 100 000 PBKDF2-HMAC-SHA256 iterations, so call it once per session).
    pub fn new(email: &str, password: &str) -> Result<Self, ClientError> {
        if kdf::normalize_email(email).is_empty() {
            return Err(ClientError::EmptyEmail);
        }
        if password.is_empty() {
            return Err(ClientError::EmptyPassword);
        }
        Ok(Self {
            key: kdf::derive_key_v1(email, password),
        })
    }

    /// Uses an existing key (for example one restored from secure storage).
    pub fn from_key(key: UserKey) -> Self {
        Self { key }
    }

    /// The derived key. Share it only with an attested enclave.
    pub fn key(&self) -> &UserKey {
        &self.key
    }

    /// Encrypts the UTF-8 JSON of `value` into a base64 v1 envelope.
    pub fn encrypt_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<String, ClientError> {
        self.encrypt_json_inner(value, None)
    }

    /// Like [`encrypt_json`](Self::encrypt_json), binding the envelope to
    /// `context` (associated data that must be supplied again to decrypt).
    pub fn encrypt_json_with_context<T: Serialize + ?Sized>(
        &self,
        value: &T,
        context: &[u8],
    ) -> Result<String, ClientError> {
        self.encrypt_json_inner(value, Some(context))
    }

    /// Decrypts a base64 v1 envelope and parses its JSON into `T`.
    pub fn decrypt_json<T: DeserializeOwned>(&self, blob: &str) -> Result<T, ClientError> {
        self.decrypt_json_inner(blob, None)
    }

    /// Like [`decrypt_json`](Self::decrypt_json) for an envelope bound to
    /// `context`.
    pub fn decrypt_json_with_context<T: DeserializeOwned>(
        &self,
        blob: &str,
        context: &[u8],
    ) -> Result<T, ClientError> {
        self.decrypt_json_inner(blob, Some(context))
    }

    /// Encrypts raw bytes (images, PDFs…) into a base64 v1 envelope.
    pub fn encrypt_bytes(&self, data: &[u8]) -> Result<String, ClientError> {
        Ok(envelope::encode_base64(&self.seal(data, None)?))
    }

    /// Like [`encrypt_bytes`](Self::encrypt_bytes), bound to `context`.
    pub fn encrypt_bytes_with_context(
        &self,
        data: &[u8],
        context: &[u8],
    ) -> Result<String, ClientError> {
        Ok(envelope::encode_base64(&self.seal(data, Some(context))?))
    }

    /// Decrypts a base64 v1 envelope into bytes (wiped on drop).
    pub fn decrypt_bytes(&self, blob: &str) -> Result<Plaintext, ClientError> {
        self.open(blob, None)
    }

    /// Like [`decrypt_bytes`](Self::decrypt_bytes) for an envelope bound to
    /// `context`.
    pub fn decrypt_bytes_with_context(
        &self,
        blob: &str,
        context: &[u8],
    ) -> Result<Plaintext, ClientError> {
        self.open(blob, Some(context))
    }

    /// Seals bytes into the binary v1 envelope (no base64), with a fresh
    /// random IV.
    pub fn seal(&self, data: &[u8], context: Option<&[u8]>) -> Result<Vec<u8>, ClientError> {
        let mut iv = [0u8; IV_LEN];
        aws_lc_rs::rand::fill(&mut iv).map_err(|_| ClientError::Random)?;
        Ok(envelope::seal_v1(&self.key, &iv, data, context)?)
    }

    /// Opens an envelope given as base64 text or as raw binary bytes.
    pub fn open_any(&self, input: &[u8], context: Option<&[u8]>) -> Result<Plaintext, ClientError> {
        let bytes = envelope::decode_any(input)?;
        Ok(envelope::open_v1(&self.key, &bytes, context)?)
    }

    fn open(&self, blob: &str, context: Option<&[u8]>) -> Result<Plaintext, ClientError> {
        let bytes = envelope::decode_base64(blob)?;
        Ok(envelope::open_v1(&self.key, &bytes, context)?)
    }

    fn encrypt_json_inner<T: Serialize + ?Sized>(
        &self,
        value: &T,
        context: Option<&[u8]>,
    ) -> Result<String, ClientError> {
        let json = Zeroizing::new(
            serde_json::to_vec(value).map_err(|e| ClientError::Serialize(e.to_string()))?,
        );
        Ok(envelope::encode_base64(&self.seal(&json, context)?))
    }

    fn decrypt_json_inner<T: DeserializeOwned>(
        &self,
        blob: &str,
        context: Option<&[u8]>,
    ) -> Result<T, ClientError> {
        let plain = self.open(blob, context)?;
        serde_json::from_slice(&plain).map_err(|_| ClientError::Deserialize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc() -> &'static ZenalyzeEncryption {
        use std::sync::OnceLock;
        static E: OnceLock<ZenalyzeEncryption> = OnceLock::new();
        E.get_or_init(|| ZenalyzeEncryption::new("prop@test.io", "pw").unwrap())
    }

    #[test]
    fn empty_credentials_are_refused() {
        assert!(matches!(
            ZenalyzeEncryption::new("  ", "x"),
            Err(ClientError::EmptyEmail)
        ));
        assert!(matches!(
            ZenalyzeEncryption::new("a@b", ""),
            Err(ClientError::EmptyPassword)
        ));
    }

    #[test]
    fn each_encryption_uses_a_fresh_iv() {
        let a = enc().encrypt_bytes(b"same").unwrap();
        let b = enc().encrypt_bytes(b"same").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn wrong_password_does_not_open() {
        let other = ZenalyzeEncryption::new("prop@test.io", "pw2").unwrap();
        let blob = enc().encrypt_json(&serde_json::json!({"a": 1})).unwrap();
        assert!(matches!(
            other.decrypt_json::<serde_json::Value>(&blob),
            Err(ClientError::Envelope(EnvelopeError::AuthenticationFailed))
        ));
    }

    proptest! {
        #[test]
        fn json_round_trips(s in ".*", n in any::<i64>(), v in proptest::collection::vec(any::<u8>(), 0..64)) {
            let value = serde_json::json!({"s": s, "n": n, "v": v});
            let blob = enc().encrypt_json(&value).unwrap();
            let back: serde_json::Value = enc().decrypt_json(&blob).unwrap();
            prop_assert_eq!(back, value);
        }

        #[test]
        fn bytes_round_trip_with_context(data in proptest::collection::vec(any::<u8>(), 0..2048), ctx in proptest::collection::vec(any::<u8>(), 0..32)) {
            let blob = enc().encrypt_bytes_with_context(&data, &ctx).unwrap();
            let back = enc().decrypt_bytes_with_context(&blob, &ctx).unwrap();
            prop_assert_eq!(&back[..], &data[..]);
        }
    }
}
