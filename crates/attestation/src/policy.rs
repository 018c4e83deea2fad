//! Verification policy: trusted root, allowed measurements, debug, freshness.

use core::fmt;

use subtle::ConstantTimeEq;

use crate::error::PolicyError;
use crate::x509;

/// Length of a PCR value: Nitro documents use SHA-384 (`digest = "SHA384"`).
pub const PCR_LEN: usize = 48;

/// One PCR value (SHA-384 register).
pub type Pcr = [u8; PCR_LEN];

/// Default freshness window: a document older than 5 minutes is refused.
pub const DEFAULT_MAX_AGE_MS: u64 = 5 * 60 * 1000;

/// Default tolerated clock skew for a document timestamp in the future.
pub const DEFAULT_MAX_FUTURE_SKEW_MS: u64 = 60 * 1000;

/// The public AWS Nitro Enclaves root certificate (G1), PEM.
///
/// Published by AWS (`AWS_NitroEnclaves_Root-G1.zip`); valid 2019-10-28 to
/// 2049-10-28. Its SHA-256 fingerprint is [`AWS_NITRO_ROOT_G1_SHA256`], which
/// a test recomputes.
pub const AWS_NITRO_ROOT_G1_PEM: &str = "-----BEGIN CERTIFICATE-----
MIICETCCAZagAwIBAgIRAPkxdWgbkK/hHUbMtOTn+FYwCgYIKoZIzj0EAwMwSTEL
MAkGA1UEBhMCVVMxDzANBgNVBAoMBkFtYXpvbjEMMAoGA1UECwwDQVdTMRswGQYD
VQQDDBJhd3Mubml0cm8tZW5jbGF2ZXMwHhcNMTkxMDI4MTMyODA1WhcNNDkxMDI4
MTQyODA1WjBJMQswCQYDVQQGEwJVUzEPMA0GA1UECgwGQW1hem9uMQwwCgYDVQQL
DANBV1MxGzAZBgNVBAMMEmF3cy5uaXRyby1lbmNsYXZlczB2MBAGByqGSM49AgEG
BSuBBAAiA2IABPwCVOumCMHzaHDimtqQvkY4MpJzbolL//Zy2YlES1BR5TSksfbb
48C8WBoyt7F2Bw7eEtaaP+ohG2bnUs990d0JX28TcPQXCEPZ3BABIeTPYwEoCWZE
h8l5YoQwTcU/9KNCMEAwDwYDVR0TAQH/BAUwAwEB/zAdBgNVHQ4EFgQUkCW1DdkF
R+eWw5b6cp3PmanfS5YwDgYDVR0PAQH/BAQDAgGGMAoGCCqGSM49BAMDA2kAMGYC
MQCjfy+Rocm9Xue4YnwWmNJVA44fA0P5W2OpYow9OYCVRaEevL8uO1XYru5xtMPW
rfMCMQCi85sWBbJwKKXdS6BptQFuZbT73o/gBh1qUxl/nNr12UO8Yfwr6wPLb+6N
IwLz3/Y=
-----END CERTIFICATE-----
";

/// SHA-256 fingerprint of the DER of [`AWS_NITRO_ROOT_G1_PEM`], the value
/// pinned by the platform specification §4.
pub const AWS_NITRO_ROOT_G1_SHA256: [u8; 32] = [
    0x64, 0x1a, 0x03, 0x21, 0xa3, 0xe2, 0x44, 0xef, 0xe4, 0x56, 0x46, 0x31, 0x95, 0xd6, 0x06, 0x31,
    0x7e, 0xd7, 0xcd, 0xcc, 0x3c, 0x17, 0x56, 0xe0, 0x98, 0x93, 0xf3, 0xc6, 0x8f, 0x79, 0xbb, 0x5b,
];

/// The root of trust: the SHA-256 fingerprint of the DER of the root
/// certificate that `cabundle[0]` must be.
///
/// Pinning the fingerprint is equivalent to pinning the certificate bytes
/// (SHA-256 is collision resistant); the verifier additionally checks the
/// root's self-signature, validity and CA constraints, like any other
/// certificate of the chain.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TrustedRoot {
    sha256: [u8; 32],
}

