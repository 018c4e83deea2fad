//! Assembles the router: API routes, OpenAPI document, docs page, fallback
//! and the middleware stack (outermost first): request id and log span,
//! panic containment, problem bodies for bare error statuses, request
//! deadline, body limits.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::openapi::ApiDoc;
use crate::state::AppState;
use crate::{admin, health, middleware, openapi, records, request_id};

/// The OpenAPI document of the complete app (base document, built-in
/// routes and `extra` routes).
pub fn openapi_document(
    state: &AppState,
    extra: Vec<OpenApiRouter<AppState>>,
) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let mut api = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(records::router(state))
        .merge(admin::router())
        .merge(crate::usage::router());
    for r in extra {
        api = api.merge(r);
    }
    api.split_for_parts()
}

/// Builds the complete router. `pages` (see [`crate::state::App::with_pages`])
/// answers the paths no API route matches, before the 404 fallback.
pub fn build(
    state: AppState,
    extra: Vec<OpenApiRouter<AppState>>,
    pages: Option<Router>,
) -> Router {
    let (router, spec) = openapi_document(&state, extra);
    let spec_json: Arc<[u8]> = spec
        .to_pretty_json()
        .map(|s| Arc::from(s.into_bytes()))
        .unwrap_or_else(|_| Arc::from(b"{}".to_vec()));
    let timeout = state.http().request_timeout;
    let json_limit = state.limits().json_body_bytes;
    let gateway_metrics = state.metrics().clone();
    // Rate limits and metering on every API route, including those added
    // with `AppBuilder::routes` (unmetered ones pass through).
    let router = router.route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        crate::limits_wiring::meter,
    ));
    let router = router
        .route("/metrics", get(crate::metrics::metrics_handler))
        .route(
            "/v1/openapi.json",
            get(move || {
                let body = spec_json.clone();
                async move { openapi_response(&body) }
            }),
        )
        .route("/docs", get(openapi::docs_page));
    // Extra pages sit behind every API route (they cannot shadow one) and
    // end in the same 404 problem.
    let router = match pages {
        Some(p) => router.fallback_service(p.fallback(middleware::not_found)),
        None => router.fallback(middleware::not_found),
    };
    router
        .with_state(state)
        .layer(DefaultBodyLimit::max(json_limit))
        .layer(axum::middleware::from_fn_with_state(
            timeout,
            middleware::deadline,
        ))
        .layer(axum::middleware::from_fn(middleware::problem_bodies))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(axum::middleware::from_fn(request_id::middleware))
        .layer(axum::middleware::from_fn_with_state(
            gateway_metrics,
            crate::metrics::track,
        ))
}

fn openapi_response(body: &[u8]) -> Response {
    let mut r = body.to_vec().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
