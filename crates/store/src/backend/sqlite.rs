//! SQLite backend: WAL journal, `synchronous=FULL` (a commit is durable when
//! it returns), busy timeout, foreign keys on. Write transactions start with
//! `BEGIN IMMEDIATE`, which takes the database's write lock up front, so the
//! chain head read inside the transaction cannot go stale.

use crate::store::StoreOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;

type Db = sqlx::Sqlite;
type DbRow = sqlx::sqlite::SqliteRow;

const BACKEND: crate::store::Backend = crate::store::Backend::Sqlite;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "keyrings",
        include_str!("../../migrations/sqlite/0002_keyrings.sql"),
    ),
    (
        3,
        "ai_jobs",
        include_str!("../../migrations/sqlite/0003_ai_jobs.sql"),
    ),
];

async fn begin_write(pool: &sqlx::Pool<Db>) -> sqlx::Result<sqlx::Transaction<'static, Db>> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

async fn lock_head(tx: &mut sqlx::Transaction<'static, Db>) -> Result<AuditHead> {
    // BEGIN IMMEDIATE already holds the write lock.
    let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(crate::error::StoreError::Corrupt("audit_head"))?;
    head_from_row(&row)
}

/// Most record rows in one multi-row INSERT (7 binds each; SQLite allows
/// 32,766 binds per statement).
const RECORD_INSERT_CHUNK: usize = 256;

/// Multi-row `VALUES` inserts for a batch's record inserts. Rows whose
/// tenant does not exist or whose id is taken are skipped; returns the ids
/// inserted.
async fn insert_record_rows(
    tx: &mut sqlx::Transaction<'static, Db>,
    rows: &[(usize, RecordRow)],
    now: i64,
) -> Result<std::collections::HashSet<String>> {
    let mut ids = std::collections::HashSet::with_capacity(rows.len());
    for chunk in rows.chunks(RECORD_INSERT_CHUNK) {
        // The WHERE clause also settles SQLite's INSERT … SELECT … ON
        // CONFLICT parsing ambiguity.
        let mut qb: QueryBuilder<'_, Db> = QueryBuilder::new(
            "INSERT INTO records (id, tenant_id, user_id, envelope, metadata, size, created_at_us) \
             SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7 FROM (",
        );
        qb.push_values(chunk, |mut b, (_, row)| {
            b.push_bind(row.record.id.as_str())
                .push_bind(row.record.tenant_id.as_str())
                .push_bind(row.record.user_id.as_str())
                .push_bind(row.record.envelope.as_slice())
                .push_bind(row.metadata_json.as_str())
                .push_bind(row.size)
                .push_bind(now);
        });
        qb.push(
            ") AS v WHERE EXISTS (SELECT 1 FROM tenants t WHERE t.id = v.column2) \
             ON CONFLICT DO NOTHING RETURNING id",
        );
        for row in qb.build().fetch_all(&mut **tx).await? {
            ids.insert(get::<String>(&row, "id")?);
        }
    }
    Ok(ids)
}

/// Multi-row `VALUES` inserts for a batch's sealed audit events.
async fn insert_audit_rows(
    tx: &mut sqlx::Transaction<'static, Db>,
    events: &[AuditEvent],
) -> Result<()> {
    insert_audit_values(tx, events).await
}

/// SQLite takes its write lock with `BEGIN IMMEDIATE` and runs in-process:
/// no one-statement fast path (see the PostgreSQL backend).
const FAST_COMMIT: bool = false;

async fn fast_commit_statement(
    _pool: &sqlx::Pool<Db>,
    _head: AuditHead,
    _new_head: AuditHead,
    _rows: &[(usize, RecordRow)],
    _events: &[AuditEvent],
    _now: i64,
) -> Result<bool> {
    Ok(false)
}

include!("common.rs");

/// Parses a `sqlite:` URL.
pub(crate) fn parse_url(url: &str) -> Result<SqliteConnectOptions> {
    Ok(SqliteConnectOptions::from_str(url)?)
}

/// Opens a SQLite store (creating the file when the options say so).
pub(crate) async fn open(
    connect: SqliteConnectOptions,
    options: &StoreOptions,
) -> Result<BackendStore> {
    let connect = connect
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(options.busy_timeout)
        .foreign_keys(true);
    // Several processes opening one fresh file at once race on switching it
    // to WAL (an exclusive lock the busy handler does not wait for): retry
    // the connection a few times with backoff before giving up.
    let mut attempt = 0u64;
    let pool = loop {
        let result = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.busy_timeout.max(std::time::Duration::from_secs(5)))
            // No ping before every checkout (a round trip per query): a broken
            // connection fails its query and sqlx discards it on release (it pings
            // every connection it takes back).
            .test_before_acquire(false)
            .connect_with(connect.clone())
            .await;
        match result {
            Ok(pool) => break pool,
            Err(sqlx::Error::Database(e)) if attempt < 10 && e.message().contains("locked") => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis((50 * attempt).min(500))).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    run_migrations(&pool).await?;
    Ok(BackendStore::start(pool, options))
}
