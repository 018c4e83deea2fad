//! The verification function and its result.

use std::collections::BTreeMap;

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P384_SHA384_FIXED};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use crate::cose::{sig_structure, CoseSign1, Payload};
use crate::error::VerifyError;
use crate::policy::{MeasurementSet, Policy};
use crate::x509::{validate_chain, ParsedCert};

/// Largest accepted document, in bytes (real documents are about 4.5 KiB;
/// the AWS field limits bound a valid document well below this).
pub const MAX_DOCUMENT_LEN: usize = 32 * 1024;

/// The PCRs every document must carry and every policy constrains.
pub const REQUIRED_PCRS: [u8; 4] = [0, 1, 2, 8];

/// How the document's measurements were accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measurements {
    /// The PCRs matched the policy's measurement set at this index.
    Matched {
        /// Index into [`Policy::measurements`].
        set: usize,
    },
    /// A debug-mode document (PCR0/1/2/8 all zero), accepted because the
    /// policy has `allow_debug`. Its enclave may be inspected by its host:
    /// never use it for real data.
    Debug,
}

/// Facts about the leaf certificate that signed the document.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeafCertificate {
    /// Subject, RFC 4514 string.
    pub subject: String,
    /// Issuer, RFC 4514 string.
    pub issuer: String,
    /// Serial number, lowercase hex.
    pub serial_hex: String,
    /// notBefore, unix seconds.
    pub not_before: u64,
    /// notAfter, unix seconds.
    pub not_after: u64,
    /// SHA-256 of the leaf certificate's DER.
    pub sha256: [u8; 32],
}

/// A document that passed every check of the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedDocument {
    /// The enclave module id (`i-…-enc…` on AWS).
    pub module_id: String,
    /// Document timestamp, unix milliseconds.
    pub timestamp_ms: u64,
    /// All PCRs of the document (index → 48-byte value).
    pub pcrs: BTreeMap<u8, Vec<u8>>,
    /// The `public_key` field (the enclave's HPKE key config on this
    /// platform), if present.
    pub public_key: Option<Vec<u8>>,
    /// The `user_data` field, if present.
    pub user_data: Option<Vec<u8>>,
    /// The `nonce` field, if present.
    pub nonce: Option<Vec<u8>>,
    /// Whether the nonce was compared with a caller-supplied challenge
    /// (`false` when the caller passed `None`: the document may be a replay).
    pub nonce_checked: bool,
    /// How the measurements were accepted.
    pub measurements: Measurements,
    /// The leaf certificate.
    pub leaf: LeafCertificate,
    /// SHA-256 fingerprint of the root (`cabundle[0]`), equal to the policy's.
    pub root_sha256: [u8; 32],
    /// Number of certificates in `cabundle`.
    pub cabundle_len: usize,
}

impl VerifiedDocument {
    /// Whether the document is a debug-mode document.
    pub fn is_debug(&self) -> bool {
        self.measurements == Measurements::Debug
    }
}

/// Verify a Nitro attestation document (COSE_Sign1 bytes) against `policy`.
///
/// * `expected_nonce`: the challenge the caller sent. `Some(challenge)`
///   requires the document's `nonce` to be exactly `challenge` (an empty
///   challenge is refused); `None` explicitly skips the freshness-by-nonce
///   check, which the result records in
///   [`VerifiedDocument::nonce_checked`]. Clients always pass `Some`.
/// * `now_unix_ms`: the verification time, unix milliseconds. The function
///   reads no clock.
///
/// Checks, in order, all mandatory (see `docs/attestation.md`): policy
/// sanity; size; COSE_Sign1 structure and ES384 protected header; payload
/// types and sizes; every certificate's profile and validity at
/// `now_unix_ms`; chain names, CA constraints and signatures up to
/// `cabundle[0]`, whose fingerprint must be the trusted root's; the COSE
/// signature with the leaf key; the timestamp's freshness and its place in
/// the leaf's validity; the nonce; PCR0/1/2/8 against the measurement sets or
/// the debug rule.
pub fn verify(
    document: &[u8],
    policy: &Policy,
    expected_nonce: Option<&[u8]>,
    now_unix_ms: u64,
) -> Result<VerifiedDocument, VerifyError> {
    policy.validate()?;
    if expected_nonce.is_some_and(<[u8]>::is_empty) {
        return Err(VerifyError::EmptyChallenge);
    }
    if document.len() > MAX_DOCUMENT_LEN {
        return Err(VerifyError::TooLarge {
            len: document.len(),
            max: MAX_DOCUMENT_LEN,
        });
    }

    let cose = CoseSign1::parse(document)?;
    let payload = Payload::parse(&cose.payload)?;

    // Chain: every certificate valid now, each signed by the next one up,
    // root pinned.
    let leaf = validate_chain(&payload.certificate, &payload.cabundle, now_unix_ms)?;
    let root_der = payload
        .cabundle
        .first()
        .ok_or(VerifyError::MalformedPayload("cabundle is empty"))?;
    if !policy.trusted_root.matches(root_der) {
        return Err(VerifyError::UntrustedRoot {
            found: hex::encode(crate::sha256(root_der)),
            expected: policy.trusted_root.sha256_hex(),
        });
    }

    // COSE signature over Sig_structure with the leaf key.
    let to_be_signed = sig_structure(&cose.protected, &cose.payload);
    UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, &leaf.public_key)
        .verify(&to_be_signed, &cose.signature)
        .map_err(|_| VerifyError::DocumentSignature)?;

    check_freshness(payload.timestamp_ms, &leaf, policy, now_unix_ms)?;

    let nonce_checked = match expected_nonce {
        Some(challenge) => {
            let got = payload.nonce.as_deref().ok_or(VerifyError::NonceMissing)?;
            if !bool::from(got.ct_eq(challenge)) {
                return Err(VerifyError::NonceMismatch);
            }
            true
        }
        None => false,
    };

    let measurements = check_pcrs(&payload.pcrs, policy)?;

    Ok(VerifiedDocument {
        leaf: LeafCertificate {
            subject: leaf.subject_string(),
            issuer: leaf.issuer_string(),
            serial_hex: leaf.serial_hex(),
            not_before: leaf.not_before,
            not_after: leaf.not_after,
            sha256: crate::sha256(&payload.certificate),
        },
        root_sha256: crate::sha256(root_der),
        cabundle_len: payload.cabundle.len(),
        module_id: payload.module_id,
        timestamp_ms: payload.timestamp_ms,
        pcrs: payload.pcrs,
        public_key: payload.public_key,
        user_data: payload.user_data,
        nonce: payload.nonce,
        nonce_checked,
        measurements,
    })
}

