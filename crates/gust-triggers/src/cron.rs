//! `cron(minutes hours day-of-month month day-of-week year)`, in UTC, with
//! EventBridge's rules:
//!
//! | field        | values               | wildcards          |
//! |--------------|----------------------|--------------------|
//! | minutes      | 0–59                 | `, - * /`          |
//! | hours        | 0–23                 | `, - * /`          |
//! | day-of-month | 1–31                 | `, - * ? / L W`    |
//! | month        | 1–12 or JAN–DEC      | `, - * /`          |
//! | day-of-week  | 1–7 or SUN–SAT       | `, - * ? L #`      |
//! | year         | 1970–2199            | `, - * /`          |
//!
//! Exactly one of day-of-month and day-of-week is `?`: the other one picks the days.
//! `L` is the month's last day (day-of-month) or Saturday (day-of-week); `5L` is the
//! month's last Thursday; `3#2` its second Tuesday; `15W` the weekday nearest the
//! 15th within the month; `LW` the month's last weekday.

use time::{Date, Month, PrimitiveDateTime, Time};

use crate::ExpressionError;

const FIRST_YEAR: i32 = 1970;
const LAST_YEAR: i32 = 2199;

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// Which days of the month, when day-of-month picks the days.
#[derive(Debug, Clone, PartialEq, Eq)]
enum MonthDays {
    /// `?`: day-of-week decides.
    Unspecified,
    /// Bit `d` set for day `d` (1–31).
    Days(u32),
    /// `L`: the last day.
    Last,
    /// `LW`: the last Monday–Friday.
    LastWeekday,
    /// `NW`: the Monday–Friday nearest day N, without leaving the month.
    NearestWeekday(u8),
}

/// Which days of the week, when day-of-week picks the days. Sunday is 1.
#[derive(Debug, Clone, PartialEq, Eq)]
enum WeekDays {
    /// `?`: day-of-month decides.
    Unspecified,
    /// Bit `d` set for weekday `d` (1 = Sunday … 7 = Saturday).
    Days(u8),
    /// `dL`: the month's last weekday `d`.
    LastOf(u8),
    /// `d#n`: the month's `n`-th weekday `d`.
    Nth(u8, u8),
}

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    month_days: MonthDays,
    months: u16,
    week_days: WeekDays,
    /// Bit `y - 1970` set for year `y`.
    years: [u64; 4],
}

impl Cron {
    /// Parses the inside of `cron(...)`.
    pub(crate) fn parse(inner: &str) -> Result<Cron, ExpressionError> {
        let bad = |why: String| ExpressionError::Cron(format!("cron({inner}): {why}"));
        let fields: Vec<&str> = inner.split_whitespace().collect();
        let [minutes, hours, dom, month, dow, year] = fields.as_slice() else {
            return Err(bad(format!(
                "expected six fields (minutes hours day-of-month month day-of-week year), \
                 got {}",
                fields.len()
            )));
        };
        let field = |name: &str, text: &str, min: u32, max: u32, names: &[&str]| {
            parse_list(text, min, max, names).map_err(|why| bad(format!("{name} '{text}': {why}")))
        };
        let minutes = field("minutes", minutes, 0, 59, &[])?;
        let hours = field("hours", hours, 0, 23, &[])? as u32;
        let months = field("month", month, 1, 12, &MONTHS)? as u16;
        let years = {
            let mask = parse_years(year).map_err(|why| bad(format!("year '{year}': {why}")))?;
            if mask == [0; 4] {
                return Err(bad(format!("year '{year}' selects no year")));
            }
            mask
        };
        let month_days =
            parse_month_days(dom).map_err(|why| bad(format!("day-of-month '{dom}': {why}")))?;
        let week_days =
            parse_week_days(dow).map_err(|why| bad(format!("day-of-week '{dow}': {why}")))?;
        match (&month_days, &week_days) {
            (MonthDays::Unspecified, WeekDays::Unspecified) => {
                return Err(bad(
                    "only one of day-of-month and day-of-week may be '?'".into()
                ))
            }
            (MonthDays::Unspecified, _) | (_, WeekDays::Unspecified) => {}
            _ => {
                return Err(bad(
                    "one of day-of-month and day-of-week must be '?' (they cannot both pick \
                     days), e.g. cron(0 12 * * ? *) or cron(0 12 ? * MON-FRI *)"
                        .into(),
                ))
            }
        }
        Ok(Cron {
            minutes,
            hours,
            month_days,
            months,
            week_days,
            years,
        })
    }

