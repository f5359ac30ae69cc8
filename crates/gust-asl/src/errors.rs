//! Error names, and how a state's `Retry` and `Catch` pick one up.
//!
//! Step Functions names errors with case-sensitive strings; the ones it reports
//! itself start with `States.`. A retrier or catcher lists names in
//! `ErrorEquals`, and three of them are wildcards:
//!
//! - `States.ALL` matches every error except `States.Runtime` and
//!   `States.DataLimitExceeded`, which AWS documents as errors `States.ALL`
//!   cannot catch.
//! - `States.TaskFailed` matches every error except the timeouts
//!   (`States.Timeout`, and here `States.HeartbeatTimeout` too) and the two
//!   above.
//! - `States.Timeout` also matches `States.HeartbeatTimeout`: before AWS gave
//!   heartbeats their own name, `States.Timeout` covered both, and catchers
//!   written then still catch both.
//!
//! `States.Runtime` is matched by nothing, not even by its own name: AWS says
//! runtime errors "aren't retriable and will always cause the execution to fail".
//! The exceptions for `States.TaskFailed` beyond `States.Timeout`, and the
//! reading of `States.Runtime` as uncatchable by name, are this module's
//! interpretation of AWS's prose rather than observed behaviour.
//!
//! # Layout
//! - The error-name constants.
//! - [`matches`]: does an `ErrorEquals` list match an error.
//! - [`retrier_for`]: which retrier handles an error (AWS keeps a separate
//!   attempt count per retrier, so the index is returned too).
//! - [`retry_delay`]: how long to wait before a retry.

use std::time::Duration;

use crate::definition::Retrier;

/// Wildcard: every error but [`RUNTIME`] and [`DATA_LIMIT_EXCEEDED`].
pub const ALL: &str = "States.ALL";
/// A Task (or the whole execution) ran longer than its `TimeoutSeconds`.
pub const TIMEOUT: &str = "States.Timeout";
/// A Task went longer than `HeartbeatSeconds` without a heartbeat.
pub const HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";
/// A Task failed; as a matcher, every error but the timeouts.
pub const TASK_FAILED: &str = "States.TaskFailed";
/// A Task lacked the privileges to run its resource.
pub const PERMISSIONS: &str = "States.Permissions";
/// `ResultPath` could not be applied to the state's input.
pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
/// A `.$` field of a payload template selected nothing.
pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
/// A JSONata expression failed.
pub const QUERY_EVALUATION_ERROR: &str = "States.QueryEvaluationError";
/// A branch of a Parallel state failed.
pub const BRANCH_FAILED: &str = "States.BranchFailed";
/// No Choice rule matched and there is no `Default`.
pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
/// An intrinsic function failed.
pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
/// A Map state's failed items went past its tolerated threshold.
pub const EXCEED_TOLERATED_FAILURE_THRESHOLD: &str = "States.ExceedToleratedFailureThreshold";
/// A Map state could not read its `ItemReader`.
pub const ITEM_READER_FAILED: &str = "States.ItemReaderFailed";
/// A Map state could not write its `ResultWriter`.
pub const RESULT_WRITER_FAILED: &str = "States.ResultWriterFailed";
/// An execution failed for a reason it could not process (a path selecting
/// nothing in `InputPath`, ...): never retried, never caught.
pub const RUNTIME: &str = "States.Runtime";
/// A payload went past the size quota: terminal, not caught by `States.ALL`.
pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";

/// The longest a computed retry delay may be, whatever the backoff: the
/// largest `MaxDelaySeconds` AWS accepts (366 days).
const LONGEST_DELAY_SECONDS: f64 = 31_622_400.0;

/// Whether `error` is matched by one of the names in `error_equals`.
pub fn matches(error_equals: &[String], error: &str) -> bool {
    error_equals.iter().any(|name| matches_one(name, error))
}

fn matches_one(name: &str, error: &str) -> bool {
    if error == RUNTIME {
        return false;
    }
    if name == error {
        return true;
    }
    match name {
        ALL => error != DATA_LIMIT_EXCEEDED,
        TASK_FAILED => !matches!(error, TIMEOUT | HEARTBEAT_TIMEOUT | DATA_LIMIT_EXCEEDED),
        TIMEOUT => error == HEARTBEAT_TIMEOUT,
        _ => false,
    }
}

/// The first retrier whose `ErrorEquals` matches `error`, with its index.
///
/// Only the first match counts: when its `MaxAttempts` are used up, the error
/// goes on to `Catch`, not to a later retrier (the engine checks the attempts).
pub fn retrier_for<'a>(retry: &'a [Retrier], error: &str) -> Option<(usize, &'a Retrier)> {
    retry
        .iter()
        .enumerate()
        .find(|(_, r)| matches(&r.error_equals, error))
}

