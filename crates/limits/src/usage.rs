//! Exact usage metering: an in-process buffer of counts per tenant,
//! operation and UTC day, flushed periodically to a [`UsageSink`].
//!
//! Guarantees: every allowed request is counted exactly once in the buffer
//! (sharded mutexes, no lost updates); a flush moves the buffered counts
//! out and hands them to the sink; when the sink fails the counts are added
//! back, so they are retried with the next flush (no loss, and no double
//! count as long as the sink applies a batch all-or-nothing, e.g. in one
//! transaction). A crash loses what was buffered since the last successful
//! flush: at most one flush interval (plus the time the sink was failing).

use crate::metrics::LimiterMetrics;
use crate::operation::Operation;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use time::Date;

const SHARDS: usize = 16;

/// One increment handed to a [`UsageSink`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UsageIncrement {
    /// Tenant id.
    pub tenant_id: String,
    /// Operation.
    pub operation: Operation,
    /// UTC day.
    pub date: Date,
    /// How many to add.
    pub count: u64,
}

/// A failed write to the usage sink.
#[derive(Debug, thiserror::Error)]
#[error("usage sink: {0}")]
pub struct UsageSinkError(pub String);

/// Where usage counts are persisted (the store's usage-counter table).
#[async_trait::async_trait]
pub trait UsageSink: Send + Sync + 'static {
    /// Adds every increment to the persistent counters, all-or-nothing (one
    /// transaction): on `Err` nothing may have been added, because the
    /// meter will hand the same counts over again.
    async fn record_usage(&self, increments: &[UsageIncrement]) -> Result<(), UsageSinkError>;
}

/// A [`UsageSink`] in memory (tests, and a `dev` node without a database).
#[derive(Debug, Default)]
pub struct MemoryUsageSink {
    totals: Mutex<BTreeMap<(String, Operation, Date), u64>>,
}

impl MemoryUsageSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<(String, Operation, Date), u64>> {
        self.totals.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every stored count.
    pub fn totals(&self) -> BTreeMap<(String, Operation, Date), u64> {
        self.lock().clone()
    }

    /// The stored count of one `(tenant, operation, day)`.
    pub fn count(&self, tenant: &str, op: Operation, date: Date) -> u64 {
        self.lock()
            .get(&(tenant.to_owned(), op, date))
            .copied()
            .unwrap_or(0)
    }

    /// The stored rows of one tenant between `from` and `to` (inclusive),
    /// in the shape [`crate::build_usage_response`] takes.
    pub fn rows(&self, tenant: &str, from: Date, to: Date) -> Vec<(Date, String, u64)> {
        self.lock()
            .iter()
            .filter(|((t, _, d), _)| t == tenant && *d >= from && *d <= to)
            .map(|((_, op, d), c)| (*d, op.as_str().to_owned(), *c))
            .collect()
    }
}

#[async_trait::async_trait]
impl UsageSink for MemoryUsageSink {
    async fn record_usage(&self, increments: &[UsageIncrement]) -> Result<(), UsageSinkError> {
        let mut totals = self.lock();
        for inc in increments {
            let entry = totals
                .entry((inc.tenant_id.clone(), inc.operation, inc.date))
                .or_insert(0);
            *entry = entry.saturating_add(inc.count);
        }
        Ok(())
    }
}

type Shard = HashMap<String, HashMap<(Operation, Date), u64>>;

/// The in-process usage buffer.
pub struct UsageMeter {
    shards: Box<[Mutex<Shard>]>,
    sink: Arc<dyn UsageSink>,
    flush_lock: tokio::sync::Mutex<()>,
    metrics: Option<LimiterMetrics>,
}

impl std::fmt::Debug for UsageMeter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageMeter")
            .field("pending", &self.pending())
            .finish()
    }
}

impl UsageMeter {
    /// A meter writing to `sink`.
    pub fn new(sink: Arc<dyn UsageSink>) -> Self {
        UsageMeter {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            sink,
            flush_lock: tokio::sync::Mutex::new(()),
            metrics: None,
        }
    }

