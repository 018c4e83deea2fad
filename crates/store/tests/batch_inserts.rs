//! The group-commit writer inserts a batch's records with one multi-row
//! statement: per-unit failures (an id already taken, a repeated id inside
//! the batch, an unknown tenant) fail only their own unit, the others are
//! stored, and every unit gets its audit event in one linear chain. Runs on
//! SQLite and PostgreSQL.

mod common;

use common::*;
use std::sync::Arc;
use zenalyze_store::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Inserted,
    Conflict,
    NotFound,
    Other,
}

async fn mixed_batch(db: &TestDb) {
    let s: Arc<dyn Store> = db.store.clone();
    let t = create_tenant(s.as_ref(), "Batch").await;
    let taken = insert_record(s.as_ref(), &t, "u-0", 0).await;
    let ghost = TenantId::generate();
    let repeated = NewRecord::new(t.clone(), user("u-r"), envelope(9), Metadata::new()).unwrap();

    let mut units: Vec<(WriteUnit, Expect)> = Vec::new();
    for i in 0..60u8 {
        let (mutation, expect) = match i % 10 {
            // The id of a stored record: only this unit fails.
            3 => {
                let mut r =
                    NewRecord::new(t.clone(), user("u-x"), envelope(i), Metadata::new()).unwrap();
                r.id = taken.id.clone();
                (Mutation::InsertRecord(r), Expect::Conflict)
            }
            // An unknown tenant: not found, nothing stored.
            5 => (
                Mutation::InsertRecord(
                    NewRecord::new(ghost.clone(), user("u-g"), envelope(i), Metadata::new())
                        .unwrap(),
                ),
                Expect::NotFound,
            ),
            // A non-record mutation in the middle of a run of inserts.
            7 => {
                let key = NewApiKey::new(
                    t.clone(),
                    KeyKind::SecretTest,
                    "zk_test_b",
                    KeyHash([i; 32]),
                    vec![],
                )
                .unwrap();
                (Mutation::CreateApiKey(key), Expect::Other)
            }
            _ => {
                let mut md = Metadata::new();
                md.insert("n".into(), i.to_string());
                (
                    Mutation::InsertRecord(
                        NewRecord::new(t.clone(), user("u-1"), envelope(i), md).unwrap(),
                    ),
                    Expect::Inserted,
                )
            }
        };
        units.push((WriteUnit::new(mutation, draft("records.create")), expect));
    }
    // The same new id twice: exactly one of the two is stored.
    for _ in 0..2 {
        units.push((
            WriteUnit::new(
                Mutation::InsertRecord(repeated.clone()),
                draft("records.create"),
            ),
            Expect::Other,
        ));
    }

    let mut tasks = Vec::new();
    for (unit, expect) in units {
        let s = s.clone();
        tasks.push(tokio::spawn(async move { (s.apply(unit).await, expect) }));
    }
    let mut inserted = 0;
    let mut repeated_inserted = 0;
    let mut seqs = Vec::new();
    for task in tasks {
        let (applied, expect) = task.await.unwrap();
        let applied = applied.expect("a per-unit failure must not fail the batch");
        seqs.push(applied.audit.seq);
        match (expect, &applied.outcome) {
            (Expect::Inserted, Outcome::RecordInserted(r)) => {
                inserted += 1;
                assert_eq!(applied.audit.result, AuditResult::Success);
                let got = s.get_record(&t, &r.id).await.unwrap().unwrap();
                assert_eq!(got.envelope, r.envelope);
                assert_eq!(got.metadata, r.metadata);
                assert_eq!(got.created_at, r.created_at);
            }
            (Expect::Conflict, Outcome::Conflict) => {
                assert_eq!(applied.audit.result, AuditResult::Conflict);
            }
            (Expect::NotFound, Outcome::NotFound) => {
                assert_eq!(applied.audit.result, AuditResult::NotFound);
            }
            (Expect::Other, Outcome::ApiKeyCreated(_)) => {}
            (Expect::Other, Outcome::RecordInserted(r)) if r.id == repeated.id => {
                repeated_inserted += 1;
            }
            (Expect::Other, Outcome::Conflict) => {
                assert_eq!(applied.audit.result, AuditResult::Conflict);
            }
            (expect, outcome) => panic!("expected {expect:?}, got {outcome:?}"),
        }
    }
    assert_eq!(inserted, 42);
    assert_eq!(repeated_inserted, 1);
    // The stored record whose id was reused is untouched.
    let kept = s.get_record(&t, &taken.id).await.unwrap().unwrap();
    assert_eq!(kept.envelope, taken.envelope);
    // 1 taken + 42 new + 1 repeated; nothing for the unknown tenant.
    assert_eq!(db.count("SELECT COUNT(*) FROM records").await, 44);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM api_keys WHERE prefix = 'zk_test_b'")
            .await,
        6
    );
    // One event per unit, gap-free and linear.
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 62);
    let report = s.verify_audit().await.unwrap();
    assert!(report.is_intact());
    assert_eq!(report.verified, 2 + 62);
}

