/**
 * The WebCrypto subset the SDK uses, typed structurally so that the package
 * needs neither the DOM typings nor `@types/node`, and so that React Native
 * polyfills (or any other implementation) can be injected.
 *
 * @module
 */

import { CryptoUnavailableError } from './errors.js';

/** Bytes accepted by WebCrypto (`BufferSource`). */
export type BytesLike = ArrayBuffer | ArrayBufferView;

/**
 * An opaque WebCrypto key handle (`CryptoKey`). A real `CryptoKey` satisfies
 * this type.
 */
export interface WebCryptoKey {
  /** Whether `exportKey` may reveal the key material. Always `false` for keys this SDK derives. */
  readonly extractable: boolean;
  /** `"secret"` for AES and PBKDF2 keys. */
  readonly type: string;
  /** Operations the key may be used for. */
  readonly usages: readonly string[];
  /** The algorithm the key is bound to. */
  readonly algorithm: { readonly name: string };
}

/** PBKDF2 parameters as passed to `deriveKey` / `deriveBits`. */
export interface Pbkdf2Params {
  name: 'PBKDF2';
  hash: 'SHA-256';
  salt: BytesLike;
  iterations: number;
}

/** AES-GCM parameters as passed to `encrypt` / `decrypt`. */
export interface AesGcmParams {
  name: 'AES-GCM';
  iv: BytesLike;
  additionalData?: BytesLike;
  tagLength?: number;
}

/**
 * The subset of `SubtleCrypto` the SDK calls. `deriveKey` is preferred; an
 * implementation that only has `deriveBits` also works (the derived bits are
 * imported as a non-extractable AES-GCM key and the temporary buffer is
 * zeroed).
 */
export interface SubtleCryptoLike {
  /** `SubtleCrypto.digest("SHA-256", data)`. */
  digest(algorithm: 'SHA-256', data: BytesLike): Promise<ArrayBuffer>;
  /** `SubtleCrypto.importKey("raw", …)` for PBKDF2 and AES-GCM keys. */
  importKey(
    format: 'raw',
    keyData: BytesLike,
    algorithm: 'PBKDF2' | { name: 'PBKDF2' } | { name: 'AES-GCM'; length?: number } | 'AES-GCM',
    extractable: boolean,
    keyUsages: Array<'deriveKey' | 'deriveBits' | 'encrypt' | 'decrypt'>,
  ): Promise<WebCryptoKey>;
  /** `SubtleCrypto.deriveKey` with PBKDF2 → AES-GCM-256. Optional if `deriveBits` exists. */
  deriveKey?(
    algorithm: Pbkdf2Params,
    baseKey: WebCryptoKey,
    derivedKeyType: { name: 'AES-GCM'; length: 256 },
    extractable: boolean,
    keyUsages: Array<'encrypt' | 'decrypt'>,
  ): Promise<WebCryptoKey>;
  /** `SubtleCrypto.deriveBits` with PBKDF2. Optional if `deriveKey` exists. */
  deriveBits?(algorithm: Pbkdf2Params, baseKey: WebCryptoKey, length: number): Promise<ArrayBuffer>;
  /** `SubtleCrypto.encrypt` with AES-GCM; returns `ciphertext ‖ tag`. */
  encrypt(algorithm: AesGcmParams, key: WebCryptoKey, data: BytesLike): Promise<ArrayBuffer>;
  /** `SubtleCrypto.decrypt` with AES-GCM; takes `ciphertext ‖ tag`. */
  decrypt(algorithm: AesGcmParams, key: WebCryptoKey, data: BytesLike): Promise<ArrayBuffer>;
}

/** Fills the array with cryptographically secure random bytes and returns it (`crypto.getRandomValues`). */
export type GetRandomValues = (array: Uint8Array) => Uint8Array;

/** A WebCrypto implementation: `subtle` plus a CSPRNG. */
export interface CryptoProvider {
  /** The `SubtleCrypto` (subset) to use. */
  readonly subtle: SubtleCryptoLike;
  /** The CSPRNG to use for IVs. */
  readonly getRandomValues: GetRandomValues;
}

/** Options that select a crypto implementation; omitted members default to `globalThis.crypto`. */
export interface CryptoOptions {
  /** Injected `SubtleCrypto` (e.g. a React Native polyfill). Defaults to `globalThis.crypto.subtle`. */
  subtle?: SubtleCryptoLike;
  /** Injected CSPRNG. Defaults to `globalThis.crypto.getRandomValues`. */
  getRandomValues?: GetRandomValues;
}

interface GlobalCrypto {
  subtle?: SubtleCryptoLike;
  getRandomValues?: GetRandomValues;
}

/** Returns `options.subtle` or the platform's `globalThis.crypto.subtle`. */
export function resolveSubtle(options?: CryptoOptions): SubtleCryptoLike {
  if (options?.subtle) {
    return options.subtle;
  }
  const c = (globalThis as { crypto?: GlobalCrypto }).crypto;
  if (c?.subtle) {
    return c.subtle;
  }
  throw new CryptoUnavailableError(
    'no WebCrypto SubtleCrypto found: use a secure context (https or localhost), Node 19+ (or Node 18 with ' +
      'subtle: require("node:crypto").webcrypto.subtle), or inject `subtle`',
  );
}

/** Returns `options.getRandomValues` or the platform's `globalThis.crypto.getRandomValues`. */
export function resolveGetRandomValues(options?: CryptoOptions): GetRandomValues {
  if (options?.getRandomValues) {
    return options.getRandomValues;
  }
  const c = (globalThis as { crypto?: GlobalCrypto }).crypto;
  const grv = c?.getRandomValues;
  if (c && typeof grv === 'function') {
    return (array: Uint8Array): Uint8Array => grv.call(c, array);
  }
  throw new CryptoUnavailableError('no crypto.getRandomValues found: inject `getRandomValues`');
}

/** Resolves both members of a {@link CryptoProvider}. */
export function resolveProvider(options?: CryptoOptions): CryptoProvider {
  return { subtle: resolveSubtle(options), getRandomValues: resolveGetRandomValues(options) };
}
