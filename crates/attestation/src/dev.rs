//! Development attestor: documents of the Nitro shape, signed by a local
//! P-384 development root.
//!
//! Without Nitro hardware the enclave runtime issues its attestation
//! documents with a [`DevRoot`]. They have exactly the AWS shape — untagged
//! COSE_Sign1, protected header `{1: -35}` (ES384), the same nine-field CBOR
//! payload, a leaf certificate signed by the root and `cabundle = [root]` —
//! so clients run the very same [`crate::verify`] on them. A client accepts
//! them only with a policy whose trusted root is this development root's
//! fingerprint and (for the default all-zero PCRs) `allow_debug = true`:
//! see [`DevRoot::development_policy`].
//!
//! # Randomness
//!
//! This module is the crate's only non-pure part: [`DevRoot::generate`] and
//! [`DevRoot::issue`] draw key material, certificate serial numbers and
//! ECDSA nonces from the operating system's CSPRNG through `aws-lc-rs`.
//! Time is still a parameter everywhere. Verification never uses randomness.
//!
//! # Persistence
//!
//! [`DevRoot::to_pem`] returns a PEM bundle (`PRIVATE KEY` in PKCS#8, then
//! `CERTIFICATE`) that [`DevRoot::from_pem`] reads back; the raw forms are
//! [`DevRoot::pkcs8_der`] / [`DevRoot::cert_der`] and
//! [`DevRoot::from_pkcs8_and_cert`]. The private key is secret: store the
//! bundle with mode 0600 in the enclave's data directory.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair, ECDSA_P384_SHA384_ASN1_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING,
};
use x509_cert::der::asn1::OctetString;
use x509_cert::der::{DateTime, Encode};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::spki::ObjectIdentifier;
use x509_cert::time::{Time, Validity};
use zeroize::Zeroizing;

use crate::cose::{self, Payload, MAX_FIELD_LEN, MAX_MODULE_ID_LEN, PROTECTED_ES384};
use crate::error::CertRole;
use crate::policy::{MeasurementSet, Policy, TrustedRoot, PCR_LEN};
use crate::x509::{self, ParsedCert, OID_BASIC_CONSTRAINTS, OID_KEY_USAGE};

/// Subject of development roots.
pub const DEV_ROOT_SUBJECT: &str =
    "CN=Zenalyze Development Nitro Root,O=Zenalyze (development only)";
/// Subject of development leaf certificates.
pub const DEV_LEAF_SUBJECT: &str = "CN=zenalyze-dev-enclave,O=Zenalyze (development only)";
/// Validity of a development root: 30 years from one hour before creation.
pub const DEV_ROOT_VALIDITY_SECS: u64 = 30 * 365 * 24 * 3600;
/// A development leaf is valid from 5 minutes before the document timestamp…
pub const DEV_LEAF_BACKDATE_SECS: u64 = 5 * 60;
/// …to 3 hours after it, like the AWS leaves.
pub const DEV_LEAF_VALIDITY_SECS: u64 = 3 * 3600;
/// Number of PCRs in a default development document (0..=15, like AWS).
pub const DEV_PCR_COUNT: u8 = 16;

