//! Strict parsing of the COSE_Sign1 envelope and of the Nitro payload map.

use std::collections::BTreeMap;

use ciborium::Value;

use crate::error::VerifyError;
use crate::policy::PCR_LEN;

/// COSE algorithm identifier of ES384 (ECDSA P-384 with SHA-384).
pub(crate) const COSE_ALG_ES384: i128 = -35;
/// CBOR tag of COSE_Sign1.
pub(crate) const COSE_SIGN1_TAG: u64 = 18;
/// Length of a raw (r ‖ s) P-384 signature.
pub(crate) const ES384_SIGNATURE_LEN: usize = 96;

/// AWS's documented limit for certificates, `public_key`, `user_data` and
/// `nonce`.
pub const MAX_FIELD_LEN: usize = 1024;
/// Largest accepted `module_id`, in bytes.
pub const MAX_MODULE_ID_LEN: usize = 256;
/// Largest accepted `cabundle` (AWS sends 4 certificates).
pub const MAX_CABUNDLE_LEN: usize = 16;
/// Number of PCR slots of a Nitro enclave (indices `0..32`).
pub const MAX_PCRS: u64 = 32;

/// Decode exactly one CBOR item that spans the whole input.
pub(crate) fn decode_exact(bytes: &[u8], what: &'static str) -> Result<Value, &'static str> {
    let mut rest = bytes;
    let value: Value = ciborium::de::from_reader(&mut rest).map_err(|_| what)?;
    if !rest.is_empty() {
        return Err("trailing bytes after the CBOR item");
    }
    Ok(value)
}

/// The four parts of a COSE_Sign1, after the protected header has been
/// checked to be exactly `{1: -35}`.
pub(crate) struct CoseSign1 {
    pub(crate) protected: Vec<u8>,
    pub(crate) payload: Vec<u8>,
    pub(crate) signature: Vec<u8>,
}

fn as_int(v: &Value) -> Option<i128> {
    match v {
        Value::Integer(i) => Some(i128::from(*i)),
        _ => None,
    }
}

impl CoseSign1 {
    /// Parse a COSE_Sign1, tagged (18) or untagged.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, VerifyError> {
        let value = decode_exact(bytes, "not a CBOR item").map_err(VerifyError::MalformedCose)?;
        let value = match value {
            Value::Tag(COSE_SIGN1_TAG, inner) => *inner,
            Value::Tag(..) => return Err(VerifyError::MalformedCose("unexpected CBOR tag")),
            other => other,
        };
        let Value::Array(items) = value else {
            return Err(VerifyError::MalformedCose("not a CBOR array"));
        };
        let [protected, unprotected, payload, signature]: [Value; 4] = items
            .try_into()
            .map_err(|_| VerifyError::MalformedCose("COSE_Sign1 must have 4 elements"))?;
        let Value::Bytes(protected) = protected else {
            return Err(VerifyError::MalformedCose(
                "protected header is not a byte string",
            ));
        };
        match unprotected {
            Value::Map(m) if m.is_empty() => {}
            Value::Map(_) => {
                return Err(VerifyError::MalformedCose(
                    "unprotected header must be empty",
                ))
            }
            _ => {
                return Err(VerifyError::MalformedCose(
                    "unprotected header is not a map",
                ))
            }
        }
        let Value::Bytes(payload) = payload else {
            return Err(VerifyError::MalformedCose(
                "payload is not a byte string (detached payloads are not supported)",
            ));
        };
        let Value::Bytes(signature) = signature else {
            return Err(VerifyError::MalformedCose("signature is not a byte string"));
        };
        if signature.len() != ES384_SIGNATURE_LEN {
            return Err(VerifyError::MalformedCose(
                "ES384 signature must be 96 bytes (r || s)",
            ));
        }
        check_protected_header(&protected)?;
        Ok(Self {
            protected,
            payload,
            signature,
        })
    }
}

