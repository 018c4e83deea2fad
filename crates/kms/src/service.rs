//! The service layer: keyring administration, rotation, the four key
//! operations with per-item results, the key cache and audit.
//!
//! Every operation writes one audit event per item (operation
//! `kms.encrypt|kms.decrypt|kms.rewrap|kms.blind_index`, resource
//! `<keyring>:v<N>`, result) through the store's group-commit audit API and
//! returns its results only once those events are durable (fail closed).
//! Neither plaintext nor key bytes ever reach an event, a log line or an
//! error.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use zenalyze_store::{
    Actor, AuditDraft, AuditResult, Keyring, KeyringName, KeyringSettings, KeyringUpdate, Mutation,
    NewKeyVersion, NewKeyring, OpaqueId, Operation, Outcome, Store, StoreError, TenantId,
    WrappedKey, WriteUnit,
};
use zeroize::Zeroizing;

use crate::format::{self, Binding, FormatError, IndexKey, SecretKey, WrapContext};
use crate::root::{random, RootError, RootOfTrust};

/// Default lifetime of unwrapped keys in the process cache.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(300);
/// Largest batch accepted by one call.
pub const MAX_BATCH: usize = 1000;

/// Why a KMS call failed. Messages are fixed text: never key bytes,
/// plaintext, ciphertext or caller data.
#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    /// The keyring name is not `[a-z0-9][a-z0-9-]{0,63}`.
    #[error("keyring name must match [a-z0-9][a-z0-9-]{{0,63}}")]
    InvalidName,
    /// A setting is out of range.
    #[error("invalid setting: {0}")]
    InvalidSettings(&'static str),
    /// No such keyring for this tenant (or no such tenant).
    #[error("no such keyring")]
    NotFound,
    /// A keyring with this name already exists.
    #[error("a keyring with this name already exists")]
    Exists,
    /// Deletion refused: the keyring's `deletion_allowed` is false.
    #[error("deletion is not allowed for this keyring; set deletion_allowed first")]
    DeletionNotAllowed,
    /// `min_decryption_version` above the primary version.
    #[error("min_decryption_version cannot exceed the primary version")]
    MinVersionTooHigh,
    /// Another rotation won the race; retry.
    #[error("a concurrent rotation happened; retry")]
    ConcurrentRotation,
    /// The input or ciphertext is malformed, too large, or does not
    /// authenticate (see [`FormatError`]).
    #[error("{0}")]
    Format(#[from] FormatError),
    /// The ciphertext names a key version this keyring does not have.
    #[error("unknown key version")]
    UnknownVersion,
    /// The ciphertext's key version is below `min_decryption_version`.
    #[error("key version is below the keyring's min_decryption_version")]
    VersionRetired,
    /// The root of trust failed (unreachable, wrong root, unwrap failure).
    #[error("{0}")]
    Root(#[from] RootError),
    /// The store failed (including an unwritable audit log: fail closed).
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl KmsError {
    /// The audit result recorded for this failure.
    pub fn audit_result(&self) -> AuditResult {
        match self {
            KmsError::NotFound => AuditResult::NotFound,
            KmsError::Exists
            | KmsError::DeletionNotAllowed
            | KmsError::MinVersionTooHigh
            | KmsError::ConcurrentRotation => AuditResult::Conflict,
            KmsError::InvalidName
            | KmsError::InvalidSettings(_)
            | KmsError::Format(_)
            | KmsError::UnknownVersion
            | KmsError::VersionRetired => AuditResult::Invalid,
            KmsError::Root(_) | KmsError::Store(_) => AuditResult::Error,
        }
    }
}

/// A key operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `POST /v1/encrypt`.
    Encrypt,
    /// `POST /v1/decrypt`.
    Decrypt,
    /// `POST /v1/rewrap`.
    Rewrap,
    /// `POST /v1/blind-index`.
    BlindIndex,
}

impl Op {
    /// The audit operation name.
    pub fn audit_name(self) -> &'static str {
        match self {
            Op::Encrypt => "kms.encrypt",
            Op::Decrypt => "kms.decrypt",
            Op::Rewrap => "kms.rewrap",
            Op::BlindIndex => "kms.blind_index",
        }
    }

    /// The scope word (`kms:<word>`).
    pub fn scope_word(self) -> &'static str {
        match self {
            Op::Encrypt => "encrypt",
            Op::Decrypt => "decrypt",
            Op::Rewrap => "rewrap",
            Op::BlindIndex => "blind-index",
        }
    }
}

