//! The egress proxy against a local TLS server (rcgen self-signed cert,
//! trusted only by the test client): allowlisted tunnels work end to end
//! with TLS terminating at the client; everything else is refused.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use zenalyze_egress::{enclave_http_client, serve, Allowlist, ProxyConfig};
use zenalyze_transport::{connect, Address, Listener};

/// A TLS server on 127.0.0.1:0 answering every request with `hello over tls`.
async fn tls_server() -> (u16, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_pem = ck.cert.pem();
    let cert_der = ck.cert.der().clone();
    let key_der =
        rustls::pki_types::PrivateKeyDer::try_from(ck.signing_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert_der], key_der)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let body = "hello over tls";
                let _ = tls
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, cert_pem)
}

async fn start_proxy(listen: Address, cfg: ProxyConfig) -> Address {
    let listener = Listener::bind(&listen).await.unwrap();
    let addr = listener.local_address().unwrap();
    tokio::spawn(serve(listener, cfg));
    addr
}

async fn client(
    proxy: &Address,
    cert_pem: &str,
) -> (reqwest::Client, Option<zenalyze_egress::LocalShim>) {
    let builder = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(10));
    enclave_http_client(proxy, builder).await.unwrap()
}

async fn raw_connect(proxy: &Address, target: &str) -> String {
    let mut s = connect(proxy).await.unwrap();
    s.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = vec![0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn dev_config(allow: &str) -> ProxyConfig {
    let mut cfg = ProxyConfig::new(allow.parse::<Allowlist>().unwrap());
    cfg.deny_private = false;
    cfg
}

#[tokio::test]
async fn tunnel_to_allowed_tls_server_over_tcp_proxy() {
    let (port, cert) = tls_server().await;
    let proxy = start_proxy(
        "tcp:127.0.0.1:0".parse().unwrap(),
        dev_config(&format!("localhost:{port}")),
    )
    .await;
    let (c, _shim) = client(&proxy, &cert).await;
    let res = c
        .get(format!("https://localhost:{port}/v1/chat"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "hello over tls");
    // Plain http is refused by the client itself (TLS must end in the enclave).
    assert!(c
        .get(format!("http://localhost:{port}/"))
        .send()
        .await
        .is_err());
}

#[tokio::test]
async fn tunnel_over_unix_proxy_through_local_shim() {
    let (port, cert) = tls_server().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(
        Address::Unix(dir.path().join("egress.sock")),
        dev_config(&format!("localhost:{port}")),
    )
    .await;
    let (c, shim) = client(&proxy, &cert).await;
    assert!(shim.is_some());
    let res = c
        .get(format!("https://localhost:{port}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "hello over tls");
}

#[tokio::test]
async fn destinations_off_the_allowlist_are_refused() {
    let (port, cert) = tls_server().await;
    let proxy = start_proxy(
        "tcp:127.0.0.1:0".parse().unwrap(),
        dev_config(&format!(
            "localhost:{},api.openai.com:443",
            port.wrapping_add(1).max(1)
        )),
    )
    .await;
    // Through reqwest: the tunnel is refused, so the request fails.
    let (c, _shim) = client(&proxy, &cert).await;
    assert!(c
        .get(format!("https://localhost:{port}/"))
        .send()
        .await
        .is_err());
    // Raw: 403 for another port, for an IP literal of an allowed name, for
    // other names; 405 for non-CONNECT; 400 for garbage.
    assert!(raw_connect(&proxy, &format!("localhost:{port}"))
        .await
        .starts_with("HTTP/1.1 403"));
    assert!(raw_connect(&proxy, &format!("127.0.0.1:{port}"))
        .await
        .starts_with("HTTP/1.1 403"));
    assert!(raw_connect(&proxy, "example.com:443")
        .await
        .starts_with("HTTP/1.1 403"));
    let mut s = connect(&proxy).await.unwrap();
    s.write_all(b"GET http://localhost/ HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 64];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 405"));
    let mut s = connect(&proxy).await.unwrap();
    s.write_all(b"CONNECT :::: HTTP/1.1\r\n\r\n").await.unwrap();
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 400"));
}

#[tokio::test]
async fn allowed_name_resolving_to_private_address_is_refused_by_default() {
    let (port, _cert) = tls_server().await;
    // localhost is on the list, but resolves to loopback: refused with deny_private.
    let cfg = ProxyConfig::new(format!("localhost:{port}").parse().unwrap());
    assert!(cfg.deny_private);
    let proxy = start_proxy("tcp:127.0.0.1:0".parse().unwrap(), cfg).await;
    assert!(raw_connect(&proxy, &format!("localhost:{port}"))
        .await
        .starts_with("HTTP/1.1 403"));
}
