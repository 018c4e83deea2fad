//! Pure core of the Encrypted HTTP Body Protocol (EHBP) as published by
//! Tinfoil, used by the Zenalyze enclave (server half) and client SDK
//! (client half).
//!
//! * HPKE (RFC 9180) base mode, DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 /
//!   AES-256-GCM, request info `"ehbp request"`;
//! * bodies framed as `u32 BE length ‖ AEAD ciphertext` chunks;
//! * responses sealed with a key derived as in OHTTP (RFC 9458 §4.4) from
//!   `Export("ehbp response", 32)` and a 32-byte response nonce; chunk `i`
//!   uses `aead_nonce XOR i`;
//! * key configs as RFC 9458 `key_config`, served raw at
//!   `/.well-known/hpke-keys` as EHBP clients parse them.
//!
//! No I/O, no async, no clock. Randomness comes from the OS RNG or from a
//! caller-supplied RNG (`*_with_rng`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
pub mod framing;
mod keyconfig;
mod message;

pub use error::{Code, EhbpError};
pub use keyconfig::{KeyConfig, ServerKey, KEY_CONFIG_LEN, PUBLIC_KEY_LEN};
pub use message::{
    open_request, parse_encapsulated_key, parse_response_nonce, random_response_nonce,
    seal_request, seal_request_with_rng, OpenedRequest, ResponseContext, ResponseOpener,
    SealedRequest, EXPORT_LEN, RESPONSE_NONCE_LEN, TAG_LEN,
};

/// The HPKE KEM: DHKEM(X25519, HKDF-SHA256).
pub type HpkeKem = hpke::kem::X25519HkdfSha256;
/// The HPKE KDF: HKDF-SHA256.
pub type HpkeKdf = hpke::kdf::HkdfSha256;
/// The HPKE AEAD: AES-256-GCM.
pub type HpkeAead = hpke::aead::AesGcm256;

/// HPKE KEM id of DHKEM(X25519, HKDF-SHA256).
pub const KEM_ID: u16 = 0x0020;
/// HPKE KDF id of HKDF-SHA256.
pub const KDF_ID: u16 = 0x0001;
/// HPKE AEAD id of AES-256-GCM.
pub const AEAD_ID: u16 = 0x0002;

/// HPKE `info` of the request context.
pub const REQUEST_INFO: &[u8] = b"ehbp request";
/// HPKE exporter label of the response secret.
pub const EXPORT_LABEL: &[u8] = b"ehbp response";

/// Request header carrying the encapsulated key (lowercase hex).
pub const ENCAPSULATED_KEY_HEADER: &str = "ehbp-encapsulated-key";
/// Response header carrying the response nonce (lowercase hex).
pub const RESPONSE_NONCE_HEADER: &str = "ehbp-response-nonce";
/// Path of the key configuration.
pub const KEYS_PATH: &str = "/.well-known/hpke-keys";
/// Media type of the key configuration.
pub const KEYS_MEDIA_TYPE: &str = "application/ohttp-keys";
/// Media type of problem details.
pub const PROBLEM_MEDIA_TYPE: &str = "application/problem+json";
/// Problem type of a key-configuration mismatch (422).
pub const KEY_CONFIG_PROBLEM_TYPE: &str = "urn:ietf:params:ehbp:error:key-config";

/// The 422 problem document for a key-configuration mismatch.
pub fn key_config_problem_json() -> &'static str {
    r#"{"type":"urn:ietf:params:ehbp:error:key-config","title":"key configuration mismatch: refresh /.well-known/hpke-keys and retry"}"#
}
