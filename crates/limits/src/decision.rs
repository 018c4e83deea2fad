//! Limiter decisions, the pure combined burst + quota rule, and their HTTP
//! rendering (headers and RFC 9457 problem documents).

use crate::gcra::{self, GcraOutcome};
use crate::tier::TierLimits;
use crate::window::{ceil_secs, from_micros, span_at, QuotaWindow};
use axum::http::{header::HeaderName, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// `RateLimit-Limit` (draft-ietf-httpapi-ratelimit-headers).
pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
/// `RateLimit-Remaining`.
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
/// `RateLimit-Reset` (seconds until the described window resets).
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
/// Problem type of a refusal because the tenant's quota is used up.
pub const PROBLEM_QUOTA_EXCEEDED: &str = "https://zenalyze.dev/problems/quota-exceeded";
/// Problem type of a refusal because of the per-second burst limit.
pub const PROBLEM_RATE_LIMITED: &str = "https://zenalyze.dev/problems/rate-limited";
/// Media type of problem documents.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefusalKind {
    /// The tenant's quota for the current day/month is used up.
    QuotaExceeded,
    /// Too many requests in the current second (GCRA).
    RateLimited,
}

impl RefusalKind {
    /// Stable name, also the `kind` label of the refusal metric.
    pub const fn as_str(self) -> &'static str {
        match self {
            RefusalKind::QuotaExceeded => "quota_exceeded",
            RefusalKind::RateLimited => "rate_limited",
        }
    }

    /// The problem `type` URI.
    pub const fn problem_type(self) -> &'static str {
        match self {
            RefusalKind::QuotaExceeded => PROBLEM_QUOTA_EXCEEDED,
            RefusalKind::RateLimited => PROBLEM_RATE_LIMITED,
        }
    }

    /// The problem `title`.
    pub const fn title(self) -> &'static str {
        match self {
            RefusalKind::QuotaExceeded => "Quota exceeded",
            RefusalKind::RateLimited => "Rate limited",
        }
    }

    /// The problem `detail` (fixed text: nothing from the request).
    pub const fn detail(self) -> &'static str {
        match self {
            RefusalKind::QuotaExceeded => {
                "the tenant's quota of metered requests for the current period is used up; retry after the period resets (see Retry-After) or upgrade the tier"
            }
            RefusalKind::RateLimited => {
                "too many requests per second for the tenant's tier; retry after the number of seconds in Retry-After"
            }
        }
    }
}

/// Which limit the `RateLimit-*` headers of a decision describe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// The quota of the tenant (limited quotas, except on a burst refusal).
    Quota(QuotaWindow),
    /// The per-second burst limit (unlimited quotas, and burst refusals).
    Burst,
    /// Nothing (limiter switched off): no headers.
    None,
}

/// The answer of the limiter for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// `None` when allowed (and counted), else why it was refused (and not
    /// counted).
    pub refusal: Option<RefusalKind>,
    /// The limit of the described [`Policy`] (`RateLimit-Limit`).
    pub limit: u64,
    /// What is left of it after this request (`RateLimit-Remaining`).
    pub remaining: u64,
    /// µs until the described window resets (`RateLimit-Reset`, rounded up
    /// to seconds).
    pub reset_us: i64,
    /// On refusal, µs until a retry can succeed: to the next window start
    /// for quota, GCRA's wait for bursts (`Retry-After`, rounded up, ≥ 1 s).
    pub retry_after_us: Option<i64>,
    /// What the numbers describe.
    pub policy: Policy,
}

impl Decision {
    /// The decision of a switched-off limiter: allowed, no headers.
    pub const fn unlimited() -> Self {
        Decision {
            refusal: None,
            limit: 0,
            remaining: 0,
            reset_us: 0,
            retry_after_us: None,
            policy: Policy::None,
        }
    }

    /// True when the request may proceed (it has been counted).
    pub const fn is_allowed(&self) -> bool {
        self.refusal.is_none()
    }

    /// `RateLimit-Reset` in seconds (rounded up).
    pub fn reset_secs(&self) -> u64 {
        ceil_secs(self.reset_us)
    }

