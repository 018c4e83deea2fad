//! Envelope v1 (specification §2), byte for byte:
//!
//! ```text
//! offset 0   1 byte    version = 0x01
//! offset 1   12 bytes  IV (random per encryption)
//! offset 13  16 bytes  GCM tag
//! offset 29  n bytes   ciphertext
//! ```
//!
//! AES-256-GCM; the optional associated data ("context") is supplied at both
//! ends and never stored. For text transport the bytes are standard base64
//! with padding ([`encode_base64`], [`decode_base64`]).

use aws_lc_rs::aead::{Aad, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::fmt;
use std::ops::{Deref, DerefMut};

use zeroize::Zeroize;

use crate::{EnvelopeError, UserKey};

/// The version byte of envelope v1.
pub const VERSION_V1: u8 = 0x01;
/// Length of the IV in bytes.
pub const IV_LEN: usize = 12;
/// Length of the GCM tag in bytes.
pub const TAG_LEN: usize = 16;
/// Length of the v1 header (version, IV, tag); the minimum envelope size.
pub const HEADER_LEN: usize = 1 + IV_LEN + TAG_LEN;

/// A structurally valid v1 envelope borrowed from a byte slice.
///
/// Parsing checks only the structure (length and version); it proves
/// nothing about authenticity. Use [`open_v1`] to authenticate and decrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvelopeRef<'a> {
    iv: &'a [u8; IV_LEN],
    tag: &'a [u8; TAG_LEN],
    ciphertext: &'a [u8],
}

impl<'a> EnvelopeRef<'a> {
    /// Parses the binary form: rejects inputs shorter than [`HEADER_LEN`]
    /// and unknown versions. Never panics.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, EnvelopeError> {
        let (version, rest) = bytes
            .split_first()
            .ok_or(EnvelopeError::TooShort { len: 0 })?;
        if *version != VERSION_V1 {
            return Err(EnvelopeError::UnsupportedVersion { version: *version });
        }
        let too_short = EnvelopeError::TooShort { len: bytes.len() };
        let (iv, rest) = rest
            .split_first_chunk::<IV_LEN>()
            .ok_or(too_short.clone())?;
        let (tag, ciphertext) = rest.split_first_chunk::<TAG_LEN>().ok_or(too_short)?;
        Ok(EnvelopeRef {
            iv,
            tag,
            ciphertext,
        })
    }

    /// The version byte (always [`VERSION_V1`] for a parsed envelope).
    pub fn version(&self) -> u8 {
        VERSION_V1
    }

    /// The 12-byte IV.
    pub fn iv(&self) -> &'a [u8; IV_LEN] {
        self.iv
    }

    /// The 16-byte GCM tag.
    pub fn tag(&self) -> &'a [u8; TAG_LEN] {
        self.tag
    }

    /// The ciphertext (as long as the plaintext).
    pub fn ciphertext(&self) -> &'a [u8] {
        self.ciphertext
    }

    /// Total length of the binary envelope.
    pub fn len(&self) -> usize {
        HEADER_LEN + self.ciphertext.len()
    }

    /// Whether the envelope carries an empty plaintext.
    pub fn is_empty(&self) -> bool {
        self.ciphertext.is_empty()
    }
}

/// Seals `plaintext` under `key` with the given IV and optional associated
/// data, returning the binary v1 envelope.
///
/// The IV must be fresh for every call under the same key (draw it from a
/// CSPRNG); this function is pure so that test vectors can fix it.
pub fn seal_v1(
    key: &UserKey,
    iv: &[u8; IV_LEN],
    plaintext: &[u8],
    aad: Option<&[u8]>,
) -> Result<Vec<u8>, EnvelopeError> {
    let mut out = Vec::new();
    seal_v1_into(key, iv, plaintext, aad, &mut out)?;
    Ok(out)
}

/// Like [`seal_v1`], writing the envelope into `out` (cleared first), so a
/// caller sealing many files can reuse one buffer and skip a fresh
/// allocation (and its page faults) per envelope.
pub fn seal_v1_into(
    key: &UserKey,
    iv: &[u8; IV_LEN],
    plaintext: &[u8],
    aad: Option<&[u8]>,
    out: &mut Vec<u8>,
) -> Result<(), EnvelopeError> {
    let total = HEADER_LEN
        .checked_add(plaintext.len())
        .ok_or(EnvelopeError::PlaintextTooLarge)?;
    out.clear();
    out.reserve(total + TAG_LEN);
    out.push(VERSION_V1);
    out.extend_from_slice(iv);
    // Encrypt straight from the caller's plaintext into the output (one pass
    // over memory instead of copy-then-encrypt-in-place, which matters once
    // the data no longer fits in the caches). The scatter API writes
    // `ciphertext ‖ tag`; the tag then moves to its v1 place before the
    // ciphertext.
    out.resize(total + TAG_LEN, 0);
    key.aead()
        .seal_in_place_scatter(
            Nonce::assume_unique_for_key(*iv),
            Aad::from(aad.unwrap_or_default()),
            &mut [],
            plaintext,
            &mut out[HEADER_LEN..],
        )
        .map_err(|_| EnvelopeError::PlaintextTooLarge)?;
    let (head, tail) = out.split_at_mut(total);
    head[1 + IV_LEN..HEADER_LEN].copy_from_slice(tail);
    out.truncate(total);
    Ok(())
}

/// Authenticates and decrypts a binary v1 envelope. The plaintext comes back
/// in a buffer that is wiped when dropped. Any authentication failure (wrong
/// key, wrong or missing context, tampered byte) is the single opaque
/// [`EnvelopeError::AuthenticationFailed`].
pub fn open_v1(
    key: &UserKey,
    envelope: &[u8],
    aad: Option<&[u8]>,
) -> Result<Plaintext, EnvelopeError> {
    let mut out = Plaintext::new();
    open_v1_into(key, envelope, aad, &mut out)?;
    Ok(out)
}

