//! Rate limits, quotas and usage metering on the API router
//! (`zenalyze-limits`, SPEC §6).
//!
//! [`meter`] runs on every matched route of the API router (installed with
//! `Router::route_layer` in [`crate::routes::build`], so routes added later
//! with [`crate::AppBuilder::routes`] are covered too). It classifies the
//! request by method and route TEMPLATE
//! ([`zenalyze_limits::Operation::for_route`]); unmetered routes (health,
//! usage, OpenAPI, `/.well-known`, metrics, admin, attestation…) pass
//! through untouched. For a metered route it:
//!
//! 1. authenticates the API key (a failure is the usual 401 problem and is
//!    not counted), and hands the [`Caller`] to the handler through the
//!    request extensions (no second key lookup);
//! 2. reads the tenant's tier and overrides ([`TenantLimitsCache`]);
//! 3. asks the limiter: a refusal is a complete 429 problem
//!    (`quota-exceeded` or `rate-limited`, `Retry-After`, `RateLimit-*`)
//!    and the handler does not run; an allowed request is counted (quota,
//!    burst, usage) and its response carries `RateLimit-Limit`,
//!    `RateLimit-Remaining` and `RateLimit-Reset`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use zenalyze_limits::{Operation, TierLimits};
use zenalyze_store::{Store, Tenant, TenantId};

use crate::auth::Caller;
use crate::metrics::AuthFailure;
use crate::problem::{Problem, ProblemKind};
use crate::state::AppState;

/// How long an instance reuses a tenant's tier and overrides before reading
/// them again. A change made through this instance's admin API applies at
/// once; one made elsewhere (another instance, the CLI) within this time.
pub const TENANT_CACHE_TTL: Duration = Duration::from_secs(5);

/// Most tenants kept in the cache (it is emptied beyond, then refills).
pub const TENANT_CACHE_MAX: usize = 100_000;

/// Short-lived cache of tenants' limits, so that a metered request costs no
/// extra database read in the common case.
#[derive(Debug, Default)]
pub struct TenantLimitsCache {
    map: Mutex<HashMap<TenantId, (TierLimits, Instant)>>,
}

impl TenantLimitsCache {
    /// The limits of `tenant` (from the cache when fresh, else the store);
    /// `Ok(None)` when the tenant does not exist.
    pub async fn get(
        &self,
        store: &dyn Store,
        tenant: &TenantId,
    ) -> Result<Option<TierLimits>, zenalyze_store::StoreError> {
        if let Ok(map) = self.map.lock() {
            if let Some((limits, at)) = map.get(tenant) {
                if at.elapsed() < TENANT_CACHE_TTL {
                    return Ok(Some(*limits));
                }
            }
        }
        let Some(t) = store.get_tenant(tenant).await? else {
            self.invalidate(tenant);
            return Ok(None);
        };
        let limits = TierLimits::from(&t);
        self.put(&t, limits);
        Ok(Some(limits))
    }

    fn put(&self, t: &Tenant, limits: TierLimits) {
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= TENANT_CACHE_MAX {
                map.clear();
            }
            map.insert(t.id.clone(), (limits, Instant::now()));
        }
    }

    /// Stores a tenant's new state (after an admin change).
    pub fn update(&self, t: &Tenant) {
        self.put(t, TierLimits::from(t));
    }

    /// Forgets a tenant.
    pub fn invalidate(&self, tenant: &TenantId) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(tenant);
        }
    }
}

/// The metered operation of a request, from its method and matched route
/// template (`None`: not metered, or no route matched). `HEAD` runs the
/// `GET` handler, so it is metered like `GET`.
pub fn operation_of(req: &Request) -> Option<Operation> {
    let path = req.extensions().get::<MatchedPath>()?;
    let method = if req.method() == Method::HEAD {
        &Method::GET
    } else {
        req.method()
    };
    Operation::for_route(method, path.as_str())
}

