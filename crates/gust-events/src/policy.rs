//! When an event runs again, and when it has had its chances: the retry, backoff
//! and age rules of Lambda's asynchronous invocation, as pure functions of the
//! event's counters and the time.
//!
//! - A **function error** uses up an attempt. The function is retried up to
//!   `MaximumRetryAttempts` times (default 2), the first retry `retry_base` after the
//!   failure and each further one twice as long after the previous (AWS: about one
//!   minute, then two).
//! - A **throttle** (no capacity, 429) or a **system error** (the runtime could not
//!   start, 5xx) uses up no attempt: the event goes back to the queue with a
//!   backoff from [`THROTTLE_FIRST`] doubling up to [`THROTTLE_MAX`], as AWS does.
//! - An event older than `MaximumEventAgeInSeconds` (default 6 hours) is not run
//!   again: it expires. A retry that would fall after that age is scheduled at it, so
//!   the event expires on time instead of lingering.

use std::time::Duration;

/// `MaximumRetryAttempts` when none is configured.
pub const DEFAULT_MAX_RETRY: u32 = 2;
/// `MaximumEventAgeInSeconds` when none is configured.
pub const DEFAULT_MAX_AGE_S: u32 = 21_600;
/// The first wait after a throttle or system error.
pub const THROTTLE_FIRST: Duration = Duration::from_secs(1);
/// The longest wait after throttles or system errors.
pub const THROTTLE_MAX: Duration = Duration::from_secs(300);

/// How one attempt ended, as far as the retry rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptKind {
    /// The function ran and returned a result.
    Success,
    /// The function ran and failed (error, crash, timeout, out of memory).
    FunctionError,
    /// No capacity to run it: 429.
    Throttled,
    /// gust could not run it (the runtime would not start): 5xx.
    SystemError,
    /// The function or qualifier no longer exists, or refused the event for good.
    Rejected,
    /// gust is stopping; the attempt did not happen.
    ShuttingDown,
}

/// What happens to the event next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Done: the function processed it.
    Succeeded,
    /// Back to the queue until `due_ms`.
    Retry {
        /// Epoch ms of the next attempt.
        due_ms: i64,
    },
    /// Every allowed attempt failed.
    Exhausted,
    /// It can never run.
    Rejected,
}

