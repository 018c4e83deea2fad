/**
 * `ZenalyzeServer`: the customer backend's client of the Encryption Service
 * (the gateway's REST API, `docs/api.md`). It never handles plaintext user
 * data: records are v1 envelopes sealed on the user's device, AI requests
 * are EHBP-sealed by the client SDK and forwarded untouched.
 *
 * @module
 */

import { randomBytes, randomInt } from 'node:crypto';
import {
  ApiError,
  ConfigurationError,
  InvalidArgumentError,
  NetworkError,
  PROBLEM_BASE,
  TimeoutError,
  ZenalyzeError,
  apiErrorFrom,
} from './errors.js';
import { validateEnvelope } from './envelope.js';

/** The subset of WHATWG `fetch` the SDK uses (Node's global `fetch` satisfies it). */
export type FetchFn = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string | Uint8Array; signal: AbortSignal },
) => Promise<{
  status: number;
  headers: { get(name: string): string | null };
  arrayBuffer(): Promise<ArrayBuffer>;
}>;

/** Options of {@link ZenalyzeServer}. */
export interface ZenalyzeServerOptions {
  /** A secret API key (`zk_live_…` or `zk_test_…`). Never logged, never in errors. */
  apiKey: string;
  /**
   * Base URL of the Encryption Service. Default `http://127.0.0.1:8080`
   * (`zenalyze dev`). Plain `http:` is accepted only for loopback hosts.
   */
  baseUrl?: string;
  /** Deadline of each attempt in milliseconds. Default 30000. */
  timeoutMs?: number;
  /** Retries after the first attempt (network errors, 429, 503), when safe. Default 2. */
  maxRetries?: number;
  /** First backoff delay in ms (doubled per retry, with jitter). Default 250. */
  retryBaseDelayMs?: number;
  /** Largest wait before a retry, including `Retry-After`; a longer `Retry-After` is not waited for. Default 20000. */
  maxRetryDelayMs?: number;
  /** `fetch` implementation. Default `globalThis.fetch`. */
  fetch?: FetchFn;
}

/** Input of {@link ZenalyzeServer.storeEncrypted}. */
export interface StoreEncryptedInput {
  /** The customer's opaque id of the end user: 1–128 chars of `[A-Za-z0-9._:-]` (never an e-mail or a name). */
  userId: string;
  /** The v1 envelope from the client SDK, standard base64 with padding. */
  encryptedData: string;
  /** Non-secret, non-PHI string metadata (≤ 32 entries). */
  metadata?: Record<string, string>;
  /** Makes retries safe; generated when absent. 1–128 chars of `[A-Za-z0-9._:-]`. */
  idempotencyKey?: string;
}

/** Answer of {@link ZenalyzeServer.storeEncrypted}. */
export interface StoredRecord {
  /** Record id (`rec_…`). */
  id: string;
  /** The end user. */
  userId: string;
  /** Creation time (RFC 3339, UTC). */
  createdAt: string;
  /** Binary envelope size in bytes. */
  size: number;
  /** `true` when the gateway replayed the answer of an earlier identical request (same idempotency key). */
  replayed: boolean;
}

/** A stored record. */
export interface EncryptedRecord {
  /** Record id (`rec_…`). */
  id: string;
  /** The end user. */
  userId: string;
  /** The v1 envelope, standard base64 — decrypt it on the user's device. */
  encryptedData: string;
  /** Metadata as stored. */
  metadata: Record<string, string>;
  /** Creation time (RFC 3339, UTC). */
  createdAt: string;
}

