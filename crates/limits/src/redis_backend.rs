//! The Redis back-end: one quota and one burst limit shared by any number
//! of gateway instances, decided atomically by a Lua script on Redis's
//! clock, with an automatic in-memory fallback while Redis is unreachable.
//!
//! Keys (hash-tagged by tenant so that a tenant's keys share a cluster
//! slot): `<prefix>:{<tenant>}:b` holds the GCRA TAT (µs, expires when the
//! bucket is full again), `<prefix>:{<tenant>}:q:<d|m>:<window id>` the
//! quota counter of one UTC day/month (expires one minute after the window).

use crate::backend::LimitBackend;
use crate::decision::{Decision, Policy, QuotaStatus, RefusalKind};
use crate::error::{validate_tenant, LimitError};
use crate::memory::MemoryLimiter;
use crate::metrics::LimiterMetrics;
use crate::tier::TierLimits;
use crate::window::{span_at, QuotaWindow};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// UTC calendar arithmetic in Lua, the same as [`crate::window`]. Lua 5.1
/// numbers are doubles: exact for µs timestamps below 2^53 (until the year
/// 2255).
pub(crate) const LUA_CALENDAR: &str = r#"
local DAY = 86400000000
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = m + 9
  if m > 2 then mp = m - 3 end
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end
local function civil_from_days(z)
  z = z + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = mp - 9
  if mp < 10 then m = mp + 3 end
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return y, m
end
local function span(code, now)
  local day = math.floor(now / DAY)
  if code == 'd' then
    return day, day * DAY, (day + 1) * DAY
  end
  local y, m = civil_from_days(day)
  local nxt
  if m == 12 then nxt = days_from_civil(y + 1, 1, 1) else nxt = days_from_civil(y, m + 1, 1) end
  return y * 12 + m - 1, days_from_civil(y, m, 1) * DAY, nxt * DAY
end
local function redis_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
"#;

/// Burst check + quota check + consumption, atomically.
/// KEYS[1] = TAT key, KEYS[2] = quota key base.
/// ARGV = emission µs, tolerance µs, quota (-1 = unlimited), window code.
/// Returns {code (0 allowed, 1 rate limited, 2 quota exceeded), used,
/// window id, µs to window end, GCRA value (reset µs when allowed, wait µs
/// when rate limited)}.
const LUA_DECIDE: &str = r#"
local now = redis_now()
local emission = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local quota = tonumber(ARGV[3])
local code = ARGV[4]
local wid, wstart, wend = span(code, now)
local qkey = KEYS[2] .. ':' .. code .. ':' .. string.format('%d', wid)
local used = tonumber(redis.call('GET', qkey) or '0')
if quota >= 0 and used >= quota then
  return {2, used, wid, wend - now, 0}
end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + emission
local diff = new_tat - now
if diff > tolerance then
  return {1, used, wid, wend - now, diff - tolerance}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.floor(diff / 1000) + 1)
used = redis.call('INCR', qkey)
if used == 1 then
  redis.call('PEXPIREAT', qkey, string.format('%d', math.floor(wend / 1000) + 60000))
end
return {0, used, wid, wend - now, diff}
"#;

/// Quota status (read only). KEYS[1] = quota key base, ARGV[1] = window code.
/// Returns {used, window id, window end µs}.
const LUA_STATUS: &str = r#"
local now = redis_now()
local code = ARGV[1]
local wid, wstart, wend = span(code, now)
local used = tonumber(redis.call('GET', KEYS[1] .. ':' .. code .. ':' .. string.format('%d', wid)) or '0')
return {used, wid, wend}
"#;

/// Adds the quota consumed during a fallback back to Redis.
/// KEYS[1] = quota key of one window; ARGV = count, expiry (ms since epoch).
const LUA_SYNC: &str = r#"
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
end
return v
"#;

/// Quota consumed locally during a fallback, per (tenant, window kind,
/// window id), with the window's end (µs).
type Unsynced = HashMap<(String, QuotaWindow, i64), (u64, i64)>;

