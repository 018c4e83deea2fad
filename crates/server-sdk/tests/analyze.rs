//! Scenario 2 through the Rust server SDK: the client seals an AI request
//! (EHBP, `zenalyze-ehbp`) naming a stored record, the backend forwards it
//! with `analyze_with_ai`, and the client opens the sealed answer.

mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{envelope_with, start_dev, DEV_API_KEY};
use zenalyze_server::{
    AnalyzeOutcome, AnalyzeRequest, ProblemType, SealedRequest, StoreEncrypted, ZenalyzeServer,
};

async fn key_config(base: &str) -> zenalyze_ehbp::KeyConfig {
    let body = reqwest::get(format!("{base}/.well-known/hpke-keys"))
        .await
        .expect("keys")
        .bytes()
        .await
        .expect("body");
    zenalyze_ehbp::KeyConfig::parse_keys_body(&body).expect("key config")
}

#[tokio::test]
async fn analyze_a_stored_record_end_to_end() {
    let dev = start_dev().await;
    let zen = ZenalyzeServer::builder(DEV_API_KEY)
        .base_url(&dev.base_url)
        .build()
        .expect("client");
    let user_key: [u8; 32] = rand::random();
    let entry = b"Felt anxious in the morning, calmer after a long walk.";
    let stored = zen
        .store_encrypted(StoreEncrypted::new(
            "usr_rust",
            envelope_with(&user_key, entry),
        ))
        .await
        .expect("store");

    // Client side: seal the request to the enclave's key config.
    let config = key_config(&dev.base_url).await;
    let request = serde_json::json!({
        "prompt": "Summarize the mood.",
        "inputs": [{"kind": "record", "record_id": stored.id, "key": STANDARD.encode(user_key)}],
    });
    let plaintext = serde_json::to_vec(&request).expect("json");
    let (sealed, response_ctx) =
        zenalyze_ehbp::seal_request(&config, &plaintext, 64 * 1024).expect("seal");

    // Backend: forward ciphertext plus its instructions and the record id.
    let outcome = zen
        .analyze_with_ai(
            AnalyzeRequest::new(SealedRequest {
                body: sealed.body.clone(),
                encapsulated_key: sealed.encapsulated_key_hex.clone(),
            })
            .instructions("You are a supportive journaling assistant — never give medical advice.")
            .record_id(stored.id.clone()),
        )
        .await
        .expect("analyze");
    let AnalyzeOutcome::Sealed(answer) = outcome else {
        panic!("expected a sealed answer");
    };
    assert_eq!(answer.status, 200);
    assert!(!answer.body.windows(7).any(|w| w == b"anxious"));

    // Client side: open it.
    let opened = response_ctx
        .open_response(&answer.response_nonce, &answer.body, 16 * 1024 * 1024)
        .expect("open");
    let v: serde_json::Value = serde_json::from_slice(&opened).expect("answer json");
    assert_eq!(v["provider"], "offline");
    assert!(v.get("output").is_some());

    // A sealed enclave error is relayed too (record named but not supplied).
    let (sealed, ctx) = zenalyze_ehbp::seal_request(&config, &plaintext, 64 * 1024).expect("seal");
    let AnalyzeOutcome::Sealed(answer) = zen
        .analyze_with_ai(AnalyzeRequest::new(SealedRequest {
            body: sealed.body.clone(),
            encapsulated_key: sealed.encapsulated_key_hex.clone(),
        }))
        .await
        .expect("sealed error")
    else {
        panic!("expected a sealed answer");
    };
    assert_eq!(answer.status, 422);
    let opened = ctx
        .open_response(&answer.response_nonce, &answer.body, 16 * 1024 * 1024)
        .expect("open");
    let v: serde_json::Value = serde_json::from_slice(&opened).expect("json");
    assert_eq!(v["error"]["code"], "record_not_supplied");

    // An unknown record id is refused by the gateway (typed 404).
    let e = zen
        .analyze_with_ai(
            AnalyzeRequest::new(SealedRequest {
                body: sealed.body,
                encapsulated_key: sealed.encapsulated_key_hex,
            })
            .record_id("rec_doesnotexist0000"),
        )
        .await
        .unwrap_err();
    assert_eq!(e.problem(), Some(ProblemType::NotFound));
}
