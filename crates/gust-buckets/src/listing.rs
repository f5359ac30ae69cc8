//! Listing keys as S3 does: in UTF-8 byte order, after a marker, under a prefix,
//! with keys that contain the delimiter after the prefix rolled up into common
//! prefixes (each counted once against `max-keys`). A common prefix is skipped in
//! one step (the next read starts after every key it covers), so a listing of a
//! bucket with a million keys under `photos/` still answers `photos/` at once.

use gust_store::buckets::ObjectRecord;
use gust_store::StoreError;

/// One page of a listing.
#[derive(Debug, Default)]
pub(crate) struct Page {
    /// The objects, in key order.
    pub objects: Vec<ObjectRecord>,
    /// The common prefixes, in order.
    pub prefixes: Vec<String>,
    /// Whether more follow.
    pub truncated: bool,
    /// The last key or common prefix of the page (where the next page starts
    /// after), when it is truncated.
    pub next: Option<String>,
}

/// Lists up to `max` entries under `prefix` after `after` (exclusive), reading
/// rows through `fetch(from, limit)` (keys under `prefix` at or after `from`).
pub(crate) fn list(
    mut fetch: impl FnMut(&str, usize) -> Result<Vec<ObjectRecord>, StoreError>,
    prefix: &str,
    after: &str,
    delimiter: Option<&str>,
    max: usize,
) -> Result<Page, StoreError> {
    let mut page = Page::default();
    let delimiter = delimiter.filter(|d| !d.is_empty());
    let mut from = after.to_string();
    let mut last: Option<String> = None;
    let mut count = 0;
    'reads: loop {
        let batch = fetch(&from, (max + 1).clamp(2, 1001))?;
        if batch.is_empty() {
            return Ok(page);
        }
        let exhausted = batch.len() < (max + 1).clamp(2, 1001);
        for object in batch {
            if object.key.as_str() <= after || last.as_deref() >= Some(object.key.as_str()) {
                continue;
            }
            let rolled = delimiter.and_then(|d| {
                object
                    .key
                    .get(prefix.len()..)?
                    .find(d)
                    .map(|i| object.key[..prefix.len() + i + d.len()].to_string())
            });
            if count == max {
                page.truncated = true;
                page.next = last;
                return Ok(page);
            }
            match rolled {
                Some(common) => {
                    if common.as_str() <= after {
                        // Listed on an earlier page; go on after it.
                        let Some(next) = successor(&common) else {
                            return Ok(page);
                        };
                        from = next;
                        continue 'reads;
                    }
                    count += 1;
                    let next = successor(&common);
                    page.prefixes.push(common.clone());
                    last = Some(common);
                    match next {
                        Some(next) => {
                            from = next;
                            continue 'reads;
                        }
                        None => return Ok(page),
                    }
                }
                None => {
                    count += 1;
                    from.clone_from(&object.key);
                    last = Some(object.key.clone());
                    page.objects.push(object);
                }
            }
        }
        if exhausted {
            return Ok(page);
        }
    }
}