/// The protected header must be exactly the map `{1: -35}` (alg = ES384).
/// Any other parameter (including `crit`) is refused: nothing we do not
/// understand may be covered by the signature.
fn check_protected_header(protected: &[u8]) -> Result<(), VerifyError> {
    if protected.is_empty() {
        return Err(VerifyError::UnsupportedAlgorithm);
    }
    let header = decode_exact(protected, "protected header is not CBOR")
        .map_err(VerifyError::MalformedCose)?;
    let Value::Map(entries) = header else {
        return Err(VerifyError::MalformedCose("protected header is not a map"));
    };
    let mut alg = None;
    for (k, v) in &entries {
        match as_int(k) {
            Some(1) => {
                if alg.is_some() {
                    return Err(VerifyError::MalformedCose(
                        "duplicate alg in protected header",
                    ));
                }
                alg = Some(as_int(v));
            }
            _ => {
                return Err(VerifyError::MalformedCose(
                    "unexpected parameter in protected header",
                ))
            }
        }
    }
    match alg {
        Some(Some(COSE_ALG_ES384)) => Ok(()),
        _ => Err(VerifyError::UnsupportedAlgorithm),
    }
}

fn cbor_head(major: u8, len: u64, out: &mut Vec<u8>) {
    let m = major << 5;
    if len < 24 {
        out.push(m | len as u8);
    } else if len <= u64::from(u8::MAX) {
        out.push(m | 24);
        out.push(len as u8);
    } else if len <= u64::from(u16::MAX) {
        out.push(m | 25);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else if len <= u64::from(u32::MAX) {
        out.push(m | 26);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// Append a CBOR byte string.
pub(crate) fn cbor_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    cbor_head(2, bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// Append a CBOR text string.
pub(crate) fn cbor_text(text: &str, out: &mut Vec<u8>) {
    cbor_head(3, text.len() as u64, out);
    out.extend_from_slice(text.as_bytes());
}

/// Append a CBOR unsigned integer.
pub(crate) fn cbor_uint(value: u64, out: &mut Vec<u8>) {
    cbor_head(0, value, out);
}

/// Append the head of a CBOR array of `len` items.
pub(crate) fn cbor_array_head(len: usize, out: &mut Vec<u8>) {
    cbor_head(4, len as u64, out);
}

/// Append the head of a CBOR map of `len` pairs.
pub(crate) fn cbor_map_head(len: usize, out: &mut Vec<u8>) {
    cbor_head(5, len as u64, out);
}

/// The COSE Sig_structure for COSE_Sign1 (RFC 9052 §4.4):
/// `["Signature1", protected, external_aad = h'', payload]`.
pub(crate) fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(protected.len() + payload.len() + 32);
    cbor_array_head(4, &mut out);
    cbor_text("Signature1", &mut out);
    cbor_bytes(protected, &mut out);
    cbor_bytes(&[], &mut out);
    cbor_bytes(payload, &mut out);
    out
}

/// The Nitro attestation payload, with every field's type and size checked.
#[derive(Debug, Clone)]
pub(crate) struct Payload {
    pub(crate) module_id: String,
    pub(crate) timestamp_ms: u64,
    pub(crate) pcrs: BTreeMap<u8, Vec<u8>>,
    pub(crate) certificate: Vec<u8>,
    pub(crate) cabundle: Vec<Vec<u8>>,
    pub(crate) public_key: Option<Vec<u8>>,
    pub(crate) user_data: Option<Vec<u8>>,
    pub(crate) nonce: Option<Vec<u8>>,
}

fn set_once<T>(slot: &mut Option<T>, value: T, dup: &'static str) -> Result<(), VerifyError> {
    if slot.is_some() {
        return Err(VerifyError::MalformedPayload(dup));
    }
    *slot = Some(value);
    Ok(())
}

fn cert_bytes(v: Value, what: &'static str) -> Result<Vec<u8>, VerifyError> {
    match v {
        Value::Bytes(b) if !b.is_empty() && b.len() <= MAX_FIELD_LEN => Ok(b),
        _ => Err(VerifyError::MalformedPayload(what)),
    }
}

/// `Some(bytes)` for a byte string within `min..=MAX_FIELD_LEN`, `None` for
/// CBOR null.
fn optional_bytes(
    v: Value,
    min: usize,
    what: &'static str,
) -> Result<Option<Vec<u8>>, VerifyError> {
    match v {
        Value::Null => Ok(None),
        Value::Bytes(b) if b.len() >= min && b.len() <= MAX_FIELD_LEN => Ok(Some(b)),
        _ => Err(VerifyError::MalformedPayload(what)),
    }
}

impl Payload {
    /// Parse and validate the payload map. Unknown or duplicate fields,
    /// wrong types and out-of-range sizes are refused.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, VerifyError> {
        let value = decode_exact(bytes, "payload is not a CBOR item")
            .map_err(VerifyError::MalformedPayload)?;
        let Value::Map(entries) = value else {
            return Err(VerifyError::MalformedPayload("payload is not a CBOR map"));
        };
        let mut module_id = None;
        let mut digest = None;
        let mut timestamp = None;
        let mut pcrs = None;
        let mut certificate = None;
        let mut cabundle = None;
        let mut public_key = None;
        let mut user_data = None;
        let mut nonce = None;
        for (k, v) in entries {
            let Value::Text(key) = k else {
                return Err(VerifyError::MalformedPayload(
                    "payload key is not a text string",
                ));
            };
            match key.as_str() {
                "module_id" => {
                    let m =
                        match v {
                            Value::Text(t) if !t.is_empty() && t.len() <= MAX_MODULE_ID_LEN => t,
                            _ => return Err(VerifyError::MalformedPayload(
                                "module_id must be a non-empty text string of at most 256 bytes",
                            )),
                        };
                    set_once(&mut module_id, m, "duplicate module_id")?;
                }
                "digest" => {
                    let d = match v {
                        Value::Text(t) => t,
                        _ => return Err(VerifyError::MalformedPayload("digest is not text")),
                    };
                    set_once(&mut digest, d, "duplicate digest")?;
                }
                "timestamp" => {
                    let t = match v {
                        Value::Integer(i) => u64::try_from(i).ok().filter(|t| *t > 0),
                        _ => None,
                    }
                    .ok_or(VerifyError::MalformedPayload(
                        "timestamp must be a positive integer (ms)",
                    ))?;
                    set_once(&mut timestamp, t, "duplicate timestamp")?;
                }
                "pcrs" => {
                    let p = parse_pcrs(v)?;
                    set_once(&mut pcrs, p, "duplicate pcrs")?;
                }
                "certificate" => {
                    let c = cert_bytes(v, "certificate must be 1..=1024 bytes")?;
                    set_once(&mut certificate, c, "duplicate certificate")?;
                }
                "cabundle" => {
                    let Value::Array(items) = v else {
                        return Err(VerifyError::MalformedPayload("cabundle is not an array"));
                    };
                    if items.is_empty() || items.len() > MAX_CABUNDLE_LEN {
                        return Err(VerifyError::MalformedPayload(
                            "cabundle must hold 1..=16 certificates",
                        ));
                    }
                    let certs = items
                        .into_iter()
                        .map(|c| cert_bytes(c, "cabundle entry must be 1..=1024 bytes"))
                        .collect::<Result<Vec<_>, _>>()?;
                    set_once(&mut cabundle, certs, "duplicate cabundle")?;
                }
                "public_key" => {
                    let p = optional_bytes(v, 1, "public_key must be null or 1..=1024 bytes")?;
                    set_once(&mut public_key, p, "duplicate public_key")?;
                }
                "user_data" => {
                    let u = optional_bytes(v, 0, "user_data must be null or at most 1024 bytes")?;
                    set_once(&mut user_data, u, "duplicate user_data")?;
                }
                "nonce" => {
                    let n = optional_bytes(v, 0, "nonce must be null or at most 1024 bytes")?;
                    set_once(&mut nonce, n, "duplicate nonce")?;
                }
                _ => return Err(VerifyError::MalformedPayload("unknown payload field")),
            }
        }
        let module_id = module_id.ok_or(VerifyError::MalformedPayload("module_id is missing"))?;
        match digest.as_deref() {
            Some("SHA384") => {}
            Some(_) => return Err(VerifyError::MalformedPayload("digest must be \"SHA384\"")),
            None => return Err(VerifyError::MalformedPayload("digest is missing")),
        }
        Ok(Self {
            module_id,
            timestamp_ms: timestamp.ok_or(VerifyError::MalformedPayload("timestamp is missing"))?,
            pcrs: pcrs.ok_or(VerifyError::MalformedPayload("pcrs is missing"))?,
            certificate: certificate
                .ok_or(VerifyError::MalformedPayload("certificate is missing"))?,
            cabundle: cabundle.ok_or(VerifyError::MalformedPayload("cabundle is missing"))?,
            public_key: public_key.flatten(),
            user_data: user_data.flatten(),
            nonce: nonce.flatten(),
        })
    }
}

fn parse_pcrs(v: Value) -> Result<BTreeMap<u8, Vec<u8>>, VerifyError> {
    let Value::Map(entries) = v else {
        return Err(VerifyError::MalformedPayload("pcrs is not a map"));
    };
    if entries.is_empty() || entries.len() as u64 > MAX_PCRS {
        return Err(VerifyError::MalformedPayload(
            "pcrs must hold 1..=32 entries",
        ));
    }
    let mut out = BTreeMap::new();
    for (k, v) in entries {
        let index = match k {
            Value::Integer(i) => u64::try_from(i).ok().filter(|i| *i < MAX_PCRS),
            _ => None,
        }
        .and_then(|i| u8::try_from(i).ok())
        .ok_or(VerifyError::MalformedPayload(
            "PCR index must be an integer in 0..32",
        ))?;
        let value = match v {
            Value::Bytes(b) if b.len() == PCR_LEN => b,
            _ => {
                return Err(VerifyError::MalformedPayload(
                    "PCR value must be 48 bytes (SHA384)",
                ))
            }
        };
        if out.insert(index, value).is_some() {
            return Err(VerifyError::MalformedPayload("duplicate PCR index"));
        }
    }
    Ok(out)
}

/// Encode a payload map in the Nitro layout (used by the development
/// attestor; field order as AWS emits it).
pub(crate) fn encode_payload(p: &Payload) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    cbor_map_head(9, &mut out);
    cbor_text("module_id", &mut out);
    cbor_text(&p.module_id, &mut out);
    cbor_text("digest", &mut out);
    cbor_text("SHA384", &mut out);
    cbor_text("timestamp", &mut out);
    cbor_uint(p.timestamp_ms, &mut out);
    cbor_text("pcrs", &mut out);
    cbor_map_head(p.pcrs.len(), &mut out);
    for (index, value) in &p.pcrs {
        cbor_uint(u64::from(*index), &mut out);
        cbor_bytes(value, &mut out);
    }
    cbor_text("certificate", &mut out);
    cbor_bytes(&p.certificate, &mut out);
    cbor_text("cabundle", &mut out);
    cbor_array_head(p.cabundle.len(), &mut out);
    for c in &p.cabundle {
        cbor_bytes(c, &mut out);
    }
    for (name, field) in [
        ("public_key", &p.public_key),
        ("user_data", &p.user_data),
        ("nonce", &p.nonce),
    ] {
        cbor_text(name, &mut out);
        match field {
            Some(b) => cbor_bytes(b, &mut out),
            None => out.push(0xf6),
        }
    }
    out
}

/// Encode a COSE_Sign1 (untagged, as the Nitro hypervisor emits it) with
/// the protected header `{1: -35}` and an empty unprotected header.
pub(crate) fn encode_sign1(protected: &[u8], payload: &[u8], signature: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + signature.len() + 16);
    cbor_array_head(4, &mut out);
    cbor_bytes(protected, &mut out);
    cbor_map_head(0, &mut out);
    cbor_bytes(payload, &mut out);
    cbor_bytes(signature, &mut out);
    out
}

/// The protected header `{1: -35}` as AWS encodes it.
pub(crate) const PROTECTED_ES384: [u8; 4] = [0xa1, 0x01, 0x38, 0x22];
