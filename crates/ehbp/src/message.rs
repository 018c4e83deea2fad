//! Sealing and opening EHBP requests and responses.
//!
//! Client half: [`seal_request`] then [`ResponseContext::open_response`].
//! Server half: [`open_request`] then [`ResponseContext::seal_response`].

use core::fmt;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_lc_rs::hkdf;
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Code, EhbpError};
use crate::framing::{push_frame, Frames};
use crate::keyconfig::{KeyConfig, ServerKey, PUBLIC_KEY_LEN};
use crate::{HpkeAead, HpkeKdf, HpkeKem, EXPORT_LABEL, REQUEST_INFO};

/// Length of the response nonce: `max(Nn, Nk)` = 32 for AES-256-GCM.
pub const RESPONSE_NONCE_LEN: usize = 32;
/// Length of the exported response secret (`Nk` of AES-256-GCM).
pub const EXPORT_LEN: usize = 32;
/// AES-256-GCM tag length.
pub const TAG_LEN: usize = 16;
const AEAD_NONCE_LEN: usize = 12;

/// A sealed request, ready to send: the `Ehbp-Encapsulated-Key` header value
/// and the framed body.
#[derive(Clone, Debug)]
pub struct SealedRequest {
    /// Lowercase hex of the HPKE encapsulated key.
    pub encapsulated_key_hex: String,
    /// Framed ciphertext body.
    pub body: Vec<u8>,
}

/// Per-exchange response key material: the HPKE exported secret
/// `Export("ehbp response", 32)` and the request's encapsulated key.
///
/// This is exactly the published EHBP "session recovery token"; it opens
/// (client) or seals (server) the one response bound to its request. The
/// secret is zeroized on drop and redacted in `Debug`.
#[derive(Clone)]
pub struct ResponseContext {
    exported_secret: Zeroizing<[u8; EXPORT_LEN]>,
    enc: [u8; PUBLIC_KEY_LEN],
}

impl fmt::Debug for ResponseContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseContext")
            .field("enc", &hex::encode(self.enc))
            .field("exported_secret", &"<redacted>")
            .finish()
    }
}

/// A request opened by the server: the plaintext (zeroized on drop), the id
/// of the key it opened under and the context that seals the response.
pub struct OpenedRequest {
    /// The request body plaintext.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// Key id of the server key the request was sealed to.
    pub key_id: u8,
    /// Seals the response bound to this request.
    pub response: ResponseContext,
}

impl fmt::Debug for OpenedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenedRequest")
            .field("plaintext_len", &self.plaintext.len())
            .field("key_id", &self.key_id)
            .finish()
    }
}

/// Seals `plaintext` as an EHBP request to `config`, split into chunks of at
/// most `chunk_size` plaintext bytes, using the operating system's RNG.
pub fn seal_request(
    config: &KeyConfig,
    plaintext: &[u8],
    chunk_size: usize,
) -> Result<(SealedRequest, ResponseContext), EhbpError> {
    let pk = config.hpke_public_key()?;
    check_seal_input(plaintext, chunk_size)?;
    let (enc, ctx) =
        hpke::setup_sender::<HpkeAead, HpkeKdf, HpkeKem>(&OpModeS::Base, &pk, REQUEST_INFO)
            .map_err(|_| EhbpError::new(Code::HpkeSetupFailed, "HPKE setup failed"))?;
    finish_seal(enc, ctx, plaintext, chunk_size)
}

/// [`seal_request`] with a caller-supplied RNG (deterministic tests, test vectors).
pub fn seal_request_with_rng(
    config: &KeyConfig,
    plaintext: &[u8],
    chunk_size: usize,
    rng: &mut impl hpke::rand_core::CryptoRng,
) -> Result<(SealedRequest, ResponseContext), EhbpError> {
    let pk = config.hpke_public_key()?;
    check_seal_input(plaintext, chunk_size)?;
    let (enc, ctx) = hpke::setup_sender_with_rng::<HpkeAead, HpkeKdf, HpkeKem>(
        &OpModeS::Base,
        &pk,
        REQUEST_INFO,
        rng,
    )
    .map_err(|_| EhbpError::new(Code::HpkeSetupFailed, "HPKE setup failed"))?;
    finish_seal(enc, ctx, plaintext, chunk_size)
}