/// Errors of the development attestor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DevError {
    /// The key pair could not be generated or used.
    #[error("development key operation failed: {0}")]
    Key(&'static str),
    /// The stored root (PEM, PKCS#8 or certificate) is malformed or the key
    /// does not belong to the certificate.
    #[error("invalid development root: {0}")]
    InvalidRoot(&'static str),
    /// A certificate could not be encoded (e.g. time out of range).
    #[error("certificate encoding failed: {0}")]
    Encoding(&'static str),
    /// The document request violates the Nitro field limits.
    #[error("invalid document request: {0}")]
    InvalidRequest(&'static str),
}

/// What to put in a development attestation document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevDocumentRequest {
    /// `module_id` (non-empty, at most 256 bytes).
    pub module_id: String,
    /// `timestamp`, unix milliseconds (positive).
    pub timestamp_ms: u64,
    /// PCRs (index < 32 → 48 bytes). Must contain 0, 1, 2 and 8.
    pub pcrs: BTreeMap<u8, Vec<u8>>,
    /// `public_key` (1..=1024 bytes), e.g. the HPKE key config.
    pub public_key: Option<Vec<u8>>,
    /// `user_data` (at most 1024 bytes).
    pub user_data: Option<Vec<u8>>,
    /// `nonce` (at most 1024 bytes), the client's challenge.
    pub nonce: Option<Vec<u8>>,
}

impl DevDocumentRequest {
    /// A debug-mode request: PCR0..=15 all zero, no optional field.
    pub fn new(module_id: impl Into<String>, timestamp_ms: u64) -> Self {
        Self {
            module_id: module_id.into(),
            timestamp_ms,
            pcrs: (0..DEV_PCR_COUNT)
                .map(|i| (i, vec![0u8; PCR_LEN]))
                .collect(),
            public_key: None,
            user_data: None,
            nonce: None,
        }
    }

    /// Set PCR0/1/2/8 to a measurement set (the document is then not a
    /// debug-mode document and must match a policy set).
    pub fn with_measurements(mut self, set: &MeasurementSet) -> Self {
        for (index, value) in set.entries() {
            self.pcrs.insert(index, value.to_vec());
        }
        self
    }

    /// Replace all PCRs.
    pub fn with_pcrs(mut self, pcrs: BTreeMap<u8, Vec<u8>>) -> Self {
        self.pcrs = pcrs;
        self
    }

    /// Set `public_key`.
    pub fn with_public_key(mut self, public_key: impl Into<Vec<u8>>) -> Self {
        self.public_key = Some(public_key.into());
        self
    }

    /// Set `user_data`.
    pub fn with_user_data(mut self, user_data: impl Into<Vec<u8>>) -> Self {
        self.user_data = Some(user_data.into());
        self
    }

    /// Set `nonce`.
    pub fn with_nonce(mut self, nonce: impl Into<Vec<u8>>) -> Self {
        self.nonce = Some(nonce.into());
        self
    }

    fn validate(&self) -> Result<(), DevError> {
        if self.module_id.is_empty() || self.module_id.len() > MAX_MODULE_ID_LEN {
            return Err(DevError::InvalidRequest("module_id must be 1..=256 bytes"));
        }
        if self.timestamp_ms == 0 {
            return Err(DevError::InvalidRequest("timestamp must be positive"));
        }
        if self.pcrs.is_empty() || self.pcrs.len() > 32 {
            return Err(DevError::InvalidRequest("pcrs must hold 1..=32 entries"));
        }
        for (index, value) in &self.pcrs {
            if *index >= 32 || value.len() != PCR_LEN {
                return Err(DevError::InvalidRequest(
                    "PCR index must be < 32 and value 48 bytes",
                ));
            }
        }
        for required in crate::REQUIRED_PCRS {
            if !self.pcrs.contains_key(&required) {
                return Err(DevError::InvalidRequest(
                    "PCR0, PCR1, PCR2 and PCR8 are required",
                ));
            }
        }
        if self
            .public_key
            .as_ref()
            .is_some_and(|p| p.is_empty() || p.len() > MAX_FIELD_LEN)
        {
            return Err(DevError::InvalidRequest(
                "public_key must be 1..=1024 bytes",
            ));
        }
        for field in [&self.user_data, &self.nonce] {
            if field.as_ref().is_some_and(|f| f.len() > MAX_FIELD_LEN) {
                return Err(DevError::InvalidRequest(
                    "user_data and nonce must be at most 1024 bytes",
                ));
            }
        }
        Ok(())
    }
}

/// A development root: a self-signed P-384 CA certificate and its key.
pub struct DevRoot {
    pkcs8: Zeroizing<Vec<u8>>,
    key: EcdsaKeyPair,
    cert_der: Vec<u8>,
    subject_der: Vec<u8>,
    sha256: [u8; 32],
}

impl fmt::Debug for DevRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevRoot")
            .field("sha256", &hex::encode(self.sha256))
            .field("private_key", &"<redacted>")
            .finish()
    }
}

fn der_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = &bytes[skip..];
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
}

