/**
 * Typed errors. Every error the SDK throws is a {@link ZenalyzeError}.
 *
 * - Local refusals (nothing was sent): {@link ConfigurationError},
 *   {@link InvalidArgumentError}, {@link InvalidEnvelopeError}.
 * - Transport: {@link NetworkError}, {@link TimeoutError}.
 * - API problems (RFC 9457 documents from the gateway): {@link ApiError} and
 *   one subclass per family of problem `type` URIs.
 * - Webhooks: {@link WebhookVerificationError}.
 *
 * No error ever carries a request body, an envelope, plaintext or the API key.
 *
 * @module
 */

/** Prefix of the gateway's problem `type` URIs. */
export const PROBLEM_BASE = 'https://zenalyze.dev/problems/';

/** Base class of every error thrown by the SDK. */
export class ZenalyzeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The client was constructed with invalid options (nothing was sent). */
export class ConfigurationError extends ZenalyzeError {}

/** An argument is invalid (nothing was sent). */
export class InvalidArgumentError extends ZenalyzeError {}

/** Why an envelope was refused locally (same codes as `docs/formats.md`). */
export type EnvelopeErrorCode = 'invalid_base64' | 'too_short' | 'unsupported_version';

/**
 * `storeEncrypted` refused `encryptedData` because it is not a well-formed v1
 * envelope in standard base64: it was **not** sent (so plaintext cannot leave
 * the backend by mistake). The message never contains the data.
 */
