//! `GET /v1/usage?from=YYYY-MM-DD&to=YYYY-MM-DD`: query validation and the
//! response body (the gateway mounts the route).

use crate::decision::QuotaStatus;
use crate::tier::Tier;
use std::collections::BTreeMap;
use time::macros::format_description;
use time::Date;

/// Longest range one request may ask for, in days (inclusive).
pub const MAX_USAGE_RANGE_DAYS: i64 = 366;
/// Range when `from` is omitted: `to` and the 29 days before it.
pub const DEFAULT_USAGE_RANGE_DAYS: i64 = 30;

/// The query string of `GET /v1/usage`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// First UTC day (`YYYY-MM-DD`); default: 29 days before `to`.
    pub from: Option<String>,
    /// Last UTC day (`YYYY-MM-DD`, inclusive); default: today.
    pub to: Option<String>,
}

/// Why a usage query was refused (answer 400, problem `invalid-parameter`;
/// the messages quote nothing from the request).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UsageRangeError {
    /// `from` or `to` is not a valid `YYYY-MM-DD` date.
    #[error("`{0}` must be a valid date in the form YYYY-MM-DD")]
    InvalidDate(&'static str),
    /// `from` is after `to`.
    #[error("`from` must not be after `to`")]
    FromAfterTo,
    /// The range is longer than [`MAX_USAGE_RANGE_DAYS`].
    #[error("the range may cover at most 366 days")]
    TooLong,
}

/// A validated inclusive range of UTC days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsageRange {
    /// First day.
    pub from: Date,
    /// Last day (inclusive).
    pub to: Date,
}

fn parse_date(s: &str, field: &'static str) -> Result<Date, UsageRangeError> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !shape_ok {
        return Err(UsageRangeError::InvalidDate(field));
    }
    Date::parse(s, format_description!("[year]-[month]-[day]"))
        .map_err(|_| UsageRangeError::InvalidDate(field))
}

/// Formats a day as `YYYY-MM-DD`.
pub fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

impl UsageRange {
    /// Validates a query: both dates valid, `from ≤ to`, at most
    /// [`MAX_USAGE_RANGE_DAYS`] days. `today` (UTC) is the default `to`.
    pub fn parse(query: &UsageQuery, today: Date) -> Result<Self, UsageRangeError> {
        let to = match &query.to {
            Some(s) => parse_date(s, "to")?,
            None => today,
        };
        let from = match &query.from {
            Some(s) => parse_date(s, "from")?,
            None => to
                .checked_sub(time::Duration::days(DEFAULT_USAGE_RANGE_DAYS - 1))
                .unwrap_or(Date::MIN),
        };
        if from > to {
            return Err(UsageRangeError::FromAfterTo);
        }
        if (to - from).whole_days() + 1 > MAX_USAGE_RANGE_DAYS {
            return Err(UsageRangeError::TooLong);
        }
        Ok(UsageRange { from, to })
    }

    /// Every day of the range, in order.
    pub fn days(&self) -> impl Iterator<Item = Date> {
        let to = self.to;
        std::iter::successors(Some(self.from), move |d| d.next_day().filter(|n| *n <= to))
    }

    /// True when `d` is in the range.
    pub fn contains(&self, d: Date) -> bool {
        self.from <= d && d <= self.to
    }
}

/// One day of usage.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageDay {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// Count per operation name (operations with no calls are omitted).
    pub operations: BTreeMap<String, u64>,
}

/// Body of `GET /v1/usage`: the caller's tenant only.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageResponse {
    /// The tenant's tier.
    pub tier: Tier,
    /// The quota of the current window (from the limiter).
    pub quota: QuotaStatus,
    /// Every day of the range, oldest first (days without calls have an
    /// empty `operations` object).
    pub days: Vec<UsageDay>,
}

/// Builds the body from the stored rows `(day, operation, count)` (and,
/// typically, [`crate::UsageMeter::pending_for`]'s not yet flushed counts:
/// rows for the same day and operation are added). Rows outside the range
/// are ignored.
pub fn build_usage_response<I, S>(
    tier: Tier,
    quota: QuotaStatus,
    range: UsageRange,
    rows: I,
) -> UsageResponse
where
    I: IntoIterator<Item = (Date, S, u64)>,
    S: Into<String>,
{
    let mut by_day: BTreeMap<Date, BTreeMap<String, u64>> = BTreeMap::new();
    for (day, op, count) in rows {
        if !range.contains(day) || count == 0 {
            continue;
        }
        let c = by_day.entry(day).or_default().entry(op.into()).or_insert(0);
        *c = c.saturating_add(count);
    }
    let days = range
        .days()
        .map(|d| UsageDay {
            date: format_date(d),
            operations: by_day.remove(&d).unwrap_or_default(),
        })
        .collect();
    UsageResponse { tier, quota, days }
}

