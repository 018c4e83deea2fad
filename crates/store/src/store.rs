//! The [`Store`] trait and the write-unit types of the group-commit path.

use crate::audit::{AuditDraft, AuditEvent, AuditHead, AuditResult, ChainVerifier, VerifyReport};
use crate::error::{Result, StoreError};
use crate::ids::{ApiKeyId, RecordId, TenantId, UserId};
use crate::keyring::{KeyVersion, Keyring, KeyringName, KeyringUpdate, NewKeyVersion, NewKeyring};
use crate::model::{
    ApiKey, Cursor, IdempotencyClaim, IdempotencyKey, KeyHash, NewApiKey, NewRecord, NewTenant,
    Record, RecordPage, StoredResponse, Tenant, TenantUpdate, UsageIncrement, UsageRow,
};
use std::fmt;
use time::{Date, OffsetDateTime};

/// Which database a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite (WAL mode): `zenalyze dev`, single node.
    Sqlite,
    /// PostgreSQL: production, any number of gateway instances.
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// A data mutation that commits atomically with its audit event.
#[derive(Clone, Debug)]
pub enum Mutation {
    /// No data change: the unit only appends its audit event (reads,
    /// refused requests…).
    None,
    /// Create a tenant.
    CreateTenant(NewTenant),
    /// Change a tenant's tier and overrides.
    UpdateTenant(TenantUpdate),
    /// Create an API key (the tenant must exist; the hash must be unique).
    CreateApiKey(NewApiKey),
    /// Revoke an API key of this tenant (idempotent: revoking a revoked key
    /// keeps the first revocation time).
    RevokeApiKey {
        /// Tenant the key must belong to.
        tenant_id: TenantId,
        /// Key to revoke.
        key_id: ApiKeyId,
    },
    /// Store a record (the tenant must exist).
    InsertRecord(NewRecord),
    /// Delete a record of this tenant.
    DeleteRecord {
        /// Tenant the record must belong to.
        tenant_id: TenantId,
        /// Record to delete.
        record_id: RecordId,
    },
    /// Create a platform keyring with its version 1 (the tenant must exist;
    /// an existing name is a [`Outcome::Conflict`]).
    CreateKeyring(NewKeyring),
    /// Add a key version (rotation); applies only when its number is the
    /// current primary + 1, else [`Outcome::Conflict`].
    AddKeyVersion(NewKeyVersion),
    /// Change keyring settings; a `min_decryption_version` above the
    /// primary version is a [`Outcome::Conflict`].
    UpdateKeyring(KeyringUpdate),
    /// Delete a keyring and all its versions; refused with
    /// [`Outcome::Conflict`] unless its `deletion_allowed` is set.
    DeleteKeyring {
        /// Owning tenant.
        tenant_id: TenantId,
        /// Keyring.
        name: KeyringName,
    },
}

impl Mutation {
    /// The tenant the mutation touches, if any.
    pub fn tenant_id(&self) -> Option<&TenantId> {
        match self {
            Mutation::None => None,
            Mutation::CreateTenant(t) => Some(&t.id),
            Mutation::UpdateTenant(t) => Some(&t.id),
            Mutation::CreateApiKey(k) => Some(&k.tenant_id),
            Mutation::RevokeApiKey { tenant_id, .. } => Some(tenant_id),
            Mutation::InsertRecord(r) => Some(&r.tenant_id),
            Mutation::DeleteRecord { tenant_id, .. } => Some(tenant_id),
            Mutation::CreateKeyring(k) => Some(&k.tenant_id),
            Mutation::AddKeyVersion(v) => Some(&v.tenant_id),
            Mutation::UpdateKeyring(u) => Some(&u.tenant_id),
            Mutation::DeleteKeyring { tenant_id, .. } => Some(tenant_id),
        }
    }

    /// The resource the mutation creates or touches, if any.
    pub fn resource_id(&self) -> Option<crate::ids::OpaqueId> {
        match self {
            Mutation::None => None,
            Mutation::CreateTenant(t) => Some(t.id.clone().into()),
            Mutation::UpdateTenant(t) => Some(t.id.clone().into()),
            Mutation::CreateApiKey(k) => Some(k.id.clone().into()),
            Mutation::RevokeApiKey { key_id, .. } => Some(key_id.clone().into()),
            Mutation::InsertRecord(r) => Some(r.id.clone().into()),
            Mutation::DeleteRecord { record_id, .. } => Some(record_id.clone().into()),
            Mutation::CreateKeyring(k) => crate::keyring::version_resource_id(&k.name, 1),
            Mutation::AddKeyVersion(v) => {
                crate::keyring::version_resource_id(&v.keyring, v.version)
            }
            Mutation::UpdateKeyring(u) => u.name.resource_id(),
            Mutation::DeleteKeyring { name, .. } => name.resource_id(),
        }
    }
}

