/**
 * Encrypted HTTP Body Protocol (EHBP, as published by Tinfoil), client and
 * server halves, byte-compatible with the Rust `zenalyze-ehbp` crate:
 *
 * - HPKE base mode to the enclave's key config, request info `"ehbp request"`,
 *   encapsulated key in the `Ehbp-Encapsulated-Key` header (lowercase hex);
 * - bodies framed as `u32 big-endian length ‖ AEAD ciphertext` chunks
 *   (zero-length chunks are skipped);
 * - response key and nonce derived as in OHTTP (RFC 9458 §4.4) from
 *   `Export("ehbp response", 32)` and the 32-byte `Ehbp-Response-Nonce`;
 *   chunk *i* uses `aead_nonce XOR i`.
 *
 * @module
 */
import { AuthenticationFailedError, EhbpError, InvalidInputError } from '../errors.js';
import { concat, hkdfExpand, hkdfExtract } from './hkdf.js';
import { AEAD_ID, KDF_ID, KEM_ID, X25519_PUBLIC_KEY_LEN, setupBaseR, setupBaseS } from './hpke.js';
import { aiRandomBytes, aiSubtle } from './subtle.js';
const ascii = (s) => Uint8Array.from(s, (c) => c.charCodeAt(0));
/** HPKE `info` of the request context. */
export const REQUEST_INFO = ascii('ehbp request');
/** HPKE exporter label of the response secret. */
export const EXPORT_LABEL = ascii('ehbp response');
/** Request header carrying the encapsulated key (lowercase hex). */
export const ENCAPSULATED_KEY_HEADER = 'Ehbp-Encapsulated-Key';
/** Response header carrying the response nonce (lowercase hex). */
export const RESPONSE_NONCE_HEADER = 'Ehbp-Response-Nonce';
/** Where gateways and enclaves serve the key config. */
export const KEYS_PATH = '/.well-known/hpke-keys';
/** Length of the response nonce. */
export const RESPONSE_NONCE_LEN = 32;
/** Length of the exported response secret. */
export const EXPORT_LEN = 32;
/** Length of an encoded key config with one cipher suite. */
export const KEY_CONFIG_LEN = 1 + 2 + X25519_PUBLIC_KEY_LEN + 2 + 4;
/** Default largest accepted chunk (ciphertext bytes of one frame): 16 MiB. */
export const DEFAULT_MAX_CHUNK_LEN = 16 * 1024 * 1024;
/** Default plaintext bytes per sealed chunk. */
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
function u16(bytes, at) {
    return (bytes[at] << 8) | bytes[at + 1];
}
/** Parses exactly one `key_config` (no trailing bytes) for the EHBP suite. */
export function parseKeyConfig(bytes) {
    const bad = (m) => new EhbpError('invalid_key_config', m);
    if (bytes.length < 3)
        throw bad('key config truncated');
    if (u16(bytes, 1) !== KEM_ID)
        throw new EhbpError('unsupported_suite', 'unsupported KEM');
    if (bytes.length < 3 + X25519_PUBLIC_KEY_LEN + 2)
        throw bad('key config truncated');
    const suitesLen = u16(bytes, 3 + X25519_PUBLIC_KEY_LEN);
    if (suitesLen === 0 || suitesLen % 4 !== 0)
        throw bad('cipher suite list malformed');
    const suites = 3 + X25519_PUBLIC_KEY_LEN + 2;
    if (bytes.length - suites !== suitesLen)
        throw bad('key config length mismatch');
    if (u16(bytes, suites) !== KDF_ID || u16(bytes, suites + 2) !== AEAD_ID) {
        throw new EhbpError('unsupported_suite', 'unsupported cipher suite');
    }
    return { keyId: bytes[0], publicKey: bytes.slice(3, 3 + X25519_PUBLIC_KEY_LEN) };
}
/**
 * Parses the body of `GET /.well-known/hpke-keys`: one raw `key_config` (what
 * EHBP servers emit) or an RFC 9458 `application/ohttp-keys` list of
 * length-prefixed configs, of which the first is used.
 */
