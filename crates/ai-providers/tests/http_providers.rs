//! The HTTP providers against a fake upstream on 127.0.0.1:0 speaking each
//! API's wire format. Every test bounds its own duration (short client
//! timeouts), so nothing can hang.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use zenalyze_ai_providers::{
    AnalysisRequest, Anthropic, AnthropicConfig, ApiKey, Input, OpenAiCompatible, OpenAiConfig,
    Provider, ProviderError, RefusalReason,
};

/// One request as the fake upstream received it.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: serde_json::Value,
}

/// What the fake upstream answers.
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, &'static str)>,
    body: String,
    delay: Duration,
}

impl Reply {
    fn json(status: u16, body: serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![("content-type", "application/json")],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }
}

#[derive(Clone)]
struct Fake {
    seen: Arc<Mutex<Vec<Seen>>>,
    reply: Reply,
}

async fn handle(
    axum::extract::State(fake): axum::extract::State<Fake>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    fake.seen.lock().unwrap().push(Seen {
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
        body,
    });
    if !fake.reply.delay.is_zero() {
        tokio::time::sleep(fake.reply.delay).await;
    }
    let mut resp = (
        StatusCode::from_u16(fake.reply.status).unwrap(),
        fake.reply.body.clone(),
    )
        .into_response();
    for (k, v) in &fake.reply.headers {
        resp.headers_mut()
            .insert(HeaderName::from_static(k), HeaderValue::from_static(v));
    }
    resp
}

/// Starts the fake upstream; returns its base URL and the request log.
async fn fake(reply: Reply) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new().fallback(handle).with_state(Fake {
        seen: seen.clone(),
        reply,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), seen)
}

fn journal_request() -> AnalysisRequest {
    let mut r = AnalysisRequest::new("How was my week?");
    r.instructions = Some("You are a supportive journaling assistant.".into());
    r.inputs.push(Input::Text("Monday was rough.".into()));
    r.inputs.push(Input::Record {
        record_id: "rec_42".into(),
        plaintext: br#"{"entry":"Slept well on Friday."}"#.to_vec(),
    });
    r
}

fn openai_ok() -> serde_json::Value {
    serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-test-2025",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "You had a mixed week."},
                     "logprobs": null, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 31, "completion_tokens": 6, "total_tokens": 37}
    })
}

fn anthropic_ok() -> serde_json::Value {
    serde_json::json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
        "content": [{"type": "text", "text": "You had "}, {"type": "text", "text": "a mixed week."}],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 40, "output_tokens": 7}
    })
}

fn openai(base: &str, timeout: Duration) -> OpenAiCompatible {
    let mut cfg = OpenAiConfig::openai(ApiKey::from("sk-test-secret"));
    cfg.base_url = format!("{base}/v1");
    cfg.default_model = "gpt-test".into();
    cfg.timeout = timeout;
    OpenAiCompatible::new(cfg, Some(reqwest::Client::new())).unwrap()
}

fn anthropic(base: &str, timeout: Duration) -> Anthropic {
    let mut cfg = AnthropicConfig::new(ApiKey::from("ant-test-secret"));
    cfg.base_url = base.to_owned();
    cfg.default_model = "claude-test".into();
    cfg.timeout = timeout;
    Anthropic::new(cfg, Some(reqwest::Client::new())).unwrap()
}

fn header<'a>(s: &'a Seen, name: &str) -> Option<&'a str> {
    s.headers.get(name).and_then(|v| v.to_str().ok())
}

/// No header other than `expected` carries the key.
fn key_only_in(s: &Seen, key: &str, expected: &str) {
    for (name, value) in &s.headers {
        let v = value.to_str().unwrap_or("");
        if name.as_str() != expected {
            assert!(!v.contains(key), "key leaked in header {name}");
        }
    }
    assert!(!s.body.to_string().contains(key), "key leaked in body");
    assert!(!s.query.clone().unwrap_or_default().contains(key));
}

const T: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------- OpenAI

