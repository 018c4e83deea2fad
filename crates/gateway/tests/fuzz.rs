//! Randomized requests (proptest): whatever arrives, the gateway answers a
//! non-5xx status, and every error is a problem document.

mod common;

use common::{Db, TestServer};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn body_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[{}\\[\\]\",:a-z0-9 ]{0,64}",
        (
            prop_oneof![
                Just("\"u1\"".to_owned()),
                Just("5".to_owned()),
                Just("null".to_owned()),
                "\"[ -~]{0,300}\""
            ],
            prop_oneof![
                Just("\"AQ==\"".to_owned()),
                "\"[A-Za-z0-9+/=]{0,200}\"",
                Just("[]".to_owned()),
                Just("\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\"".to_owned())
            ],
            prop_oneof![
                Just(String::new()),
                Just(",\"metadata\":{\"k\":\"v\"}".to_owned()),
                Just(",\"metadata\":[1]".to_owned()),
                Just(",\"zz\":1".to_owned())
            ],
        )
            .prop_map(|(u, e, m)| format!("{{\"user_id\":{u},\"envelope\":{e}{m}}}")),
    ]
}

#[derive(Debug, Clone)]
struct Req {
    method: &'static str,
    path: String,
    content_type: Option<&'static str>,
    auth: u8,
    request_id: Option<String>,
    idem: Option<String>,
    body: String,
}

fn req_strategy() -> impl Strategy<Value = Req> {
    (
        prop_oneof![
            Just("GET"),
            Just("POST"),
            Just("DELETE"),
            Just("PUT"),
            Just("PATCH")
        ],
        prop_oneof![
            Just("/v1/records".to_owned()),
            "/v1/records/[a-z_0-9%.]{0,40}",
            "/v1/records\\?[a-z_=&%0-9]{0,40}",
            Just("/v1/admin/tenants".to_owned()),
            "/v1/admin/tenants/[a-z_0-9]{0,40}/api-keys",
            "/v1/admin/api-keys/[a-z_0-9]{0,40}",
            "/v1/health\\?probe=[a-z]{0,6}",
            "/[a-z0-9/]{0,20}",
        ],
        prop_oneof![
            Just(None),
            Just(Some("application/json")),
            Just(Some("text/plain"))
        ],
        0u8..4,
        proptest::option::of("[ -~]{0,140}"),
        proptest::option::of("[ -~]{0,140}"),
        body_strategy(),
    )
        .prop_map(
            |(method, path, content_type, auth, request_id, idem, body)| Req {
                method,
                path,
                content_type,
                auth,
                request_id,
                idem,
                body,
            },
        )
}

#[test]
fn random_requests_never_5xx() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (s, sk, pk) = rt.block_on(async {
        let s = TestServer::start(Db::Sqlite).await;
        let (_, sk, pk) = s.tenant("fuzz").await;
        (s, sk, pk)
    });
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&req_strategy(), |r| {
        let (status, ct) = rt.block_on(async {
            let method = reqwest::Method::from_bytes(r.method.as_bytes()).expect("method");
            let mut b = s.http.request(method, s.url(&r.path)).body(r.body.clone());
            if let Some(ct) = r.content_type {
                b = b.header("content-type", ct);
            }
            b = match r.auth {
                0 => b,
                1 => b.bearer_auth(&sk),
                2 => b.bearer_auth(&pk),
                _ => b.bearer_auth(&s.admin_token),
            };
            if let Some(id) = &r.request_id {
                if let Ok(v) = reqwest::header::HeaderValue::from_str(id) {
                    b = b.header("x-request-id", v);
                }
            }
            if let Some(k) = &r.idem {
                if let Ok(v) = reqwest::header::HeaderValue::from_str(k) {
                    b = b.header("idempotency-key", v);
                }
            }
            match b.send().await {
                Ok(resp) => (
                    resp.status().as_u16(),
                    resp.headers()
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned(),
                ),
                // A URL reqwest refuses to send is not a server failure.
                Err(e) if e.is_builder() => (200, String::new()),
                Err(e) => panic!("transport error: {e}"),
            }
        });
        prop_assert!(status < 500, "{status} for {r:?}");
        if status >= 400 {
            prop_assert!(
                ct.starts_with("application/problem+json"),
                "{status} {ct} for {r:?}"
            );
        }
        Ok(())
    });
    rt.block_on(async { s.stop().await.expect("stop") });
    if let Err(e) = result {
        panic!("{e}");
    }
}