    /// The first matching minute strictly after `t` (seconds since the epoch).
    pub(crate) fn next_after(&self, t: i64) -> Option<i64> {
        let start_min = t.div_euclid(60) + 1;
        let start = time::OffsetDateTime::from_unix_timestamp(start_min.checked_mul(60)?).ok()?;
        let mut date = start.date();
        let mut from = Some((start.hour(), start.minute()));
        loop {
            let year = date.year();
            if year > LAST_YEAR {
                return None;
            }
            if year < FIRST_YEAR || !self.has_year(year) {
                date = Date::from_calendar_date(year.max(FIRST_YEAR - 1) + 1, Month::January, 1)
                    .ok()?;
                from = None;
                continue;
            }
            let month = date.month() as u8;
            if self.months & (1 << month) == 0 {
                date = first_of_next_month(date)?;
                from = None;
                continue;
            }
            if self.day_matches(date) {
                let (h0, m0) = from.unwrap_or((0, 0));
                if let Some((h, m)) = self.first_time_from(h0, m0) {
                    let time = Time::from_hms(h, m, 0).ok()?;
                    return Some(
                        PrimitiveDateTime::new(date, time)
                            .assume_utc()
                            .unix_timestamp(),
                    );
                }
            }
            date = date.next_day()?;
            from = None;
        }
    }

    fn has_year(&self, year: i32) -> bool {
        let i = (year - FIRST_YEAR) as usize;
        self.years[i / 64] & (1 << (i % 64)) != 0
    }

    /// The first selected hour:minute at or after `h0:m0`.
    fn first_time_from(&self, h0: u8, m0: u8) -> Option<(u8, u8)> {
        (h0..24)
            .filter(|h| self.hours & (1 << h) != 0)
            .find_map(|h| {
                let from = if h == h0 { m0 } else { 0 };
                let mask = self.minutes & (u64::MAX << from);
                (mask != 0).then(|| (h, mask.trailing_zeros() as u8))
            })
    }

    fn day_matches(&self, date: Date) -> bool {
        let day = date.day();
        let last = date.month().length(date.year());
        let dom = match &self.month_days {
            MonthDays::Unspecified => true,
            MonthDays::Days(mask) => mask & (1 << day) != 0,
            MonthDays::Last => day == last,
            MonthDays::LastWeekday => Some(day) == last_weekday(date, last),
            MonthDays::NearestWeekday(n) => Some(day) == nearest_weekday(date, *n, last),
        };
        let weekday = date.weekday().number_from_sunday();
        let dow = match &self.week_days {
            WeekDays::Unspecified => true,
            WeekDays::Days(mask) => mask & (1 << weekday) != 0,
            WeekDays::LastOf(d) => weekday == *d && day + 7 > last,
            WeekDays::Nth(d, n) => weekday == *d && (day - 1) / 7 + 1 == *n,
        };
        dom && dow
    }
}

fn first_of_next_month(date: Date) -> Option<Date> {
    let (y, m) = match date.month() {
        Month::December => (date.year() + 1, Month::January),
        m => (date.year(), m.next()),
    };
    Date::from_calendar_date(y, m, 1).ok()
}

fn is_weekday(date: Date) -> bool {
    !matches!(
        date.weekday(),
        time::Weekday::Saturday | time::Weekday::Sunday
    )
}

/// The day of `date`'s month that is its last Monday–Friday.
fn last_weekday(date: Date, last: u8) -> Option<u8> {
    (last - 2..=last)
        .rev()
        .find(|d| date.replace_day(*d).is_ok_and(is_weekday))
}

/// The Monday–Friday nearest day `n` of `date`'s month, staying in the month; none
/// when the month has no day `n`.
fn nearest_weekday(date: Date, n: u8, last: u8) -> Option<u8> {
    if n > last {
        return None;
    }
    let target = date.replace_day(n).ok()?;
    match target.weekday() {
        time::Weekday::Saturday if n == 1 => Some(3),
        time::Weekday::Saturday => Some(n - 1),
        time::Weekday::Sunday if n == last => Some(n - 2),
        time::Weekday::Sunday => Some(n + 1),
        _ => Some(n),
    }
}

fn parse_month_days(text: &str) -> Result<MonthDays, String> {
    match text {
        "?" => return Ok(MonthDays::Unspecified),
        "L" => return Ok(MonthDays::Last),
        "LW" => return Ok(MonthDays::LastWeekday),
        _ => {}
    }
    if let Some(n) = text.strip_suffix('W') {
        let n = parse_value(n, 1, 31, &[])?;
        return Ok(MonthDays::NearestWeekday(n as u8));
    }
    Ok(MonthDays::Days(parse_list(text, 1, 31, &[])? as u32))
}

