//! Enclave added latency: the same analysis request sent (a) through EHBP
//! to the enclave (client seal → HTTP → open → provider → seal → HTTP →
//! client open) and (b) as plain JSON directly to a server calling the same
//! zero-latency fake provider, interleaved in one run over loopback TCP with
//! keep-alive connections. Prints percentiles of both and of the difference.
//!
//! Run: `scripts/bench-enclave` (or
//! `cargo bench -p zenalyze-enclave --bench added_latency -- --iterations 2000`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::body::Bytes;
use axum::routing::post;
use axum::Router;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use zenalyze_ai_providers::{Analysis, AnalysisRequest, Provider, ProviderError};
use zenalyze_ehbp::{seal_request, KeyConfig};
use zenalyze_enclave::EnclaveBuilder;
use zenalyze_transport::{Address, Connector, Listener};

/// Zero-latency fake provider: answers with sizes only.
struct FakeProvider;

#[async_trait]
impl Provider for FakeProvider {
    fn name(&self) -> &str {
        "fake"
    }
    fn default_model(&self) -> &str {
        "fake-0"
    }
    async fn analyze(&self, request: &AnalysisRequest) -> Result<Analysis, ProviderError> {
        Ok(Analysis {
            provider: "fake".into(),
            model: "fake-0".into(),
            output: serde_json::json!({"content_len": request.content_len(), "inputs": request.inputs.len()}),
            finish_reason: None,
            usage: None,
            elapsed_ms: 0,
            note: None,
        })
    }
}

/// The direct path: plain JSON in, the same request building, the same provider.
async fn direct(body: Bytes) -> Vec<u8> {
    let req =
        zenalyze_enclave::body::build_request(&body, &Default::default()).expect("valid body");
    let a = FakeProvider.analyze(&req).await.expect("fake never fails");
    a.to_json_bytes().expect("json").to_vec()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn summary(name: &str, v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let (p50, p95, p99) = (percentile(v, 0.5), percentile(v, 0.95), percentile(v, 0.99));
    println!(
        "{name:<28} p50 {p50:>8.3} ms   p95 {p95:>8.3} ms   p99 {p99:>8.3} ms   (n={})",
        v.len()
    );
    (p50, p95, p99)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let iterations: usize = args
        .iter()
        .position(|a| a == "--iterations")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);

    let dir = tempfile::tempdir().expect("tempdir");
    let enclave = EnclaveBuilder::new(dir.path(), Arc::new(FakeProvider))
        .build()
        .expect("enclave");
    let running = enclave
        .spawn(
            &"tcp:127.0.0.1:0".parse().unwrap(),
            Duration::from_secs(3600),
        )
        .await
        .expect("spawn");
    let direct_listener = Listener::bind(&"tcp:127.0.0.1:0".parse::<Address>().unwrap())
        .await
        .expect("bind");
    let direct_addr = direct_listener.local_address().expect("addr");
    tokio::spawn(async move {
        axum::serve(
            direct_listener,
            Router::new().route("/analyze", post(direct)),
        )
        .await
    });

    let enclave_client: Client<Connector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(Connector::new(running.address.clone()));
    let direct_client: Client<Connector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(Connector::new(direct_addr));

    let text = "Today I walked by the river and felt calmer than last week. ".repeat(64);
    let body = serde_json::json!({
        "prompt": "Summarise my mood this week.",
        "inputs": [{"kind": "text", "text": text}, {"kind": "json", "value": {"sleep_hours": [7, 6, 8]}}],
        "max_tokens": 256
    })
    .to_string()
    .into_bytes();
    println!(
        "payload {} bytes plaintext, {} iterations each, interleaved",
        body.len(),
        iterations
    );

    let cfg_res = enclave_client
        .get("http://enclave/.well-known/hpke-keys".parse().unwrap())
        .await
        .expect("keys");
    let cfg = KeyConfig::parse(&cfg_res.into_body().collect().await.unwrap().to_bytes())
        .expect("key config");

    let one_ehbp = |body: Vec<u8>| {
        let client = enclave_client.clone();
        let cfg = cfg.clone();
        async move {
            let t = Instant::now();
            let (sealed, ctx) = seal_request(&cfg, &body, 16 * 1024).expect("seal");
            let req = http::Request::post("http://enclave/v1/analyze")
                .header("ehbp-encapsulated-key", sealed.encapsulated_key_hex)
                .body(Full::new(Bytes::from(sealed.body)))
                .unwrap();
            let res = client.request(req).await.expect("enclave request");
            assert_eq!(res.status(), 200);
            let nonce = res.headers()["ehbp-response-nonce"]
                .to_str()
                .unwrap()
                .to_owned();
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            let answer = ctx.open_response(&nonce, &bytes, 1 << 24).expect("open");
            assert!(!answer.is_empty());
            t.elapsed().as_secs_f64() * 1e3
        }
    };
    let one_direct = |body: Vec<u8>| {
        let client = direct_client.clone();
        async move {
            let t = Instant::now();
            let req = http::Request::post("http://direct/analyze")
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))
                .unwrap();
            let res = client.request(req).await.expect("direct request");
            assert_eq!(res.status(), 200);
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            assert!(!bytes.is_empty());
            t.elapsed().as_secs_f64() * 1e3
        }
    };

    // Warm-up.
    for _ in 0..100 {
        one_ehbp(body.clone()).await;
        one_direct(body.clone()).await;
    }
    let mut e = Vec::with_capacity(iterations);
    let mut d = Vec::with_capacity(iterations);
    let mut diff = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let (te, td) = if i % 2 == 0 {
            let te = one_ehbp(body.clone()).await;
            (te, one_direct(body.clone()).await)
        } else {
            let td = one_direct(body.clone()).await;
            (one_ehbp(body.clone()).await, td)
        };
        e.push(te);
        d.push(td);
        diff.push(te - td);
    }
    let (_, e95, _) = summary("through EHBP (enclave)", &mut e);
    let (_, d95, _) = summary("direct (plain JSON)", &mut d);
    summary("paired difference", &mut diff);
    let added = e95 - d95;
    println!(
        "added latency at p95: {added:.3} ms (target < 5 ms): {}",
        if added < 5.0 { "PASS" } else { "FAIL" }
    );
    running.shutdown().await.expect("shutdown");
    if added >= 5.0 {
        std::process::exit(1);
    }
}
