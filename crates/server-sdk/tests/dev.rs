//! `zenalyze-server` against a real `zenalyze dev` (spawned binary).

mod common;

use std::time::{Duration, Instant};

use common::{envelope, proxy, start_dev, Action, DEV_API_KEY};
use zenalyze_server::{
    AnalyzeRequest, Error, ListRecords, ProblemType, SealedRequest, StoreEncrypted, ZenalyzeServer,
};

fn client(url: &str) -> ZenalyzeServer {
    ZenalyzeServer::builder(DEV_API_KEY)
        .base_url(url)
        .timeout(Duration::from_secs(5))
        .retry_base_delay(Duration::from_millis(20))
        .build()
        .expect("client")
}

#[tokio::test]
async fn store_read_list_delete() {
    let dev = start_dev().await;
    let zen = client(&dev.base_url);
    let env = envelope(br#"{"entry":"slept badly"}"#);
    let a = zen
        .store_encrypted(StoreEncrypted::new("usr_read", env.clone()).metadata("kind", "journal"))
        .await
        .expect("store");
    assert!(a.id.starts_with("rec_"));
    assert_eq!(a.size as usize, 1 + 12 + 16 + 23);
    assert!(!a.replayed);
    let got = zen.get_record(&a.id).await.expect("get");
    assert_eq!(got.encrypted_data, env);
    assert_eq!(got.user_id, "usr_read");
    assert_eq!(
        got.metadata.get("kind").map(String::as_str),
        Some("journal")
    );
    let b = zen
        .store_encrypted(StoreEncrypted::new("usr_read", envelope(b"2")))
        .await
        .expect("store 2");
    let page = zen
        .list_records(ListRecords::new("usr_read").limit(1))
        .await
        .expect("list");
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.records[0].id, b.id, "newest first");
    let cursor = page.next_cursor.expect("cursor");
    let rest = zen
        .list_records(ListRecords::new("usr_read").limit(1).cursor(cursor))
        .await
        .expect("page 2");
    assert_eq!(rest.records[0].id, a.id);
    zen.delete_record(&a.id).await.expect("delete");
    let e = zen.get_record(&a.id).await.unwrap_err();
    let api = e.api().expect("api error");
    assert_eq!(api.problem, ProblemType::NotFound);
    assert_eq!(api.status, 404);
    assert!(api
        .request_id
        .as_deref()
        .is_some_and(|r| r.starts_with("req_")));
    assert_eq!(
        zen.delete_record(&a.id).await.unwrap_err().problem(),
        Some(ProblemType::NotFound)
    );
}

#[tokio::test]
async fn plaintext_is_refused_locally_and_nothing_is_sent() {
    let dev = start_dev().await;
    let p = proxy(dev.port, |_| Action::Forward).await;
    let zen = client(&p.url());
    let plain_b64 = base64_std(b"I feel hopeless today, really hopeless");
    let cases: Vec<(String, &str)> = vec![
        (r#"{"entry":"I feel hopeless"}"#.into(), "invalid_base64"),
        ("I feel hopeless today".into(), "invalid_base64"),
        (plain_b64, "unsupported_version"),
        (String::new(), "too_short"),
        ("AQID".into(), "too_short"),
        ("AR==".into(), "invalid_base64"),
        (format!(" {}", envelope(b"x")), "invalid_base64"),
    ];
    for (data, code) in cases {
        let e = zen
            .store_encrypted(StoreEncrypted::new("u1", data))
            .await
            .unwrap_err();
        match e {
            Error::InvalidEnvelope { code: c } => assert_eq!(c, code),
            other => panic!("expected InvalidEnvelope, got {other:?}"),
        }
        assert!(!e.to_string().contains("hopeless"));
    }
    let e = zen
        .store_encrypted(StoreEncrypted::new("alice@example.com", envelope(b"x")))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)));
    assert_eq!(p.connections(), 0, "no request may leave the backend");
    zen.store_encrypted(StoreEncrypted::new("u1", envelope(b"")))
        .await
        .expect("a 29-byte envelope is accepted");
    assert_eq!(p.connections(), 1);
}

fn base64_std(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[tokio::test]
async fn idempotent_creates_and_typed_problems() {
    let dev = start_dev().await;
    let zen = client(&dev.base_url);
    let env = envelope(b"idem");
    let a = zen
        .store_encrypted(StoreEncrypted::new("usr_idem", env.clone()).idempotency_key("k-1"))
        .await
        .expect("first");
    let b = zen
        .store_encrypted(StoreEncrypted::new("usr_idem", env).idempotency_key("k-1"))
        .await
        .expect("replay");
    assert_eq!(a.id, b.id);
    assert!(b.replayed);
    let e = zen
        .store_encrypted(StoreEncrypted::new("usr_idem", envelope(b"other")).idempotency_key("k-1"))
        .await
        .unwrap_err();
    assert_eq!(e.problem(), Some(ProblemType::IdempotencyKeyReused));
    let canary = "CANARYmetadata";
    let e = zen
        .store_encrypted(StoreEncrypted::new("u3", envelope(b"m")).metadata("bad key!", canary))
        .await
        .unwrap_err();
    assert_eq!(e.problem(), Some(ProblemType::ValidationFailed));
    assert!(!format!("{e} {e:?}").contains(canary));
    let bad = ZenalyzeServer::builder(format!("zk_test_{}", "x".repeat(43)))
        .base_url(&dev.base_url)
        .build()
        .expect("client");
    let e = bad.list_records(ListRecords::new("u")).await.unwrap_err();
    assert_eq!(e.problem(), Some(ProblemType::Unauthorized));
    assert!(!format!("{e} {e:?} {bad:?}").contains("xxxxxxxx"));
}

#[tokio::test]
async fn dropped_connection_and_lost_answer_are_retried_without_duplicates() {
    let dev = start_dev().await;
    let direct = client(&dev.base_url);
    let p = proxy(dev.port, |i| {
        if i == 0 {
            Action::Drop
        } else {
            Action::Forward
        }
    })
    .await;
    let a = client(&p.url())
        .store_encrypted(StoreEncrypted::new("usr_drop", envelope(b"a")))
        .await
        .expect("store through a dropped connection");
    assert!(p.connections() >= 2);
    let page = direct
        .list_records(ListRecords::new("usr_drop"))
        .await
        .expect("list");
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.records[0].id, a.id);

    let p = proxy(dev.port, |i| {
        if i == 0 {
            Action::LoseAnswer
        } else {
            Action::Forward
        }
    })
    .await;
    let b = client(&p.url())
        .store_encrypted(StoreEncrypted::new("usr_lost", envelope(b"b")))
        .await
        .expect("store with a lost answer");
    assert!(b.replayed, "the retry got the replayed first answer");
    let page = direct
        .list_records(ListRecords::new("usr_lost"))
        .await
        .expect("list");
    assert_eq!(page.records.len(), 1);
}

