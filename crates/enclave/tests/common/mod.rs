//! Shared helpers of the enclave integration tests: a zero-latency fake
//! provider (public AI APIs cannot run here) and an EHBP client over the
//! transport crate.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use zenalyze_ai_providers::{Analysis, AnalysisRequest, Input, Provider, ProviderError};
use zenalyze_ehbp::{seal_request, KeyConfig, ResponseContext};
use zenalyze_enclave::{Clock, EnclaveBuilder, ManualClock, RunningEnclave};
use zenalyze_transport::{Address, Connector};

/// Echoes what it received (prompt, instructions, input kinds and texts).
pub struct EchoProvider;

#[async_trait]
impl Provider for EchoProvider {
    fn name(&self) -> &str {
        "echo"
    }
    fn default_model(&self) -> &str {
        "echo-1"
    }
    async fn analyze(&self, request: &AnalysisRequest) -> Result<Analysis, ProviderError> {
        let inputs: Vec<serde_json::Value> = request
            .inputs
            .iter()
            .map(|i| match i {
                Input::Text(t) => serde_json::json!({"kind": "text", "text": t}),
                Input::Json(v) => serde_json::json!({"kind": "json", "value": v}),
                Input::Bytes { media_type, data } => {
                    serde_json::json!({"kind": "bytes", "media_type": media_type, "len": data.len()})
                }
                Input::Record { record_id, plaintext } => serde_json::json!({
                    "kind": "record", "record_id": record_id,
                    "text": String::from_utf8_lossy(plaintext)
                }),
            })
            .collect();
        Ok(Analysis {
            provider: "echo".into(),
            model: request.model.clone().unwrap_or_else(|| "echo-1".into()),
            output: serde_json::json!({
                "prompt": request.prompt,
                "instructions": request.instructions,
                "inputs": inputs,
                "max_tokens": request.max_tokens,
            }),
            finish_reason: None,
            usage: None,
            elapsed_ms: 0,
            note: None,
        })
    }
}

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub running: RunningEnclave,
    pub clock: Arc<ManualClock>,
}

pub const T0: u64 = 1_790_000_000_000;

pub async fn start(listen: &str) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    start_in(dir, listen).await
}

pub async fn start_in(dir: tempfile::TempDir, listen: &str) -> Harness {
    let clock = Arc::new(ManualClock::new(T0));
    let listen: Address = if listen == "unix" {
        Address::Unix(dir.path().join("enclave.sock"))
    } else {
        listen.parse().unwrap()
    };
    let enclave = EnclaveBuilder::new(dir.path().join("data"), Arc::new(EchoProvider))
        .clock(clock.clone() as Arc<dyn Clock>)
        .enclave_id("enclave-test")
        .rotation(Duration::from_secs(3600), Duration::from_secs(600))
        .build()
        .unwrap();
    let running = enclave
        .spawn(&listen, Duration::from_secs(3600))
        .await
        .unwrap();
    Harness {
        dir,
        running,
        clock,
    }
}

pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

pub async fn request(
    address: &Address,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Answer {
    let client: Client<Connector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(Connector::new(address.clone()));
    let mut b = http::Request::builder()
        .method(method)
        .uri(format!("http://enclave{path}"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b.body(Full::new(Bytes::from(body))).unwrap();
    let res = tokio::time::timeout(Duration::from_secs(20), client.request(req))
        .await
        .expect("request timed out")
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body,
    }
}

pub async fn key_config(address: &Address) -> KeyConfig {
    let a = request(address, "GET", "/.well-known/hpke-keys", &[], vec![]).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.headers.get("content-type").unwrap(),
        "application/ohttp-keys"
    );
    KeyConfig::parse(&a.body).unwrap()
}

/// Seals `json` to `cfg`, posts it to /v1/analyze, returns the answer and the context.
pub async fn ehbp_post(
    address: &Address,
    cfg: &KeyConfig,
    json: &[u8],
) -> (Answer, ResponseContext) {
    let (sealed, ctx) = seal_request(cfg, json, 1024).unwrap();
    let a = request(
        address,
        "POST",
        "/v1/analyze",
        &[
            ("ehbp-encapsulated-key", &sealed.encapsulated_key_hex),
            ("content-type", "application/json"),
        ],
        sealed.body,
    )
    .await;
    (a, ctx)
}

pub fn open_answer(a: &Answer, ctx: &ResponseContext) -> serde_json::Value {
    let nonce = a
        .headers
        .get("ehbp-response-nonce")
        .expect("response nonce header")
        .to_str()
        .unwrap();
    let pt = ctx.open_response(nonce, &a.body, 1 << 24).unwrap();
    serde_json::from_slice(&pt).unwrap()
}
