/**
 * `@zenalyze/client-sdk` — end-to-end encryption of user data with a key
 * derived from the user's email and password (key profile v1, envelope v1).
 *
 * Zero runtime dependencies; runs on WebCrypto in browsers, Node 18+ and
 * React Native (with an injected `subtle`).
 *
 * @packageDocumentation
 */
export { ZenalyzeEncryption } from './client.js';
export { normalizeEmail, normalizePassword, saltV1, deriveKeyV1, KDF_V1_ITERATIONS, KDF_V1_KEY_LENGTH, } from './kdf.js';
export { sealV1, openV1, parseEnvelope, encodeEnvelope, contextBytes, ENVELOPE_V1_VERSION, ENVELOPE_V1_IV_LENGTH, ENVELOPE_V1_TAG_LENGTH, ENVELOPE_V1_HEADER_LENGTH, } from './envelope.js';
export { base64Encode, base64Decode } from './base64.js';
export { utf8Encode, utf8DecodeStrict } from './utf8.js';
export { ZenalyzeError, EnvelopeTooShortError, UnsupportedVersionError, InvalidBase64Error, AuthenticationFailedError, InvalidInputError, InvalidPayloadError, CryptoUnavailableError, DisposedError, EhbpError, AttestationError, } from './errors.js';
