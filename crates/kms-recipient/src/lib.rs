//! Opening AWS KMS `CiphertextForRecipient` answers inside the enclave.
//!
//! When a Nitro enclave calls KMS `Decrypt` (or `GenerateDataKey`) with a
//! `Recipient { AttestationDocument, KeyEncryptionAlgorithm:
//! RSAES_OAEP_SHA_256 }`, KMS does not return `Plaintext`: it returns
//! `CiphertextForRecipient`, a CMS (RFC 5652) `ContentInfo` holding an
//! `EnvelopedData` with exactly one `KeyTransRecipientInfo` — the AES-256
//! content key RSAES-OAEP-encrypted (SHA-256, MGF1-SHA-256, empty label) to
//! the RSA public key in the attestation document's `public_key` — and the
//! plaintext AES-256-CBC-encrypted (PKCS#7 padding) under that content key.
//!
//! This crate is pure: no I/O, no clock, no async. [`RecipientKey`] is the
//! enclave's ephemeral RSA-2048 key pair: its
//! [`public_key_der`](RecipientKey::public_key_der) (SubjectPublicKeyInfo
//! DER) goes into the attestation document, and
//! [`open`](RecipientKey::open) turns KMS's answer into the plaintext, in a
//! zeroize-on-drop buffer (the content key is zeroized too).
//!
//! Parsing is strict ([`parse_enveloped_data`]): anything but the structure
//! above is refused with a typed [`RecipientError`].
//!
//! Why a hand-written reader rather than the RustCrypto `der`/`cms` crates:
//! KMS encodes `CiphertextForRecipient` as BER, with indefinite lengths and
//! constructed OCTET STRINGs (the AWS Nitro Enclaves SDK ships a BER parser
//! for it), and `der` is by design DER-only — it rejects indefinite lengths.
//! The structure needed is small and fixed, so a ~200-line reader that
//! accepts exactly BER's definite/indefinite forms for these elements, and
//! nothing else, is easier to audit and to fuzz than a general ASN.1 stack
//! plus a BER-to-DER conversion step.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod ber;
#[cfg(any(test, feature = "test-util"))]
pub mod encode;
#[cfg(test)]
mod tests;

use aws_lc_rs::cipher::{
    DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey, AES_256, AES_256_KEY_LEN,
    AES_CBC_IV_LEN,
};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{
    KeySize, OaepPrivateDecryptingKey, PrivateDecryptingKey, OAEP_SHA256_MGF1SHA256,
};
use zeroize::Zeroizing;

use ber::{ctx_cons, ctx_prim, Tlv, INTEGER, NULL, OCTET_STRING, OID, SEQUENCE, SET};

/// Largest `CiphertextForRecipient` accepted (KMS plaintexts are at most
/// 4096 bytes; the envelope adds well under 1 KiB).
pub const MAX_CIPHERTEXT_LEN: usize = 64 * 1024;

/// Size of the ephemeral recipient key (bits).
pub const RSA_KEY_BITS: usize = 2048;

/// DER contents of the object identifiers involved.
pub mod oid {
    /// `id-envelopedData` 1.2.840.113549.1.7.3.
    pub const ENVELOPED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03];
    /// `id-data` 1.2.840.113549.1.7.1.
    pub const DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
    /// `rsaEncryption` (PKCS#1 v1.5 key transport) 1.2.840.113549.1.1.1.
    pub const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    /// `id-RSAES-OAEP` 1.2.840.113549.1.1.7.
    pub const RSAES_OAEP: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x07];
    /// `id-mgf1` 1.2.840.113549.1.1.8.
    pub const MGF1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08];
    /// `id-pSpecified` 1.2.840.113549.1.1.9.
    pub const P_SPECIFIED: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x09];
    /// `id-sha256` 2.16.840.1.101.3.4.2.1.
    pub const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
    /// `id-aes256-CBC` 2.16.840.1.101.3.4.1.42.
    pub const AES256_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a];
}

