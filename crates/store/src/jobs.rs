//! Asynchronous AI jobs and per-tenant webhook signing secrets.
//!
//! A job holds only what the enclave answered — HTTP status, EHBP response
//! nonce and sealed body (only the client that sealed the request can open
//! it) — or a problem document without content. Jobs expire and are purged
//! ([`crate::Store::purge_jobs`]). Webhook secrets are stored wrapped by
//! the gateway; the store never sees them in clear.

use std::fmt;

use time::OffsetDateTime;

use crate::error::{Result, StoreError};
use crate::ids::{JobId, TenantId};

/// Largest stored job body (sealed answer), 32 MiB.
pub const MAX_JOB_BODY_LEN: usize = 32 * 1024 * 1024;
/// Longest callback URL, in bytes.
pub const MAX_CALLBACK_URL_LEN: usize = 2048;

/// State of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Accepted, not finished.
    Pending,
    /// The enclave answered 2xx (sealed answer stored).
    Succeeded,
    /// The enclave answered an error (sealed or not) or could not be reached.
    Failed,
}

impl JobStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "pending" => Ok(JobStatus::Pending),
            "succeeded" => Ok(JobStatus::Succeeded),
            "failed" => Ok(JobStatus::Failed),
            _ => Err(StoreError::Corrupt("job status")),
        }
    }
}

/// A job to create (status pending).
#[derive(Clone)]
pub struct NewJob {
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Job id.
    pub id: JobId,
    /// Webhook URL to notify, validated by the caller.
    pub callback_url: Option<String>,
    /// When the job (and its result) may be purged.
    pub expires_at: OffsetDateTime,
}

impl fmt::Debug for NewJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewJob")
            .field("tenant_id", &self.tenant_id)
            .field("id", &self.id)
            .field("has_callback", &self.callback_url.is_some())
            .finish()
    }
}

impl NewJob {
    /// Checks sizes.
    pub fn validate(&self) -> Result<()> {
        if self
            .callback_url
            .as_ref()
            .is_some_and(|u| u.is_empty() || u.len() > MAX_CALLBACK_URL_LEN)
        {
            return Err(StoreError::InvalidInput("callback url"));
        }
        Ok(())
    }
}

/// The end of a job.
#[derive(Clone)]
pub struct JobCompletion {
    /// `Succeeded` or `Failed` (`Pending` is refused).
    pub status: JobStatus,
    /// HTTP status of the answer.
    pub http_status: u16,
    /// `Ehbp-Response-Nonce` of a sealed answer.
    pub response_nonce: Option<String>,
    /// Content type of the answer.
    pub content_type: Option<String>,
    /// The answer body (sealed, or a problem document without content).
    pub body: Vec<u8>,
}

impl fmt::Debug for JobCompletion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobCompletion")
            .field("status", &self.status)
            .field("http_status", &self.http_status)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// A stored job.
#[derive(Clone)]
pub struct Job {
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Job id.
    pub id: JobId,
    /// State.
    pub status: JobStatus,
    /// HTTP status of the answer (finished jobs).
    pub http_status: Option<u16>,
    /// `Ehbp-Response-Nonce` of a sealed answer.
    pub response_nonce: Option<String>,
    /// Content type of the answer.
    pub content_type: Option<String>,
    /// The answer body (finished jobs).
    pub body: Option<Vec<u8>>,
    /// Webhook URL.
    pub callback_url: Option<String>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Completion time.
    pub completed_at: Option<OffsetDateTime>,
    /// Expiry time.
    pub expires_at: OffsetDateTime,
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("tenant_id", &self.tenant_id)
            .field("id", &self.id)
            .field("status", &self.status)
            .field("http_status", &self.http_status)
            .field("body_len", &self.body.as_ref().map(Vec::len))
            .finish_non_exhaustive()
    }
}

/// A tenant's wrapped webhook signing secret.
#[derive(Clone)]
pub struct WebhookSecretRow {
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The secret, wrapped by the gateway.
    pub wrapped_secret: Vec<u8>,
    /// When it was set.
    pub created_at: OffsetDateTime,
}

impl fmt::Debug for WebhookSecretRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSecretRow")
            .field("tenant_id", &self.tenant_id)
            .field("wrapped_secret", &"<wrapped>")
            .field("created_at", &self.created_at)
            .finish()
    }
}