/// How long to wait before the next retry, after `retries_done` retries by
/// this retrier: `IntervalSeconds × BackoffRate^retries_done`, capped by
/// `MaxDelaySeconds`; with `JitterStrategy: FULL`, a uniform pick in
/// `[0, delay]` made with `random01` (a number in `[0, 1)` the caller draws).
pub fn retry_delay(r: &Retrier, retries_done: u32, random01: f64) -> Duration {
    let exponent = i32::try_from(retries_done).unwrap_or(i32::MAX);
    let mut delay = r.interval_seconds as f64 * r.backoff_rate.powi(exponent);
    if !delay.is_finite() || delay > LONGEST_DELAY_SECONDS {
        delay = LONGEST_DELAY_SECONDS;
    }
    if let Some(max) = r.max_delay_seconds {
        delay = delay.min(max as f64);
    }
    if r.full_jitter {
        delay *= random01.clamp(0.0, 1.0);
    }
    Duration::from_secs_f64(delay.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn retrier(interval: u64, rate: f64, max_delay: Option<u64>, jitter: bool) -> Retrier {
        Retrier {
            error_equals: names(&[ALL]),
            interval_seconds: interval,
            max_attempts: 3,
            backoff_rate: rate,
            max_delay_seconds: max_delay,
            full_jitter: jitter,
        }
    }

    #[test]
    fn all_matches_everything_but_runtime_and_data_limit() {
        let all = names(&[ALL]);
        for e in [
            TIMEOUT,
            TASK_FAILED,
            "Lambda.ServiceException",
            "MyError",
            BRANCH_FAILED,
        ] {
            assert!(matches(&all, e), "{e}");
        }
        assert!(!matches(&all, RUNTIME));
        assert!(!matches(&all, DATA_LIMIT_EXCEEDED));
    }

    #[test]
    fn task_failed_matches_all_but_timeouts() {
        let tf = names(&[TASK_FAILED]);
        assert!(matches(&tf, "Lambda.Unknown"));
        assert!(matches(&tf, PERMISSIONS));
        assert!(matches(&tf, TASK_FAILED));
        assert!(!matches(&tf, TIMEOUT));
        assert!(!matches(&tf, HEARTBEAT_TIMEOUT));
        assert!(!matches(&tf, RUNTIME));
    }

    #[test]
    fn timeout_also_catches_heartbeat_timeout() {
        assert!(matches(&names(&[TIMEOUT]), HEARTBEAT_TIMEOUT));
        assert!(!matches(&names(&[HEARTBEAT_TIMEOUT]), TIMEOUT));
    }

    #[test]
    fn exact_names_otherwise_case_sensitive() {
        let list = names(&["MyError", DATA_LIMIT_EXCEEDED]);
        assert!(matches(&list, "MyError"));
        assert!(!matches(&list, "myerror"));
        assert!(!matches(&list, "Other"));
        assert!(matches(&list, DATA_LIMIT_EXCEEDED));
        assert!(!matches(&names(&[RUNTIME]), RUNTIME));
        assert!(!matches(&[], "MyError"));
    }

    #[test]
    fn first_matching_retrier_wins() {
        let mut a = retrier(1, 2.0, None, false);
        a.error_equals = names(&["A"]);
        let b = retrier(5, 1.0, None, false);
        let retry = vec![a, b];
        assert_eq!(retrier_for(&retry, "A").map(|(i, _)| i), Some(0));
        assert_eq!(
            retrier_for(&retry, "B").map(|(i, r)| (i, r.interval_seconds)),
            Some((1, 5))
        );
        assert!(retrier_for(&retry, RUNTIME).is_none());
    }

    #[test]
    fn delay_backs_off_exponentially() {
        let r = retrier(3, 2.0, None, false);
        assert_eq!(retry_delay(&r, 0, 0.5), Duration::from_secs(3));
        assert_eq!(retry_delay(&r, 1, 0.5), Duration::from_secs(6));
        assert_eq!(retry_delay(&r, 3, 0.5), Duration::from_secs(24));
        let r = retrier(1, 1.5, None, false);
        assert_eq!(retry_delay(&r, 2, 0.0), Duration::from_secs_f64(2.25));
    }

    #[test]
    fn delay_is_capped_by_max_delay_and_never_overflows() {
        let r = retrier(10, 2.0, Some(30), false);
        assert_eq!(retry_delay(&r, 5, 0.5), Duration::from_secs(30));
        let r = retrier(10, 10.0, None, false);
        assert_eq!(
            retry_delay(&r, u32::MAX, 0.5),
            Duration::from_secs(31_622_400)
        );
    }

    #[test]
    fn full_jitter_picks_within_zero_and_the_delay() {
        let r = retrier(4, 2.0, Some(6), true);
        assert_eq!(retry_delay(&r, 1, 0.0), Duration::ZERO);
        assert_eq!(retry_delay(&r, 1, 0.5), Duration::from_secs(3));
        assert_eq!(retry_delay(&r, 1, 1.0), Duration::from_secs(6));
        assert_eq!(retry_delay(&r, 1, 7.0), Duration::from_secs(6));
    }
}
