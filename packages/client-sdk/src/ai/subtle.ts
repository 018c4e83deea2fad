/**
 * The WebCrypto subset the `./ai` entry uses (X25519, HMAC, AES-GCM),
 * typed structurally like the core's {@link SubtleCryptoLike}. A platform
 * `crypto.subtle` satisfies it.
 *
 * @module
 */

import { CryptoUnavailableError } from '../errors.js';
import type { BytesLike } from '../provider.js';

/** An opaque WebCrypto key (a `CryptoKey`). */
export type AnyCryptoKey = unknown;

/** A WebCrypto key pair as returned by `generateKey`. */
export interface CryptoKeyPairLike {
  /** The private half. */
  readonly privateKey: AnyCryptoKey;
  /** The public half. */
  readonly publicKey: AnyCryptoKey;
}

/** `SubtleCrypto` methods used by HPKE / EHBP. */
export interface SubtleCryptoLike {
  /** Imports raw X25519 public keys, PKCS #8 X25519 private keys, HMAC and AES-GCM keys. */
  importKey(format: 'raw' | 'pkcs8' | 'spki', keyData: BytesLike, algorithm: unknown, extractable: boolean, keyUsages: string[]): Promise<AnyCryptoKey>;
  /** Exports the raw ephemeral X25519 public key. */
  exportKey(format: 'raw', key: AnyCryptoKey): Promise<ArrayBuffer>;
  /** Generates the ephemeral X25519 key pair. */
  generateKey(algorithm: { name: 'X25519' }, extractable: boolean, keyUsages: string[]): Promise<CryptoKeyPairLike | AnyCryptoKey>;
  /** X25519 Diffie-Hellman. */
  deriveBits(algorithm: { name: 'X25519'; public: AnyCryptoKey }, baseKey: AnyCryptoKey, length: number): Promise<ArrayBuffer>;
  /** HMAC-SHA256. */
  sign(algorithm: 'HMAC', key: AnyCryptoKey, data: BytesLike): Promise<ArrayBuffer>;
  /** ECDSA P-384 / SHA-384 verification (attestation). */
  verify(algorithm: { name: 'ECDSA'; hash: 'SHA-384' }, key: AnyCryptoKey, signature: BytesLike, data: BytesLike): Promise<boolean>;
  /** SHA-256 (certificate fingerprints). */
  digest(algorithm: 'SHA-256', data: BytesLike): Promise<ArrayBuffer>;
  /** AES-256-GCM. */
  encrypt(algorithm: { name: 'AES-GCM'; iv: BytesLike; additionalData?: BytesLike }, key: AnyCryptoKey, data: BytesLike): Promise<ArrayBuffer>;
  /** AES-256-GCM. */
  decrypt(algorithm: { name: 'AES-GCM'; iv: BytesLike; additionalData?: BytesLike }, key: AnyCryptoKey, data: BytesLike): Promise<ArrayBuffer>;
}

/** Options selecting the crypto implementation of the `./ai` entry. */
export interface AiCryptoOptions {
  /** Injected SubtleCrypto (needs X25519). Defaults to `globalThis.crypto.subtle`. */
  subtle?: SubtleCryptoLike;
  /** Injected CSPRNG. Defaults to `globalThis.crypto.getRandomValues`. */
  getRandomValues?: (array: Uint8Array) => Uint8Array;
}

/** Returns the injected or the platform SubtleCrypto. */
export function aiSubtle(options?: AiCryptoOptions): SubtleCryptoLike {
  if (options?.subtle) return options.subtle;
  const c = (globalThis as { crypto?: { subtle?: SubtleCryptoLike } }).crypto;
  if (c?.subtle) return c.subtle;
  throw new CryptoUnavailableError('no WebCrypto SubtleCrypto found: inject `subtle`');
}

/** Returns `n` random bytes from the injected or the platform CSPRNG. */
export function aiRandomBytes(n: number, options?: AiCryptoOptions): Uint8Array {
  const out = new Uint8Array(n);
  if (options?.getRandomValues) {
    const r = options.getRandomValues(out);
    return r.length === n ? r : out;
  }
  const c = (globalThis as { crypto?: { getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto;
  if (!c || typeof c.getRandomValues !== 'function') {
    throw new CryptoUnavailableError('no crypto.getRandomValues found: inject `getRandomValues`');
  }
  c.getRandomValues(out);
  return out;
}