fn check_seal_input(plaintext: &[u8], chunk_size: usize) -> Result<(), EhbpError> {
    if plaintext.is_empty() {
        return Err(EhbpError::new(
            Code::InvalidInput,
            "EHBP requests must have a non-empty body",
        ));
    }
    if chunk_size == 0 {
        return Err(EhbpError::new(Code::InvalidInput, "chunk size must be > 0"));
    }
    Ok(())
}

fn finish_seal(
    enc: <HpkeKem as hpke::Kem>::EncappedKey,
    mut ctx: hpke::aead::AeadCtxS<HpkeAead, HpkeKdf, HpkeKem>,
    plaintext: &[u8],
    chunk_size: usize,
) -> Result<(SealedRequest, ResponseContext), EhbpError> {
    let mut enc_bytes = [0u8; PUBLIC_KEY_LEN];
    enc_bytes.copy_from_slice(&enc.to_bytes());
    let mut body = Vec::with_capacity(plaintext.len() + (plaintext.len() / chunk_size + 1) * 20);
    for chunk in plaintext.chunks(chunk_size) {
        let ct = ctx
            .seal(chunk, b"")
            .map_err(|_| EhbpError::new(Code::SequenceOverflow, "HPKE seal failed"))?;
        push_frame(&mut body, &ct)?;
    }
    let mut secret = Zeroizing::new([0u8; EXPORT_LEN]);
    ctx.export(EXPORT_LABEL, secret.as_mut())
        .map_err(|_| EhbpError::new(Code::HpkeSetupFailed, "HPKE export failed"))?;
    Ok((
        SealedRequest {
            encapsulated_key_hex: hex::encode(enc_bytes),
            body,
        },
        ResponseContext {
            exported_secret: secret,
            enc: enc_bytes,
        },
    ))
}

/// Decodes strict lowercase hex of exactly `N` bytes.
fn decode_lower_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// Parses an `Ehbp-Encapsulated-Key` header value (64 lowercase hex digits).
pub fn parse_encapsulated_key(text: &str) -> Result<[u8; PUBLIC_KEY_LEN], EhbpError> {
    decode_lower_hex::<PUBLIC_KEY_LEN>(text).ok_or(EhbpError::new(
        Code::InvalidEncapsulatedKey,
        "encapsulated key is not 32 bytes of lowercase hex",
    ))
}

/// Parses an `Ehbp-Response-Nonce` header value (64 lowercase hex digits).
pub fn parse_response_nonce(text: &str) -> Result<[u8; RESPONSE_NONCE_LEN], EhbpError> {
    decode_lower_hex::<RESPONSE_NONCE_LEN>(text).ok_or(EhbpError::new(
        Code::InvalidResponseNonce,
        "response nonce is not 32 bytes of lowercase hex",
    ))
}