/// Settings of the Redis back-end.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSettings {
    /// `redis://host:port/db` (or `rediss://`).
    pub url: String,
    /// Prefix of every key (`[A-Za-z0-9._:-]`, 1–100 characters), so that
    /// several deployments or tests can share one Redis.
    pub key_prefix: String,
    /// Budget of one Redis call, in milliseconds; beyond it the decision is
    /// taken locally and the fallback starts.
    pub timeout_ms: u64,
    /// First re-probe delay after Redis was lost, in milliseconds.
    pub probe_min_ms: u64,
    /// Largest re-probe delay (the delay doubles up to this), in ms.
    pub probe_max_ms: u64,
}

impl Default for RedisSettings {
    fn default() -> Self {
        RedisSettings {
            url: "redis://127.0.0.1:6379".to_owned(),
            key_prefix: "zl".to_owned(),
            timeout_ms: 250,
            probe_min_ms: 250,
            probe_max_ms: 5_000,
        }
    }
}

impl RedisSettings {
    fn validate(&self) -> Result<(), LimitError> {
        let p = &self.key_prefix;
        if p.is_empty()
            || p.len() > 100
            || !p
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'))
        {
            return Err(LimitError::Config(
                "redis.key_prefix must be 1-100 characters of [A-Za-z0-9._:-]",
            ));
        }
        if self.timeout_ms == 0 || self.probe_min_ms == 0 || self.probe_max_ms < self.probe_min_ms {
            return Err(LimitError::Config(
                "redis.timeout_ms and redis.probe_min_ms must be > 0 and probe_max_ms >= probe_min_ms",
            ));
        }
        Ok(())
    }
}

struct Inner {
    conn: ConnectionManager,
    key_prefix: String,
    decide: Script,
    status: Script,
    timeout: Duration,
    probe_min: Duration,
    probe_max: Duration,
    fallback: MemoryLimiter,
    sync: Script,
    unsynced: Mutex<Unsynced>,
    degraded: AtomicBool,
    metrics: Option<LimiterMetrics>,
}

/// The Redis back-end (cheap to clone). While Redis is unreachable it
/// decides with a per-instance [`MemoryLimiter`] seeded with the last quota
/// counts Redis reported, and re-probes Redis with exponential backoff.
#[derive(Clone)]
pub struct RedisLimiter {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("key_prefix", &self.inner.key_prefix)
            .field("degraded", &self.is_degraded())
            .finish()
    }
}

fn script(body: &str) -> Script {
    Script::new(&format!("{LUA_CALENDAR}\n{body}"))
}

impl RedisLimiter {
    /// Creates the back-end. Never fails because Redis is down: it then
    /// starts in fallback (warning logged, gauge set) and keeps probing.
    /// Must be called inside a Tokio runtime.
    pub async fn connect(
        settings: &RedisSettings,
        metrics: Option<LimiterMetrics>,
    ) -> Result<Self, LimitError> {
        settings.validate()?;
        let client = redis::Client::open(settings.url.as_str())?;
        let timeout = Duration::from_millis(settings.timeout_ms);
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(timeout);
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        let limiter = RedisLimiter {
            inner: Arc::new(Inner {
                conn,
                key_prefix: settings.key_prefix.clone(),
                decide: script(LUA_DECIDE),
                status: script(LUA_STATUS),
                timeout,
                probe_min: Duration::from_millis(settings.probe_min_ms),
                probe_max: Duration::from_millis(settings.probe_max_ms),
                fallback: MemoryLimiter::new(),
                sync: Script::new(LUA_SYNC),
                unsynced: Mutex::new(HashMap::new()),
                degraded: AtomicBool::new(false),
                metrics,
            }),
        };
        if let Some(m) = &limiter.inner.metrics {
            m.set_redis_fallback(false);
        }
        if let Err(e) = limiter.probe_once().await {
            limiter.enter_fallback(&e);
        }
        Ok(limiter)
    }

    /// Like [`RedisLimiter::connect`] but fails when Redis does not answer
    /// (for deployments that must not start without the shared quota).
    pub async fn connect_checked(
        settings: &RedisSettings,
        metrics: Option<LimiterMetrics>,
    ) -> Result<Self, LimitError> {
        let limiter = Self::connect(settings, metrics).await?;
        limiter.probe_once().await?;
        Ok(limiter)
    }

