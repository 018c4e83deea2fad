//! Application state and the [`App`] builder.
//!
//! Later features plug in here: extra health checks (Redis, enclaves, KMS)
//! with [`AppBuilder::health_check`], extra routers (encrypt/decrypt, AI
//! proxy) with [`AppBuilder::routes`]; middleware (rate limits) wraps the
//! router returned by [`App::router`] or the added routes.
//!
//! # Metrics: one registry
//!
//! The app owns ONE [`prometheus::Registry`] ([`AppBuilder::registry`],
//! [`AppState::registry`]), served by `GET /metrics`. Every module
//! registers its collectors into it — e.g. the AI endpoints
//! (`EnclavePool::start(.., Some(builder.registry()))`) and the limiter —
//! instead of creating a registry of its own, which `/metrics` would not
//! see. Keep labels bounded: tenant ids at most, never user ids, key ids
//! or paths with ids (route templates only).
//!
//! # Rate limits and metering
//!
//! Every route added with [`AppBuilder::routes`] is covered by the
//! limiter ([`crate::limits_wiring`]): metered operations are recognised by
//! method and route template (`zenalyze_limits::Operation::for_route`), so
//! new routes need no extra wiring.

use std::sync::Arc;
use std::time::Instant;

use zenalyze_store::Store;

use crate::auth::ApiKeyCache;
use crate::config::{HttpSettings, Limits};
use crate::keys::{AdminToken, KeyKind};
use crate::limits_wiring::TenantLimitsCache;
use crate::metrics::{GatewayMetrics, MetricsAccess};

/// Result of one dependency check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckStatus {
    /// The dependency answers.
    Up,
    /// The dependency does not answer; the reason is short, fixed text
    /// (never a secret or a connection string).
    Down(&'static str),
}

/// A readiness check of one dependency (database, Redis, enclaves, KMS…).
#[async_trait::async_trait]
pub trait HealthCheck: Send + Sync {
    /// The dependency's name in `GET /v1/health` (`database`, `redis`…).
    fn name(&self) -> &'static str;
    /// Checks the dependency. Implementations must return promptly; the
    /// health endpoint also applies its own timeout.
    async fn check(&self) -> CheckStatus;
}

/// The database readiness check.
#[derive(Debug, Clone)]
pub struct DatabaseCheck(pub Arc<dyn Store>);

#[async_trait::async_trait]
impl HealthCheck for DatabaseCheck {
    fn name(&self) -> &'static str {
        "database"
    }

    async fn check(&self) -> CheckStatus {
        match self.0.audit_head().await {
            Ok(_) => CheckStatus::Up,
            Err(e) => {
                tracing::warn!(error = %e, "database health check failed");
                CheckStatus::Down("database query failed")
            }
        }
    }
}

struct Inner {
    store: Arc<dyn Store>,
    admin_token: AdminToken,
    limits: Limits,
    http: HttpSettings,
    health: Vec<Arc<dyn HealthCheck>>,
    default_secret_kind: KeyKind,
    started: Instant,
    registry: prometheus::Registry,
    metrics: GatewayMetrics,
    metrics_access: MetricsAccess,
    limiter: zenalyze_limits::Limiter,
    usage_flush_interval: std::time::Duration,
    tenant_limits: TenantLimitsCache,
    api_keys: ApiKeyCache,
}

