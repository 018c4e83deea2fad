//! # zenalyze-crypto
//!
//! The pure cryptographic core of the Zenalyze platform. It implements, byte
//! for byte, the two contracts of the platform specification §2:
//!
//! * **key derivation profile v1** ([`kdf`]): a user's AES-256-GCM key from
//!   email and password, identical on every device and in every language;
//! * **envelope v1** ([`envelope`]): `0x01 ‖ IV(12) ‖ tag(16) ‖ ciphertext`,
//!   carried as standard base64 with padding.
//!
//! ## Purity
//!
//! This crate does no I/O, no async and reads no clock. It does not even
//! draw random numbers: the 12-byte IV of every envelope is a parameter
//! ([`envelope::seal_v1`]), so fuzzers, test vectors and every language port
//! drive exactly the same code. Callers that encrypt (the client SDK, the
//! CLI) draw a fresh IV from the operating system's CSPRNG for every
//! envelope; reusing an IV under one key breaks AES-GCM and is the caller's
//! one obligation.
//!
//! ## Security reasoning
//!
//! * Primitives come from [`aws_lc_rs`] (AWS-LC, which has a FIPS 140-3
//!   validated module); see `docs/crypto-libraries.md` for the choice.
//! * Key bytes live in [`zeroize::Zeroizing`] buffers and are wiped on drop;
//!   [`UserKey`]'s `Debug` never prints them.
//! * Parsing untrusted envelopes never panics: every failure is an
//!   [`EnvelopeError`]. Authentication failure is one opaque error, whatever
//!   byte was wrong (no oracle beyond "does not open").
//! * Known weaknesses of v1 (kept deliberately, because v1 is a frozen
//!   contract): 100 000 PBKDF2 iterations, a predictable salt, AES-GCM is not
//!   key-committing, no key id. `docs/formats.md` lists them and the
//!   mitigations a v2 format will bring.
//!
//! ## Example
//!
//! ```
//! use zenalyze_crypto::{kdf, envelope};
//!
//! let key = kdf::derive_key_v1("Alice@Example.com ", "correct horse");
//! let iv = [7u8; 12]; // callers draw this from a CSPRNG
//! let sealed = envelope::seal_v1(&key, &iv, b"dear diary", Some(b"entry-1")).unwrap();
//! let text = envelope::encode_base64(&sealed);
//! let bytes = envelope::decode_base64(&text).unwrap();
//! let plain = envelope::open_v1(&key, &bytes, Some(b"entry-1")).unwrap();
//! assert_eq!(&plain[..], b"dear diary");
//! assert!(envelope::open_v1(&key, &bytes, Some(b"entry-2")).is_err());
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod envelope;
mod error;
pub mod kdf;
mod key;

pub use envelope::EnvelopeRef;
pub use error::EnvelopeError;
pub use key::UserKey;
