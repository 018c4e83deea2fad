//! RFC 9458 `key_config` encoding as EHBP clients parse it, and the
//! server's X25519 HPKE key.

use core::fmt;

use hpke::{Deserializable, Kem as _, Serializable};
use zeroize::Zeroizing;

use crate::error::{Code, EhbpError};
use crate::{HpkeKem, AEAD_ID, KDF_ID, KEM_ID};

/// Length of an X25519 public key / encapsulated key.
pub const PUBLIC_KEY_LEN: usize = 32;

/// Length of the encoded `key_config` this crate emits:
/// `key_id(1) ‖ kem_id(2) ‖ public_key(32) ‖ suites_len(2) ‖ kdf_id(2) ‖ aead_id(2)`.
pub const KEY_CONFIG_LEN: usize = 1 + 2 + PUBLIC_KEY_LEN + 2 + 4;

/// A public HPKE key configuration (RFC 9458 §3) for the single EHBP suite
/// DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyConfig {
    key_id: u8,
    public_key: [u8; PUBLIC_KEY_LEN],
}

impl fmt::Debug for KeyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyConfig")
            .field("key_id", &self.key_id)
            .field("public_key", &hex::encode(self.public_key))
            .finish()
    }
}

impl KeyConfig {
    /// Builds a key config from its key id and X25519 public key.
    pub fn new(key_id: u8, public_key: [u8; PUBLIC_KEY_LEN]) -> Self {
        Self { key_id, public_key }
    }

    /// The key id (one byte, RFC 9458).
    pub fn key_id(&self) -> u8 {
        self.key_id
    }

    /// The X25519 public key.
    pub fn public_key(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.public_key
    }

    /// Encodes one `key_config` with exactly one cipher suite, without the
    /// two-byte length prefix of the `application/ohttp-keys` list: this is
    /// the body the published EHBP clients parse at `/.well-known/hpke-keys`.
    pub fn encode(&self) -> [u8; KEY_CONFIG_LEN] {
        let mut out = [0u8; KEY_CONFIG_LEN];
        out[0] = self.key_id;
        out[1..3].copy_from_slice(&KEM_ID.to_be_bytes());
        out[3..35].copy_from_slice(&self.public_key);
        out[35..37].copy_from_slice(&4u16.to_be_bytes());
        out[37..39].copy_from_slice(&KDF_ID.to_be_bytes());
        out[39..41].copy_from_slice(&AEAD_ID.to_be_bytes());
        out
    }

    /// Parses exactly one `key_config` (no trailing bytes).
    ///
    /// The KEM must be DHKEM(X25519, HKDF-SHA256) and the first cipher suite
    /// HKDF-SHA256 / AES-256-GCM, as EHBP clients use the first suite;
    /// otherwise [`Code::UnsupportedSuite`]. Malformed input gives
    /// [`Code::InvalidKeyConfig`].
    pub fn parse(bytes: &[u8]) -> Result<Self, EhbpError> {
        let bad = |d| EhbpError::new(Code::InvalidKeyConfig, d);
        let (&key_id, rest) = bytes.split_first().ok_or(bad("empty key config"))?;
        let (kem, rest) = rest
            .split_first_chunk::<2>()
            .ok_or(bad("key config truncated"))?;
        if u16::from_be_bytes(*kem) != KEM_ID {
            return Err(EhbpError::new(Code::UnsupportedSuite, "unsupported KEM"));
        }
        let (pk, rest) = rest
            .split_first_chunk::<PUBLIC_KEY_LEN>()
            .ok_or(bad("key config truncated"))?;
        let (suites_len, rest) = rest
            .split_first_chunk::<2>()
            .ok_or(bad("key config truncated"))?;
        let suites_len = usize::from(u16::from_be_bytes(*suites_len));
        if suites_len == 0 || suites_len % 4 != 0 {
            return Err(bad("cipher suite list malformed"));
        }
        if rest.len() != suites_len {
            return Err(bad("key config length mismatch"));
        }
        let (first, _) = rest
            .split_first_chunk::<4>()
            .ok_or(bad("key config truncated"))?;
        let kdf = u16::from_be_bytes([first[0], first[1]]);
        let aead = u16::from_be_bytes([first[2], first[3]]);
        if kdf != KDF_ID || aead != AEAD_ID {
            return Err(EhbpError::new(
                Code::UnsupportedSuite,
                "unsupported cipher suite",
            ));
        }
        <HpkeKem as hpke::Kem>::PublicKey::from_bytes(pk).map_err(|_| bad("invalid public key"))?;
        Ok(Self {
            key_id,
            public_key: *pk,
        })
    }

