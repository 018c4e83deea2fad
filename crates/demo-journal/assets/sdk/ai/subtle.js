/**
 * The WebCrypto subset the `./ai` entry uses (X25519, HMAC, AES-GCM),
 * typed structurally like the core's {@link SubtleCryptoLike}. A platform
 * `crypto.subtle` satisfies it.
 *
 * @module
 */
import { CryptoUnavailableError } from '../errors.js';
/** Returns the injected or the platform SubtleCrypto. */
export function aiSubtle(options) {
    if (options?.subtle)
        return options.subtle;
    const c = globalThis.crypto;
    if (c?.subtle)
        return c.subtle;
    throw new CryptoUnavailableError('no WebCrypto SubtleCrypto found: inject `subtle`');
}
/** Returns `n` random bytes from the injected or the platform CSPRNG. */
export function aiRandomBytes(n, options) {
    const out = new Uint8Array(n);
    if (options?.getRandomValues) {
        const r = options.getRandomValues(out);
        return r.length === n ? r : out;
    }
    const c = globalThis.crypto;
    if (!c || typeof c.getRandomValues !== 'function') {
        throw new CryptoUnavailableError('no crypto.getRandomValues found: inject `getRandomValues`');
    }
    c.getRandomValues(out);
    return out;
}
