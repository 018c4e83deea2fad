/**
 * Envelope v1 (SPEC §2):
 *
 * ```text
 * offset 0   1 byte    version = 0x01
 * offset 1   12 bytes  IV (random per encryption)
 * offset 13  16 bytes  GCM tag
 * offset 29  n bytes   ciphertext
 * ```
 *
 * WebCrypto's AES-GCM produces and consumes `ciphertext ‖ tag`; these
 * helpers reorder to and from the envelope layout.
 *
 * @module
 */
import { base64Decode, base64Encode } from './base64.js';
import { AuthenticationFailedError, EnvelopeTooShortError, InvalidInputError, UnsupportedVersionError, } from './errors.js';
import { resolveSubtle } from './provider.js';
import { utf8Encode } from './utf8.js';
import { isUint8Array } from './bytes.js';
/** Version byte of envelope v1. */
export const ENVELOPE_V1_VERSION = 0x01;
/** IV length of envelope v1, in bytes. */
export const ENVELOPE_V1_IV_LENGTH = 12;
/** GCM tag length of envelope v1, in bytes. */
export const ENVELOPE_V1_TAG_LENGTH = 16;
/** Header length (version ‖ IV ‖ tag): the minimum envelope size, in bytes. */
export const ENVELOPE_V1_HEADER_LENGTH = 1 + ENVELOPE_V1_IV_LENGTH + ENVELOPE_V1_TAG_LENGTH;
/** Encodes a {@link Context} as associated-data bytes (`undefined` for none). */
export function contextBytes(context) {
    if (context === undefined || context === null) {
        return undefined;
    }
    if (typeof context === 'string') {
        return context.length === 0 ? undefined : utf8Encode(context);
    }
    if (isUint8Array(context)) {
        return context.length === 0 ? undefined : context;
    }
    throw new InvalidInputError('context must be a string or a Uint8Array');
}
/** Returns the envelope bytes: decodes strict base64 when given a string. */
export function envelopeBytes(envelope) {
    if (typeof envelope === 'string') {
        return base64Decode(envelope);
    }
    if (isUint8Array(envelope)) {
        return envelope;
    }
    throw new InvalidInputError('envelope must be a base64 string or a Uint8Array');
}
/**
 * Checks an envelope's structure without a key (version and sizes) and
 * splits it. Accepts the binary form or its base64 text.
 *
 * Checks run in this order: base64 (strings only), then the version byte
 * (an empty input is too short), then the length.
 *
 * @throws {@link InvalidBase64Error} if a string is not strict base64,
 * {@link UnsupportedVersionError} if the first byte is not 0x01,
 * {@link EnvelopeTooShortError} if empty or below 29 bytes.
 */
export function parseEnvelope(envelope) {
    const bytes = envelopeBytes(envelope);
    // Same order as the Rust implementation and the vectors: the version byte
    // first (an empty input is too short), then the length.
    const version = bytes[0];
    if (version === undefined) {
        throw new EnvelopeTooShortError(0);
    }
    if (version !== ENVELOPE_V1_VERSION) {
        throw new UnsupportedVersionError(version);
    }
    if (bytes.length < ENVELOPE_V1_HEADER_LENGTH) {
        throw new EnvelopeTooShortError(bytes.length);
    }
    return {
        version,
        iv: bytes.subarray(1, 1 + ENVELOPE_V1_IV_LENGTH),
        tag: bytes.subarray(1 + ENVELOPE_V1_IV_LENGTH, ENVELOPE_V1_HEADER_LENGTH),
        ciphertext: bytes.subarray(ENVELOPE_V1_HEADER_LENGTH),
    };
}
function gcmParams(iv, aad) {
    return aad === undefined ? { name: 'AES-GCM', iv, tagLength: 128 } : { name: 'AES-GCM', iv, tagLength: 128, additionalData: aad };
}
/**
 * Seals `plaintext` into a binary v1 envelope with the given IV.
 *
 * The IV is a parameter so that test vectors are reproducible; it MUST be
 * fresh and random for every encryption under a key (reusing an IV with
 * AES-GCM breaks confidentiality and authenticity). Application code should
 * use {@link ZenalyzeEncryption}, which draws it from the CSPRNG.
 */
export async function sealV1(key, iv, plaintext, aad, options) {
    if (!isUint8Array(iv) || iv.length !== ENVELOPE_V1_IV_LENGTH) {
        throw new InvalidInputError(`iv must be a Uint8Array of ${ENVELOPE_V1_IV_LENGTH} bytes`);
    }
    if (!isUint8Array(plaintext)) {
        throw new InvalidInputError('plaintext must be a Uint8Array');
    }
    const subtle = resolveSubtle(options);
    const ad = contextBytes(aad);
    const sealed = new Uint8Array(await subtle.encrypt(gcmParams(iv, ad), key, plaintext));
    const ctLen = sealed.length - ENVELOPE_V1_TAG_LENGTH;
    if (ctLen !== plaintext.length) {
        throw new InvalidInputError('the crypto implementation returned an AES-GCM output of unexpected length');
    }
    const out = new Uint8Array(ENVELOPE_V1_HEADER_LENGTH + ctLen);
    out[0] = ENVELOPE_V1_VERSION;
    out.set(iv, 1);
    out.set(sealed.subarray(ctLen), 1 + ENVELOPE_V1_IV_LENGTH);
    out.set(sealed.subarray(0, ctLen), ENVELOPE_V1_HEADER_LENGTH);
    return out;
}
/**
 * Opens a v1 envelope (binary or base64 text) and returns the plaintext.
 *
 * @throws {@link InvalidBase64Error}, {@link EnvelopeTooShortError},
 * {@link UnsupportedVersionError} as {@link parseEnvelope};
 * {@link AuthenticationFailedError} for a wrong key, a wrong context or any
 * modification of the envelope.
 */
export async function openV1(key, envelope, aad, options) {
    // Bytes decoded from base64 here belong to this call and may be rearranged
    // in place; a caller's Uint8Array is never modified.
    const owned = typeof envelope === 'string';
    const bytes = envelopeBytes(envelope);
    const parsed = parseEnvelope(bytes);
    const subtle = resolveSubtle(options);
    const ad = contextBytes(aad);
    const iv = parsed.iv.slice();
    const n = parsed.ciphertext.length;
    let joined;
    if (owned) {
        // WebCrypto wants ciphertext ‖ tag: move the ciphertext to the front of
        // the buffer and put the tag after it, without a second allocation.
        const tag = parsed.tag.slice();
        bytes.copyWithin(0, ENVELOPE_V1_HEADER_LENGTH);
        bytes.set(tag, n);
        joined = bytes.subarray(0, n + ENVELOPE_V1_TAG_LENGTH);
    }
    else {
        joined = new Uint8Array(n + ENVELOPE_V1_TAG_LENGTH);
        joined.set(parsed.ciphertext, 0);
        joined.set(parsed.tag, n);
    }
    let plain;
    try {
        plain = await subtle.decrypt(gcmParams(iv, ad), key, joined);
    }
    catch (err) {
        const name = err?.name;
        if (err instanceof TypeError || name === 'InvalidAccessError') {
            // A programming error (e.g. a key that is not an AES-GCM decryption key), not a bad envelope.
            throw new InvalidInputError('the key cannot be used for AES-GCM decryption');
        }
        throw new AuthenticationFailedError();
    }
    return new Uint8Array(plain);
}
/** Encodes a binary envelope as standard base64 with padding (the text transport form). */
export function encodeEnvelope(envelope) {
    return base64Encode(envelope);
}