/// Who performs an operation (for the audit events).
#[derive(Debug, Clone)]
pub struct Caller {
    /// The tenant whose keyrings are used.
    pub tenant: TenantId,
    /// The actor (API key id, admin, cli, system).
    pub actor: Actor,
    /// The request id.
    pub request_id: OpaqueId,
}

impl Caller {
    fn draft(&self, op: &str) -> Result<AuditDraft, KmsError> {
        Ok(AuditDraft::new(
            self.actor.clone(),
            Operation::parse(op)?,
            AuditResult::Success,
            self.request_id.clone(),
        )
        .tenant(self.tenant.clone()))
    }
}

/// One item of an encrypt batch.
pub struct EncryptItem {
    /// The plaintext (zeroized on drop).
    pub plaintext: Zeroizing<Vec<u8>>,
    /// Optional context bound into the AAD.
    pub context: Option<Vec<u8>>,
}

/// One item of a decrypt or rewrap batch.
#[derive(Debug, Clone)]
pub struct CiphertextItem {
    /// The `zen:v<N>:…` text.
    pub ciphertext: String,
    /// The context it was encrypted with.
    pub context: Option<Vec<u8>>,
}

/// A successful encryption or rewrap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The `zen:v<N>:…` text.
    pub ciphertext: String,
    /// The key version used (the primary).
    pub key_version: u32,
}

/// Per-item results of a batch, in input order.
pub type ItemResults<T> = Vec<Result<T, KmsError>>;

/// An unwrapped keyring in the process cache. Keys are zeroized when the
/// last reference is dropped (eviction, expiry, process exit).
struct Loaded {
    keyring: Keyring,
    keys: BTreeMap<u32, SecretKey>,
    index: IndexKey,
    expires: Instant,
}

type CacheKey = (String, String);

/// The process cache of unwrapped keyrings (shared with the invalidation
/// listener).
#[derive(Default)]
pub struct KeyCache {
    map: Mutex<HashMap<CacheKey, Arc<Loaded>>>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache").finish_non_exhaustive()
    }
}

impl KeyCache {
    fn get(&self, k: &CacheKey, now: Instant) -> Option<Arc<Loaded>> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(k) {
            Some(l) if l.expires > now => Some(l.clone()),
            Some(_) => {
                map.remove(k);
                None
            }
            None => None,
        }
    }

    fn put(&self, k: CacheKey, v: Arc<Loaded>) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(k, v);
    }

    /// Evicts one keyring (after a rotation, settings change or deletion).
    pub fn evict(&self, tenant: &str, keyring: &str) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&(tenant.to_owned(), keyring.to_owned()));
    }

    /// Evicts everything (e.g. after the invalidation channel was lost).
    pub fn clear(&self) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.clear();
    }

    /// Number of cached keyrings.
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Publishes keyring changes to the other gateway instances.
#[async_trait::async_trait]
pub trait ChangeBus: Send + Sync + std::fmt::Debug {
    /// Announces that a tenant's keyring changed (rotation, settings,
    /// deletion). Failures are logged, not returned: the cache TTL bounds
    /// how long another instance can lag.
    async fn publish(&self, tenant: &str, keyring: &str);
}

/// The Key Management Service.
pub struct Kms {
    store: Arc<dyn Store>,
    root: Arc<dyn RootOfTrust>,
    cache: Arc<KeyCache>,
    ttl: Duration,
    bus: Option<Arc<dyn ChangeBus>>,
}

