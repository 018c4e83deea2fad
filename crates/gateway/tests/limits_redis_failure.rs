//! Redis failure: a gateway on a private `redis-server` keeps serving when
//! Redis is killed (fallback metric 1, decisions in memory) and recovers
//! when Redis is back on the same port (metric 0, decisions on Redis).

mod limits_common;

use std::time::Duration;

use limits_common::{redis_limits, sample, Gateway, GatewayOptions, PrivateRedis};
use zenalyze_gateway::keys::random_base62;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_through_redis_outage_and_recovers() {
    tokio::time::timeout(Duration::from_secs(120), scenario())
        .await
        .expect("scenario timed out");
}

async fn fallback(gw: &Gateway) -> Option<f64> {
    sample(&gw.metrics_text().await, "zenalyze_limiter_redis_fallback")
}

async fn scenario() {
    let mut redis = PrivateRedis::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = limits_common::sqlite_store(dir.path()).await;
    let gw = Gateway::start(
        store,
        GatewayOptions {
            limits: redis_limits(&redis.url(), &format!("zlfail-{}", random_base62(8))),
            ..GatewayOptions::default()
        },
    )
    .await;
    let (_, key) = gw.tenant("pro", None, None).await;
    for _ in 0..5 {
        let r = gw.list_records(&key).await;
        assert_eq!(r.status(), 200);
        assert!(r.headers().contains_key("ratelimit-limit"));
    }
    assert_eq!(fallback(&gw).await, Some(0.0));

    // Redis dies: requests keep being served, with headers.
    redis.kill();
    for _ in 0..10 {
        let r = gw.list_records(&key).await;
        assert_eq!(r.status(), 200);
        assert!(r.headers().contains_key("ratelimit-remaining"));
    }
    assert_eq!(fallback(&gw).await, Some(1.0));
    let text = gw.metrics_text().await;
    assert!(sample(&text, "zenalyze_limiter_fallback_decisions_total").unwrap_or(0.0) >= 1.0);
    assert!(
        sample(&text, "zenalyze_limiter_redis_fallback_transitions_total").unwrap_or(0.0) >= 1.0
    );
    // Health stays ready: the limiter degrades, the gateway does not.
    let r = gw
        .http
        .get(gw.url("/v1/health"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);

    // Redis is back on the same port: the limiter recovers by itself.
    redis.restart().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = gw.list_records(&key).await;
        assert_eq!(r.status(), 200);
        if fallback(&gw).await == Some(0.0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the limiter did not leave the fallback"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..3 {
        assert_eq!(gw.list_records(&key).await.status(), 200);
    }
    assert_eq!(fallback(&gw).await, Some(0.0));
    gw.stop().await;
}
