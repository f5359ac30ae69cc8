//! Parsing and printing of durations and byte sizes, as users type and read them:
//! the one parser behind every `gust` flag that takes them, `gust bench`'s included
//! (gust-cli depends on this crate, so it lives here).

use std::time::Duration;

/// A duration that may be turned off: `off`, `0` or a zero duration mean `None`.
pub fn parse_optional_duration(input: &str) -> Result<Option<Duration>, String> {
    match input.trim() {
        "off" | "0" => Ok(None),
        other => parse_duration(other)
            .map(|d| (!d.is_zero()).then_some(d))
            .map_err(|e| format!("{e}, or off")),
    }
}

/// Parses `500ms`, `30s`, `10m`, `1h`, or a sum of them such as `1h30m`.
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("empty duration; expected e.g. 500ms, 30s, 10m or 1h".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!(
                "invalid duration '{input}': expected a number followed by ms, s, m or h (e.g. 30s)"
            ));
        }
        let value: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration '{input}': number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(value),
            "s" => Duration::from_secs(value),
            "m" => Duration::from_secs(value.saturating_mul(60)),
            "h" => Duration::from_secs(value.saturating_mul(3600)),
            "" => {
                return Err(format!(
                    "invalid duration '{input}': missing unit; write e.g. {value}s or {value}ms"
                ))
            }
            other => {
                return Err(format!(
                    "invalid duration '{input}': unknown unit '{other}'; use ms, s, m or h"
                ))
            }
        };
        total = total.saturating_add(part);
    }
    Ok(total)
}

/// Parses a byte size: `1048576`, `512KiB`, `1MiB`, `64k`, `2MB`. `k`/`KB` and
/// `M`/`MB` are decimal, `KiB` and `MiB` binary, as their names say.
pub fn parse_size(input: &str) -> Result<u64, String> {
    let s = input.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!(
            "invalid size '{input}': expected a number of bytes, optionally with a unit (e.g. 1MiB, 512KiB)"
        ));
    }
    let value: u64 = s[..digits]
        .parse()
        .map_err(|_| format!("invalid size '{input}': number too large"))?;
    let factor: u64 = match s[digits..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        other => {
            return Err(format!(
                "invalid size '{input}': unknown unit '{other}'; use B, KiB, MiB, GiB, KB, MB or GB"
            ))
        }
    };
    value
        .checked_mul(factor)
        .ok_or_else(|| format!("invalid size '{input}': too large"))
}

/// Formats a byte count for people: `512 B`, `1.5 KiB`, `12.0 MiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration(" 0s "), Ok(Duration::ZERO));
    }

    #[test]
    fn an_optional_duration_can_be_off() {
        assert_eq!(parse_optional_duration("off").unwrap(), None);
        assert_eq!(parse_optional_duration("0").unwrap(), None);
        assert_eq!(parse_optional_duration("0s").unwrap(), None);
        assert_eq!(
            parse_optional_duration("250ms").unwrap(),
            Some(Duration::from_millis(250))
        );
        let err = parse_optional_duration("soon").unwrap_err();
        assert!(err.contains("or off"), "{err}");
    }

    #[test]
    fn durations_can_be_summed() {
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1s500ms"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn bad_durations_say_what_to_write() {
        let missing = parse_duration("30").unwrap_err();
        assert!(missing.contains("missing unit"), "{missing}");
        let unknown = parse_duration("3d").unwrap_err();
        assert!(unknown.contains("unknown unit 'd'"), "{unknown}");
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("1.5s").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn sizes_decimal_and_binary() {
        assert_eq!(parse_size("1048576"), Ok(1_048_576));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("512KiB"), Ok(512 * 1024));
        assert_eq!(parse_size("64k"), Ok(64_000));
        assert_eq!(parse_size("2 MB"), Ok(2_000_000));
        assert_eq!(parse_size("1gib"), Ok(1 << 30));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3 parsecs").is_err());
        assert!(parse_size("99999999999GiB").is_err());
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 << 20), "5.0 MiB");
        assert_eq!(human_size(3 << 30), "3.0 GiB");
    }
}