/// Why a `CiphertextForRecipient` was refused. None carries key material or
/// plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecipientError {
    /// Generating the RSA key pair or encoding its public key failed.
    #[error("recipient key generation failed")]
    KeyGeneration,
    /// The input is larger than [`MAX_CIPHERTEXT_LEN`].
    #[error("CiphertextForRecipient of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// Not well-formed BER, or not the expected structure.
    #[error("CiphertextForRecipient is malformed: {0}")]
    Malformed(&'static str),
    /// The ContentInfo's content type is not enveloped-data.
    #[error("CiphertextForRecipient is not a CMS EnvelopedData")]
    ContentType,
    /// An EnvelopedData or KeyTransRecipientInfo version other than 0 or 2.
    #[error("unsupported CMS version {0}")]
    Version(u8),
    /// `originatorInfo` or `unprotectedAttrs` is present.
    #[error("unexpected EnvelopedData field: {0}")]
    UnexpectedField(&'static str),
    /// Not exactly one RecipientInfo.
    #[error("expected exactly one RecipientInfo, found {0}")]
    RecipientCount(usize),
    /// The RecipientInfo is not a KeyTransRecipientInfo (key agreement,
    /// KEK, password or other).
    #[error("the RecipientInfo is not a KeyTransRecipientInfo")]
    RecipientKind,
    /// The key is transported with RSAES-PKCS1-v1_5.
    #[error("key transport is RSAES-PKCS1-v1_5; RSAES-OAEP with SHA-256 is required")]
    Pkcs1v15KeyTransport,
    /// Another key-encryption algorithm.
    #[error("key-encryption algorithm is not RSAES-OAEP")]
    KeyEncryptionAlgorithm,
    /// RSAES-OAEP with parameters other than SHA-256 / MGF1-SHA-256 /
    /// empty label.
    #[error("RSAES-OAEP parameters refused: {0}")]
    OaepParameters(&'static str),
    /// The encrypted content type is not id-data.
    #[error("encrypted content type is not id-data")]
    EncryptedContentType,
    /// The content-encryption algorithm is not AES-256-CBC.
    #[error("content encryption is not AES-256-CBC")]
    ContentEncryption,
    /// The AES-CBC IV is not 16 bytes.
    #[error("AES-CBC IV has {0} bytes, 16 required")]
    IvLength(usize),
    /// `encryptedContent` is absent.
    #[error("encrypted content is absent")]
    MissingContent,
    /// The encrypted content is empty or not whole AES blocks.
    #[error("encrypted content of {0} bytes is not a positive multiple of 16")]
    ContentLength(usize),
    /// The encrypted key is not one RSA modulus long.
    #[error("encrypted key has {found} bytes, the recipient key needs {expected}")]
    EncryptedKeyLength {
        /// Found.
        found: usize,
        /// Modulus size in bytes.
        expected: usize,
    },
    /// RSAES-OAEP decryption of the content key failed (another recipient
    /// key, or tampered).
    #[error("the content key does not decrypt with this recipient key")]
    KeyDecryption,
    /// The decrypted content key is not 32 bytes.
    #[error("content key has {0} bytes, AES-256 needs 32")]
    ContentKeyLength(usize),
    /// AES-CBC decryption failed (bad padding: tampered or wrong key).
    #[error("encrypted content does not decrypt")]
    ContentDecryption,
}

/// The parts of a parsed `CiphertextForRecipient` (ciphertext only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopedParts {
    /// RSAES-OAEP-encrypted AES-256 content key.
    pub encrypted_key: Vec<u8>,
    /// AES-CBC IV (16 bytes).
    pub iv: [u8; AES_CBC_IV_LEN],
    /// AES-256-CBC ciphertext (whole blocks; segments of a constructed
    /// OCTET STRING concatenated).
    pub encrypted_content: Vec<u8>,
}

fn oid_of<'a>(tlv: &Tlv<'a>) -> Result<&'a [u8], RecipientError> {
    if tlv.tag != OID || tlv.body.is_empty() {
        return Err(RecipientError::Malformed("expected an OBJECT IDENTIFIER"));
    }
    Ok(tlv.body)
}

/// An AlgorithmIdentifier `SEQUENCE { OID, params? }`: the OID and the
/// optional parameters element.
fn algorithm<'a>(
    tlv: &Tlv<'a>,
    depth: usize,
    what: &'static str,
) -> Result<(&'a [u8], Option<Tlv<'a>>), RecipientError> {
    if tlv.tag != SEQUENCE {
        return Err(RecipientError::Malformed(what));
    }
    let mut r = tlv.children(depth)?;
    let id = oid_of(&r.expect(OID, what)?)?;
    let params = if r.peek_tag().is_some() {
        Some(r.next_any(what)?)
    } else {
        None
    };
    r.finish(what)?;
    Ok((id, params))
}