/// The rules for one function (qualifier): its event-invoke config plus the server's
/// retry base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Retries after function errors.
    pub max_retry: u32,
    /// Oldest an event may be when it starts an attempt, in ms.
    pub max_age_ms: i64,
    /// Wait before the first retry after a function error.
    pub retry_base: Duration,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Policy {
    /// When an event accepted at `accepted_ms` expires.
    pub fn deadline(&self, accepted_ms: i64) -> i64 {
        accepted_ms.saturating_add(self.max_age_ms)
    }

    /// Whether an event accepted at `accepted_ms` is too old to start an attempt.
    pub fn expired(&self, accepted_ms: i64, now_ms: i64) -> bool {
        now_ms >= self.deadline(accepted_ms)
    }

    /// The wait after the `attempt`-th (1-based) function error.
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(16);
        self.retry_base.saturating_mul(1 << doublings)
    }

    /// The wait after the `throttles`-th (1-based) throttle or system error.
    pub fn throttle_delay(throttles: u32) -> Duration {
        let doublings = throttles.saturating_sub(1).min(16);
        THROTTLE_FIRST
            .saturating_mul(1 << doublings)
            .min(THROTTLE_MAX)
    }

    /// The verdict after an attempt that ended as `kind` at `now_ms`. `attempts` and
    /// `throttles` are the event's counters including this attempt.
    pub fn after(
        &self,
        kind: AttemptKind,
        accepted_ms: i64,
        attempts: u32,
        throttles: u32,
        now_ms: i64,
    ) -> Verdict {
        let retry_in = |wait: Duration| Verdict::Retry {
            due_ms: now_ms
                .saturating_add(ms(wait))
                .min(self.deadline(accepted_ms)),
        };
        match kind {
            AttemptKind::Success => Verdict::Succeeded,
            AttemptKind::Rejected => Verdict::Rejected,
            AttemptKind::ShuttingDown => Verdict::Retry { due_ms: now_ms },
            AttemptKind::FunctionError if attempts > self.max_retry => Verdict::Exhausted,
            AttemptKind::FunctionError => retry_in(self.retry_delay(attempts)),
            AttemptKind::Throttled | AttemptKind::SystemError => {
                retry_in(Self::throttle_delay(throttles))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn aws_default() -> Policy {
        Policy {
            max_retry: DEFAULT_MAX_RETRY,
            max_age_ms: i64::from(DEFAULT_MAX_AGE_S) * 1000,
            retry_base: Duration::from_secs(60),
        }
    }

    #[test]
    fn function_errors_retry_after_one_then_two_minutes_then_stop() {
        let p = aws_default();
        let t0 = 1_000_000;
        let first = p.after(AttemptKind::FunctionError, t0, 1, 0, t0);
        assert_eq!(first, Verdict::Retry { due_ms: t0 + MIN });
        let second = p.after(AttemptKind::FunctionError, t0, 2, 0, t0 + MIN);
        assert_eq!(
            second,
            Verdict::Retry {
                due_ms: t0 + 3 * MIN
            }
        );
        let third = p.after(AttemptKind::FunctionError, t0, 3, 0, t0 + 3 * MIN);
        assert_eq!(third, Verdict::Exhausted);
    }

    #[test]
    fn maximum_retry_attempts_bounds_the_attempts() {
        for max_retry in 0..=2 {
            let p = Policy {
                max_retry,
                ..aws_default()
            };
            let attempts = (1..10)
                .find(|&n| p.after(AttemptKind::FunctionError, 0, n, 0, 0) == Verdict::Exhausted)
                .unwrap();
            assert_eq!(attempts, max_retry + 1, "max_retry {max_retry}");
        }
    }

    #[test]
    fn throttles_back_off_from_one_second_to_five_minutes_without_using_attempts() {
        let p = Policy {
            max_retry: 0,
            ..aws_default()
        };
        let delays: Vec<i64> = (1..=12)
            .map(|t| match p.after(AttemptKind::Throttled, 0, 0, t, 0) {
                Verdict::Retry { due_ms } => due_ms,
                other => panic!("throttle {t}: {other:?}"),
            })
            .collect();
        assert_eq!(
            delays,
            [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300].map(|s| s * 1000)
        );
        // System errors follow the same rule.
        assert_eq!(
            p.after(AttemptKind::SystemError, 0, 0, 3, 0),
            Verdict::Retry { due_ms: 4000 }
        );
    }

    #[test]
    fn retries_never_wait_past_the_maximum_age() {
        let p = Policy {
            max_age_ms: 90_000,
            ..aws_default()
        };
        // Second retry would be due at 60 s + 120 s; the event expires at 90 s.
        let v = p.after(AttemptKind::FunctionError, 0, 2, 0, 60_000);
        assert_eq!(v, Verdict::Retry { due_ms: 90_000 });
        assert!(!p.expired(0, 89_999));
        assert!(p.expired(0, 90_000));
        let v = p.after(AttemptKind::Throttled, 0, 0, 9, 89_000);
        assert_eq!(v, Verdict::Retry { due_ms: 90_000 });
    }

    #[test]
    fn success_rejection_and_shutdown() {
        let p = aws_default();
        assert_eq!(
            p.after(AttemptKind::Success, 0, 3, 0, 5),
            Verdict::Succeeded
        );
        assert_eq!(
            p.after(AttemptKind::Rejected, 0, 1, 0, 5),
            Verdict::Rejected
        );
        assert_eq!(
            p.after(AttemptKind::ShuttingDown, 0, 1, 0, 5),
            Verdict::Retry { due_ms: 5 }
        );
    }

    #[test]
    fn the_retry_base_scales_the_backoff() {
        let p = Policy {
            retry_base: Duration::from_millis(200),
            ..aws_default()
        };
        assert_eq!(p.retry_delay(1), Duration::from_millis(200));
        assert_eq!(p.retry_delay(2), Duration::from_millis(400));
    }
}
