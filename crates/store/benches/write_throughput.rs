//! Store-level write throughput on PostgreSQL, without HTTP: 32 tasks store
//! 4 KiB records, each with its hash-chained audit event, through the
//! group-commit writer; in the same run, the baseline is 32 tasks doing
//! plain single-row autocommit `INSERT`s of the same 4 KiB payload into a
//! one-index table (what `pgbench` measures), on the same database.
//!
//! ```text
//! ZENALYZE_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo bench -p zenalyze-store --bench write_throughput [-- SECONDS]
//! ```
//!
//! Prints records/s, p50/p99 and the ratio store / baseline. Both phases
//! run twice, alternating, because the machine is shared.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{create_tenant, draft, user, Kind, TestDb};
use zenalyze_store::{Metadata, Mutation, NewRecord, Store, WriteUnit};

const TASKS: usize = 32;

fn payload() -> Vec<u8> {
    // A v1 envelope version byte and incompressible bytes (xorshift).
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut big = vec![0x01u8];
    while big.len() < 4096 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        big.push(x as u8);
    }
    big
}

struct Phase {
    ops: u64,
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    fn pct(&mut self, p: f64) -> Duration {
        self.latencies.sort_unstable();
        let i = ((self.latencies.len() as f64 * p) as usize).min(self.latencies.len() - 1);
        self.latencies[i]
    }
}

async fn run<F, Fut>(seconds: u64, op: F) -> Phase
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                op().await;
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("task"));
    }
    Phase {
        ops: latencies.len() as u64,
        latencies,
        elapsed: start.elapsed(),
    }
}

fn main() {
    let seconds: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let db = TestDb::new(Kind::Postgres).await;
        let s: Arc<dyn Store> = db.store.clone();
        let tenant = create_tenant(s.as_ref(), "Throughput").await;
        db.raw("CREATE TABLE bench_plain (id BIGSERIAL PRIMARY KEY, payload BYTEA NOT NULL)")
            .await
            .expect("baseline table");
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(TASKS as u32)
            .connect(&db.url)
            .await
            .expect("baseline pool");
        let big = payload();
        println!("store write throughput, PostgreSQL, {TASKS} tasks, 4 KiB payloads, {seconds} s per phase");
        let mut ratios = Vec::new();
        for round in 1..=2 {
            let (pool, p) = (pool.clone(), big.clone());
            let mut base = run(seconds, move || {
                let (pool, p) = (pool.clone(), p.clone());
                async move {
                    sqlx::query("INSERT INTO bench_plain (payload) VALUES ($1)")
                        .bind(p)
                        .execute(&pool)
                        .await
                        .expect("baseline insert");
                }
            })
            .await;
            let (s2, t, p) = (s.clone(), tenant.clone(), big.clone());
            let mut store = run(seconds, move || {
                let (s, t, p) = (s2.clone(), t.clone(), p.clone());
                async move {
                    let r = NewRecord::new(t, user("u-t"), p, Metadata::new()).expect("record");
                    s.apply(WriteUnit::new(Mutation::InsertRecord(r), draft("records.create")))
                        .await
                        .expect("store write");
                }
            })
            .await;
            let ratio = store.rate() / base.rate();
            ratios.push(ratio);
            println!(
                "round {round}: baseline plain INSERT {:.0}/s (p50 {:?}, p99 {:?}); store record+audit {:.0}/s (p50 {:?}, p99 {:?}); ratio {:.2}",
                base.rate(),
                base.pct(0.5),
                base.pct(0.99),
                store.rate(),
                store.pct(0.5),
                store.pct(0.99),
                ratio
            );
        }
        let report = s.verify_audit().await.expect("verify");
        assert!(report.is_intact(), "audit chain broken after the benchmark");
        println!(
            "store / plain INSERT = {:.2} (mean of {} rounds); audit chain intact ({} events)",
            ratios.iter().sum::<f64>() / ratios.len() as f64,
            ratios.len(),
            report.verified
        );
        pool.close().await;
        s.close().await;
        drop(db); // drops the benchmark database
    });
}
