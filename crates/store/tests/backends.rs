//! The shared backend suite: every test runs against SQLite (tempdir) and
//! PostgreSQL (a fresh database on ZENALYZE_TEST_DATABASE_URL, default
//! postgres://postgres@127.0.0.1:5432/test, dropped afterwards).

mod common;

use common::*;
use std::collections::HashSet;
use std::time::Duration;
use zenalyze_store::audit::{canonical_bytes, chain_hash};
use zenalyze_store::*;

/// Generates `mod $name { sqlite, postgres }` running `$name(TestDb)`.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::common::{Kind, TestDb};
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let db = TestDb::new(Kind::Sqlite).await;
                tokio::time::timeout(std::time::Duration::from_secs(120), super::$name(&db))
                    .await
                    .expect("test timed out");
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                let db = TestDb::new(Kind::Postgres).await;
                tokio::time::timeout(std::time::Duration::from_secs(120), super::$name(&db))
                    .await
                    .expect("test timed out");
            }
        }
    )*};
}

on_both!(
    tenants_and_keys_crud,
    records_crud,
    tenant_isolation,
    pagination_is_stable,
    idempotency_claim_race,
    usage_counts_exact_under_concurrency,
    audit_chain_concurrent_appends,
    audit_chain_two_processes,
    audited_reads_write_events,
    tamper_edit_detected,
    tamper_delete_detected,
    tamper_insert_detected,
    tamper_swap_detected,
    append_only_triggers_refuse_edits,
    fail_closed_when_audit_unwritable,
    migrations_idempotent_on_reopen,
    export_jsonl_round_trips,
    keyrings_lifecycle,
    keyrings_tenant_isolation,
);

fn hash(n: u8) -> KeyHash {
    KeyHash([n; 32])
}

