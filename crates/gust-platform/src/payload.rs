//! What an invocation payload (and a client context) must be before it reaches a
//! function: UTF-8 JSON, nested no deeper than [`MAX_DEPTH`].
//!
//! AWS parses every payload at its front door and answers
//! `InvalidRequestContentException` when it cannot; gust does the same, so that a
//! payload no runtime could decode is the caller's error, not a function error. The
//! check is iterative: a payload of a million `[` costs a scan, never a deep stack.

use gust_types::CoreError;

/// Deepest nesting of arrays and objects accepted. AWS's JSON parser refuses
/// documents nested deeper than 1000 levels; the managed runtimes' decoders give up
/// around there too.
pub const MAX_DEPTH: usize = 1000;

/// Checks that `bytes` is one JSON value, in UTF-8, nested at most [`MAX_DEPTH`] deep.
pub fn check_json(bytes: &[u8]) -> Result<(), CoreError> {
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

    #[test]
    fn a_client_context_must_be_an_object() {
        check_client_context(r#"{"custom": {"a": 1}}"#).unwrap();
        for bad in ["[1]", "\"s\"", "{", &"{\"a\":".repeat(2000)] {
            assert!(check_client_context(bad).is_err(), "{bad}");
        }
    }
}
