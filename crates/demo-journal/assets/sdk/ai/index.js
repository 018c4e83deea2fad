/**
 * `@zenalyze/client-sdk/ai` — building blocks for AI requests sealed end to
 * end to the attested enclave (SPEC §5): HPKE (RFC 9180) base mode for
 * DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM, the Encrypted
 * HTTP Body Protocol (EHBP) framing and response keys (byte-compatible with
 * the Rust `zenalyze-ehbp` crate), and verification of the enclave's AWS Nitro attestation document (SPEC §4)
 * — verify the document first, then seal to the key config it commits to
 * ({@link keyConfigFromAttestation}); a key config alone proves nothing about
 * the code that holds its key.
 *
 * Zero runtime dependencies; needs WebCrypto with X25519 (Chrome/Edge 133+,
 * Firefox 130+, Safari 17+, Node 20+).
 *
 * @packageDocumentation
 */
export { KEM_ID, KDF_ID, AEAD_ID, X25519_PUBLIC_KEY_LEN, HpkeContext, setupBaseS, setupBaseR, generateEphemeralKey, importX25519PrivateKey, } from './hpke.js';
export { REQUEST_INFO, EXPORT_LABEL, ENCAPSULATED_KEY_HEADER, RESPONSE_NONCE_HEADER, KEYS_PATH, RESPONSE_NONCE_LEN, EXPORT_LEN, KEY_CONFIG_LEN, DEFAULT_MAX_CHUNK_LEN, DEFAULT_CHUNK_SIZE, parseKeyConfig, parseKeysBody, encodeKeyConfig, frame, unframe, sealRequest, openRequest, randomResponseNonce, ResponseContext, } from './ehbp.js';
export { EhbpError, AuthenticationFailedError, InvalidInputError, CryptoUnavailableError, ZenalyzeError } from '../errors.js';
export { AWS_NITRO_ROOT_G1_SHA256, MAX_DOCUMENT_LEN, DEFAULT_MAX_AGE_MS, DEFAULT_MAX_FUTURE_SKEW_MS, REQUIRED_PCRS, verifyAttestation, keyConfigFromAttestation, } from './attestation.js';
export { AttestationError } from '../errors.js';
export { ZenalyzeAI } from './client.js';
export { AiRequestError } from '../errors.js';
