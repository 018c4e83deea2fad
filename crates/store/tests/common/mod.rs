//! Test harness shared by the backend suite: a store on SQLite (in a
//! tempdir) or on PostgreSQL (in a freshly created database that is dropped
//! afterwards), plus raw SQL access for tampering.
#![allow(dead_code)]

use sqlx::Connection;
use std::sync::Arc;
use zenalyze_store::{
    Actor, AuditDraft, AuditResult, NewRecord, NewTenant, OpaqueId, Operation, Store, StoreOptions,
    TenantId, Tier, UserId,
};

/// Which backend a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

pub fn pg_base_url() -> String {
    std::env::var("ZENALYZE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn pg_url_with_db(base: &str, db: &str) -> String {
    // Replace the path (database name) of the URL, keeping any query.
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (base, None),
    };
    let scheme_end = head.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = head[scheme_end..]
        .find('/')
        .map(|i| scheme_end + i)
        .unwrap_or(head.len());
    let mut url = format!("{}/{}", &head[..host_end], db);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

/// A store under test and what is needed to reach its database directly.
pub struct TestDb {
    pub kind: Kind,
    pub store: Arc<dyn Store>,
    /// URL that `zenalyze_store::open` accepts for this database.
    pub url: String,
    pg_db: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(kind: Kind) -> Self {
        Self::with_options(kind, StoreOptions::default()).await
    }

    pub async fn with_options(kind: Kind, options: StoreOptions) -> Self {
        match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = dir.path().to_str().expect("utf-8 tempdir").to_owned();
                let store = zenalyze_store::open_with(&url, &options)
                    .await
                    .expect("open sqlite store");
                Self {
                    kind,
                    store,
                    url,
                    pg_db: None,
                    _dir: Some(dir),
                }
            }
            Kind::Postgres => {
                let base = pg_base_url();
                let name = format!("zstore_test_{}", hex_id());
                let mut admin = sqlx::PgConnection::connect(&base).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL is required for this test (ZENALYZE_TEST_DATABASE_URL={base}): {e}")
                });
                sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let url = pg_url_with_db(&base, &name);
                let store = zenalyze_store::open_with(&url, &options)
                    .await
                    .expect("open postgres store");
                Self {
                    kind,
                    store,
                    url,
                    pg_db: Some(name),
                    _dir: None,
                }
            }
        }
    }

    /// Opens a second, independent store (own pool, own writer) on the same
    /// database: a second gateway process.
    pub async fn open_again(&self) -> Arc<dyn Store> {
        zenalyze_store::open(&self.url).await.expect("reopen store")
    }

    /// Runs raw SQL (possibly several statements) outside the store.
    pub async fn raw(&self, sql: &str) -> Result<(), sqlx::Error> {
        match self.kind {
            Kind::Sqlite => {
                let path =
                    zenalyze_store::sqlite_path_for_data_dir(std::path::Path::new(&self.url));
                let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
                let mut conn = sqlx::SqliteConnection::connect_with(&opts).await?;
                sqlx::raw_sql(sql).execute(&mut conn).await?;
                conn.close().await
            }
            Kind::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await?;
                sqlx::raw_sql(sql).execute(&mut conn).await?;
                conn.close().await
            }
        }
    }

    /// Counts rows with raw SQL (`SELECT COUNT(*) …`).
    pub async fn count(&self, sql: &str) -> i64 {
        match self.kind {
            Kind::Sqlite => {
                let path =
                    zenalyze_store::sqlite_path_for_data_dir(std::path::Path::new(&self.url));
                let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
                let mut conn = sqlx::SqliteConnection::connect_with(&opts)
                    .await
                    .expect("connect");
                let n: i64 = sqlx::query_scalar(sql)
                    .fetch_one(&mut conn)
                    .await
                    .expect("count");
                n
            }
            Kind::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url)
                    .await
                    .expect("connect");
                let n: i64 = sqlx::query_scalar(sql)
                    .fetch_one(&mut conn)
                    .await
                    .expect("count");
                n
            }
        }
    }

    /// Drops the append-only triggers (what an attacker with DDL rights
    /// would do first).
    pub async fn drop_append_only_triggers(&self) {
        let sql = match self.kind {
            Kind::Sqlite => {
                "DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;"
            }
            Kind::Postgres => {
                "DROP TRIGGER audit_events_no_update ON audit_events; \
                 DROP TRIGGER audit_events_no_truncate ON audit_events;"
            }
        };
        self.raw(sql).await.expect("drop triggers");
    }

    /// Makes every INSERT into audit_events fail, with a real database
    /// error raised by a trigger.
    pub async fn break_audit_inserts(&self) {
        let sql = match self.kind {
            Kind::Sqlite => {
                "CREATE TRIGGER test_audit_broken BEFORE INSERT ON audit_events \
                 BEGIN SELECT RAISE(ABORT, 'audit storage unavailable'); END;"
            }
            Kind::Postgres => {
                "CREATE FUNCTION test_audit_broken() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'audit storage unavailable'; END; $$; \
                 CREATE TRIGGER test_audit_broken BEFORE INSERT ON audit_events \
                 FOR EACH ROW EXECUTE FUNCTION test_audit_broken();"
            }
        };
        self.raw(sql).await.expect("install failing trigger");
    }

    pub async fn repair_audit_inserts(&self) {
        let sql = match self.kind {
            Kind::Sqlite => "DROP TRIGGER test_audit_broken;",
            Kind::Postgres => "DROP TRIGGER test_audit_broken ON audit_events;",
        };
        self.raw(sql).await.expect("drop failing trigger");
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_db.take() else {
            return;
        };
        // Drop the database from a separate thread and runtime, so this also
        // runs when the test panicked.
        let base = pg_base_url();
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&base).await {
                    let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                    let _ = admin.close().await;
                }
            });
        });
        let _ = handle.join();
    }
}

