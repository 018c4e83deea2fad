//! # zenalyze-enclave-pool
//!
//! The gateway's pool of Zenalyze enclaves (SPEC §5: every enclave of a
//! deployment holds the same HPKE key set, so any sealed request can go to
//! any healthy enclave).
//!
//! * **Endpoints** are transport addresses (`tcp:`, `unix:`, `vsock:`) dialled
//!   with [`zenalyze_transport::Connector`], the same code whatever the
//!   transport.
//! * **Health**: every member is probed (`GET /health`) periodically; a
//!   failing member leaves the rotation at once and is re-probed with
//!   exponential backoff (`health_interval · 2^(failures-1)`, capped at
//!   `max_backoff`); a member that answers again rejoins.
//! * **Balancing**: least outstanding requests among healthy members, with a
//!   per-member concurrency limit (a semaphore); when every member is full a
//!   request waits up to `queue_timeout` for the least loaded one.
//! * **Failover, at most once**: a request is retried on another member
//!   *only* when it provably never reached the first one (the connection
//!   could not be established: refused, unreachable, connect timeout). Once
//!   the request may have been written, a failure is reported, never
//!   retried, so an AI request is never executed twice. Idempotent reads
//!   (key config, attestation) are retried on any failure.
//! * **Metrics** (Prometheus, registered in the registry given to
//!   [`EnclavePool::start`]): `zenalyze_enclave_pool_up{enclave}`,
//!   `zenalyze_enclave_pool_healthy_enclaves`,
//!   `zenalyze_enclave_pool_outstanding_requests{enclave}`,
//!   `zenalyze_enclave_pool_failovers_total`,
//!   `zenalyze_enclave_pool_request_seconds{endpoint,outcome}`.
//!
//! The pool carries ciphertext and non-PHI side data only; it never holds a
//! key that opens anything, and it logs addresses, statuses and timings only.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use zenalyze_enclave_pool::{EnclavePool, PoolConfig, SideData};
//! let config = PoolConfig::new(vec!["unix:/tmp/e1.sock".parse()?, "unix:/tmp/e2.sock".parse()?]);
//! let pool = EnclavePool::start(config, None).await?;
//! let keys = pool.key_config().await?; // raw 41-byte key config
//! # let (enc, body) = (String::new(), Vec::new());
//! let answer = pool.analyze(&enc, &body, &SideData::default()).await?;
//! println!("{} from {}", answer.status, answer.enclave);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod member;
mod metrics;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use zenalyze_transport::Address;

pub use member::MemberStatus;
use member::{Member, SendError};
pub use metrics::PoolMetrics;

/// Path of the enclave's internal endpoint (EHBP request + side data).
pub const INTERNAL_ANALYZE_PATH: &str = "/internal/v1/analyze";
/// Largest answer body accepted from an enclave.
pub const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// Pool settings.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// The enclaves.
    pub endpoints: Vec<Address>,
    /// Period of the health probe of a healthy member (default 2 s).
    pub health_interval: Duration,
    /// Timeout of one health probe (default 1 s).
    pub health_timeout: Duration,
    /// Longest wait between probes of a failing member (default 30 s).
    pub max_backoff: Duration,
    /// Timeout of establishing a connection (default 1 s). A connect timeout
    /// counts as "never reached" and fails over.
    pub connect_timeout: Duration,
    /// Timeout of a whole AI exchange (default 120 s).
    pub request_timeout: Duration,
    /// Timeout of an attestation / key-config read (default 10 s).
    pub read_timeout: Duration,
    /// Concurrent requests per enclave (default 64).
    pub max_concurrency: usize,
    /// How long a request may wait for a free slot when every member is
    /// full (default 5 s).
    pub queue_timeout: Duration,
}

impl PoolConfig {
    /// Defaults for these endpoints.
    pub fn new(endpoints: Vec<Address>) -> Self {
        Self {
            endpoints,
            health_interval: Duration::from_secs(2),
            health_timeout: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(120),
            read_timeout: Duration::from_secs(10),
            max_concurrency: 64,
            queue_timeout: Duration::from_secs(5),
        }
    }
}