#[cfg(all(test, feature = "openapi"))]
mod openapi_tests {
    use utoipa::PartialSchema;

    #[test]
    fn schemas_exist() {
        let text = |v: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>| {
            serde_json::to_value(v).unwrap_or_default().to_string()
        };
        let response = text(super::UsageResponse::schema());
        for field in ["tier", "quota", "days"] {
            assert!(response.contains(field), "{field} missing from {response}");
        }
        let quota = text(crate::decision::QuotaStatus::schema());
        for field in ["limit", "used", "resets_at", "date-time"] {
            assert!(quota.contains(field), "{field} missing from {quota}");
        }
        assert!(text(super::UsageDay::schema()).contains("operations"));
        assert!(text(crate::tier::Tier::schema()).contains("enterprise"));
        let params = <super::UsageQuery as utoipa::IntoParams>::into_params(|| None);
        assert_eq!(params.len(), 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn q(from: Option<&str>, to: Option<&str>) -> UsageQuery {
        UsageQuery {
            from: from.map(str::to_owned),
            to: to.map(str::to_owned),
        }
    }

    #[test]
    fn ranges_are_validated() {
        let today = date!(2026 - 11 - 25);
        let r = UsageRange::parse(&q(Some("2026-11-01"), Some("2026-11-25")), today);
        assert_eq!(
            r,
            Ok(UsageRange {
                from: date!(2026 - 11 - 01),
                to: today
            })
        );
        let r = UsageRange::parse(&q(None, None), today);
        assert_eq!(
            r,
            Ok(UsageRange {
                from: date!(2026 - 10 - 27),
                to: today
            })
        );
        assert_eq!(
            UsageRange::parse(&q(Some("2024-02-30"), None), today),
            Err(UsageRangeError::InvalidDate("from"))
        );
        assert!(UsageRange::parse(&q(Some("2024-02-29"), Some("2024-03-01")), today).is_ok());
        assert_eq!(
            UsageRange::parse(&q(Some("2023-02-29"), Some("2023-03-01")), today),
            Err(UsageRangeError::InvalidDate("from"))
        );
        for bad in [
            "2026-1-01",
            "20261101",
            "+2026-11-01",
            "2026-11-01T00:00",
            "",
            "2026-13-01",
            "２０２６-11-01",
        ] {
            assert_eq!(
                UsageRange::parse(&q(None, Some(bad)), today),
                Err(UsageRangeError::InvalidDate("to")),
                "{bad}"
            );
        }
        assert_eq!(
            UsageRange::parse(&q(Some("2026-11-26"), Some("2026-11-25")), today),
            Err(UsageRangeError::FromAfterTo)
        );
        // 366 days inclusive is fine, 367 is not.
        assert!(UsageRange::parse(&q(Some("2024-01-01"), Some("2024-12-31")), today).is_ok());
        assert_eq!(
            UsageRange::parse(&q(Some("2023-12-31"), Some("2024-12-31")), today),
            Err(UsageRangeError::TooLong)
        );
    }

    #[test]
    fn response_shape() {
        let range = UsageRange {
            from: date!(2026 - 12 - 30),
            to: date!(2027 - 01 - 01),
        };
        let quota = QuotaStatus::new(
            Some(100),
            7,
            crate::window::to_micros(datetime!(2027-01-02 0:00 UTC)),
        );
        let rows = vec![
            (date!(2026 - 12 - 31), "encrypt", 3u64),
            (date!(2026 - 12 - 31), "encrypt", 2),
            (date!(2027 - 01 - 01), "decrypt", 1),
            (date!(2027 - 01 - 05), "decrypt", 9),
        ];
        let body = build_usage_response(Tier::Free, quota, range, rows);
        let json = serde_json::to_value(&body).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({
                "tier": "free",
                "quota": {"limit": 100, "used": 7, "resets_at": "2027-01-02T00:00:00Z"},
                "days": [
                    {"date": "2026-12-30", "operations": {}},
                    {"date": "2026-12-31", "operations": {"encrypt": 5}},
                    {"date": "2027-01-01", "operations": {"decrypt": 1}},
                ]
            })
        );
        let unlimited = QuotaStatus::new(None, 0, 0);
        let json = serde_json::to_value(build_usage_response(
            Tier::Enterprise,
            unlimited,
            range,
            Vec::<(Date, String, u64)>::new(),
        ))
        .unwrap_or_default();
        assert_eq!(json["quota"]["limit"], serde_json::Value::Null);
        assert_eq!(json["days"].as_array().map(Vec::len), Some(3));
    }
}
