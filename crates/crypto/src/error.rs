use thiserror::Error;

/// Why an envelope could not be parsed, decoded, sealed or opened.
///
/// The variants are stable: SDKs in other languages use the same codes
/// (see [`EnvelopeError::code`]). No variant carries plaintext or key
/// material.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EnvelopeError {
    /// The input is shorter than the 29-byte v1 header (version, IV, tag).
    #[error("not an envelope: {len} bytes is shorter than the 29-byte v1 header")]
    TooShort {
        /// Length of the rejected input in bytes.
        len: usize,
    },
    /// The first byte names a version this implementation does not know.
    #[error("unsupported envelope version 0x{version:02x} (expected 0x01)")]
    UnsupportedVersion {
        /// The version byte found.
        version: u8,
    },
    /// The text is not canonical standard base64 with padding.
    #[error("envelope text is not valid standard base64 with padding")]
    InvalidBase64,
    /// The tag did not verify: wrong key (email or password), wrong context,
    /// or tampered data. Deliberately does not say which.
    #[error("envelope does not open: wrong key, wrong context, or tampered data")]
    AuthenticationFailed,
    /// The plaintext exceeds what AES-GCM can encrypt under one IV.
    #[error("plaintext too large for one envelope")]
    PlaintextTooLarge,
}

impl EnvelopeError {
    /// A stable machine-readable code, shared with the TypeScript SDK and
    /// the test vectors (`too_short`, `unsupported_version`,
    /// `invalid_base64`, `authentication_failed`, `plaintext_too_large`).
    pub fn code(&self) -> &'static str {
        match self {
            EnvelopeError::TooShort { .. } => "too_short",
            EnvelopeError::UnsupportedVersion { .. } => "unsupported_version",
            EnvelopeError::InvalidBase64 => "invalid_base64",
            EnvelopeError::AuthenticationFailed => "authentication_failed",
            EnvelopeError::PlaintextTooLarge => "plaintext_too_large",
        }
    }
}