export function parseKeysBody(bytes) {
    if (bytes.length < 2)
        throw new EhbpError('invalid_key_config', 'key config truncated');
    if (bytes[1] === 0)
        return parseKeyConfig(bytes);
    const len = u16(bytes, 0);
    if (bytes.length < 2 + len)
        throw new EhbpError('invalid_key_config', 'key config list truncated');
    return parseKeyConfig(bytes.subarray(2, 2 + len));
}
/** Encodes a key config with its single cipher suite (the `/.well-known/hpke-keys` body). */
export function encodeKeyConfig(config) {
    if (config.publicKey.length !== X25519_PUBLIC_KEY_LEN)
        throw new InvalidInputError('public key must be 32 bytes');
    const out = new Uint8Array(KEY_CONFIG_LEN);
    out[0] = config.keyId & 0xff;
    out.set([KEM_ID >> 8, KEM_ID & 0xff], 1);
    out.set(config.publicKey, 3);
    out.set([0, 4, KDF_ID >> 8, KDF_ID & 0xff, AEAD_ID >> 8, AEAD_ID & 0xff], 35);
    return out;
}
/** Lowercase hex. */
export function toHex(bytes) {
    let s = '';
    for (const b of bytes)
        s += b.toString(16).padStart(2, '0');
    return s;
}
function fromLowerHex(text, n) {
    if (typeof text !== 'string' || text.length !== 2 * n || !/^[0-9a-f]*$/.test(text))
        return undefined;
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++)
        out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
    return out;
}
/** Appends `u32 BE length ‖ chunk` frames. */
export function frame(chunks) {
    const parts = [];
    for (const c of chunks) {
        const prefix = new Uint8Array(4);
        new DataView(prefix.buffer).setUint32(0, c.length);
        parts.push(prefix, c);
    }
    return concat(...parts);
}
/** Splits an EHBP body into its non-empty frames, refusing truncation and oversized chunks. */
export function unframe(body, maxChunkLen = DEFAULT_MAX_CHUNK_LEN) {
    const out = [];
    let off = 0;
    while (off < body.length) {
        if (body.length - off < 4)
            throw new EhbpError('framing_truncated', 'body ended inside a length prefix');
        const len = (body[off] * 0x1000000) + ((body[off + 1] << 16) | (body[off + 2] << 8) | body[off + 3]);
        off += 4;
        if (len > maxChunkLen)
            throw new EhbpError('chunk_too_large', "chunk length exceeds the receiver's maximum");
        if (body.length - off < len)
            throw new EhbpError('framing_truncated', 'body ended inside a chunk');
        if (len > 0)
            out.push(body.subarray(off, off + len));
        off += len;
    }
    return out;
}
function chunkNonce(base, seq) {
    const n = base.slice();
    let v = seq;
    for (let i = n.length - 1; i >= n.length - 8 && v > 0; i--) {
        n[i] = n[i] ^ (v & 0xff);
        v = Math.floor(v / 256);
    }
    return n;
}
/**
 * What the client keeps after sealing a request to open the response: the
 * exported response secret and the request's `enc`. Holds a secret: keep it
 * only as long as the request is in flight.
 */
