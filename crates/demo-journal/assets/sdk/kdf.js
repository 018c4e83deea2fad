/**
 * Key derivation, profile v1 (SPEC §2):
 *
 * ```text
 * email'   = lowercase(NFC(trim(email)))
 * salt     = SHA-256(UTF-8(email'))
 * password'= NFC(password)
 * key      = PBKDF2-HMAC-SHA256(UTF-8(password'), salt, 100000, 32 bytes)  → AES-256-GCM
 * ```
 *
 * @module
 */
import { InvalidInputError } from './errors.js';
import { resolveSubtle } from './provider.js';
import { utf8Encode } from './utf8.js';
/** PBKDF2 iteration count of profile v1 (fixed; a later profile raises it). */
export const KDF_V1_ITERATIONS = 100_000;
/** Length of the derived key in bytes (AES-256). */
export const KDF_V1_KEY_LENGTH = 32;
/**
 * Normalizes an email for profile v1: `toLowerCase(normalize("NFC", trim(email)))`.
 *
 * `trim()` removes JavaScript whitespace (Unicode White_Space plus U+FEFF) at
 * both ends; `toLowerCase()` is the locale-independent Unicode default case
 * mapping (so `"İ"` becomes `"i̇"`, U+0069 U+0307, in every locale).
 */
export function normalizeEmail(email) {
    if (typeof email !== 'string') {
        throw new InvalidInputError('email must be a string');
    }
    return email.trim().normalize('NFC').toLowerCase();
}
/** Normalizes a password for profile v1: NFC only (no trimming, no case folding). */
export function normalizePassword(password) {
    if (typeof password !== 'string') {
        throw new InvalidInputError('password must be a string');
    }
    return password.normalize('NFC');
}
/** Computes the profile-v1 salt: `SHA-256(UTF-8(normalizeEmail(email)))` (32 bytes). */
export async function saltV1(email, options) {
    const subtle = resolveSubtle(options);
    return new Uint8Array(await subtle.digest('SHA-256', utf8Encode(normalizeEmail(email))));
}
async function deriveWith(subtle, passwordBytes, salt) {
    const baseKey = await subtle.importKey('raw', passwordBytes, 'PBKDF2', false, ['deriveKey', 'deriveBits']);
    const params = { name: 'PBKDF2', hash: 'SHA-256', salt, iterations: KDF_V1_ITERATIONS };
    if (typeof subtle.deriveKey === 'function') {
        return subtle.deriveKey(params, baseKey, { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
    }
    if (typeof subtle.deriveBits === 'function') {
        const bits = new Uint8Array(await subtle.deriveBits(params, baseKey, KDF_V1_KEY_LENGTH * 8));
        try {
            return await subtle.importKey('raw', bits, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
        }
        finally {
            bits.fill(0);
        }
    }
    throw new InvalidInputError('the injected subtle implements neither deriveKey nor deriveBits');
}
/**
 * Derives the user's AES-256-GCM key (profile v1) as a NON-extractable
 * WebCrypto key usable only for `encrypt` and `decrypt`.
 *
 * The UTF-8 password buffer is zeroed after use; the JavaScript strings
 * passed in cannot be wiped (see the README's security notes).
 */
export async function deriveKeyV1(email, password, options) {
    const subtle = resolveSubtle(options);
    const passwordBytes = utf8Encode(normalizePassword(password));
    try {
        const salt = new Uint8Array(await subtle.digest('SHA-256', utf8Encode(normalizeEmail(email))));
        return await deriveWith(subtle, passwordBytes, salt);
    }
    finally {
        passwordBytes.fill(0);
    }
}
