//! Limits through the real HTTP server, on SQLite with the in-memory
//! limiter and an injected clock: `RateLimit-*` headers on metered routes
//! only, burst refusal and recovery, quota refusal and UTC-day roll-over,
//! refused requests not counted, `GET /v1/usage`, tenant overrides through
//! the admin API, usage flushed on graceful shutdown, `/metrics`.

mod limits_common;

use std::sync::Arc;
use std::time::Duration;

use limits_common::{check_exposition, problem_type, sample, Gateway, GatewayOptions};
use serde_json::Value;
use time::macros::datetime;
use zenalyze_limits::{LimitsConfig, ManualClock};

const QUOTA: &str = "https://zenalyze.dev/problems/quota-exceeded";
const RATE: &str = "https://zenalyze.dev/problems/rate-limited";

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn header_u64(r: &reqwest::Response, name: &str) -> u64 {
    header(r, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing or not a number"))
}

/// A stand-in for a route another module adds later (`/v1/encrypt`):
/// the limiter must cover it without extra wiring.
fn extra_router() -> utoipa_axum::router::OpenApiRouter<zenalyze_gateway::AppState> {
    utoipa_axum::router::OpenApiRouter::new().route(
        "/v1/encrypt",
        axum::routing::post(|| async { axum::Json(serde_json::json!({"ok": true})) }),
    )
}

async fn start(clock: Arc<ManualClock>, dir: &std::path::Path) -> Gateway {
    let store = limits_common::sqlite_store(dir).await;
    Gateway::start(
        store,
        GatewayOptions {
            // Only the shutdown flush writes usage in this test.
            limits: LimitsConfig {
                usage_flush_interval_ms: 3_600_000,
                ..LimitsConfig::default()
            },
            clock: Some(clock),
            extra: Some(extra_router()),
            ..GatewayOptions::default()
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_quota_rollover_usage_and_shutdown_flush() {
    tokio::time::timeout(Duration::from_secs(120), scenario())
        .await
        .expect("scenario timed out");
}

async fn scenario() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(datetime!(2030-01-15 23:58:00 UTC)));
    let gw = start(clock.clone(), dir.path()).await;

    // --- Burst (Free: 10/s): 10 at once pass, the 11th is rate-limited,
    // one second later it passes again.
    let (free_id, free_key) = gw.tenant("free", None, None).await;
    for i in 0..10u64 {
        let r = gw.list_records(&free_key).await;
        assert_eq!(r.status(), 200, "request {i}");
        assert_eq!(header_u64(&r, "ratelimit-limit"), 100);
        assert_eq!(header_u64(&r, "ratelimit-remaining"), 99 - i);
        // Reset: to the next UTC midnight (2 minutes away).
        assert_eq!(header_u64(&r, "ratelimit-reset"), 120);
    }
    let r = gw.list_records(&free_key).await;
    assert_eq!(r.status(), 429);
    let retry = header_u64(&r, "retry-after");
    assert!((1..=1).contains(&retry), "retry-after {retry}");
    assert!(header(&r, "ratelimit-limit").is_some());
    assert_eq!(problem_type(r).await, RATE);
    clock.advance(time::Duration::seconds(1));
    let r = gw.list_records(&free_key).await;
    assert_eq!(r.status(), 200);
    // The refused request was not counted: 11 used.
    assert_eq!(header_u64(&r, "ratelimit-remaining"), 89);

    // --- Quota with a raised burst (override at creation): exactly 100.
    let (q_id, q_key) = gw.tenant("free", None, Some(1000)).await;
    for i in 0..100u64 {
        let r = gw.list_records(&q_key).await;
        assert_eq!(r.status(), 200, "request {i}");
    }
    for _ in 0..5 {
        let r = gw.list_records(&q_key).await;
        assert_eq!(r.status(), 429);
        assert_eq!(header_u64(&r, "ratelimit-remaining"), 0);
        // Retry-After: to the next UTC day (119 s after 23:58:01).
        assert_eq!(header_u64(&r, "retry-after"), 119);
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["type"], QUOTA);
        assert_eq!(body["status"], 429);
        assert!(body["request_id"].is_string(), "{body}");
    }

    // Usage before the roll-over: 100 counted, refusals not.
    let r = gw.usage(&q_key, "?from=2030-01-14&to=2030-01-15").await;
    assert_eq!(r.status(), 200);
    assert!(
        header(&r, "ratelimit-limit").is_none(),
        "usage is not metered"
    );
    let u: Value = r.json().await.expect("json");
    assert_eq!(u["tier"], "free");
    assert_eq!(u["quota"]["limit"], 100);
    assert_eq!(u["quota"]["used"], 100);
    assert_eq!(u["quota"]["resets_at"], "2030-01-16T00:00:00Z");
    assert_eq!(
        u["days"][0],
        serde_json::json!({"date": "2030-01-14", "operations": {}})
    );
    assert_eq!(u["days"][1]["date"], "2030-01-15");
    assert_eq!(u["days"][1]["operations"]["records_list"], 100);

    // --- Roll-over: the next UTC day has a fresh quota.
    clock.set(datetime!(2030-01-16 00:00:01 UTC));
    let r = gw.list_records(&q_key).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header_u64(&r, "ratelimit-remaining"), 99);
    // Another metered operation, added as an extra router.
    let r = gw
        .http
        .post(gw.url("/v1/encrypt"))
        .bearer_auth(&q_key)
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert_eq!(header_u64(&r, "ratelimit-remaining"), 98);
    let u: Value = gw
        .usage(&q_key, "?from=2030-01-15&to=2030-01-16")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(u["quota"]["used"], 2);
    assert_eq!(u["days"][1]["operations"]["records_list"], 1);
    assert_eq!(u["days"][1]["operations"]["encrypt"], 1);

    // Invalid usage queries.
    for q in [
        "?from=2030-13-01",
        "?from=2030-01-16&to=2030-01-15",
        "?from=2020-01-01&to=2030-01-15",
        "?bogus=1",
    ] {
        let r = gw.usage(&q_key, q).await;
        assert_eq!(r.status(), 400, "{q}");
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["type"], "https://zenalyze.dev/problems/invalid-parameter");
    }
    // The usage of one tenant is not visible to another.
    let u: Value = gw
        .usage(&free_key, "?from=2030-01-15&to=2030-01-15")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(u["days"][0]["operations"]["records_list"], 11);

    // --- Unmetered routes carry no RateLimit headers.
    for path in ["/v1/health", "/v1/openapi.json", "/metrics"] {
        let r = gw
            .http
            .get(gw.url(path))
            .bearer_auth(&gw.admin_token)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200, "{path}");
        assert!(header(&r, "ratelimit-limit").is_none(), "{path}");
    }
    // HEAD runs the GET handler: metered too.
    let r = gw
        .http
        .head(gw.url("/v1/records?user_id=limits-user"))
        .bearer_auth(&q_key)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert_eq!(header_u64(&r, "ratelimit-remaining"), 97);
    // A failed authentication on a metered route is a 401, not counted.
    let r = gw
        .list_records("zk_test_notavalidkeyatallnotavalidkeyatall0")
        .await;
    assert_eq!(r.status(), 401);
    assert!(header(&r, "ratelimit-limit").is_none());
    let r = gw
        .http
        .get(gw.url("/v1/records"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);

    // --- Overrides through the admin API.
    let patch = |body: Value, token: &str, id: &str| {
        gw.http
            .patch(gw.url(&format!("/v1/admin/tenants/{id}")))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let r = patch(
        serde_json::json!({"quota_override": 5}),
        "wrong-token",
        &free_id,
    )
    .await
    .expect("send");
    assert_eq!(r.status(), 401);
    let r = patch(
        serde_json::json!({"burst_override": 0}),
        &gw.admin_token,
        &free_id,
    )
    .await
    .expect("send");
    assert_eq!(r.status(), 422);
    let r = patch(
        serde_json::json!({"tier": "gold"}),
        &gw.admin_token,
        &free_id,
    )
    .await
    .expect("send");
    assert_eq!(r.status(), 422);
    let r = patch(
        serde_json::json!({"quota_override": 5}),
        &gw.admin_token,
        "ten_doesnotexist000000000000",
    )
    .await
    .expect("send");
    assert_eq!(r.status(), 404);
    let r = patch(
        serde_json::json!({"tier": "starter", "quota_override": 12}),
        &gw.admin_token,
        &free_id,
    )
    .await
    .expect("send");
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.expect("json");
    assert_eq!(t["tier"], "starter");
    assert_eq!(t["quota_override"], 12);
    assert_eq!(t["burst_override"], Value::Null);
    // Applies at once on this instance: Starter's monthly window, 12 in all.
    let r = gw.list_records(&free_key).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header_u64(&r, "ratelimit-limit"), 12);
    let u: Value = gw.usage(&free_key, "").await.json().await.expect("json");
    assert_eq!(u["tier"], "starter");
    assert_eq!(u["quota"]["resets_at"], "2030-02-01T00:00:00Z");
    // `null` removes the override, absent fields are kept.
    let r = patch(
        serde_json::json!({"quota_override": null}),
        &gw.admin_token,
        &free_id,
    )
    .await
    .expect("send");
    let t: Value = r.json().await.expect("json");
    assert_eq!(t["tier"], "starter");
    assert_eq!(t["quota_override"], Value::Null);
    let r = gw.list_records(&free_key).await;
    assert_eq!(header_u64(&r, "ratelimit-limit"), 10_000);

    // --- Metrics: valid exposition, expected families, bounded labels.
    let text = gw.metrics_text().await;
    let families = check_exposition(&text);
    for f in [
        "zenalyze_http_requests_total",
        "zenalyze_http_request_duration_seconds",
        "zenalyze_auth_failures_total",
        "zenalyze_api_calls_total",
        "zenalyze_limiter_refusals_total",
        "zenalyze_limiter_decision_seconds",
        "zenalyze_tenants",
        "zenalyze_encryption_operations_total",
    ] {
        assert!(
            families.iter().any(|x| x == f),
            "family {f} missing:\n{text}"
        );
    }
    assert_eq!(
        sample(
            &text,
            &format!("zenalyze_api_calls_total{{operation=\"records_list\",tenant_id=\"{q_id}\"}}")
        ),
        Some(102.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!(
                "zenalyze_limiter_refusals_total{{kind=\"quota_exceeded\",tenant_id=\"{q_id}\"}}"
            )
        ),
        Some(5.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!(
                "zenalyze_limiter_refusals_total{{kind=\"rate_limited\",tenant_id=\"{free_id}\"}}"
            )
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "zenalyze_auth_failures_total{reason=\"malformed\"}").or(sample(
            &text,
            "zenalyze_auth_failures_total{reason=\"unknown_key\"}"
        )),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "zenalyze_auth_failures_total{reason=\"missing\"}"),
        Some(1.0)
    );
    assert!(
        sample(
            &text,
            "zenalyze_auth_failures_total{reason=\"admin_token\"}"
        )
        .unwrap_or(0.0)
            >= 1.0
    );
    assert_eq!(
        sample(
            &text,
            "zenalyze_encryption_operations_total{operation=\"encrypt\",outcome=\"success\"}"
        ),
        Some(1.0)
    );
    assert!(text.contains("route=\"/v1/records\""));
    assert!(text.contains("status_class=\"4xx\""));
    // Tenants per tier: two tenants created, one moved to starter.
    assert_eq!(sample(&text, "zenalyze_tenants{tier=\"free\"}"), Some(1.0));
    assert_eq!(
        sample(&text, "zenalyze_tenants{tier=\"starter\"}"),
        Some(1.0)
    );
    // No user ids, no raw paths or query strings, no keys.
    for forbidden in ["limits-user", "user_id", "?", "zk_", &gw.admin_token] {
        assert!(!text.contains(forbidden), "metrics contain {forbidden}");
    }
    // Without the admin token: 401.
    let r = gw.http.get(gw.url("/metrics")).send().await.expect("send");
    assert_eq!(r.status(), 401);

    // --- Graceful shutdown flushes every count to the store.
    let store_dir = dir;
    gw.stop().await;
    let store = limits_common::sqlite_store(store_dir.path()).await;
    let tenant = zenalyze_store::TenantId::parse(&q_id).expect("id");
    let rows = store
        .usage(
            &tenant,
            time::macros::date!(2030 - 01 - 15),
            time::macros::date!(2030 - 01 - 16),
        )
        .await
        .expect("usage rows");
    let count = |day: time::Date, op: &str| {
        rows.iter()
            .find(|r| r.day == day && r.operation == op)
            .map(|r| r.count)
    };
    assert_eq!(
        count(time::macros::date!(2030 - 01 - 15), "records_list"),
        Some(100)
    );
    assert_eq!(
        count(time::macros::date!(2030 - 01 - 16), "records_list"),
        Some(2)
    );
    assert_eq!(
        count(time::macros::date!(2030 - 01 - 16), "encrypt"),
        Some(1)
    );
    store.close().await;
}
