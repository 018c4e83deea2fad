//! End-to-end AI overhead through the gateway.
//!
//! The same EHBP request (client seal → HTTP → … → client open) is sent
//! (a) **directly** to an enclave's pure EHBP endpoint `POST /v1/analyze`
//! over its Unix socket (the baseline), and (b) **through the gateway**:
//! `POST /v1/ai/analyze` with a publishable key over loopback TCP →
//! authentication, usage metering (burst limits off), side-data parsing,
//! audit (SQLite, group-committed) →
//! enclave pool (least outstanding, Unix socket) → `POST
//! /internal/v1/analyze` → relay of the sealed answer. The enclaves call a
//! zero-latency fake provider, so the numbers are pure platform overhead.
//!
//! For 1 and 2 enclaves and 10, 50, 200 concurrent clients it prints p50 and
//! p95 of both paths, measured in the same run (the direct baseline always
//! against the same enclave set).
//!
//! Run: `scripts/bench-ai` (or
//! `cargo bench -p zenalyze-enclave-pool --bench ai_gateway -- --requests 1000`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use zenalyze_ai_providers::{Analysis, AnalysisRequest, Provider, ProviderError};
use zenalyze_ehbp::{seal_request, KeyConfig};
use zenalyze_enclave_pool::{EnclavePool, PoolConfig};
use zenalyze_gateway::ai::{Ai, AiSettings};
use zenalyze_transport::{Address, Connector};

/// Zero-latency fake provider (as in the enclave's own bench): sizes only.
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

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