fn der_tlv(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(len + 6);
    out.push(tag);
    der_len(len, &mut out);
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

const TAG_SEQUENCE: u8 = 0x30;
const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_VERSION: u8 = 0xa0;
const TAG_EXTENSIONS: u8 = 0xa3;

fn enc<T: Encode>(value: &T, what: &'static str) -> Result<Vec<u8>, DevError> {
    value.to_der().map_err(|_| DevError::Encoding(what))
}

fn x509_time(unix_secs: u64) -> Result<Time, DevError> {
    let dt = DateTime::from_unix_duration(Duration::from_secs(unix_secs))
        .map_err(|_| DevError::Encoding("time out of the X.509 range"))?;
    Ok(Time::from(dt))
}

fn random_serial(rng: &SystemRandom) -> Result<Vec<u8>, DevError> {
    let mut serial = vec![0u8; 16];
    rng.fill(&mut serial)
        .map_err(|_| DevError::Key("random generator failed"))?;
    // Positive, minimally encoded: first byte in 0x40..=0x7f.
    if let Some(first) = serial.first_mut() {
        *first = (*first & 0x3f) | 0x40;
    }
    Ok(serial)
}

fn ecdsa_sha384_alg_id() -> Result<Vec<u8>, DevError> {
    enc(
        &x509_cert::spki::AlgorithmIdentifierOwned {
            oid: x509::OID_ECDSA_WITH_SHA384,
            parameters: None,
        },
        "algorithm identifier",
    )
}

fn p384_spki(point: &[u8]) -> Result<Vec<u8>, DevError> {
    let curve = x509_cert::der::Any::encode_from(&x509::OID_SECP384R1)
        .map_err(|_| DevError::Encoding("curve OID"))?;
    let alg = enc(
        &x509_cert::spki::AlgorithmIdentifierOwned {
            oid: x509::OID_EC_PUBLIC_KEY,
            parameters: Some(curve),
        },
        "key algorithm identifier",
    )?;
    let key = der_tlv(TAG_BIT_STRING, &[&[0u8], point]);
    Ok(der_tlv(TAG_SEQUENCE, &[&alg, &key]))
}

pub(crate) fn extension<T: Encode>(
    oid: ObjectIdentifier,
    critical: bool,
    value: &T,
) -> Result<Vec<u8>, DevError> {
    let inner = enc(value, "extension value")?;
    let ext = Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(inner).map_err(|_| DevError::Encoding("extension"))?,
    };
    enc(&ext, "extension")
}

pub(crate) struct CertSpec<'a> {
    pub(crate) issuer_der: &'a [u8],
    pub(crate) subject_der: &'a [u8],
    pub(crate) not_before: u64,
    pub(crate) not_after: u64,
    pub(crate) public_key: &'a [u8],
    pub(crate) ca: bool,
    /// Encoded extensions replacing the profile's (tests of the verifier).
    pub(crate) extensions: Option<&'a [Vec<u8>]>,
}

/// Build and sign a certificate with `signer` (ECDSA P-384/SHA-384, DER
/// signature).
pub(crate) fn build_cert(
    spec: &CertSpec<'_>,
    signer: &EcdsaKeyPair,
    rng: &SystemRandom,
) -> Result<Vec<u8>, DevError> {
    let version = der_tlv(TAG_VERSION, &[&[TAG_INTEGER, 0x01, 0x02]]);
    let serial = der_tlv(TAG_INTEGER, &[&random_serial(rng)?]);
    let alg = ecdsa_sha384_alg_id()?;
    let validity = enc(
        &Validity::<x509_cert::certificate::Rfc5280>::new(
            x509_time(spec.not_before)?,
            x509_time(spec.not_after)?,
        ),
        "validity",
    )?;
    let spki = p384_spki(spec.public_key)?;
    let (bc, ku) = if spec.ca {
        (
            BasicConstraints {
                ca: true,
                path_len_constraint: Some(0),
            },
            KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
        )
    } else {
        (
            BasicConstraints {
                ca: false,
                path_len_constraint: None,
            },
            KeyUsage(KeyUsages::DigitalSignature.into()),
        )
    };
    let profile = [
        extension(OID_BASIC_CONSTRAINTS, true, &bc)?,
        extension(OID_KEY_USAGE, true, &ku)?,
    ];
    let exts: Vec<&[u8]> = match spec.extensions {
        Some(custom) => custom.iter().map(Vec::as_slice).collect(),
        None => profile.iter().map(Vec::as_slice).collect(),
    };
    let ext_seq = der_tlv(TAG_SEQUENCE, &exts);
    let extensions = if exts.is_empty() {
        Vec::new()
    } else {
        der_tlv(TAG_EXTENSIONS, &[&ext_seq])
    };
    let tbs = der_tlv(
        TAG_SEQUENCE,
        &[
            &version,
            &serial,
            &alg,
            spec.issuer_der,
            &validity,
            spec.subject_der,
            &spki,
            &extensions,
        ],
    );
    let signature = signer
        .sign(rng, &tbs)
        .map_err(|_| DevError::Key("signing the certificate failed"))?;
    let sig = der_tlv(TAG_BIT_STRING, &[&[0u8], signature.as_ref()]);
    Ok(der_tlv(TAG_SEQUENCE, &[&tbs, &alg, &sig]))
}