/// Shared state of every handler (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("backend", &self.inner.store.backend())
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The operator admin token.
    pub fn admin_token(&self) -> &AdminToken {
        &self.inner.admin_token
    }

    /// Request limits.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// HTTP settings.
    pub fn http(&self) -> &HttpSettings {
        &self.inner.http
    }

    /// Registered readiness checks.
    pub fn health_checks(&self) -> &[Arc<dyn HealthCheck>] {
        &self.inner.health
    }

    /// Kind of the secret key created with a new tenant (`test` in
    /// development, `live` in production).
    pub fn default_secret_kind(&self) -> KeyKind {
        self.inner.default_secret_kind
    }

    /// When the process started serving.
    pub fn started(&self) -> Instant {
        self.inner.started
    }

    /// The app's one Prometheus registry (served by `GET /metrics`).
    pub fn registry(&self) -> &prometheus::Registry {
        &self.inner.registry
    }

    /// The gateway's own metrics (requests, authentication failures,
    /// encryption operations).
    pub fn metrics(&self) -> &GatewayMetrics {
        &self.inner.metrics
    }

    /// Who may read `GET /metrics`.
    pub fn metrics_access(&self) -> MetricsAccess {
        self.inner.metrics_access
    }

    /// The rate limiter and usage meter.
    pub fn limiter(&self) -> &zenalyze_limits::Limiter {
        &self.inner.limiter
    }

    /// How often buffered usage counts are written to the store.
    pub fn usage_flush_interval(&self) -> std::time::Duration {
        self.inner.usage_flush_interval
    }

    /// The short-lived cache of tenants' limits (tier and overrides).
    pub fn tenant_limits(&self) -> &TenantLimitsCache {
        &self.inner.tenant_limits
    }

    /// The short-lived cache of API keys (see [`crate::auth`]).
    pub fn api_keys(&self) -> &ApiKeyCache {
        &self.inner.api_keys
    }
}

/// Builds an [`App`].
pub struct AppBuilder {
    store: Arc<dyn Store>,
    admin_token: AdminToken,
    limits: Limits,
    http: HttpSettings,
    health: Vec<Arc<dyn HealthCheck>>,
    default_secret_kind: KeyKind,
    routers: Vec<utoipa_axum::router::OpenApiRouter<AppState>>,
    registry: prometheus::Registry,
    limiter: Option<zenalyze_limits::Limiter>,
    limits_config: zenalyze_limits::LimitsConfig,
    limits_clock: Option<Arc<dyn zenalyze_limits::Clock>>,
    metrics_access: MetricsAccess,
    api_key_cache_ttl: std::time::Duration,
}

impl AppBuilder {
    /// Sets request limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets timeouts.
    pub fn http(mut self, http: HttpSettings) -> Self {
        self.http = http;
        self
    }

    /// Adds a readiness check (the database check is always present).
    pub fn health_check(mut self, check: Arc<dyn HealthCheck>) -> Self {
        self.health.push(check);
        self
    }

    /// Kind of secret key created with a new tenant.
    pub fn default_secret_kind(mut self, kind: KeyKind) -> Self {
        self.default_secret_kind = kind;
        self
    }

    /// Adds routes (documented in the OpenAPI spec) served with the same
    /// middleware stack as the built-in ones.
    pub fn routes(mut self, router: utoipa_axum::router::OpenApiRouter<AppState>) -> Self {
        self.routers.push(router);
        self
    }

    /// The app's one Prometheus registry: register every module's
    /// collectors here (see the module docs).
    pub fn registry(&self) -> &prometheus::Registry {
        &self.registry
    }

    /// The store (for modules that build their parts before the app).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Rate-limit settings without connecting anything: an in-memory
    /// back-end is used by [`AppBuilder::build`] unless
    /// [`AppBuilder::connect_limits`] built the configured one. Only
    /// `enabled` and `usage_flush_interval_ms` are read here.
    pub fn limits_config(mut self, config: zenalyze_limits::LimitsConfig) -> Self {
        self.limits_config = config;
        self
    }

    /// Builds the limiter of `config` (connecting to Redis when
    /// `backend = "redis"`; Redis down at start means starting in the
    /// in-memory fallback), registering its metrics into the app's
    /// registry and metering usage into the store.
    pub async fn connect_limits(
        mut self,
        config: zenalyze_limits::LimitsConfig,
    ) -> Result<Self, zenalyze_limits::LimitError> {
        let sink = Arc::new(zenalyze_limits::StoreUsageSink::new(self.store.clone()));
        let limiter =
            zenalyze_limits::Limiter::from_config(&config, Some(&self.registry), sink).await?;
        self.limiter = Some(limiter);
        self.limits_config = config;
        Ok(self)
    }