async fn tenants_and_keys_crud(db: &TestDb) {
    let s = db.store.as_ref();
    let t = create_tenant(s, "Acme Health").await;
    let got = s.get_tenant(&t).await.unwrap().unwrap();
    assert_eq!(got.name, "Acme Health");
    assert_eq!(got.tier, Tier::Pro);
    assert_eq!(got.quota_override, None);

    // Update tier and overrides.
    let applied = s
        .apply(WriteUnit::new(
            Mutation::UpdateTenant(TenantUpdate {
                id: t.clone(),
                tier: Tier::Enterprise,
                quota_override: Some(5_000_000),
                burst_override: Some(250),
            }),
            draft("tenants.update"),
        ))
        .await
        .unwrap();
    let Outcome::TenantUpdated(updated) = applied.outcome else {
        panic!("{applied:?}")
    };
    assert_eq!(updated.tier, Tier::Enterprise);
    assert_eq!(updated.quota_override, Some(5_000_000));
    assert_eq!(s.get_tenant(&t).await.unwrap().unwrap(), updated);

    // Out-of-range input is refused before it is queued (it would otherwise
    // fail the whole batch of other callers).
    let err = s
        .apply(WriteUnit::new(
            Mutation::UpdateTenant(TenantUpdate {
                id: t.clone(),
                tier: Tier::Free,
                quota_override: Some(u64::MAX),
                burst_override: None,
            }),
            draft("tenants.update"),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err}");
    let mut bad = NewTenant::new("ok", Tier::Free).unwrap();
    bad.name = "line\nbreak".into();
    assert!(s
        .apply(WriteUnit::new(
            Mutation::CreateTenant(bad),
            draft("tenants.create")
        ))
        .await
        .is_err());

    // Keys: create, look up by hash, list, revoke.
    let k1 = NewApiKey::new(
        t.clone(),
        KeyKind::SecretLive,
        "zk_live_ab12",
        hash(1),
        vec!["records:write".into(), "records:read".into()],
    )
    .unwrap();
    let k1_id = k1.id.clone();
    let applied = s
        .apply(WriteUnit::new(
            Mutation::CreateApiKey(k1),
            draft("api_keys.create"),
        ))
        .await
        .unwrap();
    let Outcome::ApiKeyCreated(created) = applied.outcome else {
        panic!("{applied:?}")
    };
    assert_eq!(created.scopes, vec!["records:write", "records:read"]);
    let k2 = NewApiKey::new(
        t.clone(),
        KeyKind::Publishable,
        "zk_pub_77",
        hash(2),
        vec![],
    )
    .unwrap();
    s.apply(WriteUnit::new(
        Mutation::CreateApiKey(k2),
        draft("api_keys.create"),
    ))
    .await
    .unwrap();

    let found = s.find_api_key_by_hash(&hash(1)).await.unwrap().unwrap();
    assert_eq!(found.id, k1_id);
    assert_eq!(found.tenant_id, t);
    assert_eq!(found.kind, KeyKind::SecretLive);
    assert_eq!(found.prefix, "zk_live_ab12");
    assert!(!found.is_revoked());
    assert!(s.find_api_key_by_hash(&hash(9)).await.unwrap().is_none());
    assert_eq!(s.list_api_keys(&t).await.unwrap().len(), 2);

    // Duplicate hash: conflict, recorded as such.
    let dup = NewApiKey::new(t.clone(), KeyKind::SecretTest, "zk_test_x", hash(1), vec![]).unwrap();
    let applied = s
        .apply(WriteUnit::new(
            Mutation::CreateApiKey(dup),
            draft("api_keys.create"),
        ))
        .await
        .unwrap();
    assert_eq!(applied.outcome, Outcome::Conflict);
    assert_eq!(applied.audit.result, AuditResult::Conflict);

    // Key for a tenant that does not exist: not found.
    let ghost = NewApiKey::new(
        TenantId::generate(),
        KeyKind::SecretTest,
        "zk_test_y",
        hash(3),
        vec![],
    )
    .unwrap();
    let applied = s
        .apply(WriteUnit::new(
            Mutation::CreateApiKey(ghost),
            draft("api_keys.create"),
        ))
        .await
        .unwrap();
    assert_eq!(applied.outcome, Outcome::NotFound);

    let applied = s
        .apply(WriteUnit::new(
            Mutation::RevokeApiKey {
                tenant_id: t.clone(),
                key_id: k1_id.clone(),
            },
            draft("api_keys.revoke"),
        ))
        .await
        .unwrap();
    let Outcome::ApiKeyRevoked(revoked) = applied.outcome else {
        panic!("{applied:?}")
    };
    let first_revocation = revoked.revoked_at.unwrap();
    // Revoking again keeps the first time.
    let again = s
        .apply(WriteUnit::new(
            Mutation::RevokeApiKey {
                tenant_id: t.clone(),
                key_id: k1_id.clone(),
            },
            draft("api_keys.revoke"),
        ))
        .await
        .unwrap();
    let Outcome::ApiKeyRevoked(again) = again.outcome else {
        panic!()
    };
    assert_eq!(again.revoked_at, Some(first_revocation));
    assert!(s
        .find_api_key_by_hash(&hash(1))
        .await
        .unwrap()
        .unwrap()
        .is_revoked());

    // Listing tenants with keyset pagination.
    let t2 = create_tenant(s, "Beta Clinic").await;
    let all = s.list_tenants(100, None).await.unwrap();
    assert_eq!(all.len(), 2);
    let first = s.list_tenants(1, None).await.unwrap();
    let second = s.list_tenants(1, Some(&first[0].id)).await.unwrap();
    assert_eq!(first.len() + second.len(), 2);
    assert_ne!(first[0].id, second[0].id);
    assert!([&t, &t2].contains(&&second[0].id));
    assert!(s.verify_audit().await.unwrap().is_intact());
}

async fn records_crud(db: &TestDb) {
    let s = db.store.as_ref();
    let t = create_tenant(s, "Acme").await;
    let mut md = Metadata::new();
    md.insert("kind".into(), "journal".into());
    let new = NewRecord::new(t.clone(), user("u-1"), envelope(7), md.clone()).unwrap();
    let id = new.id.clone();
    let applied = s
        .apply(WriteUnit::new(
            Mutation::InsertRecord(new),
            draft("records.create"),
        ))
        .await
        .unwrap();
    let Outcome::RecordInserted(rec) = applied.outcome else {
        panic!()
    };
    assert_eq!(rec.id, id);
    assert_eq!(rec.size, envelope(7).len() as u64);

    let got = s.get_record(&t, &id).await.unwrap().unwrap();
    assert_eq!(got.envelope, envelope(7));
    assert_eq!(got.metadata, md);
    assert_eq!(got.user_id, user("u-1"));
    assert_eq!(got.created_at, rec.created_at);

    // The event names the record, tenant and subject.
    let events = s.audit_events(0, 100).await.unwrap();
    let ev = events.iter().find(|e| e.seq == applied.audit.seq).unwrap();
    assert_eq!(ev.resource_id.as_deref(), Some(id.as_str()));
    assert_eq!(ev.tenant_id.as_deref(), Some(t.as_str()));
    assert_eq!(ev.subject.as_deref(), Some("u-1"));
    assert_eq!(ev.operation, "records.create");

    // Invalid envelopes never reach the store.
    assert!(NewRecord::new(t.clone(), user("u-1"), vec![0x02; 40], Metadata::new()).is_err());
    assert!(NewRecord::new(t.clone(), user("u-1"), vec![0x01; 10], Metadata::new()).is_err());

    let del = s
        .apply(WriteUnit::new(
            Mutation::DeleteRecord {
                tenant_id: t.clone(),
                record_id: id.clone(),
            },
            draft("records.delete"),
        ))
        .await
        .unwrap();
    assert_eq!(del.outcome, Outcome::RecordDeleted);
    assert!(s.get_record(&t, &id).await.unwrap().is_none());
    let del = s
        .apply(WriteUnit::new(
            Mutation::DeleteRecord {
                tenant_id: t.clone(),
                record_id: id.clone(),
            },
            draft("records.delete"),
        ))
        .await
        .unwrap();
    assert_eq!(del.outcome, Outcome::NotFound);
    assert_eq!(del.audit.result, AuditResult::NotFound);

    // A record for an unknown tenant is not stored.
    let ghost = NewRecord::new(
        TenantId::generate(),
        user("u-1"),
        envelope(1),
        Metadata::new(),
    )
    .unwrap();
    let applied = s
        .apply(WriteUnit::new(
            Mutation::InsertRecord(ghost),
            draft("records.create"),
        ))
        .await
        .unwrap();
    assert_eq!(applied.outcome, Outcome::NotFound);
    assert_eq!(db.count("SELECT COUNT(*) FROM records").await, 0);

    // A draft naming another tenant than the mutation is refused up front.
    let other = TenantId::generate();
    let new = NewRecord::new(t.clone(), user("u-1"), envelope(2), Metadata::new()).unwrap();
    let err = s
        .apply(WriteUnit::new(
            Mutation::InsertRecord(new),
            draft("records.create").tenant(other),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err}");
    assert!(s.verify_audit().await.unwrap().is_intact());
}

async fn tenant_isolation(db: &TestDb) {
    let s = db.store.as_ref();
    let a = create_tenant(s, "Tenant A").await;
    let b = create_tenant(s, "Tenant B").await;
    let ra = insert_record(s, &a, "alice", 1).await;
    let rb = insert_record(s, &b, "alice", 2).await;
    let ka = NewApiKey::new(
        a.clone(),
        KeyKind::SecretLive,
        "zk_live_a",
        hash(11),
        vec![],
    )
    .unwrap();
    let ka_id = ka.id.clone();
    s.apply(WriteUnit::new(
        Mutation::CreateApiKey(ka),
        draft("api_keys.create"),
    ))
    .await
    .unwrap();

    // B sees none of A's rows, by id or by listing.
    assert!(s.get_record(&b, &ra.id).await.unwrap().is_none());
    assert!(s.get_record(&a, &rb.id).await.unwrap().is_none());
    let page = s.list_records(&b, None, 100, None).await.unwrap();
    assert_eq!(
        page.records.iter().map(|r| &r.id).collect::<Vec<_>>(),
        vec![&rb.id]
    );
    let page = s
        .list_records(&b, Some(&user("alice")), 100, None)
        .await
        .unwrap();
    assert_eq!(page.records.len(), 1);
    assert!(s.get_api_key(&b, &ka_id).await.unwrap().is_none());
    assert!(s.list_api_keys(&b).await.unwrap().is_empty());

    // B cannot delete A's record or revoke A's key: exactly like a missing one.
    let del = s
        .apply(WriteUnit::new(
            Mutation::DeleteRecord {
                tenant_id: b.clone(),
                record_id: ra.id.clone(),
            },
            draft("records.delete"),
        ))
        .await
        .unwrap();
    assert_eq!(del.outcome, Outcome::NotFound);
    assert!(s.get_record(&a, &ra.id).await.unwrap().is_some());
    let rev = s
        .apply(WriteUnit::new(
            Mutation::RevokeApiKey {
                tenant_id: b.clone(),
                key_id: ka_id.clone(),
            },
            draft("api_keys.revoke"),
        ))
        .await
        .unwrap();
    assert_eq!(rev.outcome, Outcome::NotFound);
    assert!(!s
        .get_api_key(&a, &ka_id)
        .await
        .unwrap()
        .unwrap()
        .is_revoked());

    // Each tenant's audit report holds only its own events.
    let ea = s.audit_events_for_tenant(&a, 0, 100).await.unwrap();
    let eb = s.audit_events_for_tenant(&b, 0, 100).await.unwrap();
    assert!(!ea.is_empty() && !eb.is_empty());
    assert!(ea
        .iter()
        .all(|e| e.tenant_id.as_deref() == Some(a.as_str())));
    assert!(eb
        .iter()
        .all(|e| e.tenant_id.as_deref() == Some(b.as_str())));
    assert!(ea
        .iter()
        .any(|e| e.resource_id.as_deref() == Some(ra.id.as_str())));
    assert!(!eb
        .iter()
        .any(|e| e.resource_id.as_deref() == Some(ra.id.as_str()) && e.result == "success"));
    let after_first = s.audit_events_for_tenant(&a, ea[0].seq, 100).await.unwrap();
    assert_eq!(after_first.len(), ea.len() - 1);

    // Idempotency keys and usage are per tenant too.
    let k = OpaqueId::parse("idem-1").unwrap();
    assert_eq!(
        s.claim_idempotency_key(&a, &k, &[1; 32]).await.unwrap(),
        IdempotencyClaim::Claimed
    );
    assert_eq!(
        s.claim_idempotency_key(&b, &k, &[2; 32]).await.unwrap(),
        IdempotencyClaim::Claimed
    );
    let day = time::macros::date!(2026 - 11 - 25);
    s.record_usage(&[UsageIncrement::new(a.clone(), "records.create", day, 5)])
        .await
        .unwrap();
    assert!(s.usage(&b, day, day).await.unwrap().is_empty());
    assert_eq!(s.usage(&a, day, day).await.unwrap()[0].count, 5);
}

async fn pagination_is_stable(db: &TestDb) {
    let s = db.store.as_ref();
    let t = create_tenant(s, "Pager").await;
    let other = create_tenant(s, "Noise").await;
    let mut ids = Vec::new();
    for i in 0..23u8 {
        let u = if i % 3 == 0 { "bob" } else { "alice" };
        ids.push(insert_record(s, &t, u, i).await.id);
        insert_record(s, &other, u, i).await;
    }
    // Page through in 5s; insert a new record mid-way: it is newer than the
    // cursor, so it does not shift or duplicate later pages.
    let mut seen = Vec::new();
    let mut cursor: Option<Cursor> = None;
    let mut pages = 0;
    loop {
        let page = s.list_records(&t, None, 5, cursor.as_ref()).await.unwrap();
        pages += 1;
        seen.extend(page.records.iter().map(|r| r.id.clone()));
        // Newest first.
        for w in page.records.windows(2) {
            assert!((w[0].created_at, &w[0].id) > (w[1].created_at, &w[1].id));
        }
        if pages == 2 {
            insert_record(s, &t, "alice", 99).await;
        }
        match page.next_cursor {
            // The cursor survives its text form.
            Some(c) => cursor = Some(Cursor::decode(&c.encode()).unwrap()),
            None => break,
        }
        assert!(pages < 10);
    }
    assert_eq!(pages, 5);
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 23);
    assert_eq!(unique, ids.iter().collect::<HashSet<_>>());

    // User filter.
    let bob = s
        .list_records(&t, Some(&user("bob")), 100, None)
        .await
        .unwrap();
    assert_eq!(bob.records.len(), 8);
    assert!(bob.next_cursor.is_none());
    assert!(bob.records.iter().all(|r| r.user_id == user("bob")));

    // Exactly-full last page has no cursor; a limit of 0 is clamped to 1.
    let all = s.list_records(&t, None, 24, None).await.unwrap();
    assert_eq!(all.records.len(), 24);
    assert!(all.next_cursor.is_none());
    assert_eq!(
        s.list_records(&t, None, 0, None)
            .await
            .unwrap()
            .records
            .len(),
        1
    );
    assert!(Cursor::decode("not a cursor").is_err());
}

async fn idempotency_claim_race(db: &TestDb) {
    let s = db.store.clone();
    let t = create_tenant(s.as_ref(), "Idem").await;
    let key = OpaqueId::parse("7d1b4a9e-0b6c-4f6e-9a57-2f4a1c9d0e11").unwrap();
    let fp = [42u8; 32];
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let (s, t, key) = (s.clone(), t.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            s.claim_idempotency_key(&t, &key, &fp).await.unwrap()
        }));
    }
    let mut claimed = 0;
    for task in tasks {
        match task.await.unwrap() {
            IdempotencyClaim::Claimed => claimed += 1,
            IdempotencyClaim::InProgress => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(claimed, 1, "exactly one concurrent claimant wins");
    assert_eq!(
        s.claim_idempotency_key(&t, &key, &[43; 32]).await.unwrap(),
        IdempotencyClaim::FingerprintMismatch
    );

    let response = StoredResponse {
        status: 201,
        body: br#"{"id":"rec_1"}"#.to_vec(),
    };
    s.complete_idempotency_key(&t, &key, &response)
        .await
        .unwrap();
    assert_eq!(
        s.claim_idempotency_key(&t, &key, &fp).await.unwrap(),
        IdempotencyClaim::Completed(response.clone())
    );
    // Completing twice is refused (the stored response is final).
    assert!(s
        .complete_idempotency_key(&t, &key, &response)
        .await
        .is_err());

    // Release lets a retry claim again; release never removes a completed key.
    let k2 = OpaqueId::parse("k2").unwrap();
    assert_eq!(
        s.claim_idempotency_key(&t, &k2, &fp).await.unwrap(),
        IdempotencyClaim::Claimed
    );
    s.release_idempotency_key(&t, &k2).await.unwrap();
    assert_eq!(
        s.claim_idempotency_key(&t, &k2, &fp).await.unwrap(),
        IdempotencyClaim::Claimed
    );
    s.release_idempotency_key(&t, &key).await.unwrap();
    assert!(matches!(
        s.claim_idempotency_key(&t, &key, &fp).await.unwrap(),
        IdempotencyClaim::Completed(_)
    ));

    // Purge.
    let future = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    assert_eq!(s.purge_idempotency_keys(future).await.unwrap(), 2);
    assert_eq!(
        s.claim_idempotency_key(&t, &key, &fp).await.unwrap(),
        IdempotencyClaim::Claimed
    );
}

async fn usage_counts_exact_under_concurrency(db: &TestDb) {
    let s = db.store.clone();
    let t = create_tenant(s.as_ref(), "Metered").await;
    let d1 = time::macros::date!(2026 - 11 - 24);
    let d2 = time::macros::date!(2026 - 11 - 25);
    let mut tasks = Vec::new();
    for task in 0..50u64 {
        let (s, t) = (s.clone(), t.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..20u64 {
                let day = if (task + i) % 2 == 0 { d1 } else { d2 };
                s.record_usage(&[
                    UsageIncrement::new(t.clone(), "records.create", day, 1),
                    UsageIncrement::new(t.clone(), "ai.analyze", d2, 2),
                ])
                .await
                .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let rows = s.usage(&t, d1, d2).await.unwrap();
    let get = |op: &str, day| {
        rows.iter()
            .find(|r| r.operation == op && r.day == day)
            .map(|r| r.count)
    };
    assert_eq!(get("records.create", d1), Some(500));
    assert_eq!(get("records.create", d2), Some(500));
    assert_eq!(get("ai.analyze", d2), Some(2000));
    assert_eq!(rows.len(), 3);
    // Range bounds are inclusive and exclusive of other days.
    assert_eq!(s.usage(&t, d1, d1).await.unwrap().len(), 1);
    assert!(s
        .usage(&t, d2.next_day().unwrap(), d2.next_day().unwrap())
        .await
        .unwrap()
        .is_empty());
    // Bad operation names are refused, and nothing of the batch is applied.
    let err = s
        .record_usage(&[
            UsageIncrement::new(t.clone(), "ok.op", d1, 1),
            UsageIncrement::new(t.clone(), "Bad Op", d1, 1),
        ])
        .await;
    assert!(err.is_err());
    assert!(s
        .usage(&t, d1, d1)
        .await
        .unwrap()
        .iter()
        .all(|r| r.operation != "ok.op"));
}

async fn audit_chain_concurrent_appends(db: &TestDb) {
    let s = db.store.clone();
    let t = create_tenant(s.as_ref(), "Busy").await;
    let mut tasks = Vec::new();
    for i in 0..40u32 {
        let (s, t) = (s.clone(), t.clone());
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for j in 0..10u32 {
                let r = OpaqueId::parse(&format!("req-{i}-{j}")).unwrap();
                let d = AuditDraft::new(Actor::System, op("records.read"), AuditResult::Success, r)
                    .tenant(t.clone());
                seqs.push(s.append_audit(d).await.unwrap().seq);
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        let seqs = task.await.unwrap();
        // Each caller's own events are in order.
        assert!(seqs.windows(2).all(|w| w[0] < w[1]));
        all.extend(seqs);
    }
    all.sort_unstable();
    // 1 event for the tenant creation, then 400 appends: gap-free, no dups.
    assert_eq!(all, (2..=401).collect::<Vec<u64>>());
    let report = s.verify_audit().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.verified, 401);
    assert_eq!(s.audit_head().await.unwrap(), report.last_good);
    // Group commit did batch (fewer distinct times than events is not
    // guaranteed, but the head must equal the last event).
    let last = s.audit_events(400, 10).await.unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].hash, report.last_good.hash);
}

async fn audit_chain_two_processes(db: &TestDb) {
    // Two independent stores (pools + writers) on one database, as two
    // gateway processes: the chain stays linear.
    let s1 = db.store.clone();
    let s2 = db.open_again().await;
    let mut tasks = Vec::new();
    for i in 0..20u32 {
        let s = if i % 2 == 0 { s1.clone() } else { s2.clone() };
        tasks.push(tokio::spawn(async move {
            for j in 0..10u32 {
                let r = OpaqueId::parse(&format!("p{i}-{j}")).unwrap();
                s.append_audit(AuditDraft::new(
                    Actor::Admin,
                    op("admin.ping"),
                    AuditResult::Success,
                    r,
                ))
                .await
                .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let report = s2.verify_audit().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.verified, 200);
    s2.close().await;
}

async fn audited_reads_write_events(db: &TestDb) {
    let s = db.store.as_ref();
    let t = create_tenant(s, "Reader").await;
    let r = insert_record(s, &t, "carol", 3).await;
    let key_id = ApiKeyId::generate();
    let d = AuditDraft::new(
        Actor::ApiKey(key_id.clone()),
        op("records.get"),
        AuditResult::Success,
        req("r-get"),
    );
    let got = s.get_record_audited(&t, &r.id, d.clone()).await.unwrap();
    assert!(got.is_some());
    let missing = RecordId::generate();
    assert!(s
        .get_record_audited(&t, &missing, d.clone())
        .await
        .unwrap()
        .is_none());
    let page = s
        .list_records_audited(
            &t,
            Some(&user("carol")),
            10,
            None,
            d.clone().result(AuditResult::Success),
        )
        .await
        .unwrap();
    assert_eq!(page.records.len(), 1);
    let events = s.audit_events(2, 10).await.unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].resource_id.as_deref(), Some(r.id.as_str()));
    assert_eq!(events[0].result, "success");
    assert_eq!(events[0].subject.as_deref(), Some("carol"));
    assert_eq!(events[0].actor, key_id.as_str());
    assert_eq!(events[1].result, "not_found");
    assert_eq!(events[1].resource_id.as_deref(), Some(missing.as_str()));
    assert_eq!(events[2].subject.as_deref(), Some("carol"));
    assert_eq!(events[2].tenant_id.as_deref(), Some(t.as_str()));
}

/// Appends `n` events and returns them.
async fn seed_chain(db: &TestDb, n: u32) -> Vec<AuditEvent> {
    for i in 0..n {
        let r = OpaqueId::parse(&format!("seed-{i}")).unwrap();
        db.store
            .append_audit(AuditDraft::new(
                Actor::Cli,
                op("seed"),
                AuditResult::Success,
                r,
            ))
            .await
            .unwrap();
    }
    let events = db.store.audit_events(0, 1000).await.unwrap();
    assert_eq!(events.len(), n as usize);
    assert!(db.store.verify_audit().await.unwrap().is_intact());
    events
}

fn first_break(report: VerifyReport) -> (u64, BreakReason) {
    let b = report.first_break.expect("tampering must be detected");
    (b.seq, b.reason)
}

async fn tamper_edit_detected(db: &TestDb) {
    seed_chain(db, 8).await;
    db.drop_append_only_triggers().await;
    db.raw("UPDATE audit_events SET result = 'denied' WHERE seq = 5")
        .await
        .unwrap();
    let (seq, reason) = first_break(db.store.verify_audit().await.unwrap());
    assert_eq!((seq, reason), (5, BreakReason::HashMismatch));
}

async fn tamper_delete_detected(db: &TestDb) {
    seed_chain(db, 8).await;
    db.drop_append_only_triggers().await;
    db.raw("DELETE FROM audit_events WHERE seq = 3")
        .await
        .unwrap();
    assert_eq!(
        first_break(db.store.verify_audit().await.unwrap()),
        (3, BreakReason::Missing)
    );
}

async fn tamper_tail_truncation_detected(db: &TestDb) {
    seed_chain(db, 6).await;
    db.drop_append_only_triggers().await;
    db.raw("DELETE FROM audit_events WHERE seq = 6")
        .await
        .unwrap();
    assert_eq!(
        first_break(db.store.verify_audit().await.unwrap()),
        (6, BreakReason::Missing)
    );
}
on_both!(tamper_tail_truncation_detected);

fn hex_lit(kind: Kind, bytes: &[u8; 32]) -> String {
    match kind {
        Kind::Sqlite => format!("X'{}'", hex::encode(bytes)),
        Kind::Postgres => format!("'\\x{}'::bytea", hex::encode(bytes)),
    }
}

fn insert_sql(kind: Kind, e: &AuditEvent) -> String {
    format!(
        "INSERT INTO audit_events (seq, time, tenant_id, actor, subject, operation, resource_id, result, request_id, prev_hash, hash) \
         VALUES ({}, '{}', NULL, '{}', NULL, '{}', NULL, '{}', '{}', {}, {})",
        e.seq, e.time, e.actor, e.operation, e.result, e.request_id,
        hex_lit(kind, &e.prev_hash),
        hex_lit(kind, &e.hash)
    )
}

async fn tamper_insert_detected(db: &TestDb) {
    let events = seed_chain(db, 6).await;
    db.drop_append_only_triggers().await;
    // 1. A forged event appended after the head, with a correct hash: the
    //    head does not cover it.
    let mut forged = events[5].clone();
    forged.seq = 7;
    forged.prev_hash = events[5].hash;
    forged.request_id = "forged".into();
    forged.hash = chain_hash(&forged.prev_hash, &canonical_bytes(&forged));
    db.raw(&insert_sql(db.kind, &forged)).await.unwrap();
    assert_eq!(
        first_break(db.store.verify_audit().await.unwrap()),
        (7, BreakReason::BeyondHead)
    );
    db.raw("DELETE FROM audit_events WHERE seq = 7")
        .await
        .unwrap();
    assert!(db.store.verify_audit().await.unwrap().is_intact());

    // 2. A forged event slipped in at seq 3 (later rows renumbered): the
    //    forged row links correctly, so the break shows at the next seq.
    db.raw("UPDATE audit_events SET seq = -seq WHERE seq >= 3")
        .await
        .unwrap();
    db.raw("UPDATE audit_events SET seq = 1 - seq WHERE seq < 0")
        .await
        .unwrap();
    let mut forged = events[2].clone();
    forged.prev_hash = events[1].hash;
    forged.request_id = "forged-mid".into();
    forged.hash = chain_hash(&forged.prev_hash, &canonical_bytes(&forged));
    db.raw(&insert_sql(db.kind, &forged)).await.unwrap();
    let (seq, _) = first_break(db.store.verify_audit().await.unwrap());
    assert_eq!(seq, 4);
}

async fn tamper_swap_detected(db: &TestDb) {
    seed_chain(db, 8).await;
    db.drop_append_only_triggers().await;
    db.raw("UPDATE audit_events SET seq = -1 WHERE seq = 4")
        .await
        .unwrap();
    db.raw("UPDATE audit_events SET seq = 4 WHERE seq = 6")
        .await
        .unwrap();
    db.raw("UPDATE audit_events SET seq = 6 WHERE seq = -1")
        .await
        .unwrap();
    let (seq, _) = first_break(db.store.verify_audit().await.unwrap());
    assert_eq!(seq, 4);
}

async fn append_only_triggers_refuse_edits(db: &TestDb) {
    seed_chain(db, 3).await;
    assert!(db
        .raw("UPDATE audit_events SET result = 'denied' WHERE seq = 2")
        .await
        .is_err());
    assert!(db
        .raw("DELETE FROM audit_events WHERE seq = 2")
        .await
        .is_err());
    if db.kind == Kind::Postgres {
        assert!(db.raw("TRUNCATE audit_events").await.is_err());
    }
    assert!(db.store.verify_audit().await.unwrap().is_intact());
}

async fn fail_closed_when_audit_unwritable(db: &TestDb) {
    let s = db.store.clone();
    let t = create_tenant(s.as_ref(), "Closed").await;
    db.break_audit_inserts().await;

    // A batch of concurrent units: every one fails, nothing is stored.
    let mut tasks = Vec::new();
    for i in 0..10u8 {
        let (s, t) = (s.clone(), t.clone());
        tasks.push(tokio::spawn(async move {
            let rec = NewRecord::new(t, user("dave"), envelope(i), Metadata::new()).unwrap();
            s.apply(WriteUnit::new(
                Mutation::InsertRecord(rec),
                draft("records.create"),
            ))
            .await
        }));
    }
    for task in tasks {
        let err = task.await.unwrap().unwrap_err();
        assert!(matches!(err, StoreError::AuditUnavailable(_)), "{err}");
    }
    assert_eq!(db.count("SELECT COUNT(*) FROM records").await, 0);
    let key = NewApiKey::new(
        t.clone(),
        KeyKind::SecretLive,
        "zk_live_zz",
        hash(77),
        vec![],
    )
    .unwrap();
    assert!(s
        .apply(WriteUnit::new(
            Mutation::CreateApiKey(key),
            draft("api_keys.create")
        ))
        .await
        .is_err());
    assert!(s.find_api_key_by_hash(&hash(77)).await.unwrap().is_none());
    // Audited reads fail too: the data is not returned.
    let r = RecordId::generate();
    assert!(s
        .get_record_audited(&t, &r, draft("records.get"))
        .await
        .is_err());
    assert_eq!(s.audit_head().await.unwrap().seq, 1);

    // Once the audit table accepts writes again, everything works and the
    // chain is intact (no holes from the failed batch).
    db.repair_audit_inserts().await;
    let rec = insert_record(s.as_ref(), &t, "dave", 1).await;
    assert!(s.get_record(&t, &rec.id).await.unwrap().is_some());
    let report = s.verify_audit().await.unwrap();
    assert!(report.is_intact());
    assert_eq!(report.verified, 2);
}

async fn migrations_idempotent_on_reopen(db: &TestDb) {
    let t = create_tenant(db.store.as_ref(), "Persisted").await;
    let s2 = db.open_again().await;
    let s3 = db.open_again().await;
    assert_eq!(s3.get_tenant(&t).await.unwrap().unwrap().name, "Persisted");
    // One row per embedded migration file, however many later issues add.
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count() as i64;
    assert!(migrations >= 1);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM _sqlx_migrations").await,
        migrations
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM audit_head").await, 1);
    assert!(s3.verify_audit().await.unwrap().is_intact());
    s2.close().await;
    s3.close().await;
    // A closed store refuses writes instead of hanging.
    let err = s2.append_audit(draft("x")).await.unwrap_err();
    assert!(matches!(err, StoreError::WriterClosed), "{err}");
}

async fn export_jsonl_round_trips(db: &TestDb) {
    let s = db.store.as_ref();
    let t = create_tenant(s, "Exporter").await;
    insert_record(s, &t, "erin", 4).await;
    seed_chain_more(s, 5).await;
    let mut out = Vec::new();
    let n = s.export_audit(0, &mut out).await.unwrap();
    assert_eq!(n, 7);
    let text = String::from_utf8(out).unwrap();
    let events: Vec<AuditEvent> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 7);
    let mut v = ChainVerifier::new();
    for e in &events {
        assert!(v.push(Ok(e)));
    }
    let head = s.audit_head().await.unwrap();
    assert!(v.finish(Some(head)).is_intact());
    // Export from a sequence number.
    let mut tail = Vec::new();
    assert_eq!(s.export_audit(5, &mut tail).await.unwrap(), 2);
    let first: AuditEvent =
        serde_json::from_str(String::from_utf8(tail).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(first.seq, 6);
    // No envelope bytes or metadata ever appear in the log.
    assert!(!text.contains("envelope"));
}

async fn seed_chain_more(s: &dyn Store, n: u32) {
    for i in 0..n {
        let r = OpaqueId::parse(&format!("more-{i}")).unwrap();
        s.append_audit(AuditDraft::new(
            Actor::System,
            op("seed"),
            AuditResult::Success,
            r,
        ))
        .await
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backpressure_small_queue_still_commits_everything() {
    let options = StoreOptions {
        queue_capacity: 2,
        max_batch: 3,
        ..StoreOptions::default()
    };
    let db = TestDb::with_options(Kind::Sqlite, options).await;
    let s = db.store.clone();
    let mut tasks = Vec::new();
    for i in 0..30u32 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let r = OpaqueId::parse(&format!("bp-{i}")).unwrap();
            s.append_audit(AuditDraft::new(
                Actor::System,
                op("bp"),
                AuditResult::Success,
                r,
            ))
            .await
            .unwrap()
        }));
    }
    let results = tokio::time::timeout(Duration::from_secs(60), async {
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    })
    .await
    .expect("no deadlock under backpressure");
    assert_eq!(results.len(), 30);
    assert!(s.verify_audit().await.unwrap().is_intact());
}

#[tokio::test]
async fn open_rejects_unknown_urls() {
    assert!(matches!(
        zenalyze_store::open("mysql://x/y").await.unwrap_err(),
        StoreError::UnsupportedUrl
    ));
    assert!(matches!(
        zenalyze_store::open("").await.unwrap_err(),
        StoreError::UnsupportedUrl
    ));
}

#[test]
fn data_dir_url_convention() {
    let url = sqlite_url_for_data_dir(std::path::Path::new("/var/lib/zenalyze"));
    assert_eq!(url, "sqlite:///var/lib/zenalyze/zenalyze.db?mode=rwc");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_open_of_a_fresh_sqlite_file() {
    // Several processes starting at once on a new data dir all come up.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap().to_owned();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let path = path.clone();
        tasks.push(tokio::spawn(
            async move { zenalyze_store::open(&path).await },
        ));
    }
    for task in tasks {
        let store = task.await.unwrap().expect("open");
        assert!(store.verify_audit().await.unwrap().is_intact());
        store.close().await;
    }
}

async fn tamper_undecodable_row_detected(db: &TestDb) {
    seed_chain(db, 5).await;
    db.drop_append_only_triggers().await;
    let short = match db.kind {
        Kind::Sqlite => "X'0102'",
        Kind::Postgres => "'\\x0102'::bytea",
    };
    db.raw(&format!(
        "UPDATE audit_events SET hash = {short} WHERE seq = 4"
    ))
    .await
    .unwrap();
    assert_eq!(
        first_break(db.store.verify_audit().await.unwrap()),
        (4, BreakReason::Undecodable)
    );
    // The strict reader refuses it; the export fails instead of writing a
    // line that would not verify.
    assert!(matches!(
        db.store.audit_events(0, 100).await.unwrap_err(),
        StoreError::Corrupt(_)
    ));
}
on_both!(tamper_undecodable_row_detected);

fn kr(name: &str) -> KeyringName {
    KeyringName::parse(name).unwrap()
}

fn new_keyring(t: &TenantId, name: &str, period: Option<u64>) -> NewKeyring {
    NewKeyring {
        tenant_id: t.clone(),
        name: kr(name),
        settings: KeyringSettings {
            auto_rotate_period_s: period,
            deletion_allowed: false,
        },
        root_id: "local:test".into(),
        index_key: WrappedKey(vec![9; 60]),
        first_key: WrappedKey(vec![1; 60]),
    }
}

fn version(t: &TenantId, name: &str, v: u32) -> NewKeyVersion {
    NewKeyVersion {
        tenant_id: t.clone(),
        keyring: kr(name),
        version: v,
        root_id: "local:test".into(),
        wrapped: WrappedKey(vec![v as u8; 60]),
    }
}

async fn keyrings_lifecycle(db: &TestDb) {
    let s = db.store.as_ref();
    let t = create_tenant(s, "Acme").await;
    let a = s
        .apply(WriteUnit::new(
            Mutation::CreateKeyring(new_keyring(&t, "encrypt-email", None)),
            draft("kms.keyrings.create"),
        ))
        .await
        .unwrap();
    let Outcome::KeyringCreated(k) = a.outcome else {
        panic!("{:?}", a.outcome)
    };
    assert_eq!(k.primary_version, 1);
    assert_eq!(k.min_decryption_version, 1);
    assert!(!k.deletion_allowed);
    assert_eq!(k.index_key, WrappedKey(vec![9; 60]));
    // The event names the keyring version, never key bytes.
    let ev = s.audit_events(a.audit.seq - 1, 1).await.unwrap().remove(0);
    assert_eq!(ev.resource_id.as_deref(), Some("encrypt-email:v1"));
    assert_eq!(ev.tenant_id.as_deref(), Some(t.as_str()));

    // Duplicate name: conflict, audited as such.
    let dup = s
        .apply(WriteUnit::new(
            Mutation::CreateKeyring(new_keyring(&t, "encrypt-email", None)),
            draft("kms.keyrings.create"),
        ))
        .await
        .unwrap();
    assert_eq!(dup.outcome, Outcome::Conflict);
    assert_eq!(dup.audit.result, AuditResult::Conflict);

    // Unknown tenant: not found.
    let ghost = TenantId::generate();
    let nf = s
        .apply(WriteUnit::new(
            Mutation::CreateKeyring(new_keyring(&ghost, "x", None)),
            draft("kms.keyrings.create"),
        ))
        .await
        .unwrap();
    assert_eq!(nf.outcome, Outcome::NotFound);

    // Bad settings are refused before anything is queued.
    assert!(matches!(
        s.apply(WriteUnit::new(
            Mutation::CreateKeyring(new_keyring(&t, "y", Some(60))),
            draft("kms.keyrings.create"),
        ))
        .await,
        Err(StoreError::InvalidInput(_))
    ));

    // Rotation: only primary + 1 applies; concurrent rotations to the same
    // number give exactly one winner.
    let racers = (0..4).map(|_| {
        s.apply(WriteUnit::new(
            Mutation::AddKeyVersion(version(&t, "encrypt-email", 2)),
            draft("kms.keyrings.rotate"),
        ))
    });
    let results = futures_join_all(racers).await;
    let wins = results
        .iter()
        .filter(|r| matches!(r.as_ref().unwrap().outcome, Outcome::KeyVersionAdded(_)))
        .count();
    assert_eq!(wins, 1);
    let skip = s
        .apply(WriteUnit::new(
            Mutation::AddKeyVersion(version(&t, "encrypt-email", 4)),
            draft("kms.keyrings.rotate"),
        ))
        .await
        .unwrap();
    assert_eq!(skip.outcome, Outcome::Conflict);
    let v3 = s
        .apply(WriteUnit::new(
            Mutation::AddKeyVersion(version(&t, "encrypt-email", 3)),
            draft("kms.keyrings.rotate"),
        ))
        .await
        .unwrap();
    let Outcome::KeyVersionAdded(k3) = v3.outcome else {
        panic!()
    };
    assert_eq!(k3.primary_version, 3);
    let versions = s.list_key_versions(&t, &kr("encrypt-email")).await.unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(versions[2].wrapped, WrappedKey(vec![3; 60]));

    // Settings: min version bounded by the primary; period on and off.
    let mut up = KeyringUpdate::of(t.clone(), kr("encrypt-email"));
    up.min_decryption_version = Some(4);
    let over = s
        .apply(WriteUnit::new(
            Mutation::UpdateKeyring(up),
            draft("kms.keyrings.update"),
        ))
        .await
        .unwrap();
    assert_eq!(over.outcome, Outcome::Conflict);
    let mut up = KeyringUpdate::of(t.clone(), kr("encrypt-email"));
    up.min_decryption_version = Some(2);
    up.auto_rotate_period_s = Some(Some(7200));
    let ok = s
        .apply(WriteUnit::new(
            Mutation::UpdateKeyring(up),
            draft("kms.keyrings.update"),
        ))
        .await
        .unwrap();
    let Outcome::KeyringUpdated(k) = ok.outcome else {
        panic!()
    };
    assert_eq!(
        (
            k.min_decryption_version,
            k.auto_rotate_period_s,
            k.deletion_allowed
        ),
        (2, Some(7200), false)
    );
    let auto = s.list_auto_rotating_keyrings(100, None).await.unwrap();
    assert_eq!(auto.len(), 1);
    assert!(s
        .list_auto_rotating_keyrings(100, Some((&t, &kr("encrypt-email"))))
        .await
        .unwrap()
        .is_empty());
    let mut up = KeyringUpdate::of(t.clone(), kr("encrypt-email"));
    up.auto_rotate_period_s = Some(None);
    s.apply(WriteUnit::new(
        Mutation::UpdateKeyring(up),
        draft("kms.keyrings.update"),
    ))
    .await
    .unwrap();
    assert!(s
        .list_auto_rotating_keyrings(100, None)
        .await
        .unwrap()
        .is_empty());
    let k = s
        .get_keyring(&t, &kr("encrypt-email"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(k.min_decryption_version, 2, "unchanged fields are kept");

    // Deletion refused until allowed.
    let del = || {
        s.apply(WriteUnit::new(
            Mutation::DeleteKeyring {
                tenant_id: t.clone(),
                name: kr("encrypt-email"),
            },
            draft("kms.keyrings.delete"),
        ))
    };
    assert_eq!(del().await.unwrap().outcome, Outcome::Conflict);
    assert!(s
        .get_keyring(&t, &kr("encrypt-email"))
        .await
        .unwrap()
        .is_some());
    let mut up = KeyringUpdate::of(t.clone(), kr("encrypt-email"));
    up.deletion_allowed = Some(true);
    s.apply(WriteUnit::new(
        Mutation::UpdateKeyring(up),
        draft("kms.keyrings.update"),
    ))
    .await
    .unwrap();
    assert_eq!(del().await.unwrap().outcome, Outcome::KeyringDeleted);
    assert!(s
        .get_keyring(&t, &kr("encrypt-email"))
        .await
        .unwrap()
        .is_none());
    assert!(s
        .list_key_versions(&t, &kr("encrypt-email"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(del().await.unwrap().outcome, Outcome::NotFound);
    assert!(s.verify_audit().await.unwrap().is_intact());
}

async fn keyrings_tenant_isolation(db: &TestDb) {
    let s = db.store.as_ref();
    let a = create_tenant(s, "A").await;
    let b = create_tenant(s, "B").await;
    for t in [&a, &b] {
        s.apply(WriteUnit::new(
            Mutation::CreateKeyring(new_keyring(t, "encrypt-username", None)),
            draft("kms.keyrings.create"),
        ))
        .await
        .unwrap();
    }
    // B cannot rotate, update or delete A's keyring through its own id.
    let ghost = create_tenant(s, "C").await;
    let r = s
        .apply(WriteUnit::new(
            Mutation::AddKeyVersion(version(&ghost, "encrypt-username", 2)),
            draft("kms.keyrings.rotate"),
        ))
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::NotFound);
    s.apply(WriteUnit::new(
        Mutation::AddKeyVersion(version(&a, "encrypt-username", 2)),
        draft("kms.keyrings.rotate"),
    ))
    .await
    .unwrap();
    let ka = s
        .get_keyring(&a, &kr("encrypt-username"))
        .await
        .unwrap()
        .unwrap();
    let kb = s
        .get_keyring(&b, &kr("encrypt-username"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((ka.primary_version, kb.primary_version), (2, 1));
    assert_eq!(s.list_keyrings(&b).await.unwrap().len(), 1);
    assert!(s.list_keyrings(&ghost).await.unwrap().is_empty());
    assert_eq!(
        s.list_key_versions(&b, &kr("encrypt-username"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(s
        .get_keyring(&ghost, &kr("encrypt-username"))
        .await
        .unwrap()
        .is_none());
}

async fn futures_join_all<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = futs.collect();
    let mut out = Vec::with_capacity(handles.len());
    // Poll all concurrently: pin them and drive them with a JoinSet-free
    // select loop via tokio::join! semantics.
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = handles.into_iter().map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if results[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => results[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    for r in results {
        out.extend(r);
    }
    out
}