fn parse_week_days(text: &str) -> Result<WeekDays, String> {
    match text {
        "?" => return Ok(WeekDays::Unspecified),
        "L" => return Ok(WeekDays::Days(1 << 7)),
        _ => {}
    }
    if let Some(d) = text.strip_suffix('L') {
        return Ok(WeekDays::LastOf(parse_value(d, 1, 7, &WEEKDAYS)? as u8));
    }
    if let Some((d, n)) = text.split_once('#') {
        let d = parse_value(d, 1, 7, &WEEKDAYS)? as u8;
        let n = parse_value(n, 1, 5, &[])? as u8;
        return Ok(WeekDays::Nth(d, n));
    }
    Ok(WeekDays::Days(parse_list(text, 1, 7, &WEEKDAYS)? as u8))
}

fn parse_years(text: &str) -> Result<[u64; 4], String> {
    let mut mask = [0u64; 4];
    for (lo, hi, step) in parse_items(text, FIRST_YEAR as u32, LAST_YEAR as u32, &[])? {
        for y in (lo..=hi).step_by(step as usize) {
            let i = (y - FIRST_YEAR as u32) as usize;
            mask[i / 64] |= 1 << (i % 64);
        }
    }
    Ok(mask)
}

/// A comma list of `*`, `V`, `A-B`, with an optional `/STEP`, as a bit mask.
fn parse_list(text: &str, min: u32, max: u32, names: &[&str]) -> Result<u64, String> {
    let mut mask = 0u64;
    for (lo, hi, step) in parse_items(text, min, max, names)? {
        for v in (lo..=hi).step_by(step as usize) {
            mask |= 1 << v;
        }
    }
    Ok(mask)
}

/// The items of a comma list as (first, last, step).
fn parse_items(
    text: &str,
    min: u32,
    max: u32,
    names: &[&str],
) -> Result<Vec<(u32, u32, u32)>, String> {
    if text.is_empty() {
        return Err("empty field".into());
    }
    text.split(',')
        .map(|item| {
            let (range, step) = match item.split_once('/') {
                Some((r, s)) => {
                    let step: u32 = s
                        .parse()
                        .ok()
                        .filter(|s| *s >= 1 && *s <= max.max(1))
                        .ok_or_else(|| format!("bad step '{s}'"))?;
                    (r, Some(step))
                }
                None => (item, None),
            };
            let (lo, hi) = if range == "*" {
                (min, max)
            } else if let Some((a, b)) = range.split_once('-') {
                let (a, b) = (
                    parse_value(a, min, max, names)?,
                    parse_value(b, min, max, names)?,
                );
                if a > b {
                    return Err(format!("range {range} runs backwards"));
                }
                (a, b)
            } else {
                let v = parse_value(range, min, max, names)?;
                // `5/15` means from 5 to the end, every 15.
                (v, if step.is_some() { max } else { v })
            };
            Ok((lo, hi, step.unwrap_or(1)))
        })
        .collect()
}

