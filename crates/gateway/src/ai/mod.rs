//! AI through the gateway (SPEC §5, `docs/ai-gateway.md`):
//!
//! * `GET /v1/ai/attestation?nonce=HEX` — an attestation document of a
//!   healthy enclave committing to the current key config and the caller's
//!   challenge;
//! * `GET /.well-known/hpke-keys` — the current key config
//!   (`application/ohttp-keys`, public, not metered);
//! * `POST /v1/ai/analyze` — an EHBP request sealed by the client, relayed
//!   with the gateway's side data (the customer backend's non-PHI
//!   `Zenalyze-Instructions`, and the stored envelopes of the records named
//!   in `Zenalyze-Record-Ids`, fetched tenant-scoped) to a healthy enclave of
//!   the [`zenalyze_enclave_pool::EnclavePool`]; the EHBP answer goes back
//!   unchanged.
//!
//! The gateway never holds a key that opens anything: record keys travel
//! only inside the client's seal, envelopes only outside it. Nothing of a
//! request body is logged, audited or metered besides sizes, ids and status.

pub mod config;
pub mod dev;
mod handlers;
pub mod jobs;
pub mod webhooks;

use std::sync::Arc;

use async_trait::async_trait;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zenalyze_enclave_pool::EnclavePool;

use crate::state::{AppState, CheckStatus, HealthCheck};

pub use handlers::{
    AttestationQuery, AttestationView, INSTRUCTIONS_HEADER, MAX_INSTRUCTIONS_BYTES, MAX_RECORD_IDS,
    RECORD_IDS_HEADER,
};

/// Largest sealed request body accepted by `POST /v1/ai/analyze` (8 MiB,
/// the enclave's default).
pub const DEFAULT_MAX_SEALED_BODY: usize = 8 * 1024 * 1024;

/// Settings of the AI endpoints.
#[derive(Debug, Clone)]
pub struct AiSettings {
    /// Largest sealed request body.
    pub max_sealed_body: usize,
    /// Lifetime of an asynchronous job and its sealed result.
    pub job_ttl: std::time::Duration,
    /// Webhook delivery.
    pub webhooks: webhooks::WebhookSettings,
}

impl Default for AiSettings {
    fn default() -> Self {
        Self {
            max_sealed_body: DEFAULT_MAX_SEALED_BODY,
            job_ttl: jobs::DEFAULT_JOB_TTL,
            webhooks: webhooks::WebhookSettings::default(),
        }
    }
}

struct AiInner {
    pool: EnclavePool,
    settings: AiSettings,
    registry: Option<prometheus::Registry>,
}

/// State of the AI endpoints (cheap to clone).
#[derive(Clone)]
pub struct Ai {
    inner: Arc<AiInner>,
}

impl std::fmt::Debug for Ai {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ai")
            .field("pool", &self.inner.pool)
            .field("settings", &self.inner.settings)
            .finish()
    }
}

impl Ai {
    /// AI endpoints backed by `pool`.
    pub fn new(pool: EnclavePool, settings: AiSettings) -> Self {
        Self {
            inner: Arc::new(AiInner {
                pool,
                settings,
                registry: None,
            }),
        }
    }

    /// Keeps the Prometheus registry holding the pool's metrics (for the
    /// metrics endpoint to gather).
    pub fn with_registry(self, registry: prometheus::Registry) -> Self {
        let inner = AiInner {
            pool: self.inner.pool.clone(),
            settings: self.inner.settings.clone(),
            registry: Some(registry),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The registry given with [`Ai::with_registry`].
    pub fn registry(&self) -> Option<&prometheus::Registry> {
        self.inner.registry.as_ref()
    }

    /// The enclave pool.
    pub fn pool(&self) -> &EnclavePool {
        &self.inner.pool
    }

    /// The settings.
    pub fn settings(&self) -> &AiSettings {
        &self.inner.settings
    }

    /// The routes (add them with [`crate::AppBuilder::routes`]).
    pub fn router(&self) -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .routes(routes!(handlers::attestation))
            .routes(routes!(handlers::hpke_keys))
            .routes(routes!(handlers::analyze))
            .routes(routes!(jobs::get_job))
            .routes(routes!(webhooks::rotate_secret))
            .layer(axum::extract::DefaultBodyLimit::max(
                self.inner.settings.max_sealed_body,
            ))
            .layer(axum::Extension(self.clone()))
    }

    /// The readiness check of the pool (`enclaves` in `GET /v1/health`).
    pub fn health_check(&self) -> Arc<dyn HealthCheck> {
        Arc::new(EnclavesCheck(self.inner.pool.clone()))
    }
}

/// `enclaves` readiness: up when at least one enclave is healthy.
#[derive(Debug, Clone)]
pub struct EnclavesCheck(pub EnclavePool);

#[async_trait]
impl HealthCheck for EnclavesCheck {
    fn name(&self) -> &'static str {
        "enclaves"
    }

    async fn check(&self) -> CheckStatus {
        if self.0.healthy_count() > 0 {
            CheckStatus::Up
        } else {
            CheckStatus::Down("no healthy enclave")
        }
    }
}