/// SHA-256 AlgorithmIdentifier, parameters absent or NULL.
fn is_sha256(tlv: &Tlv<'_>, depth: usize) -> Result<bool, RecipientError> {
    let (id, params) = algorithm(tlv, depth, "malformed hash AlgorithmIdentifier")?;
    let params_ok = match params {
        None => true,
        Some(p) => p.tag == NULL && p.body.is_empty(),
    };
    Ok(id == oid::SHA256 && params_ok)
}

/// RSAES-OAEP-params: hashFunc [0] sha256, maskGenFunc [1] mgf1(sha256),
/// pSourceFunc [2] absent or pSpecified(empty). The DEFAULTs (SHA-1) are
/// refused.
fn check_oaep_params(params: Option<Tlv<'_>>, depth: usize) -> Result<(), RecipientError> {
    use RecipientError::OaepParameters;
    let params = params.ok_or(OaepParameters("absent (SHA-1 defaults)"))?;
    if params.tag != SEQUENCE {
        return Err(OaepParameters("not a SEQUENCE"));
    }
    let mut r = params.children(depth)?;
    // hashFunc [0] EXPLICIT
    if r.peek_tag() != Some(ctx_cons(0)) {
        return Err(OaepParameters("hash function absent (SHA-1 default)"));
    }
    let hash = r.next_any("hashFunc")?;
    let mut hr = hash.children(r.depth())?;
    let alg = hr.next_any("hashFunc algorithm")?;
    hr.finish("trailing data in hashFunc")?;
    if !is_sha256(&alg, hr.depth())? {
        return Err(OaepParameters("hash function is not SHA-256"));
    }
    // maskGenFunc [1] EXPLICIT
    if r.peek_tag() != Some(ctx_cons(1)) {
        return Err(OaepParameters(
            "mask generation absent (MGF1-SHA-1 default)",
        ));
    }
    let mgf = r.next_any("maskGenFunc")?;
    let mut mr = mgf.children(r.depth())?;
    let alg = mr.next_any("maskGenFunc algorithm")?;
    mr.finish("trailing data in maskGenFunc")?;
    let (id, mgf_params) = algorithm(&alg, mr.depth(), "malformed maskGenFunc")?;
    if id != oid::MGF1 {
        return Err(OaepParameters("mask generation is not MGF1"));
    }
    let mgf_hash = mgf_params.ok_or(OaepParameters("MGF1 hash absent"))?;
    if !is_sha256(&mgf_hash, mr.depth() + 1)? {
        return Err(OaepParameters("MGF1 hash is not SHA-256"));
    }
    // pSourceFunc [2] EXPLICIT, optional
    if r.peek_tag() == Some(ctx_cons(2)) {
        let src = r.next_any("pSourceFunc")?;
        let mut sr = src.children(r.depth())?;
        let alg = sr.next_any("pSourceFunc algorithm")?;
        sr.finish("trailing data in pSourceFunc")?;
        let (id, label) = algorithm(&alg, sr.depth(), "malformed pSourceFunc")?;
        if id != oid::P_SPECIFIED {
            return Err(OaepParameters("label source is not pSpecified"));
        }
        let label = label.ok_or(OaepParameters("label absent"))?;
        let mut value = Vec::new();
        ber::octets(&label, OCTET_STRING, sr.depth() + 1, &mut value)?;
        if !value.is_empty() {
            return Err(OaepParameters("non-empty label"));
        }
    }
    r.finish("trailing data in RSAES-OAEP-params")
        .map_err(|_| OaepParameters("unexpected field"))
}

fn version(tlv: &Tlv<'_>) -> Result<u8, RecipientError> {
    let v = ber::small_uint(tlv)?;
    if v == 0 || v == 2 {
        Ok(v)
    } else {
        Err(RecipientError::Version(v))
    }
}