/// Opens an EHBP request body with the first key of `keys` under which its
/// first non-empty chunk authenticates.
///
/// * malformed `Ehbp-Encapsulated-Key`, framing violations, an empty body,
///   or a later chunk that fails to authenticate → a 400-class error;
/// * the first chunk opens under none of `keys` → [`Code::KeyConfigMismatch`]
///   (422): EHBP requests carry no key id, so a request sealed to an unknown
///   or retired key is recognised by trial decryption of its first chunk.
///
/// Errors never say more than their class; the plaintext of a request that
/// fails part-way is zeroized before returning.
pub fn open_request<'k>(
    keys: impl IntoIterator<Item = &'k ServerKey>,
    encapsulated_key_hex: &str,
    body: &[u8],
    max_chunk_len: u32,
) -> Result<OpenedRequest, EhbpError> {
    let enc_bytes = parse_encapsulated_key(encapsulated_key_hex)?;
    let enc = <HpkeKem as hpke::Kem>::EncappedKey::from_bytes(&enc_bytes)
        .map_err(|_| EhbpError::new(Code::InvalidEncapsulatedKey, "invalid encapsulated key"))?;
    let mut frames = Frames::new(body, max_chunk_len);
    let first = match frames.next() {
        None => {
            return Err(EhbpError::new(
                Code::FramingTruncated,
                "encrypted body carries no chunk",
            ))
        }
        Some(f) => f?,
    };
    let mut opened = None;
    for key in keys {
        let mut ctx = hpke::setup_receiver::<HpkeAead, HpkeKdf, HpkeKem>(
            &OpModeR::Base,
            key.hpke_secret(),
            &enc,
            REQUEST_INFO,
        )
        .map_err(|_| EhbpError::new(Code::HpkeSetupFailed, "HPKE setup failed"))?;
        if let Ok(pt) = ctx.open(first, b"") {
            opened = Some((key.key_id(), ctx, Zeroizing::new(pt)));
            break;
        }
    }
    let Some((key_id, mut ctx, first_pt)) = opened else {
        return Err(EhbpError::new(
            Code::KeyConfigMismatch,
            "request does not open under any current key",
        ));
    };
    let mut plaintext = Zeroizing::new(Vec::with_capacity(body.len()));
    plaintext.extend_from_slice(&first_pt);
    drop(first_pt);
    for frame in frames {
        let frame = frame?;
        let mut pt = ctx.open(frame, b"").map_err(|e| match e {
            hpke::HpkeError::MessageLimitReached => {
                EhbpError::new(Code::SequenceOverflow, "chunk sequence exhausted")
            }
            _ => EhbpError::new(Code::AeadDecryptFailed, "chunk failed to authenticate"),
        })?;
        plaintext.extend_from_slice(&pt);
        pt.zeroize();
    }
    let mut secret = Zeroizing::new([0u8; EXPORT_LEN]);
    ctx.export(EXPORT_LABEL, secret.as_mut())
        .map_err(|_| EhbpError::new(Code::HpkeSetupFailed, "HPKE export failed"))?;
    Ok(OpenedRequest {
        plaintext,
        key_id,
        response: ResponseContext {
            exported_secret: secret,
            enc: enc_bytes,
        },
    })
}

/// Derived response AEAD key and base nonce (RFC 9458 §4.4).
struct ResponseKeys {
    key: LessSafeKey,
    nonce_base: [u8; AEAD_NONCE_LEN],
}

struct HkdfLen(usize);

impl hkdf::KeyType for HkdfLen {
    fn len(&self) -> usize {
        self.0
    }
}

impl ResponseContext {
    /// Rebuilds a response context from a session recovery token
    /// (`exported_secret`, `request_enc`).
    pub fn from_token(exported_secret: &[u8], request_enc: &[u8]) -> Result<Self, EhbpError> {
        let bad = EhbpError::new(Code::InvalidToken, "token field is not 32 bytes");
        let mut secret = Zeroizing::new([0u8; EXPORT_LEN]);
        if exported_secret.len() != EXPORT_LEN || request_enc.len() != PUBLIC_KEY_LEN {
            return Err(bad);
        }
        secret.copy_from_slice(exported_secret);
        let mut enc = [0u8; PUBLIC_KEY_LEN];
        enc.copy_from_slice(request_enc);
        Ok(Self {
            exported_secret: secret,
            enc,
        })
    }

    /// The request's encapsulated key.
    pub fn request_enc(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.enc
    }

    /// The exported secret (session recovery token material; secret).
    pub fn exported_secret(&self) -> &[u8; EXPORT_LEN] {
        &self.exported_secret
    }

