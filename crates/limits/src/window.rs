//! UTC calendar quota windows, as pure integer arithmetic on microseconds
//! since the Unix epoch.
//!
//! The same arithmetic is implemented in Lua inside the Redis script (see
//! [`crate::redis_backend`]); tests check that the two agree.

/// Microseconds in one day.
pub const MICROS_PER_DAY: i64 = 86_400_000_000;
/// Microseconds in one second.
pub const MICROS_PER_SEC: i64 = 1_000_000;

/// The period a quota counts over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuotaWindow {
    /// A UTC calendar day, 00:00:00 to 24:00:00 UTC.
    Day,
    /// A UTC calendar month, from the 1st 00:00:00 UTC to the next 1st.
    Month,
}

impl QuotaWindow {
    /// Short code used in Redis keys (`d` or `m`).
    pub const fn code(self) -> &'static str {
        match self {
            QuotaWindow::Day => "d",
            QuotaWindow::Month => "m",
        }
    }
}

/// One concrete window: which one it is and where it starts and ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WindowSpan {
    /// Kind of window.
    pub window: QuotaWindow,
    /// Identifier, unique per kind: days since the epoch for [`QuotaWindow::Day`],
    /// `year * 12 + month - 1` for [`QuotaWindow::Month`].
    pub id: i64,
    /// Inclusive start, µs since the epoch.
    pub start_us: i64,
    /// Exclusive end (start of the next window), µs since the epoch.
    pub end_us: i64,
}

/// Days since 1970-01-01 of the proleptic Gregorian date `y-m-d`
/// (H. Hinnant's `days_from_civil`). `m` is 1..=12, `d` 1..=31.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date `(year, month, day)` of a day number
/// (days since 1970-01-01; H. Hinnant's `civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The window of kind `window` that contains the instant `now_us`.
pub fn span_at(window: QuotaWindow, now_us: i64) -> WindowSpan {
    let day = now_us.div_euclid(MICROS_PER_DAY);
    match window {
        QuotaWindow::Day => WindowSpan {
            window,
            id: day,
            start_us: day * MICROS_PER_DAY,
            end_us: (day + 1) * MICROS_PER_DAY,
        },
        QuotaWindow::Month => {
            let (y, m, _) = civil_from_days(day);
            let start = days_from_civil(y, m, 1);
            let next = if m == 12 {
                days_from_civil(y + 1, 1, 1)
            } else {
                days_from_civil(y, m + 1, 1)
            };
            WindowSpan {
                window,
                id: y * 12 + m - 1,
                start_us: start * MICROS_PER_DAY,
                end_us: next * MICROS_PER_DAY,
            }
        }
    }
}

/// Converts an [`time::OffsetDateTime`] to µs since the epoch (saturating).
pub fn to_micros(t: time::OffsetDateTime) -> i64 {
    let us = t.unix_timestamp_nanos() / 1000;
    i64::try_from(us).unwrap_or(if us < 0 { i64::MIN } else { i64::MAX })
}

/// Converts µs since the epoch to an [`time::OffsetDateTime`] (`None` when
/// out of `time`'s range).
pub fn from_micros(us: i64) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000).ok()
}

/// Whole seconds from a µs duration, rounded up (never negative).
pub fn ceil_secs(us: i64) -> u64 {
    if us <= 0 {
        0
    } else {
        u64::try_from((us + MICROS_PER_SEC - 1) / MICROS_PER_SEC).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn us(t: time::OffsetDateTime) -> i64 {
        to_micros(t)
    }

    #[test]
    fn civil_round_trip_matches_time_crate() {
        // Every day from 1900 to 2200.
        let first = days_from_civil(1900, 1, 1);
        let last = days_from_civil(2200, 12, 31);
        for z in first..=last {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
            let date = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(z);
            assert_eq!(
                (y, m, d),
                (
                    i64::from(date.year()),
                    i64::from(u8::from(date.month())),
                    i64::from(date.day())
                )
            );
        }
    }

    #[test]
    fn day_window_rolls_over_at_utc_midnight() {
        let before = span_at(
            QuotaWindow::Day,
            us(datetime!(2026-12-31 23:59:59.999999 UTC)),
        );
        let after = span_at(QuotaWindow::Day, us(datetime!(2027-01-01 00:00:00 UTC)));
        assert_eq!(before.end_us, after.start_us);
        assert_eq!(after.id, before.id + 1);
        assert_eq!(after.start_us, us(datetime!(2027-01-01 00:00:00 UTC)));
    }

    #[test]
    fn month_windows_have_calendar_lengths() {
        let cases = [
            (
                datetime!(2024-02-10 12:00 UTC),
                datetime!(2024-02-01 0:00 UTC),
                datetime!(2024-03-01 0:00 UTC),
            ),
            (
                datetime!(2025-02-28 23:59:59 UTC),
                datetime!(2025-02-01 0:00 UTC),
                datetime!(2025-03-01 0:00 UTC),
            ),
            (
                datetime!(2024-02-29 00:00 UTC),
                datetime!(2024-02-01 0:00 UTC),
                datetime!(2024-03-01 0:00 UTC),
            ),
            (
                datetime!(2026-04-30 23:59:59.999999 UTC),
                datetime!(2026-04-01 0:00 UTC),
                datetime!(2026-05-01 0:00 UTC),
            ),
            (
                datetime!(2026-12-31 23:59:59.999999 UTC),
                datetime!(2026-12-01 0:00 UTC),
                datetime!(2027-01-01 0:00 UTC),
            ),
            (
                datetime!(2027-01-01 00:00 UTC),
                datetime!(2027-01-01 0:00 UTC),
                datetime!(2027-02-01 0:00 UTC),
            ),
            (
                datetime!(2100-02-15 00:00 UTC),
                datetime!(2100-02-01 0:00 UTC),
                datetime!(2100-03-01 0:00 UTC),
            ),
        ];
        for (at, start, end) in cases {
            let s = span_at(QuotaWindow::Month, us(at));
            assert_eq!((s.start_us, s.end_us), (us(start), us(end)), "{at}");
        }
        let dec = span_at(QuotaWindow::Month, us(datetime!(2026-12-31 12:00 UTC)));
        let jan = span_at(QuotaWindow::Month, us(datetime!(2027-01-01 00:00 UTC)));
        assert_eq!(jan.id, dec.id + 1);
    }

    #[test]
    fn ceil_secs_rounds_up() {
        assert_eq!(ceil_secs(-5), 0);
        assert_eq!(ceil_secs(0), 0);
        assert_eq!(ceil_secs(1), 1);
        assert_eq!(ceil_secs(1_000_000), 1);
        assert_eq!(ceil_secs(1_000_001), 2);
    }

    proptest::proptest! {
        #[test]
        fn spans_contain_the_instant(now in 0i64..8_000_000_000_000_000, monthly in proptest::bool::ANY) {
            let w = if monthly { QuotaWindow::Month } else { QuotaWindow::Day };
            let s = span_at(w, now);
            proptest::prop_assert!(s.start_us <= now && now < s.end_us);
            let next = span_at(w, s.end_us);
            proptest::prop_assert_eq!(next.id, s.id + 1);
            proptest::prop_assert_eq!(next.start_us, s.end_us);
        }
    }
}
