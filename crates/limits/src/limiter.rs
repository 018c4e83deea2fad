//! The limiter the gateway holds: configuration, back-end, clock, metrics
//! and usage meter in one cheap-to-clone handle.

use crate::backend::LimitBackend;
use crate::clock::{Clock, SystemClock};
use crate::decision::{Decision, QuotaStatus, PROBLEM_CONTENT_TYPE};
use crate::error::LimitError;
use crate::memory::MemoryLimiter;
use crate::metrics::LimiterMetrics;
use crate::operation::Operation;
use crate::redis_backend::{RedisLimiter, RedisSettings};
use crate::tier::TierLimits;
use crate::usage::{UsageMeter, UsageSink};
use crate::usage_api::{build_usage_response, UsageRange, UsageResponse};
use crate::window::to_micros;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// Which back-end holds the limiter state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// In process memory (one node; `zenalyze dev`).
    #[default]
    Memory,
    /// Redis, shared by every gateway instance.
    Redis,
}

/// The `[limits]` section of the gateway configuration.
///
/// ```toml
/// [limits]
/// enabled = true                 # false: no burst/quota checks, no RateLimit headers (usage still metered)
/// backend = "redis"              # or "memory"
/// usage_flush_interval_ms = 1000
/// [limits.redis]
/// url = "redis://127.0.0.1:6379"
/// key_prefix = "zl"
/// timeout_ms = 250
/// probe_min_ms = 250
/// probe_max_ms = 5000
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Switch for burst limits and quotas (metering stays on). While off,
    /// nothing is counted in the limiter, so `quota.used` of
    /// `GET /v1/usage` does not move (the per-day usage still does).
    pub enabled: bool,
    /// Where the state lives.
    pub backend: BackendKind,
    /// Redis settings (used when `backend = "redis"`).
    pub redis: RedisSettings,
    /// How often buffered usage counts are written to the store, in ms.
    pub usage_flush_interval_ms: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            enabled: true,
            backend: BackendKind::Memory,
            redis: RedisSettings::default(),
            usage_flush_interval_ms: 1000,
        }
    }
}

impl LimitsConfig {
    /// The flush interval as a duration.
    pub fn usage_flush_interval(&self) -> Duration {
        Duration::from_millis(self.usage_flush_interval_ms.max(10))
    }
}

struct Inner {
    enabled: bool,
    backend: Arc<dyn LimitBackend>,
    clock: Arc<dyn Clock>,
    metrics: Option<LimiterMetrics>,
    usage: Arc<UsageMeter>,
}

/// The limiter handle (clone freely).
#[derive(Clone)]
pub struct Limiter {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("enabled", &self.inner.enabled)
            .field("backend", &self.inner.backend.name())
            .finish()
    }
}

impl Limiter {
    /// Builds the limiter from configuration: registers the metrics into
    /// `registry` (when given), connects to Redis when configured (starting
    /// in fallback if it is down) and meters usage into `sink`. Start the
    /// flush task with `limiter.usage().spawn_flusher(..)`.
    pub async fn from_config(
        config: &LimitsConfig,
        registry: Option<&prometheus::Registry>,
        sink: Arc<dyn UsageSink>,
    ) -> Result<Self, LimitError> {
        let metrics = registry.map(LimiterMetrics::register).transpose()?;
        let backend: Arc<dyn LimitBackend> = match config.backend {
            BackendKind::Memory => Arc::new(MemoryLimiter::new()),
            BackendKind::Redis if config.enabled => {
                Arc::new(RedisLimiter::connect(&config.redis, metrics.clone()).await?)
            }
            BackendKind::Redis => Arc::new(MemoryLimiter::new()),
        };
        let meter = Arc::new(UsageMeter::new(sink).with_metrics(metrics.clone()));
        Ok(Self::new(backend, meter)
            .metrics(metrics)
            .enabled(config.enabled))
    }

    /// A limiter on `backend` metering into `usage`, enabled, on the system
    /// clock, without metrics.
    pub fn new(backend: Arc<dyn LimitBackend>, usage: Arc<UsageMeter>) -> Self {
        Limiter {
            inner: Arc::new(Inner {
                enabled: true,
                backend,
                clock: Arc::new(SystemClock),
                metrics: None,
                usage,
            }),
        }
    }

    /// A limiter on `backend` metering into `sink`, enabled, on the system
    /// clock, without metrics.
    pub fn with_backend(backend: Arc<dyn LimitBackend>, sink: Arc<dyn UsageSink>) -> Self {
        Self::new(backend, Arc::new(UsageMeter::new(sink)))
    }

    fn map(self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = match Arc::try_unwrap(self.inner) {
            Ok(i) => i,
            Err(shared) => Inner {
                enabled: shared.enabled,
                backend: Arc::clone(&shared.backend),
                clock: Arc::clone(&shared.clock),
                metrics: shared.metrics.clone(),
                usage: Arc::clone(&shared.usage),
            },
        };
        f(&mut inner);
        Limiter {
            inner: Arc::new(inner),
        }
    }

    /// Uses `clock` for "now" (tests inject a [`crate::ManualClock`]).
    pub fn clock(self, clock: Arc<dyn Clock>) -> Self {
        self.map(|i| i.clock = clock)
    }

