//! Wall-clock time that follows tokio's clock.
//!
//! Event times are stored as Unix epoch milliseconds, because they must mean the
//! same after a restart (an event's age counts from its acceptance, not from the
//! process start). Inside one process they advance with tokio's clock, so tests
//! that pause and advance tokio's time see retries and expiry happen on cue.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Epoch milliseconds, derived from tokio's monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Epoch ms at `base`.
    base_ms: i64,
    /// tokio's instant when the clock was made.
    base: Instant,
}

impl Clock {
    /// A clock reading the system's wall-clock time now.
    pub fn new() -> Clock {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Clock {
            base_ms: i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX),
            base: Instant::now(),
        }
    }

    /// Now, in epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        let elapsed = i64::try_from(self.base.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.base_ms.saturating_add(elapsed)
    }

    /// The tokio instant at epoch time `ms` (now, if `ms` is in the past).
    pub fn instant_at(&self, ms: i64) -> Instant {
        let ahead = ms.saturating_sub(self.now_ms()).max(0);
        Instant::now() + Duration::from_millis(u64::try_from(ahead).unwrap_or(0))
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

/// `2019-11-24T23:08:25.651Z`: ISO 8601 UTC with milliseconds, as invocation records
/// and gust's listings show times.
pub fn iso8601(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(nanos) else {
        return String::new();
    };
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&fmt).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_aws_records() {
        assert_eq!(iso8601(1_574_636_905_651), "2019-11-24T23:08:25.651Z");
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
    }

    #[tokio::test(start_paused = true)]
    async fn follows_tokio_time() {
        let clock = Clock::new();
        let start = clock.now_ms();
        tokio::time::sleep(Duration::from_secs(90)).await;
        assert_eq!(clock.now_ms() - start, 90_000);
        let at = clock.instant_at(clock.now_ms() + 1_500);
        assert_eq!(at - Instant::now(), Duration::from_millis(1_500));
    }
}
