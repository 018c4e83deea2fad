//! The per-route layer in an axum router.

use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use std::sync::Arc;
use time::macros::datetime;
use tower::ServiceExt;
use zenalyze_limits::{
    LimitSubject, Limiter, ManualClock, MemoryLimiter, MemoryUsageSink, Operation, Tier,
    PROBLEM_QUOTA_EXCEEDED, PROBLEM_RATE_LIMITED,
};

/// Stands in for the gateway's authentication middleware.
async fn fake_auth(mut req: Request, next: Next) -> Response {
    let tier = match req
        .headers()
        .get("x-test-tier")
        .and_then(|v| v.to_str().ok())
    {
        Some("pro") => Tier::Pro,
        _ => Tier::Free,
    };
    if req.headers().contains_key("x-test-no-subject") {
        return next.run(req).await;
    }
    req.extensions_mut().insert(LimitSubject {
        tenant_id: "ten_mw".to_owned(),
        limits: tier.limits().with_overrides(Some(12), None),
    });
    next.run(req).await
}

fn app(limiter: &Limiter) -> Router {
    Router::new()
        .route(
            "/v1/encrypt",
            post(|| async { "ok" }).layer(limiter.layer(Operation::Encrypt)),
        )
        .route("/v1/health", axum::routing::get(|| async { "up" }))
        .layer(axum::middleware::from_fn(fake_auth))
}

async fn call(app: &Router, path: &str, extra: Option<&str>) -> Response {
    let mut b = Request::builder()
        .method(if path == "/v1/health" { "GET" } else { "POST" })
        .uri(path);
    if let Some(h) = extra {
        b = b.header(h, "1");
    }
    app.clone()
        .oneshot(b.body(Body::empty()).expect("request"))
        .await
        .expect("infallible")
}

fn header(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn problem_type(r: Response) -> String {
    let bytes = axum::body::to_bytes(r.into_body(), 64 * 1024)
        .await
        .expect("body");
    let v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    v["type"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn layer_limits_meters_and_sets_headers() {
    let clock = Arc::new(ManualClock::new(datetime!(2026-11-25 23:59:00 UTC)));
    let sink = Arc::new(MemoryUsageSink::new());
    let limiter =
        Limiter::with_backend(Arc::new(MemoryLimiter::new()), sink.clone()).clock(clock.clone());
    let app = app(&limiter);

    let r = call(&app, "/v1/encrypt", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "ratelimit-limit").as_deref(), Some("12"));
    assert_eq!(header(&r, "ratelimit-remaining").as_deref(), Some("11"));
    assert_eq!(header(&r, "ratelimit-reset").as_deref(), Some("60"));
    assert!(header(&r, "retry-after").is_none());

    // Burst: 10 per second for Free; 9 more pass, the 11th is refused.
    for _ in 0..9 {
        assert_eq!(
            call(&app, "/v1/encrypt", None).await.status(),
            StatusCode::OK
        );
    }
    let r = call(&app, "/v1/encrypt", None).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&r, "retry-after").as_deref(), Some("1"));
    assert_eq!(
        header(&r, "content-type").as_deref(),
        Some("application/problem+json")
    );
    assert_eq!(problem_type(r).await, PROBLEM_RATE_LIMITED);

    // Quota of 12: two more after a second, then quota-exceeded until midnight.
    clock.advance(time::Duration::seconds(1));
    assert_eq!(
        call(&app, "/v1/encrypt", None).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        call(&app, "/v1/encrypt", None).await.status(),
        StatusCode::OK
    );
    let r = call(&app, "/v1/encrypt", None).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&r, "retry-after").as_deref(), Some("59"));
    assert_eq!(header(&r, "ratelimit-remaining").as_deref(), Some("0"));
    assert_eq!(problem_type(r).await, PROBLEM_QUOTA_EXCEEDED);

    // Unmetered routes carry no headers and are never refused.
    let r = call(&app, "/v1/health", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header(&r, "ratelimit-limit").is_none());

    // Missing subject = wiring bug: 500, fail closed.
    let r = call(&app, "/v1/encrypt", Some("x-test-no-subject")).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);

    limiter.usage().flush().await.expect("flush");
    assert_eq!(
        sink.count(
            "ten_mw",
            Operation::Encrypt,
            time::macros::date!(2026 - 11 - 25)
        ),
        12
    );
}

#[tokio::test]
async fn route_layer_finds_the_operation_from_the_matched_path() {
    let clock = Arc::new(ManualClock::new(datetime!(2026-11-25 12:00:00 UTC)));
    let sink = Arc::new(MemoryUsageSink::new());
    let limiter =
        Limiter::with_backend(Arc::new(MemoryLimiter::new()), sink.clone()).clock(clock.clone());
    let app = Router::new()
        .route("/v1/encrypt", post(|| async { "ok" }))
        .route(
            "/v1/records/{id}",
            axum::routing::get(|| async { "rec" }).delete(|| async { "gone" }),
        )
        .route("/v1/health", axum::routing::get(|| async { "up" }))
        .route_layer(limiter.route_layer())
        .layer(axum::middleware::from_fn(fake_auth));
    let r = call(&app, "/v1/encrypt", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "ratelimit-remaining").as_deref(), Some("11"));
    let r = app
        .clone()
        .oneshot(
            Request::builder()
                .method("DELETE")
                .uri("/v1/records/rec_1")
                .body(Body::empty())
                .expect("req"),
        )
        .await
        .expect("infallible");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "ratelimit-remaining").as_deref(), Some("10"));
    let r = call(&app, "/v1/health", Some("x-test-no-subject")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header(&r, "ratelimit-limit").is_none());
    limiter.usage().flush().await.expect("flush");
    let day = time::macros::date!(2026 - 11 - 25);
    assert_eq!(sink.count("ten_mw", Operation::Encrypt, day), 1);
    assert_eq!(sink.count("ten_mw", Operation::RecordsDelete, day), 1);

    // Unknown paths (no route matched) are 404, untouched.
    let r = call(&app, "/v1/nowhere", None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(header(&r, "ratelimit-limit").is_none());
    // `Router::layer` works as well (axum applies it per route) and leaves
    // the 404 fallback alone.
    let with_layer = Router::new()
        .route("/v1/encrypt", post(|| async { "ok" }))
        .layer(limiter.route_layer())
        .layer(axum::middleware::from_fn(fake_auth));
    let r = call(&with_layer, "/v1/encrypt", None).await;
    assert_eq!(header(&r, "ratelimit-remaining").as_deref(), Some("9"));
    assert_eq!(
        call(&with_layer, "/v1/nowhere", None).await.status(),
        StatusCode::NOT_FOUND
    );
}
