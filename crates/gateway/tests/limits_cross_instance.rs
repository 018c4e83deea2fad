//! One quota across gateway instances: two real gateways on two ephemeral
//! ports share one fresh PostgreSQL database and Redis (unique key prefix).
//! A Free tenant (burst raised by override so only the quota binds) is
//! hammered through both at once: exactly 100 metered requests succeed,
//! every other one is refused with the quota problem type, and
//! `GET /v1/usage` reports 100 after the flush.

mod limits_common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use limits_common::{pg_store, redis_limits, redis_url, Gateway, GatewayOptions, PgDb};
use serde_json::Value;
use zenalyze_gateway::keys::random_base62;

const TOTAL: usize = 250;
const TASKS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exact_quota_across_two_instances() {
    let pg = PgDb::create().await;
    let result = tokio::time::timeout(Duration::from_secs(120), scenario(&pg)).await;
    pg.drop_db().await;
    result.expect("scenario timed out");
}

async fn scenario(pg: &PgDb) {
    let prefix = format!("zltest-{}", random_base62(12));
    let token = zenalyze_gateway::keys::AdminToken::generate()
        .expose_secret()
        .to_owned();
    let mut gateways = Vec::new();
    for _ in 0..2 {
        let store = pg_store(&pg.url).await;
        gateways.push(Arc::new(
            Gateway::start(
                store,
                GatewayOptions {
                    limits: redis_limits(&redis_url(), &prefix),
                    admin_token: Some(token.clone()),
                    ..GatewayOptions::default()
                },
            )
            .await,
        ));
    }
    let (tenant_id, key) = gateways[0].tenant("free", None, Some(10_000)).await;
    let key = Arc::new(key);

    let next = Arc::new(AtomicUsize::new(0));
    let ok = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..TASKS {
        let (gws, key, next, ok, refused) = (
            gateways.clone(),
            key.clone(),
            next.clone(),
            ok.clone(),
            refused.clone(),
        );
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= TOTAL {
                    return;
                }
                let gw = &gws[i % 2];
                let r = gw.list_records(&key).await;
                match r.status().as_u16() {
                    200 => {
                        assert!(r.headers().contains_key("ratelimit-remaining"));
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                    429 => {
                        assert!(r.headers().contains_key("retry-after"));
                        let v: Value = r.json().await.expect("json");
                        assert_eq!(
                            v["type"], "https://zenalyze.dev/problems/quota-exceeded",
                            "{v}"
                        );
                        refused.fetch_add(1, Ordering::SeqCst);
                    }
                    s => panic!("unexpected status {s}"),
                }
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task");
    }
    assert_eq!(ok.load(Ordering::SeqCst), 100, "exactly the quota succeeds");
    assert_eq!(refused.load(Ordering::SeqCst), TOTAL - 100);

    // Both instances see the same exhausted quota.
    for gw in &gateways {
        assert_eq!(gw.list_records(&key).await.status(), 429);
    }
    // After the periodic flush (100 ms) of both instances, the store holds
    // exactly 100 for today; either instance reports it.
    tokio::time::sleep(Duration::from_millis(600)).await;
    for gw in &gateways {
        let u: Value = gw.usage(&key, "").await.json().await.expect("json");
        assert_eq!(u["tier"], "free");
        assert_eq!(u["quota"]["limit"], 100);
        assert_eq!(u["quota"]["used"], 100);
        let today = u["days"]
            .as_array()
            .and_then(|d| d.last())
            .cloned()
            .expect("today");
        assert_eq!(today["operations"]["records_list"], 100, "{u}");
        let text = gw.metrics_text().await;
        assert!(text.contains(&format!("tenant_id=\"{tenant_id}\"")));
        assert_eq!(
            limits_common::sample(&text, "zenalyze_limiter_redis_fallback"),
            Some(0.0)
        );
    }
    for gw in gateways {
        match Arc::try_unwrap(gw) {
            Ok(gw) => gw.stop().await,
            Err(_) => panic!("gateway still shared"),
        }
    }
    // The durable count after both graceful shutdowns.
    let store = pg_store(&pg.url).await;
    let today = time::OffsetDateTime::now_utc().date();
    let rows = store
        .usage(
            &zenalyze_store::TenantId::parse(&tenant_id).expect("id"),
            today.previous_day().unwrap_or(today),
            today,
        )
        .await
        .expect("rows");
    let total: u64 = rows.iter().map(|r| r.count).sum();
    assert_eq!(total, 100);
    store.close().await;
}