/// One unit of the group-commit writer: a mutation (possibly
/// [`Mutation::None`]) and the audit event that records it. Both commit in
/// the same transaction or neither does.
///
/// Before commit the store completes the draft: `tenant_id` and
/// `resource_id` are taken from the mutation when left `None` (a draft
/// naming a *different* tenant than the mutation is refused), and `result`
/// becomes `not_found`/`conflict` when the mutation did not apply.
#[derive(Clone, Debug)]
pub struct WriteUnit {
    /// The data change.
    pub mutation: Mutation,
    /// Its audit event.
    pub audit: AuditDraft,
}

impl WriteUnit {
    /// A unit with a mutation.
    pub fn new(mutation: Mutation, audit: AuditDraft) -> Self {
        Self { mutation, audit }
    }

    /// A unit that only appends an audit event.
    pub fn audit_only(audit: AuditDraft) -> Self {
        Self {
            mutation: Mutation::None,
            audit,
        }
    }
}

/// What a mutation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// [`Mutation::None`]: only the event was appended.
    AuditOnly,
    /// The tenant was created.
    TenantCreated(Tenant),
    /// The tenant was updated (new state).
    TenantUpdated(Tenant),
    /// The key was created.
    ApiKeyCreated(ApiKey),
    /// The key is revoked (new state).
    ApiKeyRevoked(ApiKey),
    /// The record was stored.
    RecordInserted(Record),
    /// The record was deleted.
    RecordDeleted,
    /// The keyring was created (with version 1).
    KeyringCreated(Keyring),
    /// The key version was added; the keyring's new state.
    KeyVersionAdded(Keyring),
    /// The keyring settings changed (new state).
    KeyringUpdated(Keyring),
    /// The keyring and its versions were deleted.
    KeyringDeleted,
    /// Nothing matched (unknown tenant, key or record, or one of another
    /// tenant); the event was recorded with result `not_found`.
    NotFound,
    /// A uniqueness constraint refused the mutation (e.g. an API key hash
    /// that already exists); the event was recorded with result `conflict`.
    Conflict,
}

/// Where an event landed in the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditReceipt {
    /// The event's sequence number.
    pub seq: u64,
    /// The event's hash.
    pub hash: [u8; 32],
    /// The event's time as stored.
    pub time: String,
    /// The result that was recorded.
    pub result: AuditResult,
}

/// The result of [`Store::apply`]: the mutation's outcome and the durable
/// audit event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// What the mutation did.
    pub outcome: Outcome,
    /// The committed audit event.
    pub audit: AuditReceipt,
}

/// Tuning of a store.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Connection pool size (SQLite: readers + writers share it).
    pub max_connections: u32,
    /// SQLite busy timeout / PostgreSQL connection acquire timeout.
    pub busy_timeout: std::time::Duration,
    /// Most units the writer commits in one transaction.
    pub max_batch: usize,
    /// Capacity of the writer's queue; callers wait (backpressure) when it
    /// is full.
    pub queue_capacity: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            busy_timeout: std::time::Duration::from_secs(10),
            max_batch: 256,
            queue_capacity: 4096,
        }
    }
}

/// Largest page of [`Store::audit_events`].
pub const MAX_AUDIT_PAGE: u32 = 10_000;