    /// Records decisions, refusals and calls into `metrics`.
    pub fn metrics(self, metrics: Option<LimiterMetrics>) -> Self {
        self.map(|i| i.metrics = metrics)
    }

    /// Switches burst limits and quotas on or off (off: every request is
    /// allowed with no `RateLimit-*` headers; usage is still metered).
    pub fn enabled(self, enabled: bool) -> Self {
        self.map(|i| i.enabled = enabled)
    }

    /// True when limits are enforced.
    pub fn is_enabled(&self) -> bool {
        self.inner.enabled
    }

    /// The usage meter (start its flusher, read pending counts, flush).
    pub fn usage(&self) -> &Arc<UsageMeter> {
        &self.inner.usage
    }

    /// The metrics, when registered.
    pub fn metrics_handle(&self) -> Option<&LimiterMetrics> {
        self.inner.metrics.as_ref()
    }

    /// Current time of the limiter's clock.
    pub fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }

    /// Decides one metered request of `tenant` for `op` now.
    pub async fn check_and_consume(
        &self,
        tenant: &str,
        limits: &TierLimits,
        op: Operation,
    ) -> Result<Decision, LimitError> {
        self.check_and_consume_at(tenant, limits, op, self.now())
            .await
    }

    /// Decides one metered request at `now`: on [`Decision::is_allowed`]
    /// it has been counted (quota, burst and usage); a refusal counts
    /// nothing but the refusal metric.
    pub async fn check_and_consume_at(
        &self,
        tenant: &str,
        limits: &TierLimits,
        op: Operation,
        now: OffsetDateTime,
    ) -> Result<Decision, LimitError> {
        crate::error::validate_tenant(tenant)?;
        let decision = if self.inner.enabled {
            let started = Instant::now();
            let backend = self.inner.backend.name();
            let d = self
                .inner
                .backend
                .check_and_consume(tenant, limits, to_micros(now))
                .await?;
            if let Some(m) = &self.inner.metrics {
                m.decision_histogram(backend)
                    .observe(started.elapsed().as_secs_f64());
            }
            d
        } else {
            Decision::unlimited()
        };
        match decision.refusal {
            None => {
                self.inner.usage.record(tenant, op, now.date());
                if let Some(m) = &self.inner.metrics {
                    m.record_call(tenant, op);
                }
            }
            Some(kind) => {
                if let Some(m) = &self.inner.metrics {
                    m.record_refusal(tenant, kind);
                }
            }
        }
        Ok(decision)
    }

    /// The gateway's one call per metered request (after authentication):
    /// `Ok(decision)` — go on, and add `decision.apply_headers(..)` to the
    /// response; `Err(response)` — send this response (429 problem with
    /// `Retry-After`, or 500 problem if the tenant id is malformed).
    pub async fn enforce(
        &self,
        tenant: &str,
        limits: &TierLimits,
        op: Operation,
    ) -> Result<Decision, Response> {
        match self.check_and_consume(tenant, limits, op).await {
            Ok(d) => match d.refusal_response() {
                Some(r) => Err(r),
                None => Ok(d),
            },
            Err(e) => {
                tracing::error!(error = %e, "limiter could not decide");
                Err(internal_problem())
            }
        }
    }

    /// The quota status of `tenant` now (for `GET /v1/usage`).
    pub async fn quota_status(
        &self,
        tenant: &str,
        limits: &TierLimits,
    ) -> Result<QuotaStatus, LimitError> {
        self.quota_status_at(tenant, limits, self.now()).await
    }

    /// The quota status of `tenant` at `now`.
    pub async fn quota_status_at(
        &self,
        tenant: &str,
        limits: &TierLimits,
        now: OffsetDateTime,
    ) -> Result<QuotaStatus, LimitError> {
        crate::error::validate_tenant(tenant)?;
        self.inner
            .backend
            .quota_status(tenant, limits, to_micros(now))
            .await
    }

    /// Builds the `GET /v1/usage` body: the quota from the limiter, the days
    /// from `stored_rows` (the store's rows of this tenant in the range)
    /// plus the counts still buffered in the meter.
    pub async fn usage_report<I, S>(
        &self,
        tenant: &str,
        limits: &TierLimits,
        range: UsageRange,
        stored_rows: I,
    ) -> Result<UsageResponse, LimitError>
    where
        I: IntoIterator<Item = (time::Date, S, u64)>,
        S: Into<String>,
    {
        let quota = self.quota_status(tenant, limits).await?;
        let rows = stored_rows
            .into_iter()
            .map(|(d, op, c)| (d, op.into(), c))
            .chain(self.inner.usage.pending_for(tenant));
        Ok(build_usage_response(limits.tier, quota, range, rows))
    }
}

/// A minimal 500 problem (no detail: the cause is in the logs).
pub(crate) fn internal_problem() -> Response {
    let body = serde_json::json!({
        "type": "https://zenalyze.dev/problems/internal",
        "title": "Internal server error",
        "status": 500,
    })
    .to_string();
    let mut r = (StatusCode::INTERNAL_SERVER_ERROR, body).into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
    );
    r
}
