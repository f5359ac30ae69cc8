//! Tags: TagResource, UntagResource, ListTags and CreateFunction's `Tags`, validated
//! as AWS validates them. Tags belong to the function (not to a version or alias),
//! are stored through the [`FunctionStore`](gust_store::FunctionStore) and kept in
//! the registry's snapshot, so GetFunction reads them from memory.

use std::collections::BTreeMap;

use gust_types::{CoreError, FunctionRef};
use gust_wire::lambda::ListTagsResponse;

use crate::Platform;

/// Most tags a function may carry.
pub const TAGS_MAX: usize = 50;
/// Longest tag key, in characters.
const KEY_MAX: usize = 128;
/// Longest tag value, in characters.
const VALUE_MAX: usize = 256;
/// The characters AWS allows in keys and values, as its messages state them.
const PATTERN: &str = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*";
/// The prefix AWS keeps for its own tags.
const RESERVED_PREFIX: &str = "aws:";

/// A map of tags.
pub type Tags = BTreeMap<String, String>;

/// Whether every character of `s` is one AWS allows: letters, separators (spaces),
/// numbers and `_.:/=+-@`.
fn allowed(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c))
}

/// AWS's validation message for a constraint that a tag key or value fails.
fn constraint(what: &str, value: &str, rules: &str) -> CoreError {
    CoreError::Validation(format!(
        "1 validation error detected: Value '{}' at '{what}' failed to satisfy constraint: {rules}",
        value.chars().take(300).collect::<String>()
    ))
}

/// Checks one key: 1–128 characters of the allowed set, not starting with `aws:`.
fn check_key(key: &str, at: &str) -> Result<(), CoreError> {
    let length = key.chars().count();
    if length == 0 || length > KEY_MAX || !allowed(key) {
        return Err(constraint(
            at,
            key,
            &format!(
                "Map keys must satisfy constraint: [Member must have length less than or equal \
                 to {KEY_MAX}, Member must have length greater than or equal to 1, Member must \
                 satisfy regular expression pattern: {PATTERN}]"
            ),
        ));
    }
    if key
        .get(..RESERVED_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(RESERVED_PREFIX))
    {
        return Err(CoreError::InvalidParameterValue(format!(
            "Tag keys cannot start with '{RESERVED_PREFIX}': the prefix is reserved for AWS \
             use (key '{}')",
            key.chars().take(KEY_MAX).collect::<String>()
        )));
    }
    Ok(())
}

/// Checks tags a request sets: keys as [`check_key`], values 0–256 characters of
/// the allowed set, at most [`TAGS_MAX`] in one request.
pub(crate) fn check_tags(tags: &Tags) -> Result<(), CoreError> {
    if tags.len() > TAGS_MAX {
        return Err(too_many(tags.len()));
    }
    for (key, value) in tags {
        check_key(key, "tags")?;
        if value.chars().count() > VALUE_MAX || !allowed(value) {
            return Err(constraint(
                "tags",
                value,
                &format!(
                    "Map value must satisfy constraint: [Member must have length less than or \
                     equal to {VALUE_MAX}, Member must have length greater than or equal to 0, \
                     Member must satisfy regular expression pattern: {PATTERN}]"
                ),
            ));
        }
    }
    Ok(())
}

fn too_many(count: usize) -> CoreError {
    CoreError::InvalidParameterValue(format!(
        "A function can have at most {TAGS_MAX} tags; this request would give it {count}."
    ))
}

/// The function a tagging request's resource names: the unqualified ARN of a
/// function of this region and account (tags cannot be set on versions or aliases).
fn resource(p: &Platform, arn: &str) -> Result<FunctionRef, CoreError> {
    if !arn.starts_with("arn:") {
        return Err(CoreError::Validation(format!(
            "1 validation error detected: Value '{}' at 'resource' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: \
             arn:(aws[a-zA-Z-]*):lambda:[a-z]{{2}}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{{1}}:\\d{{12}}:\
             function:[a-zA-Z0-9-_]+(:(\\$LATEST|[a-zA-Z0-9-_]+))?",
            arn.chars().take(200).collect::<String>()
        )));
    }
    let fref = FunctionRef::parse_local(arn, &p.config.region)?;
    if fref.qualifier.is_some() {
        return Err(CoreError::InvalidParameterValue(
            "Tags are supported only on functions, not on versions or aliases: give the \
             function's unqualified ARN"
                .into(),
        ));
    }
    Ok(fref)
}