/// Parses a `CiphertextForRecipient` strictly (see the crate docs) without
/// decrypting anything.
pub fn parse_enveloped_data(input: &[u8]) -> Result<EnvelopedParts, RecipientError> {
    use RecipientError as E;
    if input.len() > MAX_CIPHERTEXT_LEN {
        return Err(E::TooLarge(input.len()));
    }
    // ContentInfo ::= SEQUENCE { contentType, [0] EXPLICIT content }
    let ci = ber::parse_single(input)?;
    if ci.tag != SEQUENCE {
        return Err(E::Malformed("ContentInfo is not a SEQUENCE"));
    }
    let mut r = ci.children(0)?;
    if oid_of(&r.expect(OID, "ContentInfo contentType")?)? != oid::ENVELOPED_DATA {
        return Err(E::ContentType);
    }
    let content = r.expect(ctx_cons(0), "ContentInfo content")?;
    r.finish("trailing data in ContentInfo")?;
    let mut cr = content.children(1)?;
    let ed = cr.expect(SEQUENCE, "EnvelopedData")?;
    cr.finish("trailing data after EnvelopedData")?;

    // EnvelopedData ::= SEQUENCE { version, originatorInfo [0]?,
    //   recipientInfos SET, encryptedContentInfo, unprotectedAttrs [1]? }
    let mut er = ed.children(cr.depth())?;
    version(&er.expect(INTEGER, "EnvelopedData version")?)?;
    if er.peek_tag() == Some(ctx_cons(0)) {
        return Err(E::UnexpectedField("originatorInfo"));
    }
    let ris = er.expect(SET, "recipientInfos")?;
    let eci = er.expect(SEQUENCE, "encryptedContentInfo")?;
    if er.peek_tag() == Some(ctx_cons(1)) {
        return Err(E::UnexpectedField("unprotectedAttrs"));
    }
    er.finish("trailing data in EnvelopedData")?;

    // recipientInfos: exactly one KeyTransRecipientInfo.
    let mut rr = ris.children(er.depth())?;
    let n = rr.count()?;
    if n != 1 {
        return Err(E::RecipientCount(n));
    }
    let ktri = rr.next_any("RecipientInfo")?;
    if ktri.tag != SEQUENCE {
        return Err(E::RecipientKind);
    }
    let mut kr = ktri.children(rr.depth())?;
    version(&kr.expect(INTEGER, "KeyTransRecipientInfo version")?)?;
    // rid: IssuerAndSerialNumber (SEQUENCE) or [0] IMPLICIT SubjectKeyIdentifier.
    // The enclave holds a single recipient key, so rid is not matched.
    let rid = kr.next_any("RecipientIdentifier")?;
    match rid.tag {
        SEQUENCE => {}
        t if t == ctx_prim(0) || t == ctx_cons(0) => {
            let mut ski = Vec::new();
            ber::octets(&rid, ctx_prim(0), kr.depth(), &mut ski)?;
        }
        _ => return Err(E::Malformed("RecipientIdentifier")),
    }
    let kea = kr.expect(SEQUENCE, "keyEncryptionAlgorithm")?;
    let (kea_id, kea_params) = algorithm(&kea, kr.depth(), "keyEncryptionAlgorithm")?;
    if kea_id == oid::RSA_ENCRYPTION {
        return Err(E::Pkcs1v15KeyTransport);
    }
    if kea_id != oid::RSAES_OAEP {
        return Err(E::KeyEncryptionAlgorithm);
    }
    check_oaep_params(kea_params, kr.depth() + 1)?;
    let ek = kr.next_any("encryptedKey")?;
    let mut encrypted_key = Vec::new();
    ber::octets(&ek, OCTET_STRING, kr.depth(), &mut encrypted_key)?;
    kr.finish("trailing data in KeyTransRecipientInfo")?;

    // EncryptedContentInfo ::= SEQUENCE { contentType, algorithm,
    //   encryptedContent [0] IMPLICIT OCTET STRING OPTIONAL }
    let mut ir = eci.children(er.depth())?;
    if oid_of(&ir.expect(OID, "encrypted content type")?)? != oid::DATA {
        return Err(E::EncryptedContentType);
    }
    let cea = ir.expect(SEQUENCE, "contentEncryptionAlgorithm")?;
    let (cea_id, iv_param) = algorithm(&cea, ir.depth(), "contentEncryptionAlgorithm")?;
    if cea_id != oid::AES256_CBC {
        return Err(E::ContentEncryption);
    }
    let iv_param = iv_param.ok_or(E::IvLength(0))?;
    let mut iv_bytes = Vec::new();
    ber::octets(&iv_param, OCTET_STRING, ir.depth() + 1, &mut iv_bytes)?;
    let iv: [u8; AES_CBC_IV_LEN] = iv_bytes
        .as_slice()
        .try_into()
        .map_err(|_| E::IvLength(iv_bytes.len()))?;
    let ec = match ir.peek_tag() {
        None => return Err(E::MissingContent),
        Some(_) => ir.next_any("encryptedContent")?,
    };
    if ec.tag != ctx_prim(0) && ec.tag != ctx_cons(0) {
        return Err(E::Malformed("encryptedContent"));
    }
    let mut encrypted_content = Vec::new();
    ber::octets(&ec, ctx_prim(0), ir.depth(), &mut encrypted_content)?;
    ir.finish("trailing data in EncryptedContentInfo")?;
    if encrypted_content.is_empty() || encrypted_content.len() % 16 != 0 {
        return Err(E::ContentLength(encrypted_content.len()));
    }
    Ok(EnvelopedParts {
        encrypted_key,
        iv,
        encrypted_content,
    })
}

