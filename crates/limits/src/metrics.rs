//! Prometheus metrics of the limiter and the usage meter.
//!
//! Label cardinality is bounded: `tenant_id` (one value per tenant),
//! `kind` (2), `operation` (9), `backend` (3), `tier` (4). No user ids, no
//! paths.

use crate::decision::RefusalKind;
use crate::operation::Operation;
use crate::tier::Tier;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

/// Latency buckets of a decision, in seconds (25 µs to 250 ms).
pub const DECISION_BUCKETS: [f64; 13] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25,
];

/// The limiter's metrics (cheap to clone: handles to shared collectors).
#[derive(Clone, Debug)]
pub struct LimiterMetrics {
    refusals: IntCounterVec,
    api_calls: IntCounterVec,
    decision_seconds: HistogramVec,
    redis_fallback: IntGauge,
    redis_fallback_transitions: IntCounter,
    fallback_decisions: IntCounter,
    tenants_per_tier: IntGaugeVec,
    usage_flush_failures: IntCounter,
}

impl LimiterMetrics {
    /// Creates the metrics and registers them into `registry`:
    ///
    /// - `zenalyze_limiter_refusals_total{tenant_id,kind}` — requests refused
    ///   (`kind` = `quota_exceeded` | `rate_limited`);
    /// - `zenalyze_api_calls_total{tenant_id,operation}` — metered requests
    ///   allowed;
    /// - `zenalyze_limiter_decision_seconds{backend}` — decision latency;
    /// - `zenalyze_limiter_redis_fallback` — 1 while the Redis back-end is
    ///   unreachable and decisions are local, else 0;
    /// - `zenalyze_limiter_redis_fallback_transitions_total` — times Redis was
    ///   lost;
    /// - `zenalyze_limiter_fallback_decisions_total` — decisions taken locally
    ///   because of the fallback;
    /// - `zenalyze_tenants{tier}` — tenants per tier (set by the gateway with
    ///   [`LimiterMetrics::set_tenants_per_tier`]);
    /// - `zenalyze_usage_flush_failures_total` — failed usage flushes (counts
    ///   kept for the next attempt).
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let refusals = IntCounterVec::new(
            Opts::new(
                "zenalyze_limiter_refusals_total",
                "Metered requests refused by the limiter, by tenant and kind (quota_exceeded, rate_limited).",
            ),
            &["tenant_id", "kind"],
        )?;
        let api_calls = IntCounterVec::new(
            Opts::new(
                "zenalyze_api_calls_total",
                "Metered API calls allowed, by tenant and operation.",
            ),
            &["tenant_id", "operation"],
        )?;
        let decision_seconds = HistogramVec::new(
            HistogramOpts::new(
                "zenalyze_limiter_decision_seconds",
                "Latency of one limiter decision, by back-end (memory, redis, fallback).",
            )
            .buckets(DECISION_BUCKETS.to_vec()),
            &["backend"],
        )?;
        let redis_fallback = IntGauge::new(
            "zenalyze_limiter_redis_fallback",
            "1 while Redis is unreachable and the limiter decides with per-instance memory, else 0.",
        )?;
        let redis_fallback_transitions = IntCounter::new(
            "zenalyze_limiter_redis_fallback_transitions_total",
            "Times the limiter lost Redis and switched to its in-memory fallback.",
        )?;
        let fallback_decisions = IntCounter::new(
            "zenalyze_limiter_fallback_decisions_total",
            "Limiter decisions taken in memory because Redis was unreachable.",
        )?;
        let tenants_per_tier = IntGaugeVec::new(
            Opts::new("zenalyze_tenants", "Tenants per pricing tier."),
            &["tier"],
        )?;
        let usage_flush_failures = IntCounter::new(
            "zenalyze_usage_flush_failures_total",
            "Usage flushes that failed (the counts are kept and retried).",
        )?;
        registry.register(Box::new(refusals.clone()))?;
        registry.register(Box::new(api_calls.clone()))?;
        registry.register(Box::new(decision_seconds.clone()))?;
        registry.register(Box::new(redis_fallback.clone()))?;
        registry.register(Box::new(redis_fallback_transitions.clone()))?;
        registry.register(Box::new(fallback_decisions.clone()))?;
        registry.register(Box::new(tenants_per_tier.clone()))?;
        registry.register(Box::new(usage_flush_failures.clone()))?;
        Ok(LimiterMetrics {
            refusals,
            api_calls,
            decision_seconds,
            redis_fallback,
            redis_fallback_transitions,
            fallback_decisions,
            tenants_per_tier,
            usage_flush_failures,
        })
    }

    /// Counts a refusal.
    pub fn record_refusal(&self, tenant: &str, kind: RefusalKind) {
        self.refusals
            .with_label_values(&[tenant, kind.as_str()])
            .inc();
    }

    /// Counts an allowed metered call.
    pub fn record_call(&self, tenant: &str, op: Operation) {
        self.api_calls
            .with_label_values(&[tenant, op.as_str()])
            .inc();
    }

    /// The latency histogram of one back-end.
    pub fn decision_histogram(&self, backend: &str) -> Histogram {
        self.decision_seconds.with_label_values(&[backend])
    }

    /// Sets the fallback gauge (and counts a transition into fallback).
    pub fn set_redis_fallback(&self, active: bool) {
        if active {
            self.redis_fallback_transitions.inc();
        }
        self.redis_fallback.set(i64::from(active));
    }

    /// Current value of the fallback gauge.
    pub fn redis_fallback_active(&self) -> bool {
        self.redis_fallback.get() != 0
    }

    /// Counts a decision taken in memory because of the fallback.
    pub fn record_fallback_decision(&self) {
        self.fallback_decisions.inc();
    }

    /// Sets the number of tenants of `tier` (the gateway calls this at
    /// start and after tenant changes).
    pub fn set_tenants_per_tier(&self, tier: Tier, count: u64) {
        self.tenants_per_tier
            .with_label_values(&[tier.as_str()])
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Counts a failed usage flush.
    pub fn record_flush_failure(&self) {
        self.usage_flush_failures.inc();
    }

    /// Refusals counted so far for `(tenant, kind)` (tests, dashboards).
    pub fn refusals(&self, tenant: &str, kind: RefusalKind) -> u64 {
        self.refusals
            .with_label_values(&[tenant, kind.as_str()])
            .get()
    }

    /// Allowed calls counted so far for `(tenant, op)`.
    pub fn calls(&self, tenant: &str, op: Operation) -> u64 {
        self.api_calls
            .with_label_values(&[tenant, op.as_str()])
            .get()
    }
}
