/**
 * Standard base64 (RFC 4648 §4, alphabet `A–Z a–z 0–9 + /`) with `=` padding.
 *
 * Decoding is strict, like Rust's `base64::engine::general_purpose::STANDARD`:
 * the length must be a multiple of 4, padding must be present and correct,
 * the unused low bits of the last symbol must be zero, and no whitespace or
 * other character is accepted anywhere.
 *
 * @module
 */
import { InvalidBase64Error } from './errors.js';
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const ENC = new Uint8Array(64);
const DEC = new Int16Array(256).fill(-1);
for (let i = 0; i < 64; i++) {
    const c = ALPHABET.charCodeAt(i);
    ENC[i] = c;
    DEC[c] = i;
}
const PAD = 0x3d; // '='
const nativeToBase64 = Uint8Array.prototype.toBase64;
const nativeFromBase64 = Uint8Array.fromBase64;
let latin1 = null;
function asciiToString(bytes) {
    if (latin1 === null) {
        const Ctor = globalThis.TextDecoder;
        try {
            latin1 = Ctor ? new Ctor('latin1') : undefined;
        }
        catch {
            latin1 = undefined;
        }
    }
    if (latin1) {
        return latin1.decode(bytes);
    }
    let s = '';
    for (let i = 0; i < bytes.length; i += 8192) {
        s += String.fromCharCode(...bytes.subarray(i, i + 8192));
    }
    return s;
}
/** Pure-JS standard base64 encoder with padding (exported for tests). */
export function base64EncodePure(bytes) {
    const n = bytes.length;
    const out = new Uint8Array(Math.ceil(n / 3) * 4);
    let o = 0;
    let i = 0;
    for (; i + 2 < n; i += 3) {
        const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
        out[o++] = ENC[v >> 18];
        out[o++] = ENC[(v >> 12) & 63];
        out[o++] = ENC[(v >> 6) & 63];
        out[o++] = ENC[v & 63];
    }
    const rest = n - i;
    if (rest === 1) {
        const v = bytes[i] << 16;
        out[o++] = ENC[v >> 18];
        out[o++] = ENC[(v >> 12) & 63];
        out[o++] = PAD;
        out[o++] = PAD;
    }
    else if (rest === 2) {
        const v = (bytes[i] << 16) | (bytes[i + 1] << 8);
        out[o++] = ENC[v >> 18];
        out[o++] = ENC[(v >> 12) & 63];
        out[o++] = ENC[(v >> 6) & 63];
        out[o++] = PAD;
    }
    return asciiToString(out);
}
/** Pure-JS strict standard base64 decoder (exported for tests). Throws {@link InvalidBase64Error}. */
export function base64DecodePure(text) {
    const len = text.length;
    if (len % 4 !== 0) {
        throw new InvalidBase64Error('length is not a multiple of 4');
    }
    if (len === 0) {
        return new Uint8Array(0);
    }
    let pad = 0;
    if (text.charCodeAt(len - 1) === PAD) {
        pad = text.charCodeAt(len - 2) === PAD ? 2 : 1;
    }
    const outLen = (len / 4) * 3 - pad;
    const out = new Uint8Array(outLen);
    const body = len - (pad === 0 ? 0 : 4);
    let o = 0;
    for (let i = 0; i < body; i += 4) {
        const a = DEC[text.charCodeAt(i) & 0xff];
        const b = DEC[text.charCodeAt(i + 1) & 0xff];
        const c = DEC[text.charCodeAt(i + 2) & 0xff];
        const d = DEC[text.charCodeAt(i + 3) & 0xff];
        if ((a | b | c | d) < 0 || (text.charCodeAt(i) | text.charCodeAt(i + 1) | text.charCodeAt(i + 2) | text.charCodeAt(i + 3)) > 0x7f) {
            throw new InvalidBase64Error(`invalid character in group at offset ${i}`);
        }
        const v = (a << 18) | (b << 12) | (c << 6) | d;
        out[o++] = v >> 16;
        out[o++] = (v >> 8) & 0xff;
        out[o++] = v & 0xff;
    }
    if (pad > 0) {
        const i = body;
        const c0 = text.charCodeAt(i);
        const c1 = text.charCodeAt(i + 1);
        const c2 = text.charCodeAt(i + 2);
        const a = c0 > 0x7f ? -1 : DEC[c0];
        const b = c1 > 0x7f ? -1 : DEC[c1];
        if (a < 0 || b < 0) {
            throw new InvalidBase64Error(`invalid character in group at offset ${i}`);
        }
        if (pad === 2) {
            if ((b & 0x0f) !== 0) {
                throw new InvalidBase64Error('non-zero trailing bits before padding');
            }
            out[o++] = (a << 2) | (b >> 4);
        }
        else {
            const c = c2 > 0x7f ? -1 : DEC[c2];
            if (c < 0) {
                throw new InvalidBase64Error(`invalid character in group at offset ${i}`);
            }
            if ((c & 0x03) !== 0) {
                throw new InvalidBase64Error('non-zero trailing bits before padding');
            }
            const v = (a << 18) | (b << 12) | (c << 6);
            out[o++] = v >> 16;
            out[o++] = (v >> 8) & 0xff;
        }
    }
    return out;
}
/** Encodes bytes as standard base64 with `=` padding. */
export function base64Encode(bytes) {
    if (nativeToBase64) {
        return nativeToBase64.call(bytes);
    }
    return base64EncodePure(bytes);
}
// Characters the native decoder would silently skip; strict decoding rejects them.
const ASCII_WHITESPACE = /[\t\n\f\r ]/;
/**
 * Strictly decodes standard base64 with padding.
 *
 * @throws {@link InvalidBase64Error} on a wrong length, a character outside
 * the standard alphabet (including whitespace and URL-safe `-`/`_`), missing
 * or misplaced padding, or non-zero trailing bits.
 */
export function base64Decode(text) {
    if (typeof text !== 'string') {
        throw new InvalidBase64Error('input is not a string');
    }
    if (nativeFromBase64) {
        // The native decoder skips ASCII whitespace and accepts unpadded input
        // unless told otherwise: enforce the length and whitespace rules first.
        if (text.length % 4 !== 0) {
            throw new InvalidBase64Error('length is not a multiple of 4');
        }
        if (ASCII_WHITESPACE.test(text)) {
            throw new InvalidBase64Error('whitespace is not allowed');
        }
        try {
            return nativeFromBase64(text, { alphabet: 'base64', lastChunkHandling: 'strict' });
        }
        catch {
            throw new InvalidBase64Error('malformed base64');
        }
    }
    return base64DecodePure(text);
}