impl fmt::Debug for TrustedRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrustedRoot(sha256:{})", hex::encode(self.sha256))
    }
}

impl TrustedRoot {
    /// The AWS Nitro Enclaves root G1 (production).
    pub fn aws_nitro_g1() -> Self {
        Self {
            sha256: AWS_NITRO_ROOT_G1_SHA256,
        }
    }

    /// A root given by its SHA-256 fingerprint.
    pub fn from_sha256(sha256: [u8; 32]) -> Self {
        Self { sha256 }
    }

    /// A root given by its SHA-256 fingerprint in hex (64 digits; `:`
    /// separators and upper case accepted).
    pub fn from_sha256_hex(fingerprint: &str) -> Result<Self, PolicyError> {
        let cleaned: String = fingerprint.trim().chars().filter(|c| *c != ':').collect();
        let mut sha256 = [0u8; 32];
        hex::decode_to_slice(&cleaned, &mut sha256)
            .map_err(|_| PolicyError::BadRoot("fingerprint must be 64 hex digits of SHA-256"))?;
        Ok(Self { sha256 })
    }

    /// A root given by its certificate (DER). The certificate must parse
    /// as an X.509 certificate; its fingerprint is pinned.
    pub fn from_der(cert_der: &[u8]) -> Result<Self, PolicyError> {
        x509::ParsedCert::parse(cert_der, crate::CertRole::Root)
            .map_err(|_| PolicyError::BadRoot("not a valid ECDSA P-384 X.509 certificate"))?;
        Ok(Self {
            sha256: crate::sha256(cert_der),
        })
    }

    /// A root given by its certificate in PEM (`CERTIFICATE` block).
    pub fn from_pem(pem: &str) -> Result<Self, PolicyError> {
        let der = x509::pem_to_der(pem, "CERTIFICATE")
            .map_err(|_| PolicyError::BadRoot("not a PEM CERTIFICATE block"))?;
        Self::from_der(&der)
    }

    /// The pinned SHA-256 fingerprint.
    pub fn sha256(&self) -> &[u8; 32] {
        &self.sha256
    }

    /// The pinned SHA-256 fingerprint, lowercase hex.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }

    /// Whether `cert_der` is this root (constant-time comparison of
    /// fingerprints).
    pub fn matches(&self, cert_der: &[u8]) -> bool {
        bool::from(crate::sha256(cert_der).ct_eq(&self.sha256))
    }
}

/// One allowed set of enclave measurements: all four PCRs must match.
///
/// * PCR0: enclave image file;
/// * PCR1: Linux kernel and bootstrap;
/// * PCR2: application;
/// * PCR8: signing certificate of the enclave image file (all zeros for an
///   unsigned image, which is allowed here).
#[derive(Clone, PartialEq, Eq)]
pub struct MeasurementSet {
    /// PCR0 (enclave image).
    pub pcr0: Pcr,
    /// PCR1 (kernel and bootstrap).
    pub pcr1: Pcr,
    /// PCR2 (application).
    pub pcr2: Pcr,
    /// PCR8 (image signing certificate).
    pub pcr8: Pcr,
}

impl fmt::Debug for MeasurementSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MeasurementSet")
            .field("pcr0", &hex::encode(self.pcr0))
            .field("pcr1", &hex::encode(self.pcr1))
            .field("pcr2", &hex::encode(self.pcr2))
            .field("pcr8", &hex::encode(self.pcr8))
            .finish()
    }
}

fn pcr_from_hex(index: u8, s: &str) -> Result<Pcr, PolicyError> {
    let mut out = [0u8; PCR_LEN];
    hex::decode_to_slice(s.trim(), &mut out).map_err(|_| PolicyError::BadPcr { pcr: index })?;
    Ok(out)
}

impl MeasurementSet {
    /// A set from four 96-digit hex strings.
    pub fn from_hex(pcr0: &str, pcr1: &str, pcr2: &str, pcr8: &str) -> Result<Self, PolicyError> {
        Ok(Self {
            pcr0: pcr_from_hex(0, pcr0)?,
            pcr1: pcr_from_hex(1, pcr1)?,
            pcr2: pcr_from_hex(2, pcr2)?,
            pcr8: pcr_from_hex(8, pcr8)?,
        })
    }