    /// Uses `clock` as the limiter's "now" (tests: a
    /// `zenalyze_limits::ManualClock`; the Redis back-end still decides on
    /// Redis's clock).
    pub fn limits_clock(mut self, clock: Arc<dyn zenalyze_limits::Clock>) -> Self {
        self.limits_clock = Some(clock);
        self
    }

    /// Who may read `GET /metrics` (default: the admin token).
    pub fn metrics_access(mut self, access: MetricsAccess) -> Self {
        self.metrics_access = access;
        self
    }

    /// How long a found API key is reused before it is read again (see
    /// [`crate::auth`]; default [`crate::auth::DEFAULT_API_KEY_CACHE_TTL`],
    /// zero disables the cache).
    pub fn api_key_cache_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.api_key_cache_ttl = ttl;
        self
    }

    /// Builds the app.
    pub fn build(self) -> App {
        let mut health: Vec<Arc<dyn HealthCheck>> =
            vec![Arc::new(DatabaseCheck(self.store.clone()))];
        health.extend(self.health);
        let registry = self.registry;
        let limiter = match self.limiter {
            Some(l) => l,
            None => {
                let sink = Arc::new(zenalyze_limits::StoreUsageSink::new(self.store.clone()));
                let metrics = match zenalyze_limits::LimiterMetrics::register(&registry) {
                    Ok(m) => Some(m),
                    Err(e) => {
                        tracing::error!(error = %e, "limiter metrics could not be registered");
                        None
                    }
                };
                let meter =
                    Arc::new(zenalyze_limits::UsageMeter::new(sink).with_metrics(metrics.clone()));
                zenalyze_limits::Limiter::new(
                    Arc::new(zenalyze_limits::MemoryLimiter::new()),
                    meter,
                )
                .metrics(metrics)
                .enabled(self.limits_config.enabled)
            }
        };
        let limiter = match self.limits_clock {
            Some(clock) => limiter.clock(clock),
            None => limiter,
        };
        let metrics = GatewayMetrics::register(&registry);
        let state = AppState {
            inner: Arc::new(Inner {
                store: self.store,
                admin_token: self.admin_token,
                limits: self.limits,
                http: self.http,
                health,
                default_secret_kind: self.default_secret_kind,
                started: Instant::now(),
                registry,
                metrics,
                metrics_access: self.metrics_access,
                limiter,
                usage_flush_interval: self.limits_config.usage_flush_interval(),
                tenant_limits: TenantLimitsCache::default(),
                api_keys: ApiKeyCache::new(self.api_key_cache_ttl),
            }),
        };
        App {
            state,
            extra: self.routers,
            pages: None,
        }
    }
}

/// The gateway application: state plus routes.
pub struct App {
    state: AppState,
    extra: Vec<utoipa_axum::router::OpenApiRouter<AppState>>,
    pages: Option<axum::Router>,
}

impl App {
    /// Starts building an app on a store with an admin token.
    pub fn builder(store: Arc<dyn Store>, admin_token: AdminToken) -> AppBuilder {
        AppBuilder {
            store,
            admin_token,
            limits: Limits::default(),
            http: HttpSettings::default(),
            health: Vec::new(),
            default_secret_kind: KeyKind::Live,
            routers: Vec::new(),
            registry: prometheus::Registry::new(),
            limiter: None,
            limits_config: zenalyze_limits::LimitsConfig::default(),
            limits_clock: None,
            metrics_access: MetricsAccess::AdminToken,
            api_key_cache_ttl: crate::auth::DEFAULT_API_KEY_CACHE_TTL,
        }
    }

    /// The shared state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Adds plain pages (outside `/v1`, not in the OpenAPI document, not
    /// metered) for the paths no API route matches, under the same
    /// middleware stack. `zenalyze dev` serves its demo journal this way
    /// ([`crate::dev::DevSite`]); production serves none.
    pub fn with_pages(mut self, pages: axum::Router) -> Self {
        self.pages = Some(pages);
        self
    }

    /// The complete router (routes, OpenAPI, docs, middleware).
    pub fn router(self) -> axum::Router {
        crate::routes::build(self.state, self.extra, self.pages)
    }
}