/// The storage interface of the gateway. Object safe: hold it as
/// `Arc<dyn Store>`; obtain one with [`crate::open`].
///
/// **Every query is tenant-scoped**: a row of another tenant behaves exactly
/// like a missing one. **Every mutation goes through [`Store::apply`]**,
/// which commits it with its audit event (group commit, fail closed).
/// Reads of tenant data that answer an API request should use the
/// `*_audited` helpers, which return data only once the read's audit event
/// is durable.
#[async_trait::async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// The backend in use.
    fn backend(&self) -> Backend;

    /// Commits a mutation and its audit event atomically, batched with
    /// concurrent units (group commit). Returns once both are durable. On
    /// any failure to write the audit event nothing is stored and the call
    /// fails with [`StoreError::AuditUnavailable`].
    async fn apply(&self, unit: WriteUnit) -> Result<Applied>;

    /// A tenant by id.
    async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>>;

    /// Tenants ordered by id, `limit` at most, after `after` (keyset).
    async fn list_tenants(&self, limit: u32, after: Option<&TenantId>) -> Result<Vec<Tenant>>;

    /// The key with this hash, revoked or not (callers must refuse revoked
    /// keys). This is the authentication lookup.
    async fn find_api_key_by_hash(&self, hash: &KeyHash) -> Result<Option<ApiKey>>;

    /// A key of this tenant.
    async fn get_api_key(&self, tenant: &TenantId, id: &ApiKeyId) -> Result<Option<ApiKey>>;

    /// All keys of a tenant, oldest first.
    async fn list_api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKey>>;

    /// A record of this tenant (unaudited; see [`Store::get_record_audited`]).
    async fn get_record(&self, tenant: &TenantId, id: &RecordId) -> Result<Option<Record>>;

    /// A page of this tenant's records, newest first, optionally only those
    /// of one user; `limit` is clamped to 1..=[`crate::MAX_PAGE_SIZE`]
    /// (unaudited; see [`Store::list_records_audited`]).
    async fn list_records(
        &self,
        tenant: &TenantId,
        user: Option<&UserId>,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<RecordPage>;

    /// Atomically claims an idempotency key for a request with this
    /// fingerprint (a hash of method, path and body).
    async fn claim_idempotency_key(
        &self,
        tenant: &TenantId,
        key: &IdempotencyKey,
        fingerprint: &[u8; 32],
    ) -> Result<IdempotencyClaim>;

    /// Stores the response of a claimed key; later claims with the same
    /// fingerprint get [`IdempotencyClaim::Completed`].
    async fn complete_idempotency_key(
        &self,
        tenant: &TenantId,
        key: &IdempotencyKey,
        response: &StoredResponse,
    ) -> Result<()>;

    /// Gives up a claimed, not completed key so that a retry can claim it.
    async fn release_idempotency_key(&self, tenant: &TenantId, key: &IdempotencyKey) -> Result<()>;

    /// Deletes idempotency keys created before `before`; returns how many.
    async fn purge_idempotency_keys(&self, before: OffsetDateTime) -> Result<u64>;

    /// Adds a batch of usage increments atomically (all or none).
    async fn record_usage(&self, increments: &[UsageIncrement]) -> Result<()>;

    /// A tenant's usage rows for days `from..=to`, ordered by day then
    /// operation.
    async fn usage(&self, tenant: &TenantId, from: Date, to: Date) -> Result<Vec<UsageRow>>;

    /// The recorded head of the audit chain.
    async fn audit_head(&self) -> Result<AuditHead>;

    /// Audit events with `seq > after_seq`, ascending, `limit` at most
    /// (clamped to 1..=[`MAX_AUDIT_PAGE`]). Rows that cannot be decoded are
    /// returned as `Err(seq)`.
    async fn audit_events_raw(
        &self,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<std::result::Result<AuditEvent, u64>>>;

    /// One tenant's audit events with `seq > after_seq`, ascending, `limit`
    /// at most (clamped to 1..=[`MAX_AUDIT_PAGE`]): the tenant's own access
    /// report. Undecodable rows are skipped here (`verify_audit` reports
    /// them).
    async fn audit_events_for_tenant(
        &self,
        tenant: &TenantId,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>>;

    /// A keyring of this tenant.
    async fn get_keyring(&self, tenant: &TenantId, name: &KeyringName) -> Result<Option<Keyring>>;

    /// All keyrings of a tenant, by name.
    async fn list_keyrings(&self, tenant: &TenantId) -> Result<Vec<Keyring>>;

    /// The key versions of a tenant's keyring, ascending (empty when the
    /// keyring does not exist for this tenant).
    async fn list_key_versions(
        &self,
        tenant: &TenantId,
        name: &KeyringName,
    ) -> Result<Vec<KeyVersion>>;

    /// Every keyring (all tenants) with automatic rotation on, ordered by
    /// tenant and name, `limit` at most (clamped to 1..=1000), after the
    /// `(tenant, name)` keyset cursor: the input of the rotation task.
    async fn list_auto_rotating_keyrings(
        &self,
        limit: u32,
        after: Option<(&TenantId, &KeyringName)>,
    ) -> Result<Vec<Keyring>>;

    /// Creates a pending AI job.
    async fn create_job(&self, job: &crate::jobs::NewJob) -> Result<()>;

    /// Finishes a pending job of this tenant; `false` when it is not
    /// pending (already finished, purged or another tenant's).
    async fn complete_job(
        &self,
        tenant: &TenantId,
        id: &crate::ids::JobId,
        completion: &crate::jobs::JobCompletion,
    ) -> Result<bool>;

    /// A job of this tenant (another tenant's behaves like a missing one).
    async fn get_job(
        &self,
        tenant: &TenantId,
        id: &crate::ids::JobId,
    ) -> Result<Option<crate::jobs::Job>>;

    /// Deletes jobs that expired before `now`; returns how many.
    async fn purge_jobs(&self, now: OffsetDateTime) -> Result<u64>;

    /// Sets (creates or replaces) the tenant's wrapped webhook secret.
    async fn put_webhook_secret(&self, tenant: &TenantId, wrapped_secret: &[u8]) -> Result<()>;

    /// The tenant's wrapped webhook secret.
    async fn get_webhook_secret(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<crate::jobs::WebhookSecretRow>>;

    /// Stops the writer after the queued units and closes the pool.
    async fn close(&self);

    // ------------------------------------------------ provided helpers --

    /// Appends an audit event without a mutation.
    async fn append_audit(&self, draft: AuditDraft) -> Result<AuditReceipt> {
        Ok(self.apply(WriteUnit::audit_only(draft)).await?.audit)
    }

    /// Reads a record and returns it only once the read's audit event
    /// (result `success`, or `not_found`) is durable. The draft's tenant and
    /// resource are set from the arguments.
    async fn get_record_audited(
        &self,
        tenant: &TenantId,
        id: &RecordId,
        draft: AuditDraft,
    ) -> Result<Option<Record>> {
        let record = self.get_record(tenant, id).await?;
        let mut draft = draft.tenant(tenant.clone()).resource(id.clone());
        if record.is_none() {
            draft.result = AuditResult::NotFound;
        } else if let Some(r) = &record {
            if draft.subject.is_none() {
                draft.subject = Some(r.user_id.clone());
            }
        }
        self.append_audit(draft).await?;
        Ok(record)
    }

    /// Lists records and returns the page only once the listing's audit
    /// event is durable.
    async fn list_records_audited(
        &self,
        tenant: &TenantId,
        user: Option<&UserId>,
        limit: u32,
        cursor: Option<&Cursor>,
        draft: AuditDraft,
    ) -> Result<RecordPage> {
        let page = self.list_records(tenant, user, limit, cursor).await?;
        let mut draft = draft.tenant(tenant.clone());
        if draft.subject.is_none() {
            draft.subject = user.cloned();
        }
        self.append_audit(draft).await?;
        Ok(page)
    }

    /// Audit events with `seq > after_seq` (decoded rows only; fails with
    /// [`StoreError::Corrupt`] on an undecodable row).
    async fn audit_events(&self, after_seq: u64, limit: u32) -> Result<Vec<AuditEvent>> {
        self.audit_events_raw(after_seq, limit)
            .await?
            .into_iter()
            .map(|r| r.map_err(|_| StoreError::Corrupt("audit_events")))
            .collect()
    }

    /// Walks the whole chain and reports the first bad sequence number, if
    /// any (see [`ChainVerifier`]). Safe to run while events are appended.
    async fn verify_audit(&self) -> Result<VerifyReport> {
        let mut verifier = ChainVerifier::new();
        let mut last_seen = 0u64;
        loop {
            // Read rows until none are left, then the head. A committed row
            // implies a committed head at least as far, so a head behind the
            // last row can only come from tampering; a head ahead of it means
            // more rows arrived meanwhile (or the tail was deleted).
            loop {
                let rows = self.audit_events_raw(last_seen, MAX_AUDIT_PAGE).await?;
                if rows.is_empty() {
                    break;
                }
                for row in &rows {
                    let seq = match row {
                        Ok(e) => e.seq,
                        Err(s) => *s,
                    };
                    last_seen = last_seen.max(seq);
                    if !verifier.push(row.as_ref().map_err(|s| *s)) {
                        return Ok(verifier.finish(None));
                    }
                }
            }
            let head = self.audit_head().await?;
            if head.seq <= last_seen {
                return Ok(verifier.finish(Some(head)));
            }
            let more = self.audit_events_raw(last_seen, 1).await?;
            if more.is_empty() {
                return Ok(verifier.finish(Some(head)));
            }
        }
    }

    /// Writes events with `seq > after_seq` as JSONL (one event per line,
    /// with hashes) and returns how many were written.
    async fn export_audit(
        &self,
        after_seq: u64,
        out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<u64> {
        use tokio::io::AsyncWriteExt;
        let mut after = after_seq;
        let mut written = 0u64;
        loop {
            let events = self.audit_events(after, 1000).await?;
            let Some(last) = events.last() else { break };
            after = last.seq;
            let mut buf = String::new();
            for e in &events {
                buf.push_str(&e.to_json_line());
                buf.push('\n');
            }
            out.write_all(buf.as_bytes()).await?;
            written += events.len() as u64;
        }
        out.flush().await?;
        Ok(written)
    }
}