async fn run_level<F, Fut>(concurrency: usize, requests: usize, one: F) -> (f64, f64, f64)
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = f64> + Send,
{
    let per = requests.div_ceil(concurrency);
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let one = one.clone();
        set.spawn(async move {
            let mut v = Vec::with_capacity(per);
            for _ in 0..per {
                v.push(one().await);
            }
            v
        });
    }
    let mut all = Vec::new();
    while let Some(r) = set.join_next().await {
        all.extend(r.expect("worker"));
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.total_cmp(b));
    (
        percentile(&all, 0.5),
        percentile(&all, 0.95),
        all.len() as f64 / secs,
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let requests: usize = args
        .iter()
        .position(|a| a == "--requests")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);

    let text = "Today I walked by the river and felt calmer than last week. ".repeat(16);
    let plaintext = serde_json::json!({
        "prompt": "Summarise my mood this week.",
        "inputs": [{"kind": "text", "text": text}],
    })
    .to_string()
    .into_bytes();
    println!(
        "payload {} bytes plaintext; {requests} requests per level; zero-latency fake provider",
        plaintext.len()
    );
    println!(
        "{:<9} {:>6} | {:>10} {:>10} {:>8} | {:>10} {:>10} {:>8} | {:>9} {:>9}",
        "enclaves", "conc", "direct p50", "p95", "req/s", "gw p50", "p95", "req/s", "Δp50", "Δp95"
    );

    for n_enclaves in [1usize, 2] {
        let dir = tempfile::tempdir().expect("tempdir");
        let edir = dir.path().join("enclave");
        let mut running = Vec::new();
        for i in 0..n_enclaves {
            let e = zenalyze_enclave::EnclaveBuilder::new(&edir, Arc::new(FakeProvider))
                .enclave_id(format!("bench-{i}"))
                .max_concurrent(256)
                .build()
                .expect("enclave");
            let addr = Address::Unix(dir.path().join(format!("e{i}.sock")));
            running.push(
                e.spawn(&addr, Duration::from_secs(3600))
                    .await
                    .expect("spawn"),
            );
        }
        let addrs: Vec<Address> = running.iter().map(|r| r.address.clone()).collect();
        let config: KeyConfig = running[0].enclave.key_config();

        // The gateway (SQLite in the temp dir, dev tenant, publishable key).
        let opts = zenalyze_gateway::dev::DevOptions {
            data_dir: dir.path().to_owned(),
            ..Default::default()
        };
        let (builder, creds) = zenalyze_gateway::dev::prepare(&opts)
            .await
            .expect("prepare");
        // Burst limits off: the bench measures the AI path's overhead, not
        // the enterprise tier's per-second burst (see docs/benchmarks-limits.md
        // for the limiter's own cost). Metering stays on.
        let builder = builder.limits_config(zenalyze_limits::LimitsConfig {
            enabled: false,
            ..Default::default()
        });
        let mut pc = PoolConfig::new(addrs.clone());
        pc.max_concurrency = 256;
        let pool = EnclavePool::start(pc, Some(builder.registry()))
            .await
            .expect("pool");
        let ai = Ai::new(pool, AiSettings::default());
        let app = builder
            .routes(ai.router())
            .health_check(ai.health_check())
            .build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let gw_addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(zenalyze_gateway::server::serve(listener, app, async move {
            let _ = rx.await;
        }));
        let key = creds.publishable_key.expose_secret().to_owned();

        // Clients: direct hyper clients to the enclaves (round robin), and
        // one pooled HTTP client to the gateway.
        let direct: Vec<Client<Connector, Full<Bytes>>> = addrs
            .iter()
            .map(|a| Client::builder(TokioExecutor::new()).build(Connector::new(a.clone())))
            .collect();
        let direct = Arc::new(direct);
        let gw: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(512)
                .build_http();
        let rr = Arc::new(std::sync::atomic::AtomicUsize::new(0));

        for conc in [10usize, 50, 200] {
            let one_direct = {
                let (direct, config, plaintext, rr) = (
                    direct.clone(),
                    config.clone(),
                    plaintext.clone(),
                    rr.clone(),
                );
                move || {
                    let (direct, config, plaintext, rr) = (
                        direct.clone(),
                        config.clone(),
                        plaintext.clone(),
                        rr.clone(),
                    );
                    async move {
                        let i =
                            rr.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % direct.len();
                        let t = Instant::now();
                        let (sealed, ctx) =
                            seal_request(&config, &plaintext, 16 * 1024).expect("seal");
                        let req = http::Request::post("http://enclave/v1/analyze")
                            .header("ehbp-encapsulated-key", sealed.encapsulated_key_hex)
                            .body(Full::new(Bytes::from(sealed.body)))
                            .expect("req");
                        let res = direct[i].request(req).await.expect("direct");
                        assert_eq!(res.status(), 200);
                        let nonce = res.headers()["ehbp-response-nonce"]
                            .to_str()
                            .expect("n")
                            .to_owned();
                        let body = res.into_body().collect().await.expect("body").to_bytes();
                        ctx.open_response(&nonce, &body, 1 << 24).expect("open");
                        t.elapsed().as_secs_f64() * 1e3
                    }
                }
            };
            let one_gw = {
                let (gw, config, plaintext, key) =
                    (gw.clone(), config.clone(), plaintext.clone(), key.clone());
                move || {
                    let (gw, config, plaintext, key) =
                        (gw.clone(), config.clone(), plaintext.clone(), key.clone());
                    async move {
                        let t = Instant::now();
                        let (sealed, ctx) =
                            seal_request(&config, &plaintext, 16 * 1024).expect("seal");
                        let req = http::Request::post(format!("http://{gw_addr}/v1/ai/analyze"))
                            .header("authorization", format!("Bearer {key}"))
                            .header("ehbp-encapsulated-key", sealed.encapsulated_key_hex)
                            .body(Full::new(Bytes::from(sealed.body)))
                            .expect("req");
                        let res = gw.request(req).await.expect("gateway");
                        assert_eq!(res.status(), 200, "gateway status");
                        let nonce = res.headers()["ehbp-response-nonce"]
                            .to_str()
                            .expect("n")
                            .to_owned();
                        let body = res.into_body().collect().await.expect("body").to_bytes();
                        ctx.open_response(&nonce, &body, 1 << 24).expect("open");
                        t.elapsed().as_secs_f64() * 1e3
                    }
                }
            };
            // Warm-up, then direct and gateway back to back.
            run_level(conc, conc * 2, one_direct.clone()).await;
            run_level(conc, conc * 2, one_gw.clone()).await;
            let (d50, d95, drps) = run_level(conc, requests, one_direct).await;
            let (g50, g95, grps) = run_level(conc, requests, one_gw).await;
            println!(
                "{:<9} {:>6} | {:>8.2}ms {:>8.2}ms {:>8.0} | {:>8.2}ms {:>8.2}ms {:>8.0} | {:>7.2}ms {:>7.2}ms",
                n_enclaves, conc, d50, d95, drps, g50, g95, grps, g50 - d50, g95 - d95
            );
        }
        let _ = tx.send(());
        let _ = server.await;
        for r in running {
            let _ = r.shutdown().await;
        }
    }
}