/// The smallest string greater than every string that starts with `s` (`None`
/// when there is none: `s` is empty or only U+10FFFF).
pub(crate) fn successor(s: &str) -> Option<String> {
    let mut chars: Vec<char> = s.chars().collect();
    while let Some(c) = chars.pop() {
        let mut next = c as u32 + 1;
        if (0xD800..=0xDFFF).contains(&next) {
            next = 0xE000;
        }
        if let Some(n) = char::from_u32(next) {
            chars.push(n);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(keys: &[&str]) -> Vec<ObjectRecord> {
        let mut keys: Vec<&str> = keys.to_vec();
        keys.sort();
        keys.iter()
            .map(|k| ObjectRecord {
                bucket: "b".into(),
                key: (*k).into(),
                blob: String::new(),
                size: 0,
                etag: String::new(),
                modified_ms: 0,
                meta: String::new(),
            })
            .collect()
    }

    /// A listing over `keys` with the store's semantics, counting reads.
    fn run(
        keys: &[&str],
        prefix: &str,
        after: &str,
        delimiter: Option<&str>,
        max: usize,
    ) -> (Vec<String>, Vec<String>, bool, Option<String>, usize) {
        let all = rows(keys);
        let mut reads = 0;
        let page = list(
            |from, limit| {
                reads += 1;
                Ok(all
                    .iter()
                    .filter(|o| o.key.as_str() >= from && o.key.starts_with(prefix))
                    .take(limit)
                    .cloned()
                    .collect())
            },
            prefix,
            after,
            delimiter,
            max,
        )
        .unwrap();
        (
            page.objects.into_iter().map(|o| o.key).collect(),
            page.prefixes,
            page.truncated,
            page.next,
            reads,
        )
    }

    const KEYS: &[&str] = &["a/1", "a/2", "a/b/3", "b", "c/1", "c/2", "d"];

    #[test]
    fn keys_under_the_delimiter_roll_up_into_common_prefixes() {
        let (objects, prefixes, truncated, _, _) = run(KEYS, "", "", Some("/"), 1000);
        assert_eq!(objects, ["b", "d"]);
        assert_eq!(prefixes, ["a/", "c/"]);
        assert!(!truncated);
        let (objects, prefixes, _, _, _) = run(KEYS, "a/", "", Some("/"), 1000);
        assert_eq!(objects, ["a/1", "a/2"]);
        assert_eq!(prefixes, ["a/b/"]);
    }

    #[test]
    fn pages_count_prefixes_once_and_resume_after_the_last_entry() {
        let (objects, prefixes, truncated, next, _) = run(KEYS, "", "", Some("/"), 2);
        assert_eq!(
            (objects, prefixes),
            (vec!["b".to_string()], vec!["a/".to_string()])
        );
        assert!(truncated);
        assert_eq!(next.as_deref(), Some("b"));
        let (objects, prefixes, truncated, _, _) = run(KEYS, "", "b", Some("/"), 2);
        assert_eq!(objects, ["d"]);
        assert_eq!(prefixes, ["c/"]);
        assert!(!truncated);
        // Resuming after a common prefix does not list it again.
        let (objects, prefixes, _, _, _) = run(KEYS, "", "a/", Some("/"), 10);
        assert_eq!(objects, ["b", "d"]);
        assert_eq!(prefixes, ["c/"]);
    }

    #[test]
    fn without_a_delimiter_every_key_is_listed_in_order() {
        let (objects, prefixes, truncated, next, _) = run(KEYS, "", "", None, 3);
        assert_eq!(objects, ["a/1", "a/2", "a/b/3"]);
        assert!(prefixes.is_empty() && truncated);
        assert_eq!(next.as_deref(), Some("a/b/3"));
        let (objects, _, truncated, _, _) = run(KEYS, "", "a/b/3", None, 1000);
        assert_eq!(objects, ["b", "c/1", "c/2", "d"]);
        assert!(!truncated);
        // A page that ends exactly at the last key is not truncated.
        let (_, _, truncated, _, _) = run(KEYS, "", "", None, KEYS.len());
        assert!(!truncated);
    }

    #[test]
    fn a_large_common_prefix_is_skipped_in_one_read() {
        let many: Vec<String> = (0..5000).map(|i| format!("p/{i:05}")).collect();
        let mut keys: Vec<&str> = many.iter().map(String::as_str).collect();
        keys.push("q");
        let (objects, prefixes, _, _, reads) = run(&keys, "", "", Some("/"), 1000);
        assert_eq!(objects, ["q"]);
        assert_eq!(prefixes, ["p/"]);
        assert!(reads <= 3, "{reads} reads");
    }

    #[test]
    fn successors() {
        assert_eq!(successor("a/").as_deref(), Some("a0"));
        assert_eq!(successor("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(successor(""), None);
    }
}
