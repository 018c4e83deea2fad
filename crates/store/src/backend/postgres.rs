//! PostgreSQL backend. Batches lock the one-row `audit_head` table with
//! `SELECT … FOR UPDATE`, which serialises appends across every process on
//! the database and keeps the chain linear.

use crate::store::StoreOptions;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;

type Db = sqlx::Postgres;
type DbRow = sqlx::postgres::PgRow;

const BACKEND: crate::store::Backend = crate::store::Backend::Postgres;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "keyrings",
        include_str!("../../migrations/postgres/0002_keyrings.sql"),
    ),
    (
        3,
        "ai_jobs",
        include_str!("../../migrations/postgres/0003_ai_jobs.sql"),
    ),
];

async fn begin_write(pool: &sqlx::Pool<Db>) -> sqlx::Result<sqlx::Transaction<'static, Db>> {
    pool.begin().await
}

async fn lock_head(tx: &mut sqlx::Transaction<'static, Db>) -> Result<AuditHead> {
    let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE")
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(crate::error::StoreError::Corrupt("audit_head"))?;
    head_from_row(&row)
}

/// One statement for a batch's record inserts: `UNNEST` of one array per
/// column (constant SQL, so one cached prepared statement whatever the batch
/// size). Rows whose tenant does not exist or whose id is taken are skipped;
/// returns the ids inserted.
async fn insert_record_rows(
    tx: &mut sqlx::Transaction<'static, Db>,
    rows: &[(usize, RecordRow)],
    now: i64,
) -> Result<std::collections::HashSet<String>> {
    let n = rows.len();
    let mut ids = Vec::with_capacity(n);
    let mut tenants = Vec::with_capacity(n);
    let mut users = Vec::with_capacity(n);
    let mut envelopes = Vec::with_capacity(n);
    let mut metadata = Vec::with_capacity(n);
    let mut sizes = Vec::with_capacity(n);
    for (_, row) in rows {
        ids.push(row.record.id.as_str());
        tenants.push(row.record.tenant_id.as_str());
        users.push(row.record.user_id.as_str());
        envelopes.push(row.record.envelope.as_slice());
        metadata.push(row.metadata_json.as_str());
        sizes.push(row.size);
    }
    let inserted = sqlx::query(
        "INSERT INTO records (id, tenant_id, user_id, envelope, metadata, size, created_at_us) \
         SELECT r.id, r.tenant_id, r.user_id, r.envelope, r.metadata, r.size, $7 \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[], $6::int8[]) \
         AS r (id, tenant_id, user_id, envelope, metadata, size) \
         WHERE EXISTS (SELECT 1 FROM tenants t WHERE t.id = r.tenant_id) \
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(ids)
    .bind(tenants)
    .bind(users)
    .bind(envelopes)
    .bind(metadata)
    .bind(sizes)
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    inserted
        .iter()
        .map(|row| get::<String>(row, "id"))
        .collect()
}

/// One statement for a batch's sealed audit events (`UNNEST`, constant SQL).
async fn insert_audit_rows(
    tx: &mut sqlx::Transaction<'static, Db>,
    events: &[AuditEvent],
) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let n = events.len();
    let mut seqs = Vec::with_capacity(n);
    let mut times = Vec::with_capacity(n);
    let mut tenants = Vec::with_capacity(n);
    let mut actors = Vec::with_capacity(n);
    let mut subjects = Vec::with_capacity(n);
    let mut operations = Vec::with_capacity(n);
    let mut resources = Vec::with_capacity(n);
    let mut results = Vec::with_capacity(n);
    let mut requests = Vec::with_capacity(n);
    let mut prevs = Vec::with_capacity(n);
    let mut hashes = Vec::with_capacity(n);
    for e in events {
        seqs.push(u64_to_i64(e.seq, "seq")?);
        times.push(e.time.as_str());
        tenants.push(e.tenant_id.as_deref());
        actors.push(e.actor.as_str());
        subjects.push(e.subject.as_deref());
        operations.push(e.operation.as_str());
        resources.push(e.resource_id.as_deref());
        results.push(e.result.as_str());
        requests.push(e.request_id.as_str());
        prevs.push(e.prev_hash.as_slice());
        hashes.push(e.hash.as_slice());
    }
    sqlx::query(&format!(
        "INSERT INTO audit_events ({AUDIT_COLS}) SELECT * FROM UNNEST(\
         $1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
         $7::text[], $8::text[], $9::text[], $10::bytea[], $11::bytea[])"
    ))
    .bind(seqs)
    .bind(times)
    .bind(tenants)
    .bind(actors)
    .bind(subjects)
    .bind(operations)
    .bind(resources)
    .bind(results)
    .bind(requests)
    .bind(prevs)
    .bind(hashes)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// PostgreSQL commits a batch of record inserts and audit-only units with one
/// statement when the writer knows the head (see `commit_units_fast`).
const FAST_COMMIT: bool = true;

