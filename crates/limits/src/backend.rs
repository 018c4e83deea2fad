//! The back-end trait both limiters implement.

use crate::decision::{Decision, QuotaStatus};
use crate::error::LimitError;
use crate::tier::TierLimits;

/// A place where limiter state lives: [`crate::MemoryLimiter`] (one node)
/// or [`crate::RedisLimiter`] (shared by all gateway instances, with an
/// in-memory fallback).
#[async_trait::async_trait]
pub trait LimitBackend: Send + Sync + 'static {
    /// Checks the burst limit and the quota of `tenant` and, only if both
    /// allow it, consumes one unit of each — atomically. `now_us` is the
    /// caller's clock (µs since the epoch); the Redis back-end uses Redis's
    /// clock instead, and `now_us` only when it falls back to memory.
    async fn check_and_consume(
        &self,
        tenant: &str,
        limits: &TierLimits,
        now_us: i64,
    ) -> Result<Decision, LimitError>;

    /// The quota status of `tenant` in the current window (nothing consumed).
    async fn quota_status(
        &self,
        tenant: &str,
        limits: &TierLimits,
        now_us: i64,
    ) -> Result<QuotaStatus, LimitError>;

    /// Short name (`memory`, `redis`, `fallback`): the `backend` label of
    /// the latency histogram.
    fn name(&self) -> &'static str;
}
