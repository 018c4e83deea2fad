/**
 * The high-level client: one instance per signed-in user.
 *
 * @module
 */
import { base64Encode } from './base64.js';
import { DisposedError, InvalidInputError, InvalidPayloadError } from './errors.js';
import { deriveKeyV1, normalizeEmail } from './kdf.js';
import { ENVELOPE_V1_IV_LENGTH, openV1, sealV1 } from './envelope.js';
import { resolveGetRandomValues, resolveSubtle, } from './provider.js';
import { utf8DecodeStrict, utf8Encode } from './utf8.js';
import { isUint8Array } from './bytes.js';
function isBlobLike(value) {
    return (typeof value === 'object' &&
        value !== null &&
        typeof value.arrayBuffer === 'function');
}
/**
 * End-to-end encryption with the user's key (profile v1, envelope v1).
 *
 * ```ts
 * const enc = new ZenalyzeEncryption({ email, password });
 * const blob = await enc.encrypt({ message: 'Sensitive health data' }, { context: recordId });
 * const value = await enc.decrypt(blob, { context: recordId });
 * ```
 *
 * The key is derived lazily on first use (PBKDF2, 100 000 iterations) or
 * eagerly with {@link ZenalyzeEncryption.create}; it is a non-extractable
 * WebCrypto key. The instance drops its references to the email and the
 * password as soon as derivation starts; if derivation fails, every later
 * call rejects with the same error (there is no password left to retry
 * with): create a new instance.
 */
export class ZenalyzeEncryption {
    #credentials;
    #keyPromise;
    #disposed = false;
    #subtle;
    #getRandomValues;
    /**
     * Creates a client; the key is derived on first use. Throws
     * {@link CryptoUnavailableError} if no WebCrypto is available or injected.
     */
    constructor(options) {
        if (typeof options !== 'object' || options === null) {
            throw new InvalidInputError('options must be an object with email and password');
        }
        const { email, password } = options;
        if (typeof email !== 'string' || typeof password !== 'string') {
            throw new InvalidInputError('email and password must be strings');
        }
        // Same rules as the Rust client: an empty key input is a mistake, not a key.
        if (normalizeEmail(email).length === 0) {
            throw new InvalidInputError('email must not be empty');
        }
        if (password.length === 0) {
            throw new InvalidInputError('password must not be empty');
        }
        this.#subtle = resolveSubtle(options);
        this.#getRandomValues = resolveGetRandomValues(options);
        this.#credentials = { email, password };
    }
    /** Creates a client and derives the key before resolving (fails early on bad crypto setup). */
    static async create(options) {
        const client = new ZenalyzeEncryption(options);
        await client.ready();
        return client;
    }
    /** Derives the key if not done yet; resolves once it is available. */
    async ready() {
        await this.#key();
    }
    /**
     * Drops this instance's reference to the key (and the credentials, if the
     * key was never derived). Later calls reject with {@link DisposedError}.
     */
    dispose() {
        this.#disposed = true;
        this.#credentials = undefined;
        this.#keyPromise = undefined;
    }
    #key() {
        if (this.#disposed) {
            return Promise.reject(new DisposedError());
        }
        if (this.#keyPromise === undefined) {
            const creds = this.#credentials;
            this.#credentials = undefined;
            if (creds === undefined) {
                return Promise.reject(new DisposedError());
            }
            this.#keyPromise = deriveKeyV1(creds.email, creds.password, { subtle: this.#subtle });
        }
        return this.#keyPromise;
    }
    #randomIv() {
        const iv = new Uint8Array(ENVELOPE_V1_IV_LENGTH);
        const filled = this.#getRandomValues(iv);
        if (filled !== iv && !(isUint8Array(filled) && filled.length === ENVELOPE_V1_IV_LENGTH)) {
            throw new InvalidInputError('getRandomValues did not return the array it was given');
        }
        return filled;
    }
    async #seal(plaintext, options) {
        const key = await this.#key();
        const envelope = await sealV1(key, this.#randomIv(), plaintext, options?.context, { subtle: this.#subtle });
        return base64Encode(envelope);
    }
    async #open(envelope, options) {
        const key = await this.#key();
        return openV1(key, envelope, options?.context, { subtle: this.#subtle });
    }
    /**
     * Encrypts the UTF-8 JSON (`JSON.stringify`) of `value` and returns the
     * base64 envelope. Rejects with {@link InvalidInputError} for values that
     * have no JSON form (`undefined`, functions, symbols) or cannot be
     * serialized (cycles, BigInt).
     */
    async encrypt(value, options) {
        let json;
        try {
            json = JSON.stringify(value);
        }
        catch {
            throw new InvalidInputError('value cannot be serialized as JSON');
        }
        if (json === undefined) {
            throw new InvalidInputError('value has no JSON representation');
        }
        const bytes = utf8Encode(json);
        try {
            return await this.#seal(bytes, options);
        }
        finally {
            bytes.fill(0);
        }
    }
    /**
     * Decrypts an envelope produced by {@link encrypt} (base64 text or
     * binary) and returns the parsed JSON value.
     *
     * @throws {@link ZenalyzeError} with code `invalid_base64`, `too_short`,
     * `unsupported_version`, `authentication_failed`, or `invalid_payload`
     * when the authenticated plaintext is not UTF-8 JSON.
     */
    async decrypt(envelope, options) {
        const bytes = await this.#open(envelope, options);
        try {
            const text = utf8DecodeStrict(bytes);
            if (text === undefined) {
                throw new InvalidPayloadError('decrypted data is not valid UTF-8 (use decryptBytes for binary data)');
            }
            try {
                return JSON.parse(text);
            }
            catch {
                // The parser's message may quote the plaintext: do not propagate it.
                throw new InvalidPayloadError('decrypted data is not JSON (use decryptBytes for binary data)');
            }
        }
        finally {
            bytes.fill(0);
        }
    }
    /** Encrypts raw bytes (or the content of a `Blob`/`File`) and returns the base64 envelope. */
    async encryptBytes(data, options) {
        if (isUint8Array(data)) {
            return this.#seal(data, options);
        }
        if (isBlobLike(data)) {
            const bytes = new Uint8Array(await data.arrayBuffer());
            try {
                return await this.#seal(bytes, options);
            }
            finally {
                bytes.fill(0);
            }
        }
        throw new InvalidInputError('data must be a Uint8Array or a Blob');
    }
    /** Decrypts an envelope (base64 text or binary) and returns the plaintext bytes. */
    async decryptBytes(envelope, options) {
        return this.#open(envelope, options);
    }
}