impl std::fmt::Debug for Kms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kms")
            .field("root", &self.root.id())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn ctx(tenant: &TenantId, name: &KeyringName, version: u32) -> WrapContext {
    WrapContext {
        tenant: tenant.as_str().to_owned(),
        keyring: name.as_str().to_owned(),
        version,
    }
}

fn resource(name: &KeyringName, version: Option<u32>) -> Option<OpaqueId> {
    match version {
        Some(v) => zenalyze_store::keyring::version_resource_id(name, v),
        None => name.resource_id(),
    }
}

impl Kms {
    /// A service on a store and a root of trust, with the default cache TTL
    /// and no change bus.
    pub fn new(store: Arc<dyn Store>, root: Arc<dyn RootOfTrust>) -> Self {
        Kms {
            store,
            root,
            cache: Arc::new(KeyCache::default()),
            ttl: DEFAULT_CACHE_TTL,
            bus: None,
        }
    }

    /// Sets the cache TTL (zero disables caching).
    pub fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Publishes changes on `bus` (Redis pub/sub in production).
    pub fn with_bus(mut self, bus: Arc<dyn ChangeBus>) -> Self {
        self.bus = Some(bus);
        self
    }

    /// The key cache (the invalidation listener evicts from it).
    pub fn cache(&self) -> &Arc<KeyCache> {
        &self.cache
    }