/// Like [`open_v1`], decrypting into `out` (wiped and cleared first) so a
/// caller opening many envelopes can reuse one buffer. On failure `out` is
/// left wiped and empty.
pub fn open_v1_into(
    key: &UserKey,
    envelope: &[u8],
    aad: Option<&[u8]>,
    out: &mut Plaintext,
) -> Result<(), EnvelopeError> {
    let parsed = EnvelopeRef::parse(envelope)?;
    // Decrypt straight from the envelope into the wiped-on-drop buffer: one
    // pass over memory, with the tag read from its v1 place.
    out.wipe();
    out.buf.resize(parsed.ciphertext.len(), 0);
    let opened = key.aead().open_separate_gather(
        Nonce::assume_unique_for_key(*parsed.iv),
        Aad::from(aad.unwrap_or_default()),
        parsed.ciphertext,
        parsed.tag,
        out.buf.as_mut_slice(),
    );
    if opened.is_err() {
        out.wipe();
        return Err(EnvelopeError::AuthenticationFailed);
    }
    Ok(())
}

/// A decrypted plaintext: a byte vector that is wiped when dropped and never
/// printed by `Debug`.
///
/// (Unlike `Zeroizing<Vec<u8>>`, which wipes element by element, the wipe
/// here runs at memset speed, so large files decrypt at AES-GCM speed.)
pub struct Plaintext {
    buf: Vec<u8>,
}

impl Plaintext {
    /// An empty buffer, for [`open_v1_into`].
    pub fn new() -> Self {
        Plaintext { buf: Vec::new() }
    }

    /// Wipes the contents (and spare capacity) and empties the buffer.
    pub fn wipe(&mut self) {
        self.buf.as_mut_slice().zeroize();
        self.buf.clear();
        self.buf.spare_capacity_mut().zeroize();
    }
}

impl Default for Plaintext {
    fn default() -> Self {
        Self::new()
    }
}

impl Deref for Plaintext {
    type Target = Vec<u8>;

    fn deref(&self) -> &Vec<u8> {
        &self.buf
    }
}

impl DerefMut for Plaintext {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }
}

impl Drop for Plaintext {
    fn drop(&mut self) {
        self.wipe();
    }
}

impl fmt::Debug for Plaintext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Plaintext([REDACTED; {} bytes])", self.buf.len())
    }
}

/// Encodes a binary envelope as standard base64 with padding.
pub fn encode_base64(envelope: &[u8]) -> String {
    STANDARD.encode(envelope)
}

/// Decodes the text form strictly (standard alphabet, canonical padding, no
/// whitespace) and checks the structure. Authenticity is not checked.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, EnvelopeError> {
    let bytes = STANDARD
        .decode(text)
        .map_err(|_| EnvelopeError::InvalidBase64)?;
    EnvelopeRef::parse(&bytes)?;
    Ok(bytes)
}

/// Accepts either form of an envelope: raw binary (first byte `0x01`, which
/// is not a base64 character) or base64 text, with surrounding ASCII
/// whitespace (such as a trailing newline) ignored. Returns the binary form.
pub fn decode_any(input: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    if input.first() == Some(&VERSION_V1) {
        EnvelopeRef::parse(input)?;
        return Ok(input.to_vec());
    }
    let text = input.trim_ascii();
    if text.is_empty() {
        return Err(EnvelopeError::TooShort { len: 0 });
    }
    let text = std::str::from_utf8(text).map_err(|_| EnvelopeError::InvalidBase64)?;
    decode_base64(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> UserKey {
        UserKey::from_bytes([42u8; 32])
    }

    #[test]
    fn layout_is_version_iv_tag_ciphertext() {
        let iv = [9u8; IV_LEN];
        let env = seal_v1(&key(), &iv, b"hello", None).unwrap();
        assert_eq!(env.len(), HEADER_LEN + 5);
        assert_eq!(env[0], VERSION_V1);
        assert_eq!(&env[1..13], &iv);
        let parsed = EnvelopeRef::parse(&env).unwrap();
        assert_eq!(parsed.ciphertext().len(), 5);
        assert_eq!(&open_v1(&key(), &env, None).unwrap()[..], b"hello");
    }

    #[test]
    fn structural_errors_are_typed() {
        assert_eq!(
            EnvelopeRef::parse(&[]).unwrap_err(),
            EnvelopeError::TooShort { len: 0 }
        );
        assert_eq!(
            EnvelopeRef::parse(&[1u8; 28]).unwrap_err(),
            EnvelopeError::TooShort { len: 28 }
        );
        assert_eq!(
            EnvelopeRef::parse(&[2u8; 40]).unwrap_err(),
            EnvelopeError::UnsupportedVersion { version: 2 }
        );
        assert!(EnvelopeRef::parse(&[1u8; 29]).unwrap().is_empty());
        assert_eq!(
            decode_base64("AQ==!").unwrap_err(),
            EnvelopeError::InvalidBase64
        );
        assert_eq!(
            decode_base64("AQ").unwrap_err(),
            EnvelopeError::InvalidBase64
        );
    }

    #[test]
    fn decode_any_accepts_both_forms() {
        let env = seal_v1(&key(), &[1u8; 12], b"x", Some(b"ctx")).unwrap();
        let text = format!("{}\n", encode_base64(&env));
        assert_eq!(decode_any(text.as_bytes()).unwrap(), env);
        assert_eq!(decode_any(&env).unwrap(), env);
        assert_eq!(
            decode_any(b"plain text").unwrap_err(),
            EnvelopeError::InvalidBase64
        );
    }
}
