//! # zenalyze-kms — the Key Management Service (SPEC §3)
//!
//! Platform keys protect **metadata** such as usernames and e-mail
//! addresses; they are never user keys (those never leave the user's
//! device). A tenant has keyrings named by purpose (`encrypt-email`), each
//! with numbered key versions; the newest is primary for encryption and
//! every version at or above `min_decryption_version` decrypts.
//!
//! * [`format`](mod@format) — the pure core (no I/O, no clock, no randomness): the
//!   `zen:v<N>:<base64url(IV ‖ ciphertext ‖ tag)>` text format, the
//!   length-prefixed associated data (tenant, keyring, version, context),
//!   blind indexes, local key wrapping and the rotation rule;
//! * [`root`] — the [`root::RootOfTrust`] trait and the local root key file
//!   (AWS KMS with the `aws` feature);
//! * [`service`] — [`service::Kms`]: keyring administration, rotation
//!   (manual and automatic), batch operations with per-item results, the
//!   TTL cache of unwrapped keys (zeroized on eviction) and audit (fail
//!   closed);
//! * [`invalidation`] — Redis pub/sub so every gateway instance switches to
//!   a new primary at once.
//!
//! Key material at rest is always wrapped by the root of trust; unwrapped
//! keys live only in this process's memory.
//!
//! ```
//! use zenalyze_kms::format::{self, Binding, SecretKey};
//! let key = SecretKey::new([7; 32]);
//! let binding = Binding { tenant: "ten_1", keyring: "encrypt-email", context: Some(b"user-42") };
//! let text = format::seal(&key, 1, binding, [0; 12], b"a@example.com")?;
//! assert!(text.starts_with("zen:v1:"));
//! let plain = format::open(&key, binding, &format::parse(&text)?)?;
//! assert_eq!(plain.as_slice(), b"a@example.com");
//! # Ok::<(), format::FormatError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "aws")]
pub mod aws;
pub mod format;
pub mod invalidation;
pub mod root;
pub mod service;
pub mod settings;

pub use root::{LocalRootKey, RootError, RootOfTrust};
pub use service::{Caller, CiphertextItem, EncryptItem, Kms, KmsError, Op, Sealed};
