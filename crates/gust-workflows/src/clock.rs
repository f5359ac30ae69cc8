//! Wall-clock time as Step Functions shows it: epoch milliseconds in the store, epoch
//! seconds (a JSON number) in API answers, RFC 3339 with milliseconds in the context
//! object.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Now, epoch ms.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Epoch ms as the API's timestamp: epoch seconds with a fraction.
pub fn api_time(ms: i64) -> serde_json::Value {
    serde_json::json!(ms as f64 / 1000.0)
}

/// Epoch ms as `2026-12-04T02:03:44.123Z`.
pub fn iso(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// An RFC 3339 timestamp (a Wait state's `Timestamp`) as epoch ms.
pub fn parse_iso(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_round_trips() {
        let ms = 1_796_350_000_123;
        assert_eq!(parse_iso(&iso(ms)), Some(ms));
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            parse_iso("2026-12-04T00:00:00+01:00"),
            parse_iso("2026-12-03T23:00:00Z")
        );
        assert_eq!(parse_iso("tomorrow"), None);
    }
}
