//! Asynchronous AI jobs with Standard Webhooks: 202 + job id, the sealed
//! result at GET /v1/ai/jobs/{id} (opened by the client only), the webhook
//! verified with a verifier that reproduces the Standard Webhooks
//! known-answer vector, retried after a 500, given up after the schedule;
//! callback URL rules.

mod ai_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ai_common::{enclave_dir, Gateway, IsolatedEnclave};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use zenalyze_gateway::ai::webhooks::{self, CallbackPolicy, WebhookSettings, WrapKey};
use zenalyze_gateway::ai::AiSettings;

type Deliveries = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

#[derive(Clone, Default)]
struct Receiver {
    got: Deliveries,
    /// Statuses to answer, in order; the last repeats.
    script: Arc<Vec<u16>>,
}

async fn hook(
    State(r): State<Receiver>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let n = {
        let mut g = r.got.lock().expect("lock");
        g.push((headers, body.to_vec()));
        g.len()
    };
    let s = r
        .script
        .get(n - 1)
        .or(r.script.last())
        .copied()
        .unwrap_or(200);
    StatusCode::from_u16(s).unwrap_or(StatusCode::OK)
}

async fn receiver(script: Vec<u16>) -> (String, Receiver) {
    let r = Receiver {
        got: Arc::default(),
        script: Arc::new(script),
    };
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(r.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    (format!("http://{addr}/hook"), r)
}

async fn wait_for(r: &Receiver, n: usize, within: Duration) {
    let t = std::time::Instant::now();
    while r.got.lock().expect("lock").len() < n {
        assert!(t.elapsed() < within, "expected {n} deliveries");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_jobs_and_webhooks() {
    tokio::time::timeout(Duration::from_secs(90), run())
        .await
        .expect("timed out");
}

async fn run() {
    // The verifier reproduces the published Standard Webhooks vector.
    assert!(webhooks::verify(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        br#"{"test": 2432232314}"#,
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    ));

    let dir = tempfile::tempdir().expect("tempdir");
    let edir = enclave_dir(dir.path());
    let enclave = IsolatedEnclave::start(&edir, dir.path().join("e0.sock"), "enclave-0");
    let schedule = vec![Duration::from_millis(50); 4]; // 5 attempts
    let settings = AiSettings {
        webhooks: WebhookSettings {
            schedule,
            attempt_timeout: Duration::from_secs(2),
            policy: CallbackPolicy::DEVELOPMENT,
            wrap_key: Some(WrapKey::derive(&[7u8; 32])),
        },
        ..Default::default()
    };
    let gw = Gateway::start_with(dir, vec![enclave.address.clone()], |_| {}, settings).await;

    // The tenant's webhook secret (admin scope), shown once.
    let r = gw
        .http
        .post(gw.url("/v1/ai/webhook-secret"))
        .bearer_auth(gw.secret_key())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 201);
    let secret = r.json::<serde_json::Value>().await.expect("json")["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    assert!(secret.starts_with("whsec_"));
    // A publishable key cannot rotate it.
    let r = gw
        .http
        .post(gw.url("/v1/ai/webhook-secret"))
        .bearer_auth(gw.publishable_key())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 403);

    let keys = gw
        .http
        .get(gw.url("/.well-known/hpke-keys"))
        .send()
        .await
        .expect("keys")
        .bytes()
        .await
        .expect("body");
    let config = zenalyze_ehbp::KeyConfig::parse_keys_body(&keys).expect("config");
    let seal = || {
        zenalyze_ehbp::seal_request(
            &config,
            br#"{"prompt":"How was it?","inputs":[{"kind":"text","text":"A wonderful, happy day."}]}"#,
            4096,
        )
        .expect("seal")
    };

    // 1. Callback answered 500 once, then 200: delivered on the 2nd attempt.
    let (hook_url, rec) = receiver(vec![500, 200]).await;
    let (sealed, ctx) = seal();
    let r = gw
        .http
        .post(gw.url("/v1/ai/analyze"))
        .query(&[("callback_url", hook_url.as_str())])
        .bearer_auth(gw.publishable_key())
        .header("ehbp-encapsulated-key", &sealed.encapsulated_key_hex)
        .body(sealed.body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 202);
    let job_id = r.json::<serde_json::Value>().await.expect("json")["job_id"]
        .as_str()
        .expect("job id")
        .to_owned();
    wait_for(&rec, 2, Duration::from_secs(10)).await;
    let got = rec.got.lock().expect("lock").clone();
    assert_eq!(got.len(), 2);
    let id0 = got[0].0["webhook-id"].to_str().expect("id").to_owned();
    assert_eq!(
        id0,
        got[1].0["webhook-id"].to_str().expect("id"),
        "same id across retries"
    );
    for (h, body) in &got {
        let ts: u64 = h["webhook-timestamp"]
            .to_str()
            .expect("ts")
            .parse()
            .expect("ts");
        assert!(webhooks::verify(
            &secret,
            &id0,
            ts,
            body,
            h["webhook-signature"].to_str().expect("sig")
        ));
        assert!(!webhooks::verify(
            "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            &id0,
            ts,
            body,
            h["webhook-signature"].to_str().expect("sig")
        ));
        let v: serde_json::Value = serde_json::from_slice(body).expect("json");
        assert_eq!(v["data"]["job_id"], job_id.as_str());
        assert_eq!(v["data"]["status"], "succeeded");
        let keys: Vec<&String> = v.as_object().expect("obj").keys().collect();
        assert_eq!(keys.len(), 3, "type, timestamp, data only");
        assert!(!String::from_utf8_lossy(body).contains("wonderful"));
    }
    // The sealed result: only the client opens it.
    let j: serde_json::Value = gw
        .http
        .get(gw.url(&format!("/v1/ai/jobs/{job_id}")))
        .bearer_auth(gw.publishable_key())
        .send()
        .await
        .expect("job")
        .json()
        .await
        .expect("json");
    assert_eq!(j["status"], "succeeded");
    assert_eq!(j["result"]["http_status"], 200);
    let body = base64::engine::general_purpose::STANDARD
        .decode(j["result"]["body"].as_str().expect("body"))
        .expect("b64");
    let opened = ctx
        .open_response(
            j["result"]["response_nonce"].as_str().expect("nonce"),
            &body,
            1 << 24,
        )
        .expect("open");
    let a: serde_json::Value = serde_json::from_slice(&opened).expect("answer");
    assert!(
        a["output"]["sentiment"]["overall"]["compound"]
            .as_f64()
            .expect("score")
            > 0.3
    );
    // Another tenant's key / unknown job: 404.
    let r = gw
        .http
        .get(gw.url("/v1/ai/jobs/job_0000000000000000"))
        .bearer_auth(gw.publishable_key())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 404);

    // 2. Always 500: exactly 5 attempts, then it gives up.
    let (hook_url, rec) = receiver(vec![500]).await;
    let (sealed, _ctx) = seal();
    let r = gw
        .http
        .post(gw.url("/v1/ai/analyze"))
        .bearer_auth(gw.publishable_key())
        .header("callback-url", &hook_url)
        .header("ehbp-encapsulated-key", &sealed.encapsulated_key_hex)
        .body(sealed.body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 202);
    wait_for(&rec, 5, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        rec.got.lock().expect("lock").len(),
        5,
        "gave up after the schedule"
    );

    // 3. Prefer: respond-async without a callback: poll the job.
    let (sealed, ctx) = seal();
    let r = gw
        .http
        .post(gw.url("/v1/ai/analyze"))
        .bearer_auth(gw.publishable_key())
        .header("prefer", "respond-async")
        .header("ehbp-encapsulated-key", &sealed.encapsulated_key_hex)
        .body(sealed.body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 202);
    let job_id = r.json::<serde_json::Value>().await.expect("json")["job_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let t = std::time::Instant::now();
    let j = loop {
        let j: serde_json::Value = gw
            .http
            .get(gw.url(&format!("/v1/ai/jobs/{job_id}")))
            .bearer_auth(gw.publishable_key())
            .send()
            .await
            .expect("job")
            .json()
            .await
            .expect("json");
        if j["status"] != "pending" {
            break j;
        }
        assert!(t.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let body = base64::engine::general_purpose::STANDARD
        .decode(j["result"]["body"].as_str().expect("body"))
        .expect("b64");
    ctx.open_response(
        j["result"]["response_nonce"].as_str().expect("nonce"),
        &body,
        1 << 24,
    )
    .expect("open");

    // 4. Callback URL rules: private addresses refused even in development.
    for bad in [
        "http://10.0.0.1/hook",
        "ftp://127.0.0.1/",
        "http://169.254.169.254/x",
    ] {
        let (sealed, _) = seal();
        let r = gw
            .http
            .post(gw.url("/v1/ai/analyze"))
            .query(&[("callback_url", bad)])
            .bearer_auth(gw.publishable_key())
            .header("ehbp-encapsulated-key", &sealed.encapsulated_key_hex)
            .body(sealed.body)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 422, "{bad}");
    }

    gw.shutdown().await;
    drop(enclave);
}
