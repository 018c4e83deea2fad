//! Platform keyrings, usage and a real Free-tier tenant's rate limits.

mod common;

use std::time::Duration;

use common::{create_tenant, envelope, start_dev, DEV_API_KEY};
use zenalyze_server::{ListRecords, PlatformItem, ProblemType, StoreEncrypted, ZenalyzeServer};

#[tokio::test]
async fn keyrings_and_usage() {
    let dev = start_dev().await;
    let zen = ZenalyzeServer::builder(DEV_API_KEY)
        .base_url(&dev.base_url)
        .build()
        .expect("client");
    let c = zen
        .encrypt_metadata("encrypt-email", b"alice@example.com", Some(b"usr_alice"))
        .await
        .expect("encrypt");
    assert!(c.ciphertext.starts_with("zen:v"));
    let p = zen
        .decrypt_metadata("encrypt-email", &c.ciphertext, Some(b"usr_alice"))
        .await
        .expect("decrypt");
    assert_eq!(&p[..], b"alice@example.com");
    assert!(zen
        .decrypt_metadata("encrypt-email", &c.ciphertext, Some(b"usr_bob"))
        .await
        .unwrap_err()
        .api()
        .is_some());
    let r = zen
        .rewrap("encrypt-email", &c.ciphertext, Some(b"usr_alice"))
        .await
        .expect("rewrap");
    assert!(r.ciphertext.starts_with("zen:v"));
    let items = [
        PlatformItem {
            data: b"alice",
            context: None,
            reference: Some("a"),
        },
        PlatformItem {
            data: &[1, 2, 3],
            context: None,
            reference: Some("b"),
        },
    ];
    let enc = zen
        .encrypt_metadata_batch("encrypt-username", &items)
        .await
        .expect("batch");
    assert_eq!(enc.len(), 2);
    let cts: Vec<String> = enc
        .iter()
        .map(|r| r.ciphertext.clone().expect("ct"))
        .collect();
    let back = zen
        .decrypt_metadata_batch(
            "encrypt-username",
            &[
                PlatformItem {
                    data: cts[0].as_bytes(),
                    context: None,
                    reference: None,
                },
                PlatformItem {
                    data: cts[1].as_bytes(),
                    context: None,
                    reference: None,
                },
                PlatformItem {
                    data: b"zen:v1:AAAA",
                    context: None,
                    reference: Some("bad"),
                },
            ],
        )
        .await
        .expect("batch decrypt");
    assert_eq!(
        back[0].plaintext.as_deref().map(|p| &p[..]),
        Some(&b"alice"[..])
    );
    assert_eq!(
        back[1].plaintext.as_deref().map(|p| &p[..]),
        Some(&[1u8, 2, 3][..])
    );
    assert!(back[2].error.is_some() && back[2].plaintext.is_none());
    assert!(!format!("{back:?}").contains("alice"));
    let i1 = zen
        .blind_index("encrypt-email", b"alice@example.com", None)
        .await
        .expect("index");
    let i2 = zen
        .blind_index("encrypt-email", b"alice@example.com", None)
        .await
        .expect("index");
    assert_eq!(i1, i2);
    assert_eq!(i1.len(), 32);
    assert_eq!(
        zen.blind_index("encrypt-email", b"x", Some(64))
            .await
            .expect("64")
            .len(),
        16
    );

    zen.list_records(ListRecords::new("usr_usage"))
        .await
        .expect("list");
    let u = zen.usage(None, None).await.expect("usage");
    assert_eq!(u.tier, "enterprise");
    assert_eq!(u.quota.limit, None);
    let today = u.days.last().expect("today");
    assert!(today.operations.get("records_list").copied().unwrap_or(0) >= 1);
    assert_eq!(
        zen.usage(Some("2026-13-45"), None)
            .await
            .unwrap_err()
            .problem(),
        Some(ProblemType::InvalidParameter)
    );
}

#[tokio::test]
async fn free_tier_burst_and_quota() {
    let dev = start_dev().await;
    let key = create_tenant(&dev, "free").await;
    let strict = ZenalyzeServer::builder(key.clone())
        .base_url(&dev.base_url)
        .max_retries(0)
        .build()
        .expect("client");
    let calls = (0..25).map(|_| {
        let z = strict.clone();
        async move { z.list_records(ListRecords::new("usr_free")).await }
    });
    let results = futures_join(calls).await;
    let refused: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(!refused.is_empty(), "the burst limit refused some requests");
    for e in refused {
        let api = e.api().expect("api error");
        assert_eq!(api.problem, ProblemType::RateLimited);
        assert_eq!(api.status, 429);
        assert!(api.retry_after.is_some_and(|d| d >= Duration::from_secs(1)));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let patient = ZenalyzeServer::builder(key.clone())
        .base_url(&dev.base_url)
        .max_retries(5)
        .build()
        .expect("client");
    let env = envelope(b"x");
    let stores = (0..14).map(|i| {
        let z = patient.clone();
        let env = env.clone();
        async move {
            z.store_encrypted(
                StoreEncrypted::new("usr_free", env).idempotency_key(format!("free-{i}")),
            )
            .await
        }
    });
    for r in futures_join(stores).await {
        r.expect("every create of the burst eventually succeeds");
    }
    let u = patient.usage(None, None).await.expect("usage");
    assert_eq!(u.tier, "free");
    assert_eq!(u.quota.limit, Some(100));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let slow = ZenalyzeServer::builder(key)
        .base_url(&dev.base_url)
        .max_retries(8)
        .retry_base_delay(Duration::from_millis(50))
        .build()
        .expect("client");
    let mut quota = None;
    for _ in 0..120 {
        match slow
            .list_records(ListRecords::new("usr_free").limit(1))
            .await
        {
            Ok(_) => {}
            Err(e) if e.problem() == Some(ProblemType::QuotaExceeded) => {
                quota = Some(e);
                break;
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    let e = quota.expect("the Free quota (100/day) was reached");
    assert!(e
        .api()
        .and_then(|a| a.retry_after)
        .is_some_and(|d| d > Duration::from_secs(20)));
}

/// Runs the futures concurrently on the current task.
async fn futures_join<F, T>(futs: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}