#[tokio::test]
async fn openai_success_and_request_shape() {
    let (base, seen) = fake(Reply::json(200, openai_ok())).await;
    let p: Arc<dyn Provider> = Arc::new(openai(&base, T));
    let mut req = journal_request();
    req.max_tokens = Some(300);
    let a = p.analyze(&req).await.unwrap();
    assert_eq!(a.provider, "openai-compatible");
    assert_eq!(a.model, "gpt-test-2025");
    assert_eq!(a.output, serde_json::json!("You had a mixed week."));
    assert_eq!(a.finish_reason.as_deref(), Some("stop"));
    let u = a.usage.unwrap();
    assert_eq!((u.input_tokens, u.output_tokens), (31, 6));

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!(s.path, "/v1/chat/completions");
    assert_eq!(header(s, "authorization"), Some("Bearer sk-test-secret"));
    assert_eq!(header(s, "content-type"), Some("application/json"));
    assert!(s.headers.get("x-api-key").is_none());
    assert!(s.headers.get("api-key").is_none());
    key_only_in(s, "sk-test-secret", "authorization");
    assert_eq!(s.body["model"], "gpt-test");
    assert_eq!(s.body["max_tokens"], 300);
    assert_eq!(s.body["stream"], false);
    let msgs = s.body["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["role"], "system");
    assert_eq!(
        msgs[0]["content"],
        "You are a supportive journaling assistant."
    );
    assert_eq!(msgs[1]["role"], "user");
    let user = msgs[1]["content"].as_str().unwrap();
    assert!(user.starts_with("How was my week?\n\nMonday was rough.\n\n[record rec_42]\n"));
    assert!(user.contains("Slept well on Friday."));
    // The instructions only appear in the system message.
    assert!(!user.contains("supportive"));
}

#[tokio::test]
async fn openai_requested_model_and_image_parts() {
    let (base, seen) = fake(Reply::json(200, openai_ok())).await;
    let p = openai(&base, T);
    let mut req = AnalysisRequest::new("What is in this photo?");
    req.model = Some("gpt-vision".into());
    req.inputs.push(Input::Bytes {
        media_type: "image/png".into(),
        data: vec![0x89, b'P', b'N', b'G'],
    });
    p.analyze(&req).await.unwrap();
    let seen = seen.lock().unwrap();
    let b = &seen[0].body;
    assert_eq!(b["model"], "gpt-vision");
    assert_eq!(b["max_tokens"], 1024, "default max_tokens applied");
    assert_eq!(
        b["messages"].as_array().unwrap().len(),
        1,
        "no system message without instructions"
    );
    let parts = &b["messages"][0]["content"];
    assert_eq!(
        parts[0],
        serde_json::json!({"type":"text","text":"What is in this photo?"})
    );
    assert_eq!(parts[1]["type"], "image_url");
    assert_eq!(
        parts[1]["image_url"]["url"],
        "data:image/png;base64,iVBORw=="
    );
}

#[tokio::test]
async fn azure_uses_api_key_header_and_api_version() {
    let (base, seen) = fake(Reply::json(200, openai_ok())).await;
    let mut cfg = OpenAiConfig::azure(
        &base,
        "journal-gpt",
        "2024-10-21",
        ApiKey::from("az-secret"),
    );
    cfg.timeout = T;
    let p = OpenAiCompatible::new(cfg, Some(reqwest::Client::new())).unwrap();
    p.analyze(&journal_request()).await.unwrap();
    let seen = seen.lock().unwrap();
    let s = &seen[0];
    assert_eq!(s.path, "/openai/deployments/journal-gpt/chat/completions");
    assert_eq!(s.query.as_deref(), Some("api-version=2024-10-21"));
    assert_eq!(header(s, "api-key"), Some("az-secret"));
    assert!(s.headers.get("authorization").is_none());
    key_only_in(s, "az-secret", "api-key");
}

#[tokio::test]
async fn local_server_without_key_sends_no_auth() {
    let (base, seen) = fake(Reply::json(200, openai_ok())).await;
    let mut cfg = OpenAiConfig::local(&format!("{base}/v1"), "llama3.2");
    cfg.timeout = T;
    let p = OpenAiCompatible::new(cfg, None).unwrap();
    p.analyze(&journal_request()).await.unwrap();
    let seen = seen.lock().unwrap();
    assert!(seen[0].headers.get("authorization").is_none());
    assert_eq!(seen[0].body["model"], "llama3.2");
}

#[tokio::test]
async fn caller_client_is_used() {
    let (base, seen) = fake(Reply::json(200, openai_ok())).await;
    let mut h = reqwest::header::HeaderMap::new();
    h.insert(
        "x-egress-proxy",
        reqwest::header::HeaderValue::from_static("vsock"),
    );
    let client = reqwest::Client::builder()
        .default_headers(h)
        .build()
        .unwrap();
    let mut cfg = OpenAiConfig::local(&format!("{base}/v1"), "m");
    cfg.timeout = T;
    let p = OpenAiCompatible::new(cfg, Some(client)).unwrap();
    p.analyze(&journal_request()).await.unwrap();
    assert_eq!(
        header(&seen.lock().unwrap()[0], "x-egress-proxy"),
        Some("vsock")
    );
}

#[tokio::test]
async fn openai_401_error_body() {
    let (base, _) = fake(Reply::json(
        401,
        serde_json::json!({"error": {"message": "Incorrect API key provided: SECRET-ECHO", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
    ))
    .await;
    let e = openai(&base, T)
        .analyze(&journal_request())
        .await
        .unwrap_err();
    match &e {
        ProviderError::Upstream { status, error_type } => {
            assert_eq!(*status, 401);
            assert_eq!(error_type.as_deref(), Some("invalid_request_error"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!e.is_retryable());
    assert!(!format!("{e} {e:?}").contains("SECRET-ECHO"));
}

#[tokio::test]
async fn openai_429_retry_after() {
    let mut reply = Reply::json(
        429,
        serde_json::json!({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}),
    );
    reply.headers.push(("retry-after", "7"));
    let (base, _) = fake(reply).await;
    let e = openai(&base, T)
        .analyze(&journal_request())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::RateLimited { retry_after: Some(d), error_type: Some(t) } if *d == Duration::from_secs(7) && t == "requests"),
        "{e:?}"
    );
    assert_eq!(e.status(), Some(429));
    assert!(e.is_retryable());
}

#[tokio::test]
async fn openai_5xx() {
    let (base, _) = fake(Reply::json(
        500,
        serde_json::json!({"error": {"message": "server error", "type": "server_error"}}),
    ))
    .await;
    let e = openai(&base, T)
        .analyze(&journal_request())
        .await
        .unwrap_err();
    assert!(
        matches!(e, ProviderError::Upstream { status: 500, .. }),
        "{e:?}"
    );
    assert!(e.is_retryable());

    let mut reply = Reply::json(503, serde_json::json!({"error": {"type": "overloaded"}}));
    reply.headers.push(("retry-after", "2"));
    let (base, _) = fake(reply).await;
    let e = openai(&base, T)
        .analyze(&journal_request())
        .await
        .unwrap_err();
    assert!(
        matches!(e, ProviderError::Overloaded { status: 503, retry_after: Some(d), .. } if d == Duration::from_secs(2)),
        "{e:?}"
    );
}

#[tokio::test]
async fn openai_timeout() {
    let mut reply = Reply::json(200, openai_ok());
    reply.delay = Duration::from_secs(3);
    let (base, _) = fake(reply).await;
    let started = Instant::now();
    let e = openai(&base, Duration::from_millis(300))
        .analyze(&journal_request())
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Timeout), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(e.is_retryable());
}

#[tokio::test]
async fn openai_malformed_responses() {
    for body in [
        "not json at all",
        r#"{"choices": []}"#,
        r#"{"choices": [{"message": {"role": "assistant"}}]}"#,
        r#"{"object": "list", "data": []}"#,
    ] {
        let (base, _) = fake(Reply {
            status: 200,
            headers: vec![("content-type", "application/json")],
            body: body.to_owned(),
            delay: Duration::ZERO,
        })
        .await;
        let e = openai(&base, T)
            .analyze(&journal_request())
            .await
            .unwrap_err();
        assert!(
            matches!(e, ProviderError::MalformedResponse(_)),
            "{body}: {e:?}"
        );
    }
}

#[tokio::test]
async fn openai_response_size_bounded() {
    let big = format!(
        r#"{{"choices":[{{"message":{{"content":"{}"}}}}]}}"#,
        "a".repeat(4096)
    );
    let (base, _) = fake(Reply {
        status: 200,
        headers: vec![],
        body: big,
        delay: Duration::ZERO,
    })
    .await;
    let mut cfg = OpenAiConfig::local(&format!("{base}/v1"), "m");
    cfg.max_response_bytes = 1024;
    cfg.timeout = T;
    let p = OpenAiCompatible::new(cfg, None).unwrap();
    let e = p.analyze(&journal_request()).await.unwrap_err();
    assert!(
        matches!(e, ProviderError::MalformedResponse("response too large")),
        "{e:?}"
    );
}

#[tokio::test]
async fn refused_inputs_never_reach_upstream() {
    let (base, seen) = fake(Reply::json(200, openai_ok())).await;
    let p = openai(&base, T);
    let mut req = AnalysisRequest::new("x");
    req.inputs.push(Input::Bytes {
        media_type: "application/zip".into(),
        data: vec![1, 2],
    });
    let e = p.analyze(&req).await.unwrap_err();
    assert!(matches!(
        e,
        ProviderError::InputRefused(RefusalReason::UnsupportedMediaType)
    ));
    let mut req = AnalysisRequest::new("x");
    req.inputs.push(Input::Bytes {
        media_type: "application/pdf".into(),
        data: vec![1, 2],
    });
    assert!(
        p.analyze(&req).await.is_err(),
        "PDF is not forwarded to chat completions"
    );
    let mut req = AnalysisRequest::new("x");
    req.model = Some("bad\nmodel".into());
    assert!(matches!(
        p.analyze(&req).await,
        Err(ProviderError::InputRefused(RefusalReason::InvalidModel))
    ));
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn connection_refused_is_transport_error() {
    // Bind then drop to obtain a loopback port with nothing listening.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let e = openai(&format!("http://{addr}"), T)
        .analyze(&journal_request())
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Transport(_)), "{e:?}");
}

// ------------------------------------------------------------- Anthropic

#[tokio::test]
async fn anthropic_success_and_request_shape() {
    let (base, seen) = fake(Reply::json(200, anthropic_ok())).await;
    let p: Arc<dyn Provider> = Arc::new(anthropic(&base, T));
    let a = p.analyze(&journal_request()).await.unwrap();
    assert_eq!(a.provider, "anthropic");
    assert_eq!(a.model, "claude-test");
    assert_eq!(a.output, serde_json::json!("You had a mixed week."));
    assert_eq!(a.finish_reason.as_deref(), Some("end_turn"));
    let u = a.usage.unwrap();
    assert_eq!((u.input_tokens, u.output_tokens), (40, 7));

    let seen = seen.lock().unwrap();
    let s = &seen[0];
    assert_eq!(s.path, "/v1/messages");
    assert_eq!(header(s, "x-api-key"), Some("ant-test-secret"));
    assert_eq!(header(s, "anthropic-version"), Some("2023-06-01"));
    assert!(s.headers.get("authorization").is_none());
    key_only_in(s, "ant-test-secret", "x-api-key");
    assert_eq!(s.body["model"], "claude-test");
    assert_eq!(s.body["max_tokens"], 1024, "required field defaulted");
    assert_eq!(
        s.body["system"],
        "You are a supportive journaling assistant."
    );
    let msgs = s.body["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["role"], "user");
    let blocks = msgs[0]["content"].as_array().unwrap();
    assert_eq!(blocks.len(), 3);
    assert_eq!(
        blocks[0],
        serde_json::json!({"type":"text","text":"How was my week?"})
    );
    assert_eq!(
        blocks[1],
        serde_json::json!({"type":"text","text":"Monday was rough."})
    );
    assert!(blocks[2]["text"]
        .as_str()
        .unwrap()
        .starts_with("[record rec_42]\n"));
    assert!(!s.body["messages"].to_string().contains("supportive"));
}

#[tokio::test]
async fn anthropic_max_tokens_and_model_from_request() {
    let (base, seen) = fake(Reply::json(200, anthropic_ok())).await;
    let mut req = journal_request();
    req.max_tokens = Some(77);
    req.model = Some("claude-other".into());
    req.instructions = None;
    anthropic(&base, T).analyze(&req).await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].body["max_tokens"], 77);
    assert_eq!(seen[0].body["model"], "claude-other");
    assert!(seen[0].body.get("system").is_none());
}

#[tokio::test]
async fn anthropic_error_body() {
    let (base, _) = fake(Reply::json(
        400,
        serde_json::json!({"type": "error", "error": {"type": "invalid_request_error", "message": "messages: SECRET-ECHO"}}),
    ))
    .await;
    let e = anthropic(&base, T)
        .analyze(&journal_request())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Upstream { status: 400, error_type: Some(t) } if t == "invalid_request_error"),
        "{e:?}"
    );
    assert!(!format!("{e} {e:?}").contains("SECRET-ECHO"));

    let (base, _) = fake(Reply::json(
        401,
        serde_json::json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}),
    ))
    .await;
    let e = anthropic(&base, T)
        .analyze(&journal_request())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Upstream { status: 401, error_type: Some(t) } if t == "authentication_error"),
        "{e:?}"
    );
}

