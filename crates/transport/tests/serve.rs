//! axum over the transport, and a hyper client through the Connector, on tcp and unix.

use std::time::Duration;

use axum::{routing::get, Router};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use zenalyze_transport::{connect, Address, Connector, Listener};

async fn round_trip(bind: Address) {
    let listener = Listener::bind(&bind).await.unwrap();
    let local = listener.local_address().unwrap();
    let app = Router::new().route("/hello", get(|| async { "hi there" }));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let client: Client<Connector, Empty<bytes::Bytes>> =
        Client::builder(TokioExecutor::new()).build(Connector::new(local.clone()));
    let res = tokio::time::timeout(
        Duration::from_secs(10),
        client.get("http://enclave/hello".parse().unwrap()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"hi there");

    // Raw connect works too.
    let s = connect(&local).await.unwrap();
    drop(s);
    server.abort();
}

#[tokio::test]
async fn tcp_round_trip() {
    round_trip("tcp:127.0.0.1:0".parse().unwrap()).await;
}

#[tokio::test]
async fn unix_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.sock");
    round_trip(Address::Unix(path.clone())).await;
    // Owner-only socket.
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(&path) {
        assert_eq!(m.permissions().mode() & 0o077, 0);
    }
}

#[tokio::test]
async fn unix_refuses_non_socket_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("regular");
    std::fs::write(&path, b"x").unwrap();
    assert!(Listener::bind(&Address::Unix(path)).await.is_err());
}

#[cfg(not(feature = "vsock"))]
#[tokio::test]
async fn vsock_without_feature_is_a_clear_error() {
    let err = Listener::bind(&"vsock:5000".parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
}