    /// The root of trust.
    pub fn root(&self) -> &Arc<dyn RootOfTrust> {
        &self.root
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    async fn changed(&self, tenant: &TenantId, name: &KeyringName) {
        self.cache.evict(tenant.as_str(), name.as_str());
        if let Some(bus) = &self.bus {
            bus.publish(tenant.as_str(), name.as_str()).await;
        }
    }

    // ------------------------------------------------------------ admin --

    /// Creates a keyring with version 1 and its blind-index secret
    /// (audited as `kms.keyrings.create` with `audit`'s actor).
    pub async fn create_keyring(
        &self,
        tenant: &TenantId,
        name: &str,
        settings: KeyringSettings,
        audit: AuditDraft,
    ) -> Result<Keyring, KmsError> {
        let name = KeyringName::parse(name).map_err(|_| KmsError::InvalidName)?;
        check_period(settings.auto_rotate_period_s)?;
        let (_, index_key) = self.root.generate(&ctx(tenant, &name, 0)).await?;
        let (_, first_key) = self.root.generate(&ctx(tenant, &name, 1)).await?;
        let new = NewKeyring {
            tenant_id: tenant.clone(),
            name,
            settings,
            root_id: self.root.id().to_owned(),
            index_key: WrappedKey(index_key),
            first_key: WrappedKey(first_key),
        };
        let applied = self
            .store
            .apply(WriteUnit::new(Mutation::CreateKeyring(new), audit))
            .await?;
        match applied.outcome {
            Outcome::KeyringCreated(k) => Ok(k),
            Outcome::Conflict => Err(KmsError::Exists),
            _ => Err(KmsError::NotFound),
        }
    }

    /// A keyring of the tenant (unaudited read of metadata, no key bytes).
    pub async fn get_keyring(&self, tenant: &TenantId, name: &str) -> Result<Keyring, KmsError> {
        let name = KeyringName::parse(name).map_err(|_| KmsError::NotFound)?;
        self.store
            .get_keyring(tenant, &name)
            .await?
            .ok_or(KmsError::NotFound)
    }

    /// The tenant's keyrings.
    pub async fn list_keyrings(&self, tenant: &TenantId) -> Result<Vec<Keyring>, KmsError> {
        Ok(self.store.list_keyrings(tenant).await?)
    }

    /// Adds a new primary version (manual rotation), audited as
    /// `kms.keyrings.rotate`. Every instance switches to it: this one
    /// immediately, the others through the change bus.
    pub async fn rotate(
        &self,
        tenant: &TenantId,
        name: &str,
        audit: AuditDraft,
    ) -> Result<Keyring, KmsError> {
        let current = self.get_keyring(tenant, name).await?;
        self.rotate_from(&current, audit).await
    }

    async fn rotate_from(&self, current: &Keyring, audit: AuditDraft) -> Result<Keyring, KmsError> {
        let version = current
            .primary_version
            .checked_add(1)
            .ok_or(KmsError::InvalidSettings("version overflow"))?;
        let (_, wrapped) = self
            .root
            .generate(&ctx(&current.tenant_id, &current.name, version))
            .await?;
        let applied = self
            .store
            .apply(WriteUnit::new(
                Mutation::AddKeyVersion(NewKeyVersion {
                    tenant_id: current.tenant_id.clone(),
                    keyring: current.name.clone(),
                    version,
                    root_id: self.root.id().to_owned(),
                    wrapped: WrappedKey(wrapped),
                }),
                audit,
            ))
            .await?;
        match applied.outcome {
            Outcome::KeyVersionAdded(k) => {
                self.changed(&k.tenant_id, &k.name).await;
                tracing::info!(keyring = %k.name, version = k.primary_version, "keyring rotated");
                Ok(k)
            }
            Outcome::Conflict => Err(KmsError::ConcurrentRotation),
            _ => Err(KmsError::NotFound),
        }
    }

    /// Changes settings (audited as `kms.keyrings.update`).
    pub async fn update_keyring(
        &self,
        update: KeyringUpdate,
        audit: AuditDraft,
    ) -> Result<Keyring, KmsError> {
        if update.min_decryption_version == Some(0) {
            return Err(KmsError::InvalidSettings(
                "min_decryption_version must be ≥ 1",
            ));
        }
        check_period(update.auto_rotate_period_s.flatten())?;
        let (tenant, name) = (update.tenant_id.clone(), update.name.clone());
        let applied = self
            .store
            .apply(WriteUnit::new(Mutation::UpdateKeyring(update), audit))
            .await?;
        match applied.outcome {
            Outcome::KeyringUpdated(k) => {
                self.changed(&tenant, &name).await;
                Ok(k)
            }
            Outcome::Conflict => Err(KmsError::MinVersionTooHigh),
            _ => Err(KmsError::NotFound),
        }
    }

    /// Deletes a keyring whose `deletion_allowed` is set (audited as
    /// `kms.keyrings.delete`). Its ciphertexts can never be decrypted again.
    pub async fn delete_keyring(
        &self,
        tenant: &TenantId,
        name: &str,
        audit: AuditDraft,
    ) -> Result<(), KmsError> {
        let name = KeyringName::parse(name).map_err(|_| KmsError::NotFound)?;
        let applied = self
            .store
            .apply(WriteUnit::new(
                Mutation::DeleteKeyring {
                    tenant_id: tenant.clone(),
                    name: name.clone(),
                },
                audit,
            ))
            .await?;
        match applied.outcome {
            Outcome::KeyringDeleted => {
                self.changed(tenant, &name).await;
                Ok(())
            }
            Outcome::Conflict => Err(KmsError::DeletionNotAllowed),
            _ => Err(KmsError::NotFound),
        }
    }

    /// Performs every due automatic rotation (all tenants) at `now`;
    /// returns how many keyrings were rotated. A rotation another instance
    /// performed first is skipped.
    pub async fn rotate_due(&self, now: OffsetDateTime) -> Result<usize, KmsError> {
        let mut rotated = 0;
        let mut after: Option<(TenantId, KeyringName)> = None;
        loop {
            let page = self
                .store
                .list_auto_rotating_keyrings(500, after.as_ref().map(|(t, n)| (t, n)))
                .await?;
            for k in &page {
                if !format::rotation_due(
                    k.primary_created_at.unix_timestamp(),
                    k.auto_rotate_period_s,
                    now.unix_timestamp(),
                ) {
                    continue;
                }
                let draft = AuditDraft::new(
                    Actor::System,
                    Operation::parse("kms.keyrings.rotate")?,
                    AuditResult::Success,
                    OpaqueId::parse(&format!("auto-rotate-{}", now.unix_timestamp()))?,
                );
                match self.rotate_from(k, draft).await {
                    Ok(_) => rotated += 1,
                    Err(KmsError::ConcurrentRotation) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, keyring = %k.name, "automatic rotation failed")
                    }
                }
            }
            match page.last() {
                Some(k) if page.len() == 500 => after = Some((k.tenant_id.clone(), k.name.clone())),
                _ => return Ok(rotated),
            }
        }
    }

    /// Runs [`Kms::rotate_due`] every `every` until the task is aborted.
    pub fn spawn_rotation_task(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let kms = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(kms) = kms.upgrade() else { return };
                match kms.rotate_due(OffsetDateTime::now_utc()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(rotated = n, "automatic keyring rotations"),
                    Err(e) => tracing::warn!(error = %e, "automatic rotation pass failed"),
                }
            }
        })
    }

    // ------------------------------------------------------------- keys --

    async fn load(
        &self,
        tenant: &TenantId,
        name: &KeyringName,
        fresh: bool,
    ) -> Result<Arc<Loaded>, KmsError> {
        let key = (tenant.as_str().to_owned(), name.as_str().to_owned());
        let now = Instant::now();
        if !fresh {
            if let Some(l) = self.cache.get(&key, now) {
                return Ok(l);
            }
        }
        let keyring = self
            .store
            .get_keyring(tenant, name)
            .await?
            .ok_or(KmsError::NotFound)?;
        if keyring.root_id != self.root.id() {
            return Err(RootError::WrongRoot.into());
        }
        let versions = self.store.list_key_versions(tenant, name).await?;
        let mut keys = BTreeMap::new();
        for v in versions {
            // Retired versions are never unwrapped (fail closed).
            if v.version < keyring.min_decryption_version || v.version > keyring.primary_version {
                continue;
            }
            if v.root_id != self.root.id() {
                return Err(RootError::WrongRoot.into());
            }
            let k = self
                .root
                .unwrap(&ctx(tenant, name, v.version), &v.wrapped.0)
                .await?;
            keys.insert(v.version, k);
        }
        if !keys.contains_key(&keyring.primary_version) {
            return Err(KmsError::UnknownVersion);
        }
        let secret = self
            .root
            .unwrap(&ctx(tenant, name, 0), &keyring.index_key.0)
            .await?;
        let index = format::index_key(&secret, tenant.as_str(), name.as_str());
        drop(secret);
        let loaded = Arc::new(Loaded {
            keyring,
            keys,
            index,
            expires: now + self.ttl,
        });
        if !self.ttl.is_zero() {
            self.cache.put(key, loaded.clone());
        }
        Ok(loaded)
    }

    /// The keyring's keys, reloading when a ciphertext names a version
    /// newer than the cached primary (a rotation this instance has not
    /// heard of yet) — at most once per request (`reloaded`), so forged
    /// versions cannot make one batch hammer the store or the root of trust.
    async fn load_for_version(
        &self,
        tenant: &TenantId,
        name: &KeyringName,
        loaded: Arc<Loaded>,
        version: u32,
        reloaded: &mut bool,
    ) -> Result<Arc<Loaded>, KmsError> {
        if version > loaded.keyring.primary_version && !*reloaded {
            *reloaded = true;
            self.load(tenant, name, true).await
        } else {
            Ok(loaded)
        }
    }

    async fn audit_all(&self, drafts: Vec<AuditDraft>) -> Result<(), KmsError> {
        futures_util::future::try_join_all(drafts.into_iter().map(|d| self.store.append_audit(d)))
            .await?;
        Ok(())
    }

    async fn keyring_or_audit(
        &self,
        caller: &Caller,
        op: Op,
        keyring: &str,
    ) -> Result<(KeyringName, Arc<Loaded>), KmsError> {
        let loaded = match KeyringName::parse(keyring) {
            Err(_) => Err(KmsError::NotFound),
            Ok(name) => self
                .load(&caller.tenant, &name, false)
                .await
                .map(|l| (name, l)),
        };
        match loaded {
            Ok(x) => Ok(x),
            Err(e) => {
                let mut d = caller.draft(op.audit_name())?.result(e.audit_result());
                if let Ok(name) = KeyringName::parse(keyring) {
                    d.resource_id = name.resource_id();
                }
                self.store.append_audit(d).await?;
                Err(e)
            }
        }
    }

    /// Records a refused operation (missing scope) as `denied`.
    pub async fn audit_denied(
        &self,
        caller: &Caller,
        op: Op,
        keyring: &str,
    ) -> Result<(), KmsError> {
        let mut d = caller.draft(op.audit_name())?.result(AuditResult::Denied);
        if let Ok(name) = KeyringName::parse(keyring) {
            d.resource_id = name.resource_id();
        }
        self.store.append_audit(d).await?;
        Ok(())
    }

    fn draft_for(
        caller: &Caller,
        op: Op,
        name: &KeyringName,
        version: Option<u32>,
        result: AuditResult,
    ) -> Result<AuditDraft, KmsError> {
        let mut d = caller.draft(op.audit_name())?.result(result);
        d.resource_id = resource(name, version);
        Ok(d)
    }

    /// Encrypts each item under the keyring's primary version.
    pub async fn encrypt(
        &self,
        caller: &Caller,
        keyring: &str,
        items: Vec<EncryptItem>,
    ) -> Result<ItemResults<Sealed>, KmsError> {
        let (name, loaded) = self.keyring_or_audit(caller, Op::Encrypt, keyring).await?;
        let version = loaded.keyring.primary_version;
        let key = loaded.keys.get(&version).ok_or(KmsError::UnknownVersion)?;
        let mut out = Vec::with_capacity(items.len());
        let mut drafts = Vec::with_capacity(items.len());
        for item in &items {
            let r = random::<{ format::IV_LEN }>()
                .map_err(KmsError::from)
                .and_then(|iv| {
                    format::seal(
                        key,
                        version,
                        Binding {
                            tenant: caller.tenant.as_str(),
                            keyring: name.as_str(),
                            context: item.context.as_deref(),
                        },
                        iv,
                        &item.plaintext,
                    )
                    .map_err(KmsError::from)
                })
                .map(|ciphertext| Sealed {
                    ciphertext,
                    key_version: version,
                });
            let result = r
                .as_ref()
                .map_or_else(|e| e.audit_result(), |_| AuditResult::Success);
            drafts.push(Self::draft_for(
                caller,
                Op::Encrypt,
                &name,
                Some(version),
                result,
            )?);
            out.push(r);
        }
        drop(items);
        self.audit_all(drafts).await?;
        Ok(out)
    }

    async fn open_one(
        &self,
        caller: &Caller,
        name: &KeyringName,
        loaded: &mut Arc<Loaded>,
        reloaded: &mut bool,
        item: &CiphertextItem,
    ) -> (Option<u32>, Result<Zeroizing<Vec<u8>>, KmsError>) {
        let ct = match format::parse(&item.ciphertext) {
            Ok(ct) => ct,
            Err(e) => return (None, Err(e.into())),
        };
        let v = ct.version;
        match self
            .load_for_version(&caller.tenant, name, loaded.clone(), v, reloaded)
            .await
        {
            Ok(l) => *loaded = l,
            Err(e) => return (Some(v), Err(e)),
        }
        if v < loaded.keyring.min_decryption_version {
            return (Some(v), Err(KmsError::VersionRetired));
        }
        let Some(key) = loaded.keys.get(&v) else {
            return (Some(v), Err(KmsError::UnknownVersion));
        };
        let r = format::open(
            key,
            Binding {
                tenant: caller.tenant.as_str(),
                keyring: name.as_str(),
                context: item.context.as_deref(),
            },
            &ct,
        )
        .map_err(KmsError::from);
        (Some(v), r)
    }

    /// Decrypts each item. The plaintexts are returned only once the audit
    /// events are durable.
    pub async fn decrypt(
        &self,
        caller: &Caller,
        keyring: &str,
        items: &[CiphertextItem],
    ) -> Result<ItemResults<Zeroizing<Vec<u8>>>, KmsError> {
        let (name, mut loaded) = self.keyring_or_audit(caller, Op::Decrypt, keyring).await?;
        let mut reloaded = false;
        let mut out = Vec::with_capacity(items.len());
        let mut drafts = Vec::with_capacity(items.len());
        for item in items {
            let (v, r) = self
                .open_one(caller, &name, &mut loaded, &mut reloaded, item)
                .await;
            let result = r
                .as_ref()
                .map_or_else(|e| e.audit_result(), |_| AuditResult::Success);
            drafts.push(Self::draft_for(caller, Op::Decrypt, &name, v, result)?);
            out.push(r);
        }
        self.audit_all(drafts).await?;
        Ok(out)
    }

    /// Re-encrypts each item under the primary version without returning
    /// plaintext (the context stays the same).
    pub async fn rewrap(
        &self,
        caller: &Caller,
        keyring: &str,
        items: &[CiphertextItem],
    ) -> Result<ItemResults<Sealed>, KmsError> {
        let (name, mut loaded) = self.keyring_or_audit(caller, Op::Rewrap, keyring).await?;
        let mut reloaded = false;
        let mut out = Vec::with_capacity(items.len());
        let mut drafts = Vec::with_capacity(items.len());
        for item in items {
            let (v, opened) = self
                .open_one(caller, &name, &mut loaded, &mut reloaded, item)
                .await;
            let primary = loaded.keyring.primary_version;
            let r = opened.and_then(|plain| {
                let key = loaded.keys.get(&primary).ok_or(KmsError::UnknownVersion)?;
                let iv = random::<{ format::IV_LEN }>()?;
                let ciphertext = format::seal(
                    key,
                    primary,
                    Binding {
                        tenant: caller.tenant.as_str(),
                        keyring: name.as_str(),
                        context: item.context.as_deref(),
                    },
                    iv,
                    &plain,
                )?;
                Ok(Sealed {
                    ciphertext,
                    key_version: primary,
                })
            });
            let result = r
                .as_ref()
                .map_or_else(|e| e.audit_result(), |_| AuditResult::Success);
            drafts.push(Self::draft_for(caller, Op::Rewrap, &name, v, result)?);
            out.push(r);
        }
        self.audit_all(drafts).await?;
        Ok(out)
    }

    /// The blind index of each value (hex, `bits` long).
    pub async fn blind_index(
        &self,
        caller: &Caller,
        keyring: &str,
        values: &[Zeroizing<Vec<u8>>],
        bits: u16,
    ) -> Result<ItemResults<String>, KmsError> {
        let (name, loaded) = self
            .keyring_or_audit(caller, Op::BlindIndex, keyring)
            .await?;
        let mut out = Vec::with_capacity(values.len());
        let mut drafts = Vec::with_capacity(values.len());
        for v in values {
            let r = format::blind_index(&loaded.index, v, bits).map_err(KmsError::from);
            let result = r
                .as_ref()
                .map_or_else(|e| e.audit_result(), |_| AuditResult::Success);
            drafts.push(Self::draft_for(
                caller,
                Op::BlindIndex,
                &name,
                None,
                result,
            )?);
            out.push(r);
        }
        self.audit_all(drafts).await?;
        Ok(out)
    }
}

fn check_period(p: Option<u64>) -> Result<(), KmsError> {
    match p {
        Some(p)
            if !(zenalyze_store::keyring::MIN_AUTO_ROTATE_PERIOD_S
                ..=zenalyze_store::keyring::MAX_AUTO_ROTATE_PERIOD_S)
                .contains(&p) =>
        {
            Err(KmsError::InvalidSettings(
                "auto_rotate_period must be from 1 hour to 10 years",
            ))
        }
        _ => Ok(()),
    }
}
