//! The store adapter (feature `store`) against the embedded SQLite store.
#![cfg(feature = "store")]

use std::sync::Arc;
use time::macros::{date, datetime};
use zenalyze_limits::{
    Limiter, ManualClock, MemoryLimiter, Operation, StoreUsageSink, Tier, TierLimits,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_reaches_the_store_exactly() {
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store =
            zenalyze_store::open_data_dir(dir.path(), &zenalyze_store::StoreOptions::default())
                .await
                .expect("store");
        let tenant = zenalyze_store::TenantId::generate();
        let sink = Arc::new(StoreUsageSink::new(store.clone()));
        let clock = Arc::new(ManualClock::new(datetime!(2026-12-31 23:59:59 UTC)));
        let limiter =
            Limiter::with_backend(Arc::new(MemoryLimiter::new()), sink).clock(clock.clone());
        let limits = Tier::Pro.limits();
        for _ in 0..7 {
            assert!(limiter
                .check_and_consume(tenant.as_str(), &limits, Operation::Encrypt)
                .await
                .expect("d")
                .is_allowed());
        }
        clock.set(datetime!(2027-01-01 00:00:01 UTC));
        limiter
            .check_and_consume(tenant.as_str(), &limits, Operation::AiAnalyze)
            .await
            .expect("d");
        // A tenant id the store cannot hold is dropped, not retried forever.
        limiter
            .check_and_consume("not-a-store-id", &limits, Operation::Encrypt)
            .await
            .expect("d");
        let flusher = limiter
            .usage()
            .spawn_flusher(std::time::Duration::from_secs(3_600));
        flusher.shutdown().await.expect("flush");
        assert_eq!(limiter.usage().pending(), 0);
        let rows = store
            .usage(&tenant, date!(2026 - 12 - 31), date!(2027 - 01 - 01))
            .await
            .expect("rows");
        let rows = zenalyze_limits::store_sink::usage_rows(rows);
        assert_eq!(
            rows,
            vec![
                (date!(2026 - 12 - 31), "encrypt".to_owned(), 7),
                (date!(2027 - 01 - 01), "ai_analyze".to_owned(), 1),
            ]
        );
        assert_eq!(
            zenalyze_limits::store_sink::operation_of("ai_analyze"),
            Some(Operation::AiAnalyze)
        );
    })
    .await
    .expect("test timed out");
}

#[test]
fn store_tier_and_overrides_convert() {
    assert_eq!(Tier::from(zenalyze_store::Tier::Starter), Tier::Starter);
    let t = zenalyze_store::Tenant {
        id: zenalyze_store::TenantId::generate(),
        name: "Clinic".into(),
        tier: zenalyze_store::Tier::Free,
        quota_override: Some(500),
        burst_override: Some(20),
        created_at: time::OffsetDateTime::UNIX_EPOCH,
    };
    let l = TierLimits::from(&t);
    assert_eq!(
        (l.tier, l.quota, l.burst_per_second.get()),
        (Tier::Free, Some(500), 20)
    );
}
