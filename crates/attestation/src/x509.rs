//! X.509 certificate profile and chain validation for Nitro documents.
//!
//! Profile (AWS Nitro and the development root alike): X.509 v3, signature
//! `ecdsa-with-SHA384`, subject key `id-ecPublicKey` on `secp384r1`, strict
//! DER (the certificate must re-encode to the exact input bytes), no unique
//! identifiers, no duplicate extensions, no unknown critical extension.

use std::collections::BTreeSet;

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P384_SHA384_ASN1};
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};
use x509_cert::spki::ObjectIdentifier;
use x509_cert::{Certificate, Version};

use crate::error::{CertRole, VerifyError};

/// ecdsa-with-SHA384 (RFC 5758).
pub(crate) const OID_ECDSA_WITH_SHA384: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
/// id-ecPublicKey (RFC 5480).
pub(crate) const OID_EC_PUBLIC_KEY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// secp384r1 (RFC 5480).
pub(crate) const OID_SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
pub(crate) const OID_BASIC_CONSTRAINTS: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.5.29.19");
pub(crate) const OID_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const OID_SUBJECT_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
const OID_AUTHORITY_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");
const OID_CRL_DISTRIBUTION_POINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.31");

/// Extensions we understand (and so may be marked critical).
const KNOWN_EXTENSIONS: [ObjectIdentifier; 5] = [
    OID_BASIC_CONSTRAINTS,
    OID_KEY_USAGE,
    OID_SUBJECT_KEY_ID,
    OID_AUTHORITY_KEY_ID,
    OID_CRL_DISTRIBUTION_POINTS,
];

/// Length of an uncompressed P-384 point (`04 ‖ x ‖ y`).
pub(crate) const P384_POINT_LEN: usize = 97;

/// A certificate that passed the profile checks, with the pieces the chain
/// validation needs.
pub(crate) struct ParsedCert {
    pub(crate) role: CertRole,
    pub(crate) cert: Certificate,
    /// DER of the TBSCertificate (the signed bytes).
    pub(crate) tbs_der: Vec<u8>,
    pub(crate) issuer_der: Vec<u8>,
    pub(crate) subject_der: Vec<u8>,
    /// Uncompressed P-384 subject public key.
    pub(crate) public_key: Vec<u8>,
    /// DER ECDSA signature.
    pub(crate) signature: Vec<u8>,
    pub(crate) not_before: u64,
    pub(crate) not_after: u64,
    pub(crate) basic_constraints: Option<BasicConstraints>,
    pub(crate) key_usage: Option<KeyUsage>,
}

fn bad(role: CertRole, reason: &'static str) -> VerifyError {
    VerifyError::BadCertificate { cert: role, reason }
}

