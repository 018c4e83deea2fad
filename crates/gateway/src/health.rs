//! `GET /v1/health`: liveness plus readiness with a status per dependency.
//!
//! Dependencies are [`crate::state::HealthCheck`]s registered on the app
//! (the database always; Redis, enclaves and KMS when those features add
//! theirs). `?probe=live` skips the dependency checks (a pure liveness
//! probe, also the HTTP-stack baseline of the benchmark).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::ApiQuery;
use crate::problem::ProblemDocument;
use crate::state::{AppState, CheckStatus};

/// Longest time one dependency check may take.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Status of one dependency.
#[derive(Debug, Serialize, ToSchema)]
pub struct DependencyStatus {
    /// `up` or `down`.
    pub status: &'static str,
    /// Time the check took, in milliseconds.
    pub latency_ms: u64,
    /// Why it is down (fixed text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
}

/// Health report.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` when ready, `degraded` when a dependency is down, `live` for a
    /// liveness-only probe.
    pub status: &'static str,
    /// The process serves requests.
    pub live: bool,
    /// Every dependency is up (absent for `probe=live`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    /// Gateway version.
    pub version: &'static str,
    /// Seconds since the server started.
    pub uptime_seconds: u64,
    /// Per-dependency status (empty for `probe=live`).
    pub checks: BTreeMap<&'static str, DependencyStatus>,
}

/// Query of `GET /v1/health`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HealthQuery {
    /// `live` for liveness only; `ready` (default) to check dependencies.
    pub probe: Option<String>,
}

/// Liveness and readiness.
#[utoipa::path(
    get,
    path = "/v1/health",
    tag = "health",
    params(HealthQuery),
    responses(
        (status = 200, description = "Live (and ready unless probe=live)", body = Health),
        (status = 400, description = "Invalid probe", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "Live but not ready: a dependency is down", body = Health),
    )
)]
pub async fn health(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<HealthQuery>,
) -> Result<Response, crate::problem::Problem> {
    let uptime_seconds = state.started().elapsed().as_secs();
    let version = env!("CARGO_PKG_VERSION");
    match q.probe.as_deref() {
        Some("live") => {
            return Ok(Json(Health {
                status: "live",
                live: true,
                ready: None,
                version,
                uptime_seconds,
                checks: BTreeMap::new(),
            })
            .into_response())
        }
        None | Some("ready") => {}
        Some(_) => {
            return Err(
                crate::problem::Problem::new(crate::problem::ProblemKind::InvalidParameter)
                    .detail("probe must be live or ready"),
            )
        }
    }
    let checks = futures_join(&state).await;
    let ready = checks.values().all(|c| c.status == "up");
    let body = Health {
        status: if ready { "ok" } else { "degraded" },
        live: true,
        ready: Some(ready),
        version,
        uptime_seconds,
        checks,
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((status, Json(body)).into_response())
}

async fn futures_join(state: &AppState) -> BTreeMap<&'static str, DependencyStatus> {
    let mut set = tokio::task::JoinSet::new();
    for check in state.health_checks() {
        let check = check.clone();
        set.spawn(async move {
            let started = Instant::now();
            let status = match tokio::time::timeout(CHECK_TIMEOUT, check.check()).await {
                Ok(s) => s,
                Err(_) => CheckStatus::Down("check timed out"),
            };
            let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            (check.name(), status, latency_ms)
        });
    }
    let mut out = BTreeMap::new();
    while let Some(joined) = set.join_next().await {
        if let Ok((name, status, latency_ms)) = joined {
            let (status, error) = match status {
                CheckStatus::Up => ("up", None),
                CheckStatus::Down(why) => ("down", Some(why)),
            };
            out.insert(
                name,
                DependencyStatus {
                    status,
                    latency_ms,
                    error,
                },
            );
        }
    }
    // A check whose task panicked is reported as down.
    for check in state.health_checks() {
        out.entry(check.name()).or_insert(DependencyStatus {
            status: "down",
            latency_ms: 0,
            error: Some("check failed"),
        });
    }
    out
}

/// The health routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}
