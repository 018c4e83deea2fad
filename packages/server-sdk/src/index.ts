/**
 * `@zenalyze/server-sdk` — the customer backend's SDK for the Zenalyze
 * Encryption Service (Node 18+, zero runtime dependencies).
 *
 * - {@link ZenalyzeServer}: encrypted records, sealed AI requests, platform
 *   keyrings, usage — with timeouts, safe retries and typed errors;
 * - {@link verifyWebhook}: Standard Webhooks v1 verification;
 * - {@link validateEnvelope}: the local v1 envelope check `storeEncrypted` runs.
 *
 * @packageDocumentation
 */

export { ZenalyzeServer, newIdempotencyKey, parseRetryAfter } from './client.js';
export type {
  ZenalyzeServerOptions,
  FetchFn,
  StoreEncryptedInput,
  StoredRecord,
  EncryptedRecord,
  ListRecordsInput,
  RecordPage,
  SealedRequest,
  AnalyzeInput,
  SealedAnswer,
  AnalyzeJob,
  AnalysisJob,
  BytesLike,
  PlatformEncryptInput,
  PlatformDecryptInput,
  PlatformBatchInput,
  PlatformBatchItem,
  PlatformBatchResult,
  PlatformCiphertext,
  PlatformPlaintext,
  BlindIndexInput,
  UsageInput,
  Usage,
} from './client.js';
export { validateEnvelope, isEnvelope, ENVELOPE_VERSION_V1, ENVELOPE_MIN_LEN } from './envelope.js';
export type { EnvelopeInfo } from './envelope.js';
export { verifyWebhook, signWebhook, DEFAULT_WEBHOOK_TOLERANCE_SECONDS } from './webhooks.js';
export type { VerifyWebhookOptions, VerifiedWebhook, WebhookHeaders } from './webhooks.js';
export {
  PROBLEM_BASE,
  ZenalyzeError,
  ConfigurationError,
  InvalidArgumentError,
  InvalidEnvelopeError,
  NetworkError,
  TimeoutError,
  ApiError,
  ValidationError,
  EnvelopeRejectedError,
  AuthenticationError,
  PermissionError,
  NotFoundError,
  ConflictError,
  PayloadTooLargeError,
  RateLimitError,
  ServiceUnavailableError,
  InternalServerError,
  WebhookVerificationError,
  apiErrorFrom,
} from './errors.js';
export type { EnvelopeErrorCode, WebhookErrorCode, ProblemFields } from './errors.js';
