/**
 * The WebCrypto subset the SDK uses, typed structurally so that the package
 * needs neither the DOM typings nor `@types/node`, and so that React Native
 * polyfills (or any other implementation) can be injected.
 *
 * @module
 */
import { CryptoUnavailableError } from './errors.js';
/** Returns `options.subtle` or the platform's `globalThis.crypto.subtle`. */
export function resolveSubtle(options) {
    if (options?.subtle) {
        return options.subtle;
    }
    const c = globalThis.crypto;
    if (c?.subtle) {
        return c.subtle;
    }
    throw new CryptoUnavailableError('no WebCrypto SubtleCrypto found: use a secure context (https or localhost), Node 19+ (or Node 18 with ' +
        'subtle: require("node:crypto").webcrypto.subtle), or inject `subtle`');
}
/** Returns `options.getRandomValues` or the platform's `globalThis.crypto.getRandomValues`. */
export function resolveGetRandomValues(options) {
    if (options?.getRandomValues) {
        return options.getRandomValues;
    }
    const c = globalThis.crypto;
    const grv = c?.getRandomValues;
    if (c && typeof grv === 'function') {
        return (array) => grv.call(c, array);
    }
    throw new CryptoUnavailableError('no crypto.getRandomValues found: inject `getRandomValues`');
}
/** Resolves both members of a {@link CryptoProvider}. */
export function resolveProvider(options) {
    return { subtle: resolveSubtle(options), getRandomValues: resolveGetRandomValues(options) };
}