#[tokio::test]
async fn anthropic_429_and_529() {
    let mut reply = Reply::json(
        429,
        serde_json::json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}),
    );
    reply.headers.push(("retry-after", "12"));
    let (base, _) = fake(reply).await;
    let e = anthropic(&base, T)
        .analyze(&journal_request())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::RateLimited { retry_after: Some(d), error_type: Some(t) } if *d == Duration::from_secs(12) && t == "rate_limit_error"),
        "{e:?}"
    );

    let (base, _) = fake(Reply::json(
        529,
        serde_json::json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ))
    .await;
    let e = anthropic(&base, T)
        .analyze(&journal_request())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Overloaded { status: 529, retry_after: None, error_type: Some(t) } if t == "overloaded_error"),
        "{e:?}"
    );
    assert!(e.is_retryable());

    let (base, _) = fake(Reply::json(
        500,
        serde_json::json!({"type": "error", "error": {"type": "api_error", "message": "oops"}}),
    ))
    .await;
    let e = anthropic(&base, T)
        .analyze(&journal_request())
        .await
        .unwrap_err();
    assert!(
        matches!(e, ProviderError::Upstream { status: 500, .. }),
        "{e:?}"
    );
}

#[tokio::test]
async fn anthropic_timeout() {
    let mut reply = Reply::json(200, anthropic_ok());
    reply.delay = Duration::from_secs(3);
    let (base, _) = fake(reply).await;
    let started = Instant::now();
    let e = anthropic(&base, Duration::from_millis(300))
        .analyze(&journal_request())
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Timeout), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn anthropic_malformed() {
    for body in [
        "<html>bad gateway</html>",
        r#"{"type":"message","content":"not-a-list"}"#,
        r#"{"type":"message","content":[]}"#,
    ] {
        let (base, _) = fake(Reply {
            status: 200,
            headers: vec![],
            body: body.to_owned(),
            delay: Duration::ZERO,
        })
        .await;
        let e = anthropic(&base, T)
            .analyze(&journal_request())
            .await
            .unwrap_err();
        assert!(
            matches!(e, ProviderError::MalformedResponse(_)),
            "{body}: {e:?}"
        );
    }
}

