//! The limiter facade on the in-memory back-end, with an injected clock:
//! burst refusal and recovery, window roll-over, exact quota under
//! concurrency, metering of allowed requests only, the off switch.

use std::sync::Arc;
use std::time::Duration;
use time::macros::{date, datetime};
use zenalyze_limits::{
    Limiter, LimitsConfig, ManualClock, MemoryLimiter, MemoryUsageSink, Operation, QuotaWindow,
    RefusalKind, Tier, UsageQuery, UsageRange,
};

const TEST_TIMEOUT: Duration = Duration::from_secs(30);

fn limiter(clock: &Arc<ManualClock>, sink: &Arc<MemoryUsageSink>) -> Limiter {
    Limiter::with_backend(Arc::new(MemoryLimiter::new()), sink.clone()).clock(clock.clone())
}

#[tokio::test]
async fn burst_refusal_and_recovery_with_injected_clock() {
    let clock = Arc::new(ManualClock::new(datetime!(2026-11-25 10:00 UTC)));
    let sink = Arc::new(MemoryUsageSink::new());
    let l = limiter(&clock, &sink);
    let pro = Tier::Pro.limits(); // 100/s
    for i in 0..100 {
        let d = l
            .check_and_consume("ten_a", &pro, Operation::Encrypt)
            .await
            .expect("decision");
        assert!(d.is_allowed(), "request {i}");
    }
    let d = l
        .check_and_consume("ten_a", &pro, Operation::Encrypt)
        .await
        .expect("decision");
    assert_eq!(d.refusal, Some(RefusalKind::RateLimited));
    assert_eq!(d.retry_after_us, Some(10_000));
    let h = d.header_map();
    assert_eq!(
        h.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_eq!(
        h.get("ratelimit-limit").and_then(|v| v.to_str().ok()),
        Some("100")
    );
    // 9.999 ms later: still refused.
    clock.advance(time::Duration::microseconds(9_999));
    assert!(!l
        .check_and_consume("ten_a", &pro, Operation::Encrypt)
        .await
        .expect("d")
        .is_allowed());
    // At exactly 10 ms: one more.
    clock.advance(time::Duration::microseconds(1));
    assert!(l
        .check_and_consume("ten_a", &pro, Operation::Encrypt)
        .await
        .expect("d")
        .is_allowed());
    assert!(!l
        .check_and_consume("ten_a", &pro, Operation::Encrypt)
        .await
        .expect("d")
        .is_allowed());
    // Another tenant is not affected.
    assert!(l
        .check_and_consume("ten_b", &pro, Operation::Encrypt)
        .await
        .expect("d")
        .is_allowed());
    // A second later the full burst is back.
    clock.advance(time::Duration::seconds(1));
    for _ in 0..100 {
        assert!(l
            .check_and_consume("ten_a", &pro, Operation::Decrypt)
            .await
            .expect("d")
            .is_allowed());
    }
    // Usage counts allowed requests only: 101 + 100 for ten_a.
    l.usage().flush().await.expect("flush");
    let day = date!(2026 - 11 - 25);
    assert_eq!(sink.count("ten_a", Operation::Encrypt, day), 101);
    assert_eq!(sink.count("ten_a", Operation::Decrypt, day), 100);
    assert_eq!(sink.count("ten_b", Operation::Encrypt, day), 1);
    let s = l.quota_status("ten_a", &pro).await.expect("status");
    assert_eq!((s.limit, s.used), (Some(100_000), 201));
    assert_eq!(s.resets_at, datetime!(2026-12-01 0:00 UTC));
}

#[tokio::test]
async fn daily_window_rolls_over_at_utc_midnight_new_year() {
    let clock = Arc::new(ManualClock::new(datetime!(2026-12-31 23:00 UTC)));
    let sink = Arc::new(MemoryUsageSink::new());
    let l = limiter(&clock, &sink);
    let free = Tier::Free.limits();
    for _ in 0..100 {
        clock.advance(time::Duration::milliseconds(200)); // under 10/s
        assert!(l
            .check_and_consume("ten_f", &free, Operation::RecordsCreate)
            .await
            .expect("d")
            .is_allowed());
    }
    clock.set(datetime!(2026-12-31 23:59:59.5 UTC));
    let d = l
        .check_and_consume("ten_f", &free, Operation::RecordsCreate)
        .await
        .expect("d");
    assert_eq!(d.refusal, Some(RefusalKind::QuotaExceeded));
    assert_eq!(d.retry_after_us, Some(500_000));
    assert_eq!(d.retry_after_secs(), Some(1));
    let h = d.header_map();
    assert_eq!(
        h.get("ratelimit-remaining").and_then(|v| v.to_str().ok()),
        Some("0")
    );
    let p = d.problem_json().expect("problem");
    assert_eq!(p["type"], "https://zenalyze.dev/problems/quota-exceeded");
    let s = l.quota_status("ten_f", &free).await.expect("status");
    assert_eq!((s.used, s.resets_at), (100, datetime!(2027-01-01 0:00 UTC)));

    clock.set(datetime!(2027-01-01 00:00 UTC));
    let d = l
        .check_and_consume("ten_f", &free, Operation::RecordsCreate)
        .await
        .expect("d");
    assert!(d.is_allowed());
    assert_eq!((d.limit, d.remaining), (100, 99));
    assert_eq!(d.reset_secs(), 86_400);
    l.usage().flush().await.expect("flush");
    assert_eq!(
        sink.count("ten_f", Operation::RecordsCreate, date!(2026 - 12 - 31)),
        100
    );
    assert_eq!(
        sink.count("ten_f", Operation::RecordsCreate, date!(2027 - 01 - 01)),
        1
    );
}

#[tokio::test]
async fn monthly_window_rolls_over_on_leap_day_and_short_months() {
    let clock = Arc::new(ManualClock::new(datetime!(2028-02-29 23:59:58 UTC)));
    let sink = Arc::new(MemoryUsageSink::new());
    let l = limiter(&clock, &sink);
    let starter = Tier::Starter.limits().with_overrides(Some(3), None);
    assert_eq!(starter.window, QuotaWindow::Month);
    for _ in 0..3 {
        assert!(l
            .check_and_consume("ten_s", &starter, Operation::Rewrap)
            .await
            .expect("d")
            .is_allowed());
    }
    let d = l
        .check_and_consume("ten_s", &starter, Operation::Rewrap)
        .await
        .expect("d");
    assert_eq!(d.refusal, Some(RefusalKind::QuotaExceeded));
    assert_eq!(d.retry_after_secs(), Some(2));
    clock.set(datetime!(2028-03-01 00:00 UTC));
    assert!(l
        .check_and_consume("ten_s", &starter, Operation::Rewrap)
        .await
        .expect("d")
        .is_allowed());
    // 30-day April: the window of April 30 ends on May 1.
    clock.set(datetime!(2028-04-30 12:00 UTC));
    let d = l
        .check_and_consume("ten_s", &starter, Operation::Rewrap)
        .await
        .expect("d");
    assert_eq!(d.reset_us, 12 * 3_600 * 1_000_000);
    // Dec 31 → Jan 1.
    clock.set(datetime!(2028-12-31 23:59:59 UTC));
    for _ in 0..3 {
        clock.advance(time::Duration::milliseconds(100));
        assert!(l
            .check_and_consume("ten_s", &starter, Operation::Rewrap)
            .await
            .expect("d")
            .is_allowed());
    }
    assert!(!l
        .check_and_consume("ten_s", &starter, Operation::Rewrap)
        .await
        .expect("d")
        .is_allowed());
    clock.set(datetime!(2029-01-01 00:00 UTC));
    assert!(l
        .check_and_consume("ten_s", &starter, Operation::Rewrap)
        .await
        .expect("d")
        .is_allowed());
}

/// 200 concurrent tasks for one Free tenant: exactly 100 allowed, 100
/// refused with the quota kind, exactly 100 metered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_quota_under_concurrency() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let clock = Arc::new(ManualClock::new(datetime!(2026-11-25 12:00 UTC)));
        let sink = Arc::new(MemoryUsageSink::new());
        let l = limiter(&clock, &sink);
        // The quota must bind, not the burst.
        let free = Tier::Free.limits().with_overrides(None, Some(100_000));
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let l = l.clone();
                tokio::spawn(async move {
                    l.check_and_consume("ten_c", &free, Operation::BlindIndex)
                        .await
                })
            })
            .collect();
        let (mut ok, mut quota) = (0, 0);
        for t in tasks {
            match t.await.expect("join").expect("decision").refusal {
                None => ok += 1,
                Some(RefusalKind::QuotaExceeded) => quota += 1,
                Some(RefusalKind::RateLimited) => panic!("burst should not bind"),
            }
        }
        assert_eq!((ok, quota), (100, 100));
        l.usage().flush().await.expect("flush");
        assert_eq!(
            sink.count("ten_c", Operation::BlindIndex, date!(2026 - 11 - 25)),
            100
        );

        // With the real Free burst (10/s) at one instant: exactly 10.
        let free = Tier::Free.limits();
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let l = l.clone();
                tokio::spawn(async move {
                    l.check_and_consume("ten_d", &free, Operation::AiAnalyze)
                        .await
                })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            let d = t.await.expect("join").expect("decision");
            match d.refusal {
                None => ok += 1,
                Some(kind) => assert_eq!(kind, RefusalKind::RateLimited),
            }
        }
        assert_eq!(ok, 10);
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn switched_off_allows_everything_without_headers_but_meters() {
    let sink = Arc::new(MemoryUsageSink::new());
    let config = LimitsConfig {
        enabled: false,
        ..LimitsConfig::default()
    };
    let l = Limiter::from_config(&config, None, sink.clone())
        .await
        .expect("limiter");
    assert!(!l.is_enabled());
    let zero = Tier::Free.limits().with_overrides(Some(0), None);
    for _ in 0..50 {
        let d = l
            .check_and_consume_at(
                "ten_off",
                &zero,
                Operation::Encrypt,
                datetime!(2026-11-25 12:00 UTC),
            )
            .await
            .expect("d");
        assert!(d.is_allowed());
        assert!(d.header_map().is_empty());
    }
    l.usage().flush().await.expect("flush");
    assert_eq!(
        sink.count("ten_off", Operation::Encrypt, date!(2026 - 11 - 25)),
        50
    );
}

