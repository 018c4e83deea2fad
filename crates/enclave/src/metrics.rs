//! Prometheus metrics of the enclave. Labels never carry content.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// The enclave's metrics, in its own registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Requests by endpoint and outcome.
    pub requests: IntCounterVec,
    /// Time from the request opening to the last plaintext zeroize.
    pub plaintext_lifetime: Histogram,
    /// Time spent in the provider (part of the plaintext lifetime).
    pub provider_seconds: Histogram,
    /// Time spent opening the EHBP request (HPKE + AEAD).
    pub open_seconds: Histogram,
    /// Analyze requests being processed.
    pub in_flight: IntGauge,
    /// Key id of the current HPKE key.
    pub current_key_id: IntGauge,
    /// Key rotations observed by this process.
    pub rotations: IntCounterVec,
}

fn buckets() -> Vec<f64> {
    vec![
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        5.0, 10.0, 30.0, 60.0, 120.0,
    ]
}

impl Metrics {
    /// Registers every metric in a fresh registry.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "zenalyze_enclave_requests_total",
                "Requests by endpoint and outcome",
            ),
            &["endpoint", "outcome"],
        )?;
        let plaintext_lifetime = Histogram::with_opts(
            HistogramOpts::new(
                "zenalyze_enclave_plaintext_lifetime_seconds",
                "Per request: from opening the sealed body to zeroizing the last plaintext buffer",
            )
            .buckets(buckets()),
        )?;
        let provider_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "zenalyze_enclave_provider_seconds",
                "Per request: time spent in the AI provider",
            )
            .buckets(buckets()),
        )?;
        let open_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "zenalyze_enclave_ehbp_open_seconds",
                "Per request: time to open the EHBP request",
            )
            .buckets(buckets()),
        )?;
        let in_flight = IntGauge::new(
            "zenalyze_enclave_requests_in_flight",
            "Analyze requests being processed",
        )?;
        let current_key_id = IntGauge::new(
            "zenalyze_enclave_hpke_key_id",
            "Key id of the current HPKE key",
        )?;
        let rotations = IntCounterVec::new(
            Opts::new(
                "zenalyze_enclave_key_rotations_total",
                "Key set changes observed (rotated here or reloaded)",
            ),
            &["how"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(plaintext_lifetime.clone()))?;
        registry.register(Box::new(provider_seconds.clone()))?;
        registry.register(Box::new(open_seconds.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(current_key_id.clone()))?;
        registry.register(Box::new(rotations.clone()))?;
        Ok(Self {
            registry,
            requests,
            plaintext_lifetime,
            provider_seconds,
            open_seconds,
            in_flight,
            current_key_id,
            rotations,
        })
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let enc = TextEncoder::new();
        if enc.encode(&self.registry.gather(), &mut buf).is_err() {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// Process memory figures from `/proc/self/status` (Linux), in bytes.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Memory {
    /// Resident set size.
    pub rss_bytes: Option<u64>,
    /// Peak resident set size.
    pub peak_rss_bytes: Option<u64>,
}

/// Reads the memory figures; `None` fields where unavailable.
pub fn memory() -> Memory {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return Memory::default();
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().strip_suffix("kB"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|kb| kb.saturating_mul(1024))
    };
    Memory {
        rss_bytes: field("VmRSS:"),
        peak_rss_bytes: field("VmHWM:"),
    }
}
