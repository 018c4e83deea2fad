//! `GET /metrics` access modes (open, admin token, disabled), the dedicated
//! metrics listener, and the OpenAPI document of the new endpoints.

mod limits_common;

use std::time::Duration;

use limits_common::{check_exposition, Gateway, GatewayOptions};
use zenalyze_gateway::metrics::MetricsAccess;

async fn gateway(access: MetricsAccess) -> (Gateway, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = limits_common::sqlite_store(dir.path()).await;
    let gw = Gateway::start(
        store,
        GatewayOptions {
            metrics_access: access,
            ..GatewayOptions::default()
        },
    )
    .await;
    (gw, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_modes_listener_and_openapi() {
    tokio::time::timeout(Duration::from_secs(60), scenario())
        .await
        .expect("scenario timed out");
}

async fn scenario() {
    // Open: no credentials needed (zenalyze dev on loopback).
    let (gw, _dir) = gateway(MetricsAccess::Open).await;
    let (_, key) = gw.tenant("pro", None, None).await;
    assert_eq!(gw.list_records(&key).await.status(), 200);
    let r = gw.http.get(gw.url("/metrics")).send().await.expect("send");
    assert_eq!(r.status(), 200);
    assert!(r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain; version=0.0.4")));
    assert!(r.headers().get("ratelimit-limit").is_none());
    let text = r.text().await.expect("text");
    let families = check_exposition(&text);
    assert!(families.iter().any(|f| f == "zenalyze_api_calls_total"));

    // The dedicated listener serves the same registry, open.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let task = zenalyze_gateway::server::spawn_metrics_listener(addr, gw.state.registry().clone())
        .await
        .expect("metrics listener");
    let r = gw
        .http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let own = r.text().await.expect("text");
    assert!(own.contains("zenalyze_api_calls_total"));
    let r = gw
        .http
        .get(format!("http://{addr}/v1/records"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 404, "the metrics listener serves nothing else");
    task.abort();

    // The OpenAPI document lists the usage endpoint and the tenant PATCH.
    let spec: serde_json::Value = gw
        .http
        .get(gw.url("/v1/openapi.json"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert!(spec["paths"]["/v1/usage"]["get"].is_object());
    assert!(spec["paths"]["/v1/admin/tenants/{id}"]["patch"].is_object());
    assert!(spec["components"]["schemas"]["UsageResponse"].is_object());
    gw.stop().await;

    // Disabled: 404 on the API listener, even with the admin token.
    let (gw, _dir2) = gateway(MetricsAccess::Disabled).await;
    let r = gw
        .http
        .get(gw.url("/metrics"))
        .bearer_auth(&gw.admin_token)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 404);
    gw.stop().await;

    // Admin token (default of zenalyze serve): 401 without, counted.
    let (gw, _dir3) = gateway(MetricsAccess::AdminToken).await;
    let r = gw.http.get(gw.url("/metrics")).send().await.expect("send");
    assert_eq!(r.status(), 401);
    let text = gw.metrics_text().await;
    assert_eq!(
        limits_common::sample(
            &text,
            "zenalyze_auth_failures_total{reason=\"admin_token\"}"
        ),
        Some(1.0)
    );
    gw.stop().await;
}
