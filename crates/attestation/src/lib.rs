//! # zenalyze-attestation
//!
//! Pure verification of AWS Nitro Enclaves attestation documents (platform
//! specification §4), and a development attestor that issues documents of
//! the same shape without Nitro hardware.
//!
//! A document is accepted only if **every** check passes (fail closed, no
//! check skipped because a policy field is empty):
//!
//! 1. the policy is usable ([`Policy::validate`]: an empty policy refuses
//!    everything);
//! 2. the bytes are a COSE_Sign1 (untagged or tag 18) whose protected header
//!    is exactly `{1: -35}` (ES384) and whose signature is 96 bytes;
//! 3. the payload is the Nitro CBOR map with exactly the known fields, of the
//!    right types and sizes (`digest = "SHA384"`, PCRs of 48 bytes at indices
//!    below 32, certificates 1..=1024 bytes, optional fields ≤ 1024 bytes);
//! 4. the chain leaf → `cabundle[n-1]` → … → `cabundle[0]` is valid at the
//!    verification time (validity windows, issuer/subject chaining, CA
//!    constraints, ECDSA P-384/SHA-384 signatures) and `cabundle[0]` is the
//!    policy's trusted root (SHA-256 fingerprint; by default the AWS Nitro
//!    root G1 [`AWS_NITRO_ROOT_G1_SHA256`]);
//! 5. the COSE signature verifies over the Sig_structure with the leaf key;
//! 6. the timestamp is fresh ([`Policy::max_age_ms`], at most
//!    [`Policy::max_future_skew_ms`] ahead) and inside the leaf's validity;
//! 7. the nonce equals the caller's challenge, when the caller passes one;
//! 8. PCR0, PCR1, PCR2 and PCR8 are present and match one allowed
//!    [`MeasurementSet`] (constant-time), or — only with
//!    [`Policy::allow_debug`] — are all zero (a debug-mode document).
//!
//! Errors are a [`VerifyError`] naming the failed check. The crate does no
//! I/O, no async and reads no clock: the verification time is a parameter.
//! Only the [`dev`] attestor draws random numbers (keys, serials, ECDSA
//! nonces). See `docs/attestation.md` for the security reasoning.
//!
//! ## Example: issue and verify a development document
//!
//! ```
//! use zenalyze_attestation::{dev::{DevDocumentRequest, DevRoot}, verify, Measurements};
//!
//! let now_ms: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
//! // The enclave, once: generate and persist its development root.
//! let root = DevRoot::generate(now_ms / 1000)?;
//! let stored = root.to_pem()?;
//! let root = DevRoot::from_pem(&stored)?;
//!
//! // The enclave, per request: attest its HPKE key config and the challenge.
//! let challenge = [7u8; 32];
//! let doc = root.issue(
//!     &DevDocumentRequest::new("dev-enclave-1", now_ms)
//!         .with_public_key(b"hpke key config".to_vec())
//!         .with_nonce(challenge.to_vec()),
//! )?;
//!
//! // The client: trusts this root's fingerprint, allows debug documents.
//! let policy = root.development_policy();
//! let verified = verify(&doc, &policy, Some(&challenge), now_ms + 1_000)?;
//! assert_eq!(verified.module_id, "dev-enclave-1");
//! assert_eq!(verified.public_key.as_deref(), Some(&b"hpke key config"[..]));
//! assert_eq!(verified.measurements, Measurements::Debug);
//! assert!(verified.nonce_checked);
//!
//! // The production policy (AWS root, no debug) refuses it.
//! let production = zenalyze_attestation::Policy::production(vec![]);
//! assert!(verify(&doc, &production, Some(&challenge), now_ms).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cose;
pub mod dev;
mod error;
mod policy;
mod verify;
mod x509;

pub use cose::{MAX_CABUNDLE_LEN, MAX_FIELD_LEN, MAX_MODULE_ID_LEN, MAX_PCRS};
pub use error::{CertRole, PolicyError, VerifyError};
pub use policy::{
    MeasurementSet, Pcr, Policy, TrustedRoot, AWS_NITRO_ROOT_G1_PEM, AWS_NITRO_ROOT_G1_SHA256,
    DEFAULT_MAX_AGE_MS, DEFAULT_MAX_FUTURE_SKEW_MS, PCR_LEN,
};
pub use verify::{
    verify, LeafCertificate, Measurements, VerifiedDocument, MAX_DOCUMENT_LEN, REQUIRED_PCRS,
};

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

#[cfg(test)]
mod tests;
