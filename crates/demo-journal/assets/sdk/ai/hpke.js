/**
 * HPKE (RFC 9180) base mode for the single suite EHBP uses:
 * DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM, on WebCrypto.
 *
 * @module
 */
import { AuthenticationFailedError, EhbpError } from '../errors.js';
import { concat, hkdfExpand, hkdfExtract, i2osp } from './hkdf.js';
/** KEM id of DHKEM(X25519, HKDF-SHA256). */
export const KEM_ID = 0x0020;
/** KDF id of HKDF-SHA256. */
export const KDF_ID = 0x0001;
/** AEAD id of AES-256-GCM. */
export const AEAD_ID = 0x0002;
/** Length of an X25519 public key (and of `enc`). */
export const X25519_PUBLIC_KEY_LEN = 32;
const N_SECRET = 32;
const N_K = 32;
const N_N = 12;
const N_H = 32;
const MODE_BASE = 0x00;
const ascii = (s) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const HPKE_V1 = ascii('HPKE-v1');
const SUITE_KEM = concat(ascii('KEM'), i2osp(KEM_ID, 2));
const SUITE_HPKE = concat(ascii('HPKE'), i2osp(KEM_ID, 2), i2osp(KDF_ID, 2), i2osp(AEAD_ID, 2));
function labeledExtract(subtle, suite, salt, label, ikm) {
    return hkdfExtract(subtle, salt, concat(HPKE_V1, suite, ascii(label), ikm));
}
function labeledExpand(subtle, suite, prk, label, info, length) {
    return hkdfExpand(subtle, prk, concat(i2osp(length, 2), HPKE_V1, suite, ascii(label), info), length);
}
async function extractAndExpand(subtle, dh, kemContext) {
    const eaePrk = await labeledExtract(subtle, SUITE_KEM, new Uint8Array(0), 'eae_prk', dh);
    try {
        return await labeledExpand(subtle, SUITE_KEM, eaePrk, 'shared_secret', kemContext, N_SECRET);
    }
    finally {
        eaePrk.fill(0);
    }
}
function importX25519Public(subtle, raw) {
    if (raw.length !== X25519_PUBLIC_KEY_LEN) {
        throw new EhbpError('invalid_encapsulated_key', 'X25519 public key must be 32 bytes');
    }
    return subtle.importKey('raw', raw, { name: 'X25519' }, true, []);
}
async function x25519(subtle, privateKey, publicKey) {
    let dh;
    try {
        dh = new Uint8Array(await subtle.deriveBits({ name: 'X25519', public: publicKey }, privateKey, 256));
    }
    catch {
        // e.g. a small-order public key: WebCrypto refuses the all-zero result.
        throw new EhbpError('hpke_failed', 'X25519 key agreement failed');
    }
    if (dh.every((b) => b === 0)) {
        throw new EhbpError('hpke_failed', 'X25519 key agreement produced the all-zero value');
    }
    return dh;
}
/** PKCS #8 prefix of an X25519 private key (RFC 8410): the 32 key bytes follow. */
const X25519_PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20]);
/**
 * Imports 32 raw X25519 private key bytes (e.g. `skEm`/`skRm` of the RFC 9180
 * vectors) as a non-extractable WebCrypto key for `deriveBits`.
 */
export function importX25519PrivateKey(subtle, raw) {
    if (raw.length !== 32)
        throw new EhbpError('hpke_failed', 'X25519 private key must be 32 bytes');
    return subtle.importKey('pkcs8', concat(X25519_PKCS8_PREFIX, raw), { name: 'X25519' }, false, ['deriveBits']);
}
/** Generates a fresh ephemeral X25519 key pair with WebCrypto. */
export async function generateEphemeralKey(subtle) {
    const pair = (await subtle.generateKey({ name: 'X25519' }, false, ['deriveBits']));
    const publicKeyRaw = new Uint8Array(await subtle.exportKey('raw', pair.publicKey));
    return { privateKey: pair.privateKey, publicKeyRaw };
}
/**
 * An HPKE encryption context (RFC 9180 §5.2). The AEAD key is a
 * non-extractable WebCrypto key; the exporter secret stays in this object's
 * private memory. Sequence numbers advance on every seal and successful open.
 */