impl Platform {
    /// ListTags.
    pub fn list_tags(&self, arn: &str) -> Result<ListTagsResponse, CoreError> {
        let fref = resource(self, arn)?;
        Ok(ListTagsResponse {
            tags: self.function(&fref)?.tags.clone(),
        })
    }

    /// TagResource: adds `tags`, replacing the values of keys the function has.
    pub async fn tag_resource(&self, arn: &str, tags: Tags) -> Result<(), CoreError> {
        let fref = resource(self, arn)?;
        check_tags(&tags)?;
        let _guard = self.writes.lock().await;
        let current = self.function(&fref)?;
        let mut merged = current.tags.clone();
        merged.extend(tags.clone());
        if merged.len() > TAGS_MAX {
            return Err(too_many(merged.len()));
        }
        self.store.put_tags(&fref.name, &tags)?;
        let mut next = (*current).clone();
        next.tags = merged;
        self.publish_snapshot(next);
        Ok(())
    }

    /// UntagResource: removes `keys` (keys the function lacks are no error).
    pub async fn untag_resource(&self, arn: &str, keys: Vec<String>) -> Result<(), CoreError> {
        let fref = resource(self, arn)?;
        if keys.is_empty() {
            return Err(CoreError::Validation(
                "1 validation error detected: Value null at 'tagKeys' failed to satisfy \
                 constraint: Member must not be null"
                    .into(),
            ));
        }
        for key in &keys {
            check_key(key, "tagKeys")?;
        }
        let _guard = self.writes.lock().await;
        let current = self.function(&fref)?;
        self.store.delete_tags(&fref.name, Some(&keys))?;
        let mut next = (*current).clone();
        for key in &keys {
            next.tags.remove(key);
        }
        self.publish_snapshot(next);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn kind(e: &CoreError) -> &'static str {
        match e {
            CoreError::Validation(_) => "ValidationException",
            CoreError::InvalidParameterValue(_) => "InvalidParameterValueException",
            _ => "other",
        }
    }

    #[test]
    fn tags_within_aws_limits_pass() {
        let max_key = "k".repeat(KEY_MAX);
        let max_value = "v".repeat(VALUE_MAX);
        check_tags(&tags(&[
            ("team", "payments"),
            ("empty", ""),
            ("Ünïcode key 1", "a b_c.d:e/f=g+h-i@j"),
            (max_key.as_str(), max_value.as_str()),
            ("awsome", "prefix without the colon"),
        ]))
        .unwrap();
        let fifty: Tags = (0..TAGS_MAX)
            .map(|i| (format!("k{i}"), String::new()))
            .collect();
        check_tags(&fifty).unwrap();
    }

    #[test]
    fn tags_outside_them_are_refused_as_aws_refuses_them() {
        let long_key = "k".repeat(KEY_MAX + 1);
        let long_value = "v".repeat(VALUE_MAX + 1);
        for (bad, expected) in [
            (tags(&[("", "v")]), "ValidationException"),
            (tags(&[(long_key.as_str(), "v")]), "ValidationException"),
            (tags(&[("k", long_value.as_str())]), "ValidationException"),
            (tags(&[("semi;colon", "v")]), "ValidationException"),
            (tags(&[("k", "a*b")]), "ValidationException"),
            (
                tags(&[("aws:cloudformation:stack", "v")]),
                "InvalidParameterValueException",
            ),
            (tags(&[("AWS:x", "v")]), "InvalidParameterValueException"),
        ] {
            let e = check_tags(&bad).unwrap_err();
            assert_eq!(kind(&e), expected, "{bad:?}: {e}");
        }
        let e = check_tags(&tags(&[("", "v")])).unwrap_err();
        assert!(
            e.to_string()
                .contains("at 'tags' failed to satisfy constraint: Map keys"),
            "{e}"
        );
        let many: Tags = (0..=TAGS_MAX)
            .map(|i| (format!("k{i}"), String::new()))
            .collect();
        let e = check_tags(&many).unwrap_err();
        assert_eq!(kind(&e), "InvalidParameterValueException");
        assert!(e.to_string().contains("at most 50 tags"), "{e}");
    }
}
