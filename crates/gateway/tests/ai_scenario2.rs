//! Scenario 2 "Analyze my journal", end to end on an in-process `zenalyze
//! dev` equivalent: the Rust client encrypts a journal entry and stores it;
//! the Rust client AI attests the enclave, seals a request naming the record
//! and carrying only that record's key, the gateway fetches the envelope and
//! relays both to the enclave over a Unix socket through a recording relay,
//! and the client opens a sensible answer. The gateway's logs, the database
//! files and the gateway↔enclave traffic never contain the plaintext.
//! Also: a production policy refuses the development enclave, a swapped key
//! config is refused before anything is sealed, sealed enclave errors pass
//! through, missing records are 404, the EHBP bare 400 passes through.

mod ai_common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use ai_common::{contains, enclave_dir, read_tree, Gateway, IsolatedEnclave, Relay};
use zenalyze_client::ai::{AiError, Input, Policy, TrustedRoot, ZenalyzeAi};
use zenalyze_client::ZenalyzeEncryption;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture() -> &'static Capture {
    static CAP: OnceLock<Capture> = OnceLock::new();
    CAP.get_or_init(|| {
        let cap = Capture::default();
        let writer = cap.clone();
        let sub = zenalyze_gateway::telemetry::json_subscriber("trace", move || writer.clone());
        tracing::subscriber::set_global_default(sub).expect("global subscriber");
        cap
    })
}

fn logs() -> Vec<u8> {
    capture().0.lock().expect("lock").clone()
}