    fn derive(&self, response_nonce: &[u8; RESPONSE_NONCE_LEN]) -> Result<ResponseKeys, EhbpError> {
        let fail = EhbpError::new(Code::HpkeSetupFailed, "response key derivation failed");
        let mut salt = [0u8; PUBLIC_KEY_LEN + RESPONSE_NONCE_LEN];
        salt[..PUBLIC_KEY_LEN].copy_from_slice(&self.enc);
        salt[PUBLIC_KEY_LEN..].copy_from_slice(response_nonce);
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &salt).extract(self.exported_secret.as_ref());
        let mut key = Zeroizing::new([0u8; 32]);
        prk.expand(&[b"key"], HkdfLen(32))
            .and_then(|okm| okm.fill(key.as_mut()))
            .map_err(|_| fail)?;
        let mut nonce_base = [0u8; AEAD_NONCE_LEN];
        prk.expand(&[b"nonce"], HkdfLen(AEAD_NONCE_LEN))
            .and_then(|okm| okm.fill(&mut nonce_base))
            .map_err(|_| fail)?;
        let unbound = UnboundKey::new(&AES_256_GCM, key.as_ref()).map_err(|_| fail)?;
        Ok(ResponseKeys {
            key: LessSafeKey::new(unbound),
            nonce_base,
        })
    }

    /// Seals a response body with the given 32-byte response nonce (sent in
    /// `Ehbp-Response-Nonce`), in chunks of at most `chunk_size` plaintext
    /// bytes. An empty plaintext gives an empty body.
    pub fn seal_response(
        &self,
        response_nonce: &[u8; RESPONSE_NONCE_LEN],
        plaintext: &[u8],
        chunk_size: usize,
    ) -> Result<Vec<u8>, EhbpError> {
        if chunk_size == 0 {
            return Err(EhbpError::new(Code::InvalidInput, "chunk size must be > 0"));
        }
        let keys = self.derive(response_nonce)?;
        let mut body =
            Vec::with_capacity(plaintext.len() + (plaintext.len() / chunk_size + 1) * 20);
        for (seq, chunk) in plaintext.chunks(chunk_size).enumerate() {
            let nonce = chunk_nonce(&keys.nonce_base, seq)?;
            let mut buf = Zeroizing::new(Vec::with_capacity(chunk.len() + TAG_LEN));
            buf.extend_from_slice(chunk);
            keys.key
                .seal_in_place_append_tag(nonce, Aad::empty(), &mut *buf)
                .map_err(|_| EhbpError::new(Code::HpkeSetupFailed, "response seal failed"))?;
            push_frame(&mut body, &buf)?;
        }
        Ok(body)
    }

    /// Opens a response body given the `Ehbp-Response-Nonce` header value.
    pub fn open_response(
        &self,
        response_nonce_hex: &str,
        body: &[u8],
        max_chunk_len: u32,
    ) -> Result<Zeroizing<Vec<u8>>, EhbpError> {
        let nonce = parse_response_nonce(response_nonce_hex)?;
        self.open_response_with_nonce(&nonce, body, max_chunk_len)
    }

    /// Opens a response body given the decoded 32-byte response nonce.
    pub fn open_response_with_nonce(
        &self,
        response_nonce: &[u8; RESPONSE_NONCE_LEN],
        body: &[u8],
        max_chunk_len: u32,
    ) -> Result<Zeroizing<Vec<u8>>, EhbpError> {
        let keys = self.derive(response_nonce)?;
        let mut out = Zeroizing::new(Vec::with_capacity(body.len()));
        for (seq, frame) in Frames::new(body, max_chunk_len).enumerate() {
            let frame = frame?;
            let nonce = chunk_nonce(&keys.nonce_base, seq)?;
            let mut buf = Zeroizing::new(frame.to_vec());
            let pt = keys
                .key
                .open_in_place(nonce, Aad::empty(), &mut buf)
                .map_err(|_| {
                    EhbpError::new(Code::AeadDecryptFailed, "chunk failed to authenticate")
                })?;
            out.extend_from_slice(pt);
        }
        Ok(out)
    }
}

