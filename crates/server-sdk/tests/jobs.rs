//! Asynchronous AI jobs through the Rust SDK: a callback to a local receiver
//! verified with `webhooks::verify_webhook`, the sealed result fetched with
//! `get_analysis_job` and opened by the client that sealed the request.

mod common;

use std::time::Duration;

use common::{start_dev, DEV_API_KEY};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zenalyze_server::webhooks::{verify_webhook, DEFAULT_TOLERANCE};
use zenalyze_server::{AnalyzeOutcome, AnalyzeRequest, ProblemType, SealedRequest, ZenalyzeServer};

/// Accepts one HTTP request, answers 204, returns (headers, body).
async fn receive_one(listener: tokio::net::TcpListener) -> (http::HeaderMap, Vec<u8>) {
    let (mut s, _) = listener.accept().await.expect("accept");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head_end, content_len) = loop {
        let n = s.read(&mut chunk).await.expect("read");
        assert!(n > 0, "connection closed early");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..pos]).to_string();
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            break (pos + 4, len);
        }
    };
    while buf.len() < head_end + content_len {
        let n = s.read(&mut chunk).await.expect("read body");
        assert!(n > 0);
        buf.extend_from_slice(&chunk[..n]);
    }
    s.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
        .await
        .expect("answer");
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut headers = http::HeaderMap::new();
    for line in head.lines().skip(1) {
        if let Some((k, v)) = line.split_once(':') {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.trim().as_bytes()),
                http::HeaderValue::from_str(v.trim()),
            ) {
                headers.append(k, v);
            }
        }
    }
    (headers, buf[head_end..head_end + content_len].to_vec())
}

#[tokio::test]
async fn callback_job_webhook_and_sealed_result() {
    let dev = start_dev().await;
    let zen = ZenalyzeServer::builder(DEV_API_KEY)
        .base_url(&dev.base_url)
        .build()
        .expect("client");
    let secret = zen.rotate_webhook_secret().await.expect("secret");
    assert!(secret.starts_with("whsec_"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let receiver = tokio::spawn(receive_one(listener));

    let keys = reqwest::get(format!("{}/.well-known/hpke-keys", dev.base_url))
        .await
        .expect("keys")
        .bytes()
        .await
        .expect("body");
    let config = zenalyze_ehbp::KeyConfig::parse_keys_body(&keys).expect("config");
    let plaintext = br#"{"prompt":"mood?","inputs":[{"kind":"text","text":"A calm and happy day at the lake."}]}"#;
    let (sealed, ctx) = zenalyze_ehbp::seal_request(&config, plaintext, 65536).expect("seal");
    let outcome = zen
        .analyze_with_ai(
            AnalyzeRequest::new(SealedRequest {
                body: sealed.body,
                encapsulated_key: sealed.encapsulated_key_hex,
            })
            .callback_url(format!("http://127.0.0.1:{port}/hooks/zenalyze")),
        )
        .await
        .expect("analyze");
    let AnalyzeOutcome::Job(job) = outcome else {
        panic!("expected a job");
    };
    assert_eq!(job.status, 202);

    let (headers, body) = tokio::time::timeout(Duration::from_secs(20), receiver)
        .await
        .expect("webhook within 20 s")
        .expect("receiver");
    let verified = verify_webhook(&body, &headers, &secret, DEFAULT_TOLERANCE).expect("verified");
    assert!(!verified.id.is_empty());
    let event: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(event["type"], "ai.job.completed");
    assert_eq!(event["data"]["job_id"], job.job_id.as_str());
    assert!(!String::from_utf8_lossy(&body).contains("lake"));
    // Tampering is caught.
    let mut tampered = body.clone();
    tampered.push(b' ');
    assert!(verify_webhook(&tampered, &headers, &secret, DEFAULT_TOLERANCE).is_err());

    let done = zen.get_analysis_job(&job.job_id).await.expect("job");
    assert_eq!(done.status, "succeeded");
    let result = done.result.expect("result");
    assert_eq!(result.status, 200);
    let opened = ctx
        .open_response(
            result.response_nonce.as_deref().expect("nonce"),
            &result.body,
            16 * 1024 * 1024,
        )
        .expect("open");
    let answer: serde_json::Value = serde_json::from_slice(&opened).expect("answer");
    assert_eq!(answer["provider"], "offline");

    let e = zen
        .get_analysis_job("job_doesnotexist000")
        .await
        .unwrap_err();
    assert_eq!(e.problem(), Some(ProblemType::NotFound));
}
