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
//!
//! # Wiring in the gateway
//!
//! Cargo: `zenalyze-limits = { workspace = true, features = ["store", "openapi"] }`
//! (`store`: `StoreUsageSink` and conversions from the store's tenant and
//! tier; `openapi`: utoipa schemas of the usage types).
//!
//! 1. Configuration: embed [`LimitsConfig`] as `[limits]` (serde,
//!    `deny_unknown_fields`, every field has a default).
//! 2. Start-up (inside the Tokio runtime; the feature `store` gives
//!    `StoreUsageSink`):
//!    ```text
//!    let sink = Arc::new(zenalyze_limits::StoreUsageSink::new(store.clone()));
//!    let limiter = Limiter::from_config(&cfg.limits, Some(&registry), sink).await?;
//!    let flusher = limiter.usage().spawn_flusher(cfg.limits.usage_flush_interval());
//!    // `zenalyze dev`: backend = "memory" (the default).
//!    ```
//! 3. Authentication middleware: after resolving the API key, insert a
//!    [`LimitSubject`] into the request extensions:
//!    `LimitSubject { tenant_id: tenant.id.to_string(), limits: TierLimits::from(&tenant) }`
//!    (or `TierLimits::for_tier(tier).with_overrides(quota_override, burst_override)`).
//! 4. Routes: either one layer for the whole API router, which finds the
//!    operation from the method and route template ([`Operation::for_route`])
//!    and leaves unmetered routes alone:
//!    ```text
//!    let api = Router::new()
//!        .route("/v1/encrypt", post(encrypt))
//!        /* … every /v1 route … */
//!        .route_layer(limiter.route_layer())   // inside auth
//!        .layer(from_fn_with_state(state, authenticate)); // outside
//!    ```
//!    or one layer per metered route:
//!    `post(encrypt).layer(limiter.layer(Operation::Encrypt))`, or, inside a
//!    handler, `match limiter.enforce(&tenant, &limits, op).await { Err(resp)
//!    => return resp, Ok(d) => /* handle, then */ d.apply_headers(resp.headers_mut()) }`.
//!    Refusals are complete 429 responses (problem+json, `RateLimit-*`,
//!    `Retry-After`); the gateway's problem middleware may add
//!    `request_id` to the body.
//! 5. `GET /v1/usage` (unmetered): parse [`UsageQuery`] with
//!    [`UsageRange::parse`]`(&query, today_utc)` (errors → 400
//!    `invalid-parameter` with the error's text), read the store's rows for
//!    the caller's tenant, and answer
//!    `limiter.usage_report(tenant, &limits, range, store_sink::usage_rows(rows)).await?`.
//! 6. Metrics: the limiter registers into the gateway's registry (step 2);
//!    call `limiter.metrics_handle().map(|m| m.set_tenants_per_tier(tier, n))`
//!    at start and after tenant changes.
//! 7. Graceful shutdown: after the server stopped accepting requests,
//!    `flusher.shutdown().await` (logs and keeps the counts on error).
//! 8. Benchmark switch: `[limits] enabled = false` turns checks and headers
//!    off (usage stays metered).
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
