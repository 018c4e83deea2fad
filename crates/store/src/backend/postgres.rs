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

include!("common.rs");

/// Connects to PostgreSQL and applies the migrations (under sqlx's advisory
/// lock, so concurrent processes can open at once).
pub(crate) async fn open(url: &str, options: &StoreOptions) -> Result<BackendStore> {
    let connect = PgConnectOptions::from_str(url)?.application_name("zenalyze");
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(options.busy_timeout)
        .connect_with(connect)
        .await?;
    run_migrations(&pool).await?;
    Ok(BackendStore::start(pool, options))
}
