//! The Redis back-end against a real Redis (see `common::test_redis`):
//! one quota across two limiter instances, bursts, TTLs, the Lua calendar,
//! and the fallback when Redis goes away and comes back.

mod common;

use common::{test_redis, unique_prefix, RedisServer};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zenalyze_limits::window::{span_at, to_micros, QuotaWindow, MICROS_PER_DAY};
use zenalyze_limits::{
    LimitBackend, LimiterMetrics, RedisLimiter, RedisSettings, RefusalKind, Tier, TierLimits,
};

const TEST_TIMEOUT: Duration = Duration::from_secs(60);

fn settings(url: &str, prefix: &str) -> RedisSettings {
    RedisSettings {
        url: url.to_owned(),
        key_prefix: prefix.to_owned(),
        timeout_ms: 500,
        probe_min_ms: 50,
        probe_max_ms: 400,
    }
}

async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

async fn redis_day(url: &str) -> i64 {
    let mut c = raw(url).await;
    let (secs, _): (i64, i64) = redis::cmd("TIME").query_async(&mut c).await.expect("TIME");
    secs / 86_400
}

fn now_us() -> i64 {
    to_micros(time::OffsetDateTime::now_utc())
}

/// Two limiter instances (separate connections, as two gateway processes)
/// hammered concurrently for one Free tenant: exactly 100 allowed, every
/// other request refused with the quota kind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_exact_quota() {
    let (url, _server) = test_redis();
    tokio::time::timeout(TEST_TIMEOUT, async {
        // A UTC midnight inside the run would (correctly) open a new window:
        // retry once in that case.
        for _attempt in 0..2 {
            let prefix = unique_prefix("two");
            let a = Arc::new(
                RedisLimiter::connect(&settings(&url, &prefix), None)
                    .await
                    .expect("a"),
            );
            let b = Arc::new(
                RedisLimiter::connect(&settings(&url, &prefix), None)
                    .await
                    .expect("b"),
            );
            // The quota must be what binds, not the 10/s burst.
            let limits = Tier::Free.limits().with_overrides(None, Some(1_000_000));
            let day_before = redis_day(&url).await;
            let mut tasks = Vec::new();
            for i in 0..300 {
                let l = if i % 2 == 0 {
                    Arc::clone(&a)
                } else {
                    Arc::clone(&b)
                };
                tasks.push(tokio::spawn(async move {
                    l.check_and_consume("ten_shared", &limits, now_us()).await
                }));
            }
            let (mut allowed, mut quota, mut other) = (0, 0, 0);
            for t in tasks {
                let d = t.await.expect("join").expect("decision");
                match d.refusal {
                    None => allowed += 1,
                    Some(RefusalKind::QuotaExceeded) => {
                        quota += 1;
                        assert_eq!(d.remaining, 0);
                        assert!(d.retry_after_secs().unwrap_or(0) >= 1);
                        assert!(d.retry_after_us.unwrap_or(0) <= MICROS_PER_DAY);
                    }
                    Some(RefusalKind::RateLimited) => other += 1,
                }
            }
            if redis_day(&url).await != day_before {
                continue;
            }
            assert!(!a.is_degraded() && !b.is_degraded());
            assert_eq!((allowed, quota, other), (100, 200, 0));
            let status = a
                .quota_status("ten_shared", &limits, now_us())
                .await
                .expect("status");
            assert_eq!((status.limit, status.used), (Some(100), 100));
            return;
        }
        panic!("two UTC midnights during one test run");
    })
    .await
    .expect("test timed out");
}

/// Burst refusal and recovery on Redis's clock; a refusal consumes no quota.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_limit_on_redis() {
    let (url, _server) = test_redis();
    tokio::time::timeout(TEST_TIMEOUT, async {
        let prefix = unique_prefix("burst");
        let l = RedisLimiter::connect(&settings(&url, &prefix), None)
            .await
            .expect("connect");
        let limits = Tier::Free.limits(); // 10/s, 100/day
        let started = Instant::now();
        let mut allowed = 0u64;
        let mut refused = None;
        for _ in 0..25 {
            let d = l
                .check_and_consume("ten_burst", &limits, now_us())
                .await
                .expect("decision");
            match d.refusal {
                None => allowed += 1,
                Some(kind) => {
                    assert_eq!(kind, RefusalKind::RateLimited);
                    assert_eq!((d.limit, d.remaining), (10, 0));
                    let wait = d.retry_after_us.unwrap_or(0);
                    assert!(wait > 0 && wait <= 100_000, "wait {wait}");
                    assert_eq!(d.retry_after_secs(), Some(1));
                    refused.get_or_insert(d);
                }
            }
        }
        // 10 at once, plus one per 100 ms that the loop took.
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        assert!(
            allowed >= 10 && allowed <= 10 + elapsed_ms / 100 + 1,
            "allowed {allowed} in {elapsed_ms} ms"
        );
        assert!(refused.is_some());
        let status = l
            .quota_status("ten_burst", &limits, now_us())
            .await
            .expect("status");
        assert_eq!(status.used, allowed, "refusals consumed no quota");
        // After the announced wait one more request conforms.
        tokio::time::sleep(Duration::from_millis(110)).await;
        let d = l
            .check_and_consume("ten_burst", &limits, now_us())
            .await
            .expect("decision");
        assert!(d.is_allowed());
        assert_eq!(d.remaining, 100 - allowed - 1);
    })
    .await
    .expect("test timed out");
}

