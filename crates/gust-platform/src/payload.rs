//! What an invocation payload (and a client context) must be before it reaches a
//! function: UTF-8 JSON, nested no deeper than [`MAX_DEPTH`].
//!
//! AWS parses every payload at its front door and answers
//! `InvalidRequestContentException` when it cannot; gust does the same, so that a
//! payload no runtime could decode is the caller's error, not a function error. The
//! check is iterative: a payload of a million `[` costs a scan, never a deep stack.
//!
//! # Layout
//! - `scan`: the one pass that accepts or refuses a payload.
//! - [`check_json`]: that pass, and on a refusal the diagnosis that words it.

mod scan;

use gust_types::CoreError;

/// Deepest nesting of arrays and objects accepted. AWS's JSON parser refuses
/// documents nested deeper than 1000 levels; the managed runtimes' decoders give up
/// around there too.
pub const MAX_DEPTH: usize = 1000;

/// Checks that `bytes` is one JSON value, in UTF-8, nested at most [`MAX_DEPTH`] deep.
///
/// An accepted payload (the common case, up to 6 MB on every invoke) is read once.
/// A refused one is read again to say why, in the order the checks have always
/// been reported: invalid UTF-8 anywhere first, then nesting (with the document's
/// full depth), then serde_json's description of the first syntax error.
pub fn check_json(bytes: &[u8]) -> Result<(), CoreError> {
    if scan::is_valid_json(bytes) {
        return Ok(());
    }
    let refusal = diagnose(bytes);
    debug_assert!(
        refusal.is_err(),
        "the one-pass check refused a payload the full check accepts"
    );
    refusal
}

/// Why `bytes` is refused: UTF-8, then nesting, then JSON syntax, each checked over
/// the whole payload. Accepts what [`check_json`] accepts, with three passes.
fn diagnose(bytes: &[u8]) -> Result<(), CoreError> {
    let text =
        std::str::from_utf8(bytes).map_err(|e| unparseable(format!("invalid UTF-8: {e}")))?;
    let depth = max_depth(text.as_bytes());
    if depth > MAX_DEPTH {
        return Err(unparseable(format!(
            "the document is nested {depth} levels deep; at most {MAX_DEPTH} are allowed"
        )));
    }
    serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|e| unparseable(e.to_string()))?;
    Ok(())
}

/// Checks that a decoded `X-Amz-Client-Context` is a JSON object.
pub(crate) fn check_client_context(json: &str) -> Result<(), CoreError> {
    let bad = || {
        CoreError::InvalidRequestContent(
            "Client context must be a valid Base64-encoded JSON object.".into(),
        )
    };
    if !json.trim_start().starts_with('{') {
        return Err(bad());
    }
    check_json(json.as_bytes()).map_err(|_| bad())
}

fn unparseable(why: String) -> CoreError {
    CoreError::InvalidRequestContent(format!("Could not parse request body into json: {why}"))
}