    /// Counts failed flushes in `metrics`.
    pub fn with_metrics(mut self, metrics: Option<LimiterMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    fn shard(&self, tenant: &str) -> MutexGuard<'_, Shard> {
        let mut h = DefaultHasher::new();
        tenant.hash(&mut h);
        let i = usize::try_from(h.finish() % SHARDS as u64).unwrap_or(0);
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one call of `op` by `tenant` on UTC day `date`.
    pub fn record(&self, tenant: &str, op: Operation, date: Date) {
        self.add(tenant, op, date, 1);
    }

    /// Adds `count` calls.
    pub fn add(&self, tenant: &str, op: Operation, date: Date, count: u64) {
        if count == 0 {
            return;
        }
        let mut shard = self.shard(tenant);
        let per_tenant = match shard.get_mut(tenant) {
            Some(m) => m,
            None => shard.entry(tenant.to_owned()).or_default(),
        };
        let c = per_tenant.entry((op, date)).or_insert(0);
        *c = c.saturating_add(count);
    }

    /// Total of the counts not yet flushed.
    pub fn pending(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .values()
                    .flat_map(|m| m.values())
                    .sum::<u64>()
            })
            .sum()
    }

    /// The counts of `tenant` not yet flushed, as `(day, operation, count)`
    /// (`GET /v1/usage` adds them to the stored rows).
    pub fn pending_for(&self, tenant: &str) -> Vec<(Date, String, u64)> {
        self.shard(tenant)
            .get(tenant)
            .map(|m| {
                m.iter()
                    .map(|((op, d), c)| (*d, op.as_str().to_owned(), *c))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn drain(&self) -> Vec<UsageIncrement> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let taken = std::mem::take(&mut *shard.lock().unwrap_or_else(|p| p.into_inner()));
            for (tenant_id, ops) in taken {
                for ((operation, date), count) in ops {
                    out.push(UsageIncrement {
                        tenant_id: tenant_id.clone(),
                        operation,
                        date,
                        count,
                    });
                }
            }
        }
        out.sort();
        out
    }

    /// Writes every buffered count to the sink. Returns how many increments
    /// were written. On failure the counts are put back (merged with what
    /// arrived meanwhile) for the next flush. Flushes never overlap.
    pub async fn flush(&self) -> Result<usize, UsageSinkError> {
        let _guard = self.flush_lock.lock().await;
        let batch = self.drain();
        if batch.is_empty() {
            return Ok(0);
        }
        match self.sink.record_usage(&batch).await {
            Ok(()) => Ok(batch.len()),
            Err(e) => {
                for inc in &batch {
                    self.add(&inc.tenant_id, inc.operation, inc.date, inc.count);
                }
                if let Some(m) = &self.metrics {
                    m.record_flush_failure();
                }
                Err(e)
            }
        }
    }

    /// Starts a task that flushes every `interval`. Stop it with
    /// [`UsageFlusher::shutdown`], which also performs the final flush.
    pub fn spawn_flusher(self: &Arc<Self>, interval: Duration) -> UsageFlusher {
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let meter = Arc::clone(self);
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(10)));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                tokio::select! {
                    _ = ticker.tick() => {
                        if let Err(e) = meter.flush().await {
                            tracing::warn!(error = %e, "usage flush failed; counts kept for the next attempt");
                        }
                    }
                    _ = stop_rx.changed() => return,
                }
            }
        });
        UsageFlusher {
            stop: stop_tx,
            task,
            meter: Arc::clone(self),
        }
    }
}

/// The periodic flush task of a [`UsageMeter`].
#[derive(Debug)]
pub struct UsageFlusher {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    meter: Arc<UsageMeter>,
}

impl UsageFlusher {
    /// Stops the periodic task and flushes everything still buffered
    /// (graceful shutdown). On `Err` the counts are still in the meter.
    pub async fn shutdown(self) -> Result<usize, UsageSinkError> {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        self.meter.flush().await
    }
}