    /// True while decisions are taken locally because Redis is unreachable.
    pub fn is_degraded(&self) -> bool {
        self.inner.degraded.load(Ordering::SeqCst)
    }

    fn keys(&self, tenant: &str) -> (String, String) {
        let p = &self.inner.key_prefix;
        (format!("{p}:{{{tenant}}}:b"), format!("{p}:{{{tenant}}}:q"))
    }

    /// Runs the decision script itself (reads and writes, as a real
    /// decision does) for the reserved tenant `_probe`, which no real tenant
    /// id (`ten_…`) can collide with; its keys expire like any other.
    async fn probe_once(&self) -> Result<(), LimitError> {
        let limits = TierLimits {
            tier: crate::tier::Tier::Enterprise,
            quota: None,
            window: QuotaWindow::Day,
            burst_per_second: std::num::NonZeroU32::MAX,
        };
        self.run_decide("_probe", &limits)
            .await
            .and_then(|reply| decision_from_reply(&reply, &limits))
            .map(|_| ())
    }

    fn enter_fallback(&self, cause: &LimitError) {
        if self
            .inner
            .degraded
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return;
        }
        tracing::warn!(
            error = %cause,
            "redis unreachable: rate limits and quotas are now enforced per gateway instance (in memory) until it answers again"
        );
        if let Some(m) = &self.inner.metrics {
            m.set_redis_fallback(true);
        }
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(probe_loop(weak));
    }

    async fn run_decide(&self, tenant: &str, limits: &TierLimits) -> Result<Vec<i64>, LimitError> {
        let (bkey, qkey) = self.keys(tenant);
        let mut conn = self.inner.conn.clone();
        let quota = limits
            .quota
            .map_or(-1, |q| i64::try_from(q).unwrap_or(i64::MAX));
        let mut inv = self.inner.decide.prepare_invoke();
        inv.key(bkey)
            .key(qkey)
            .arg(limits.emission_us())
            .arg(limits.tolerance_us())
            .arg(quota)
            .arg(limits.window.code());
        match tokio::time::timeout(self.inner.timeout, inv.invoke_async::<Vec<i64>>(&mut conn))
            .await
        {
            Ok(Ok(v)) if v.len() == 5 => Ok(v),
            Ok(Ok(_)) => Err(LimitError::BadReply),
            Ok(Err(e)) => Err(LimitError::Redis(e)),
            Err(_) => Err(LimitError::Timeout),
        }
    }

    fn fallback_decide(
        &self,
        tenant: &str,
        limits: &TierLimits,
        now_us: i64,
    ) -> Result<Decision, LimitError> {
        if let Some(m) = &self.inner.metrics {
            m.record_fallback_decision();
        }
        let decision = self.inner.fallback.decide(tenant, limits, now_us)?;
        if decision.is_allowed() {
            let span = span_at(limits.window, now_us);
            let mut unsynced = self.unsynced();
            let entry = unsynced
                .entry((tenant.to_owned(), span.window, span.id))
                .or_insert((0, span.end_us));
            entry.0 = entry.0.saturating_add(1);
        }
        Ok(decision)
    }

    fn unsynced(&self) -> std::sync::MutexGuard<'_, Unsynced> {
        self.inner
            .unsynced
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the quota consumed during the fallback back to Redis (windows
    /// that have ended are dropped). On failure the rest is kept.
    async fn sync_fallback_counts(&self, now_us: i64) -> Result<(), LimitError> {
        let entries: Vec<_> = self.unsynced().drain().collect();
        let mut iter = entries.into_iter();
        while let Some(((tenant, window, id), (count, end_us))) = iter.next() {
            if end_us <= now_us {
                continue;
            }
            let key = format!(
                "{}:{{{tenant}}}:q:{}:{id}",
                self.inner.key_prefix,
                window.code()
            );
            let mut conn = self.inner.conn.clone();
            let mut inv = self.inner.sync.prepare_invoke();
            inv.key(key)
                .arg(count)
                .arg(end_us.div_euclid(1000).saturating_add(60_000));
            let result =
                tokio::time::timeout(self.inner.timeout, inv.invoke_async::<i64>(&mut conn)).await;
            let error = match result {
                Ok(Ok(_)) => continue,
                Ok(Err(e)) => LimitError::Redis(e),
                Err(_) => LimitError::Timeout,
            };
            // Put back this entry and the rest for the next probe.
            let mut unsynced = self.unsynced();
            for ((t, w, i), (c, e)) in
                std::iter::once(((tenant, window, id), (count, end_us))).chain(iter)
            {
                let entry = unsynced.entry((t, w, i)).or_insert((0, e));
                entry.0 = entry.0.saturating_add(c);
            }
            return Err(error);
        }
        Ok(())
    }
}