fn is_encryption(op: Operation) -> bool {
    matches!(
        op,
        Operation::Encrypt | Operation::Decrypt | Operation::Rewrap | Operation::BlindIndex
    )
}

/// The middleware (see the module docs).
pub async fn meter(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(op) = operation_of(&req) else {
        return next.run(req).await;
    };
    let (mut parts, body) = req.into_parts();
    let caller = match Caller::from_request_parts(&mut parts, &state).await {
        Ok(c) => c,
        Err(p) => return p.into_response(),
    };
    let limits = match state
        .tenant_limits()
        .get(state.store().as_ref(), &caller.tenant_id)
        .await
    {
        Ok(Some(l)) => l,
        Ok(None) => {
            state.metrics().auth_failure(AuthFailure::UnknownTenant);
            tracing::info!("authentication failed: the key's tenant does not exist");
            return Problem::new(ProblemKind::Unauthorized)
                .detail("send a valid, unrevoked API key as Authorization: Bearer zk_…")
                .into_response();
        }
        Err(e) => return Problem::from(e).into_response(),
    };
    let tenant = caller.tenant_id.to_string();
    parts.extensions.insert(caller);
    let decision = match state.limiter().enforce(&tenant, &limits, op).await {
        Ok(d) => d,
        Err(mut refusal) => {
            if let Some(rid) = crate::request_id::current() {
                add_request_id(&mut refusal, &rid).await;
            }
            return refusal;
        }
    };
    let mut response = next.run(Request::from_parts(parts, body)).await;
    decision.apply_headers(response.headers_mut());
    if is_encryption(op) {
        state
            .metrics()
            .encryption_operation(op.as_str(), response.status());
    }
    response
}

/// Adds `request_id` to a limiter problem document (small, fixed body).
async fn add_request_id(response: &mut Response, rid: &str) {
    let body = std::mem::take(response.body_mut());
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return;
    };
    let mut doc: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(_) => {
            *response.body_mut() = axum::body::Body::from(bytes);
            return;
        }
    };
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("request_id".to_owned(), serde_json::Value::from(rid));
    }
    let text = doc.to_string();
    response.headers_mut().insert(
        axum::http::header::CONTENT_LENGTH,
        HeaderValue::from(text.len()),
    );
    *response.body_mut() = axum::body::Body::from(text);
}

/// Counts the tenants of each tier into `zenalyze_tenants{tier}`.
pub async fn refresh_tenants_per_tier(state: &AppState) -> Result<(), zenalyze_store::StoreError> {
    let Some(metrics) = state.limiter().metrics_handle() else {
        return Ok(());
    };
    let mut counts = [0u64; 4];
    let mut after: Option<TenantId> = None;
    loop {
        let page = state.store().list_tenants(500, after.as_ref()).await?;
        for t in &page {
            let tier = zenalyze_limits::Tier::from(t.tier);
            if let Some(i) = zenalyze_limits::Tier::ALL.iter().position(|x| *x == tier) {
                counts[i] = counts[i].saturating_add(1);
            }
        }
        match page.last() {
            Some(t) if page.len() == 500 => after = Some(t.id.clone()),
            _ => break,
        }
    }
    for (tier, n) in zenalyze_limits::Tier::ALL.iter().zip(counts) {
        metrics.set_tenants_per_tier(*tier, n);
    }
    Ok(())
}

/// How often the tenants-per-tier gauge is recomputed (tenant changes
/// through this instance's admin API refresh it at once).
pub const TENANT_GAUGE_INTERVAL: Duration = Duration::from_secs(60);

/// Starts the periodic tenants-per-tier refresh (the first one at once).
pub fn spawn_tenant_gauge(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TENANT_GAUGE_INTERVAL);
        loop {
            tick.tick().await;
            if let Err(e) = refresh_tenants_per_tier(&state).await {
                tracing::warn!(error = %e, "tenants-per-tier gauge refresh failed");
            }
        }
    })
}
