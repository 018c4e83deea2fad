/**
 * A small strict CBOR (RFC 8949) decoder for attestation documents:
 * definite lengths only, no floats, bounded depth, every length checked
 * against the remaining input before anything is read.
 *
 * @module
 */
import { utf8DecodeStrict } from '../utf8.js';
/** Thrown for malformed or unsupported CBOR. */
export class CborError extends Error {
    constructor(message) {
        super(message);
        this.name = 'CborError';
    }
}
const MAX_DEPTH = 16;
class Reader {
    bytes;
    pos = 0;
    constructor(bytes) {
        this.bytes = bytes;
    }
    byte() {
        const b = this.bytes[this.pos];
        if (b === undefined)
            throw new CborError('unexpected end of CBOR input');
        this.pos++;
        return b;
    }
    take(n) {
        if (n > BigInt(this.bytes.length - this.pos))
            throw new CborError('CBOR length exceeds the input');
        const start = this.pos;
        this.pos += Number(n);
        return this.bytes.subarray(start, this.pos);
    }
    argument(info) {
        if (info < 24)
            return BigInt(info);
        const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
        if (size === 0)
            throw new CborError('indefinite lengths and reserved values are not supported');
        let v = 0n;
        for (let i = 0; i < size; i++)
            v = (v << 8n) | BigInt(this.byte());
        return v;
    }
}
function decodeItem(r, depth) {
    if (depth > MAX_DEPTH)
        throw new CborError('CBOR nesting too deep');
    const initial = r.byte();
    const major = initial >> 5;
    const info = initial & 0x1f;
    if (major === 7) {
        if (info === 20)
            return { kind: 'simple', value: 'false' };
        if (info === 21)
            return { kind: 'simple', value: 'true' };
        if (info === 22)
            return { kind: 'simple', value: 'null' };
        if (info === 23)
            return { kind: 'simple', value: 'undefined' };
        throw new CborError('unsupported CBOR simple value or float');
    }
    const arg = r.argument(info);
    switch (major) {
        case 0:
            return { kind: 'uint', value: arg };
        case 1:
            return { kind: 'nint', value: -1n - arg };
        case 2:
            return { kind: 'bytes', value: r.take(arg) };
        case 3: {
            const text = utf8DecodeStrict(r.take(arg));
            if (text === undefined)
                throw new CborError('CBOR text is not UTF-8');
            return { kind: 'text', value: text };
        }
        case 4: {
            if (arg > BigInt(r.bytes.length - r.pos))
                throw new CborError('CBOR array length exceeds the input');
            const items = [];
            for (let i = 0n; i < arg; i++)
                items.push(decodeItem(r, depth + 1));
            return { kind: 'array', value: items };
        }
        case 5: {
            if (arg * 2n > BigInt(r.bytes.length - r.pos))
                throw new CborError('CBOR map length exceeds the input');
            const entries = [];
            for (let i = 0n; i < arg; i++)
                entries.push([decodeItem(r, depth + 1), decodeItem(r, depth + 1)]);
            return { kind: 'map', value: entries };
        }
        default:
            return { kind: 'tag', tag: arg, value: decodeItem(r, depth + 1) };
    }
}
/** Decodes exactly one CBOR item; trailing bytes are an error. */
export function decodeCbor(bytes) {
    const r = new Reader(bytes);
    const value = decodeItem(r, 0);
    if (r.pos !== bytes.length)
        throw new CborError('trailing bytes after the CBOR item');
    return value;
}
function head(major, n) {
    if (n < 24)
        return Uint8Array.of((major << 5) | n);
    if (n < 0x100)
        return Uint8Array.of((major << 5) | 24, n);
    if (n < 0x10000)
        return Uint8Array.of((major << 5) | 25, n >> 8, n & 0xff);
    return Uint8Array.of((major << 5) | 26, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
}
/** Encodes a CBOR byte string. */
export function encodeBytes(b) {
    const h = head(2, b.length);
    const out = new Uint8Array(h.length + b.length);
    out.set(h);
    out.set(b, h.length);
    return out;
}
/** Encodes a CBOR text string (ASCII only here). */
export function encodeText(s) {
    const b = Uint8Array.from(s, (c) => c.charCodeAt(0));
    const h = head(3, b.length);
    const out = new Uint8Array(h.length + b.length);
    out.set(h);
    out.set(b, h.length);
    return out;
}
/** Encodes a CBOR array header for `n` items. */
export function encodeArrayHead(n) {
    return head(4, n);
}