    /// `Retry-After` in seconds on refusal (rounded up, at least 1).
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after_us.map(|us| ceil_secs(us).max(1))
    }

    /// Adds `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` and,
    /// on refusal, `Retry-After` to `headers` (nothing for [`Policy::None`]).
    pub fn apply_headers(&self, headers: &mut HeaderMap) {
        if self.policy == Policy::None {
            return;
        }
        headers.insert(RATELIMIT_LIMIT, HeaderValue::from(self.limit));
        headers.insert(RATELIMIT_REMAINING, HeaderValue::from(self.remaining));
        headers.insert(RATELIMIT_RESET, HeaderValue::from(self.reset_secs()));
        if let Some(secs) = self.retry_after_secs() {
            headers.insert(axum::http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
    }

    /// The headers of [`Decision::apply_headers`] as a new map.
    pub fn header_map(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        self.apply_headers(&mut h);
        h
    }

    /// On refusal, the RFC 9457 problem document (status 429) with members
    /// `type`, `title`, `status`, `detail`; `None` when allowed. The
    /// gateway's problem module may add `request_id`.
    pub fn problem_json(&self) -> Option<serde_json::Value> {
        let kind = self.refusal?;
        Some(serde_json::json!({
            "type": kind.problem_type(),
            "title": kind.title(),
            "status": StatusCode::TOO_MANY_REQUESTS.as_u16(),
            "detail": kind.detail(),
        }))
    }

    /// On refusal, the complete 429 response: problem document,
    /// `Content-Type: application/problem+json` and the rate-limit headers.
    pub fn refusal_response(&self) -> Option<Response> {
        let body = self.problem_json()?.to_string();
        let mut response = (StatusCode::TOO_MANY_REQUESTS, body).into_response();
        response.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        self.apply_headers(response.headers_mut());
        Some(response)
    }
}

/// Quota state of one tenant for `GET /v1/usage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuotaStatus {
    /// Requests allowed in the current window (`null` = unlimited).
    pub limit: Option<u64>,
    /// Requests counted in the current window.
    pub used: u64,
    /// Start of the next window (UTC, RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub resets_at: time::OffsetDateTime,
}

impl QuotaStatus {
    /// Builds a status from µs timestamps (clamped into `time`'s range).
    pub fn new(limit: Option<u64>, used: u64, resets_at_us: i64) -> Self {
        QuotaStatus {
            limit,
            used,
            resets_at: from_micros(resets_at_us).unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
        }
    }
}

/// The per-tenant state of the in-memory rule: the GCRA TAT and the quota
/// counter of one window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TenantState {
    /// GCRA theoretical arrival time (µs).
    pub tat_us: Option<i64>,
    /// The window `used` counts for (`(kind, id)`).
    pub window: Option<(QuotaWindow, i64)>,
    /// Requests counted in `window`.
    pub used: u64,
}

impl TenantState {
    /// Requests counted in the window `(kind, id)` (0 for any other window).
    pub fn used_in(&self, window: QuotaWindow, id: i64) -> u64 {
        if self.window == Some((window, id)) {
            self.used
        } else {
            0
        }
    }

    /// Raises the counter of window `(kind, id)` to at least `used` (used to
    /// remember the global count Redis reported, for fallback).
    pub fn observe_used(&mut self, window: QuotaWindow, id: i64, used: u64) {
        if self.window == Some((window, id)) {
            self.used = self.used.max(used);
        } else if self.window.is_none_or(|(w, old)| w != window || old < id) {
            self.window = Some((window, id));
            self.used = used;
        }
    }
}

