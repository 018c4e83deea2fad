//! The generic cell rate algorithm (GCRA), pure: the state is one
//! timestamp (the theoretical arrival time, TAT) and time is a parameter.
//!
//! With emission interval `T` and tolerance `τ = burst · T`, a request at
//! `now` is allowed when `max(TAT, now) + T − now ≤ τ`; the new TAT is then
//! `max(TAT, now) + T`. So `burst` requests may arrive at once, after which
//! one more is allowed every `T`. A refused request leaves the TAT as it was.
//! The Redis script implements the same rule in Lua.

/// Result of one GCRA check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GcraOutcome {
    /// Conforming: store `new_tat`.
    Allow {
        /// The TAT to store.
        new_tat_us: i64,
        /// How many more requests would conform right now.
        remaining: u64,
        /// µs until the bucket is full again (the TAT reaches `now`).
        reset_us: i64,
    },
    /// Not conforming: nothing changes.
    Deny {
        /// µs until one request would conform.
        retry_after_us: i64,
    },
}

/// Checks one request at `now_us` against the stored TAT (`None` = no state,
/// bucket full).
pub fn check(tat_us: Option<i64>, now_us: i64, emission_us: i64, tolerance_us: i64) -> GcraOutcome {
    let tat = tat_us.map_or(now_us, |t| t.max(now_us));
    let new_tat = tat.saturating_add(emission_us);
    let diff = new_tat - now_us;
    if diff > tolerance_us {
        GcraOutcome::Deny {
            retry_after_us: diff - tolerance_us,
        }
    } else {
        let remaining = u64::try_from((tolerance_us - diff) / emission_us.max(1)).unwrap_or(0);
        GcraOutcome::Allow {
            new_tat_us: new_tat,
            remaining,
            reset_us: diff,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 100_000; // 10/s
    const TAU: i64 = 1_000_000;

    #[test]
    fn burst_then_steady_rate() {
        let now = 1_000_000_000;
        let mut tat = None;
        for i in 0..10 {
            match check(tat, now, T, TAU) {
                GcraOutcome::Allow {
                    new_tat_us,
                    remaining,
                    ..
                } => {
                    assert_eq!(remaining, 9 - i);
                    tat = Some(new_tat_us);
                }
                GcraOutcome::Deny { .. } => panic!("request {i} refused"),
            }
        }
        assert_eq!(
            check(tat, now, T, TAU),
            GcraOutcome::Deny { retry_after_us: T }
        );
        // 99.999 ms later: still refused, 1 µs to wait.
        assert_eq!(
            check(tat, now + T - 1, T, TAU),
            GcraOutcome::Deny { retry_after_us: 1 }
        );
        // After one emission interval exactly one more conforms.
        let GcraOutcome::Allow {
            new_tat_us,
            remaining,
            ..
        } = check(tat, now + T, T, TAU)
        else {
            panic!("refused after recovery");
        };
        assert_eq!(remaining, 0);
        assert!(matches!(
            check(Some(new_tat_us), now + T, T, TAU),
            GcraOutcome::Deny { .. }
        ));
        // After a full second the whole burst is available again.
        assert!(matches!(
            check(Some(new_tat_us), now + T + TAU, T, TAU),
            GcraOutcome::Allow { remaining: 9, .. }
        ));
    }

    #[test]
    fn stale_tat_is_ignored() {
        assert_eq!(
            check(Some(5), 1_000_000, T, TAU),
            GcraOutcome::Allow {
                new_tat_us: 1_100_000,
                remaining: 9,
                reset_us: T
            }
        );
    }
}
