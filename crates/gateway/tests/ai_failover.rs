//! Failover: two enclaves under a steady stream of AI requests through the
//! gateway; one is killed (its runtime dropped: listener and connections
//! vanish like a crashed process). The pool notices within two health
//! intervals, no request started after that fails, the survivor serves
//! everything, and a restarted enclave rejoins the rotation.

mod ai_common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ai_common::{enclave_dir, Gateway, IsolatedEnclave};
use zenalyze_client::ai::{Input, Policy, TrustedRoot, ZenalyzeAi};

const HEALTH: Duration = Duration::from_millis(200);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_to_the_survivor() {
    tokio::time::timeout(Duration::from_secs(120), run())
        .await
        .expect("failover test timed out");
}

async fn run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let edir = enclave_dir(dir.path());
    let s0 = dir.path().join("e0.sock");
    let s1 = dir.path().join("e1.sock");
    let mut e0 = IsolatedEnclave::start(&edir, s0.clone(), "enclave-0");
    let e1 = IsolatedEnclave::start(&edir, s1.clone(), "enclave-1");
    let gw = Gateway::start(dir, vec![e0.address.clone(), e1.address.clone()], |c| {
        c.health_interval = HEALTH;
        c.health_timeout = Duration::from_millis(500);
        c.connect_timeout = Duration::from_millis(500);
        c.max_backoff = Duration::from_millis(800);
    })
    .await;
    assert_eq!(gw.pool.healthy_count(), 2);
    let pem =
        std::fs::read_to_string(edir.join(zenalyze_enclave::attest::DEV_ROOT_FILE)).expect("root");
    let root = zenalyze_attestation::dev::DevRoot::from_pem(&pem)
        .expect("pem")
        .sha256_fingerprint_hex();
    let ai = Arc::new(
        ZenalyzeAi::new(
            &gw.base,
            gw.publishable_key(),
            Policy::development(TrustedRoot::from_sha256_hex(&root).expect("root")),
        )
        .expect("client"),
    );

    // Steady stream: 4 workers, each request recorded with its start time.
    let stop = Arc::new(AtomicBool::new(false));
    let results: Arc<Mutex<Vec<(Instant, bool)>>> = Arc::new(Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (ai, stop, results) = (ai.clone(), stop.clone(), results.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let ok = ai
                    .analyze("How was it?", vec![Input::text("A calm and pleasant day.")])
                    .await
                    .is_ok();
                results.lock().expect("lock").push((started, ok));
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let before = results.lock().expect("lock").len();
    assert!(before > 4, "the stream is flowing ({before})");
    let served_by_0 = gw.pool.status()[0].enclave_id.clone();
    assert_eq!(served_by_0.as_deref(), Some("enclave-0"));

    // Kill enclave 0.
    let killed_at = Instant::now();
    e0.kill();
    let noticed = loop {
        if gw.pool.healthy_count() == 1 {
            break killed_at.elapsed();
        }
        assert!(
            killed_at.elapsed() <= HEALTH * 2,
            "the pool did not notice the dead enclave in time"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(!gw.pool.status()[0].healthy && gw.pool.status()[1].healthy);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.expect("worker");
    }
    let results = results.lock().expect("lock").clone();
    let notice_deadline = killed_at + noticed;
    let after: Vec<_> = results
        .iter()
        .filter(|(t, _)| *t >= notice_deadline)
        .collect();
    assert!(after.len() > 4, "requests after the kill ({})", after.len());
    assert!(
        after.iter().all(|(_, ok)| *ok),
        "a request started after the pool noticed failed"
    );
    let failed_total = results.iter().filter(|(_, ok)| !ok).count();
    assert!(
        failed_total <= 4,
        "at most the requests in flight on the killed enclave may fail ({failed_total})"
    );
    eprintln!(
        "failover: noticed after {noticed:?}; {} requests, {failed_total} failed (in flight at the kill), {} after noticing, all ok",
        results.len(),
        after.len()
    );

    // Restart enclave 0 on the same socket: it rejoins.
    let _e0b = IsolatedEnclave::start(&edir, s0, "enclave-0b");
    let t = Instant::now();
    while gw.pool.healthy_count() < 2 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "recovered enclave did not rejoin"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ai.analyze("again", vec![Input::text("fine")])
        .await
        .expect("after rejoin");
    gw.shutdown().await;
    drop(e1);
}
