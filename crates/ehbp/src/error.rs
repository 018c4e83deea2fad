//! Typed EHBP errors, classified with the error classes of the published
//! EHBP specification (§5.5).

use core::fmt;

/// Error class of a failed EHBP step (published EHBP specification §5.5).
///
/// The class is for the in-process caller only and is never sent on the
/// wire: a server maps it to an HTTP status with [`Code::http_status`] and
/// says nothing more.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    /// Key config unparseable (truncated, bad public key, no suites).
    InvalidKeyConfig,
    /// Key config advertises a KEM, KDF or AEAD other than the EHBP suite.
    UnsupportedSuite,
    /// `Ehbp-Encapsulated-Key` not lowercase hex, wrong length, repeated or absent.
    InvalidEncapsulatedKey,
    /// HPKE setup, seal, export or response key derivation failed.
    HpkeSetupFailed,
    /// `Ehbp-Response-Nonce` absent on a response to an encrypted request.
    MissingResponseNonce,
    /// `Ehbp-Response-Nonce` not hex or not 32 bytes.
    InvalidResponseNonce,
    /// More than one `Ehbp-Response-Nonce` header.
    DuplicateResponseNonce,
    /// The request does not open under any key the server holds (stale or
    /// unknown key configuration).
    KeyConfigMismatch,
    /// Body ended inside a length prefix or inside a frame's ciphertext, or
    /// carried no frame at all.
    FramingTruncated,
    /// Frame length prefix exceeds the receiver's maximum.
    ChunkTooLarge,
    /// AEAD authentication failed for a frame.
    AeadDecryptFailed,
    /// Frame sequence number exhausted.
    SequenceOverflow,
    /// Session recovery token malformed.
    InvalidToken,
    /// Caller misuse (for example an empty body to seal or a zero chunk size).
    InvalidInput,
}

impl Code {
    /// The stable upper-case name of the class (`AEAD_DECRYPT_FAILED`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidKeyConfig => "INVALID_KEY_CONFIG",
            Code::UnsupportedSuite => "UNSUPPORTED_SUITE",
            Code::InvalidEncapsulatedKey => "INVALID_ENCAPSULATED_KEY",
            Code::HpkeSetupFailed => "HPKE_SETUP_FAILED",
            Code::MissingResponseNonce => "MISSING_RESPONSE_NONCE",
            Code::InvalidResponseNonce => "INVALID_RESPONSE_NONCE",
            Code::DuplicateResponseNonce => "DUPLICATE_RESPONSE_NONCE",
            Code::KeyConfigMismatch => "KEY_CONFIG_MISMATCH",
            Code::FramingTruncated => "FRAMING_TRUNCATED",
            Code::ChunkTooLarge => "CHUNK_TOO_LARGE",
            Code::AeadDecryptFailed => "AEAD_DECRYPT_FAILED",
            Code::SequenceOverflow => "SEQUENCE_OVERFLOW",
            Code::InvalidToken => "INVALID_TOKEN",
            Code::InvalidInput => "INVALID_INPUT",
        }
    }

    /// HTTP status a server answers when opening a request fails with this
    /// class: 422 for a key-configuration mismatch, 400 for every other
    /// failure attributable to the request (never telling which step failed).
    pub fn http_status(self) -> u16 {
        match self {
            Code::KeyConfigMismatch => 422,
            _ => 400,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An EHBP failure: a [`Code`] plus a static, content-free detail.
///
/// The detail never contains key material, plaintext or ciphertext; it is
/// formatted as `<CODE>: <detail>` as the published specification requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct EhbpError {
    code: Code,
    detail: &'static str,
}

impl EhbpError {
    /// Builds an error of class `code` with a static detail.
    pub const fn new(code: Code, detail: &'static str) -> Self {
        Self { code, detail }
    }

    /// The error class.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The static, content-free detail.
    pub fn detail(&self) -> &'static str {
        self.detail
    }

    /// HTTP status a server answers for this failure (see [`Code::http_status`]).
    pub fn http_status(&self) -> u16 {
        self.code.http_status()
    }
}
