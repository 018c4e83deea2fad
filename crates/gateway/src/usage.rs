//! `GET /v1/usage?from=YYYY-MM-DD&to=YYYY-MM-DD`: the caller's tenant's
//! tier, current quota and exact per-day, per-operation counts (SPEC §6).
//!
//! Any secret key (`zk_live_…`, `zk_test_…`) of the tenant holding the
//! `usage:read` scope (a default scope of secret keys) may read it;
//! publishable keys cannot hold that scope. Not metered. Counts come from
//! the store plus the counts this instance has not flushed yet (another
//! instance's unflushed counts appear after its next flush, within
//! `usage_flush_interval_ms`).

use axum::extract::State;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zenalyze_limits::{UsageQuery, UsageRange, UsageResponse};

use crate::auth::Caller;
use crate::extract::ApiQuery;
use crate::problem::{Problem, ProblemDocument, ProblemKind};
use crate::scopes;
use crate::state::AppState;

/// Usage and quota of the caller's tenant.
#[utoipa::path(
    get,
    path = "/v1/usage",
    tag = "usage",
    params(UsageQuery),
    responses(
        (status = 200, description = "Tier, quota of the current window and per-day counts (every day of the range, oldest first)", body = UsageResponse),
        (status = 400, description = "Invalid from/to (YYYY-MM-DD, from ≤ to, at most 366 days)", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid API key", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "Key lacks usage:read", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "Database or audit log unavailable", body = ProblemDocument, content_type = "application/problem+json"),
    ),
    security(("api_key" = ["usage:read"]))
)]
pub async fn get_usage(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<UsageQuery>,
) -> Result<Json<UsageResponse>, Problem> {
    caller.require(scopes::USAGE_READ)?;
    let limiter = state.limiter();
    let range = UsageRange::parse(&q, limiter.now().date())
        .map_err(|e| Problem::new(ProblemKind::InvalidParameter).detail(e.to_string()))?;
    let store = state.store();
    let tenant = store
        .get_tenant(&caller.tenant_id)
        .await?
        .ok_or_else(|| Problem::new(ProblemKind::Unauthorized))?;
    let limits = zenalyze_limits::TierLimits::from(&tenant);
    state.tenant_limits().update(&tenant);
    store.append_audit(caller.audit("usage.read")?).await?;
    let rows = store.usage(&tenant.id, range.from, range.to).await?;
    let body = limiter
        .usage_report(
            tenant.id.as_str(),
            &limits,
            range,
            zenalyze_limits::store_sink::usage_rows(rows),
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "usage report failed");
            Problem::internal()
        })?;
    Ok(Json(body))
}

/// The usage route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_usage))
}