/// Keys carry TTLs: the TAT until the bucket is full again, the quota
/// counter until shortly after its window ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_expire() {
    let (url, _server) = test_redis();
    tokio::time::timeout(TEST_TIMEOUT, async {
        let prefix = unique_prefix("ttl");
        let l = RedisLimiter::connect(&settings(&url, &prefix), None)
            .await
            .expect("connect");
        let limits = Tier::Starter.limits();
        let d = l
            .check_and_consume("ten_ttl", &limits, now_us())
            .await
            .expect("decision");
        assert!(d.is_allowed());
        assert_eq!((d.limit, d.remaining), (10_000, 9_999));
        let mut c = raw(&url).await;
        let tat_ttl: i64 = redis::cmd("PTTL")
            .arg(format!("{prefix}:{{ten_ttl}}:b"))
            .query_async(&mut c)
            .await
            .expect("pttl");
        assert!(tat_ttl > 0 && tat_ttl <= 41, "tat ttl {tat_ttl} ms");
        let span = span_at(QuotaWindow::Month, now_us());
        let qkey = format!("{prefix}:{{ten_ttl}}:q:m:{}", span.id);
        let used: i64 = redis::cmd("GET")
            .arg(&qkey)
            .query_async(&mut c)
            .await
            .expect("get");
        assert_eq!(used, 1);
        let ttl: i64 = redis::cmd("TTL")
            .arg(&qkey)
            .query_async(&mut c)
            .await
            .expect("ttl");
        let to_end = (span.end_us - now_us()) / 1_000_000;
        assert!(
            ttl > 0 && ttl <= to_end + 61 && ttl >= to_end + 55,
            "ttl {ttl}, window ends in {to_end}"
        );
    })
    .await
    .expect("test timed out");
}

/// Enterprise: never refused for quota, still counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlimited_quota_is_counted() {
    let (url, _server) = test_redis();
    tokio::time::timeout(TEST_TIMEOUT, async {
        let prefix = unique_prefix("ent");
        let l = RedisLimiter::connect(&settings(&url, &prefix), None)
            .await
            .expect("connect");
        let limits = Tier::Enterprise
            .limits()
            .with_overrides(None, Some(1_000_000));
        for _ in 0..50 {
            let d = l
                .check_and_consume("ten_ent", &limits, now_us())
                .await
                .expect("decision");
            assert!(d.is_allowed());
            assert_eq!(d.limit, 1_000_000);
        }
        let s = l
            .quota_status("ten_ent", &limits, now_us())
            .await
            .expect("status");
        assert_eq!((s.limit, s.used), (None, 50));
        let tight = TierLimits {
            quota: Some(50),
            ..limits
        };
        let d = l
            .check_and_consume("ten_ent", &tight, now_us())
            .await
            .expect("decision");
        assert_eq!(d.refusal, Some(RefusalKind::QuotaExceeded));
    })
    .await
    .expect("test timed out");
}

/// The Lua calendar agrees with the Rust one around every boundary that
/// matters (Dec 31 → Jan 1, month ends, leap days, century years).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lua_calendar_matches_rust() {
    let (url, _server) = test_redis();
    tokio::time::timeout(TEST_TIMEOUT, async {
        let client = redis::Client::open(url.as_str()).expect("url");
        let mut conn = redis::aio::ConnectionManager::new(client)
            .await
            .expect("connect");
        let mut instants = Vec::new();
        for year in [
            1970i64, 1999, 2000, 2024, 2025, 2026, 2027, 2028, 2100, 2200,
        ] {
            for month in 1..=12 {
                let day0 =
                    zenalyze_limits::window::days_from_civil(year, month, 1) * MICROS_PER_DAY;
                instants.extend([
                    day0,
                    day0 - 1,
                    day0 + 1,
                    day0 + MICROS_PER_DAY * 28 - 1,
                    day0 + MICROS_PER_DAY * 29,
                ]);
            }
        }
        instants.retain(|t| *t >= 0);
        for now in instants {
            for w in [QuotaWindow::Day, QuotaWindow::Month] {
                let lua = zenalyze_limits::redis_backend::lua_span(&mut conn, w, now)
                    .await
                    .expect("lua");
                let rust = span_at(w, now);
                assert_eq!(lua, (rust.id, rust.start_us, rust.end_us), "{w:?} at {now}");
            }
        }
    })
    .await
    .expect("test timed out");
}

