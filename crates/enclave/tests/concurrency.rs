//! `max_concurrent` bounds how many requests hold plaintext at once.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use zenalyze_ai_providers::{Analysis, AnalysisRequest, Provider, ProviderError};
use zenalyze_enclave::EnclaveBuilder;

#[derive(Default)]
struct Slow {
    now: AtomicUsize,
    max: AtomicUsize,
}

#[async_trait]
impl Provider for Slow {
    fn name(&self) -> &str {
        "slow"
    }
    fn default_model(&self) -> &str {
        "slow"
    }
    async fn analyze(&self, _r: &AnalysisRequest) -> Result<Analysis, ProviderError> {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(60)).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
        Ok(Analysis {
            provider: "slow".into(),
            model: "slow".into(),
            output: serde_json::json!({}),
            finish_reason: None,
            usage: None,
            elapsed_ms: 60,
            note: None,
        })
    }
}

async fn run_with(limit: usize) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let slow = Arc::new(Slow::default());
    let running = EnclaveBuilder::new(dir.path(), slow.clone())
        .max_concurrent(limit)
        .build()
        .unwrap()
        .spawn(
            &"tcp:127.0.0.1:0".parse().unwrap(),
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
    let addr = running.address.clone();
    let cfg = key_config(&addr).await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let addr = addr.clone();
        let cfg = cfg.clone();
        tasks.push(tokio::spawn(async move {
            let (a, _) = ehbp_post(&addr, &cfg, br#"{"prompt":"p","inputs":[]}"#).await;
            a.status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    running.shutdown().await.unwrap();
    slow.max.load(Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_concurrency_is_bounded() {
    assert_eq!(run_with(1).await, 1);
    assert!(
        run_with(4).await > 1,
        "without a tight limit requests overlap"
    );
}
