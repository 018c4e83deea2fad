/**
 * Local structural check of a v1 envelope in its text form (SPEC §2,
 * `docs/formats.md`): canonical standard base64 with padding, version byte
 * `0x01`, at least 29 bytes. The server SDK cannot decrypt — it only makes
 * sure that what it sends is an envelope and not, by mistake, plaintext.
 *
 * @module
 */

import { InvalidEnvelopeError } from './errors.js';

/** Envelope version byte of format v1. */
export const ENVELOPE_VERSION_V1 = 0x01;
/** Smallest v1 envelope: version (1) + IV (12) + tag (16). */
export const ENVELOPE_MIN_LEN = 29;

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const CANONICAL = /^[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function sextet(c: string | undefined): number {
  return c === undefined ? -1 : ALPHABET.indexOf(c);
}

/** Facts about a structurally valid envelope (nothing about its content). */
export interface EnvelopeInfo {
  /** The version byte (always 1). */
  version: number;
  /** Length of the binary envelope in bytes. */
  size: number;
}

/**
 * Checks that `text` is a well-formed v1 envelope in standard base64 with
 * padding, without decoding more than its first byte. Throws
 * {@link InvalidEnvelopeError} (`invalid_base64`, `too_short`,
 * `unsupported_version`, in the order of `docs/formats.md`) otherwise; the
 * error never contains the input.
 */
export function validateEnvelope(text: unknown): EnvelopeInfo {
  const hint = ' (expected a v1 envelope from the client SDK in standard base64 with padding; nothing was sent)';
  if (typeof text !== 'string') throw new InvalidEnvelopeError('invalid_base64', `encryptedData must be a string${hint}`);
  if (text.length % 4 !== 0 || !CANONICAL.test(text)) {
    throw new InvalidEnvelopeError('invalid_base64', `encryptedData is not canonical standard base64${hint}`);
  }
  const pads = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  // Non-zero trailing bits make the encoding non-canonical.
  if (pads === 1 && (sextet(text[text.length - 2]) & 0x03) !== 0) {
    throw new InvalidEnvelopeError('invalid_base64', `encryptedData is not canonical standard base64${hint}`);
  }
  if (pads === 2 && (sextet(text[text.length - 3]) & 0x0f) !== 0) {
    throw new InvalidEnvelopeError('invalid_base64', `encryptedData is not canonical standard base64${hint}`);
  }
  const size = (text.length / 4) * 3 - pads;
  if (size === 0) throw new InvalidEnvelopeError('too_short', `encryptedData is empty${hint}`);
  const version = ((sextet(text[0]) << 2) | (sextet(text[1]) >> 4)) & 0xff;
  if (version !== ENVELOPE_VERSION_V1) {
    throw new InvalidEnvelopeError('unsupported_version', `encryptedData does not start with the v1 version byte${hint}`);
  }
  if (size < ENVELOPE_MIN_LEN) {
    throw new InvalidEnvelopeError('too_short', `encryptedData is shorter than ${ENVELOPE_MIN_LEN} bytes${hint}`);
  }
  return { version, size };
}

/** `true` when `text` passes {@link validateEnvelope}. */
export function isEnvelope(text: unknown): boolean {
  try {
    validateEnvelope(text);
    return true;
  } catch {
    return false;
  }
}
