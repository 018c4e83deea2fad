//! Pricing tiers and the limits they carry.

use crate::window::QuotaWindow;
use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

/// A tenant's pricing tier (SPEC §6). Serialized as `free`, `starter`,
/// `pro`, `enterprise` (the same names as `zenalyze-store`'s tier).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// 100 metered requests per UTC day, 10 per second.
    Free,
    /// 10,000 per UTC calendar month, 25 per second.
    Starter,
    /// 100,000 per UTC calendar month, 100 per second.
    Pro,
    /// Unlimited (usage is still counted per month), 500 per second.
    Enterprise,
}

impl Tier {
    /// Every tier.
    pub const ALL: [Tier; 4] = [Tier::Free, Tier::Starter, Tier::Pro, Tier::Enterprise];

    /// The tier's wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Tier::Free => "free",
            Tier::Starter => "starter",
            Tier::Pro => "pro",
            Tier::Enterprise => "enterprise",
        }
    }

    /// The tier's default limits.
    pub fn limits(self) -> TierLimits {
        TierLimits::for_tier(self)
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not a tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown tier name")]
pub struct UnknownTier;

impl FromStr for Tier {
    type Err = UnknownTier;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tier::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or(UnknownTier)
    }
}

/// The limits applied to one tenant: its tier's defaults, possibly with
/// per-tenant overrides ([`TierLimits::with_overrides`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct TierLimits {
    /// The tier the limits derive from (reported by `GET /v1/usage`).
    pub tier: Tier,
    /// Metered requests allowed per [`TierLimits::window`]; `None` =
    /// unlimited (requests are still counted, never refused for quota).
    pub quota: Option<u64>,
    /// The calendar window the quota counts over.
    pub window: QuotaWindow,
    /// Requests per second (GCRA): a client may send up to this many at
    /// once, then one every `1/burst_per_second` seconds.
    pub burst_per_second: NonZeroU32,
}

const fn nz(v: u32) -> NonZeroU32 {
    match NonZeroU32::new(v) {
        Some(v) => v,
        None => NonZeroU32::MIN,
    }
}

impl TierLimits {
    /// The defaults of a tier (SPEC §6).
    pub const fn for_tier(tier: Tier) -> Self {
        let (quota, window, burst) = match tier {
            Tier::Free => (Some(100), QuotaWindow::Day, 10),
            Tier::Starter => (Some(10_000), QuotaWindow::Month, 25),
            Tier::Pro => (Some(100_000), QuotaWindow::Month, 100),
            Tier::Enterprise => (None, QuotaWindow::Month, 500),
        };
        TierLimits {
            tier,
            quota,
            window,
            burst_per_second: nz(burst),
        }
    }

    /// Applies per-tenant overrides (the store's `quota_override` and
    /// `burst_override`). A quota override replaces the quota but keeps the
    /// tier's window; a burst override of 0 is ignored (a tenant that must
    /// not call at all is suspended, not rate limited).
    pub fn with_overrides(mut self, quota: Option<u64>, burst_per_second: Option<u32>) -> Self {
        if let Some(q) = quota {
            self.quota = Some(q);
        }
        if let Some(b) = burst_per_second.and_then(NonZeroU32::new) {
            self.burst_per_second = b;
        }
        self
    }

    /// GCRA emission interval in µs (`ceil(1 s / burst)`, at least 1).
    pub fn emission_us(&self) -> i64 {
        let b = i64::from(self.burst_per_second.get());
        ((1_000_000 + b - 1) / b).max(1)
    }

    /// GCRA tolerance in µs: `burst` emission intervals, so that `burst`
    /// requests may arrive at the same instant.
    pub fn tolerance_us(&self) -> i64 {
        self.emission_us() * i64::from(self.burst_per_second.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_defaults_match_the_spec() {
        let f = Tier::Free.limits();
        assert_eq!(
            (f.quota, f.window, f.burst_per_second.get()),
            (Some(100), QuotaWindow::Day, 10)
        );
        let s = Tier::Starter.limits();
        assert_eq!(
            (s.quota, s.window, s.burst_per_second.get()),
            (Some(10_000), QuotaWindow::Month, 25)
        );
        let p = Tier::Pro.limits();
        assert_eq!(
            (p.quota, p.window, p.burst_per_second.get()),
            (Some(100_000), QuotaWindow::Month, 100)
        );
        let e = Tier::Enterprise.limits();
        assert_eq!((e.quota, e.burst_per_second.get()), (None, 500));
    }

    #[test]
    fn overrides_replace_defaults() {
        let l = Tier::Free.limits().with_overrides(Some(5), Some(2));
        assert_eq!(
            (l.quota, l.window, l.burst_per_second.get()),
            (Some(5), QuotaWindow::Day, 2)
        );
        let l = Tier::Pro.limits().with_overrides(None, Some(0));
        assert_eq!(l.burst_per_second.get(), 100);
        assert_eq!(
            Tier::Enterprise
                .limits()
                .with_overrides(Some(7), None)
                .quota,
            Some(7)
        );
    }

    #[test]
    fn gcra_parameters() {
        let f = Tier::Free.limits();
        assert_eq!(f.emission_us(), 100_000);
        assert_eq!(f.tolerance_us(), 1_000_000);
        let odd = Tier::Free.limits().with_overrides(None, Some(3));
        assert_eq!(odd.emission_us(), 333_334);
        let huge = Tier::Free.limits().with_overrides(None, Some(u32::MAX));
        assert_eq!(huge.emission_us(), 1);
    }

    #[test]
    fn tier_names() {
        for t in Tier::ALL {
            assert_eq!(t.as_str().parse::<Tier>(), Ok(t));
            assert_eq!(
                serde_json::to_string(&t).unwrap_or_default(),
                format!("\"{t}\"")
            );
        }
        assert_eq!("gold".parse::<Tier>(), Err(UnknownTier));
    }
}
