//! Time sources: the system clock, or a manual clock for tests.

use crate::window::{from_micros, to_micros};
use std::sync::atomic::{AtomicI64, Ordering};
use time::OffsetDateTime;

/// Where the limiter reads "now" from (the Redis back-end uses Redis's
/// clock for its own decisions; this clock still dates usage and fallback
/// decisions).
pub trait Clock: Send + Sync + 'static {
    /// The current UTC time.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to (tests).
#[derive(Debug)]
pub struct ManualClock {
    us: AtomicI64,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: OffsetDateTime) -> Self {
        ManualClock {
            us: AtomicI64::new(to_micros(start)),
        }
    }

    /// Sets the time.
    pub fn set(&self, t: OffsetDateTime) {
        self.us.store(to_micros(t), Ordering::SeqCst);
    }

    /// Moves the time forward (or backward) by `d`.
    pub fn advance(&self, d: time::Duration) {
        let us = i64::try_from(d.whole_microseconds()).unwrap_or(0);
        self.us.fetch_add(us, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        from_micros(self.us.load(Ordering::SeqCst)).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}
