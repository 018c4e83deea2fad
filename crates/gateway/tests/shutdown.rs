//! Graceful shutdown drains in-flight requests and flushes the audit
//! writer; request deadlines answer 503 problems.

mod common;

use std::time::Duration;

use axum::routing::get;
use common::{expect_problem, seal, Db, Options, TestServer};
use serde_json::json;
use zenalyze_gateway::config::HttpSettings;
use zenalyze_store::StoreOptions;

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_millis(800)).await;
    "done"
}

fn slow_router() -> utoipa_axum::router::OpenApiRouter<zenalyze_gateway::AppState> {
    utoipa_axum::router::OpenApiRouter::new().route("/v1/test/slow", get(slow))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_in_flight_requests_and_flushes_audit() {
    let s = TestServer::start_with(
        Db::Sqlite,
        Options {
            extra: Some(slow_router()),
            ..Options::default()
        },
    )
    .await;
    let (_, sk, _) = s.tenant("shutdown").await;

    // Concurrent writes racing the shutdown.
    let mut writes = Vec::new();
    for i in 0..20 {
        let http = s.http.clone();
        let url = s.url("/v1/records");
        let sk = sk.clone();
        let env = seal("e@example.com", "pw", format!("n{i}").as_bytes());
        writes.push(tokio::spawn(async move {
            http.post(url)
                .bearer_auth(sk)
                .json(&json!({"user_id": "u", "envelope": env}))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    let http = s.http.clone();
    let url = s.url("/v1/test/slow");
    let in_flight = tokio::spawn(async move { http.get(url).send().await });
    tokio::time::sleep(Duration::from_millis(200)).await;

    let base = s.base.clone();
    let stopped = tokio::spawn(s.stop_keep_dir());

    let resp = in_flight
        .await
        .expect("join")
        .expect("in-flight request completes");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.expect("body"), "done");
    let (result, data_dir) = stopped.await.expect("join");
    result.expect("server stopped cleanly");

    // New connections are refused after shutdown.
    let after = reqwest::Client::new()
        .get(format!("{base}/v1/health"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(after.is_err());

    let mut created = 0;
    for w in writes {
        if let Ok(Ok(201)) = w.await {
            created += 1;
        }
    }
    // Every acknowledged write has its audit event, and the chain is intact.
    let store = zenalyze_store::open_data_dir(data_dir.path(), &StoreOptions::default())
        .await
        .expect("reopen");
    let events = store.audit_events(0, 10_000).await.expect("events");
    let creates = events
        .iter()
        .filter(|e| e.operation == "records.create" && e.result == "success")
        .count();
    assert!(
        creates >= created,
        "{creates} audit events < {created} acknowledged writes"
    );
    assert!(store.verify_audit().await.expect("verify").is_intact());
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_deadline_is_a_503_problem() {
    let s = TestServer::start_with(
        Db::Sqlite,
        Options {
            extra: Some(slow_router()),
            http: HttpSettings {
                request_timeout: Duration::from_millis(200),
                shutdown_grace: Duration::from_secs(2),
                header_read_timeout: Duration::from_millis(500),
            },
            ..Options::default()
        },
    )
    .await;
    let r = s
        .http
        .get(s.url("/v1/test/slow"))
        .send()
        .await
        .expect("send");
    let p = expect_problem(r, 503, "timeout").await;
    assert!(p["request_id"].is_string());
    s.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start(Db::Sqlite).await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    // Headers never finished: the server must give up on its own.
    conn.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut buf)).await;
    let closed = matches!(read, Ok(Ok(_)) | Ok(Err(_)));
    assert!(
        closed,
        "connection still open after the header read timeout"
    );
    let text = String::from_utf8_lossy(&buf);
    assert!(buf.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
    // A well-behaved client is unaffected.
    let r = s.http.get(s.url("/v1/health")).send().await.expect("send");
    assert_eq!(r.status(), 200);
    s.stop().await.expect("stop");
}