    /// The `(index, value)` pairs of the set, in order 0, 1, 2, 8.
    pub fn entries(&self) -> [(u8, &Pcr); 4] {
        [
            (0, &self.pcr0),
            (1, &self.pcr1),
            (2, &self.pcr2),
            (8, &self.pcr8),
        ]
    }
}

/// What a verifier accepts. Build it with [`Policy::production`] or
/// [`Policy::development`] and adjust the public fields.
///
/// Rules (see `docs/attestation.md`):
/// * `measurements` lists the allowed PCR0/1/2/8 sets (more than one during a
///   rolling deploy). A production document must match one set exactly.
/// * `allow_debug` additionally accepts debug-mode documents, i.e. documents
///   whose PCR0, PCR1, PCR2 and PCR8 are all zeros. Such a document is
///   accepted because of `allow_debug` alone: it need not (and cannot) match
///   a measurement set, since sets with zero PCR0/1/2 are refused.
/// * A policy with no set and no debug refuses everything
///   ([`PolicyError::Empty`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Policy {
    /// The root `cabundle[0]` must be.
    pub trusted_root: TrustedRoot,
    /// Allowed measurement sets.
    pub measurements: Vec<MeasurementSet>,
    /// Accept debug-mode (all-zero PCR) documents. Never in production.
    pub allow_debug: bool,
    /// Maximum age of the document timestamp at verification time.
    pub max_age_ms: u64,
    /// Maximum amount by which the document timestamp may be ahead of the
    /// verification time (clock skew between enclave and verifier).
    pub max_future_skew_ms: u64,
}

impl Policy {
    /// Production policy: AWS Nitro root G1, the given measurement sets, no
    /// debug, default freshness ([`DEFAULT_MAX_AGE_MS`],
    /// [`DEFAULT_MAX_FUTURE_SKEW_MS`]).
    pub fn production(measurements: Vec<MeasurementSet>) -> Self {
        Self {
            trusted_root: TrustedRoot::aws_nitro_g1(),
            measurements,
            allow_debug: false,
            max_age_ms: DEFAULT_MAX_AGE_MS,
            max_future_skew_ms: DEFAULT_MAX_FUTURE_SKEW_MS,
        }
    }

    /// Development policy: the given (development) root, debug documents
    /// allowed, no measurement set, default freshness.
    pub fn development(trusted_root: TrustedRoot) -> Self {
        Self {
            trusted_root,
            measurements: Vec::new(),
            allow_debug: true,
            max_age_ms: DEFAULT_MAX_AGE_MS,
            max_future_skew_ms: DEFAULT_MAX_FUTURE_SKEW_MS,
        }
    }

    /// Replace the trusted root.
    pub fn with_trusted_root(mut self, root: TrustedRoot) -> Self {
        self.trusted_root = root;
        self
    }

    /// Add an allowed measurement set.
    pub fn with_measurements(mut self, set: MeasurementSet) -> Self {
        self.measurements.push(set);
        self
    }

    /// Set `allow_debug`.
    pub fn with_allow_debug(mut self, allow: bool) -> Self {
        self.allow_debug = allow;
        self
    }

    /// Set the freshness window.
    pub fn with_max_age_ms(mut self, max_age_ms: u64) -> Self {
        self.max_age_ms = max_age_ms;
        self
    }

    /// Set the tolerated future clock skew.
    pub fn with_max_future_skew_ms(mut self, skew_ms: u64) -> Self {
        self.max_future_skew_ms = skew_ms;
        self
    }

    /// Check that the policy can accept anything at all and contains no
    /// debug value disguised as a measurement. [`crate::verify`] calls it
    /// first.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.measurements.is_empty() && !self.allow_debug {
            return Err(PolicyError::Empty);
        }
        if self.max_age_ms == 0 {
            return Err(PolicyError::ZeroMaxAge);
        }
        for (set, m) in self.measurements.iter().enumerate() {
            for (pcr, value) in [(0u8, &m.pcr0), (1, &m.pcr1), (2, &m.pcr2)] {
                if value.iter().all(|b| *b == 0) {
                    return Err(PolicyError::ZeroMeasurement { set, pcr });
                }
            }
        }
        Ok(())
    }
}
