//! Every log line is JSON with the request's id, method, route template,
//! status and latency; no plaintext, envelope, key or token ever appears in
//! the logs, and submitted data of refused requests reaches neither the
//! logs nor the database.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use common::{seal, Db, TestServer};
use serde_json::{json, Value};

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
        let sub = zenalyze_gateway::telemetry::json_subscriber("debug", move || writer.clone());
        tracing::subscriber::set_global_default(sub).expect("global subscriber");
        cap
    })
}

fn logs_text() -> String {
    String::from_utf8(capture().0.lock().expect("lock").clone()).expect("utf8 logs")
}

async fn exercise(s: &TestServer) -> Vec<String> {
    let (_, sk, pk) = s.tenant("logs").await;
    let plaintext_canary = format!("CANARY-PLAINTEXT-{:?}", s.db);
    let envelope = seal("a@example.com", "pw", plaintext_canary.as_bytes());
    let r = s
        .http
        .post(s.url("/v1/records"))
        .bearer_auth(&sk)
        .header("x-request-id", "log-test-create")
        .json(&json!({"user_id": "u1", "envelope": envelope}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let r = s
        .http
        .get(s.url(&format!("/v1/records/{id}")))
        .bearer_auth(&sk)
        .header("x-request-id", "log-test-get")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);

    // Refused requests carrying canaries in every field.
    let user_canary = "CANARY-USERID@example.com";
    let r = s
        .http
        .post(s.url("/v1/records"))
        .bearer_auth(&sk)
        .json(&json!({"user_id": user_canary, "envelope": envelope}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 422);
    let r = s
        .http
        .post(s.url("/v1/records"))
        .bearer_auth(&sk)
        .json(&json!({"user_id": "u1", "envelope": "CANARYBADENVELOPE=="}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 422);
    let r = s
        .http
        .post(s.url("/v1/records"))
        .bearer_auth(&sk)
        .header("content-type", "application/json")
        .body(r#"{"user_id": "u1", "CANARY_FIELD": "CANARY-VALUE", "envelope": 1}"#)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 422);
    let r = s
        .http
        .get(s.url("/v1/records"))
        .bearer_auth("zk_live_CANARYKEY0000000000000000000000000000000")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);

    // Data at rest: no plaintext, no refused input.
    let db = s.database_bytes().await;
    for c in [
        plaintext_canary.as_str(),
        user_canary,
        "CANARYBADENVELOPE",
        "CANARY-VALUE",
    ] {
        assert!(
            !db.windows(c.len()).any(|w| w == c.as_bytes()),
            "{c} found in the database"
        );
    }
    vec![
        plaintext_canary,
        envelope,
        sk,
        pk,
        s.admin_token.clone(),
        user_canary.to_owned(),
        "CANARYBADENVELOPE".to_owned(),
        "CANARY_FIELD".to_owned(),
        "CANARY-VALUE".to_owned(),
        "CANARYKEY".to_owned(),
        format!("/v1/records/{id}"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_structured_and_leak_nothing() {
    capture();
    let mut forbidden = Vec::new();
    for db in [Db::Sqlite, Db::Postgres] {
        let s = TestServer::start(db).await;
        forbidden.extend(
            tokio::time::timeout(std::time::Duration::from_secs(60), exercise(&s))
                .await
                .expect("timeout"),
        );
        s.stop().await.expect("stop");
    }
    let text = logs_text();
    assert!(!text.is_empty(), "no logs captured");
    for secret in &forbidden {
        assert!(!text.contains(secret.as_str()), "log leak of {secret}");
    }
    let mut finished = 0;
    let mut saw_template = false;
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(v["timestamp"].is_string() && v["level"].is_string());
        if v["message"] == "request finished" {
            finished += 1;
            let span = &v["span"];
            assert!(span["request_id"].is_string(), "{line}");
            assert!(span["method"].is_string(), "{line}");
            assert!(span["route"].is_string(), "{line}");
            assert!(v["status"].is_u64() && v["latency_us"].is_u64(), "{line}");
            if span["request_id"] == "log-test-get" {
                assert_eq!(span["route"], "/v1/records/{id}");
                assert_eq!(v["status"], 200);
                saw_template = true;
            }
        }
        // Lines logged inside a request carry its id.
        if v["span"].is_object() {
            assert!(v["span"]["request_id"].is_string(), "{line}");
        }
    }
    assert!(finished >= 12, "only {finished} request lines");
    assert!(saw_template);
}
