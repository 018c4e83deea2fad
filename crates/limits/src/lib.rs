//! Tiers, burst rate limits, quotas and usage metering for the Zenalyze
//! gateway (SPEC §6).
//!
//! - [`Tier`] / [`TierLimits`]: Free 100/UTC day at 10/s, Starter
//!   10,000/UTC month at 25/s, Pro 100,000/month at 100/s, Enterprise
//!   unlimited at 500/s; per-tenant overrides.
//! - [`Limiter`]: one decision per metered request ([`Operation`]):
//!   burst (GCRA) and quota checked and consumed together, a refusal
//!   consumes nothing. Back-ends behind [`LimitBackend`]:
//!   [`MemoryLimiter`] (one node) and [`RedisLimiter`] (shared, atomic Lua
//!   on Redis's clock, automatic in-memory fallback and recovery).
//! - [`Decision`]: `RateLimit-*` / `Retry-After` headers and the
//!   `quota-exceeded` / `rate-limited` problem documents.
//! - [`UsageMeter`]: exact per tenant/operation/day counts, flushed to a
//!   [`UsageSink`].
//! - [`LimiterMetrics`]: Prometheus metrics.
//! - [`LimitLayer`]: the per-route tower layer; [`UsageRange`] /
//!   [`UsageResponse`] for `GET /v1/usage`.
//!
//! The decision rule itself is pure ([`decision::decide`], [`gcra::check`],
//! [`window::span_at`]): time is a parameter.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod backend;
pub mod clock;
pub mod decision;
pub mod error;
pub mod gcra;
pub mod limiter;
pub mod memory;
pub mod metrics;
pub mod middleware;
pub mod operation;
pub mod redis_backend;
#[cfg(feature = "store")]
pub mod store_sink;
pub mod tier;
pub mod usage;
pub mod usage_api;
pub mod window;

pub use backend::LimitBackend;
pub use clock::{Clock, ManualClock, SystemClock};
pub use decision::{
    Decision, Policy, QuotaStatus, RefusalKind, PROBLEM_QUOTA_EXCEEDED, PROBLEM_RATE_LIMITED,
    RATELIMIT_LIMIT, RATELIMIT_REMAINING, RATELIMIT_RESET,
};
pub use error::LimitError;
pub use limiter::{BackendKind, Limiter, LimitsConfig};
pub use memory::MemoryLimiter;
pub use metrics::LimiterMetrics;
pub use middleware::{LimitLayer, LimitService, LimitSubject};
pub use operation::Operation;
pub use redis_backend::{RedisLimiter, RedisSettings};
#[cfg(feature = "store")]
pub use store_sink::StoreUsageSink;
pub use tier::{Tier, TierLimits};
pub use usage::{
    MemoryUsageSink, UsageFlusher, UsageIncrement, UsageMeter, UsageSink, UsageSinkError,
};
pub use usage_api::{
    build_usage_response, UsageDay, UsageQuery, UsageRange, UsageRangeError, UsageResponse,
};
pub use window::QuotaWindow;
