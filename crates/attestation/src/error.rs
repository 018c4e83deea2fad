//! Typed errors: every failed check has its own variant.

use core::fmt;

/// Where a certificate sits in the chain of an attestation document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertRole {
    /// The `certificate` field: the key that signed the COSE_Sign1.
    Leaf,
    /// `cabundle[index]` with `index >= 1` (an intermediate CA).
    Intermediate(usize),
    /// `cabundle[0]`: the root, which must be the trusted root.
    Root,
}

impl fmt::Display for CertRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertRole::Leaf => f.write_str("leaf certificate"),
            CertRole::Intermediate(i) => write!(f, "intermediate certificate cabundle[{i}]"),
            CertRole::Root => f.write_str("root certificate cabundle[0]"),
        }
    }
}

/// A verification policy that cannot be used (refused before the document is
/// even looked at: a misconfigured policy must never weaken verification).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// No allowed measurement set and debug not allowed: nothing could ever
    /// be accepted, which is almost certainly a configuration mistake.
    #[error("the policy allows no measurement set and no debug document: it refuses everything")]
    Empty,
    /// A measurement set whose PCR0, PCR1 or PCR2 is all zeros: that is the
    /// debug-mode value, which only `allow_debug` may accept.
    #[error("measurement set {set} has an all-zero PCR{pcr}: debug measurements are allowed only through allow_debug")]
    ZeroMeasurement {
        /// Index of the set in the policy.
        set: usize,
        /// The PCR index that is all zeros.
        pcr: u8,
    },
    /// A PCR value that is not 48 bytes (96 hex digits).
    #[error("PCR{pcr} must be 48 bytes (96 hex digits) of SHA-384")]
    BadPcr {
        /// The PCR index.
        pcr: u8,
    },
    /// `max_age_ms` is zero.
    #[error("max_age must be greater than zero")]
    ZeroMaxAge,
    /// The trusted root certificate or fingerprint could not be read.
    #[error("invalid trusted root: {0}")]
    BadRoot(&'static str),
}

/// Why an attestation document was refused. Each variant names the check
/// that failed; nothing is ever accepted after an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The policy itself is unusable (see [`PolicyError`]).
    #[error("invalid policy: {0}")]
    Policy(#[from] PolicyError),
    /// The caller passed `Some(&[])` as the expected nonce: an empty
    /// challenge proves nothing, so it is refused as a caller bug.
    #[error("the expected nonce (challenge) is empty")]
    EmptyChallenge,
    /// The document is larger than [`crate::MAX_DOCUMENT_LEN`].
    #[error("document is {len} bytes, more than the {max}-byte limit")]
    TooLarge {
        /// Length of the input.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The outer structure is not a well-formed COSE_Sign1.
    #[error("malformed COSE_Sign1: {0}")]
    MalformedCose(&'static str),
    /// The protected header does not say ES384 (-35).
    #[error("unsupported COSE algorithm: only ES384 (-35) is accepted")]
    UnsupportedAlgorithm,
    /// The payload is not a well-formed Nitro attestation document map.
    #[error("malformed attestation payload: {0}")]
    MalformedPayload(&'static str),
    /// A certificate could not be parsed or violates the profile
    /// (ECDSA P-384 / SHA-384, X.509 v3, known critical extensions only).
    #[error("{cert}: {reason}")]
    BadCertificate {
        /// Which certificate.
        cert: CertRole,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A certificate is not valid at the verification time.
    #[error("{cert} is not valid at the verification time (valid from {not_before} to {not_after} unix seconds, verification time {now_ms} ms)")]
    CertificateExpiredOrNotYetValid {
        /// Which certificate.
        cert: CertRole,
        /// Its notBefore, unix seconds.
        not_before: u64,
        /// Its notAfter, unix seconds.
        not_after: u64,
        /// The verification time, unix milliseconds.
        now_ms: u64,
    },
    /// The issuer name of a certificate is not the subject of the next
    /// certificate up the chain.
    #[error("{cert}: issuer name does not match the subject of its issuer")]
    ChainNameMismatch {
        /// The certificate whose issuer does not chain.
        cert: CertRole,
    },
    /// An issuing certificate is not a CA allowed to sign certificates
    /// (basicConstraints, keyUsage or pathLenConstraint).
    #[error("{cert} is not allowed to issue certificates: {reason}")]
    NotACa {
        /// The issuing certificate.
        cert: CertRole,
        /// Which constraint fails.
        reason: &'static str,
    },
    /// A certificate's signature does not verify under its issuer's key.
    #[error("{cert}: signature does not verify with its issuer's key")]
    CertificateSignature {
        /// The certificate whose signature is bad.
        cert: CertRole,
    },
    /// `cabundle[0]` is not the trusted root.
    #[error(
        "untrusted root: cabundle[0] has SHA-256 fingerprint {found}, the policy trusts {expected}"
    )]
    UntrustedRoot {
        /// Hex SHA-256 of the presented root.
        found: String,
        /// Hex SHA-256 of the trusted root.
        expected: String,
    },
    /// The COSE_Sign1 signature does not verify with the leaf key.
    #[error("COSE_Sign1 signature does not verify with the leaf certificate's key")]
    DocumentSignature,
    /// The document timestamp is older than the policy's `max_age_ms`.
    #[error("document is stale: timestamp is {age_ms} ms before the verification time, policy allows {max_age_ms} ms")]
    Stale {
        /// Age of the document.
        age_ms: u64,
        /// The policy's limit.
        max_age_ms: u64,
    },
    /// The document timestamp is after the verification time by more than
    /// the allowed clock skew.
    #[error("document timestamp is {ahead_ms} ms in the future, policy allows {max_skew_ms} ms of clock skew")]
    FromTheFuture {
        /// How far ahead.
        ahead_ms: u64,
        /// The policy's limit.
        max_skew_ms: u64,
    },
    /// The document timestamp lies outside the leaf certificate's validity.
    #[error("document timestamp is outside the leaf certificate's validity window")]
    TimestampOutsideLeafValidity,
    /// A nonce was expected but the document carries none.
    #[error("the document carries no nonce but a challenge was expected")]
    NonceMissing,
    /// The document nonce differs from the expected challenge.
    #[error("the document nonce does not match the expected challenge")]
    NonceMismatch,
    /// PCR0, PCR1, PCR2 or PCR8 is absent.
    #[error("PCR{0} is missing from the document")]
    MissingPcr(u8),
    /// The document is a debug-mode document (PCR0, PCR1, PCR2 and PCR8 all
    /// zero) and the policy does not allow debug.
    #[error(
        "debug-mode document (all-zero PCR0/1/2/8) refused: the policy does not allow debug mode"
    )]
    DebugNotAllowed,
    /// Some, but not all, of PCR0/1/2 are zero: neither a debug document nor
    /// a real measurement.
    #[error("PCR{0} is all zeros while the other measurements are not: refused")]
    PartiallyZeroPcrs(u8),
    /// The PCRs match none of the allowed measurement sets.
    #[error("PCR0/1/2/8 match none of the policy's allowed measurement sets")]
    PcrMismatch,
}