/// Incremental response opener (published EHBP §6.2.1): feed ciphertext as
/// it arrives; each call returns the plaintext of the frames completed and
/// authenticated so far. Partial frames are buffered; [`ResponseOpener::finish`]
/// refuses an end of stream inside a frame.
pub struct ResponseOpener {
    keys: ResponseKeys,
    seq: usize,
    buf: Vec<u8>,
    max_chunk_len: u32,
}

impl fmt::Debug for ResponseOpener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseOpener")
            .field("seq", &self.seq)
            .field("buffered", &self.buf.len())
            .finish_non_exhaustive()
    }
}

impl ResponseContext {
    /// Starts an incremental opener for the response with this nonce.
    pub fn response_opener(
        &self,
        response_nonce: &[u8; RESPONSE_NONCE_LEN],
        max_chunk_len: u32,
    ) -> Result<ResponseOpener, EhbpError> {
        Ok(ResponseOpener {
            keys: self.derive(response_nonce)?,
            seq: 0,
            buf: Vec::new(),
            max_chunk_len,
        })
    }
}

impl ResponseOpener {
    /// Adds received bytes; returns the plaintext of every frame completed
    /// by them (possibly empty). After an error the opener must be dropped.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Zeroizing<Vec<u8>>, EhbpError> {
        self.buf.extend_from_slice(bytes);
        let mut out = Zeroizing::new(Vec::new());
        let mut consumed = 0usize;
        loop {
            let rest = &self.buf[consumed..];
            let Some((prefix, after)) = rest.split_first_chunk::<4>() else {
                break;
            };
            let len = u32::from_be_bytes(*prefix);
            if len > self.max_chunk_len {
                return Err(EhbpError::new(
                    Code::ChunkTooLarge,
                    "chunk length exceeds the receiver's maximum",
                ));
            }
            let len = len as usize;
            if after.len() < len {
                break;
            }
            consumed += 4 + len;
            if len == 0 {
                continue;
            }
            let nonce = chunk_nonce(&self.keys.nonce_base, self.seq)?;
            let mut frame = Zeroizing::new(after[..len].to_vec());
            let pt = self
                .keys
                .key
                .open_in_place(nonce, Aad::empty(), &mut frame)
                .map_err(|_| {
                    EhbpError::new(Code::AeadDecryptFailed, "chunk failed to authenticate")
                })?;
            out.extend_from_slice(pt);
            self.seq = self.seq.checked_add(1).ok_or(EhbpError::new(
                Code::SequenceOverflow,
                "chunk sequence exhausted",
            ))?;
        }
        self.buf.drain(..consumed);
        Ok(out)
    }

    /// Ends the stream: fails if it stopped inside a length prefix or frame.
    pub fn finish(self) -> Result<(), EhbpError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(EhbpError::new(
                Code::FramingTruncated,
                "body ended inside a chunk",
            ))
        }
    }
}

/// `aead_nonce XOR i`, with `i` big-endian in the low-order bytes.
fn chunk_nonce(base: &[u8; AEAD_NONCE_LEN], seq: usize) -> Result<Nonce, EhbpError> {
    let seq = u64::try_from(seq)
        .map_err(|_| EhbpError::new(Code::SequenceOverflow, "chunk sequence exhausted"))?;
    let mut n = *base;
    for (b, s) in n[AEAD_NONCE_LEN - 8..].iter_mut().zip(seq.to_be_bytes()) {
        *b ^= s;
    }
    Ok(Nonce::assume_unique_for_key(n))
}

/// Fills a fresh random 32-byte response nonce from the system RNG.
pub fn random_response_nonce() -> Result<[u8; RESPONSE_NONCE_LEN], EhbpError> {
    let mut n = [0u8; RESPONSE_NONCE_LEN];
    aws_lc_rs::rand::fill(&mut n)
        .map_err(|_| EhbpError::new(Code::HpkeSetupFailed, "random source failed"))?;
    Ok(n)
}
