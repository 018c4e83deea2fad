//! The Zenalyze AI Privacy Service: the enclave runtime.
//!
//! Serves EHBP (HPKE, RFC 9180) to the deployment's shared HPKE key set,
//! attests its key config, opens sealed AI requests, decrypts the records
//! they reference, calls the AI provider, seals the answer and zeroizes
//! every plaintext buffer. See `docs/ai-protocol.md` and `docs/enclave.md`.
//!
//! Use [`EnclaveBuilder`] in-process (tests, `zenalyze dev`) or [`run`] for
//! the `zenalyze enclave` command.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod attest;
pub mod body;
pub mod client;
#[cfg(feature = "kms")]
pub mod credentials;
pub mod keyset;
#[cfg(feature = "kms")]
pub mod kms;
pub mod metrics;
pub mod schedule;
mod server;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use zenalyze_ai_providers::Provider;
use zenalyze_ehbp::KeyConfig;
use zenalyze_transport::{Address, Listener};

pub use attest::{AttestError, Attestor, DevAttestor};
pub use keyset::{DevKeyStore, KeySet, KeySetError, KeyStore, SealedKeys};
pub use schedule::{KeySchedule, ScheduleParams, ScheduledKeys};
pub use server::{MAX_NONCE_LEN, RESPONSE_CHUNK};

/// Path of the gateway's internal endpoint (EHBP request + side data).
pub const INTERNAL_ANALYZE_PATH: &str = "/internal/v1/analyze";

