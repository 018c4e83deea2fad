/**
 * Standard Webhooks v1 verification (https://www.standardwebhooks.com):
 * `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`
 * (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, possibly several
 * space-separated), with secrets `whsec_<base64>`.
 *
 * @module
 */

import { createHmac, timingSafeEqual } from 'node:crypto';
import { WebhookVerificationError } from './errors.js';

/** Default tolerance between the webhook timestamp and now: 5 minutes. */
export const DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300;

/** Header values as Node (`IncomingMessage.headers`), `fetch` (`Headers`) or a plain object give them. */
export type WebhookHeaders =
  | { get(name: string): string | null | undefined }
  | Record<string, string | string[] | undefined>;

/** Options of {@link verifyWebhook}. */
export interface VerifyWebhookOptions {
  /** Largest accepted distance between `webhook-timestamp` and now, in seconds. Default 300. */
  toleranceSeconds?: number;
  /** Clock in milliseconds since the epoch. Default `Date.now`. */
  now?: () => number;
}

/** A verified webhook. */
export interface VerifiedWebhook<T = unknown> {
  /** `webhook-id`: unique per message, stable across retries (use it to deduplicate). */
  id: string;
  /** `webhook-timestamp` in Unix seconds. */
  timestamp: number;
  /** The body parsed as JSON. */
  payload: T;
}

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') {
    const v = (headers as { get(n: string): string | null | undefined }).get(name);
    return v ?? undefined;
  }
  const rec = headers as Record<string, string | string[] | undefined>;
  let v = rec[name];
  if (v === undefined) {
    const key = Object.keys(rec).find((k) => k.toLowerCase() === name);
    v = key === undefined ? undefined : rec[key];
  }
  return Array.isArray(v) ? v.join(' ') : v;
}

function secretKey(secret: string): Buffer {
  if (typeof secret !== 'string') throw new WebhookVerificationError('invalid_secret', 'the webhook secret must be a string');
  const b64 = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) {
    throw new WebhookVerificationError('invalid_secret', 'the webhook secret must be whsec_ followed by base64');
  }
  const key = Buffer.from(b64, 'base64');
  if (key.length === 0) throw new WebhookVerificationError('invalid_secret', 'the webhook secret is empty');
  return key;
}

function toBytes(body: string | Uint8Array): Buffer {
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new WebhookVerificationError('invalid_signature', 'the raw body must be a string or bytes (verify the exact bytes received, before any JSON parsing)');
}

/**
 * Computes the `webhook-signature` value (`v1,<base64>`) of a message. Used
 * by senders and by tests; receivers call {@link verifyWebhook}.
 */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string | Uint8Array): string {
  const mac = createHmac('sha256', secretKey(secret));
  mac.update(`${id}.${timestampSeconds}.`, 'utf8');
  mac.update(toBytes(body));
  return `v1,${mac.digest('base64')}`;
}

/**
 * Verifies a webhook per Standard Webhooks v1 and returns its id, timestamp
 * and JSON payload. Pass the **raw** body exactly as received.
 *
 * Throws {@link WebhookVerificationError} with `code`:
 * `invalid_secret`, `missing_header`, `invalid_timestamp`,
 * `timestamp_too_old`, `timestamp_too_new`, `invalid_signature` (no
 * `v1` signature matches; compared in constant time) or `invalid_payload`
 * (the signed body is not JSON).
 */
export function verifyWebhook<T = unknown>(
  rawBody: string | Uint8Array,
  headers: WebhookHeaders,
  secret: string,
  options: VerifyWebhookOptions = {},
): VerifiedWebhook<T> {
  const key = secretKey(secret);
  if (!headers || typeof headers !== 'object') throw new WebhookVerificationError('missing_header', 'headers are required');
  const id = header(headers, 'webhook-id');
  const ts = header(headers, 'webhook-timestamp');
  const sigs = header(headers, 'webhook-signature');
  if (!id || !ts || !sigs) {
    throw new WebhookVerificationError('missing_header', 'webhook-id, webhook-timestamp and webhook-signature are required');
  }
  if (!/^[0-9]{1,15}$/.test(ts)) throw new WebhookVerificationError('invalid_timestamp', 'webhook-timestamp is not Unix seconds');
  const timestamp = Number(ts);
  const tolerance = options.toleranceSeconds ?? DEFAULT_WEBHOOK_TOLERANCE_SECONDS;
  if (!Number.isFinite(tolerance) || tolerance < 0) {
    throw new WebhookVerificationError('invalid_timestamp', 'toleranceSeconds must be a non-negative number');
  }
  const nowSeconds = Math.floor((options.now ?? Date.now)() / 1000);
  if (timestamp < nowSeconds - tolerance) throw new WebhookVerificationError('timestamp_too_old', 'webhook-timestamp is too old');
  if (timestamp > nowSeconds + tolerance) throw new WebhookVerificationError('timestamp_too_new', 'webhook-timestamp is in the future');

  const bytes = toBytes(rawBody);
  const mac = createHmac('sha256', key);
  mac.update(`${id}.${ts}.`, 'utf8');
  mac.update(bytes);
  const expected = mac.digest();
  let ok = false;
  for (const entry of sigs.split(' ')) {
    const comma = entry.indexOf(',');
    if (comma < 0 || entry.slice(0, comma) !== 'v1') continue;
    const given = entry.slice(comma + 1);
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(given)) continue;
    const candidate = Buffer.from(given, 'base64');
    // Lengths are public (always 32 for v1); the comparison itself is constant-time.
    if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) ok = true;
  }
  if (!ok) throw new WebhookVerificationError('invalid_signature', 'no valid v1 signature');
  let payload: T;
  try {
    payload = JSON.parse(bytes.toString('utf8')) as T;
  } catch {
    throw new WebhookVerificationError('invalid_payload', 'the webhook body is not JSON');
  }
  return { id, timestamp, payload };
}
