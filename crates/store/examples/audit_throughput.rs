//! Group-commit throughput: appends audit events with 1 task and with many
//! concurrent tasks, then verifies the chain.
//!
//! ```sh
//! cargo run -p zenalyze-store --release --example audit_throughput -- /tmp/bench-dir 64 4000
//! cargo run -p zenalyze-store --release --example audit_throughput -- postgres://postgres@127.0.0.1:5432/bench 64 4000
//! ```
//!
//! Arguments: store URL or data dir, concurrency, total events. The store
//! should be empty (a fresh directory or database).

use std::collections::HashSet;
use std::time::Instant;
use zenalyze_store::{Actor, AuditDraft, AuditResult, OpaqueId, Operation, Store};

fn draft(i: usize) -> Result<AuditDraft, zenalyze_store::StoreError> {
    Ok(AuditDraft::new(
        Actor::System,
        Operation::parse("bench.append")?,
        AuditResult::Success,
        OpaqueId::parse(&format!("bench-{i}"))?,
    ))
}

async fn sequential(store: &dyn Store, n: usize) -> anyhow_like::Result<f64> {
    let start = Instant::now();
    for i in 0..n {
        store.append_audit(draft(i)?).await?;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

mod anyhow_like {
    pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
}

#[tokio::main]
async fn main() -> anyhow_like::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "/tmp/zenalyze-bench".into());
    let concurrency: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(64);
    let total: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(4000);
    let store = zenalyze_store::open(&url).await?;
    let start_seq = store.audit_head().await?.seq;

    let seq_n = (total / 10).max(1);
    let seq_rate = sequential(store.as_ref(), seq_n).await?;

    let per_task = total / concurrency.max(1);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut worst = 0f64;
            for i in 0..per_task {
                let t0 = Instant::now();
                store.append_audit(draft(t * per_task + i)?).await?;
                worst = worst.max(t0.elapsed().as_secs_f64());
            }
            anyhow_like::Result::Ok(worst)
        }));
    }
    let mut worst = 0f64;
    for task in tasks {
        worst = worst.max(task.await??);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let appended = per_task * concurrency;

    // Each batch stamps one time: distinct times ≈ number of transactions.
    let mut times = HashSet::new();
    let mut after = start_seq + seq_n as u64;
    loop {
        let events = store.audit_events(after, 10_000).await?;
        let Some(last) = events.last() else { break };
        after = last.seq;
        times.extend(events.into_iter().map(|e| e.time));
    }
    let t0 = Instant::now();
    let report = store.verify_audit().await?;
    let verify_s = t0.elapsed().as_secs_f64();
    println!("backend: {}", store.backend());
    println!("sequential (1 task): {seq_n} events, {seq_rate:.0} events/s");
    println!(
        "concurrent ({concurrency} tasks): {appended} events in {elapsed:.2} s = {:.0} events/s, ~{} transactions (avg batch {:.1}), worst latency {:.1} ms",
        appended as f64 / elapsed,
        times.len(),
        appended as f64 / times.len().max(1) as f64,
        worst * 1000.0
    );
    println!(
        "verify: {} events in {verify_s:.2} s, intact={}",
        report.verified,
        report.is_intact()
    );
    store.close().await;
    Ok(())
}
