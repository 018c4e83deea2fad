//! Request and answer types.

use std::collections::BTreeMap;

use serde::Deserialize;
use zeroize::Zeroizing;

use crate::error::ApiError;

/// Input of [`crate::ZenalyzeServer::store_encrypted`].
#[derive(Clone, PartialEq, Eq)]
pub struct StoreEncrypted {
    /// The customer's opaque id of the end user: 1–128 characters of
    /// `[A-Za-z0-9._:-]` (never an e-mail or a name).
    pub user_id: String,
    /// The v1 envelope from the client SDK, standard base64 with padding.
    pub encrypted_data: String,
    /// Non-secret, non-PHI string metadata (≤ 32 entries).
    pub metadata: Option<BTreeMap<String, String>>,
    /// Makes retries safe; generated when `None`.
    pub idempotency_key: Option<String>,
}

impl std::fmt::Debug for StoreEncrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreEncrypted")
            .field("user_id", &self.user_id)
            .field(
                "encrypted_data",
                &format_args!("[{} chars]", self.encrypted_data.len()),
            )
            .field("metadata", &self.metadata.as_ref().map(|m| m.len()))
            .field("idempotency_key", &self.idempotency_key)
            .finish()
    }
}

impl StoreEncrypted {
    /// A record for `user_id` holding `encrypted_data`.
    pub fn new(user_id: impl Into<String>, encrypted_data: impl Into<String>) -> Self {
        StoreEncrypted {
            user_id: user_id.into(),
            encrypted_data: encrypted_data.into(),
            metadata: None,
            idempotency_key: None,
        }
    }

    /// Adds one metadata entry.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), value.into());
        self
    }

    /// Sets the idempotency key (otherwise one is generated per call).
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
}

/// Answer of [`crate::ZenalyzeServer::store_encrypted`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Record id (`rec_…`).
    pub id: String,
    /// The end user.
    pub user_id: String,
    /// Creation time (RFC 3339, UTC).
    pub created_at: String,
    /// Binary envelope size in bytes.
    pub size: u64,
    /// `true` when the gateway replayed the answer of an earlier identical
    /// request (same idempotency key).
    pub replayed: bool,
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EncryptedRecord {
    /// Record id (`rec_…`).
    pub id: String,
    /// The end user.
    pub user_id: String,
    /// The v1 envelope, standard base64 — decrypt it on the user's device.
    #[serde(rename = "envelope")]
    pub encrypted_data: String,
    /// Metadata as stored.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Creation time (RFC 3339, UTC).
    pub created_at: String,
}

/// Input of [`crate::ZenalyzeServer::list_records`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRecords {
    /// Only this end user's records.
    pub user_id: String,
    /// Page size 1–500 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl ListRecords {
    /// The first page of `user_id`'s records.
    pub fn new(user_id: impl Into<String>) -> Self {
        ListRecords {
            user_id: user_id.into(),
            limit: None,
            cursor: None,
        }
    }

    /// Sets the page size.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Continues after a previous page.
    pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }
}

/// A page of records, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RecordPage {
    /// The records.
    pub records: Vec<EncryptedRecord>,
    /// Pass as cursor for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// The client's sealed EHBP request, exactly as the client SDK produced it.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedRequest {
    /// The framed EHBP body.
    pub body: Vec<u8>,
    /// The `Ehbp-Encapsulated-Key` value (64 lowercase hex digits).
    pub encapsulated_key: String,
}

impl std::fmt::Debug for SealedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedRequest")
            .field("body", &format_args!("[{} bytes]", self.body.len()))
            .field("encapsulated_key", &self.encapsulated_key)
            .finish()
    }
}

/// Input of [`crate::ZenalyzeServer::analyze_with_ai`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalyzeRequest {
    /// The client's sealed request; forwarded untouched.
    pub encrypted_data: SealedRequest,
    /// Plaintext, non-PHI instructions of the backend (the provider's
    /// system instructions; the design calls it `prompt`).
    pub instructions: Option<String>,
    /// Ids of stored records the sealed request refers to.
    pub record_ids: Vec<String>,
    /// Run asynchronously and notify this URL (Standard Webhooks) when the
    /// job ends.
    pub callback_url: Option<String>,
    /// Run asynchronously without a callback (`Prefer: respond-async`);
    /// poll [`crate::ZenalyzeServer::get_analysis_job`].
    pub respond_async: bool,
}

impl AnalyzeRequest {
    /// Forwards `sealed` with no side data.
    pub fn new(sealed: SealedRequest) -> Self {
        AnalyzeRequest {
            encrypted_data: sealed,
            instructions: None,
            record_ids: Vec::new(),
            callback_url: None,
            respond_async: false,
        }
    }

    /// Sets the backend's plaintext instructions.
    pub fn instructions(mut self, text: impl Into<String>) -> Self {
        self.instructions = Some(text.into());
        self
    }

    /// Adds a stored record the sealed request refers to.
    pub fn record_id(mut self, id: impl Into<String>) -> Self {
        self.record_ids.push(id.into());
        self
    }

