//! `zenalyze-server`: the customer backend's SDK for the Zenalyze
//! Encryption Service (the gateway's REST API, `docs/api.md`).
//!
//! The backend never handles plaintext user data: records are v1
//! envelopes sealed on the user's device, AI requests are sealed by the
//! client SDK and forwarded untouched.
//!
//! * [`ZenalyzeServer`]: records, sealed AI requests, platform keyrings and
//!   usage, with per-attempt timeouts, safe retries (exponential backoff with
//!   jitter, `Retry-After`) and typed errors ([`Error`], [`ApiError`]).
//! * [`ZenalyzeServer::metadata_key`]: the design's `getMetadataKey({purpose,
//!   version})` as a handle that encrypts, decrypts, rewraps and blind-indexes
//!   metadata through the gateway's Key Management Service — raw platform
//!   keys never reach the caller.
//! * [`webhooks::verify_webhook`]: Standard Webhooks v1 verification.
//!
//! ```no_run
//! # async fn demo(envelope_from_browser: String) -> Result<(), zenalyze_server::Error> {
//! use zenalyze_server::{StoreEncrypted, ZenalyzeServer};
//!
//! let zen = ZenalyzeServer::builder("zk_test_0123456789abcdefghijABCDEFGHIJ0123456789")
//!     .base_url("http://127.0.0.1:8080")
//!     .build()?;
//! let stored = zen
//!     .store_encrypted(StoreEncrypted::new("usr_42", envelope_from_browser))
//!     .await?;
//! let record = zen.get_record(&stored.id).await?;
//! assert_eq!(record.user_id, "usr_42");
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod error;
mod types;
pub mod webhooks;

pub use client::metadata::{ItemProblem, MetadataKey, MetadataKeyRequest, SealedMetadata};
pub use client::{new_idempotency_key, parse_retry_after, ZenalyzeServer, ZenalyzeServerBuilder};
pub use error::{ApiError, Error, ProblemType, PROBLEM_BASE};
pub use types::{
    AnalysisJob, AnalyzeJob, AnalyzeOutcome, AnalyzeRequest, EncryptedRecord, JobResult,
    ListRecords, PlatformCiphertext, PlatformItem, PlatformResult, QuotaStatus, RecordPage,
    SealedAnswer, SealedRequest, StoreEncrypted, StoredRecord, Usage, UsageDay,
};