/// Source of wall-clock time (unix milliseconds).
pub trait Clock: Send + Sync {
    /// Now, in unix milliseconds.
    fn now_ms(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that moves only when told (tests of rotation and grace).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock at `now_ms`.
    pub fn new(now_ms: u64) -> Self {
        Self(AtomicU64::new(now_ms))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(
            u64::try_from(by.as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Enclave failures at start-up or while serving.
#[derive(Debug, thiserror::Error)]
pub enum EnclaveError {
    /// Key set could not be loaded, created or rotated.
    #[error(transparent)]
    KeySet(#[from] KeySetError),
    /// Attestor could not be set up.
    #[error(transparent)]
    Attest(#[from] AttestError),
    /// Listening or serving failed.
    #[error("transport: {0}")]
    Io(#[from] std::io::Error),
    /// Metrics registry failure.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// Default rotation interval of the HPKE key: 24 hours.
pub const DEFAULT_ROTATION: Duration = Duration::from_secs(24 * 3600);
/// Default grace period of the previous key: 1 hour.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3600);
/// Default largest sealed body: 8 MiB.
pub const DEFAULT_MAX_BODY: usize = 8 * 1024 * 1024;
/// Default number of analyze requests holding plaintext at once.
pub const DEFAULT_MAX_CONCURRENT: usize = 64;

/// Builds an [`Enclave`].
pub struct EnclaveBuilder {
    data_dir: PathBuf,
    provider: Arc<dyn Provider>,
    attestor: Option<Arc<dyn Attestor>>,
    clock: Arc<dyn Clock>,
    enclave_id: Option<String>,
    rotation: Duration,
    grace: Duration,
    max_body_bytes: usize,
    max_concurrent: usize,
    key_store: Option<KeyStore>,
}

impl EnclaveBuilder {
    /// An enclave on `data_dir` (development root key, sealed key set and
    /// attestation root live there) calling `provider`.
    pub fn new(data_dir: impl Into<PathBuf>, provider: Arc<dyn Provider>) -> Self {
        Self {
            data_dir: data_dir.into(),
            provider,
            attestor: None,
            clock: Arc::new(SystemClock),
            enclave_id: None,
            rotation: DEFAULT_ROTATION,
            grace: DEFAULT_GRACE,
            max_body_bytes: DEFAULT_MAX_BODY,
            max_concurrent: DEFAULT_MAX_CONCURRENT,
            key_store: None,
        }
    }

    /// Uses this key store instead of the development store on the data
    /// directory: in production a [`KeyStore::with_data_key`] whose data key
    /// was unwrapped by KMS for this enclave (never created on the fly).
    /// When its blob holds a key schedule (format v2), the schedule's
    /// interval and grace apply and [`EnclaveBuilder::rotation`] is ignored;
    /// nothing is ever written back to the directory.
    pub fn key_store(mut self, store: KeyStore) -> Self {
        self.key_store = Some(store);
        self
    }

    /// Uses this attestor instead of the development attestor.
    pub fn attestor(mut self, attestor: Arc<dyn Attestor>) -> Self {
        self.attestor = Some(attestor);
        self
    }

    /// Uses this clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the enclave id reported by `/attestation` and `/health`.
    pub fn enclave_id(mut self, id: impl Into<String>) -> Self {
        self.enclave_id = Some(id.into());
        self
    }

    /// Sets the key rotation interval and the previous key's grace period of
    /// a rotating (v1) key set; a key schedule carries its own.
    pub fn rotation(mut self, every: Duration, grace: Duration) -> Self {
        self.rotation = every;
        self.grace = grace;
        self
    }

    /// Sets the largest accepted sealed body.
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.max_body_bytes = max;
        self
    }

    /// Sets how many analyze requests may hold plaintext at once (others wait).
    pub fn max_concurrent(mut self, max: usize) -> Self {
        self.max_concurrent = max.max(1);
        self
    }

    /// Unwraps (or creates) the key set and sets up attestation.
    pub fn build(self) -> Result<Enclave, EnclaveError> {
        let now = self.clock.now_ms();
        let store = match self.key_store {
            Some(store) => store,
            None => KeyStore::new(&self.data_dir)?,
        };
        let sealed = if store.is_development() {
            SealedKeys::Set(store.load_or_create(now)?)
        } else {
            store.load_sealed()?
        };
        let rotation_ms = u64::try_from(self.rotation.as_millis()).unwrap_or(u64::MAX);
        let grace_ms = u64::try_from(self.grace.as_millis()).unwrap_or(u64::MAX);
        let keys = match sealed {
            SealedKeys::Set(mut set) => {
                if set.rotation_due(now, rotation_ms) {
                    set = store.rotate_if_due(now, rotation_ms)?;
                }
                server::Keys::Rotating {
                    set: RwLock::new(set),
                    store,
                    grace_ms,
                    rotation_ms,
                }
            }
            SealedKeys::Schedule(schedule) => {
                server::Keys::Scheduled(ScheduledKeys::new(schedule, now)?)
            }
        };
        let enclave_id = self.enclave_id.unwrap_or_else(random_id);
        let attestor: Arc<dyn Attestor> = match self.attestor {
            Some(a) => a,
            None => Arc::new(DevAttestor::load_or_create(
                &self.data_dir,
                &enclave_id,
                now,
            )?),
        };
        let metrics = metrics::Metrics::new()?;
        metrics
            .current_key_id
            .set(i64::from(keys.current_config(now).key_id()));
        let state = server::AppState {
            keys,
            attestor,
            provider: self.provider,
            clock: self.clock,
            enclave_id,
            metrics,
            max_body_bytes: self.max_body_bytes,
            seq: AtomicU64::new(1),
            permits: tokio::sync::Semaphore::new(self.max_concurrent),
        };
        Ok(Enclave {
            state: Arc::new(state),
        })
    }
}

/// A fresh random enclave id (`enclave-` and 16 hex digits).
pub fn new_enclave_id() -> String {
    random_id()
}

fn random_id() -> String {
    let mut b = [0u8; 8];
    if aws_lc_rs::rand::fill(&mut b).is_err() {
        return "enclave".to_owned();
    }
    format!("enclave-{}", hex::encode(b))
}

/// A built enclave: its HTTP router and key maintenance.
#[derive(Clone)]
pub struct Enclave {
    state: Arc<server::AppState>,
}

impl std::fmt::Debug for Enclave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enclave")
            .field("enclave_id", &self.state.enclave_id)
            .finish_non_exhaustive()
    }
}

impl Enclave {
    /// The axum router of the enclave API.
    pub fn router(&self) -> axum::Router {
        server::router(self.state.clone())
    }

    /// The current key config.
    pub fn key_config(&self) -> KeyConfig {
        self.state.current_config()
    }

    /// The enclave id.
    pub fn enclave_id(&self) -> &str {
        &self.state.enclave_id
    }

    /// Key maintenance, called periodically by [`Enclave::spawn`]; tests
    /// call it directly. A rotating (v1) key set is rotated when due, and a
    /// key set rotated by another process sharing the data directory is
    /// picked up. A key schedule needs no disk: the current epoch is
    /// observed (metrics, log) and its keys derived ahead of requests.
    pub fn maintain(&self) -> Result<(), EnclaveError> {
        let now = self.state.clock.now_ms();
        let (set, store, rotation_ms) = match &self.state.keys {
            server::Keys::Scheduled(s) => {
                s.refresh(now)?;
                if let Some((from, to)) = s.observe(now) {
                    let key_id = schedule::key_id_of(to);
                    tracing::info!(
                        from_epoch = from,
                        to_epoch = to,
                        key_id,
                        "HPKE key epoch changed"
                    );
                    self.state
                        .metrics
                        .rotations
                        .with_label_values(&["observed"])
                        .inc();
                    self.state.metrics.current_key_id.set(i64::from(key_id));
                }
                return Ok(());
            }
            server::Keys::Rotating {
                set,
                store,
                rotation_ms,
                ..
            } => (set, store, *rotation_ms),
        };
        let on_disk = store.rotate_if_due(now, rotation_ms)?;
        let mut guard = match set.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if guard.current.key.key_config() != on_disk.current.key.key_config() {
            tracing::info!(
                from = guard.current.key.key_id(),
                to = on_disk.current.key.key_id(),
                "HPKE key set changed"
            );
            self.state
                .metrics
                .rotations
                .with_label_values(&["observed"])
                .inc();
            self.state
                .metrics
                .current_key_id
                .set(i64::from(on_disk.current.key.key_id()));
            *guard = on_disk;
        }
        Ok(())
    }

    /// Binds `listen` and serves in the background, maintaining the key set
    /// every `maintenance` interval.
    pub async fn spawn(
        self,
        listen: &Address,
        maintenance: Duration,
    ) -> Result<RunningEnclave, EnclaveError> {
        let listener = Listener::bind(listen).await?;
        let address = listener.local_address()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = self.router();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
        });
        let me = self.clone();
        let maint = tokio::spawn(async move {
            let mut tick = tokio::time::interval(maintenance);
            tick.tick().await;
            loop {
                tick.tick().await;
                let me2 = me.clone();
                match tokio::task::spawn_blocking(move || me2.maintain()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "key maintenance failed"),
                    Err(_) => tracing::error!("key maintenance task failed"),
                }
            }
        });
        Ok(RunningEnclave {
            address,
            enclave: self,
            shutdown: Some(tx),
            server,
            maint,
        })
    }
}

/// An enclave serving in the background.
pub struct RunningEnclave {
    /// The bound address (actual port for `tcp:…:0`).
    pub address: Address,
    /// The enclave.
    pub enclave: Enclave,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    maint: tokio::task::JoinHandle<()>,
}

impl RunningEnclave {
    /// Stops serving (graceful) and waits for the server to end.
    pub async fn shutdown(mut self) -> Result<(), EnclaveError> {
        self.maint.abort();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match (&mut self.server).await {
            Ok(r) => r.map_err(EnclaveError::from),
            Err(_) => Ok(()),
        }
    }

    /// Waits until the server ends (it ends on its own only on error).
    pub async fn wait(mut self) -> Result<(), EnclaveError> {
        let r = (&mut self.server).await;
        self.maint.abort();
        match r {
            Ok(r) => r.map_err(EnclaveError::from),
            Err(_) => Ok(()),
        }
    }
}

/// Configuration of [`run`].
pub struct EnclaveConfig {
    /// Where to listen.
    pub listen: Address,
    /// Data directory (root key, sealed key set, development attestation root).
    pub data_dir: PathBuf,
    /// The AI provider.
    pub provider: Arc<dyn Provider>,
    /// Attestor; `None` = development attestor.
    pub attestor: Option<Arc<dyn Attestor>>,
    /// Rotation interval.
    pub rotation: Duration,
    /// Grace period of the previous key.
    pub grace: Duration,
    /// Key maintenance period.
    pub maintenance: Duration,
    /// Enclave id (random when `None`).
    pub enclave_id: Option<String>,
}

/// Runs the enclave until Ctrl-C / SIGTERM.
pub async fn run(config: EnclaveConfig) -> Result<(), EnclaveError> {
    let mut b = EnclaveBuilder::new(config.data_dir, config.provider)
        .rotation(config.rotation, config.grace);
    if let Some(a) = config.attestor {
        b = b.attestor(a);
    }
    if let Some(id) = config.enclave_id {
        b = b.enclave_id(id);
    }
    let enclave = tokio::task::spawn_blocking(move || b.build())
        .await
        .map_err(|_| std::io::Error::other("enclave start-up task failed"))??;
    let running = enclave.spawn(&config.listen, config.maintenance).await?;
    tracing::info!(
        address = %running.address,
        enclave_id = running.enclave.enclave_id(),
        key_id = running.enclave.key_config().key_id(),
        "enclave listening"
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    running.shutdown().await
}
