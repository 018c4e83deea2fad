//! Usage metering: exact counts under concurrency, no loss and no double
//! count when the sink fails, periodic and final flushes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use time::macros::date;
use zenalyze_limits::{
    LimiterMetrics, MemoryUsageSink, Operation, UsageIncrement, UsageMeter, UsageSink,
    UsageSinkError,
};

const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Fails while `failures_left > 0`, otherwise writes to an inner sink.
#[derive(Default)]
struct FlakySink {
    failures_left: AtomicUsize,
    calls: AtomicUsize,
    inner: MemoryUsageSink,
}

#[async_trait::async_trait]
impl UsageSink for FlakySink {
    async fn record_usage(&self, increments: &[UsageIncrement]) -> Result<(), UsageSinkError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        // Yield so that records arrive while a flush is in flight.
        tokio::task::yield_now().await;
        if self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(UsageSinkError("database unavailable".into()));
        }
        self.inner.record_usage(increments).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_counts_under_concurrency_with_interleaved_flushes() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let sink = Arc::new(FlakySink::default());
        sink.failures_left.store(3, Ordering::SeqCst);
        let meter = Arc::new(UsageMeter::new(sink.clone()));
        let day = date!(2026 - 11 - 25);
        let mut tasks = Vec::new();
        for t in 0..8 {
            let m = Arc::clone(&meter);
            tasks.push(tokio::spawn(async move {
                for i in 0..5_000u32 {
                    let tenant = if t % 2 == 0 { "ten_even" } else { "ten_odd" };
                    let op = Operation::ALL[(i % 9) as usize];
                    m.record(tenant, op, day);
                    if i % 500 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            }));
        }
        // Flushes (some failing) while the records arrive.
        let flusher = {
            let m = Arc::clone(&meter);
            tokio::spawn(async move {
                let mut failures = 0;
                for _ in 0..30 {
                    if m.flush().await.is_err() {
                        failures += 1;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                failures
            })
        };
        for t in tasks {
            t.await.expect("join");
        }
        let mut failures = flusher.await.expect("join");
        // Whatever failures the sink still owes happen now; then it works.
        for _ in 0..5 {
            match meter.flush().await {
                Ok(_) => break,
                Err(_) => failures += 1,
            }
        }
        assert_eq!(failures, 3);
        assert_eq!(meter.pending(), 0);
        let totals = sink.inner.totals();
        let sum: u64 = totals.values().sum();
        assert_eq!(sum, 40_000);
        for tenant in ["ten_even", "ten_odd"] {
            let per_tenant: u64 = Operation::ALL
                .iter()
                .map(|op| sink.inner.count(tenant, *op, day))
                .sum();
            assert_eq!(per_tenant, 20_000);
        }
        // 5,000 per task = 555 × 9 + 5: ops 0..=4 get 556, the rest 555, × 4 tasks.
        assert_eq!(
            sink.inner.count("ten_even", Operation::RecordsCreate, day),
            556 * 4
        );
        assert_eq!(
            sink.inner.count("ten_even", Operation::AiAnalyze, day),
            555 * 4
        );
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn failed_flush_keeps_counts_for_the_next_attempt() {
    let sink = Arc::new(FlakySink::default());
    let registry = prometheus::Registry::new();
    let metrics = LimiterMetrics::register(&registry).expect("metrics");
    let meter = UsageMeter::new(sink.clone()).with_metrics(Some(metrics));
    let day = date!(2026 - 11 - 25);
    meter.add("ten_a", Operation::Encrypt, day, 7);
    sink.failures_left.store(1, Ordering::SeqCst);
    assert!(meter.flush().await.is_err());
    assert_eq!(meter.pending(), 7);
    assert_eq!(
        meter.pending_for("ten_a"),
        vec![(day, "encrypt".to_owned(), 7)]
    );
    meter.record("ten_a", Operation::Encrypt, day);
    assert_eq!(meter.flush().await.expect("flush"), 1);
    assert_eq!(sink.inner.count("ten_a", Operation::Encrypt, day), 8);
    assert_eq!(meter.flush().await.expect("empty flush"), 0);
    assert_eq!(
        sink.calls.load(Ordering::SeqCst),
        2,
        "empty flushes do not call the sink"
    );
    assert_eq!(
        sink.inner.count("ten_a", Operation::Encrypt, day),
        8,
        "no double count"
    );
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .expect("encode");
    assert!(text.contains("zenalyze_usage_flush_failures_total 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_flusher_and_graceful_shutdown() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let sink = Arc::new(MemoryUsageSink::new());
        let meter = Arc::new(UsageMeter::new(sink.clone()));
        let day = date!(2027 - 01 - 01);
        let flusher = meter.spawn_flusher(Duration::from_millis(20));
        meter.add("ten_p", Operation::Decrypt, day, 5);
        // The periodic task writes it (bounded wait).
        let mut waited = 0;
        while sink.count("ten_p", Operation::Decrypt, day) != 5 {
            assert!(waited < 200, "periodic flush did not happen");
            tokio::time::sleep(Duration::from_millis(10)).await;
            waited += 1;
        }
        // Counts recorded right before shutdown are flushed by it.
        meter.add("ten_p", Operation::Decrypt, day, 2);
        meter.record("ten_q", Operation::RecordsList, day);
        flusher.shutdown().await.expect("final flush");
        assert_eq!(sink.count("ten_p", Operation::Decrypt, day), 7);
        assert_eq!(sink.count("ten_q", Operation::RecordsList, day), 1);
        assert_eq!(meter.pending(), 0);
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn shutdown_flush_failure_is_reported_and_counts_kept() {
    let sink = Arc::new(FlakySink::default());
    let meter = Arc::new(UsageMeter::new(sink.clone()));
    let flusher = meter.spawn_flusher(Duration::from_secs(3_600));
    meter.record("ten_s", Operation::Rewrap, date!(2026 - 11 - 25));
    sink.failures_left.store(1, Ordering::SeqCst);
    assert!(flusher.shutdown().await.is_err());
    assert_eq!(meter.pending(), 1);
    assert_eq!(meter.flush().await.expect("retry"), 1);
    assert_eq!(
        sink.inner
            .count("ten_s", Operation::Rewrap, date!(2026 - 11 - 25)),
        1
    );
}
