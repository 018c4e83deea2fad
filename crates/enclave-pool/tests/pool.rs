//! Pool semantics against small fake enclaves: failover only when the
//! request never reached the first enclave (connection refused), never
//! after it may have been written (at most once), per-enclave concurrency
//! limits, and health probes taking members out and back in.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zenalyze_enclave_pool::{EnclavePool, PoolConfig, PoolError, SideData};
use zenalyze_transport::Address;

/// A fake enclave speaking just enough HTTP/1.1 (one exchange per
/// connection): `/health` answers ok;
/// `POST /internal/v1/analyze` is counted, then either answered after
/// `delay` or (with `drop_analyze`) the connection is closed unanswered.
async fn fake(
    drop_analyze: bool,
    delay: Duration,
) -> (Address, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let c = c.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let mut chunk = [0u8; 4096];
                    let n = match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_string();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    while buf.len() < end + 4 + len {
                        let n = match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    buf.drain(..end + 4 + len);
                    let body = if head.starts_with("GET /health") {
                        r#"{"status":"ok","enclave_id":"fake","key_id":1}"#.to_owned()
                    } else {
                        c.fetch_add(1, Ordering::SeqCst);
                        if drop_analyze {
                            return; // close without answering
                        }
                        tokio::time::sleep(delay).await;
                        "sealed".to_owned()
                    };
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: application/json\r\nehbp-response-nonce: {}\r\ncontent-length: {}\r\n\r\n{}",
                        "ab".repeat(32),
                        body.len(),
                        body
                    );
                    let _ = s.write_all(resp.as_bytes()).await;
                    // One exchange per connection: a stopped fake refuses
                    // every later connection, like a dead process.
                    return;
                }
            });
        }
    });
    (Address::tcp(addr), count, task)
}

fn config(endpoints: Vec<Address>) -> PoolConfig {
    let mut c = PoolConfig::new(endpoints);
    c.health_interval = Duration::from_millis(100);
    c.connect_timeout = Duration::from_millis(300);
    c.request_timeout = Duration::from_secs(2);
    c.queue_timeout = Duration::from_millis(100);
    c
}

#[tokio::test]
async fn no_retry_once_the_request_may_have_run() {
    let (a, a_count, _ta) = fake(true, Duration::ZERO).await;
    let (b, b_count, _tb) = fake(false, Duration::ZERO).await;
    let pool = EnclavePool::new(config(vec![a, b]), None).expect("pool");
    pool.check_all(true).await;
    assert_eq!(pool.healthy_count(), 2);
    let mut failed = 0;
    for _ in 0..6 {
        match pool
            .analyze(&"00".repeat(32), b"x", &SideData::default())
            .await
        {
            Ok(ans) => assert_eq!(ans.status, 200),
            Err(PoolError::Failed) => failed += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    // Every request that reached A failed and was NOT replayed on B.
    assert_eq!(failed, a_count.load(Ordering::SeqCst));
    assert!(failed >= 1);
    assert_eq!(b_count.load(Ordering::SeqCst), 6 - failed);
}

#[tokio::test]
async fn refused_connection_fails_over() {
    let (a, a_count, ta) = fake(false, Duration::ZERO).await;
    let (b, b_count, _tb) = fake(false, Duration::ZERO).await;
    let pool = EnclavePool::new(config(vec![a, b]), None).expect("pool");
    pool.check_all(true).await;
    assert_eq!(pool.healthy_count(), 2);
    // A dies (its listener is gone: connections are refused) before the
    // pool's next probe.
    ta.abort();
    let _ = ta.await;
    for _ in 0..6 {
        let ans = pool
            .analyze(&"00".repeat(32), b"x", &SideData::default())
            .await
            .expect("served by the survivor");
        assert_eq!(ans.status, 200);
    }
    assert_eq!(a_count.load(Ordering::SeqCst), 0);
    assert_eq!(b_count.load(Ordering::SeqCst), 6);
    assert_eq!(pool.healthy_count(), 1, "A left the rotation");
    assert!(!pool.status()[0].healthy);
}

#[tokio::test]
async fn concurrency_limit_and_recovery() {
    let (a, _c, _t) = fake(false, Duration::from_millis(400)).await;
    let mut cfg = config(vec![a.clone()]);
    cfg.max_concurrency = 1;
    let pool = EnclavePool::new(cfg, None).expect("pool");
    pool.check_all(true).await;
    let p2 = pool.clone();
    let first = tokio::spawn(async move { p2.analyze("k", b"x", &SideData::default()).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(pool.status()[0].outstanding, 1);
    assert_eq!(
        pool.analyze("k", b"x", &SideData::default())
            .await
            .unwrap_err(),
        PoolError::Overloaded
    );
    assert!(first.await.expect("join").is_ok());

    // No member at all: 503-class error, and an unreachable one never joins.
    let dead = Address::tcp("127.0.0.1:1".parse().expect("addr"));
    let pool = EnclavePool::new(config(vec![dead]), None).expect("pool");
    pool.check_all(true).await;
    assert_eq!(pool.healthy_count(), 0);
    assert_eq!(
        pool.analyze("k", b"x", &SideData::default())
            .await
            .unwrap_err(),
        PoolError::NoHealthyEnclave
    );
    assert!(EnclavePool::new(PoolConfig::new(vec![]), None).is_err());
}