/// The deepest nesting of `[` and `{` outside strings. Only meaningful for input that
/// is otherwise JSON; it never fails.
fn max_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> Vec<u8> {
        let mut v = vec![b'['; levels];
        v.extend(std::iter::repeat_n(b']', levels));
        v
    }

    #[test]
    fn json_values_of_every_kind_pass() {
        for ok in [
            &b"{}"[..],
            b"[]",
            b"\"a string\"",
            b"42",
            b"null",
            b" {\"a\": [1, {\"b\": \"[[[{{{\\\"\"}]} ",
            "\"h\u{e9}llo \u{2603}\"".as_bytes(),
        ] {
            check_json(ok).unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(ok)));
        }
    }

    #[test]
    fn nesting_up_to_the_limit_passes_and_deeper_is_refused() {
        check_json(&nested(MAX_DEPTH)).unwrap();
        let e = check_json(&nested(MAX_DEPTH + 1)).unwrap_err();
        assert!(matches!(&e, CoreError::InvalidRequestContent(m) if m.contains("1001 levels")));
        // A hundred thousand levels: refused quickly, without recursion.
        let e = check_json(&nested(100_000)).unwrap_err();
        assert!(matches!(e, CoreError::InvalidRequestContent(_)));
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let mut doc = b"[\"".to_vec();
        doc.extend(std::iter::repeat_n(b'[', 5000));
        doc.extend(b"\\\"\"]");
        assert_eq!(max_depth(&doc), 1);
        check_json(&doc).unwrap();
    }

    #[test]
    fn invalid_utf8_and_invalid_json_are_refused() {
        for bad in [
            &b"\"\xff\xfe\""[..],
            b"\xc3\x28",
            b"{not json",
            b"[1,]",
            b"",
            b"{} {}",
        ] {
            let e = check_json(bad).unwrap_err();
            assert!(
                matches!(&e, CoreError::InvalidRequestContent(m) if m.starts_with("Could not parse request body into json")),
                "{bad:?}: {e:?}"
            );
        }
    }

    fn message(bytes: &[u8]) -> String {
        match check_json(bytes) {
            Err(CoreError::InvalidRequestContent(m)) => m,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(bytes)),
        }
    }

    #[test]
    fn invalid_utf8_is_refused_saying_where() {
        assert_eq!(
            message(b"\"ok \xff\""),
            "Could not parse request body into json: invalid UTF-8: \
             invalid utf-8 sequence of 1 bytes from index 4"
        );
        // An encoded surrogate (CESU-8) is not UTF-8 either.
        assert_eq!(
            message(b"{\"key\": \"\xed\xa0\x80\"}"),
            "Could not parse request body into json: invalid UTF-8: \
             invalid utf-8 sequence of 1 bytes from index 9"
        );
    }

    #[test]
    fn too_deep_nesting_is_refused_with_the_documents_depth() {
        let mut doc = br#"{"a": "#.to_vec();
        doc.extend(nested(1500));
        doc.push(b'}');
        assert_eq!(
            message(&doc),
            "Could not parse request body into json: the document is nested 1501 levels \
             deep; at most 1000 are allowed"
        );
        let mut objects = b"[".repeat(MAX_DEPTH);
        objects.extend(b"{}");
        objects.extend(b"]".repeat(MAX_DEPTH));
        assert!(message(&objects).contains("1001 levels"));
    }

    #[test]
    fn invalid_json_is_refused_with_serde_jsons_words() {
        for (bad, why) in [
            (&b"[1,]"[..], "expected value at line 1 column 4"),
            (b"{\"a\" 1}", "expected `:` at line 1 column 6"),
            (b"{\"a\": 1,}", "key must be a string at line 1 column 9"),
            (b"[01]", "invalid number at line 1 column 3"),
            (b"\"tab\there\"", "control character (\\u0000-\\u001F) found while parsing a string at line 1 column 4"),
            (b"\"\\x\"", "invalid escape at line 1 column 3"),
            (b"[1] [2]", "trailing characters at line 1 column 5"),
            (b"\n\n  trUe", "expected ident at line 3 column 5"),
            (b"", "EOF while parsing a value at line 1 column 0"),
        ] {
            assert_eq!(
                message(bad),
                format!("Could not parse request body into json: {why}"),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn invalid_utf8_is_reported_before_nesting_and_nesting_before_syntax() {
        // Each fault comes after one that is reported later.
        let mut utf8_last = nested(2000);
        utf8_last.extend(b"\xff");
        assert!(message(&utf8_last).contains("invalid UTF-8"));
        let mut depth_last = b"[1,] ".to_vec();
        depth_last.extend(nested(1200));
        assert!(message(&depth_last).contains("1200 levels"));
    }

    /// About `size` bytes of records such as a function receives, every kind of
    /// value and non-ASCII text included.
    pub(super) fn records(size: usize) -> Vec<u8> {
        let mut doc = b"[".to_vec();
        let mut i = 0u64;
        while doc.len() < size {
            let record = format!(
                r#"{{"id": {i}, "name": "user-{i} \u00e9t\u00e9 \"quoted\" café ☃ 🦀", "tags": ["a", "b\\c"], "score": -12.5e3, "active": true, "note": null}},"#
            );
            doc.extend(record.as_bytes());
            i += 1;
        }
        doc.pop();
        doc.push(b']');
        doc
    }

    #[test]
    fn a_valid_payload_of_the_full_six_megabytes_passes() {
        let mut doc = records(gust_types::limits::SYNC_PAYLOAD_MAX - 1024);
        doc.resize(gust_types::limits::SYNC_PAYLOAD_MAX, b' ');
        assert_eq!(doc.len(), 6 * 1024 * 1024);
        check_json(&doc).unwrap();
        // The same with one byte wrong in the middle is refused.
        let middle = doc.len() / 2;
        let at = middle + doc[middle..].iter().position(|&b| b == b':').unwrap();
        doc[at] = b';';
        assert!(message(&doc).starts_with("Could not parse request body into json: expected"));
    }

    /// Timings, not a test: `cargo test -p gust-platform --lib payload::tests::timing
    /// -- --ignored --nocapture` (build with optimizations for numbers that mean
    /// anything). Compares the one pass with the three checks it replaced, which
    /// `diagnose` still runs, on 6 MB payloads of different shapes.
    #[test]
    #[ignore = "prints timings"]
    fn timing_of_the_check_on_six_megabyte_payloads() {
        let size = gust_types::limits::SYNC_PAYLOAD_MAX;
        let string = |unit: &str| {
            let mut doc = b"\"".to_vec();
            while doc.len() < size - 8 {
                doc.extend(unit.as_bytes());
            }
            doc.push(b'"');
            doc
        };
        let numbers = {
            let mut doc = b"[".to_vec();
            let mut i = 0u64;
            while doc.len() < size {
                doc.extend(format!("{}.{},", i * 7919, i % 1000).as_bytes());
                i += 1;
            }
            doc.pop();
            doc.push(b']');
            doc
        };
        let shapes = [
            ("records", records(size)),
            ("ascii string", string("the quick brown fox ")),
            ("non-ascii string", string("caf\u{e9} \u{2603} \u{1f980} ")),
            ("numbers", numbers),
        ];
        let runs = 5;
        for (shape, doc) in &shapes {
            let best = |check: fn(&[u8]) -> Result<(), CoreError>| {
                (0..runs)
                    .map(|_| {
                        let start = std::time::Instant::now();
                        check(std::hint::black_box(doc)).unwrap();
                        start.elapsed()
                    })
                    .min()
                    .unwrap()
            };
            let (three, one) = (best(diagnose), best(check_json));
            let mb = doc.len() as f64 / 1e6;
            println!(
                "{shape:>16} ({mb:.1} MB): three passes {:>7.2} ms, one pass {:>7.2} ms ({:.2}x)",
                three.as_secs_f64() * 1e3,
                one.as_secs_f64() * 1e3,
                three.as_secs_f64() / one.as_secs_f64()
            );
        }
    }

    #[test]
    fn a_client_context_must_be_an_object() {
        check_client_context(r#"{"custom": {"a": 1}}"#).unwrap();
        for bad in ["[1]", "\"s\"", "{", &"{\"a\":".repeat(2000)] {
            assert!(check_client_context(bad).is_err(), "{bad}");
        }
    }
}