pub fn hex_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{:x}_{:x}_{:x}",
        std::process::id(),
        nanos & 0xffff_ffff_ffff,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn op(s: &str) -> Operation {
    Operation::parse(s).expect("operation")
}

pub fn req(s: &str) -> OpaqueId {
    OpaqueId::parse(s).expect("request id")
}

pub fn draft(operation: &str) -> AuditDraft {
    AuditDraft::new(
        Actor::Cli,
        op(operation),
        AuditResult::Success,
        req("req-test"),
    )
}

pub fn user(s: &str) -> UserId {
    UserId::parse(s).expect("user id")
}

/// A well-formed v1 envelope (version byte, IV, tag, ciphertext).
pub fn envelope(n: u8) -> Vec<u8> {
    let mut e = vec![0x01];
    e.extend_from_slice(&[n; 12]);
    e.extend_from_slice(&[0xAA; 16]);
    e.extend_from_slice(&[n, n.wrapping_add(1), n.wrapping_add(2)]);
    e
}

pub async fn create_tenant(store: &dyn Store, name: &str) -> TenantId {
    let new = NewTenant::new(name, Tier::Pro).expect("tenant");
    let id = new.id.clone();
    let applied = store
        .apply(zenalyze_store::WriteUnit::new(
            zenalyze_store::Mutation::CreateTenant(new),
            draft("tenants.create").result(AuditResult::Success),
        ))
        .await
        .expect("create tenant");
    assert!(matches!(
        applied.outcome,
        zenalyze_store::Outcome::TenantCreated(_)
    ));
    id
}

pub async fn insert_record(
    store: &dyn Store,
    tenant: &TenantId,
    user_id: &str,
    n: u8,
) -> zenalyze_store::Record {
    let rec = NewRecord::new(
        tenant.clone(),
        user(user_id),
        envelope(n),
        Default::default(),
    )
    .expect("record");
    match store
        .apply(zenalyze_store::WriteUnit::new(
            zenalyze_store::Mutation::InsertRecord(rec),
            draft("records.create"),
        ))
        .await
        .expect("insert record")
        .outcome
    {
        zenalyze_store::Outcome::RecordInserted(r) => r,
        other => panic!("unexpected outcome {other:?}"),
    }
}
