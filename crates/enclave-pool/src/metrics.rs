//! Prometheus metrics of the pool.

use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntGauge, IntGaugeVec, Opts, Registry};

/// The pool's metrics (registered once per registry).
#[derive(Clone, Debug)]
pub struct PoolMetrics {
    /// `zenalyze_enclave_pool_up{enclave}`: 1 when the member is healthy.
    pub up: IntGaugeVec,
    /// `zenalyze_enclave_pool_healthy_enclaves`.
    pub healthy: IntGauge,
    /// `zenalyze_enclave_pool_outstanding_requests{enclave}`.
    pub outstanding: IntGaugeVec,
    /// `zenalyze_enclave_pool_failovers_total`: requests moved to another
    /// member because the first could not be reached.
    pub failovers: IntCounter,
    /// `zenalyze_enclave_pool_request_seconds{endpoint,outcome}`: gateway-side
    /// latency of enclave exchanges (analyze, attestation, hpke_keys).
    pub latency: HistogramVec,
}

impl PoolMetrics {
    /// Creates and registers the metrics.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let up = IntGaugeVec::new(
            Opts::new(
                "zenalyze_enclave_pool_up",
                "1 when the enclave is healthy and in the rotation",
            ),
            &["enclave"],
        )?;
        let healthy = IntGauge::new(
            "zenalyze_enclave_pool_healthy_enclaves",
            "Number of healthy enclaves in the pool",
        )?;
        let outstanding = IntGaugeVec::new(
            Opts::new(
                "zenalyze_enclave_pool_outstanding_requests",
                "Requests in flight per enclave",
            ),
            &["enclave"],
        )?;
        let failovers = IntCounter::new(
            "zenalyze_enclave_pool_failovers_total",
            "Requests sent to another enclave because the first could not be reached",
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "zenalyze_enclave_pool_request_seconds",
                "Gateway-side latency of enclave exchanges",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0, 60.0, 120.0,
            ]),
            &["endpoint", "outcome"],
        )?;
        registry.register(Box::new(up.clone()))?;
        registry.register(Box::new(healthy.clone()))?;
        registry.register(Box::new(outstanding.clone()))?;
        registry.register(Box::new(failovers.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        Ok(Self {
            up,
            healthy,
            outstanding,
            failovers,
            latency,
        })
    }
}
