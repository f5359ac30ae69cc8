//! `rate(N unit)`: a fixed period. EventBridge takes `minute`, `hour` and `day`,
//! singular exactly when N is 1 (`rate(1 hour)`, `rate(2 hours)`).

use crate::{ExpressionError, Options};

/// A fixed period, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    period_s: i64,
}

impl Rate {
    /// Parses the inside of `rate(...)`.
    pub(crate) fn parse(inner: &str, options: Options) -> Result<Rate, ExpressionError> {
        let bad = |why: &str| ExpressionError::Rate(format!("rate({inner}): {why}"));
        let mut parts = inner.split_whitespace();
        let (Some(value), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected rate(VALUE UNIT), e.g. rate(5 minutes)"));
        };
        let n: i64 = value
            .parse()
            .ok()
            .filter(|n| *n > 0 && *n <= 1_000_000)
            .ok_or_else(|| bad("the value must be a positive whole number"))?;
        let (singular, unit_s) = match unit {
            "minute" => (true, 60),
            "minutes" => (false, 60),
            "hour" => (true, 3600),
            "hours" => (false, 3600),
            "day" => (true, 86_400),
            "days" => (false, 86_400),
            "second" if options.allow_seconds => (true, 1),
            "seconds" if options.allow_seconds => (false, 1),
            _ => return Err(bad("the unit must be minute(s), hour(s) or day(s)")),
        };
        if singular != (n == 1) {
            return Err(bad(if n == 1 {
                "use the singular unit for 1, e.g. rate(1 minute)"
            } else {
                "use the plural unit for values above 1, e.g. rate(5 minutes)"
            }));
        }
        Ok(Rate {
            period_s: n * unit_s,
        })
    }

    /// The period in seconds.
    pub fn period_s(&self) -> i64 {
        self.period_s
    }

    /// `anchor + k·period` for the smallest k ≥ 1 that lands after `t`.
    pub(crate) fn next_after(&self, anchor: i64, t: i64) -> i64 {
        let p = self.period_s;
        if t < anchor {
            return anchor + p;
        }
        let k = (t - anchor) / p + 1;
        anchor + k * p
    }

    /// The last `anchor + k·period` (k ≥ 1) in `(after, until]`.
    pub(crate) fn last_in(&self, anchor: i64, after: i64, until: i64) -> Option<i64> {
        if until < anchor + self.period_s {
            return None;
        }
        let last = anchor + (until - anchor) / self.period_s * self.period_s;
        (last > after).then_some(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Rate, ExpressionError> {
        Rate::parse(s, Options::default())
    }

    #[test]
    fn units_and_their_number() {
        assert_eq!(parse("1 minute").unwrap().period_s(), 60);
        assert_eq!(parse("5 minutes").unwrap().period_s(), 300);
        assert_eq!(parse("1 hour").unwrap().period_s(), 3600);
        assert_eq!(parse("12 hours").unwrap().period_s(), 43_200);
        assert_eq!(parse("1 day").unwrap().period_s(), 86_400);
        assert_eq!(parse("7 days").unwrap().period_s(), 604_800);
        assert_eq!(parse("  3   hours ").unwrap().period_s(), 10_800);
    }

    #[test]
    fn singular_only_for_one() {
        let e = parse("1 minutes").unwrap_err().to_string();
        assert!(e.contains("singular"), "{e}");
        let e = parse("2 minute").unwrap_err().to_string();
        assert!(e.contains("plural"), "{e}");
        assert!(parse("1 days").is_err());
        assert!(parse("3 hour").is_err());
    }

    #[test]
    fn refuses_what_eventbridge_refuses() {
        for bad in [
            "0 minutes",
            "-1 minutes",
            "1.5 hours",
            "five minutes",
            "5",
            "5 weeks",
            "5 minutes extra",
            "",
            "5 Minutes",
        ] {
            assert!(parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn seconds_only_as_a_testing_aid() {
        assert!(parse("1 second").is_err());
        assert!(parse("10 seconds").is_err());
        let o = Options {
            allow_seconds: true,
        };
        assert_eq!(Rate::parse("1 second", o).unwrap().period_s(), 1);
        assert_eq!(Rate::parse("10 seconds", o).unwrap().period_s(), 10);
        assert!(Rate::parse("1 seconds", o).is_err());
    }

    #[test]
    fn periods_count_from_the_anchor() {
        let r = parse("5 minutes").unwrap();
        assert_eq!(r.next_after(1000, 1000), 1300);
        assert_eq!(r.next_after(1000, 1299), 1300);
        assert_eq!(r.next_after(1000, 1300), 1600);
        assert_eq!(r.next_after(1000, 0), 1300);
        assert_eq!(r.last_in(1000, 1000, 1299), None);
        assert_eq!(r.last_in(1000, 1000, 1300), Some(1300));
        assert_eq!(r.last_in(1000, 1000, 2000), Some(1900));
        assert_eq!(r.last_in(1000, 1900, 2000), None);
    }
}
