//! Decision latency of the limiter: Redis back-end on loopback (the target
//! is p99 < 1 ms) and the in-memory back-end for comparison.
//!
//! `cargo bench -p zenalyze-limits --bench limiter` (or `scripts/bench-limits`).
//! Environment: `ZENALYZE_BENCH_REDIS_URL` (default `redis://127.0.0.1:6379`),
//! `ZENALYZE_BENCH_ITERATIONS` (default 20000), `ZENALYZE_BENCH_CONCURRENCY`
//! (default 16). Keys use a unique prefix and are deleted at the end.

use std::sync::Arc;
use std::time::{Duration, Instant};
use zenalyze_limits::window::to_micros;
use zenalyze_limits::{LimitBackend, MemoryLimiter, RedisLimiter, RedisSettings, Tier, TierLimits};

const TENANTS: usize = 1_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

fn now_us() -> i64 {
    to_micros(time::OffsetDateTime::now_utc())
}

fn report(name: &str, mut samples: Vec<Duration>, wall: Duration) {
    samples.sort();
    let pick = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(i).copied().unwrap_or_default()
    };
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "{name:<34} n={:<7} p50={:>7.1}µs p95={:>7.1}µs p99={:>7.1}µs max={:>8.1}µs  {:>9.0} decisions/s",
        samples.len(),
        us(pick(0.50)),
        us(pick(0.95)),
        us(pick(0.99)),
        us(pick(1.0)),
        samples.len() as f64 / wall.as_secs_f64()
    );
}

async fn sequential(
    name: &str,
    backend: Arc<dyn LimitBackend>,
    limits: TierLimits,
    n: usize,
    tenants: &[String],
) {
    let mut samples = Vec::with_capacity(n);
    let wall = Instant::now();
    for i in 0..n {
        let t = &tenants[i % tenants.len()];
        let start = Instant::now();
        let d = backend.check_and_consume(t, &limits, now_us()).await;
        samples.push(start.elapsed());
        assert!(
            d.is_ok_and(|d| d.is_allowed()),
            "benchmark limits must not refuse"
        );
    }
    report(name, samples, wall.elapsed());
}

async fn concurrent(
    name: &str,
    backend: Arc<dyn LimitBackend>,
    limits: TierLimits,
    n: usize,
    concurrency: usize,
    tenants: Arc<Vec<String>>,
) {
    let per_task = n / concurrency;
    let wall = Instant::now();
    let mut handles = Vec::new();
    for task in 0..concurrency {
        let backend = Arc::clone(&backend);
        let tenants = Arc::clone(&tenants);
        handles.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(per_task);
            for i in 0..per_task {
                let t = &tenants[(task * per_task + i) % tenants.len()];
                let start = Instant::now();
                let d = backend.check_and_consume(t, &limits, now_us()).await;
                samples.push(start.elapsed());
                assert!(
                    d.is_ok_and(|d| d.is_allowed()),
                    "benchmark limits must not refuse"
                );
            }
            samples
        }));
    }
    let mut all = Vec::with_capacity(n);
    for h in handles {
        all.extend(h.await.unwrap_or_default());
    }
    report(name, all, wall.elapsed());
}

/// Round trips of a bare PING on the same kind of connection: the floor
/// that loopback and scheduling set on this machine.
async fn ping_baseline(url: &str, n: usize) -> redis::RedisResult<()> {
    let client = redis::Client::open(url)?;
    let mut conn = redis::aio::ConnectionManager::new(client).await?;
    let mut samples = Vec::with_capacity(n);
    let wall = Instant::now();
    for _ in 0..n {
        let start = Instant::now();
        redis::cmd("PING").query_async::<String>(&mut conn).await?;
        samples.push(start.elapsed());
    }
    report("redis PING baseline, sequential", samples, wall.elapsed());
    Ok(())
}

/// Server-side cost of the script: `(calls, µs)` of EVALSHA so far.
async fn evalsha_stats(url: &str) -> redis::RedisResult<(u64, u64)> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await?;
    let line = info
        .lines()
        .find(|l| l.starts_with("cmdstat_evalsha:"))
        .unwrap_or("");
    let field = |name: &str| {
        line.split([':', ','])
            .find_map(|kv| kv.strip_prefix(name))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok((field("calls="), field("usec=")))
}

