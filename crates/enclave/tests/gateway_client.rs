//! The gateway-side `EnclaveClient` against a running enclave on a unix
//! socket: key config, health, attestation relay and sealed-request relay
//! with side data; the relayed answer opens only at the client.

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::*;
use zenalyze_enclave::client::{EnclaveClient, SideData};

#[tokio::test]
async fn gateway_relays_sealed_requests_over_unix_socket() {
    let h = start("unix").await;
    let client = EnclaveClient::new(h.running.address.clone(), Duration::from_secs(10));
    let cfg = client.key_config().await.unwrap();
    assert_eq!(cfg, h.running.enclave.key_config());
    let health = client.health().await.unwrap();
    assert_eq!(health["status"], "ok");
    let att = client.attestation(&[7u8; 16]).await.unwrap();
    assert_eq!(att.status, 200);

    let key = [5u8; 32];
    let env = zenalyze_crypto::envelope::seal_v1(
        &zenalyze_crypto::UserKey::from_bytes(key),
        &[4u8; 12],
        b"entry text",
        None,
    )
    .unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let inner = format!(
        r#"{{"prompt":"p","inputs":[{{"kind":"record","record_id":"rec","key":"{}"}}]}}"#,
        b64.encode(key)
    );
    // The end user seals; the gateway only relays.
    let (sealed, ctx) = zenalyze_ehbp::seal_request(&cfg, inner.as_bytes(), 1024).unwrap();
    let side = SideData {
        instructions: Some("be kind".into()),
        records: [(
            "rec".to_string(),
            zenalyze_crypto::envelope::encode_base64(&env),
        )]
        .into(),
    };
    let a = client
        .analyze(&sealed.encapsulated_key_hex, &sealed.body, &side)
        .await
        .unwrap();
    assert_eq!(a.status, 200);
    assert!(!a.body.windows(10).any(|w| w == b"entry text"));
    let answer = ctx
        .open_response(a.response_nonce.as_deref().unwrap(), &a.body, 1 << 24)
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(v["output"]["inputs"][0]["text"], "entry text");
    assert_eq!(v["output"]["instructions"], "be kind");

    // A stale key relays the 422 problem unchanged.
    let stranger = zenalyze_ehbp::ServerKey::generate(1).key_config();
    let (sealed, _) = zenalyze_ehbp::seal_request(&stranger, inner.as_bytes(), 1024).unwrap();
    let a = client
        .analyze(
            &sealed.encapsulated_key_hex,
            &sealed.body,
            &SideData::default(),
        )
        .await
        .unwrap();
    assert_eq!(a.status, 422);
    assert!(a.response_nonce.is_none());
    assert_eq!(a.content_type.as_deref(), Some("application/problem+json"));

    // An unreachable enclave is a typed error, not a hang.
    let gone = EnclaveClient::new(
        zenalyze_transport::Address::Unix(h.dir.path().join("nope.sock")),
        Duration::from_secs(5),
    );
    assert!(gone.health().await.is_err());
}
