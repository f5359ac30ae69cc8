//! Recursive-loop detection, as Lambda does it: the trace header an invocation
//! gets (`_X_AMZN_TRACE_ID`, which AWS's SDKs send back as `X-Amzn-Trace-Id` on the
//! calls the function makes) carries a `Lineage` of how many times each function
//! has been invoked in the chain of requests it belongs to. An invocation that
//! would be a function's 17th in one chain is refused (Lambda stops a loop after
//! 16); a fan-out of many distinct invocations is one step each, not a loop.

/// How many times one function may be invoked in one chain of requests.
pub const MAX_DEPTH: u32 = 16;

/// Most functions one lineage tracks (the ones deepest in the chain stay).
const MAX_ENTRIES: usize = 16;

/// The trace header for an invocation of `function` caused by a request whose
/// trace header was `incoming`, or `Err` with the depth it would reach when that
/// is a loop.
pub fn advance(
    incoming: Option<&str>,
    function: &str,
    new_id: impl FnOnce() -> (String, String),
) -> Result<String, u32> {
    let mut root = None;
    let mut entries: Vec<(String, u32)> = Vec::new();
    // botocore percent-encodes what it forwards of `_X_AMZN_TRACE_ID`.
    let incoming = percent_decoded(incoming.unwrap_or_default());
    for field in incoming.split(';') {
        let Some((key, value)) = field.trim().split_once('=') else {
            continue;
        };
        match key {
            "Root" => root = Some(value.to_string()),
            "Lineage" => {
                entries = value
                    .split('+')
                    .filter_map(|e| {
                        let (h, n) = e.split_once(':')?;
                        let valid = h.len() == 8 && h.bytes().all(|b| b.is_ascii_hexdigit());
                        let n: u32 = n.parse().ok()?;
                        valid.then(|| (h.to_ascii_lowercase(), n))
                    })
                    .collect()
            }
            _ => {}
        }
    }
    let me = hash(function);
    let depth = match entries.iter_mut().find(|(h, _)| *h == me) {
        Some((_, n)) => {
            *n = n.saturating_add(1);
            *n
        }
        None => {
            entries.push((me, 1));
            1
        }
    };
    if depth > MAX_DEPTH {
        return Err(depth);
    }
    if entries.len() > MAX_ENTRIES {
        entries.sort_by_key(|e| std::cmp::Reverse(e.1));
        entries.truncate(MAX_ENTRIES);
    }
    let (new_root, parent) = new_id();
    let lineage: Vec<String> = entries.iter().map(|(h, n)| format!("{h}:{n}")).collect();
    Ok(format!(
        "Root={};Parent={parent};Sampled=0;Lineage={}",
        root.unwrap_or(new_root),
        lineage.join("+")
    ))
}

fn percent_decoded(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A function's 8-hex-digit tag in a lineage (FNV-1a of its name: stable across
/// restarts and hosts).
fn hash(function: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in function.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (String, String) {
        (
            "1-00000000-000000000000000000000000".into(),
            "0000000000000000".into(),
        )
    }

    #[test]
    fn a_loop_is_stopped_after_sixteen_invocations_of_one_function() {
        let mut trace: Option<String> = None;
        for depth in 1..=MAX_DEPTH {
            let next = advance(trace.as_deref(), "f", ids).unwrap();
            assert!(next.contains(&format!("{}:{depth}", hash("f"))), "{next}");
            trace = Some(next);
        }
        assert_eq!(advance(trace.as_deref(), "f", ids), Err(MAX_DEPTH + 1));
        // Another function in the same chain is not in a loop.
        assert!(advance(trace.as_deref(), "g", ids).is_ok());
    }

    #[test]
    fn the_root_is_kept_and_a_fan_out_stays_shallow() {
        let first = advance(Some("Root=1-abc-def;Parent=1;Sampled=1"), "a", ids).unwrap();
        assert!(first.starts_with("Root=1-abc-def;"), "{first}");
        for _ in 0..100 {
            let child = advance(Some(&first), "b", ids).unwrap();
            assert!(
                child.ends_with(&format!("{}:1+{}:1", hash("a"), hash("b"))),
                "{child}"
            );
        }
        // As botocore forwards it, percent-encoded.
        let child = advance(Some(&first), "b", ids).unwrap();
        let encoded = child.replace('+', "%2B");
        let back = advance(Some(&encoded), "a", ids).unwrap();
        assert!(
            back.ends_with(&format!("{}:2+{}:1", hash("a"), hash("b"))),
            "{back}"
        );
        // A garbled lineage starts afresh.
        assert!(advance(Some("Root=x;Lineage=zz:999"), "a", ids)
            .unwrap()
            .ends_with(":1"));
    }
}
