//! The in-memory back-end (one node; also the Redis back-end's fallback).

use crate::backend::LimitBackend;
use crate::decision::{self, Decision, QuotaStatus, TenantState};
use crate::error::{validate_tenant, LimitError};
use crate::tier::TierLimits;
use crate::window::QuotaWindow;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, MutexGuard};

const SHARDS: usize = 32;

/// Exact per-tenant limiter state in process memory: GCRA for bursts and a
/// counter per quota window, behind sharded mutexes (a decision holds one
/// shard's lock for a few hundred nanoseconds, so concurrent requests of one
/// tenant are serialised and the quota is exact).
#[derive(Debug)]
pub struct MemoryLimiter {
    shards: Box<[Mutex<HashMap<String, TenantState>>]>,
}

impl Default for MemoryLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryLimiter {
    /// An empty limiter.
    pub fn new() -> Self {
        MemoryLimiter {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, tenant: &str) -> MutexGuard<'_, HashMap<String, TenantState>> {
        let mut h = DefaultHasher::new();
        tenant.hash(&mut h);
        let i = usize::try_from(h.finish() % SHARDS as u64).unwrap_or(0);
        // A poisoned shard only means another thread panicked mid-update of
        // plain integers: the state is still usable.
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Decides one request at `now_us` (µs since the epoch), synchronously.
    pub fn decide(
        &self,
        tenant: &str,
        limits: &TierLimits,
        now_us: i64,
    ) -> Result<Decision, LimitError> {
        validate_tenant(tenant)?;
        let mut shard = self.shard(tenant);
        let state = match shard.get_mut(tenant) {
            Some(s) => s,
            None => shard.entry(tenant.to_owned()).or_default(),
        };
        Ok(decision::decide(state, limits, now_us))
    }

    /// The quota status at `now_us`, synchronously.
    pub fn status(
        &self,
        tenant: &str,
        limits: &TierLimits,
        now_us: i64,
    ) -> Result<QuotaStatus, LimitError> {
        validate_tenant(tenant)?;
        let shard = self.shard(tenant);
        let state = shard.get(tenant).copied().unwrap_or_default();
        Ok(decision::quota_status(&state, limits, now_us))
    }

    /// Raises the tenant's counter for window `(kind, id)` to at least
    /// `used` (the Redis back-end reports the global count here, so that a
    /// fallback continues from it instead of from zero).
    pub fn observe_used(&self, tenant: &str, window: QuotaWindow, id: i64, used: u64) {
        if validate_tenant(tenant).is_err() {
            return;
        }
        let mut shard = self.shard(tenant);
        match shard.get_mut(tenant) {
            Some(s) => s.observe_used(window, id, used),
            None => shard
                .entry(tenant.to_owned())
                .or_default()
                .observe_used(window, id, used),
        }
    }
}

#[async_trait::async_trait]
impl LimitBackend for MemoryLimiter {
    async fn check_and_consume(
        &self,
        tenant: &str,
        limits: &TierLimits,
        now_us: i64,
    ) -> Result<Decision, LimitError> {
        self.decide(tenant, limits, now_us)
    }

    async fn quota_status(
        &self,
        tenant: &str,
        limits: &TierLimits,
        now_us: i64,
    ) -> Result<QuotaStatus, LimitError> {
        self.status(tenant, limits, now_us)
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}