    /// Parses the body of a `/.well-known/hpke-keys` answer: either one raw
    /// `key_config` (what EHBP servers emit) or an RFC 9458
    /// `application/ohttp-keys` list of length-prefixed configs, of which
    /// the first is used. The two forms cannot be confused for this suite:
    /// a raw config's second byte is the high byte of KEM id 0x0020 (zero),
    /// a list's second byte is the low byte of a non-zero length.
    pub fn parse_keys_body(bytes: &[u8]) -> Result<Self, EhbpError> {
        match bytes {
            [_, 0, ..] => Self::parse(bytes),
            [hi, lo, rest @ ..] => {
                let len = usize::from(u16::from_be_bytes([*hi, *lo]));
                let first = rest.get(..len).ok_or(EhbpError::new(
                    Code::InvalidKeyConfig,
                    "key config list truncated",
                ))?;
                Self::parse(first)
            }
            _ => Err(EhbpError::new(
                Code::InvalidKeyConfig,
                "key config truncated",
            )),
        }
    }

    pub(crate) fn hpke_public_key(&self) -> Result<<HpkeKem as hpke::Kem>::PublicKey, EhbpError> {
        <HpkeKem as hpke::Kem>::PublicKey::from_bytes(&self.public_key)
            .map_err(|_| EhbpError::new(Code::InvalidKeyConfig, "invalid public key"))
    }
}

/// A server's X25519 HPKE key pair with its key id.
///
/// The private key is zeroized on drop (by the `hpke`/`x25519-dalek` types
/// and by [`Zeroizing`] for every byte copy this crate makes) and never
/// printed by `Debug`.
#[derive(Clone)]
pub struct ServerKey {
    key_id: u8,
    secret: <HpkeKem as hpke::Kem>::PrivateKey,
    public: [u8; PUBLIC_KEY_LEN],
}

impl fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerKey")
            .field("key_id", &self.key_id)
            .field("public_key", &hex::encode(self.public))
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl ServerKey {
    /// Generates a fresh key pair from the operating system's RNG.
    pub fn generate(key_id: u8) -> Self {
        let (secret, public) = HpkeKem::gen_keypair();
        Self::from_parts(key_id, secret, &public)
    }

    /// Derives a key pair deterministically from input keying material
    /// (RFC 9180 `DeriveKeyPair`); used by test vectors.
    pub fn derive(key_id: u8, ikm: &[u8]) -> Self {
        let (secret, public) = HpkeKem::derive_keypair(ikm);
        Self::from_parts(key_id, secret, &public)
    }

    /// Rebuilds a key from its 32 private key bytes (as kept in a sealed key set).
    pub fn from_secret_bytes(key_id: u8, secret: &[u8]) -> Result<Self, EhbpError> {
        let secret = <HpkeKem as hpke::Kem>::PrivateKey::from_bytes(secret)
            .map_err(|_| EhbpError::new(Code::InvalidInput, "invalid private key"))?;
        let public = HpkeKem::sk_to_pk(&secret);
        Ok(Self::from_parts(key_id, secret, &public))
    }

    fn from_parts(
        key_id: u8,
        secret: <HpkeKem as hpke::Kem>::PrivateKey,
        public: &<HpkeKem as hpke::Kem>::PublicKey,
    ) -> Self {
        let mut pk = [0u8; PUBLIC_KEY_LEN];
        pk.copy_from_slice(&public.to_bytes());
        Self {
            key_id,
            secret,
            public: pk,
        }
    }

    /// The key id.
    pub fn key_id(&self) -> u8 {
        self.key_id
    }

    /// The public key configuration clients seal to.
    pub fn key_config(&self) -> KeyConfig {
        KeyConfig::new(self.key_id, self.public)
    }

    /// A zeroizing copy of the 32 private key bytes, for sealing the key set.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; PUBLIC_KEY_LEN]> {
        let mut out = Zeroizing::new([0u8; PUBLIC_KEY_LEN]);
        self.secret.write_exact(out.as_mut());
        out
    }

    pub(crate) fn hpke_secret(&self) -> &<HpkeKem as hpke::Kem>::PrivateKey {
        &self.secret
    }
}