/// One statement, so one round trip and one implicit transaction: move the
/// head from `head` to `new_head` (only if it is still `head`: the `UPDATE`
/// waits for any other process holding the head and then re-checks), and,
/// only if it moved, insert the records and the sealed events. A taken id or
/// an unknown tenant makes the statement fail as a whole (primary key,
/// foreign key): `Ok(false)`, nothing written, as when the head moved.
/// Errors other than the database refusing the statement are returned.
async fn fast_commit_statement(
    pool: &sqlx::Pool<Db>,
    head: AuditHead,
    new_head: AuditHead,
    rows: &[(usize, RecordRow)],
    events: &[AuditEvent],
    now: i64,
) -> Result<bool> {
    let n = rows.len();
    let mut ids = Vec::with_capacity(n);
    let mut r_tenants = Vec::with_capacity(n);
    let mut users = Vec::with_capacity(n);
    let mut envelopes = Vec::with_capacity(n);
    let mut metadata = Vec::with_capacity(n);
    let mut sizes = Vec::with_capacity(n);
    for (_, row) in rows {
        ids.push(row.record.id.as_str());
        r_tenants.push(row.record.tenant_id.as_str());
        users.push(row.record.user_id.as_str());
        envelopes.push(row.record.envelope.as_slice());
        metadata.push(row.metadata_json.as_str());
        sizes.push(row.size);
    }
    let n = events.len();
    let mut seqs = Vec::with_capacity(n);
    let mut times = Vec::with_capacity(n);
    let mut tenants = Vec::with_capacity(n);
    let mut actors = Vec::with_capacity(n);
    let mut subjects = Vec::with_capacity(n);
    let mut operations = Vec::with_capacity(n);
    let mut resources = Vec::with_capacity(n);
    let mut results = Vec::with_capacity(n);
    let mut requests = Vec::with_capacity(n);
    let mut prevs = Vec::with_capacity(n);
    let mut hashes = Vec::with_capacity(n);
    for e in events {
        seqs.push(u64_to_i64(e.seq, "seq")?);
        times.push(e.time.as_str());
        tenants.push(e.tenant_id.as_deref());
        actors.push(e.actor.as_str());
        subjects.push(e.subject.as_deref());
        operations.push(e.operation.as_str());
        resources.push(e.resource_id.as_deref());
        results.push(e.result.as_str());
        requests.push(e.request_id.as_str());
        prevs.push(e.prev_hash.as_slice());
        hashes.push(e.hash.as_slice());
    }
    let result = sqlx::query(&format!(
        "WITH h AS (\
           UPDATE audit_head SET seq = $1, hash = $2 \
           WHERE id = 1 AND seq = $3 AND hash = $4 RETURNING seq), \
         r AS (\
           INSERT INTO records (id, tenant_id, user_id, envelope, metadata, size, created_at_us) \
           SELECT u.id, u.tenant_id, u.user_id, u.envelope, u.metadata, u.size, $11 \
           FROM UNNEST($5::text[], $6::text[], $7::text[], $8::bytea[], $9::text[], $10::int8[]) \
           AS u (id, tenant_id, user_id, envelope, metadata, size) \
           WHERE EXISTS (SELECT 1 FROM h)), \
         a AS (\
           INSERT INTO audit_events ({AUDIT_COLS}) SELECT e.* FROM UNNEST(\
           $12::int8[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], \
           $18::text[], $19::text[], $20::text[], $21::bytea[], $22::bytea[]) AS e \
           WHERE EXISTS (SELECT 1 FROM h)) \
         SELECT COUNT(*) AS moved FROM h"
    ))
    .bind(u64_to_i64(new_head.seq, "seq")?)
    .bind(new_head.hash.as_slice())
    .bind(u64_to_i64(head.seq, "seq")?)
    .bind(head.hash.as_slice())
    .bind(ids)
    .bind(r_tenants)
    .bind(users)
    .bind(envelopes)
    .bind(metadata)
    .bind(sizes)
    .bind(now)
    .bind(seqs)
    .bind(times)
    .bind(tenants)
    .bind(actors)
    .bind(subjects)
    .bind(operations)
    .bind(resources)
    .bind(results)
    .bind(requests)
    .bind(prevs)
    .bind(hashes)
    .fetch_one(pool)
    .await;
    match result {
        Ok(row) => Ok(get::<i64>(&row, "moved")? == 1),
        Err(sqlx::Error::Database(e)) => {
            tracing::debug!(error = %e, "one-statement batch refused; taking the general path");
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

include!("common.rs");

/// Connects to PostgreSQL and applies the migrations (under sqlx's advisory
/// lock, so concurrent processes can open at once).
pub(crate) async fn open(url: &str, options: &StoreOptions) -> Result<BackendStore> {
    let connect = PgConnectOptions::from_str(url)?.application_name("zenalyze");
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(options.busy_timeout)
        // No ping before every checkout (a round trip per query): a broken
        // connection fails its query and sqlx discards it on release (it pings
        // every connection it takes back).
        .test_before_acquire(false)
        .connect_with(connect)
        .await?;
    run_migrations(&pool).await?;
    Ok(BackendStore::start(pool, options))
}
