//! One enclave of the pool: its client, health and load.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use zenalyze_transport::{Address, Connector};

use crate::{Answer, PoolConfig, MAX_ANSWER_BYTES};

/// A transport connector with a connect timeout (a timeout is a connect
/// error: the request was never written).
#[derive(Clone, Debug)]
pub(crate) struct TimeoutConnector {
    inner: Connector,
    timeout: Duration,
}

impl tower::Service<http::Uri> for TimeoutConnector {
    type Response = <Connector as tower::Service<http::Uri>>::Response;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let fut = self.inner.call(uri);
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, fut).await {
                Ok(r) => r,
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connect timed out",
                )),
            }
        })
    }
}

/// Why one exchange failed.
#[derive(Debug)]
pub(crate) enum SendError {
    /// No connection could be made: the request was never written.
    NotSent,
    /// No answer in time (the request may have run).
    Timeout,
    /// The exchange broke after the request may have been written.
    Failed,
    /// The answer was malformed or too large.
    Malformed(&'static str),
}

/// Public view of a member.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MemberStatus {
    /// Transport address.
    pub address: String,
    /// In the rotation.
    pub healthy: bool,
    /// Requests in flight.
    pub outstanding: usize,
    /// Consecutive failed probes.
    pub consecutive_failures: u32,
    /// Enclave id reported by its last successful probe.
    pub enclave_id: Option<String>,
    /// HPKE key id reported by its last successful probe.
    pub key_id: Option<u64>,
}

pub(crate) struct Member {
    label: String,
    client: Client<TimeoutConnector, Full<Bytes>>,
    healthy: AtomicBool,
    outstanding: AtomicUsize,
    failures: AtomicU32,
    permits: Arc<Semaphore>,
    next_probe: Mutex<Instant>,
    info: Mutex<(Option<String>, Option<u64>)>,
}

impl Member {
    pub(crate) fn new(address: Address, config: &PoolConfig) -> Self {
        let connector = TimeoutConnector {
            inner: Connector::new(address.clone()),
            timeout: config.connect_timeout,
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Self {
            label: address.to_string(),
            client,
            healthy: AtomicBool::new(false),
            outstanding: AtomicUsize::new(0),
            failures: AtomicU32::new(0),
            permits: Arc::new(Semaphore::new(config.max_concurrency)),
            next_probe: Mutex::new(Instant::now()),
            info: Mutex::new((None, None)),
        }
    }

    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    pub(crate) fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    pub(crate) fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::Acquire)
    }

    pub(crate) fn add_outstanding(&self, delta: isize) {
        if delta >= 0 {
            self.outstanding
                .fetch_add(delta.unsigned_abs(), Ordering::AcqRel);
        } else {
            let _ = self
                .outstanding
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                    Some(v.saturating_sub(delta.unsigned_abs()))
                });
        }
    }

    pub(crate) fn try_permit(&self) -> Result<OwnedSemaphorePermit, ()> {
        self.permits.clone().try_acquire_owned().map_err(|_| ())
    }

    pub(crate) async fn permit(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().acquire_owned().await.ok()
    }

    pub(crate) fn probe_due(&self, now: Instant) -> bool {
        self.next_probe.lock().map(|t| now >= *t).unwrap_or(true)
    }

    pub(crate) fn status(&self) -> MemberStatus {
        let (enclave_id, key_id) = self.info.lock().map(|g| g.clone()).unwrap_or_default();
        MemberStatus {
            address: self.label.clone(),
            healthy: self.is_healthy(),
            outstanding: self.outstanding(),
            consecutive_failures: self.failures.load(Ordering::Acquire),
            enclave_id,
            key_id,
        }
    }

    fn schedule(&self, after: Duration) {
        if let Ok(mut t) = self.next_probe.lock() {
            *t = Instant::now() + after;
        }
    }

    /// Backoff after `failures` consecutive failures.
    fn backoff(failures: u32, config: &PoolConfig) -> Duration {
        let shift = failures.saturating_sub(1).min(16);
        config
            .health_interval
            .saturating_mul(1u32 << shift)
            .min(config.max_backoff.max(config.health_interval))
    }

    /// Takes the member out of the rotation after a failed exchange.
    pub(crate) fn mark_down(&self, config: &PoolConfig) {
        let was = self.healthy.swap(false, Ordering::AcqRel);
        let f = self
            .failures
            .fetch_add(1, Ordering::AcqRel)
            .saturating_add(1);
        if was {
            tracing::warn!(enclave = %self.label, "enclave left the rotation");
        }
        self.schedule(Self::backoff(f, config));
    }

    pub(crate) fn record_probe(
        &self,
        ok: Option<(Option<String>, Option<u64>)>,
        config: &PoolConfig,
    ) {
        match ok {
            Some(info) => {
                if let Ok(mut g) = self.info.lock() {
                    *g = info;
                }
                self.failures.store(0, Ordering::Release);
                if !self.healthy.swap(true, Ordering::AcqRel) {
                    tracing::info!(enclave = %self.label, "enclave joined the rotation");
                }
                self.schedule(config.health_interval);
            }
            None => self.mark_down(config),
        }
    }

    /// `GET /health`: the enclave id and key id when healthy.
    pub(crate) async fn probe(&self, timeout: Duration) -> Option<(Option<String>, Option<u64>)> {
        let req = http::Request::get("http://enclave/health")
            .body(Full::new(Bytes::new()))
            .ok()?;
        let a = self.send(req, timeout).await.ok()?;
        if a.status != 200 {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&a.body).ok()?;
        if v.get("status").and_then(|s| s.as_str()) != Some("ok") {
            return None;
        }
        Some((
            v.get("enclave_id")
                .and_then(|s| s.as_str())
                .map(str::to_owned),
            v.get("key_id").and_then(|k| k.as_u64()),
        ))
    }

    pub(crate) async fn send(
        &self,
        req: http::Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<Answer, SendError> {
        let fut = async {
            let res = self.client.request(req).await.map_err(|e| {
                if e.is_connect() {
                    SendError::NotSent
                } else {
                    SendError::Failed
                }
            })?;
            let status = res.status().as_u16();
            let header = |name: &str| {
                res.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let response_nonce = header(zenalyze_ehbp::RESPONSE_NONCE_HEADER);
            let content_type = header("content-type");
            let body = Limited::new(res.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|_| SendError::Malformed("answer body too large or broken"))?
                .to_bytes();
            Ok(Answer {
                status,
                response_nonce,
                content_type,
                body,
                enclave: String::new(),
            })
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(SendError::Timeout),
        }
    }
}