/// Pool failures (no content, ever).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum PoolError {
    /// The configuration has no endpoint or a zero limit.
    #[error("invalid pool configuration: {0}")]
    Config(&'static str),
    /// No member is healthy (or every one refused the connection).
    #[error("no healthy enclave")]
    NoHealthyEnclave,
    /// Every member stayed at its concurrency limit for `queue_timeout`.
    #[error("enclaves overloaded")]
    Overloaded,
    /// The enclave did not answer in time (the request may have run).
    #[error("enclave did not answer in time")]
    Timeout,
    /// The exchange failed after the request may have been written (not
    /// retried: it may have run).
    #[error("enclave exchange failed")]
    Failed,
    /// The enclave's answer was malformed.
    #[error("malformed enclave answer: {0}")]
    Malformed(&'static str),
}

/// What the gateway sends beside the client's sealed request.
#[derive(Debug, Clone, Default)]
pub struct SideData {
    /// The customer backend's non-PHI instructions.
    pub instructions: Option<String>,
    /// Stored v1 envelopes (binary) by record id.
    pub records: BTreeMap<String, Vec<u8>>,
}

/// An answer to relay unchanged (status, `Ehbp-Response-Nonce`, content
/// type, body) and the member that produced it.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// `Ehbp-Response-Nonce` of sealed answers.
    pub response_nonce: Option<String>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// Body (ciphertext for sealed answers).
    pub body: Bytes,
    /// Address of the enclave that answered.
    pub enclave: String,
}

/// The outer JSON body of `POST /internal/v1/analyze`.
pub fn internal_body(encapsulated_key: &str, sealed_body: &[u8], side: &SideData) -> Bytes {
    let b64 = base64::engine::general_purpose::STANDARD;
    let records: BTreeMap<&str, String> = side
        .records
        .iter()
        .map(|(k, v)| (k.as_str(), b64.encode(v)))
        .collect();
    let mut outer = serde_json::Map::new();
    outer.insert("encapsulated_key".into(), encapsulated_key.into());
    outer.insert("sealed_body".into(), b64.encode(sealed_body).into());
    if let Some(i) = &side.instructions {
        outer.insert("instructions".into(), i.clone().into());
    }
    if !records.is_empty() {
        outer.insert(
            "records".into(),
            serde_json::to_value(records).unwrap_or_default(),
        );
    }
    Bytes::from(serde_json::Value::Object(outer).to_string())
}

struct Inner {
    members: Vec<Arc<Member>>,
    config: PoolConfig,
    metrics: Option<PoolMetrics>,
    rr: AtomicUsize,
    health_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(mut g) = self.health_task.lock() {
            if let Some(t) = g.take() {
                t.abort();
            }
        }
    }
}

/// A pool of enclaves (cheap to clone). The health loop stops when the last
/// clone is dropped or on [`EnclavePool::stop`].
#[derive(Clone)]
pub struct EnclavePool {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EnclavePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnclavePool")
            .field("members", &self.inner.members.len())
            .field("healthy", &self.healthy_count())
            .finish()
    }
}

