//! Application state and the [`App`] builder.
//!
//! Later features plug in here: extra health checks (Redis, enclaves, KMS)
//! with [`AppBuilder::health_check`], extra routers (encrypt/decrypt, AI
//! proxy) with [`AppBuilder::routes`]; middleware (rate limits) wraps the
//! router returned by [`App::router`] or the added routes.

use std::sync::Arc;
use std::time::Instant;

use zenalyze_store::Store;

use crate::config::{HttpSettings, Limits};
use crate::keys::{AdminToken, KeyKind};

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

    /// Builds the app.
    pub fn build(self) -> App {
        let mut health: Vec<Arc<dyn HealthCheck>> =
            vec![Arc::new(DatabaseCheck(self.store.clone()))];
        health.extend(self.health);
        let state = AppState {
            inner: Arc::new(Inner {
                store: self.store,
                admin_token: self.admin_token,
                limits: self.limits,
                http: self.http,
                health,
                default_secret_kind: self.default_secret_kind,
                started: Instant::now(),
            }),
        };
        App {
            state,
            extra: self.routers,
        }
    }
}

/// The gateway application: state plus routes.
pub struct App {
    state: AppState,
    extra: Vec<utoipa_axum::router::OpenApiRouter<AppState>>,
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
        }
    }

    /// The shared state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The complete router (routes, OpenAPI, docs, middleware).
    pub fn router(self) -> axum::Router {
        crate::routes::build(self.state, self.extra)
    }
}