fn problem_body(slug: &str, status: u16) -> String {
    format!(
        r#"{{"type":"https://zenalyze.dev/problems/{slug}","title":"t","status":{status},"request_id":"req_proxy"}}"#
    )
}

#[tokio::test]
async fn retry_after_429_503_and_unsafe_requests() {
    let dev = start_dev().await;
    let p = proxy(dev.port, |i| {
        if i == 0 {
            Action::Respond {
                status: 503,
                headers: vec![("retry-after", "1".into())],
                body: problem_body("unavailable", 503),
            }
        } else {
            Action::Forward
        }
    })
    .await;
    let t0 = Instant::now();
    client(&p.url())
        .list_records(ListRecords::new("u"))
        .await
        .expect("after Retry-After");
    assert!(t0.elapsed() >= Duration::from_millis(950));

    let p = proxy(dev.port, |_| Action::Respond {
        status: 429,
        headers: vec![("retry-after", "0".into())],
        body: problem_body("rate-limited", 429),
    })
    .await;
    let e = client(&p.url())
        .list_records(ListRecords::new("u"))
        .await
        .unwrap_err();
    let api = e.api().expect("api");
    assert_eq!(api.problem, ProblemType::RateLimited);
    assert_eq!(api.retry_after, Some(Duration::ZERO));
    assert_eq!(api.request_id.as_deref(), Some("req_proxy"));
    assert_eq!(p.connections(), 3, "1 attempt + 2 retries");

    let p = proxy(dev.port, |_| Action::Respond {
        status: 429,
        headers: vec![("retry-after", "3600".into())],
        body: problem_body("quota-exceeded", 429),
    })
    .await;
    let e = client(&p.url())
        .list_records(ListRecords::new("u"))
        .await
        .unwrap_err();
    assert_eq!(e.problem(), Some(ProblemType::QuotaExceeded));
    assert_eq!(p.connections(), 1, "a long Retry-After is not waited for");

    let p = proxy(dev.port, |_| Action::Respond {
        status: 503,
        headers: vec![],
        body: problem_body("timeout", 503),
    })
    .await;
    let sealed = SealedRequest {
        body: vec![0, 0, 0, 1, 7],
        encapsulated_key: "ab".repeat(32),
    };
    let e = client(&p.url())
        .analyze_with_ai(AnalyzeRequest::new(sealed.clone()))
        .await
        .unwrap_err();
    assert_eq!(e.problem(), Some(ProblemType::Timeout));
    assert_eq!(
        p.connections(),
        1,
        "an analyze that may have run is sent once"
    );
    let e = client(&p.url())
        .list_records(ListRecords::new("u"))
        .await
        .unwrap_err();
    assert_eq!(e.problem(), Some(ProblemType::Timeout));
    assert_eq!(p.connections(), 1 + 3, "a read is retried");

    // 503 `unavailable` guarantees nothing ran: even an analyze is retried.
    let p = proxy(dev.port, |i| Action::Respond {
        status: 503,
        headers: vec![("retry-after", "0".into())],
        body: problem_body(if i == 0 { "unavailable" } else { "timeout" }, 503),
    })
    .await;
    let e = client(&p.url())
        .analyze_with_ai(AnalyzeRequest::new(sealed))
        .await
        .unwrap_err();
    assert_eq!(e.problem(), Some(ProblemType::Timeout));
    assert_eq!(p.connections(), 2);
}

#[tokio::test]
async fn network_failure_and_timeout() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let zen = client(&format!("http://127.0.0.1:{port}"));
    match zen.get_record("rec_x").await.unwrap_err() {
        Error::Network { attempts } => assert_eq!(attempts, 3),
        other => panic!("expected Network, got {other:?}"),
    }
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = silent.local_addr().expect("addr");
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let zen = ZenalyzeServer::builder(DEV_API_KEY)
        .base_url(format!("http://{addr}"))
        .timeout(Duration::from_millis(200))
        .max_retries(1)
        .retry_base_delay(Duration::from_millis(10))
        .build()
        .expect("client");
    let t0 = Instant::now();
    match zen.list_records(ListRecords::new("u")).await.unwrap_err() {
        Error::Timeout { attempts } => assert_eq!(attempts, 2),
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert!(t0.elapsed() < Duration::from_secs(3));
    hold.abort();
}