pub(crate) fn name_der(name: &str) -> Result<Vec<u8>, DevError> {
    let n = Name::from_str(name).map_err(|_| DevError::Encoding("name"))?;
    enc(&n, "name")
}

impl DevRoot {
    /// Generate a new development root valid from one hour before
    /// `now_unix_secs` for [`DEV_ROOT_VALIDITY_SECS`]. Uses the system RNG.
    pub fn generate(now_unix_secs: u64) -> Result<Self, DevError> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, &rng)
            .map_err(|_| DevError::Key("key generation failed"))?;
        let pkcs8 = Zeroizing::new(pkcs8.as_ref().to_vec());
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, &pkcs8)
            .map_err(|_| DevError::Key("generated key does not load"))?;
        let subject = name_der(DEV_ROOT_SUBJECT)?;
        let not_before = now_unix_secs.saturating_sub(3600);
        let cert_der = build_cert(
            &CertSpec {
                issuer_der: &subject,
                subject_der: &subject,
                not_before,
                not_after: not_before.saturating_add(DEV_ROOT_VALIDITY_SECS),
                public_key: key.public_key().as_ref(),
                ca: true,
                extensions: None,
            },
            &key,
            &rng,
        )?;
        Self::from_pkcs8_and_cert(&pkcs8, &cert_der)
    }

    /// Load a root from its PKCS#8 private key (DER) and certificate (DER).
    /// Checks that the certificate is a self-signed P-384 CA certificate of
    /// the development profile and that the key matches it.
    pub fn from_pkcs8_and_cert(pkcs8_der: &[u8], cert_der: &[u8]) -> Result<Self, DevError> {
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, pkcs8_der)
            .map_err(|_| DevError::InvalidRoot("private key is not a P-384 PKCS#8 key"))?;
        let parsed = ParsedCert::parse(cert_der, CertRole::Root)
            .map_err(|_| DevError::InvalidRoot("certificate is not of the P-384 profile"))?;
        parsed
            .check_issued_by(&parsed)
            .map_err(|_| DevError::InvalidRoot("certificate is not self-signed"))?;
        parsed
            .check_is_ca(0)
            .map_err(|_| DevError::InvalidRoot("certificate is not a CA"))?;
        if parsed.public_key.as_slice() != key.public_key().as_ref() {
            return Err(DevError::InvalidRoot(
                "private key does not match the certificate",
            ));
        }
        Ok(Self {
            pkcs8: Zeroizing::new(pkcs8_der.to_vec()),
            key,
            cert_der: cert_der.to_vec(),
            subject_der: parsed.subject_der.clone(),
            sha256: crate::sha256(cert_der),
        })
    }

    /// Load a root from the PEM bundle written by [`DevRoot::to_pem`]
    /// (one `PRIVATE KEY` block and one `CERTIFICATE` block, any order).
    pub fn from_pem(pem: &str) -> Result<Self, DevError> {
        let mut key = None;
        let mut cert = None;
        for block in pem_blocks(pem) {
            let (label, der) = x509_cert::der::pem::decode_vec(block.as_bytes())
                .map_err(|_| DevError::InvalidRoot("malformed PEM block"))?;
            let der = Zeroizing::new(der);
            let slot = match label {
                "PRIVATE KEY" => &mut key,
                "CERTIFICATE" => &mut cert,
                _ => return Err(DevError::InvalidRoot("unexpected PEM block")),
            };
            if slot.is_some() {
                return Err(DevError::InvalidRoot("duplicate PEM block"));
            }
            *slot = Some(der);
        }
        let key = key.ok_or(DevError::InvalidRoot("no PRIVATE KEY block"))?;
        let cert = cert.ok_or(DevError::InvalidRoot("no CERTIFICATE block"))?;
        Self::from_pkcs8_and_cert(&key, &cert)
    }

    /// The PEM bundle: `PRIVATE KEY` (PKCS#8) then `CERTIFICATE`. Secret.
    pub fn to_pem(&self) -> Result<Zeroizing<String>, DevError> {
        let key = Zeroizing::new(
            x509::der_to_pem(&self.pkcs8, "PRIVATE KEY").map_err(|_| DevError::Encoding("PEM"))?,
        );
        let cert = self.cert_pem()?;
        let mut out = Zeroizing::new(String::with_capacity(key.len() + cert.len()));
        out.push_str(&key);
        out.push_str(&cert);
        Ok(out)
    }

    /// The private key, PKCS#8 DER. Secret: persist it only with mode 0600.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The root certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The root certificate, PEM.
    pub fn cert_pem(&self) -> Result<String, DevError> {
        x509::der_to_pem(&self.cert_der, "CERTIFICATE").map_err(|_| DevError::Encoding("PEM"))
    }

    /// SHA-256 fingerprint of the root certificate's DER.
    pub fn sha256_fingerprint(&self) -> [u8; 32] {
        self.sha256
    }

    /// SHA-256 fingerprint, lowercase hex.
    pub fn sha256_fingerprint_hex(&self) -> String {
        hex::encode(self.sha256)
    }

    /// This root as a [`TrustedRoot`].
    pub fn trusted_root(&self) -> TrustedRoot {
        TrustedRoot::from_sha256(self.sha256)
    }

    /// The policy that accepts this root's default (debug) documents:
    /// [`Policy::development`] with this root.
    pub fn development_policy(&self) -> Policy {
        Policy::development(self.trusted_root())
    }

    /// Issue an attestation document: a fresh P-384 leaf key, a leaf
    /// certificate signed by this root (valid from
    /// [`DEV_LEAF_BACKDATE_SECS`] before the timestamp for
    /// [`DEV_LEAF_VALIDITY_SECS`] after it), and a COSE_Sign1 ES384 over the
    /// payload signed by the leaf key. Uses the system RNG.
    pub fn issue(&self, request: &DevDocumentRequest) -> Result<Vec<u8>, DevError> {
        request.validate()?;
        let rng = SystemRandom::new();
        let leaf_key = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING)
            .map_err(|_| DevError::Key("leaf key generation failed"))?;
        let ts_secs = request.timestamp_ms / 1000;
        let not_before = ts_secs.saturating_sub(DEV_LEAF_BACKDATE_SECS);
        let leaf_subject = name_der(DEV_LEAF_SUBJECT)?;
        let leaf_der = build_cert(
            &CertSpec {
                issuer_der: &self.subject_der,
                subject_der: &leaf_subject,
                not_before,
                not_after: ts_secs.saturating_add(DEV_LEAF_VALIDITY_SECS),
                public_key: leaf_key.public_key().as_ref(),
                ca: false,
                extensions: None,
            },
            &self.key,
            &rng,
        )?;
        let payload = cose::encode_payload(&Payload {
            module_id: request.module_id.clone(),
            timestamp_ms: request.timestamp_ms,
            pcrs: request.pcrs.clone(),
            certificate: leaf_der,
            cabundle: vec![self.cert_der.clone()],
            public_key: request.public_key.clone(),
            user_data: request.user_data.clone(),
            nonce: request.nonce.clone(),
        });
        let tbs = cose::sig_structure(&PROTECTED_ES384, &payload);
        let signature = leaf_key
            .sign(&rng, &tbs)
            .map_err(|_| DevError::Key("signing the document failed"))?;
        Ok(cose::encode_sign1(
            &PROTECTED_ES384,
            &payload,
            signature.as_ref(),
        ))
    }
}

/// Split a PEM bundle into its `-----BEGIN …-----` … `-----END …-----`
/// blocks.
fn pem_blocks(pem: &str) -> Vec<Zeroizing<String>> {
    let mut blocks = Vec::new();
    let mut current: Option<Zeroizing<String>> = None;
    for line in pem.lines() {
        let line = line.trim();
        if line.starts_with("-----BEGIN ") {
            current = Some(Zeroizing::new(String::new()));
        }
        if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
            if line.starts_with("-----END ") {
                if let Some(done) = current.take() {
                    blocks.push(done);
                }
            }
        }
    }
    blocks
}
