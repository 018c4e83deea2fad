//! Adapter to `zenalyze-store` (feature `store`): usage counters in the
//! store's `usage_counters` table, and the store's tenant/tier types.

use crate::operation::Operation;
use crate::tier::{Tier, TierLimits};
use crate::usage::{UsageIncrement, UsageSink, UsageSinkError};
use std::sync::Arc;
use zenalyze_store::{Store, TenantId};

/// A [`UsageSink`] writing to [`Store::record_usage`] (one transaction per
/// flush, all or nothing).
#[derive(Clone, Debug)]
pub struct StoreUsageSink {
    store: Arc<dyn Store>,
}

impl StoreUsageSink {
    /// A sink on `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        StoreUsageSink { store }
    }
}

#[async_trait::async_trait]
impl UsageSink for StoreUsageSink {
    async fn record_usage(&self, increments: &[UsageIncrement]) -> Result<(), UsageSinkError> {
        let mut batch = Vec::with_capacity(increments.len());
        for inc in increments {
            match TenantId::parse(&inc.tenant_id) {
                Ok(tenant) => batch.push(zenalyze_store::UsageIncrement::new(
                    tenant,
                    inc.operation.as_str(),
                    inc.date,
                    inc.count,
                )),
                // Such counts can never be stored: retrying them would block
                // every other tenant's usage forever, so they are dropped.
                Err(_) => tracing::error!(
                    count = inc.count,
                    operation = inc.operation.as_str(),
                    "usage of a tenant id the store cannot hold was dropped"
                ),
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.store
            .record_usage(&batch)
            .await
            .map_err(|e| UsageSinkError(e.to_string()))
    }
}

impl From<zenalyze_store::Tier> for Tier {
    fn from(t: zenalyze_store::Tier) -> Self {
        match t {
            zenalyze_store::Tier::Free => Tier::Free,
            zenalyze_store::Tier::Starter => Tier::Starter,
            zenalyze_store::Tier::Pro => Tier::Pro,
            zenalyze_store::Tier::Enterprise => Tier::Enterprise,
        }
    }
}

impl From<&zenalyze_store::Tenant> for TierLimits {
    /// The tenant's tier defaults with its quota and burst overrides.
    fn from(t: &zenalyze_store::Tenant) -> Self {
        TierLimits::for_tier(t.tier.into()).with_overrides(t.quota_override, t.burst_override)
    }
}

/// The store's usage rows in the shape [`crate::Limiter::usage_report`]
/// takes.
pub fn usage_rows(rows: Vec<zenalyze_store::UsageRow>) -> Vec<(time::Date, String, u64)> {
    rows.into_iter()
        .map(|r| (r.day, r.operation, r.count))
        .collect()
}

/// Parses an operation name read back from the store (`None` for names
/// this version does not meter).
pub fn operation_of(name: &str) -> Option<Operation> {
    name.parse().ok()
}
