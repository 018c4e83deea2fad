//! The crate's error type.

/// Everything that can go wrong in the store.
///
/// Messages never contain record envelopes, metadata values, key hashes or
/// other submitted data: only identifiers of *what* failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An argument failed validation (bad identifier, oversized field,
    /// malformed cursor or envelope…). The message names the field only.
    #[error("invalid input: {0}")]
    InvalidInput(&'static str),
    /// The store URL is not one this crate understands.
    #[error("unsupported store url (expected sqlite://…, postgres://… or a data directory)")]
    UnsupportedUrl,
    /// The audit event of a write unit could not be made durable, so the
    /// unit (and every other unit of its group-commit batch) was rolled
    /// back: nothing was stored. This is the fail-closed path of SPEC §7.
    #[error("audit log unavailable, operation not performed: {0}")]
    AuditUnavailable(String),
    /// The group-commit writer is not running any more (the store was
    /// closed or its task ended).
    #[error("audit writer is shut down")]
    WriterClosed,
    /// Applying the embedded schema migrations failed.
    #[error("schema migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A row in the database does not decode into the model (corruption or
    /// a manual edit). The message names the table and column.
    #[error("corrupt row: {0}")]
    Corrupt(&'static str),
    /// Any other database error (connection, I/O, constraint…).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Writing an export failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    /// A copy of this error for fanning one batch failure out to every unit
    /// of the batch (`sqlx::Error` is not `Clone`).
    pub(crate) fn for_batch(&self) -> StoreError {
        StoreError::AuditUnavailable(self.to_string())
    }
}

/// Result alias used throughout the crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