fn dev_root_hex(dir: &std::path::Path) -> String {
    let pem =
        std::fs::read_to_string(enclave_dir(dir).join(zenalyze_enclave::attest::DEV_ROOT_FILE))
            .expect("dev root");
    zenalyze_attestation::dev::DevRoot::from_pem(&pem)
        .expect("pem")
        .sha256_fingerprint_hex()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario2_analyze_my_journal() {
    capture();
    tokio::time::timeout(Duration::from_secs(120), scenario2())
        .await
        .expect("scenario 2 timed out");
}

async fn scenario2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let edir = enclave_dir(dir.path());
    let enclave = IsolatedEnclave::start(&edir, dir.path().join("e0.sock"), "dev-enclave-0");
    let zenalyze_transport::Address::Unix(target) = enclave.address.clone() else {
        panic!("unix enclave");
    };
    let relay = Relay::start(dir.path().join("relay.sock"), target).await;
    let gw = Gateway::start(dir, vec![relay.address.clone()], |_| {}).await;
    let root = dev_root_hex(gw.dir.path());

    // The device: derive the user key, encrypt the entry, store it.
    let canary =
        "CANARY-7f3a9 I feel hopeless and exhausted, everything went wrong and I cried all night.";
    let me = ZenalyzeEncryption::new("ada@example.com", "correct horse battery").expect("kdf");
    let envelope = me.encrypt_bytes(canary.as_bytes()).expect("encrypt");
    let record_id = gw.store_record("user-ada", &envelope).await;

    // The device: analyze it through the gateway with a publishable key.
    let policy = Policy::development(TrustedRoot::from_sha256_hex(&root).expect("root"));
    let ai = ZenalyzeAi::new(&gw.base, gw.publishable_key(), policy).expect("ai client");
    let analysis = ai
        .analyze("Analyze my journal", vec![Input::record(&record_id, &me)])
        .await
        .expect("analysis");
    assert_eq!(analysis.provider, "offline");
    let compound = analysis.output["sentiment"]["overall"]["compound"]
        .as_f64()
        .expect("compound score");
    assert!(compound < -0.5, "negative journal, got {compound}");

    // A backend adds non-PHI instructions beside the seal; still works.
    let with_instr = ai
        .analyze_with(
            "Analyze my journal",
            vec![
                Input::record(&record_id, &me),
                Input::text("CANARY-7f3a9 second input"),
            ],
            &zenalyze_client::ai::AnalyzeOptions {
                instructions: Some("Be brief and kind.".into()),
                ..Default::default()
            },
        )
        .await
        .expect("analysis with instructions");
    assert_eq!(with_instr.provider, "offline");

    // A sealed body larger than the gateway's JSON body limit (1 MiB)
    // passes the gateway (the AI routes have their own 8 MiB limit) and
    // reaches the enclave, whose provider refuses that much text: a
    // sealed answer, not the gateway's 413.
    let big = "Calm, ordinary day. ".repeat(80_000);
    match ai.analyze("Summarise", vec![Input::text(big)]).await {
        Err(AiError::Enclave { code, .. }) => assert_eq!(code, "provider_error"),
        other => panic!("expected the enclave's sealed answer, got {other:?}"),
    }

    // A wrong key for the record: the enclave's sealed 422 passes through
    // the gateway unchanged and opens on the client.
    let other = ZenalyzeEncryption::new("eve@example.com", "another password").expect("kdf");
    match ai
        .analyze("Analyze", vec![Input::record(&record_id, &other)])
        .await
    {
        Err(AiError::Enclave {
            status: 422, code, ..
        }) => assert_eq!(code, "record_open_failed"),
        other => panic!("expected sealed record_open_failed, got {other:?}"),
    }

    // A record that does not exist: 404 problem from the gateway.
    match ai
        .analyze("Analyze", vec![Input::record("rec_doesnotexist1", &me)])
        .await
    {
        Err(AiError::Api { status: 404, .. }) => {}
        other => panic!("expected 404, got {other:?}"),
    }

    // EHBP errors pass through: a first chunk that opens under no key is
    // the 422 key-config problem; a framing violation is the bare 400.
    let r = gw
        .http
        .post(gw.url("/v1/ai/analyze"))
        .bearer_auth(gw.publishable_key())
        .header("ehbp-encapsulated-key", "ab".repeat(32))
        .body(b"\x00\x00\x00\x15hello, not sealed....".to_vec())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 422);
    let p: serde_json::Value = r.json().await.expect("problem");
    assert_eq!(p["type"], "urn:ietf:params:ehbp:error:key-config");
    let r = gw
        .http
        .post(gw.url("/v1/ai/analyze"))
        .bearer_auth(gw.publishable_key())
        .header("ehbp-encapsulated-key", "ab".repeat(32))
        .body(b"\x00\x00".to_vec())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    let r = gw
        .http
        .post(gw.url("/v1/ai/analyze"))
        .bearer_auth(gw.publishable_key())
        .body(b"\x00\x00\x00\x01x".to_vec())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400, "no encapsulated key");

    // Key config endpoint: 41 bytes, the media type EHBP clients expect.
    let r = gw
        .http
        .get(gw.url("/.well-known/hpke-keys"))
        .send()
        .await
        .expect("keys");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/ohttp-keys");
    assert_eq!(r.bytes().await.expect("body").len(), 41);

    // Attestation nonce validation.
    for bad in ["zz", "00", &"00".repeat(65)] {
        let r = gw
            .http
            .get(gw.url(&format!("/v1/ai/attestation?nonce={bad}")))
            .bearer_auth(gw.publishable_key())
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 400, "nonce {bad}");
    }

    // A production policy refuses the development enclave.
    let prod = ZenalyzeAi::new(&gw.base, gw.publishable_key(), Policy::production(vec![]))
        .expect("client");
    match prod.analyze("x", vec![Input::text("y")]).await {
        Err(AiError::Attestation(_)) => {}
        other => panic!("production policy must refuse, got {other:?}"),
    }

    // Health shows enclave readiness.
    let h: serde_json::Value = gw
        .http
        .get(gw.url("/v1/health"))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(h["checks"]["enclaves"]["status"], "up");
    let metrics = gw
        .http
        .get(gw.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("zenalyze_enclave_pool_healthy_enclaves 1"));
    assert!(metrics.contains("zenalyze_enclave_pool_request_seconds_bucket"));

    // Audit: ai.analyze events with the record as resource, no content.
    let events = gw.creds.tenant_id.clone();
    let store = zenalyze_store::open_data_dir(gw.dir.path(), &Default::default())
        .await
        .expect("store");
    let all = store.audit_events(0, 1000).await.expect("events");
    let ai_events: Vec<_> = all
        .iter()
        .filter(|e| e.operation.as_str() == "ai.analyze")
        .collect();
    assert!(ai_events
        .iter()
        .any(|e| e.resource_id.as_deref() == Some(record_id.as_str())
            && e.result.as_str() == "success"
            && e.tenant_id.as_deref() == Some(events.as_str())));
    assert!(ai_events.iter().any(|e| e.result.as_str() == "not_found"));
    assert!(ai_events.iter().any(|e| e.result.as_str() == "invalid"));
    store.close().await;

    // Nothing in between could read anything.
    let needle = b"CANARY-7f3a9";
    let traffic = relay.recorded();
    assert!(traffic.len() > 1000, "the relay saw the exchanges");
    assert!(contains(&traffic, b"/internal/v1/analyze"));
    assert!(!contains(&traffic, needle), "gateway<->enclave traffic");
    let log = logs();
    assert!(contains(&log, b"AI request relayed"), "logs were captured");
    assert!(!contains(&log, needle), "gateway logs");
    let files = read_tree(gw.dir.path());
    assert!(!contains(&files, needle), "database and data files");
    let hopeless = b"hopeless and exhausted";
    assert!(
        !contains(&traffic, hopeless) && !contains(&log, hopeless) && !contains(&files, hopeless)
    );

    gw.shutdown().await;
    drop(enclave);
}
