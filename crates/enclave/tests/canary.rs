//! Plaintext hygiene: a canary sent in sealed bodies (success, schema error,
//! record input, tampered request) never appears in the enclave's logs
//! (captured at TRACE level, every target) nor anywhere in its data dir.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use common::*;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn scan_dir(dir: &std::path::Path, needles: &[&[u8]]) -> usize {
    let mut files = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files += scan_dir(&path, needles);
        } else if let Ok(bytes) = std::fs::read(&path) {
            files += 1;
            for n in needles {
                assert!(
                    !bytes.windows(n.len()).any(|w| w == *n),
                    "canary found on disk in {}",
                    path.display()
                );
            }
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_never_reaches_logs_or_disk() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    const CANARY: &str = "CANARY-7f3a91c2-do-not-log";
    let h = start("tcp:127.0.0.1:0").await;
    let addr = h.running.address.clone();
    let cfg = key_config(&addr).await;
    let b64 = base64::engine::general_purpose::STANDARD;

    // 1. Success path: canary in prompt, text, json and bytes inputs.
    let body = serde_json::json!({
        "prompt": CANARY,
        "inputs": [
            {"kind": "text", "text": CANARY},
            {"kind": "json", "value": {"k": CANARY}},
            {"kind": "bytes", "media_type": "text/plain", "data": b64.encode(CANARY)},
        ],
    })
    .to_string();
    let (a, ctx) = ehbp_post(&addr, &cfg, body.as_bytes()).await;
    assert_eq!(a.status, 200);
    // The client sees it (so the test would notice a broken echo)…
    assert_eq!(open_answer(&a, &ctx)["output"]["prompt"], CANARY);
    // …and the wire does not.
    assert!(!a.body.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()));

    // 2. Schema error whose message names a canary field.
    let body = format!(r#"{{"prompt":"p","inputs":[],"{CANARY}":1}}"#);
    let (a, ctx) = ehbp_post(&addr, &cfg, body.as_bytes()).await;
    assert_eq!(a.status, 400);
    assert!(open_answer(&a, &ctx)["error"]["message"]
        .as_str()
        .unwrap()
        .contains(CANARY));

    // 3. Record input through the internal endpoint.
    let key = [1u8; 32];
    let env = zenalyze_crypto::envelope::seal_v1(
        &zenalyze_crypto::UserKey::from_bytes(key),
        &[2u8; 12],
        CANARY.as_bytes(),
        None,
    )
    .unwrap();
    let inner = format!(
        r#"{{"prompt":"{CANARY}","inputs":[{{"kind":"record","record_id":"r","key":"{}"}}]}}"#,
        b64.encode(key)
    );
    let (sealed, _) = zenalyze_ehbp::seal_request(&cfg, inner.as_bytes(), 64).unwrap();
    let outer = serde_json::json!({
        "encapsulated_key": sealed.encapsulated_key_hex,
        "sealed_body": b64.encode(&sealed.body),
        "records": {"r": zenalyze_crypto::envelope::encode_base64(&env)},
    });
    let a = request(
        &addr,
        "POST",
        zenalyze_enclave::INTERNAL_ANALYZE_PATH,
        &[],
        outer.to_string().into_bytes(),
    )
    .await;
    assert_eq!(a.status, 200);

    // 4. A tampered request carrying the canary.
    let (sealed, _) = zenalyze_ehbp::seal_request(&cfg, body.as_bytes(), 16).unwrap();
    let mut tampered = sealed.body.clone();
    let n = tampered.len() - 1;
    tampered[n] ^= 1;
    let a = request(
        &addr,
        "POST",
        "/v1/analyze",
        &[("ehbp-encapsulated-key", &sealed.encapsulated_key_hex)],
        tampered,
    )
    .await;
    assert_eq!(a.status, 400);

    h.running.shutdown().await.unwrap();

    let logs = capture.0.lock().unwrap().clone();
    let logs = String::from_utf8_lossy(&logs);
    assert!(
        logs.contains("EHBP request served"),
        "the capture must see the enclave's logs"
    );
    assert!(logs.contains("EHBP request refused"));
    assert!(!logs.contains(CANARY), "canary found in logs");
    let b64_canary = b64.encode(CANARY);
    assert!(!logs.contains(&b64_canary));

    let files = scan_dir(h.dir.path(), &[CANARY.as_bytes(), b64_canary.as_bytes()]);
    assert!(
        files >= 3,
        "data dir holds root key, key set and attestation root"
    );
}
