//! AI jobs and webhook secrets on both backends: lifecycle, completion only
//! once, tenant isolation, TTL purge, secret upsert.

mod common;

use common::*;
use time::OffsetDateTime;
use zenalyze_store::*;

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::common::{Kind, TestDb};
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = TestDb::new(Kind::Sqlite).await;
                tokio::time::timeout(std::time::Duration::from_secs(60), super::$name(&db))
                    .await
                    .expect("test timed out");
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = TestDb::new(Kind::Postgres).await;
                tokio::time::timeout(std::time::Duration::from_secs(60), super::$name(&db))
                    .await
                    .expect("test timed out");
            }
        }
    )*};
}

on_both!(jobs_lifecycle, webhook_secrets);

async fn jobs_lifecycle(db: &TestDb) {
    let s = &*db.store;
    let a = create_tenant(s, "a").await;
    let b = create_tenant(s, "b").await;
    let now = OffsetDateTime::now_utc();
    let id = JobId::generate();
    s.create_job(&NewJob {
        tenant_id: a.clone(),
        id: id.clone(),
        callback_url: Some("https://hooks.example.com/z".into()),
        expires_at: now + time::Duration::hours(1),
    })
    .await
    .expect("create");
    let j = s.get_job(&a, &id).await.expect("get").expect("exists");
    assert_eq!(j.status, JobStatus::Pending);
    assert!(j.body.is_none() && j.http_status.is_none());
    assert_eq!(
        j.callback_url.as_deref(),
        Some("https://hooks.example.com/z")
    );
    // Another tenant sees nothing and cannot complete it.
    assert!(s.get_job(&b, &id).await.expect("get").is_none());
    let done = JobCompletion {
        status: JobStatus::Succeeded,
        http_status: 200,
        response_nonce: Some("ab".repeat(32)),
        content_type: Some("application/json".into()),
        body: vec![0, 0, 0, 1, 0xAA],
    };
    assert!(!s.complete_job(&b, &id, &done).await.expect("complete"));
    assert!(s.complete_job(&a, &id, &done).await.expect("complete"));
    // Only once.
    let mut again = done.clone();
    again.status = JobStatus::Failed;
    assert!(!s.complete_job(&a, &id, &again).await.expect("complete"));
    let j = s.get_job(&a, &id).await.expect("get").expect("exists");
    assert_eq!(j.status, JobStatus::Succeeded);
    assert_eq!(j.http_status, Some(200));
    assert_eq!(j.body.as_deref(), Some(&[0u8, 0, 0, 1, 0xAA][..]));
    assert_eq!(j.response_nonce, Some("ab".repeat(32)));
    assert!(j.completed_at.is_some());
    // Pending is not a completion.
    let mut bad = done.clone();
    bad.status = JobStatus::Pending;
    assert!(s.complete_job(&a, &id, &bad).await.is_err());

    // TTL purge: an expired job goes, a live one stays.
    let old = JobId::generate();
    s.create_job(&NewJob {
        tenant_id: a.clone(),
        id: old.clone(),
        callback_url: None,
        expires_at: now - time::Duration::seconds(1),
    })
    .await
    .expect("create");
    assert_eq!(s.purge_jobs(now).await.expect("purge"), 1);
    assert!(s.get_job(&a, &old).await.expect("get").is_none());
    assert!(s.get_job(&a, &id).await.expect("get").is_some());
}

async fn webhook_secrets(db: &TestDb) {
    let s = &*db.store;
    let a = create_tenant(s, "a").await;
    let b = create_tenant(s, "b").await;
    assert!(s.get_webhook_secret(&a).await.expect("get").is_none());
    s.put_webhook_secret(&a, b"wrapped-1").await.expect("put");
    s.put_webhook_secret(&a, b"wrapped-2")
        .await
        .expect("rotate");
    let r = s.get_webhook_secret(&a).await.expect("get").expect("set");
    assert_eq!(r.wrapped_secret, b"wrapped-2");
    assert!(!format!("{r:?}").contains("wrapped-2"));
    assert!(s.get_webhook_secret(&b).await.expect("get").is_none());
    assert!(s.put_webhook_secret(&a, b"").await.is_err());
}