/// Turns the script's reply into a decision (pure).
fn decision_from_reply(
    reply: &[i64],
    limits: &TierLimits,
) -> Result<(Decision, i64, u64), LimitError> {
    let [code, used, wid, to_end, gcra] = *reply else {
        return Err(LimitError::BadReply);
    };
    let used = u64::try_from(used).map_err(|_| LimitError::BadReply)?;
    let burst = u64::from(limits.burst_per_second.get());
    let decision = match code {
        2 => Decision {
            refusal: Some(RefusalKind::QuotaExceeded),
            limit: limits.quota.ok_or(LimitError::BadReply)?,
            remaining: 0,
            reset_us: to_end,
            retry_after_us: Some(to_end),
            policy: Policy::Quota(limits.window),
        },
        1 => Decision {
            refusal: Some(RefusalKind::RateLimited),
            limit: burst,
            remaining: 0,
            reset_us: gcra,
            retry_after_us: Some(gcra),
            policy: Policy::Burst,
        },
        0 => match limits.quota {
            Some(q) => Decision {
                refusal: None,
                limit: q,
                remaining: q.saturating_sub(used),
                reset_us: to_end,
                retry_after_us: None,
                policy: Policy::Quota(limits.window),
            },
            None => Decision {
                refusal: None,
                limit: burst,
                remaining: u64::try_from((limits.tolerance_us() - gcra) / limits.emission_us())
                    .unwrap_or(0),
                reset_us: gcra,
                retry_after_us: None,
                policy: Policy::Burst,
            },
        },
        _ => return Err(LimitError::BadReply),
    };
    Ok((decision, wid, used))
}

async fn probe_loop(weak: Weak<Inner>) {
    let Some(first) = weak.upgrade().map(|i| i.probe_min) else {
        return;
    };
    let mut delay = first;
    loop {
        tokio::time::sleep(delay).await;
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let limiter = RedisLimiter { inner };
        let now_us = crate::window::to_micros(time::OffsetDateTime::now_utc());
        let probe = match limiter.probe_once().await {
            Ok(()) => limiter.sync_fallback_counts(now_us).await,
            Err(e) => Err(e),
        };
        match probe {
            Ok(()) => {
                limiter.inner.degraded.store(false, Ordering::SeqCst);
                // Decisions that were still running in fallback while the
                // first sync ran: best effort now, else at the next recovery.
                if let Err(e) = limiter.sync_fallback_counts(now_us).await {
                    tracing::debug!(error = %e, "late fallback counts kept for later");
                }
                if let Some(m) = &limiter.inner.metrics {
                    m.set_redis_fallback(false);
                }
                tracing::warn!(
                    "redis answers again: rate limits and quotas are shared across instances again"
                );
                return;
            }
            Err(e) => {
                tracing::debug!(error = %e, "redis still unreachable");
                delay = (delay * 2).min(limiter.inner.probe_max);
            }
        }
    }
}

#[async_trait::async_trait]
impl LimitBackend for RedisLimiter {
    async fn check_and_consume(
        &self,
        tenant: &str,
        limits: &TierLimits,
        now_us: i64,
    ) -> Result<Decision, LimitError> {
        validate_tenant(tenant)?;
        if self.is_degraded() {
            return self.fallback_decide(tenant, limits, now_us);
        }
        let reply = self.run_decide(tenant, limits).await;
        match reply.and_then(|r| decision_from_reply(&r, limits)) {
            Ok((decision, wid, used)) => {
                self.inner
                    .fallback
                    .observe_used(tenant, limits.window, wid, used);
                Ok(decision)
            }
            Err(e) => {
                self.enter_fallback(&e);
                self.fallback_decide(tenant, limits, now_us)
            }
        }
    }

