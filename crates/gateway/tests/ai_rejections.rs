//! The client refuses before sealing anything: a key config swapped by a
//! machine in the middle (different from the one the attestation document
//! commits to) never gets a request sealed to it — no request reaches
//! `POST /v1/ai/analyze`, counted by the interposed proxy and by the
//! gateway↔enclave relay. A wrong development root is refused too.

mod ai_common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ai_common::{contains, enclave_dir, Gateway, IsolatedEnclave, Relay};
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use zenalyze_client::ai::{AiError, Input, Policy, TrustedRoot, ZenalyzeAi};

#[derive(Clone)]
struct Mitm {
    upstream: String,
    http: reqwest::Client,
    analyze_calls: Arc<AtomicUsize>,
    swap: bool,
}

async fn forward(State(m): State<Mitm>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    if parts.method == axum::http::Method::POST && path.starts_with("/v1/ai/analyze") {
        m.analyze_calls.fetch_add(1, Ordering::SeqCst);
    }
    let body = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    let mut out = m
        .http
        .request(parts.method.clone(), format!("{}{path}", m.upstream))
        .body(body.to_vec());
    for (k, v) in &parts.headers {
        if k != "host" && k != "content-length" {
            out = out.header(k, v);
        }
    }
    let res = out.send().await.expect("upstream");
    let status = res.status();
    let headers = res.headers().clone();
    let mut bytes: Bytes = res.bytes().await.expect("body");
    if m.swap && path.starts_with("/v1/ai/attestation") && status == 200 {
        let mut v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        let other = zenalyze_ehbp::KeyConfig::new(1, [9u8; 32]).encode();
        v["key_config"] = base64::engine::general_purpose::STANDARD
            .encode(other)
            .into();
        bytes = Bytes::from(v.to_string());
    }
    let mut r = (status, bytes).into_response();
    for (k, v) in &headers {
        if k != "content-length" && k != "transfer-encoding" {
            r.headers_mut().insert(k, v.clone());
        }
    }
    r
}

async fn mitm(upstream: &str, swap: bool) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let state = Mitm {
        upstream: upstream.to_owned(),
        http: reqwest::Client::new(),
        analyze_calls: calls.clone(),
        swap,
    };
    let app = axum::Router::new().fallback(forward).with_state(state);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    (format!("http://{addr}"), calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_before_sealing() {
    tokio::time::timeout(Duration::from_secs(60), run())
        .await
        .expect("timed out");
}

async fn run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let edir = enclave_dir(dir.path());
    let enclave = IsolatedEnclave::start(&edir, dir.path().join("e0.sock"), "enclave-0");
    let zenalyze_transport::Address::Unix(target) = enclave.address.clone() else {
        panic!("unix");
    };
    let relay = Relay::start(dir.path().join("relay.sock"), target).await;
    let gw = Gateway::start(dir, vec![relay.address.clone()], |_| {}).await;
    let pem =
        std::fs::read_to_string(edir.join(zenalyze_enclave::attest::DEV_ROOT_FILE)).expect("root");
    let root = zenalyze_attestation::dev::DevRoot::from_pem(&pem)
        .expect("pem")
        .sha256_fingerprint_hex();
    let policy = Policy::development(TrustedRoot::from_sha256_hex(&root).expect("root"));

    // Through an honest proxy it works (the proxy itself is sound).
    let (honest, honest_calls) = mitm(&gw.base, false).await;
    let ai = ZenalyzeAi::new(&honest, gw.publishable_key(), policy.clone()).expect("client");
    ai.analyze("ok?", vec![Input::text("fine")])
        .await
        .expect("through the honest proxy");
    assert_eq!(honest_calls.load(Ordering::SeqCst), 1);

    // A swapped key config is refused before anything is sealed or sent.
    let before = relay.recorded().len();
    let (evil, evil_calls) = mitm(&gw.base, true).await;
    let ai = ZenalyzeAi::new(&evil, gw.publishable_key(), policy).expect("client");
    match ai
        .analyze("secret?", vec![Input::text("CANARY-swap")])
        .await
    {
        Err(AiError::KeyConfigMismatch) => {}
        other => panic!("expected KeyConfigMismatch, got {other:?}"),
    }
    assert_eq!(
        evil_calls.load(Ordering::SeqCst),
        0,
        "no request reached /v1/ai/analyze"
    );
    let after = relay.recorded();
    assert!(
        !contains(&after[before..], b"/internal/v1/analyze"),
        "nothing was relayed to the enclave"
    );

    // A development root other than the enclave's: refused.
    let wrong = Policy::development(TrustedRoot::from_sha256([3u8; 32]));
    let ai = ZenalyzeAi::new(&gw.base, gw.publishable_key(), wrong).expect("client");
    match ai.analyze("x", vec![Input::text("y")]).await {
        Err(AiError::Attestation(_)) => {}
        other => panic!("expected an attestation refusal, got {other:?}"),
    }

    // A secret key without ai scopes is not needed here; a missing key is 401.
    let r = gw
        .http
        .get(gw.url("/v1/ai/attestation?nonce=00112233445566778899"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);

    gw.shutdown().await;
    drop(enclave);
}
