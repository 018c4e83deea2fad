//! The enclave's HTTP API end to end, in-process, over tcp and unix sockets.

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::*;
use zenalyze_ehbp::{seal_request, ServerKey};

const BODY: &[u8] = br#"{"prompt":"summarise","inputs":[{"kind":"text","text":"I slept well"},{"kind":"json","value":{"mood":7}},{"kind":"bytes","media_type":"text/plain","data":"aGVsbG8="}],"model":"m-1","max_tokens":64}"#;

async fn round_trip(listen: &str) {
    let h = start(listen).await;
    let addr = h.running.address.clone();
    let cfg = key_config(&addr).await;
    assert_eq!(cfg.key_id(), 1);
    let (a, ctx) = ehbp_post(&addr, &cfg, BODY).await;
    assert_eq!(a.status, 200);
    assert!(
        a.headers.get("content-length").is_none(),
        "chunked response"
    );
    assert_eq!(
        a.headers.get("ehbp-response-nonce").unwrap().len(),
        64,
        "32-byte nonce"
    );
    // The body on the wire is ciphertext.
    assert!(!String::from_utf8_lossy(&a.body).contains("summarise"));
    let v = open_answer(&a, &ctx);
    assert_eq!(v["provider"], "echo");
    assert_eq!(v["model"], "m-1");
    assert_eq!(v["output"]["prompt"], "summarise");
    assert_eq!(v["output"]["inputs"][0]["text"], "I slept well");
    assert_eq!(v["output"]["inputs"][1]["value"]["mood"], 7);
    assert_eq!(v["output"]["inputs"][2]["len"], 5);
    assert_eq!(v["output"]["max_tokens"], 64);
    h.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn ehbp_round_trip_over_tcp() {
    round_trip("tcp:127.0.0.1:0").await;
}

#[tokio::test]
async fn ehbp_round_trip_over_unix_socket() {
    round_trip("unix").await;
}

#[tokio::test]
async fn unknown_key_gets_422_problem() {
    let h = start("tcp:127.0.0.1:0").await;
    let addr = h.running.address.clone();
    let stranger = ServerKey::generate(1).key_config();
    let (a, _) = ehbp_post(&addr, &stranger, BODY).await;
    assert_eq!(a.status, 422);
    assert_eq!(
        a.headers.get("content-type").unwrap(),
        "application/problem+json"
    );
    let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(v["type"], "urn:ietf:params:ehbp:error:key-config");
    assert!(a.headers.get("ehbp-response-nonce").is_none());
}

fn assert_bare_400(a: &Answer) {
    assert_eq!(a.status, 400);
    assert!(a.headers.get("ehbp-response-nonce").is_none());
    let text = String::from_utf8_lossy(&a.body).to_lowercase();
    for word in [
        "aead", "chunk", "frame", "hpke", "decrypt", "decap", "tag", "truncat", "length",
    ] {
        assert!(!text.contains(word), "400 body says too much: {text}");
    }
}

#[tokio::test]
async fn tampered_requests_get_bare_400() {
    let h = start("tcp:127.0.0.1:0").await;
    let addr = h.running.address.clone();
    let cfg = key_config(&addr).await;
    let big: Vec<u8> = {
        let text = "x".repeat(3000);
        format!(r#"{{"prompt":"p","inputs":[{{"kind":"text","text":"{text}"}}]}}"#).into_bytes()
    };
    let (sealed, _) = seal_request(&cfg, &big, 1024).unwrap();
    let enc = sealed.encapsulated_key_hex.clone();
    let post = |body: Vec<u8>, enc: String| {
        let addr = addr.clone();
        async move {
            request(
                &addr,
                "POST",
                "/v1/analyze",
                &[("ehbp-encapsulated-key", &enc)],
                body,
            )
            .await
        }
    };
    // A flipped byte inside the second chunk.
    let mut body = sealed.body.clone();
    body[4 + 1040 + 4 + 10] ^= 1;
    assert_bare_400(&post(body, enc.clone()).await);
    // A length prefix pointing past the end.
    let mut body = sealed.body.clone();
    body[4 + 1040] = 0x00;
    body[4 + 1040 + 1] = 0x10;
    assert_bare_400(&post(body, enc.clone()).await);
    // A huge length prefix.
    let mut body = sealed.body.clone();
    body[0] = 0xff;
    assert_bare_400(&post(body, enc.clone()).await);
    // Truncated body.
    let body = sealed.body[..sealed.body.len() - 3].to_vec();
    assert_bare_400(&post(body, enc.clone()).await);
    // Missing / malformed / repeated encapsulated key.
    assert_bare_400(&request(&addr, "POST", "/v1/analyze", &[], sealed.body.clone()).await);
    assert_bare_400(&post(sealed.body.clone(), "zz".into()).await);
    assert_bare_400(
        &request(
            &addr,
            "POST",
            "/v1/analyze",
            &[
                ("ehbp-encapsulated-key", &enc),
                ("ehbp-encapsulated-key", &enc),
            ],
            sealed.body.clone(),
        )
        .await,
    );
    // The untouched request still works.
    assert_eq!(post(sealed.body.clone(), enc).await.status, 200);
}

#[tokio::test]
async fn unknown_field_gets_sealed_400() {
    let h = start("tcp:127.0.0.1:0").await;
    let addr = h.running.address.clone();
    let cfg = key_config(&addr).await;
    let (a, ctx) = ehbp_post(&addr, &cfg, br#"{"prompt":"p","inputs":[],"promt":"typo"}"#).await;
    assert_eq!(a.status, 400);
    let v = open_answer(&a, &ctx);
    assert_eq!(v["error"]["code"], "invalid_request");
    assert!(v["error"]["message"].as_str().unwrap().contains("promt"));
    // Unknown input kind and unknown input field too.
    for body in [
        &br#"{"prompt":"p","inputs":[{"kind":"text","text":"t","lang":"en"}]}"#[..],
        br#"{"prompt":"p","inputs":[{"kind":"audio","data":""}]}"#,
    ] {
        let (a, ctx) = ehbp_post(&addr, &cfg, body).await;
        assert_eq!(a.status, 400);
        assert_eq!(open_answer(&a, &ctx)["error"]["code"], "invalid_request");
    }
}

#[tokio::test]
async fn key_rotation_with_grace_period() {
    let h = start("tcp:127.0.0.1:0").await;
    let addr = h.running.address.clone();
    let old = key_config(&addr).await;
    assert_eq!(old.key_id(), 1);
    // Not due yet: nothing changes.
    h.clock.advance(Duration::from_secs(1800));
    h.running.enclave.maintain().unwrap();
    assert_eq!(key_config(&addr).await, old);
    // Due: rotate.
    h.clock.advance(Duration::from_secs(1801));
    h.running.enclave.maintain().unwrap();
    let new = key_config(&addr).await;
    assert_eq!(new.key_id(), 2);
    assert_ne!(new.public_key(), old.public_key());
    // The previous key still opens during the grace period (600 s).
    let (a, ctx) = ehbp_post(&addr, &old, BODY).await;
    assert_eq!(a.status, 200);
    assert_eq!(open_answer(&a, &ctx)["provider"], "echo");
    let (a, _) = ehbp_post(&addr, &new, BODY).await;
    assert_eq!(a.status, 200);
    // After the grace period, the previous key is refused with the key-config problem.
    h.clock.advance(Duration::from_secs(601));
    let (a, _) = ehbp_post(&addr, &old, BODY).await;
    assert_eq!(a.status, 422);
    let (a, _) = ehbp_post(&addr, &new, BODY).await;
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn two_processes_on_one_data_dir_share_the_key_set() {
    let h1 = start("tcp:127.0.0.1:0").await;
    let data = h1.dir.path().join("data");
    let second = zenalyze_enclave::EnclaveBuilder::new(&data, std::sync::Arc::new(EchoProvider))
        .clock(h1.clock.clone())
        .build()
        .unwrap();
    assert_eq!(second.key_config(), key_config(&h1.running.address).await);
    // A request sealed for one opens at the other.
    let running2 = second
        .spawn(
            &"tcp:127.0.0.1:0".parse().unwrap(),
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
    let cfg = key_config(&h1.running.address).await;
    let (a, ctx) = ehbp_post(&running2.address, &cfg, BODY).await;
    assert_eq!(a.status, 200);
    assert_eq!(open_answer(&a, &ctx)["output"]["prompt"], "summarise");
    // One process rotates; the other picks the new key set up at its next maintenance.
    h1.clock.advance(Duration::from_secs(3601));
    h1.running.enclave.maintain().unwrap();
    let rotated = key_config(&h1.running.address).await;
    assert_eq!(rotated.key_id(), 2);
    assert_eq!(key_config(&running2.address).await, cfg);
    running2.enclave.maintain().unwrap();
    assert_eq!(key_config(&running2.address).await, rotated);
    // Both still open the previous key during the grace period.
    let (a, _) = ehbp_post(&running2.address, &cfg, BODY).await;
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn attestation_document_verifies_against_dev_root() {
    let h = start("tcp:127.0.0.1:0").await;
    let addr = h.running.address.clone();
    let challenge = [0x5au8; 32];
    let a = request(
        &addr,
        "GET",
        &format!("/attestation?nonce={}", hex::encode(challenge)),
        &[],
        vec![],
    )
    .await;
    assert_eq!(a.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(v["enclave_id"], "enclave-test");
    let b64 = base64::engine::general_purpose::STANDARD;
    let doc = b64.decode(v["attestation_doc"].as_str().unwrap()).unwrap();
    let cfg = b64.decode(v["key_config"].as_str().unwrap()).unwrap();
    assert_eq!(cfg, key_config(&addr).await.encode().to_vec());
    let pem = std::fs::read_to_string(
        h.dir
            .path()
            .join("data")
            .join(zenalyze_enclave::attest::DEV_ROOT_FILE),
    )
    .unwrap();
    let root = zenalyze_attestation::dev::DevRoot::from_pem(&pem).unwrap();
    let verified = zenalyze_attestation::verify(
        &doc,
        &root.development_policy(),
        Some(&challenge),
        T0 + 1000,
    )
    .unwrap();
    assert_eq!(verified.public_key.as_deref(), Some(cfg.as_slice()));
    assert_eq!(verified.nonce.as_deref(), Some(&challenge[..]));
    // A different challenge does not verify.
    assert!(zenalyze_attestation::verify(
        &doc,
        &root.development_policy(),
        Some(&[1u8; 32]),
        T0 + 1000
    )
    .is_err());
    // Bad nonces are refused.
    for q in [
        "",
        "?nonce=",
        "?nonce=xyz",
        &format!("?nonce={}", "00".repeat(600)),
    ] {
        let a = request(&addr, "GET", &format!("/attestation{q}"), &[], vec![]).await;
        assert_eq!(a.status, 400, "{q}");
    }
}

#[tokio::test]
async fn internal_endpoint_carries_records_and_instructions_beside_the_seal() {
    let h = start("tcp:127.0.0.1:0").await;
    let addr = h.running.address.clone();
    let cfg = key_config(&addr).await;
    let b64 = base64::engine::general_purpose::STANDARD;
    let user_key = [9u8; 32];
    let env = zenalyze_crypto::envelope::seal_v1(
        &zenalyze_crypto::UserKey::from_bytes(user_key),
        &[3u8; 12],
        b"journal entry: calm day",
        None,
    )
    .unwrap();
    let inner = format!(
        r#"{{"prompt":"p","inputs":[{{"kind":"record","record_id":"rec_1","key":"{}"}}]}}"#,
        b64.encode(user_key)
    );
    let (sealed, ctx) = seal_request(&cfg, inner.as_bytes(), 4096).unwrap();
    let outer = serde_json::json!({
        "encapsulated_key": sealed.encapsulated_key_hex,
        "sealed_body": b64.encode(&sealed.body),
        "instructions": "answer in one line",
        "records": {"rec_1": zenalyze_crypto::envelope::encode_base64(&env)},
    });
    let a = request(
        &addr,
        "POST",
        zenalyze_enclave::INTERNAL_ANALYZE_PATH,
        &[("content-type", "application/json")],
        outer.to_string().into_bytes(),
    )
    .await;
    assert_eq!(a.status, 200);
    let v = open_answer(&a, &ctx);
    assert_eq!(v["output"]["instructions"], "answer in one line");
    assert_eq!(v["output"]["inputs"][0]["text"], "journal entry: calm day");
    // The same request over the pure EHBP endpoint lacks the envelope: sealed 422.
    let (a, ctx) = ehbp_post(&addr, &cfg, inner.as_bytes()).await;
    assert_eq!(a.status, 422);
    assert_eq!(
        open_answer(&a, &ctx)["error"]["code"],
        "record_not_supplied"
    );
    // Unknown outer fields are refused.
    let a = request(
        &addr,
        "POST",
        zenalyze_enclave::INTERNAL_ANALYZE_PATH,
        &[],
        br#"{"encapsulated_key":"00","sealed_body":"","x":1}"#.to_vec(),
    )
    .await;
    assert_eq!(a.status, 400);
}

#[tokio::test]
async fn health_and_metrics() {
    let h = start("tcp:127.0.0.1:0").await;
    let addr = h.running.address.clone();
    let cfg = key_config(&addr).await;
    let (a, _) = ehbp_post(&addr, &cfg, BODY).await;
    assert_eq!(a.status, 200);
    let a = request(&addr, "GET", "/health", &[], vec![]).await;
    assert_eq!(a.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["key_id"], 1);
    assert!(v["memory"]["rss_bytes"].as_u64().unwrap() > 0);
    let a = request(&addr, "GET", "/metrics", &[], vec![]).await;
    let text = String::from_utf8(a.body.to_vec()).unwrap();
    assert!(text.contains("zenalyze_enclave_plaintext_lifetime_seconds_count 1"));
    assert!(text.contains("zenalyze_enclave_provider_seconds_count 1"));
    assert!(text.contains(r#"zenalyze_enclave_requests_total{endpoint="analyze",outcome="ok"} 1"#));
}