#[tokio::test]
async fn anthropic_pdf_and_image_blocks() {
    let (base, seen) = fake(Reply::json(200, anthropic_ok())).await;
    let mut req = AnalysisRequest::new("Read these");
    req.inputs.push(Input::Bytes {
        media_type: "application/pdf".into(),
        data: b"%PDF".to_vec(),
    });
    req.inputs.push(Input::Bytes {
        media_type: "image/gif".into(),
        data: b"GIF8".to_vec(),
    });
    anthropic(&base, T).analyze(&req).await.unwrap();
    let seen = seen.lock().unwrap();
    let blocks = &seen[0].body["messages"][0]["content"];
    assert_eq!(
        blocks[1],
        serde_json::json!({"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERg=="}})
    );
    assert_eq!(
        blocks[2],
        serde_json::json!({"type":"image","source":{"type":"base64","media_type":"image/gif","data":"R0lGOA=="}})
    );
}

/// The upstream sends headers at once, then stalls in the middle of the body:
/// the whole-call timeout must still fire.
#[tokio::test]
async fn stalled_body_times_out() {
    use futures_util::StreamExt;
    async fn stalling() -> Response {
        let first: Result<Bytes, std::convert::Infallible> =
            Ok(Bytes::from_static(br#"{"choices":[{"message":"#));
        let stream = futures_util::stream::iter([first]).chain(futures_util::stream::pending());
        let mut resp = Response::new(axum::body::Body::from_stream(stream));
        resp.headers_mut().insert(
            HeaderName::from_static("content-type"),
            HeaderValue::from_static("application/json"),
        );
        resp
    }
    let app = Router::new().fallback(stalling);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let started = Instant::now();
    let e = openai(&format!("http://{addr}"), Duration::from_millis(400))
        .analyze(&journal_request())
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Timeout), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// A chunked body (no Content-Length) that grows past the bound is cut off.
#[tokio::test]
async fn chunked_response_size_bounded() {
    async fn endless() -> Response {
        let chunk: Result<Bytes, std::convert::Infallible> = Ok(Bytes::from(vec![b' '; 512]));
        let stream = futures_util::stream::iter(std::iter::repeat_n(chunk, 64));
        Response::new(axum::body::Body::from_stream(stream))
    }
    let app = Router::new().fallback(endless);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let mut cfg = OpenAiConfig::local(&format!("http://{addr}/v1"), "m");
    cfg.max_response_bytes = 4096;
    cfg.timeout = T;
    let e = OpenAiCompatible::new(cfg, None)
        .unwrap()
        .analyze(&journal_request())
        .await
        .unwrap_err();
    assert!(
        matches!(e, ProviderError::MalformedResponse("response too large")),
        "{e:?}"
    );
}