export class InvalidEnvelopeError extends ZenalyzeError {
  /** Machine-readable cause. */
  readonly code: EnvelopeErrorCode;
  constructor(code: EnvelopeErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** The gateway could not be reached (connection refused, reset, DNS…), after all retries. */
export class NetworkError extends ZenalyzeError {
  /** How many attempts were made. */
  readonly attempts: number;
  constructor(message: string, attempts: number) {
    super(message);
    this.attempts = attempts;
  }
}

/** No answer within `timeoutMs` (per attempt), after all retries. */
export class TimeoutError extends ZenalyzeError {
  /** How many attempts were made. */
  readonly attempts: number;
  constructor(message: string, attempts: number) {
    super(message);
    this.attempts = attempts;
  }
}

/** The fields of an RFC 9457 problem document plus response metadata. */
export interface ProblemFields {
  /** HTTP status. */
  status: number;
  /** Problem `type` URI (e.g. `https://zenalyze.dev/problems/not-found`). */
  type: string;
  /** Short fixed summary. */
  title: string;
  /** Gateway-written explanation (never echoes submitted data). */
  detail?: string | undefined;
  /** Machine-readable cause when a type has several (e.g. `too_short`). */
  code?: string | undefined;
  /** The request id (`X-Request-Id`), to quote to support. */
  requestId?: string | undefined;
  /** `Retry-After` in milliseconds, when the gateway sent one. */
  retryAfterMs?: number | undefined;
}

/** An error answer of the gateway (an RFC 9457 problem document). */
export class ApiError extends ZenalyzeError {
  /** HTTP status. */
  readonly status: number;
  /** Problem `type` URI. */
  readonly type: string;
  /** Short fixed summary. */
  readonly title: string;
  /** Gateway-written explanation. */
  readonly detail: string | undefined;
  /** Machine-readable cause, when present. */
  readonly code: string | undefined;
  /** The request id, to quote to support. */
  readonly requestId: string | undefined;
  /** `Retry-After` in milliseconds, when present. */
  readonly retryAfterMs: number | undefined;

  constructor(p: ProblemFields) {
    super(`${p.title} (HTTP ${p.status}${p.detail ? `: ${p.detail}` : ''})${p.requestId ? ` [request ${p.requestId}]` : ''}`);
    this.status = p.status;
    this.type = p.type;
    this.title = p.title;
    this.detail = p.detail;
    this.code = p.code;
    this.requestId = p.requestId;
    this.retryAfterMs = p.retryAfterMs;
  }

  /** The last segment of the `type` URI (`not-found`, `rate-limited`, …). */
  get slug(): string {
    return this.type.startsWith(PROBLEM_BASE) ? this.type.slice(PROBLEM_BASE.length) : this.type;
  }
}

/** 400/422: malformed JSON, schema mismatch, out-of-range values or parameters. */
export class ValidationError extends ApiError {}
/** 422 `invalid-envelope`: the gateway refused the envelope (`code` says why). */
export class EnvelopeRejectedError extends ApiError {}
/** 401 `unauthorized`: missing, unknown or revoked API key. */
export class AuthenticationError extends ApiError {}
/** 403 `forbidden`: the key lacks the operation's scope. */
export class PermissionError extends ApiError {}
/** 404 `not-found` (also another tenant's resource). */
export class NotFoundError extends ApiError {}
/** 409 `conflict` / `idempotency-in-progress`, 422 `idempotency-key-reused`. */
export class ConflictError extends ApiError {}
/** 413 `payload-too-large`. */
export class PayloadTooLargeError extends ApiError {}
/** 429 `rate-limited` (burst) or `quota-exceeded` (daily/monthly quota); see `retryAfterMs`. */
export class RateLimitError extends ApiError {}
/** 503 `unavailable` / `timeout`, 502/504: retry later (creates with the same `Idempotency-Key`). */
export class ServiceUnavailableError extends ApiError {}
/** 500 `internal`. */
export class InternalServerError extends ApiError {}

type ApiErrorClass = new (p: ProblemFields) => ApiError;

const BY_SLUG: Record<string, ApiErrorClass> = {
  'malformed-json': ValidationError,
  'invalid-parameter': ValidationError,
  'invalid-request-id': ValidationError,
  'invalid-idempotency-key': ValidationError,
  'invalid-body': ValidationError,
  'validation-failed': ValidationError,
  'unsupported-media-type': ValidationError,
  'invalid-envelope': EnvelopeRejectedError,
  unauthorized: AuthenticationError,
  forbidden: PermissionError,
  'not-found': NotFoundError,
  conflict: ConflictError,
  'idempotency-in-progress': ConflictError,
  'idempotency-key-reused': ConflictError,
  'payload-too-large': PayloadTooLargeError,
  'rate-limited': RateLimitError,
  'quota-exceeded': RateLimitError,
  unavailable: ServiceUnavailableError,
  timeout: ServiceUnavailableError,
  internal: InternalServerError,
};

/** Builds the error class for a problem (by `type`, falling back to the status). */
export function apiErrorFrom(p: ProblemFields): ApiError {
  const slug = p.type.startsWith(PROBLEM_BASE) ? p.type.slice(PROBLEM_BASE.length) : '';
  const cls =
    BY_SLUG[slug] ??
    (p.status === 400 || p.status === 422 || p.status === 415
      ? ValidationError
      : p.status === 401
        ? AuthenticationError
        : p.status === 403
          ? PermissionError
          : p.status === 404
            ? NotFoundError
            : p.status === 409
              ? ConflictError
              : p.status === 413
                ? PayloadTooLargeError
                : p.status === 429
                  ? RateLimitError
                  : p.status === 502 || p.status === 503 || p.status === 504
                    ? ServiceUnavailableError
                    : p.status >= 500
                      ? InternalServerError
                      : ApiError);
  return new cls(p);
}

/** Why a webhook was refused. */
export type WebhookErrorCode =
  | 'invalid_secret'
  | 'missing_header'
  | 'invalid_timestamp'
  | 'timestamp_too_old'
  | 'timestamp_too_new'
  | 'invalid_signature'
  | 'invalid_payload';

/** A webhook failed Standard Webhooks verification: do not process it. */
export class WebhookVerificationError extends ZenalyzeError {
  /** Machine-readable cause. */
  readonly code: WebhookErrorCode;
  constructor(code: WebhookErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