/** Input of {@link ZenalyzeServer.listRecords}. */
export interface ListRecordsInput {
  /** Only this end user's records. */
  userId: string;
  /** Page size 1–500 (default 50). */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

/** A page of records, newest first. */
export interface RecordPage {
  /** The records. */
  records: EncryptedRecord[];
  /** Pass as `cursor` for the next page; `null` on the last page. */
  nextCursor: string | null;
}

/** The client's sealed EHBP request, exactly as the client SDK produced it. */
export interface SealedRequest {
  /** The framed EHBP body: bytes, or standard base64 of them. */
  body: Uint8Array | string;
  /** The `Ehbp-Encapsulated-Key` value (lowercase hex, 64 digits). */
  encapsulatedKey: string;
}

/** Input of {@link ZenalyzeServer.analyzeWithAI}. */
export interface AnalyzeInput {
  /** The client's sealed request (body + encapsulated key); forwarded untouched. */
  encryptedData: SealedRequest;
  /**
   * Plaintext, non-PHI instructions of the backend (become the provider's
   * system instructions). Alias: `instructions`.
   */
  prompt?: string;
  /** Plaintext, non-PHI instructions of the backend. */
  instructions?: string;
  /** Ids of stored records the sealed request refers to; the gateway fetches their envelopes. */
  recordIds?: string[];
  /** Run asynchronously (`Prefer: respond-async`) and notify this URL when the job ends (Standard Webhooks signed; create the secret with `rotateWebhookSecret`). */
  callbackUrl?: string;
  /** Run asynchronously without a callback: poll {@link ZenalyzeServer.getAnalysisJob}. */
  async?: boolean;
}

/** The sealed answer to hand back to the client, untouched. */
export interface SealedAnswer {
  /** HTTP status of the answer (its class; the details are inside the seal). */
  status: number;
  /** `Ehbp-Response-Nonce` (lowercase hex): the client needs it to open `body`. */
  responseNonce: string;
  /** The framed, encrypted answer. */
  body: Uint8Array;
  /** `body` in standard base64, convenient for JSON transport to the browser. */
  bodyBase64: string;
  /** The request id. */
  requestId: string | undefined;
}

/** An accepted asynchronous AI job (`callbackUrl` given). */
export interface AnalyzeJob {
  /** HTTP status (202). */
  status: number;
  /** The job id, for `getAnalysisJob`. */
  jobId: string;
  /** The gateway's job document as sent. */
  job: Record<string, unknown>;
}

/** Bytes or text (text is encoded as UTF-8). */
export type BytesLike = Uint8Array | string;

/** An asynchronous AI job (`GET /v1/ai/jobs/{id}`). */
export interface AnalysisJob {
  /** The job id. */
  jobId: string;
  /** `pending`, `succeeded` (the enclave answered 2xx) or `failed`. */
  status: 'pending' | 'succeeded' | 'failed' | string;
  /** Creation time (RFC 3339). */
  createdAt: string;
  /** Completion time (RFC 3339), once finished. */
  completedAt: string | null;
  /** Expiry time (RFC 3339): the result is deleted after it. */
  expiresAt: string;
  /**
   * The result once finished: a sealed answer for the client (when
   * `responseNonce` is set), or a gateway problem document in `body`.
   */
  result: null | {
    /** HTTP status of the answer. */
    status: number;
    /** `Ehbp-Response-Nonce` of a sealed answer. */
    responseNonce: string | null;
    /** Content type of the answer. */
    contentType: string | null;
    /** The answer body (sealed, or a problem document). */
    body: Uint8Array;
    /** `body` in standard base64. */
    bodyBase64: string;
  };
}

/** Input of {@link ZenalyzeServer.encryptMetadata} (one value). */
export interface PlatformEncryptInput {
  /** Platform keyring (e.g. `encrypt-email`; `zenalyze dev` has `encrypt-username` and `encrypt-email`). */
  keyring: string;
  /** The value to encrypt (≤ 64 KiB). */
  plaintext: BytesLike;
  /** Optional context bound into the associated data; give the same one to decrypt. */
  context?: BytesLike;
}

/** One item of a batch (encrypt: `plaintext`; decrypt/rewrap: `ciphertext`). */
export interface PlatformBatchItem {
  /** Encrypt: the value. */
  plaintext?: BytesLike;
  /** Decrypt, rewrap: `zen:v<N>:…`. */
  ciphertext?: string;
  /** Context bound at encryption. */
  context?: BytesLike;
  /** Echoed in the result (≤ 256 bytes). */
  reference?: string;
}

/** Input of a batch operation (≤ 1000 items; per-item results). */
export interface PlatformBatchInput {
  /** Platform keyring. */
  keyring: string;
  /** The items. */
  batch: PlatformBatchItem[];
}

/** A platform ciphertext. */
export interface PlatformCiphertext {
  /** `zen:v<N>:…`. */
  ciphertext: string;
  /** The key version used (the keyring's primary). */
  keyVersion: number;
}

/** Input of {@link ZenalyzeServer.decryptMetadata} and {@link ZenalyzeServer.rewrap} (one value). */
export interface PlatformDecryptInput {
  /** Platform keyring. */
  keyring: string;
  /** `zen:v<N>:…`. */
  ciphertext: string;
  /** The context given at encryption. */
  context?: BytesLike;
}

/** A decrypted platform value. */
export interface PlatformPlaintext {
  /** The bytes. */
  plaintext: Uint8Array;
  /** The bytes decoded as UTF-8. */
  text: string;
}

/** One result of a batch, in input order: the item's result or its problem. */
export interface PlatformBatchResult {
  /** The item's reference. */
  reference?: string;
  /** Encrypt, rewrap: the ciphertext. */
  ciphertext?: string;
  /** Encrypt, rewrap: the key version. */
  keyVersion?: number;
  /** Decrypt: the plaintext. */
  plaintext?: Uint8Array;
  /** The item's problem, when it failed. */
  error?: ApiError;
}

/** Input of {@link ZenalyzeServer.blindIndex}. */
export interface BlindIndexInput {
  /** Platform keyring. */
  keyring: string;
  /** The value to index (e.g. a normalised e-mail address). */
  value: BytesLike;
  /** Index length in bits: a multiple of 8 from 32 to 256 (default 128). */
  bits?: number;
}

/** Input of {@link ZenalyzeServer.usage}. */
export interface UsageInput {
  /** First UTC day `YYYY-MM-DD` (default 29 days before `to`). */
  from?: string;
  /** Last UTC day `YYYY-MM-DD`, inclusive (default today). */
  to?: string;
}

/** Answer of {@link ZenalyzeServer.usage}. */
export interface Usage {
  /** The tenant's tier (`free`, `starter`, `pro`, `enterprise`). */
  tier: string;
  /** The quota of the current window. */
  quota: { limit: number | null; used: number; resets_at: string };
  /** Each day of the range, oldest first. */
  days: { date: string; operations: Record<string, number> }[];
}

interface RawResponse {
  status: number;
  headers: { get(name: string): string | null };
  body: Uint8Array;
}

interface RequestSpec {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  query?: Record<string, string | number | undefined>;
  json?: unknown;
  /** A binary body (sent as is; the caller sets content-type). */
  rawBody?: Uint8Array;
  headers?: Record<string, string>;
  /** Safe to repeat after a network error or a 503 (reads, deletes, pure functions, creates with an idempotency key). */
  idempotent: boolean;
  /** Non-2xx answers returned to the caller instead of thrown. */
  accept?: (res: RawResponse) => boolean;
}

const USER_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const OPAQUE = /^[A-Za-z0-9._:-]{1,128}$/;
const INSPECT = Symbol.for('nodejs.util.inspect.custom');
const VERSION = '0.1.0';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** `Retry-After` (delta seconds or HTTP date) in ms, or undefined. */
export function parseRetryAfter(value: string | null, nowMs: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d{1,10}$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

function problemType(res: RawResponse): string | undefined {
  try {
    const v = JSON.parse(text(res.body)) as { type?: unknown };
    return typeof v?.type === 'string' ? v.type : undefined;
  } catch {
    return undefined;
  }
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function text(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new ZenalyzeError(`unexpected answer from the gateway: ${what} is not a string`);
  return v;
}

function toRecord(v: unknown): EncryptedRecord {
  const r = (v ?? {}) as Record<string, unknown>;
  return {
    id: str(r.id, 'id'),
    userId: str(r.user_id, 'user_id'),
    encryptedData: str(r.envelope, 'envelope'),
    metadata: (r.metadata ?? {}) as Record<string, string>,
    createdAt: str(r.created_at, 'created_at'),
  };
}

function keyringName(v: unknown): string {
  if (typeof v !== 'string' || !/^[a-z0-9_-]{1,48}$/.test(v)) throw new InvalidArgumentError('keyring must be 1 to 48 characters of [a-z0-9_-]');
  return v;
}

function bytesB64(v: unknown, what: string): string {
  if (typeof v === 'string') return Buffer.from(v, 'utf8').toString('base64');
  if (v instanceof Uint8Array) return b64(v);
  throw new InvalidArgumentError(`${what} must be a string or bytes`);
}

function cipherText(v: unknown): string {
  if (typeof v !== 'string' || !v.startsWith('zen:v')) throw new InvalidArgumentError('ciphertext must be a platform ciphertext (zen:v<N>:…)');
  return v;
}

/** A fresh idempotency key (`idem_` + 32 hex digits from the CSPRNG). */
export function newIdempotencyKey(): string {
  return `idem_${randomBytes(16).toString('hex')}`;
}

/**
 * Client of the Zenalyze Encryption Service for backends.
 *
 * ```ts
 * const zen = new ZenalyzeServer({ apiKey: process.env.ZENALYZE_API_KEY! });
 * const rec = await zen.storeEncrypted({ userId: 'usr_42', encryptedData: envelopeFromBrowser });
 * ```
 */
export class ZenalyzeServer {
  readonly #apiKey: string;
  readonly #fetch: FetchFn;
  /** The normalized base URL (no trailing slash). */
  readonly baseUrl: string;
  /** Per-attempt deadline in ms. */
  readonly timeoutMs: number;
  /** Retries after the first attempt. */
  readonly maxRetries: number;
  readonly #baseDelay: number;
  readonly #maxDelay: number;

  constructor(options: ZenalyzeServerOptions) {
    if (!options || typeof options !== 'object') throw new ConfigurationError('options are required');
    const { apiKey } = options;
    if (typeof apiKey !== 'string' || !/^zk_(live|test)_[A-Za-z0-9]{32,128}$/.test(apiKey)) {
      throw new ConfigurationError('apiKey must be a secret key (zk_live_… or zk_test_…)');
    }
    const base = options.baseUrl ?? 'http://127.0.0.1:8080';
    let url: URL;
    try {
      url = new URL(base);
    } catch {
      throw new ConfigurationError('baseUrl is not a valid URL');
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) {
      throw new ConfigurationError('baseUrl must use https (plain http only for loopback hosts)');
    }
    if (url.username || url.password || url.search || url.hash) {
      throw new ConfigurationError('baseUrl must not contain credentials, a query or a fragment');
    }
    const num = (v: number | undefined, dflt: number, min: number, max: number, name: string): number => {
      const n = v ?? dflt;
      if (!Number.isInteger(n) || n < min || n > max) throw new ConfigurationError(`${name} must be an integer in ${min}..${max}`);
      return n;
    };
    this.timeoutMs = num(options.timeoutMs, 30_000, 1, 600_000, 'timeoutMs');
    this.maxRetries = num(options.maxRetries, 2, 0, 10, 'maxRetries');
    this.#baseDelay = num(options.retryBaseDelayMs, 250, 0, 60_000, 'retryBaseDelayMs');
    this.#maxDelay = num(options.maxRetryDelayMs, 20_000, 0, 600_000, 'maxRetryDelayMs');
    const f = options.fetch ?? (globalThis as { fetch?: FetchFn }).fetch;
    if (typeof f !== 'function') throw new ConfigurationError('no fetch available (Node 18+ has one): pass `fetch`');
    this.#fetch = f;
    this.#apiKey = apiKey;
    this.baseUrl = url.href.replace(/\/+$/, '');
  }

  /** Redacted representation (the API key never appears). */
  toJSON(): Record<string, unknown> {
    return { baseUrl: this.baseUrl, apiKey: '[REDACTED]', timeoutMs: this.timeoutMs, maxRetries: this.maxRetries };
  }

  /** `util.inspect` / `console.log` show the redacted form. */
  [INSPECT](): string {
    return `ZenalyzeServer ${JSON.stringify(this.toJSON())}`;
  }

  /** Redacted string form. */
  toString(): string {
    return this[INSPECT]();
  }

  #backoff(retry: number): number {
    const exp = Math.min(this.#maxDelay, this.#baseDelay * 2 ** retry);
    // "Equal jitter": half fixed, half random, so retries spread out but never collapse to 0.
    return Math.floor(exp / 2 + (exp > 1 ? randomInt(0, Math.floor(exp / 2) + 1) : 0));
  }

  async #attempt(spec: RequestSpec, url: string, body: string | Uint8Array | undefined): Promise<RawResponse> {
    const headers: Record<string, string> = {
      accept: 'application/json, application/problem+json',
      'user-agent': `zenalyze-server-node/${VERSION}`,
      ...(typeof body === 'string' ? { 'content-type': 'application/json' } : {}),
      ...(spec.headers ?? {}),
      authorization: `Bearer ${this.#apiKey}`,
    };
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeoutMs);
    try {
      const init: Parameters<FetchFn>[1] = { method: spec.method, headers, signal: controller.signal };
      if (body !== undefined) init.body = body;
      const res = await Reflect.apply(this.#fetch, globalThis, [url, init]) as Awaited<ReturnType<FetchFn>>;
      const buf = new Uint8Array(await res.arrayBuffer());
      return { status: res.status, headers: res.headers, body: buf };
    } finally {
      clearTimeout(timer);
    }
  }

  async #request(spec: RequestSpec): Promise<RawResponse> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(spec.query ?? {})) if (v !== undefined) qs.set(k, String(v));
    const url = `${this.baseUrl}${spec.path}${qs.toString() ? `?${qs.toString()}` : ''}`;
    const body = spec.rawBody ?? (spec.json === undefined ? undefined : JSON.stringify(spec.json));
    let attempts = 0;
    for (let retry = 0; ; retry++) {
      attempts++;
      let res: RawResponse;
      try {
        res = await this.#attempt(spec, url, body);
      } catch (err) {
        const timedOut = (err as { name?: string })?.name === 'AbortError' || (err as { name?: string })?.name === 'TimeoutError';
        if (spec.idempotent && retry < this.maxRetries) {
          await sleep(this.#backoff(retry));
          continue;
        }
        // Never include the request (body, headers) in the error.
        if (timedOut) throw new TimeoutError(`${spec.method} ${spec.path.split('/').slice(0, 3).join('/')}… got no answer within ${this.timeoutMs} ms`, attempts);
        throw new NetworkError(`could not reach the Zenalyze Encryption Service at ${this.baseUrl}`, attempts);
      }
      if ((res.status >= 200 && res.status < 300) || spec.accept?.(res)) return res;
      const retryAfter = parseRetryAfter(res.headers.get('retry-after'));
      // A 429, and a 503 `unavailable` ("nothing was changed"), were refused
      // before anything happened: always safe to repeat. Other 503s
      // (`timeout`: "may or may not have been applied") only when idempotent.
      const retryable = res.status === 429 || (res.status === 503 && (spec.idempotent || problemType(res) === `${PROBLEM_BASE}unavailable`));
      if (retryable && retry < this.maxRetries && (retryAfter === undefined || retryAfter <= this.#maxDelay)) {
        await sleep(retryAfter ?? this.#backoff(retry));
        continue;
      }
      throw this.#problem(res, retryAfter);
    }
  }

  #problem(res: RawResponse, retryAfterMs: number | undefined): ApiError {
    let doc: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(text(res.body));
      if (parsed && typeof parsed === 'object') doc = parsed as Record<string, unknown>;
    } catch {
      doc = {};
    }
    const s = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
    return apiErrorFrom({
      status: res.status,
      type: s(doc.type) ?? 'about:blank',
      title: s(doc.title) ?? `HTTP ${res.status}`,
      detail: s(doc.detail),
      code: s(doc.code),
      requestId: s(doc.request_id) ?? res.headers.get('x-request-id') ?? undefined,
      retryAfterMs,
    });
  }

  #json(res: RawResponse): Record<string, unknown> {
    try {
      const v: unknown = JSON.parse(text(res.body));
      if (v && typeof v === 'object') return v as Record<string, unknown>;
    } catch {
      /* fall through */
    }
    throw new ZenalyzeError(`unexpected answer from the gateway (HTTP ${res.status}): not a JSON object`);
  }

  /**
   * Stores an encrypted record for `userId` (`POST /v1/records`).
   *
   * `encryptedData` is checked locally first: anything that is not a
   * well-formed v1 envelope in standard base64 is refused with
   * {@link InvalidEnvelopeError} and **nothing is sent**. An
   * `Idempotency-Key` is generated when not given, so retries after a
   * network error or a 503 never create a duplicate.
   */
  async storeEncrypted(input: StoreEncryptedInput): Promise<StoredRecord> {
    if (!input || typeof input !== 'object') throw new InvalidArgumentError('input is required');
    validateEnvelope(input.encryptedData);
    if (typeof input.userId !== 'string' || !USER_ID.test(input.userId)) {
      throw new InvalidArgumentError('userId must be 1 to 128 characters of [A-Za-z0-9._:-] (an opaque id, never an e-mail or a name)');
    }
    const key = input.idempotencyKey ?? newIdempotencyKey();
    if (typeof key !== 'string' || !OPAQUE.test(key)) throw new InvalidArgumentError('idempotencyKey must be 1 to 128 characters of [A-Za-z0-9._:-]');
    const json: Record<string, unknown> = { user_id: input.userId, envelope: input.encryptedData };
    if (input.metadata !== undefined) json.metadata = input.metadata;
    const res = await this.#request({ method: 'POST', path: '/v1/records', json, headers: { 'idempotency-key': key }, idempotent: true });
    const r = this.#json(res);
    return {
      id: str(r.id, 'id'),
      userId: str(r.user_id, 'user_id'),
      createdAt: str(r.created_at, 'created_at'),
      size: Number(r.size),
      replayed: res.headers.get('idempotent-replayed') === 'true',
    };
  }

  /** Reads one record (`GET /v1/records/{id}`). Throws {@link NotFoundError} when absent. */
  async getRecord(id: string): Promise<EncryptedRecord> {
    if (typeof id !== 'string' || !OPAQUE.test(id)) throw new InvalidArgumentError('id must be a record id');
    const res = await this.#request({ method: 'GET', path: `/v1/records/${encodeURIComponent(id)}`, idempotent: true });
    return toRecord(this.#json(res));
  }

  /** Lists a user's records, newest first (`GET /v1/records`). */
  async listRecords(input: ListRecordsInput): Promise<RecordPage> {
    if (!input || typeof input.userId !== 'string' || !USER_ID.test(input.userId)) {
      throw new InvalidArgumentError('userId must be 1 to 128 characters of [A-Za-z0-9._:-]');
    }
    if (input.limit !== undefined && (!Number.isInteger(input.limit) || input.limit < 1 || input.limit > 500)) {
      throw new InvalidArgumentError('limit must be an integer in 1..500');
    }
    const res = await this.#request({
      method: 'GET',
      path: '/v1/records',
      query: { user_id: input.userId, limit: input.limit, cursor: input.cursor },
      idempotent: true,
    });
    const r = this.#json(res);
    const records = Array.isArray(r.records) ? r.records.map(toRecord) : [];
    return { records, nextCursor: typeof r.next_cursor === 'string' ? r.next_cursor : null };
  }