export class HpkeContext {
    #subtle;
    #key;
    #baseNonce;
    #exporterSecret;
    #seq = 0;
    /** @hidden use {@link setupBaseS} / {@link setupBaseR} */
    constructor(subtle, key, baseNonce, exporterSecret) {
        this.#subtle = subtle;
        this.#key = key;
        this.#baseNonce = baseNonce;
        this.#exporterSecret = exporterSecret;
    }
    /** The next sequence number. */
    get sequence() {
        return this.#seq;
    }
    #nonce() {
        if (this.#seq >= Number.MAX_SAFE_INTEGER) {
            throw new EhbpError('sequence_overflow', 'HPKE sequence number exhausted');
        }
        const nonce = this.#baseNonce.slice();
        const seq = i2osp(this.#seq, N_N);
        for (let i = 0; i < N_N; i++)
            nonce[i] = nonce[i] ^ seq[i];
        return nonce;
    }
    /** Seal(aad, pt) → ciphertext ‖ tag; advances the sequence number. */
    async seal(plaintext, aad = new Uint8Array(0)) {
        const iv = this.#nonce();
        const ct = new Uint8Array(await this.#subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad }, this.#key, plaintext));
        this.#seq++;
        return ct;
    }
    /** Open(aad, ct) → plaintext; advances the sequence number only on success. */
    async open(ciphertext, aad = new Uint8Array(0)) {
        const iv = this.#nonce();
        let pt;
        try {
            pt = await this.#subtle.decrypt({ name: 'AES-GCM', iv, additionalData: aad }, this.#key, ciphertext);
        }
        catch {
            throw new AuthenticationFailedError();
        }
        this.#seq++;
        return new Uint8Array(pt);
    }
    /** Export(exporter_context, L) (RFC 9180 §5.3). */
    export(exporterContext, length) {
        return labeledExpand(this.#subtle, SUITE_HPKE, this.#exporterSecret, 'sec', exporterContext, length);
    }
}
async function keySchedule(subtle, sharedSecret, info) {
    const empty = new Uint8Array(0);
    const pskIdHash = await labeledExtract(subtle, SUITE_HPKE, empty, 'psk_id_hash', empty);
    const infoHash = await labeledExtract(subtle, SUITE_HPKE, empty, 'info_hash', info);
    const context = concat(Uint8Array.of(MODE_BASE), pskIdHash, infoHash);
    const secret = await labeledExtract(subtle, SUITE_HPKE, sharedSecret, 'secret', empty);
    try {
        const keyBytes = await labeledExpand(subtle, SUITE_HPKE, secret, 'key', context, N_K);
        const baseNonce = await labeledExpand(subtle, SUITE_HPKE, secret, 'base_nonce', context, N_N);
        const exporterSecret = await labeledExpand(subtle, SUITE_HPKE, secret, 'exp', context, N_H);
        const key = await subtle.importKey('raw', keyBytes, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
        keyBytes.fill(0);
        return new HpkeContext(subtle, key, baseNonce, exporterSecret);
    }
    finally {
        secret.fill(0);
    }
}
/**
 * SetupBaseS(pkR, info): encapsulates to the recipient's X25519 public key.
 * Returns `enc` (the ephemeral public key) and the sender context.
 */
export async function setupBaseS(subtle, recipientPublicKey, info, ephemeral) {
    const pkR = await importX25519Public(subtle, recipientPublicKey);
    const eph = ephemeral ?? (await generateEphemeralKey(subtle));
    const dh = await x25519(subtle, eph.privateKey, pkR);
    try {
        const enc = eph.publicKeyRaw.slice();
        const sharedSecret = await extractAndExpand(subtle, dh, concat(enc, recipientPublicKey));
        try {
            return { enc, context: await keySchedule(subtle, sharedSecret, info) };
        }
        finally {
            sharedSecret.fill(0);
        }
    }
    finally {
        dh.fill(0);
    }
}
/**
 * SetupBaseR(enc, skR, info): the recipient side (used by tests and by
 * tools that play the enclave). `recipientPublicKey` is needed for the KEM
 * context because a WebCrypto private key does not reveal its public half.
 */
export async function setupBaseR(subtle, enc, recipientPrivateKey, recipientPublicKey, info) {
    const pkE = await importX25519Public(subtle, enc);
    const dh = await x25519(subtle, recipientPrivateKey, pkE);
    try {
        const sharedSecret = await extractAndExpand(subtle, dh, concat(enc, recipientPublicKey));
        try {
            return await keySchedule(subtle, sharedSecret, info);
        }
        finally {
            sharedSecret.fill(0);
        }
    }
    finally {
        dh.fill(0);
    }
}