#[tokio::test]
async fn config_parses_from_toml_like_json() {
    let c: LimitsConfig = serde_json::from_value(serde_json::json!({
        "enabled": true,
        "backend": "redis",
        "redis": {"url": "redis://127.0.0.1:6379", "key_prefix": "prod"},
        "usage_flush_interval_ms": 500
    }))
    .expect("config");
    assert_eq!(c.redis.key_prefix, "prod");
    assert_eq!(c.redis.timeout_ms, 250);
    assert_eq!(c.usage_flush_interval(), Duration::from_millis(500));
    assert!(serde_json::from_value::<LimitsConfig>(serde_json::json!({"enable": true})).is_err());
    assert!(
        serde_json::from_value::<LimitsConfig>(serde_json::json!({"backend": "etcd"})).is_err()
    );
}

#[tokio::test]
async fn usage_report_merges_stored_and_pending_counts() {
    let clock = Arc::new(ManualClock::new(datetime!(2026-11-25 12:00 UTC)));
    let sink = Arc::new(MemoryUsageSink::new());
    let l = limiter(&clock, &sink);
    let free = Tier::Free.limits();
    for _ in 0..3 {
        clock.advance(time::Duration::seconds(1));
        assert!(l
            .check_and_consume("ten_u", &free, Operation::Encrypt)
            .await
            .expect("d")
            .is_allowed());
    }
    l.usage().flush().await.expect("flush");
    clock.advance(time::Duration::seconds(1));
    assert!(l
        .check_and_consume("ten_u", &free, Operation::Encrypt)
        .await
        .expect("d")
        .is_allowed());
    assert!(l
        .check_and_consume("ten_other", &free, Operation::Encrypt)
        .await
        .expect("d")
        .is_allowed());
    let range = UsageRange::parse(
        &UsageQuery {
            from: Some("2026-11-24".into()),
            to: Some("2026-11-25".into()),
        },
        l.now().date(),
    )
    .expect("range");
    let stored = sink.rows("ten_u", range.from, range.to);
    let body = l
        .usage_report("ten_u", &free, range, stored)
        .await
        .expect("report");
    let json = serde_json::to_value(&body).expect("json");
    assert_eq!(
        json,
        serde_json::json!({
            "tier": "free",
            "quota": {"limit": 100, "used": 4, "resets_at": "2026-11-26T00:00:00Z"},
            "days": [
                {"date": "2026-11-24", "operations": {}},
                {"date": "2026-11-25", "operations": {"encrypt": 4}}
            ]
        })
    );
}