  /** Iterates over all of a user's records, page by page. */
  async *iterateRecords(input: Omit<ListRecordsInput, 'cursor'>): AsyncGenerator<EncryptedRecord> {
    let cursor: string | undefined;
    do {
      const page = await this.listRecords(cursor === undefined ? input : { ...input, cursor });
      yield* page.records;
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
  }

  /** Deletes a record (`DELETE /v1/records/{id}`). Throws {@link NotFoundError} when absent. */
  async deleteRecord(id: string): Promise<void> {
    if (typeof id !== 'string' || !OPAQUE.test(id)) throw new InvalidArgumentError('id must be a record id');
    await this.#request({ method: 'DELETE', path: `/v1/records/${encodeURIComponent(id)}`, idempotent: true });
  }

  /**
   * Forwards the client's sealed AI request (`POST /v1/ai/analyze`): the
   * EHBP body unchanged, its `Ehbp-Encapsulated-Key`, and the backend's
   * plaintext side data (`Zenalyze-Instructions`, `Zenalyze-Record-Ids`).
   * Returns the sealed answer untouched (status, `Ehbp-Response-Nonce`,
   * body) for the client to open — sealed errors from the enclave included.
   * With `callbackUrl` the gateway runs it asynchronously (`Prefer:
   * respond-async`, `Callback-Url`) and answers with a job. Retried only when
   * the gateway guarantees nothing ran (429, 503 `unavailable`).
   */
  async analyzeWithAI(input: AnalyzeInput): Promise<SealedAnswer | AnalyzeJob> {
    if (!input || typeof input !== 'object' || !input.encryptedData) throw new InvalidArgumentError('encryptedData (the sealed request) is required');
    const { body, encapsulatedKey } = input.encryptedData;
    if (typeof encapsulatedKey !== 'string' || !/^[0-9a-f]{64}$/.test(encapsulatedKey)) {
      throw new InvalidArgumentError('encryptedData.encapsulatedKey must be the Ehbp-Encapsulated-Key (64 lowercase hex digits)');
    }
    let sealed: Uint8Array;
    if (body instanceof Uint8Array) sealed = body;
    else if (typeof body === 'string' && body.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(body)) sealed = new Uint8Array(Buffer.from(body, 'base64'));
    else throw new InvalidArgumentError('encryptedData.body must be the sealed EHBP body (bytes or standard base64)');
    if (sealed.length === 0) throw new InvalidArgumentError('encryptedData.body is empty');
    if (input.prompt !== undefined && input.instructions !== undefined) {
      throw new InvalidArgumentError('give either prompt or instructions, not both');
    }
    const headers: Record<string, string> = {
      'ehbp-encapsulated-key': encapsulatedKey,
      'content-type': 'application/octet-stream',
      accept: 'application/octet-stream, application/json, application/problem+json',
    };
    const instructions = input.instructions ?? input.prompt;
    if (instructions !== undefined) {
      if (typeof instructions !== 'string' || /[\u0000-\u0008\u000a-\u001f\u007f]/.test(instructions)) {
        throw new InvalidArgumentError('instructions must be text without control characters (line breaks included)');
      }
      const utf8 = Buffer.from(instructions, 'utf8');
      if (utf8.length > 4096) throw new InvalidArgumentError('instructions must be at most 4096 bytes of UTF-8');
      // Header values are bytes: send the UTF-8 bytes (fetch writes each char <= 0xFF as one byte).
      headers['zenalyze-instructions'] = utf8.toString('latin1');
    }
    if (input.recordIds !== undefined) {
      if (!Array.isArray(input.recordIds) || input.recordIds.length > 64 || !input.recordIds.every((r) => typeof r === 'string' && OPAQUE.test(r))) {
        throw new InvalidArgumentError('recordIds must be at most 64 record ids');
      }
      if (input.recordIds.length > 0) headers['zenalyze-record-ids'] = input.recordIds.join(',');
    }
    if (input.callbackUrl !== undefined) {
      let u: URL;
      try {
        u = new URL(input.callbackUrl);
      } catch {
        throw new InvalidArgumentError('callbackUrl must be an absolute URL');
      }
      if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new InvalidArgumentError('callbackUrl must be http(s)');
      headers['callback-url'] = u.href;
      headers.prefer = 'respond-async';
    }
    if (input.async === true) headers.prefer = 'respond-async';
    const res = await this.#request({
      method: 'POST',
      path: '/v1/ai/analyze',
      rawBody: sealed,
      headers,
      // An AI request may have run after a network error: never repeated
      // then (429 and 503 `unavailable` guarantee nothing ran and are retried).
      idempotent: false,
      // A sealed answer (any status) carries the response nonce: it is the client's to open.
      accept: (r) => r.headers.get('ehbp-response-nonce') !== null,
    });
    return this.#analysisResult(res);
  }

  #analysisResult(res: RawResponse): SealedAnswer | AnalyzeJob {
    const nonce = res.headers.get('ehbp-response-nonce');
    if (nonce !== null) {
      return {
        status: res.status,
        responseNonce: nonce,
        body: res.body,
        bodyBase64: b64(res.body),
        requestId: res.headers.get('x-request-id') ?? undefined,
      };
    }
    const job = this.#json(res);
    const jobId = typeof job.job_id === 'string' ? job.job_id : typeof job.id === 'string' ? job.id : undefined;
    if (jobId === undefined) throw new ZenalyzeError(`unexpected answer from the gateway (HTTP ${res.status}): neither a sealed answer nor a job`);
    return { status: res.status, jobId, job };
  }

  /**
   * An asynchronous AI job (`GET /v1/ai/jobs/{id}`): its status and, once
   * finished, the sealed result to hand to the client that sealed the
   * request (only it can open `result.body`, with `result.responseNonce`).
   */
  async getAnalysisJob(jobId: string): Promise<AnalysisJob> {
    if (typeof jobId !== 'string' || !OPAQUE.test(jobId)) throw new InvalidArgumentError('jobId must be a job id');
    const j = this.#json(await this.#request({ method: 'GET', path: `/v1/ai/jobs/${encodeURIComponent(jobId)}`, idempotent: true }));
    const r = j.result as Record<string, unknown> | null | undefined;
    let result: AnalysisJob['result'] = null;
    if (r && typeof r === 'object') {
      const bodyBase64 = str(r.body, 'result.body');
      result = {
        status: Number(r.http_status),
        responseNonce: typeof r.response_nonce === 'string' ? r.response_nonce : null,
        contentType: typeof r.content_type === 'string' ? r.content_type : null,
        body: new Uint8Array(Buffer.from(bodyBase64, 'base64')),
        bodyBase64,
      };
    }
    return {
      jobId: str(j.job_id, 'job_id'),
      status: str(j.status, 'status'),
      createdAt: str(j.created_at, 'created_at'),
      completedAt: typeof j.completed_at === 'string' ? j.completed_at : null,
      expiresAt: str(j.expires_at, 'expires_at'),
      result,
    };
  }

  /**
   * Creates or rotates the tenant's webhook signing secret
   * (`POST /v1/ai/webhook-secret`, scope `admin`). The `whsec_…` secret is
   * returned once; store it and pass it to {@link verifyWebhook}. The
   * previous secret stops signing at once. Not retried.
   */
  async rotateWebhookSecret(): Promise<string> {
    const res = await this.#request({ method: 'POST', path: '/v1/ai/webhook-secret', idempotent: false });
    return str(this.#json(res).secret, 'secret');
  }

  #platformBatch(input: PlatformBatchInput, kind: 'plaintext' | 'ciphertext'): Record<string, unknown> {
    if (!Array.isArray(input.batch) || input.batch.length === 0 || input.batch.length > 1000) {
      throw new InvalidArgumentError('batch must have 1 to 1000 items');
    }
    return {
      keyring: keyringName(input.keyring),
      batch: input.batch.map((item) => {
        const out: Record<string, unknown> = {};
        if (kind === 'plaintext') out.plaintext = bytesB64(item.plaintext, 'plaintext');
        else out.ciphertext = cipherText(item.ciphertext);
        if (item.context !== undefined) out.context = bytesB64(item.context, 'context');
        if (item.reference !== undefined) out.reference = String(item.reference);
        return out;
      }),
    };
  }

  #batchResults(res: RawResponse): PlatformBatchResult[] {
    const r = this.#json(res);
    if (!Array.isArray(r.batch)) throw new ZenalyzeError(`unexpected answer from the gateway (HTTP ${res.status}): no batch`);
    return r.batch.map((raw: unknown) => {
      const it = (raw ?? {}) as Record<string, unknown>;
      const out: PlatformBatchResult = {};
      if (typeof it.reference === 'string') out.reference = it.reference;
      if (typeof it.ciphertext === 'string') out.ciphertext = it.ciphertext;
      if (typeof it.key_version === 'number') out.keyVersion = it.key_version;
      if (typeof it.plaintext === 'string') out.plaintext = new Uint8Array(Buffer.from(it.plaintext, 'base64'));
      if (it.error && typeof it.error === 'object') {
        const e = it.error as Record<string, unknown>;
        const s = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
        out.error = apiErrorFrom({
          status: typeof e.status === 'number' ? e.status : 0,
          type: s(e.type) ?? 'about:blank',
          title: s(e.title) ?? 'error',
          detail: s(e.detail),
          code: s(e.code),
          requestId: s(e.request_id),
        });
      }
      return out;
    });
  }

  /**
   * Encrypts non-PHI metadata (usernames, e-mails…) under a platform
   * keyring (`POST /v1/encrypt`). One value gives a {@link PlatformCiphertext};
   * a `batch` gives per-item results.
   */
  async encryptMetadata(input: PlatformEncryptInput): Promise<PlatformCiphertext>;
  async encryptMetadata(input: PlatformBatchInput): Promise<PlatformBatchResult[]>;
  async encryptMetadata(input: PlatformEncryptInput | PlatformBatchInput): Promise<PlatformCiphertext | PlatformBatchResult[]> {
    if (input && 'batch' in input) {
      const res = await this.#request({ method: 'POST', path: '/v1/encrypt', json: this.#platformBatch(input, 'plaintext'), idempotent: true });
      return this.#batchResults(res);
    }
    const json: Record<string, unknown> = { keyring: keyringName(input?.keyring), plaintext: bytesB64(input?.plaintext, 'plaintext') };
    if (input.context !== undefined) json.context = bytesB64(input.context, 'context');
    const res = await this.#request({ method: 'POST', path: '/v1/encrypt', json, idempotent: true });
    return this.#cipher(res);
  }

  #cipher(res: RawResponse): PlatformCiphertext {
    const r = this.#json(res);
    return { ciphertext: str(r.ciphertext, 'ciphertext'), keyVersion: Number(r.key_version) };
  }

  /** Decrypts platform ciphertexts (`POST /v1/decrypt`): one value, or a `batch` with per-item results. */
  async decryptMetadata(input: PlatformDecryptInput): Promise<PlatformPlaintext>;
  async decryptMetadata(input: PlatformBatchInput): Promise<PlatformBatchResult[]>;
  async decryptMetadata(input: PlatformDecryptInput | PlatformBatchInput): Promise<PlatformPlaintext | PlatformBatchResult[]> {
    if (input && 'batch' in input) {
      const res = await this.#request({ method: 'POST', path: '/v1/decrypt', json: this.#platformBatch(input, 'ciphertext'), idempotent: true });
      return this.#batchResults(res);
    }
    const json: Record<string, unknown> = { keyring: keyringName(input?.keyring), ciphertext: cipherText(input?.ciphertext) };
    if (input.context !== undefined) json.context = bytesB64(input.context, 'context');
    const res = await this.#request({ method: 'POST', path: '/v1/decrypt', json, idempotent: true });
    const plaintext = new Uint8Array(Buffer.from(str(this.#json(res).plaintext, 'plaintext'), 'base64'));
    return { plaintext, text: text(plaintext) };
  }

  /** Moves a ciphertext to the keyring's primary version without returning plaintext (`POST /v1/rewrap`). */
  async rewrap(input: PlatformDecryptInput): Promise<PlatformCiphertext>;
  async rewrap(input: PlatformBatchInput): Promise<PlatformBatchResult[]>;
  async rewrap(input: PlatformDecryptInput | PlatformBatchInput): Promise<PlatformCiphertext | PlatformBatchResult[]> {
    if (input && 'batch' in input) {
      const res = await this.#request({ method: 'POST', path: '/v1/rewrap', json: this.#platformBatch(input, 'ciphertext'), idempotent: true });
      return this.#batchResults(res);
    }
    const json: Record<string, unknown> = { keyring: keyringName(input?.keyring), ciphertext: cipherText(input?.ciphertext) };
    if (input.context !== undefined) json.context = bytesB64(input.context, 'context');
    return this.#cipher(await this.#request({ method: 'POST', path: '/v1/rewrap', json, idempotent: true }));
  }

  /** A blind index (lowercase hex) for lookups without decryption (`POST /v1/blind-index`). */
  async blindIndex(input: BlindIndexInput): Promise<string> {
    const json: Record<string, unknown> = { keyring: keyringName(input?.keyring), value: bytesB64(input?.value, 'value') };
    if (input.bits !== undefined) {
      if (!Number.isInteger(input.bits) || input.bits < 32 || input.bits > 256 || input.bits % 8 !== 0) {
        throw new InvalidArgumentError('bits must be a multiple of 8 from 32 to 256');
      }
      json.bits = input.bits;
    }
    const res = await this.#request({ method: 'POST', path: '/v1/blind-index', json, idempotent: true });
    return str(this.#json(res).index, 'index');
  }

  /** The tenant's quota and per-day usage (`GET /v1/usage`). */
  async usage(input: UsageInput = {}): Promise<Usage> {
    for (const [k, v] of Object.entries(input)) {
      if (v !== undefined && (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(v))) throw new InvalidArgumentError(`${k} must be YYYY-MM-DD`);
    }
    const res = await this.#request({ method: 'GET', path: '/v1/usage', query: { from: input.from, to: input.to }, idempotent: true });
    return this.#json(res) as unknown as Usage;
  }
}