    /// Runs asynchronously without a callback.
    pub fn respond_async(mut self) -> Self {
        self.respond_async = true;
        self
    }

    /// Runs asynchronously with a webhook to `url`.
    pub fn callback_url(mut self, url: impl Into<String>) -> Self {
        self.callback_url = Some(url.into());
        self
    }
}

/// The sealed answer to hand back to the client, untouched.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedAnswer {
    /// HTTP status (the answer's class; details are inside the seal).
    pub status: u16,
    /// `Ehbp-Response-Nonce` (lowercase hex): the client needs it to open `body`.
    pub response_nonce: String,
    /// The framed, encrypted answer.
    pub body: Vec<u8>,
    /// The request id.
    pub request_id: Option<String>,
}

impl std::fmt::Debug for SealedAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedAnswer")
            .field("status", &self.status)
            .field("response_nonce", &self.response_nonce)
            .field("body", &format_args!("[{} bytes]", self.body.len()))
            .field("request_id", &self.request_id)
            .finish()
    }
}

/// An accepted asynchronous AI job.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyzeJob {
    /// HTTP status (202).
    pub status: u16,
    /// The job id.
    pub job_id: String,
    /// The gateway's job document.
    pub job: serde_json::Value,
}

/// Result of [`crate::ZenalyzeServer::analyze_with_ai`].
#[derive(Debug, Clone, PartialEq)]
pub enum AnalyzeOutcome {
    /// A synchronous sealed answer.
    Sealed(SealedAnswer),
    /// An accepted asynchronous job (a `callback_url` was given).
    Job(AnalyzeJob),
}

/// The quota of the current window.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct QuotaStatus {
    /// Requests allowed in the window (`None`: unlimited).
    pub limit: Option<u64>,
    /// Requests counted in the window.
    pub used: u64,
    /// Start of the next window (RFC 3339).
    pub resets_at: String,
}

/// One day of usage.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UsageDay {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// Count per operation.
    pub operations: BTreeMap<String, u64>,
}

/// Answer of [`crate::ZenalyzeServer::usage`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Usage {
    /// The tenant's tier.
    pub tier: String,
    /// The current quota window.
    pub quota: QuotaStatus,
    /// Each day of the range, oldest first.
    pub days: Vec<UsageDay>,
}

/// A platform ciphertext (`zen:v<N>:…`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PlatformCiphertext {
    /// `zen:v<N>:…`.
    pub ciphertext: String,
    /// The key version used (the keyring's primary).
    pub key_version: u32,
}

/// One item of a platform batch: `data` is the plaintext (encrypt) or the
/// `zen:v<N>:…` ciphertext (decrypt).
#[derive(Clone, Copy)]
pub struct PlatformItem<'a> {
    /// Plaintext (encrypt) or ciphertext text (decrypt).
    pub data: &'a [u8],
    /// Context bound at encryption.
    pub context: Option<&'a [u8]>,
    /// Echoed in the result.
    pub reference: Option<&'a str>,
}

impl std::fmt::Debug for PlatformItem<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformItem")
            .field("data", &format_args!("[{} bytes]", self.data.len()))
            .field("reference", &self.reference)
            .finish()
    }
}

/// One result of a platform batch, in input order.
#[derive(Clone)]
pub struct PlatformResult {
    /// The item's reference.
    pub reference: Option<String>,
    /// Encrypt: the ciphertext.
    pub ciphertext: Option<String>,
    /// Encrypt: the key version.
    pub key_version: Option<u32>,
    /// Decrypt: the plaintext (zeroized on drop).
    pub plaintext: Option<Zeroizing<Vec<u8>>>,
    /// The item's problem, when it failed.
    pub error: Option<ApiError>,
}

impl std::fmt::Debug for PlatformResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformResult")
            .field("reference", &self.reference)
            .field("ciphertext", &self.ciphertext)
            .field("key_version", &self.key_version)
            .field("plaintext", &self.plaintext.as_ref().map(|_| "[REDACTED]"))
            .field("error", &self.error)
            .finish()
    }
}

/// The result of a finished asynchronous job.
#[derive(Clone, PartialEq, Eq)]
pub struct JobResult {
    /// HTTP status of the answer.
    pub status: u16,
    /// `Ehbp-Response-Nonce` of a sealed answer (the client opens `body` with it).
    pub response_nonce: Option<String>,
    /// Content type of the answer.
    pub content_type: Option<String>,
    /// The answer body: sealed, or a gateway problem document.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for JobResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobResult")
            .field("status", &self.status)
            .field("response_nonce", &self.response_nonce)
            .field("content_type", &self.content_type)
            .field("body", &format_args!("[{} bytes]", self.body.len()))
            .finish()
    }
}

/// An asynchronous AI job (`GET /v1/ai/jobs/{id}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalysisJob {
    /// The job id.
    pub job_id: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Completion time (RFC 3339), once finished.
    pub completed_at: Option<String>,
    /// Expiry time (RFC 3339).
    pub expires_at: String,
    /// The result, once finished.
    pub result: Option<JobResult>,
}