fn check_freshness(
    timestamp_ms: u64,
    leaf: &ParsedCert,
    policy: &Policy,
    now_ms: u64,
) -> Result<(), VerifyError> {
    if timestamp_ms > now_ms {
        let ahead_ms = timestamp_ms - now_ms;
        if ahead_ms > policy.max_future_skew_ms {
            return Err(VerifyError::FromTheFuture {
                ahead_ms,
                max_skew_ms: policy.max_future_skew_ms,
            });
        }
    } else {
        let age_ms = now_ms - timestamp_ms;
        if age_ms > policy.max_age_ms {
            return Err(VerifyError::Stale {
                age_ms,
                max_age_ms: policy.max_age_ms,
            });
        }
    }
    // The document must have been produced while its signing key was valid.
    let ts = timestamp_ms / 1000;
    if ts < leaf.not_before || ts > leaf.not_after {
        return Err(VerifyError::TimestampOutsideLeafValidity);
    }
    Ok(())
}

fn is_zero(v: &[u8]) -> bool {
    v.iter().fold(0u8, |acc, b| acc | b) == 0
}

/// The PCR rule:
/// 1. PCR0, PCR1, PCR2 and PCR8 must be present.
/// 2. If all four are zero, the document is a debug-mode document: accepted
///    iff `policy.allow_debug`, without consulting the measurement sets.
/// 3. Otherwise, if any of PCR0/1/2 is zero, refuse (an inconsistent,
///    half-debug document; no set may contain a zero PCR0/1/2 anyway).
/// 4. Otherwise all four must equal one allowed set. Every set is compared,
///    in constant time, whatever matched.
fn check_pcrs(pcrs: &BTreeMap<u8, Vec<u8>>, policy: &Policy) -> Result<Measurements, VerifyError> {
    let mut values: [&[u8]; 4] = [&[]; 4];
    for (slot, index) in values.iter_mut().zip(REQUIRED_PCRS) {
        *slot = pcrs
            .get(&index)
            .map(Vec::as_slice)
            .ok_or(VerifyError::MissingPcr(index))?;
    }
    if values.iter().all(|v| is_zero(v)) {
        return if policy.allow_debug {
            Ok(Measurements::Debug)
        } else {
            Err(VerifyError::DebugNotAllowed)
        };
    }
    for (v, index) in values.iter().zip(REQUIRED_PCRS).take(3) {
        if is_zero(v) {
            return Err(VerifyError::PartiallyZeroPcrs(index));
        }
    }
    match match_measurements(&values, &policy.measurements) {
        Some(set) => Ok(Measurements::Matched { set }),
        None => Err(VerifyError::PcrMismatch),
    }
}

fn match_measurements(values: &[&[u8]; 4], sets: &[MeasurementSet]) -> Option<usize> {
    let mut found = Choice::from(0);
    let mut index = 0u64;
    for (i, set) in sets.iter().enumerate() {
        let mut this = Choice::from(1);
        for (value, (_, expected)) in values.iter().zip(set.entries()) {
            this &= value.ct_eq(&expected[..]);
        }
        // Remember the first matching set without branching on secrets.
        let take = this & !found;
        index = u64::conditional_select(&index, &(i as u64), take);
        found |= this;
    }
    if bool::from(found) {
        usize::try_from(index).ok()
    } else {
        None
    }
}