/// The combined rule, pure: quota check, burst check, and — only when both
/// pass — consumption of one unit of each. A refusal changes nothing.
///
/// Quota refusal wins over a burst refusal (waiting a second would not help).
pub fn decide(state: &mut TenantState, limits: &TierLimits, now_us: i64) -> Decision {
    let span = span_at(limits.window, now_us);
    let used = state.used_in(span.window, span.id);
    let to_reset = span.end_us - now_us;
    if let Some(quota) = limits.quota {
        if used >= quota {
            return Decision {
                refusal: Some(RefusalKind::QuotaExceeded),
                limit: quota,
                remaining: 0,
                reset_us: to_reset,
                retry_after_us: Some(to_reset),
                policy: Policy::Quota(span.window),
            };
        }
    }
    let burst = u64::from(limits.burst_per_second.get());
    match gcra::check(
        state.tat_us,
        now_us,
        limits.emission_us(),
        limits.tolerance_us(),
    ) {
        GcraOutcome::Deny { retry_after_us } => Decision {
            refusal: Some(RefusalKind::RateLimited),
            limit: burst,
            remaining: 0,
            reset_us: retry_after_us,
            retry_after_us: Some(retry_after_us),
            policy: Policy::Burst,
        },
        GcraOutcome::Allow {
            new_tat_us,
            remaining,
            reset_us,
        } => {
            state.tat_us = Some(new_tat_us);
            state.window = Some((span.window, span.id));
            state.used = used.saturating_add(1);
            match limits.quota {
                Some(quota) => Decision {
                    refusal: None,
                    limit: quota,
                    remaining: quota.saturating_sub(state.used),
                    reset_us: to_reset,
                    retry_after_us: None,
                    policy: Policy::Quota(span.window),
                },
                None => Decision {
                    refusal: None,
                    limit: burst,
                    remaining,
                    reset_us,
                    retry_after_us: None,
                    policy: Policy::Burst,
                },
            }
        }
    }
}