/// Redis goes away mid-test: decisions continue locally (gauge set); Redis
/// comes back on the same port: the limiter switches back (gauge cleared)
/// within a bounded time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn falls_back_and_recovers() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut server = RedisServer::start_free();
        let port = server.port;
        let url = server.url();
        let registry = prometheus::Registry::new();
        let metrics = LimiterMetrics::register(&registry).expect("metrics");
        let prefix = unique_prefix("fb");
        let l = RedisLimiter::connect(&settings(&url, &prefix), Some(metrics.clone()))
            .await
            .expect("connect");
        let limits = Tier::Free
            .limits()
            .with_overrides(Some(30), Some(1_000_000));
        for _ in 0..10 {
            assert!(l
                .check_and_consume("ten_fb", &limits, now_us())
                .await
                .expect("decision")
                .is_allowed());
        }
        assert!(!l.is_degraded());
        assert!(!metrics.redis_fallback_active());
        assert_eq!(l.name(), "redis");

        server.kill();
        // Decisions keep coming, each within the timeout budget, continuing
        // from the global count Redis last reported (10 of 30 used).
        let mut allowed = 0;
        for _ in 0..40 {
            let started = Instant::now();
            let d = l
                .check_and_consume("ten_fb", &limits, now_us())
                .await
                .expect("decision");
            assert!(started.elapsed() < Duration::from_millis(1_500));
            if d.is_allowed() {
                allowed += 1;
            } else {
                assert_eq!(d.refusal, Some(RefusalKind::QuotaExceeded));
            }
        }
        assert_eq!(allowed, 20, "fallback continued from the last known count");
        assert!(l.is_degraded());
        assert!(metrics.redis_fallback_active());
        assert_eq!(l.name(), "fallback");
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .expect("encode");
        assert!(text.contains("zenalyze_limiter_redis_fallback 1"));
        assert!(text.contains("zenalyze_limiter_redis_fallback_transitions_total 1"));

        // Back on the same port (a fresh, empty server).
        let _server2 = RedisServer::start(port);
        let deadline = Instant::now() + Duration::from_secs(10);
        while l.is_degraded() {
            assert!(Instant::now() < deadline, "did not recover within 10 s");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(!metrics.redis_fallback_active());
        // Decisions go to Redis again. The restarted server was empty; the 20
        // requests allowed during the fallback were written back to it.
        let d = l
            .check_and_consume("ten_fb", &limits, now_us())
            .await
            .expect("decision");
        assert!(d.is_allowed());
        assert_eq!(d.remaining, 9, "restarted Redis, fallback counts synced");
        let s = l
            .quota_status("ten_fb", &limits, now_us())
            .await
            .expect("status");
        assert_eq!(s.used, 21);
        assert_eq!(l.name(), "redis");
    })
    .await
    .expect("test timed out");
}

/// Starting while Redis is down works (fallback), and `connect_checked`
/// refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_in_fallback_when_redis_is_down() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let port = common::free_port();
        let url = format!("redis://127.0.0.1:{port}");
        let prefix = unique_prefix("down");
        let l = RedisLimiter::connect(&settings(&url, &prefix), None)
            .await
            .expect("connect");
        assert!(l.is_degraded());
        let d = l
            .check_and_consume("ten_down", &Tier::Free.limits(), now_us())
            .await
            .expect("decision");
        assert!(d.is_allowed());
        assert!(
            RedisLimiter::connect_checked(&settings(&url, &prefix), None)
                .await
                .is_err()
        );
        let mut bad = settings(&url, "bad{prefix}");
        assert!(RedisLimiter::connect(&bad, None).await.is_err());
        bad.key_prefix = "ok".into();
        bad.timeout_ms = 0;
        assert!(RedisLimiter::connect(&bad, None).await.is_err());
        assert!(l
            .check_and_consume("bad tenant", &Tier::Free.limits(), now_us())
            .await
            .is_err());
    })
    .await
    .expect("test timed out");
}
