//! # zenalyze-store
//!
//! Storage for the Zenalyze gateway (SPEC §6–§7): tenants, API keys (hashes
//! only), end-to-end encrypted records, idempotency keys, usage counters and
//! the hash-chained HIPAA audit log, behind one object-safe trait
//! ([`Store`]) with two backends:
//!
//! * **SQLite** (embedded default for `zenalyze dev`): WAL mode, busy
//!   timeout, foreign keys on; the file is `DIR/zenalyze.db`
//!   ([`sqlite_url_for_data_dir`]);
//! * **PostgreSQL** (production, many gateway instances on one database).
//!
//! Schema migrations are embedded in the binary, versioned, and applied at
//! open.
//!
//! ## Writes: group commit, fail closed
//!
//! Every mutation is a [`WriteUnit`]: the [`Mutation`] and the
//! [`audit::AuditDraft`] that records it. One writer task per store gathers
//! concurrent units and commits them in one transaction, extending the chain
//! in order; callers wait until their unit is durable. If the audit event
//! cannot be written, the whole transaction rolls back and every caller of
//! the batch gets [`StoreError::AuditUnavailable`]: nothing is stored
//! without its event. On PostgreSQL the chain head row is locked
//! (`SELECT … FOR UPDATE`) inside the transaction, so several processes keep
//! one linear chain.
//!
//! ## Example
//!
//! ```
//! use zenalyze_store::*;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<()> {
//! # let dir = tempfile::tempdir()?;
//! let store = zenalyze_store::open_data_dir(dir.path(), &StoreOptions::default()).await?;
//! let request = OpaqueId::parse("req-1")?;
//! let draft = |op: &str| -> Result<AuditDraft> {
//!     Ok(AuditDraft::new(Actor::Admin, Operation::parse(op)?, AuditResult::Success, request.clone()))
//! };
//!
//! // A tenant, created together with its audit event.
//! let tenant = NewTenant::new("Acme Health", Tier::Pro)?;
//! let tenant_id = tenant.id.clone();
//! store.apply(WriteUnit::new(Mutation::CreateTenant(tenant), draft("tenants.create")?)).await?;
//!
//! // A record (a v1 envelope: the store never sees plaintext).
//! let envelope = [vec![0x01], vec![0u8; 12], vec![0u8; 16], b"ct".to_vec()].concat();
//! let record = NewRecord::new(tenant_id.clone(), UserId::parse("u-1")?, envelope, Metadata::new())?;
//! let applied = store.apply(WriteUnit::new(Mutation::InsertRecord(record), draft("records.create")?)).await?;
//! assert!(matches!(applied.outcome, Outcome::RecordInserted(_)));
//! assert_eq!(applied.audit.seq, 2);
//!
//! // Reads return data only once their audit event is durable.
//! let page = store.list_records_audited(&tenant_id, None, 50, None, draft("records.list")?).await?;
//! assert_eq!(page.records.len(), 1);
//!
//! assert!(store.verify_audit().await?.is_intact());
//! store.close().await;
//! # Ok(())
//! # }
//! ```
//!
//! ## Isolation
//!
//! Every query takes the tenant id; another tenant's row behaves exactly
//! like a missing one.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod audit;
mod error;
pub mod ids;
pub mod jobs;
pub mod keyring;
pub mod model;
mod store;

pub use audit::{
    Actor, AuditDraft, AuditEvent, AuditHead, AuditResult, BreakReason, ChainBreak, ChainVerifier,
    Operation, VerifyReport,
};
pub use error::{Result, StoreError};
pub use ids::{ApiKeyId, JobId, OpaqueId, RecordId, TenantId, UserId};
pub use jobs::{Job, JobCompletion, JobStatus, NewJob, WebhookSecretRow};
pub use keyring::{
    KeyVersion, Keyring, KeyringName, KeyringSettings, KeyringUpdate, NewKeyVersion, NewKeyring,
    WrappedKey,
};
pub use model::{
    ApiKey, Cursor, IdempotencyClaim, IdempotencyKey, KeyHash, KeyKind, Metadata, NewApiKey,
    NewRecord, NewTenant, Record, RecordPage, StoredResponse, Tenant, TenantUpdate, Tier,
    UsageIncrement, UsageRow, MAX_PAGE_SIZE,
};
pub use store::{
    Applied, AuditReceipt, Backend, Mutation, Outcome, Store, StoreOptions, WriteUnit,
    MAX_AUDIT_PAGE,
};

mod backend;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Name of the SQLite file inside a data directory.
pub const DATA_DIR_DB_FILE: &str = "zenalyze.db";

/// The default data directory (relative to the working directory).
pub const DEFAULT_DATA_DIR: &str = ".zenalyze";

/// The SQLite database file of a data directory: `DIR/zenalyze.db`.
pub fn sqlite_path_for_data_dir(dir: &Path) -> PathBuf {
    dir.join(DATA_DIR_DB_FILE)
}

/// The store URL of a data directory: `sqlite://DIR/zenalyze.db?mode=rwc`
/// (the convention shared by the gateway and the CLI).
pub fn sqlite_url_for_data_dir(dir: &Path) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        sqlite_path_for_data_dir(dir).display()
    )
}

/// Opens a store with default [`StoreOptions`]; see [`open_with`].
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    open_with(url, &StoreOptions::default()).await
}

/// Opens a store, applies the embedded migrations and starts its
/// group-commit writer (on the current Tokio runtime).
///
/// `url` is one of:
/// * `postgres://…` or `postgresql://…`;
/// * `sqlite://PATH` or `sqlite:PATH`, with `?mode=rwc` to create the file;
/// * anything else is a data directory: it is created if missing and the
///   store is `DIR/zenalyze.db` (SQLite).
pub async fn open_with(url: &str, options: &StoreOptions) -> Result<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(backend::postgres::open(url, options).await?));
    }
    if url.starts_with("sqlite:") {
        let connect = backend::sqlite::parse_url(url)?;
        return Ok(Arc::new(backend::sqlite::open(connect, options).await?));
    }
    if url.is_empty() || url.contains("://") {
        return Err(StoreError::UnsupportedUrl);
    }
    open_data_dir(Path::new(url), options).await
}

/// Opens (creating the directory and the file when missing) the SQLite store
/// of a data directory.
pub async fn open_data_dir(dir: &Path, options: &StoreOptions) -> Result<Arc<dyn Store>> {
    create_private_dir(dir)?;
    let connect = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(sqlite_path_for_data_dir(dir))
        .create_if_missing(true);
    Ok(Arc::new(backend::sqlite::open(connect, options).await?))
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)?;
    Ok(())
}