impl ParsedCert {
    /// Parse `der` and check the profile (not the chain).
    pub(crate) fn parse(der: &[u8], role: CertRole) -> Result<Self, VerifyError> {
        let cert =
            Certificate::from_der(der).map_err(|_| bad(role, "not a DER X.509 certificate"))?;
        let reencoded = cert
            .to_der()
            .map_err(|_| bad(role, "certificate does not re-encode"))?;
        if reencoded != der {
            return Err(bad(role, "certificate is not in canonical DER"));
        }
        let tbs = cert.tbs_certificate();
        if tbs.version() != Version::V3 {
            return Err(bad(role, "not an X.509 v3 certificate"));
        }
        if tbs.issuer_unique_id().is_some() || tbs.subject_unique_id().is_some() {
            return Err(bad(role, "unique identifiers are not allowed"));
        }
        let sig_alg = cert.signature_algorithm();
        if sig_alg.oid != OID_ECDSA_WITH_SHA384 || sig_alg.parameters.is_some() {
            return Err(bad(role, "signature algorithm is not ecdsa-with-SHA384"));
        }
        if tbs.signature() != sig_alg {
            return Err(bad(role, "inner and outer signature algorithms differ"));
        }
        let spki = tbs.subject_public_key_info();
        if spki.algorithm.oid != OID_EC_PUBLIC_KEY {
            return Err(bad(role, "subject key is not an EC public key"));
        }
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        if curve != Some(OID_SECP384R1) {
            return Err(bad(role, "subject key is not on P-384"));
        }
        let public_key = spki
            .subject_public_key
            .as_bytes()
            .filter(|k| k.len() == P384_POINT_LEN && k.first() == Some(&0x04))
            .ok_or(bad(role, "subject key is not an uncompressed P-384 point"))?
            .to_vec();
        let signature = cert
            .signature()
            .as_bytes()
            .ok_or(bad(role, "signature bit string has unused bits"))?
            .to_vec();

        let mut seen = BTreeSet::new();
        if let Some(exts) = tbs.extensions() {
            for ext in exts.iter() {
                if !seen.insert(ext.extn_id) {
                    return Err(bad(role, "duplicate extension"));
                }
                if ext.critical && !KNOWN_EXTENSIONS.contains(&ext.extn_id) {
                    return Err(bad(role, "unknown critical extension"));
                }
            }
        }
        let basic_constraints = tbs
            .get_extension::<BasicConstraints>()
            .map_err(|_| bad(role, "malformed basicConstraints"))?
            .map(|(_, bc)| bc);
        let key_usage = tbs
            .get_extension::<KeyUsage>()
            .map_err(|_| bad(role, "malformed keyUsage"))?
            .map(|(_, ku)| ku);

        let validity = tbs.validity();
        let not_before = validity.not_before.to_unix_duration().as_secs();
        let not_after = validity.not_after.to_unix_duration().as_secs();
        if not_before > not_after {
            return Err(bad(role, "validity window is empty"));
        }
        let tbs_der = tbs
            .to_der()
            .map_err(|_| bad(role, "TBSCertificate does not re-encode"))?;
        let issuer_der = tbs
            .issuer()
            .to_der()
            .map_err(|_| bad(role, "issuer does not re-encode"))?;
        let subject_der = tbs
            .subject()
            .to_der()
            .map_err(|_| bad(role, "subject does not re-encode"))?;
        if tbs.subject().is_empty() {
            return Err(bad(role, "empty subject name"));
        }
        Ok(Self {
            role,
            cert,
            tbs_der,
            issuer_der,
            subject_der,
            public_key,
            signature,
            not_before,
            not_after,
            basic_constraints,
            key_usage,
        })
    }

    /// Whether the certificate is valid at `now_ms` (unix milliseconds),
    /// both bounds inclusive (RFC 5280 §4.1.2.5), at one-second resolution.
    pub(crate) fn check_validity(&self, now_ms: u64) -> Result<(), VerifyError> {
        // X.509 times have one-second resolution: compare whole seconds.
        let now = now_ms / 1000;
        if now < self.not_before || now > self.not_after {
            return Err(VerifyError::CertificateExpiredOrNotYetValid {
                cert: self.role,
                not_before: self.not_before,
                not_after: self.not_after,
                now_ms,
            });
        }
        Ok(())
    }

    /// Check that this certificate may issue `below_cas` further CA
    /// certificates and then an end-entity certificate.
    pub(crate) fn check_is_ca(&self, below_cas: usize) -> Result<(), VerifyError> {
        let not_ca = |reason| VerifyError::NotACa {
            cert: self.role,
            reason,
        };
        let bc = self
            .basic_constraints
            .as_ref()
            .ok_or(not_ca("no basicConstraints extension"))?;
        if !bc.ca {
            return Err(not_ca("basicConstraints cA is false"));
        }
        if let Some(limit) = bc.path_len_constraint {
            if below_cas > usize::from(limit) {
                return Err(not_ca("pathLenConstraint exceeded"));
            }
        }
        let ku = self
            .key_usage
            .as_ref()
            .ok_or(not_ca("no keyUsage extension"))?;
        if !ku.key_cert_sign() {
            return Err(not_ca("keyUsage lacks keyCertSign"));
        }
        Ok(())
    }