export class ResponseContext {
    #secret;
    #enc;
    #options;
    /** @hidden built by {@link sealRequest} / {@link openRequest} */
    constructor(exportedSecret, enc, options) {
        this.#secret = exportedSecret;
        this.#enc = enc;
        this.#options = options;
    }
    /** The request's encapsulated key. */
    get requestEnc() {
        return this.#enc.slice();
    }
    async #derive(responseNonce) {
        const subtle = aiSubtle(this.#options);
        const prk = await hkdfExtract(subtle, concat(this.#enc, responseNonce), this.#secret);
        try {
            const keyBytes = await hkdfExpand(subtle, prk, ascii('key'), 32);
            const nonceBase = await hkdfExpand(subtle, prk, ascii('nonce'), 12);
            const key = await subtle.importKey('raw', keyBytes, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
            keyBytes.fill(0);
            return { key, nonceBase };
        }
        finally {
            prk.fill(0);
        }
    }
    /** Opens a response body with the `Ehbp-Response-Nonce` header value (lowercase hex). */
    async openResponse(responseNonceHex, body, maxChunkLen = DEFAULT_MAX_CHUNK_LEN) {
        const nonce = fromLowerHex(responseNonceHex, RESPONSE_NONCE_LEN);
        if (!nonce)
            throw new EhbpError('invalid_response_nonce', 'response nonce is not 32 bytes of lowercase hex');
        const frames = unframe(body, maxChunkLen);
        const subtle = aiSubtle(this.#options);
        const keys = await this.#derive(nonce);
        const parts = [];
        for (let seq = 0; seq < frames.length; seq++) {
            try {
                parts.push(new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv: chunkNonce(keys.nonceBase, seq) }, keys.key, frames[seq])));
            }
            catch {
                throw new AuthenticationFailedError();
            }
        }
        const out = concat(...parts);
        for (const p of parts)
            p.fill(0);
        return out;
    }
    /** Seals a response (the enclave's half; used by tests and local tools). */
    async sealResponse(responseNonce, plaintext, chunkSize = DEFAULT_CHUNK_SIZE) {
        if (responseNonce.length !== RESPONSE_NONCE_LEN)
            throw new EhbpError('invalid_response_nonce', 'response nonce must be 32 bytes');
        if (!(chunkSize > 0))
            throw new InvalidInputError('chunk size must be > 0');
        const subtle = aiSubtle(this.#options);
        const keys = await this.#derive(responseNonce);
        const chunks = [];
        for (let off = 0, seq = 0; off < plaintext.length; off += chunkSize, seq++) {
            const iv = chunkNonce(keys.nonceBase, seq);
            chunks.push(new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv }, keys.key, plaintext.subarray(off, off + chunkSize))));
        }
        return frame(chunks);
    }
}
/** Seals a non-empty request body to an enclave's key config. */
export async function sealRequest(config, plaintext, options) {
    if (plaintext.length === 0)
        throw new InvalidInputError('EHBP requests must have a non-empty body');
    const chunkSize = options?.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (!Number.isInteger(chunkSize) || chunkSize <= 0)
        throw new InvalidInputError('chunk size must be a positive integer');
    const subtle = aiSubtle(options);
    const { enc, context } = await setupBaseS(subtle, config.publicKey, REQUEST_INFO, options?.ephemeral);
    const chunks = [];
    for (let off = 0; off < plaintext.length; off += chunkSize) {
        chunks.push(await context.seal(plaintext.subarray(off, off + chunkSize)));
    }
    const secret = await context.export(EXPORT_LABEL, EXPORT_LEN);
    return { encapsulatedKeyHex: toHex(enc), body: frame(chunks), response: new ResponseContext(secret, enc, options) };
}
/** The enclave's half: opens a request with the private key of a key config (tests and local tools). */
export async function openRequest(privateKey, config, encapsulatedKeyHex, body, options) {
    const enc = fromLowerHex(encapsulatedKeyHex, X25519_PUBLIC_KEY_LEN);
    if (!enc)
        throw new EhbpError('invalid_encapsulated_key', 'encapsulated key is not 32 bytes of lowercase hex');
    const frames = unframe(body, options?.maxChunkLen ?? DEFAULT_MAX_CHUNK_LEN);
    if (frames.length === 0)
        throw new EhbpError('framing_truncated', 'encrypted body carries no chunk');
    const subtle = aiSubtle(options);
    const context = await setupBaseR(subtle, enc, privateKey, config.publicKey, REQUEST_INFO);
    const parts = [];
    for (const f of frames)
        parts.push(await context.open(f));
    const secret = await context.export(EXPORT_LABEL, EXPORT_LEN);
    return { plaintext: concat(...parts), response: new ResponseContext(secret, enc, options) };
}
/** A fresh random 32-byte response nonce. */
export function randomResponseNonce(options) {
    return aiRandomBytes(RESPONSE_NONCE_LEN, options);
}