/// One number in `min..=max`, or one of `names` (the first being `min`).
fn parse_value(text: &str, min: u32, max: u32, names: &[&str]) -> Result<u32, String> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return Ok(min + i as u32);
    }
    text.parse::<u32>()
        .ok()
        .filter(|v| (min..=max).contains(v))
        .ok_or_else(|| {
            if names.is_empty() {
                format!("'{text}' is not a number from {min} to {max}")
            } else {
                format!(
                    "'{text}' is not a number from {min} to {max} or one of {}",
                    names.join(",")
                )
            }
        })
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;
    use time::OffsetDateTime;

    use super::*;

    fn cron(s: &str) -> Cron {
        Cron::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn ts(t: OffsetDateTime) -> i64 {
        t.unix_timestamp()
    }

    /// The next `n` firings after `from`, as RFC 3339-ish strings.
    fn next_n(expr: &str, from: OffsetDateTime, n: usize) -> Vec<String> {
        let c = cron(expr);
        let mut t = ts(from);
        let mut out = Vec::new();
        for _ in 0..n {
            let Some(next) = c.next_after(t) else { break };
            assert!(next > t);
            let dt = OffsetDateTime::from_unix_timestamp(next).unwrap();
            out.push(format!(
                "{:04}-{:02}-{:02} {:02}:{:02} {}",
                dt.year(),
                dt.month() as u8,
                dt.day(),
                dt.hour(),
                dt.minute(),
                &format!("{:?}", dt.weekday())[..3]
            ));
            t = next;
        }
        out
    }

    #[test]
    fn every_minute_and_steps() {
        assert_eq!(
            next_n("* * * * ? *", datetime!(2024-01-01 10:00:30 UTC), 3),
            [
                "2024-01-01 10:01 Mon",
                "2024-01-01 10:02 Mon",
                "2024-01-01 10:03 Mon"
            ]
        );
        assert_eq!(
            next_n("0/15 * * * ? *", datetime!(2024-01-01 10:00:00 UTC), 5),
            [
                "2024-01-01 10:15 Mon",
                "2024-01-01 10:30 Mon",
                "2024-01-01 10:45 Mon",
                "2024-01-01 11:00 Mon",
                "2024-01-01 11:15 Mon"
            ]
        );
        assert_eq!(
            next_n("5-20/5 */6 * * ? *", datetime!(2024-01-01 00:20:00 UTC), 4),
            [
                "2024-01-01 06:05 Mon",
                "2024-01-01 06:10 Mon",
                "2024-01-01 06:15 Mon",
                "2024-01-01 06:20 Mon"
            ]
        );
    }

    #[test]
    fn strictly_after_even_on_a_matching_minute() {
        let c = cron("30 9 * * ? *");
        let at = ts(datetime!(2024-05-05 09:30:00 UTC));
        assert_eq!(c.next_after(at), Some(at + 86_400));
        assert_eq!(c.next_after(at - 1), Some(at));
    }

    #[test]
    fn documented_examples() {
        // 10:15 UTC every day.
        assert_eq!(
            next_n("15 10 * * ? *", datetime!(2024-02-28 11:00:00 UTC), 2),
            ["2024-02-29 10:15 Thu", "2024-03-01 10:15 Fri"]
        );
        // 18:00 Monday to Friday.
        assert_eq!(
            next_n("0 18 ? * MON-FRI *", datetime!(2024-03-08 18:00:00 UTC), 2),
            ["2024-03-11 18:00 Mon", "2024-03-12 18:00 Tue"]
        );
        // 08:00 on the first day of each month.
        assert_eq!(
            next_n("0 8 1 * ? *", datetime!(2024-01-15 00:00:00 UTC), 2),
            ["2024-02-01 08:00 Thu", "2024-03-01 08:00 Fri"]
        );
        // Every 10 minutes on weekdays.
        assert_eq!(
            next_n(
                "0/10 * ? * MON-FRI *",
                datetime!(2024-03-08 23:55:00 UTC),
                1
            ),
            ["2024-03-11 00:00 Mon"]
        );
        // Every 5 minutes from 08:00 to 17:55, Monday to Friday.
        assert_eq!(
            next_n(
                "0/5 8-17 ? * MON-FRI *",
                datetime!(2024-03-11 17:52:00 UTC),
                2
            ),
            ["2024-03-11 17:55 Mon", "2024-03-12 08:00 Tue"]
        );
        // 09:00 on the first Monday of each month.
        assert_eq!(
            next_n("0 9 ? * 2#1 *", datetime!(2024-01-01 10:00:00 UTC), 3),
            [
                "2024-02-05 09:00 Mon",
                "2024-03-04 09:00 Mon",
                "2024-04-01 09:00 Mon"
            ]
        );
    }

    #[test]
    fn names_lists_and_case() {
        assert_eq!(cron("0 0 ? JAN,jul SUN *"), cron("0 0 ? 1,7 1 *"));
        // Ranges do not wrap around: SAT-SUN is refused, SUN,SAT is the way.
        assert!(Cron::parse("0 0 ? * SAT-SUN *").is_err());
        assert_eq!(
            next_n(
                "0 12 ? JUN-AUG SAT,SUN 2024",
                datetime!(2024-01-01 00:00:00 UTC),
                2
            ),
            ["2024-06-01 12:00 Sat", "2024-06-02 12:00 Sun"]
        );
    }

    #[test]
    fn last_day_and_weekday_forms() {
        assert_eq!(
            next_n("0 0 L * ? *", datetime!(2023-01-31 00:00:00 UTC), 4),
            [
                "2023-02-28 00:00 Tue",
                "2023-03-31 00:00 Fri",
                "2023-04-30 00:00 Sun",
                "2023-05-31 00:00 Wed"
            ]
        );
        assert_eq!(
            next_n("0 0 L 2 ? *", datetime!(2023-03-01 00:00:00 UTC), 2),
            ["2024-02-29 00:00 Thu", "2025-02-28 00:00 Fri"]
        );
        // Last weekday: March 2024 ends on Sunday the 31st → Friday the 29th.
        assert_eq!(
            next_n("0 0 LW * ? *", datetime!(2024-03-01 00:00:00 UTC), 2),
            ["2024-03-29 00:00 Fri", "2024-04-30 00:00 Tue"]
        );
        // Nearest weekday: 2024-06-15 is a Saturday → Friday the 14th; 2024-09-15 is
        // a Sunday → Monday the 16th.
        assert_eq!(
            next_n("0 0 15W 6,9 ? 2024", datetime!(2024-01-01 00:00:00 UTC), 2),
            ["2024-06-14 00:00 Fri", "2024-09-16 00:00 Mon"]
        );
        // 1W on a Saturday stays in the month: Monday the 3rd (2024-06-01 is Saturday).
        assert_eq!(
            next_n("0 0 1W 6 ? 2024", datetime!(2024-01-01 00:00:00 UTC), 1),
            ["2024-06-03 00:00 Mon"]
        );
        // 31W in a month ending on Sunday: Friday the 29th (2024-03-31 is a Sunday).
        assert_eq!(
            next_n("0 0 31W * ? 2024", datetime!(2024-03-01 00:00:00 UTC), 2),
            ["2024-03-29 00:00 Fri", "2024-05-31 00:00 Fri"]
        );
        // Last Friday (6L) of the month.
        assert_eq!(
            next_n("0 0 ? * 6L *", datetime!(2024-01-01 00:00:00 UTC), 3),
            [
                "2024-01-26 00:00 Fri",
                "2024-02-23 00:00 Fri",
                "2024-03-29 00:00 Fri"
            ]
        );
        // L alone in day-of-week is Saturday.
        assert_eq!(
            next_n("0 0 ? * L *", datetime!(2024-01-01 00:00:00 UTC), 1),
            ["2024-01-06 00:00 Sat"]
        );
        // Fifth Monday: only months that have one.
        assert_eq!(
            next_n("0 0 ? * MON#5 2024", datetime!(2024-01-01 00:00:00 UTC), 3),
            [
                "2024-01-29 00:00 Mon",
                "2024-04-29 00:00 Mon",
                "2024-07-29 00:00 Mon"
            ]
        );
    }

    #[test]
    fn years_bound_the_schedule() {
        let c = cron("0 0 1 1 ? 2030-2031");
        assert_eq!(
            next_n("0 0 1 1 ? 2030-2031", datetime!(2024-06-01 00:00:00 UTC), 3),
            ["2030-01-01 00:00 Tue", "2031-01-01 00:00 Wed"]
        );
        assert_eq!(c.next_after(ts(datetime!(2031-01-01 00:00:00 UTC))), None);
        // Leap days only, every four years from 2000 to 2199.
        assert_eq!(
            next_n("0 0 29 2 ? 2000/4", datetime!(2025-01-01 00:00:00 UTC), 2),
            ["2028-02-29 00:00 Tue", "2032-02-29 00:00 Sun"]
        );
        // A date that never exists ends the schedule rather than looping forever.
        assert_eq!(cron("0 0 30 2 ? *").next_after(0), None);
        assert_eq!(
            cron("0 0 1 1 ? *").next_after(ts(datetime!(2199-06-01 0:00 UTC))),
            None
        );
    }

    #[test]
    fn refuses_malformed_expressions() {
        for bad in [
            "* * * * *",
            "* * * * ? * *",
            "0 0 * * * *",
            "0 0 ? * ? *",
            "0 0 1 * 1 *",
            "60 0 * * ? *",
            "0 24 * * ? *",
            "0 0 0 * ? *",
            "0 0 32 * ? *",
            "0 0 * 13 ? *",
            "0 0 ? * 8 *",
            "0 0 ? * 0 *",
            "0 0 * * ? 1969",
            "0 0 * * ? 2200",
            "0 0 * FOO ? *",
            "0/0 0 * * ? *",
            "5-1 0 * * ? *",
            "0 0 ? * 2#6 *",
            "0 0 ? * 9L *",
            "0 0 32W * ? *",
            "a 0 * * ? *",
            "0,,1 0 * * ? *",
            "",
        ] {
            assert!(Cron::parse(bad).is_err(), "cron({bad}) was accepted");
        }
        let e = Cron::parse("0 0 1 * MON *").unwrap_err().to_string();
        assert!(e.contains("must be '?'"), "{e}");
    }
}