    /// Check the end-entity constraints of the leaf (not a CA; may sign).
    pub(crate) fn check_is_leaf(&self) -> Result<(), VerifyError> {
        if self.basic_constraints.as_ref().is_some_and(|bc| bc.ca) {
            return Err(bad(self.role, "the leaf certificate is a CA"));
        }
        if let Some(ku) = &self.key_usage {
            if !ku.digital_signature() {
                return Err(bad(self.role, "leaf keyUsage lacks digitalSignature"));
            }
        }
        Ok(())
    }

    /// Check that `issuer` issued this certificate: names chain and the
    /// signature verifies under the issuer's key.
    pub(crate) fn check_issued_by(&self, issuer: &ParsedCert) -> Result<(), VerifyError> {
        if self.issuer_der != issuer.subject_der {
            return Err(VerifyError::ChainNameMismatch { cert: self.role });
        }
        UnparsedPublicKey::new(&ECDSA_P384_SHA384_ASN1, &issuer.public_key)
            .verify(&self.tbs_der, &self.signature)
            .map_err(|_| VerifyError::CertificateSignature { cert: self.role })
    }

    /// RFC 4514 string of the subject.
    pub(crate) fn subject_string(&self) -> String {
        self.cert.tbs_certificate().subject().to_string()
    }

    /// RFC 4514 string of the issuer.
    pub(crate) fn issuer_string(&self) -> String {
        self.cert.tbs_certificate().issuer().to_string()
    }

    /// Serial number, lowercase hex.
    pub(crate) fn serial_hex(&self) -> String {
        hex::encode(self.cert.tbs_certificate().serial_number().as_bytes())
    }
}

/// Validate the chain `cabundle[0] (root) → … → cabundle[n-1] → leaf` at
/// `now_ms`. Returns the parsed leaf and the root's fingerprint check is left
/// to the caller (it has the policy).
pub(crate) fn validate_chain(
    leaf_der: &[u8],
    cabundle: &[Vec<u8>],
    now_ms: u64,
) -> Result<ParsedCert, VerifyError> {
    let mut cas = Vec::with_capacity(cabundle.len());
    for (i, der) in cabundle.iter().enumerate() {
        let role = if i == 0 {
            CertRole::Root
        } else {
            CertRole::Intermediate(i)
        };
        cas.push(ParsedCert::parse(der, role)?);
    }
    let leaf = ParsedCert::parse(leaf_der, CertRole::Leaf)?;
    let root = cas
        .first()
        .ok_or(VerifyError::MalformedPayload("cabundle is empty"))?;

    // The root is self-issued and self-signed.
    root.check_issued_by(root)?;

    let n = cas.len();
    for (i, ca) in cas.iter().enumerate() {
        ca.check_validity(now_ms)?;
        // CAs below this one (excluding the leaf): n - 1 - i.
        ca.check_is_ca(n - 1 - i)?;
        if let Some(child) = cas.get(i + 1) {
            child.check_issued_by(ca)?;
        }
    }
    leaf.check_validity(now_ms)?;
    leaf.check_is_leaf()?;
    let last = cas
        .last()
        .ok_or(VerifyError::MalformedPayload("cabundle is empty"))?;
    leaf.check_issued_by(last)?;
    Ok(leaf)
}

/// Decode one PEM block with the given label.
pub(crate) fn pem_to_der(pem: &str, label: &str) -> Result<Vec<u8>, ()> {
    let (found, der) = x509_cert::der::pem::decode_vec(pem.trim().as_bytes()).map_err(|_| ())?;
    if found != label {
        return Err(());
    }
    Ok(der)
}

/// Encode DER as one PEM block.
pub(crate) fn der_to_pem(der: &[u8], label: &str) -> Result<String, ()> {
    x509_cert::der::pem::encode_string(label, x509_cert::der::pem::LineEnding::LF, der)
        .map_err(|_| ())
}