impl EnclavePool {
    /// Builds the pool, probes every member once, and starts the periodic
    /// health loop. Metrics are registered in `registry` when given.
    pub async fn start(
        config: PoolConfig,
        registry: Option<&prometheus::Registry>,
    ) -> Result<Self, PoolError> {
        let pool = Self::new(config, registry)?;
        pool.check_all(true).await;
        let weak = Arc::downgrade(&pool.inner);
        let period = pool.tick_period();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let pool = EnclavePool { inner };
                pool.check_all(false).await;
            }
        });
        if let Ok(mut g) = pool.inner.health_task.lock() {
            *g = Some(task);
        }
        Ok(pool)
    }

    /// Builds the pool without probing or starting the health loop (every
    /// member starts unhealthy; call [`EnclavePool::check_all`]).
    pub fn new(
        config: PoolConfig,
        registry: Option<&prometheus::Registry>,
    ) -> Result<Self, PoolError> {
        if config.endpoints.is_empty() {
            return Err(PoolError::Config("no enclave endpoint"));
        }
        if config.max_concurrency == 0 {
            return Err(PoolError::Config("max_concurrency must be > 0"));
        }
        if config.health_interval.is_zero() {
            return Err(PoolError::Config("health_interval must be > 0"));
        }
        let metrics = match registry {
            Some(r) => Some(
                PoolMetrics::register(r)
                    .map_err(|_| PoolError::Config("metrics already registered"))?,
            ),
            None => None,
        };
        let members = config
            .endpoints
            .iter()
            .map(|a| Arc::new(Member::new(a.clone(), &config)))
            .collect();
        Ok(Self {
            inner: Arc::new(Inner {
                members,
                config,
                metrics,
                rr: AtomicUsize::new(0),
                health_task: Mutex::new(None),
            }),
        })
    }

    fn tick_period(&self) -> Duration {
        // Probes are due per member; tick often enough to honour the interval.
        (self.inner.config.health_interval / 4).max(Duration::from_millis(10))
    }

    /// Stops the health loop.
    pub fn stop(&self) {
        if let Ok(mut g) = self.inner.health_task.lock() {
            if let Some(t) = g.take() {
                t.abort();
            }
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PoolConfig {
        &self.inner.config
    }

    /// Probes the members whose probe is due (all of them with `force`) and
    /// updates their state.
    pub async fn check_all(&self, force: bool) {
        let now = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for m in &self.inner.members {
            if force || m.probe_due(now) {
                let m = m.clone();
                let cfg = self.inner.config.clone();
                set.spawn(async move {
                    let ok = m.probe(cfg.health_timeout).await;
                    m.record_probe(ok, &cfg);
                });
            }
        }
        while set.join_next().await.is_some() {}
        self.publish();
    }

    fn publish(&self) {
        if let Some(metrics) = &self.inner.metrics {
            let mut healthy = 0i64;
            for m in &self.inner.members {
                let up = m.is_healthy();
                healthy += i64::from(up);
                metrics
                    .up
                    .with_label_values(&[m.label()])
                    .set(i64::from(up));
                metrics
                    .outstanding
                    .with_label_values(&[m.label()])
                    .set(i64::try_from(m.outstanding()).unwrap_or(i64::MAX));
            }
            metrics.healthy.set(healthy);
        }
    }

    /// Number of healthy members.
    pub fn healthy_count(&self) -> usize {
        self.inner.members.iter().filter(|m| m.is_healthy()).count()
    }

    /// State of every member.
    pub fn status(&self) -> Vec<MemberStatus> {
        self.inner.members.iter().map(|m| m.status()).collect()
    }

    /// Healthy members not in `tried`, least outstanding first (ties broken
    /// round-robin).
    fn candidates(&self, tried: &[usize]) -> Vec<usize> {
        let n = self.inner.members.len();
        let start = self.inner.rr.fetch_add(1, Ordering::Relaxed) % n;
        let mut idx: Vec<usize> = (0..n)
            .map(|i| (start + i) % n)
            .filter(|i| !tried.contains(i) && self.inner.members[*i].is_healthy())
            .collect();
        idx.sort_by_key(|i| self.inner.members[*i].outstanding());
        idx
    }

    async fn acquire(
        &self,
        tried: &[usize],
    ) -> Result<(usize, tokio::sync::OwnedSemaphorePermit), PoolError> {
        let cands = self.candidates(tried);
        let Some(&first) = cands.first() else {
            return Err(PoolError::NoHealthyEnclave);
        };
        for &i in &cands {
            if let Ok(p) = self.inner.members[i].try_permit() {
                return Ok((i, p));
            }
        }
        let m = self.inner.members[first].clone();
        match tokio::time::timeout(self.inner.config.queue_timeout, m.permit()).await {
            Ok(Some(p)) => Ok((first, p)),
            _ => Err(PoolError::Overloaded),
        }
    }

    fn observe(&self, endpoint: &str, outcome: &str, started: Instant) {
        if let Some(m) = &self.inner.metrics {
            m.latency
                .with_label_values(&[endpoint, outcome])
                .observe(started.elapsed().as_secs_f64());
        }
    }

    async fn exchange(
        &self,
        endpoint: &'static str,
        build: impl Fn() -> Result<http::Request<http_body_util::Full<Bytes>>, PoolError>,
        timeout: Duration,
        retry_any: bool,
    ) -> Result<Answer, PoolError> {
        let started = Instant::now();
        let mut tried: Vec<usize> = Vec::new();
        let mut last = PoolError::NoHealthyEnclave;
        loop {
            let (i, permit) = match self.acquire(&tried).await {
                Ok(x) => x,
                Err(PoolError::NoHealthyEnclave) => {
                    self.observe(endpoint, "no_enclave", started);
                    return Err(if tried.is_empty() {
                        PoolError::NoHealthyEnclave
                    } else {
                        last
                    });
                }
                Err(e) => {
                    self.observe(endpoint, "overloaded", started);
                    return Err(e);
                }
            };
            tried.push(i);
            let m = self.inner.members[i].clone();
            let req = build()?;
            self.publish_outstanding(&m, 1);
            let r = m.send(req, timeout).await;
            drop(permit);
            self.publish_outstanding(&m, -1);
            match r {
                Ok(mut a) => {
                    a.enclave = m.label().to_owned();
                    self.observe(endpoint, "answered", started);
                    return Ok(a);
                }
                Err(SendError::NotSent) => {
                    tracing::warn!(enclave = m.label(), "enclave unreachable; failing over");
                    m.mark_down(&self.inner.config);
                    self.publish();
                    if let Some(metrics) = &self.inner.metrics {
                        metrics.failovers.inc();
                    }
                    last = PoolError::NoHealthyEnclave;
                }
                Err(SendError::Timeout) if !retry_any => {
                    tracing::warn!(enclave = m.label(), "enclave timed out");
                    self.observe(endpoint, "timeout", started);
                    return Err(PoolError::Timeout);
                }
                Err(SendError::Failed) if !retry_any => {
                    tracing::warn!(enclave = m.label(), "enclave exchange failed after sending");
                    self.observe(endpoint, "failed", started);
                    return Err(PoolError::Failed);
                }
                Err(SendError::Malformed(w)) if !retry_any => {
                    self.observe(endpoint, "failed", started);
                    return Err(PoolError::Malformed(w));
                }
                Err(e) => {
                    last = match e {
                        SendError::Timeout => PoolError::Timeout,
                        SendError::Malformed(w) => PoolError::Malformed(w),
                        _ => PoolError::Failed,
                    };
                }
            }
        }
    }

    fn publish_outstanding(&self, m: &Member, delta: isize) {
        m.add_outstanding(delta);
        if let Some(metrics) = &self.inner.metrics {
            metrics
                .outstanding
                .with_label_values(&[m.label()])
                .set(i64::try_from(m.outstanding()).unwrap_or(i64::MAX));
        }
    }

    /// Relays a client's EHBP request (the `Ehbp-Encapsulated-Key` value and
    /// the framed body, untouched) with side data to a healthy enclave's
    /// `POST /internal/v1/analyze`. Fails over only when no connection to the
    /// chosen enclave could be made.
    pub async fn analyze(
        &self,
        encapsulated_key: &str,
        sealed_body: &[u8],
        side: &SideData,
    ) -> Result<Answer, PoolError> {
        let body = internal_body(encapsulated_key, sealed_body, side);
        self.exchange(
            "analyze",
            || {
                http::Request::post(format!("http://enclave{INTERNAL_ANALYZE_PATH}"))
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(http_body_util::Full::new(body.clone()))
                    .map_err(|_| PoolError::Malformed("request"))
            },
            self.inner.config.request_timeout,
            false,
        )
        .await
    }

    fn get(path: &str) -> Result<http::Request<http_body_util::Full<Bytes>>, PoolError> {
        http::Request::get(format!("http://enclave{path}"))
            .body(http_body_util::Full::new(Bytes::new()))
            .map_err(|_| PoolError::Malformed("request"))
    }

    /// `GET /attestation?nonce=HEX` on a healthy enclave, relayed as is.
    pub async fn attestation(&self, nonce: &[u8]) -> Result<Answer, PoolError> {
        let path = format!("/attestation?nonce={}", hex::encode(nonce));
        self.exchange(
            "attestation",
            || Self::get(&path),
            self.inner.config.read_timeout,
            true,
        )
        .await
    }

    /// The current raw key config (`GET /.well-known/hpke-keys` of a healthy
    /// enclave), validated.
    pub async fn key_config(&self) -> Result<Bytes, PoolError> {
        let a = self
            .exchange(
                "hpke_keys",
                || Self::get(zenalyze_ehbp::KEYS_PATH),
                self.inner.config.read_timeout,
                true,
            )
            .await?;
        if a.status != 200 {
            return Err(PoolError::Malformed("key config not served"));
        }
        zenalyze_ehbp::KeyConfig::parse_keys_body(&a.body)
            .map_err(|_| PoolError::Malformed("key config"))?;
        Ok(a.body)
    }
}