async fn cleanup(url: &str, prefix: &str) -> redis::RedisResult<usize> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let mut cursor: u64 = 0;
    let mut deleted = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            deleted += keys.len();
            redis::cmd("DEL")
                .arg(&keys)
                .query_async::<()>(&mut conn)
                .await?;
        }
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let url = std::env::var("ZENALYZE_BENCH_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let n = env_usize("ZENALYZE_BENCH_ITERATIONS", 20_000);
    let concurrency = env_usize("ZENALYZE_BENCH_CONCURRENCY", 16);
    let prefix = format!("zlbench:{}", std::process::id());
    // Limits that never refuse, so every decision runs the whole script
    // (burst check, quota check, both writes).
    let limits = Tier::Pro
        .limits()
        .with_overrides(Some(u64::MAX / 2), Some(1_000_000));
    let one: Vec<String> = vec!["ten_bench".to_owned()];
    let many: Arc<Vec<String>> =
        Arc::new((0..TENANTS).map(|i| format!("ten_bench{i:04}")).collect());

    println!("limiter decision latency; iterations={n}, concurrency={concurrency}, redis={url}");
    let memory: Arc<dyn LimitBackend> = Arc::new(MemoryLimiter::new());
    sequential(
        "memory, sequential, 1 tenant",
        Arc::clone(&memory),
        limits,
        n,
        &one,
    )
    .await;
    concurrent(
        "memory, concurrent, 1000 tenants",
        memory,
        limits,
        n,
        concurrency,
        Arc::clone(&many),
    )
    .await;

    let settings = RedisSettings {
        url: url.clone(),
        key_prefix: prefix.clone(),
        ..RedisSettings::default()
    };
    let redis = match RedisLimiter::connect_checked(&settings, None).await {
        Ok(r) => Arc::new(r),
        Err(e) => {
            eprintln!("redis at {url} unavailable: {e}");
            std::process::exit(2);
        }
    };
    let backend: Arc<dyn LimitBackend> = redis.clone();
    if let Err(e) = ping_baseline(&url, n).await {
        eprintln!("ping baseline failed: {e}");
    }
    let before = evalsha_stats(&url).await.unwrap_or_default();
    // Warm-up (script load, connection).
    sequential(
        "redis, warm-up",
        Arc::clone(&backend),
        limits,
        1_000.min(n),
        &one,
    )
    .await;
    sequential(
        "redis, sequential, 1 tenant",
        Arc::clone(&backend),
        limits,
        n,
        &one,
    )
    .await;
    sequential(
        "redis, sequential, 1000 tenants",
        Arc::clone(&backend),
        limits,
        n,
        &many,
    )
    .await;
    concurrent(
        "redis, concurrent, 1000 tenants",
        Arc::clone(&backend),
        limits,
        n,
        concurrency,
        Arc::clone(&many),
    )
    .await;
    let free = Tier::Free
        .limits()
        .with_overrides(Some(u64::MAX / 2), Some(1_000_000));
    sequential(
        "redis, sequential, daily window",
        Arc::clone(&backend),
        free,
        n,
        &many,
    )
    .await;
    // Pro's real burst (100/s): 1000 tenants round robin stay under it.
    let pro = Tier::Pro.limits().with_overrides(Some(u64::MAX / 2), None);
    sequential("redis, sequential, pro burst 100/s", backend, pro, n, &many).await;
    let after = evalsha_stats(&url).await.unwrap_or_default();
    let calls = after.0.saturating_sub(before.0);
    if calls > 0 {
        println!(
            "server-side script time: {:.1}µs per call over {calls} EVALSHA calls (INFO commandstats)",
            after.1.saturating_sub(before.1) as f64 / calls as f64
        );
    }
    if redis.is_degraded() {
        eprintln!(
            "warning: Redis fell back to memory during the run; figures are not Redis figures"
        );
    }
    match cleanup(&url, &prefix).await {
        Ok(k) => println!("deleted {k} benchmark keys"),
        Err(e) => eprintln!("cleanup failed: {e}"),
    }
}