/// The quota status of `state` at `now_us` (pure).
pub fn quota_status(state: &TenantState, limits: &TierLimits, now_us: i64) -> QuotaStatus {
    let span = span_at(limits.window, now_us);
    QuotaStatus::new(
        limits.quota,
        state.used_in(span.window, span.id),
        span.end_us,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tier::Tier;
    use crate::window::to_micros;
    use time::macros::datetime;

    #[test]
    fn free_tier_day_quota_and_rollover() {
        let limits = Tier::Free.limits();
        let mut st = TenantState::default();
        let start = to_micros(datetime!(2026-12-31 20:00 UTC));
        // 100 requests spaced 1 s apart: all allowed.
        for i in 0..100u64 {
            let d = decide(&mut st, &limits, start + i as i64 * 1_000_000);
            assert!(d.is_allowed(), "request {i}");
            assert_eq!((d.limit, d.remaining), (100, 99 - i));
        }
        let at = start + 200_000_000;
        let d = decide(&mut st, &limits, at);
        assert_eq!(d.refusal, Some(RefusalKind::QuotaExceeded));
        let to_midnight = to_micros(datetime!(2027-01-01 00:00 UTC)) - at;
        assert_eq!(d.retry_after_us, Some(to_midnight));
        assert_eq!(d.reset_us, to_midnight);
        assert_eq!(st.used, 100, "refusal consumed nothing");
        // One µs before midnight: still refused; at midnight: a new day.
        let last = to_micros(datetime!(2026-12-31 23:59:59.999999 UTC));
        assert!(!decide(&mut st, &limits, last).is_allowed());
        let d = decide(&mut st, &limits, to_micros(datetime!(2027-01-01 00:00 UTC)));
        assert!(d.is_allowed());
        assert_eq!(d.remaining, 99);
    }

    #[test]
    fn burst_refusal_consumes_no_quota() {
        let limits = Tier::Free.limits();
        let mut st = TenantState::default();
        let now = to_micros(datetime!(2026-06-01 12:00 UTC));
        for _ in 0..10 {
            assert!(decide(&mut st, &limits, now).is_allowed());
        }
        let d = decide(&mut st, &limits, now);
        assert_eq!(d.refusal, Some(RefusalKind::RateLimited));
        assert_eq!((d.limit, d.remaining), (10, 0));
        assert_eq!(d.retry_after_us, Some(100_000));
        assert_eq!(d.retry_after_secs(), Some(1));
        assert_eq!(st.used, 10);
        assert!(decide(&mut st, &limits, now + 100_000).is_allowed());
        assert_eq!(st.used, 11);
    }

    #[test]
    fn quota_refusal_wins_and_unlimited_reports_burst() {
        let limits = Tier::Free.limits().with_overrides(Some(1), None);
        let mut st = TenantState::default();
        let now = 1_800_000_000_000_000;
        assert!(decide(&mut st, &limits, now).is_allowed());
        assert_eq!(
            decide(&mut st, &limits, now).refusal,
            Some(RefusalKind::QuotaExceeded)
        );

        let ent = Tier::Enterprise.limits();
        let mut st = TenantState::default();
        let d = decide(&mut st, &ent, now);
        assert_eq!((d.policy, d.limit, d.remaining), (Policy::Burst, 500, 499));
        assert_eq!(quota_status(&st, &ent, now).used, 1);
        assert_eq!(quota_status(&st, &ent, now).limit, None);
    }

    #[test]
    fn month_rollover_leap_day_and_month_lengths() {
        let limits = Tier::Starter.limits().with_overrides(Some(2), None);
        let mut st = TenantState::default();
        let feb29 = to_micros(datetime!(2028-02-29 23:59:59 UTC));
        assert!(decide(&mut st, &limits, feb29 - 10_000_000).is_allowed());
        assert!(decide(&mut st, &limits, feb29 - 5_000_000).is_allowed());
        let d = decide(&mut st, &limits, feb29);
        assert_eq!(d.refusal, Some(RefusalKind::QuotaExceeded));
        assert_eq!(d.retry_after_secs(), Some(1));
        let status = quota_status(&st, &limits, feb29);
        assert_eq!(status.resets_at, datetime!(2028-03-01 00:00 UTC));
        assert_eq!(status.used, 2);
        let mar1 = to_micros(datetime!(2028-03-01 00:00 UTC));
        assert!(decide(&mut st, &limits, mar1).is_allowed());
        assert_eq!(
            quota_status(&st, &limits, mar1).resets_at,
            datetime!(2028-04-01 00:00 UTC)
        );
        // April has 30 days.
        let apr30 = to_micros(datetime!(2028-04-30 23:00 UTC));
        assert_eq!(quota_status(&st, &limits, apr30).used, 0);
        assert_eq!(
            quota_status(&st, &limits, apr30).resets_at,
            datetime!(2028-05-01 00:00 UTC)
        );
    }

    #[test]
    fn headers_and_problem() {
        let limits = Tier::Free.limits().with_overrides(Some(0), None);
        let mut st = TenantState::default();
        let now = to_micros(datetime!(2026-11-25 23:59:30 UTC));
        let d = decide(&mut st, &limits, now);
        let h = d.header_map();
        assert_eq!(
            h.get("RateLimit-Limit").and_then(|v| v.to_str().ok()),
            Some("0")
        );
        assert_eq!(
            h.get("RateLimit-Remaining").and_then(|v| v.to_str().ok()),
            Some("0")
        );
        assert_eq!(
            h.get("RateLimit-Reset").and_then(|v| v.to_str().ok()),
            Some("30")
        );
        assert_eq!(
            h.get("Retry-After").and_then(|v| v.to_str().ok()),
            Some("30")
        );
        let p = d.problem_json().unwrap_or_default();
        assert_eq!(p["type"], PROBLEM_QUOTA_EXCEEDED);
        assert_eq!(p["status"], 429);
        let r = d
            .refusal_response()
            .map(|r| (r.status(), r.headers().clone()));
        let (status, headers) = r.unwrap_or_default();
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some(PROBLEM_CONTENT_TYPE)
        );
        assert_eq!(
            headers.get("retry-after").and_then(|v| v.to_str().ok()),
            Some("30")
        );

        assert!(Decision::unlimited().header_map().is_empty());
        assert!(Decision::unlimited().problem_json().is_none());
        let allowed = decide(&mut TenantState::default(), &Tier::Free.limits(), now);
        assert!(allowed.header_map().get("retry-after").is_none());
        assert!(allowed.refusal_response().is_none());
    }

    #[test]
    fn observe_used_only_raises() {
        let mut st = TenantState::default();
        st.observe_used(QuotaWindow::Day, 10, 5);
        assert_eq!(st.used_in(QuotaWindow::Day, 10), 5);
        st.observe_used(QuotaWindow::Day, 10, 3);
        assert_eq!(st.used_in(QuotaWindow::Day, 10), 5);
        st.observe_used(QuotaWindow::Day, 9, 50);
        assert_eq!(st.used_in(QuotaWindow::Day, 10), 5);
        st.observe_used(QuotaWindow::Day, 11, 1);
        assert_eq!(st.used_in(QuotaWindow::Day, 11), 1);
        st.observe_used(QuotaWindow::Month, 1, 7);
        assert_eq!(st.used_in(QuotaWindow::Month, 1), 7);
    }
}