    async fn quota_status(
        &self,
        tenant: &str,
        limits: &TierLimits,
        now_us: i64,
    ) -> Result<QuotaStatus, LimitError> {
        validate_tenant(tenant)?;
        if !self.is_degraded() {
            let (_, qkey) = self.keys(tenant);
            let mut conn = self.inner.conn.clone();
            let mut inv = self.inner.status.prepare_invoke();
            inv.key(qkey).arg(limits.window.code());
            let call = inv.invoke_async::<Vec<i64>>(&mut conn);
            match tokio::time::timeout(self.inner.timeout, call).await {
                Ok(Ok(v)) if v.len() == 3 => {
                    let used = u64::try_from(v[0]).unwrap_or(0);
                    return Ok(QuotaStatus::new(limits.quota, used, v[2]));
                }
                Ok(Ok(_)) => self.enter_fallback(&LimitError::BadReply),
                Ok(Err(e)) => self.enter_fallback(&LimitError::Redis(e)),
                Err(_) => self.enter_fallback(&LimitError::Timeout),
            }
        }
        self.inner.fallback.status(tenant, limits, now_us)
    }

    fn name(&self) -> &'static str {
        if self.is_degraded() {
            "fallback"
        } else {
            "redis"
        }
    }
}

/// Evaluates the Lua calendar for `(code, now_us)` on a Redis server
/// (tests compare it with [`crate::window::span_at`]).
#[doc(hidden)]
pub async fn lua_span(
    conn: &mut ConnectionManager,
    window: QuotaWindow,
    now_us: i64,
) -> Result<(i64, i64, i64), LimitError> {
    let s = Script::new(&format!(
        "{LUA_CALENDAR}\nlocal a, b, c = span(ARGV[1], tonumber(ARGV[2]))\nreturn {{a, b, c}}"
    ));
    let v: Vec<i64> = s.arg(window.code()).arg(now_us).invoke_async(conn).await?;
    match v[..] {
        [a, b, c] => Ok((a, b, c)),
        _ => Err(LimitError::BadReply),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tier::Tier;

    #[test]
    fn replies_become_decisions() {
        let free = Tier::Free.limits();
        let (d, wid, used) = decision_from_reply(&[0, 3, 20_000, 5_000_000, 100_000], &free)
            .unwrap_or((Decision::unlimited(), 0, 0));
        assert_eq!(
            (d.refusal, d.limit, d.remaining, d.reset_us, wid, used),
            (None, 100, 97, 5_000_000, 20_000, 3)
        );
        let (d, _, _) = decision_from_reply(&[1, 3, 1, 5, 40_000], &free).unwrap_or((
            Decision::unlimited(),
            0,
            0,
        ));
        assert_eq!(
            (d.refusal, d.retry_after_secs(), d.limit),
            (Some(RefusalKind::RateLimited), Some(1), 10)
        );
        let (d, _, _) = decision_from_reply(&[2, 100, 1, 7_000_000, 0], &free).unwrap_or((
            Decision::unlimited(),
            0,
            0,
        ));
        assert_eq!(
            (d.refusal, d.retry_after_secs()),
            (Some(RefusalKind::QuotaExceeded), Some(7))
        );
        let ent = Tier::Enterprise.limits();
        let (d, _, _) = decision_from_reply(&[0, 1, 1, 1, 2_000], &ent).unwrap_or((
            Decision::unlimited(),
            0,
            0,
        ));
        assert_eq!((d.policy, d.remaining), (Policy::Burst, 499));
        assert!(decision_from_reply(&[2, 1, 1, 1, 0], &ent).is_err());
        assert!(decision_from_reply(&[9, 1, 1, 1, 0], &free).is_err());
        assert!(decision_from_reply(&[0, -1, 1, 1, 0], &free).is_err());
        assert!(decision_from_reply(&[0, 1], &free).is_err());
    }
}
