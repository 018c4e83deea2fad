/**
 * HKDF-SHA256 (RFC 5869) Extract and Expand as separate steps on WebCrypto
 * HMAC, as HPKE's labeled functions and the EHBP response keys need them.
 *
 * @module
 */
/** Output length of SHA-256, in bytes. */
export const HASH_LEN = 32;
async function hmacKey(subtle, key) {
    // An empty HMAC key equals HashLen zero bytes (keys are zero-padded to the
    // block size); WebCrypto refuses zero-length HMAC keys, so use the zeros.
    const k = key.length === 0 ? new Uint8Array(HASH_LEN) : key;
    return subtle.importKey('raw', k, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
}
/** HMAC-SHA256(key, data). */
export async function hmacSha256(subtle, key, data) {
    const k = await hmacKey(subtle, key);
    return new Uint8Array(await subtle.sign('HMAC', k, data));
}
/** HKDF-Extract(salt, ikm) = HMAC-SHA256(salt, ikm); an empty salt means 32 zero bytes. */
export async function hkdfExtract(subtle, salt, ikm) {
    return hmacSha256(subtle, salt, ikm);
}
/** HKDF-Expand(prk, info, length), length ≤ 255 × 32. */
export async function hkdfExpand(subtle, prk, info, length) {
    if (!Number.isInteger(length) || length < 0 || length > 255 * HASH_LEN) {
        throw new RangeError('HKDF-Expand length out of range');
    }
    const k = await hmacKey(subtle, prk);
    const out = new Uint8Array(length);
    let prev = new Uint8Array(0);
    for (let i = 1, off = 0; off < length; i++) {
        const input = new Uint8Array(prev.length + info.length + 1);
        input.set(prev, 0);
        input.set(info, prev.length);
        input[input.length - 1] = i;
        prev = new Uint8Array(await subtle.sign('HMAC', k, input));
        out.set(prev.subarray(0, Math.min(HASH_LEN, length - off)), off);
        off += HASH_LEN;
    }
    prev.fill(0);
    return out;
}
/** Concatenates byte arrays. */
export function concat(...parts) {
    let n = 0;
    for (const p of parts)
        n += p.length;
    const out = new Uint8Array(n);
    let off = 0;
    for (const p of parts) {
        out.set(p, off);
        off += p.length;
    }
    return out;
}
/** I2OSP(value, length): big-endian unsigned integer of `length` bytes. */
export function i2osp(value, length) {
    const out = new Uint8Array(length);
    let v = value;
    for (let i = length - 1; i >= 0 && v > 0; i--) {
        out[i] = v & 0xff;
        v = Math.floor(v / 256);
    }
    return out;
}