/// The enclave's ephemeral RSA-2048 recipient key pair (RSAES-OAEP,
/// SHA-256, MGF1-SHA-256). Created per unwrap and dropped right after.
pub struct RecipientKey {
    key: OaepPrivateDecryptingKey,
    spki: Vec<u8>,
}

impl std::fmt::Debug for RecipientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecipientKey")
            .field("bits", &self.key.key_size_bits())
            .finish_non_exhaustive()
    }
}

impl RecipientKey {
    /// Generates a fresh RSA-2048 key pair.
    pub fn generate() -> Result<Self, RecipientError> {
        let private = PrivateDecryptingKey::generate(KeySize::Rsa2048)
            .map_err(|_| RecipientError::KeyGeneration)?;
        Self::from_private(private)
    }

    fn from_private(private: PrivateDecryptingKey) -> Result<Self, RecipientError> {
        let spki = private
            .public_key()
            .as_der()
            .map_err(|_| RecipientError::KeyGeneration)?
            .as_ref()
            .to_vec();
        let key =
            OaepPrivateDecryptingKey::new(private).map_err(|_| RecipientError::KeyGeneration)?;
        Ok(Self { key, spki })
    }

    /// Imports an RSA private key (PKCS#8 DER). Test-only: production keys
    /// are generated in the enclave and never leave it.
    #[cfg(any(test, feature = "test-util"))]
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, RecipientError> {
        let private =
            PrivateDecryptingKey::from_pkcs8(der).map_err(|_| RecipientError::KeyGeneration)?;
        Self::from_private(private)
    }

    /// The public key as X.509 SubjectPublicKeyInfo DER: what goes into the
    /// attestation document's `public_key`.
    pub fn public_key_der(&self) -> &[u8] {
        &self.spki
    }

    /// Opens a `CiphertextForRecipient`: strict parse, RSAES-OAEP
    /// decryption of the content key, AES-256-CBC decryption of the content.
    /// The content key is zeroized before returning.
    pub fn open(
        &self,
        ciphertext_for_recipient: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, RecipientError> {
        let parts = parse_enveloped_data(ciphertext_for_recipient)?;
        let expected = self.key.key_size_bytes();
        if parts.encrypted_key.len() != expected {
            return Err(RecipientError::EncryptedKeyLength {
                found: parts.encrypted_key.len(),
                expected,
            });
        }
        let mut key_buf = Zeroizing::new(vec![0u8; self.key.min_output_size()]);
        let content_key = self
            .key
            .decrypt(
                &OAEP_SHA256_MGF1SHA256,
                &parts.encrypted_key,
                &mut key_buf,
                None,
            )
            .map_err(|_| RecipientError::KeyDecryption)?;
        if content_key.len() != AES_256_KEY_LEN {
            return Err(RecipientError::ContentKeyLength(content_key.len()));
        }
        let cipher = UnboundCipherKey::new(&AES_256, content_key)
            .and_then(PaddedBlockDecryptingKey::cbc_pkcs7)
            .map_err(|_| RecipientError::ContentDecryption)?;
        drop(key_buf);
        let mut buf = Zeroizing::new(parts.encrypted_content);
        let len = cipher
            .decrypt(
                &mut buf,
                DecryptionContext::Iv128(FixedLength::from(parts.iv)),
            )
            .map_err(|_| RecipientError::ContentDecryption)?
            .len();
        buf.truncate(len);
        Ok(buf)
    }
}
