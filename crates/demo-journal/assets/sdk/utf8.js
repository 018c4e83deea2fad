/**
 * UTF-8 encoding and strict decoding without depending on `TextEncoder` /
 * `TextDecoder` (absent from some React Native engines). When the platform
 * provides them they are used; the pure fallbacks behave identically
 * (lone surrogates encode as U+FFFD; decoding rejects any malformed input).
 *
 * @module
 */
const g = globalThis;
function makeNativeEncoder() {
    try {
        return g.TextEncoder ? new g.TextEncoder() : undefined;
    }
    catch {
        return undefined;
    }
}
function makeNativeDecoder() {
    try {
        return g.TextDecoder ? new g.TextDecoder('utf-8', { fatal: true, ignoreBOM: true }) : undefined;
    }
    catch {
        return undefined;
    }
}
let nativeEncoder = null;
let nativeDecoder = null;
/** Pure UTF-8 encoder (WHATWG semantics: lone surrogates become U+FFFD). */
export function utf8EncodePure(text) {
    const out = [];
    for (let i = 0; i < text.length; i++) {
        let cp = text.charCodeAt(i);
        if (cp >= 0xd800 && cp <= 0xdbff) {
            const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
            if (next >= 0xdc00 && next <= 0xdfff) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (next - 0xdc00);
                i++;
            }
            else {
                cp = 0xfffd;
            }
        }
        else if (cp >= 0xdc00 && cp <= 0xdfff) {
            cp = 0xfffd;
        }
        if (cp < 0x80) {
            out.push(cp);
        }
        else if (cp < 0x800) {
            out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
        }
        else if (cp < 0x10000) {
            out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
        }
        else {
            out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
        }
    }
    return Uint8Array.from(out);
}
/**
 * Pure strict UTF-8 decoder: returns `undefined` on any malformed sequence
 * (truncation, overlong form, surrogate code point, value above U+10FFFF).
 * A leading byte-order mark is kept as U+FEFF, not stripped.
 */
export function utf8DecodePure(bytes) {
    let out = '';
    const chunk = [];
    const n = bytes.length;
    let i = 0;
    while (i < n) {
        const b0 = bytes[i];
        let cp;
        let need;
        let min;
        if (b0 < 0x80) {
            cp = b0;
            need = 0;
            min = 0;
        }
        else if (b0 >= 0xc2 && b0 <= 0xdf) {
            cp = b0 & 0x1f;
            need = 1;
            min = 0x80;
        }
        else if (b0 >= 0xe0 && b0 <= 0xef) {
            cp = b0 & 0x0f;
            need = 2;
            min = 0x800;
        }
        else if (b0 >= 0xf0 && b0 <= 0xf4) {
            cp = b0 & 0x07;
            need = 3;
            min = 0x10000;
        }
        else {
            return undefined;
        }
        for (let k = 1; k <= need; k++) {
            const b = bytes[i + k];
            if (b === undefined || (b & 0xc0) !== 0x80) {
                return undefined;
            }
            cp = (cp << 6) | (b & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return undefined;
        }
        i += need + 1;
        if (cp >= 0x10000) {
            const v = cp - 0x10000;
            chunk.push(0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
        }
        else {
            chunk.push(cp);
        }
        if (chunk.length >= 4096) {
            out += String.fromCharCode(...chunk);
            chunk.length = 0;
        }
    }
    if (chunk.length > 0) {
        out += String.fromCharCode(...chunk);
    }
    return out;
}
/** Encodes a string as UTF-8 (lone surrogates become U+FFFD, as in `TextEncoder`). */
export function utf8Encode(text) {
    if (nativeEncoder === null) {
        nativeEncoder = makeNativeEncoder();
    }
    return nativeEncoder ? nativeEncoder.encode(text) : utf8EncodePure(text);
}
/** Strictly decodes UTF-8; returns `undefined` if the bytes are not well-formed UTF-8. */
export function utf8DecodeStrict(bytes) {
    if (nativeDecoder === null) {
        nativeDecoder = makeNativeDecoder();
    }
    if (nativeDecoder) {
        try {
            return nativeDecoder.decode(bytes);
        }
        catch {
            return undefined;
        }
    }
    return utf8DecodePure(bytes);
}
