//! Schedule expressions as EventBridge spells them, and when they fire.
//!
//! `rate(5 minutes)` fires every five minutes, counted from an anchor (the rule's
//! creation); `cron(0 12 ? * MON-FRI *)` fires at the minutes its six UTC fields
//! match. Both are parsed by [`Expression::parse`] and asked for their firing times
//! with [`Expression::next_after`]. Times are whole seconds since the Unix epoch:
//! EventBridge's scheduled events carry second precision.
//!
//! # Layout
//! - [`Expression`]: either form, parsed from the rule's `ScheduleExpression`.
//! - `rate`: `rate(N unit)`.
//! - `cron`: the six-field cron and its calendar search.

#![forbid(unsafe_code)]

mod cron;
mod rate;

pub use cron::Cron;
pub use rate::Rate;

/// Why a schedule expression was refused. The message is what the user reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpressionError {
    /// Neither `rate(...)` nor `cron(...)`.
    #[error("Parameter ScheduleExpression is not valid: '{0}' is neither rate(...) nor cron(...)")]
    Form(String),
    /// A malformed `rate(...)`.
    #[error("Parameter ScheduleExpression is not valid: {0}")]
    Rate(String),
    /// A malformed `cron(...)`.
    #[error("Parameter ScheduleExpression is not valid: {0}")]
    Cron(String),
}

/// What a schedule expression may use beyond EventBridge's rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Accept `rate(N second|seconds)`. A testing aid: EventBridge's smallest rate is
    /// one minute, which makes tests of firing and restarts slow.
    pub allow_seconds: bool,
}

/// A parsed `ScheduleExpression`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expression {
    /// `rate(N unit)`.
    Rate(Rate),
    /// `cron(min hour dom month dow year)`, UTC.
    Cron(Box<Cron>),
}

impl Expression {
    /// Parses `rate(...)` or `cron(...)`.
    pub fn parse(input: &str, options: Options) -> Result<Expression, ExpressionError> {
        let s = input.trim();
        if let Some(inner) = strip_call(s, "rate") {
            Ok(Expression::Rate(Rate::parse(inner, options)?))
        } else if let Some(inner) = strip_call(s, "cron") {
            Ok(Expression::Cron(Box::new(Cron::parse(inner)?)))
        } else {
            Err(ExpressionError::Form(input.to_string()))
        }
    }

    /// The first firing strictly after `t`. A rate counts its periods from `anchor`
    /// (the rule's creation); a cron ignores it. `None` when the schedule never fires
    /// again (a cron whose years are over).
    pub fn next_after(&self, anchor: i64, t: i64) -> Option<i64> {
        match self {
            Expression::Rate(r) => Some(r.next_after(anchor, t)),
            Expression::Cron(c) => c.next_after(t),
        }
    }

    /// The last firing in `(after, until]`, if any: what a scheduler that was not
    /// running between the two times owes.
    pub fn last_in(&self, anchor: i64, after: i64, until: i64) -> Option<i64> {
        match self {
            Expression::Rate(r) => r.last_in(anchor, after, until),
            Expression::Cron(c) => {
                let mut last = None;
                let mut t = after;
                while let Some(next) = c.next_after(t).filter(|n| *n <= until) {
                    last = Some(next);
                    t = next;
                }
                last
            }
        }
    }
}

/// `name(inner)` → `inner`.
fn strip_call<'a>(s: &'a str, name: &str) -> Option<&'a str> {
    s.strip_prefix(name)?
        .trim_start()
        .strip_prefix('(')?
        .strip_suffix(')')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatches_on_the_form() {
        let o = Options::default();
        assert!(matches!(
            Expression::parse("rate(5 minutes)", o),
            Ok(Expression::Rate(_))
        ));
        assert!(matches!(
            Expression::parse(" cron(0 12 * * ? *) ", o),
            Ok(Expression::Cron(_))
        ));
        assert!(matches!(
            Expression::parse("every 5 minutes", o),
            Err(ExpressionError::Form(_))
        ));
        assert!(Expression::parse("rate(5 minutes", o).is_err());
    }

    #[test]
    fn last_in_finds_the_latest_missed_firing() {
        let o = Options::default();
        let cron = Expression::parse("cron(*/10 * * * ? *)", o).unwrap();
        // 00:00 .. 00:35 → fired at 10, 20, 30; the last is 00:30.
        assert_eq!(cron.last_in(0, 0, 35 * 60), Some(30 * 60));
        assert_eq!(cron.last_in(0, 30 * 60, 35 * 60), None);
        let rate = Expression::parse("rate(7 minutes)", o).unwrap();
        assert_eq!(rate.last_in(100, 100, 100 + 20 * 60), Some(100 + 14 * 60));
        assert_eq!(rate.last_in(100, 100 + 14 * 60, 100 + 20 * 60), None);
    }
}