/// A small batch limit: runs of inserts span several batches, with a
/// repeated id in the mix.
async fn small_batches(kind: Kind) {
    let options = StoreOptions {
        max_batch: 3,
        ..StoreOptions::default()
    };
    let db = TestDb::with_options(kind, options).await;
    let s: Arc<dyn Store> = db.store.clone();
    let t = create_tenant(s.as_ref(), "Small").await;
    let mut tasks = Vec::new();
    for i in 0..20u8 {
        let s = s.clone();
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let r = NewRecord::new(t, user("u-s"), envelope(i), Metadata::new()).unwrap();
            s.apply(WriteUnit::new(
                Mutation::InsertRecord(r),
                draft("records.create"),
            ))
            .await
        }));
    }
    for task in tasks {
        let applied = task.await.unwrap().unwrap();
        assert!(matches!(applied.outcome, Outcome::RecordInserted(_)));
    }
    assert_eq!(db.count("SELECT COUNT(*) FROM records").await, 20);
    let report = s.verify_audit().await.unwrap();
    assert!(report.is_intact());
    assert_eq!(report.verified, 21);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn small_batches_sqlite() {
    small_batches(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn small_batches_postgres() {
    small_batches(Kind::Postgres).await;
}

fn key_hash(task: u8, i: u8) -> [u8; 32] {
    let mut h = [0xA5u8; 32];
    h[0] = task;
    h[1] = i;
    h
}

/// Sustained concurrent writes in small batches: 24 tasks write
/// continuously in batches of at most 2, while some units take ids already
/// stored (on PostgreSQL their one-statement batch does not apply and the
/// general path decides each unit) and some are other mutations. Every unit
/// gets exactly its expected outcome, and the chain stays linear and intact.
async fn sustained_small_batches(kind: Kind) {
    let options = StoreOptions {
        max_batch: 2,
        ..StoreOptions::default()
    };
    let db = TestDb::with_options(kind, options).await;
    let s: Arc<dyn Store> = db.store.clone();
    let t = create_tenant(s.as_ref(), "Sustained").await;
    let taken = insert_record(s.as_ref(), &t, "u-0", 0).await;
    let mut tasks = Vec::new();
    for task in 0..24u8 {
        let (s, t, taken) = (s.clone(), t.clone(), taken.id.clone());
        tasks.push(tokio::spawn(async move {
            let (mut inserted, mut conflicts, mut keys) = (0u64, 0u64, 0u64);
            for i in 0..25u8 {
                let n = u32::from(task) * 25 + u32::from(i);
                let mutation = match n % 23 {
                    7 => {
                        let mut r =
                            NewRecord::new(t.clone(), user("u-c"), envelope(i), Metadata::new())
                                .unwrap();
                        r.id = taken.clone();
                        Mutation::InsertRecord(r)
                    }
                    13 => Mutation::CreateApiKey(
                        NewApiKey::new(
                            t.clone(),
                            KeyKind::SecretTest,
                            "zk_test_p",
                            KeyHash(key_hash(task, i)),
                            vec![],
                        )
                        .unwrap(),
                    ),
                    _ => Mutation::InsertRecord(
                        NewRecord::new(t.clone(), user("u-p"), envelope(i), Metadata::new())
                            .unwrap(),
                    ),
                };
                let expect_conflict = n % 23 == 7;
                let applied = s
                    .apply(WriteUnit::new(mutation, draft("records.create")))
                    .await
                    .expect("no unit fails the batch");
                match applied.outcome {
                    Outcome::RecordInserted(_) if !expect_conflict => inserted += 1,
                    Outcome::Conflict if expect_conflict => {
                        assert_eq!(applied.audit.result, AuditResult::Conflict);
                        conflicts += 1
                    }
                    Outcome::ApiKeyCreated(_) => keys += 1,
                    other => panic!("unexpected outcome {other:?} for unit {n}"),
                }
            }
            (inserted, conflicts, keys)
        }));
    }
    let (mut inserted, mut conflicts, mut keys) = (0, 0, 0);
    for task in tasks {
        let (a, b, c) = task.await.unwrap();
        inserted += a;
        conflicts += b;
        keys += c;
    }
    let expected_conflicts = (0..600u32).filter(|n| n % 23 == 7).count() as u64;
    let expected_keys = (0..600u32).filter(|n| n % 23 == 13).count() as u64;
    assert_eq!(conflicts, expected_conflicts);
    assert_eq!(keys, expected_keys);
    assert_eq!(inserted, 600 - expected_conflicts - expected_keys);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM records").await,
        inserted as i64 + 1
    );
    let report = s.verify_audit().await.unwrap();
    assert!(report.is_intact());
    assert_eq!(report.verified, 2 + 600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sustained_small_batches_sqlite() {
    sustained_small_batches(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sustained_small_batches_postgres() {
    sustained_small_batches(Kind::Postgres).await;
}

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

on_both!(mixed_batch);
