//! Short text for edges: a Choice rule (`$.x == 1`), a catcher's errors.

use serde_json::Value;

/// The longest edge label, in characters.
const LONGEST: usize = 28;

/// `s` cut to `max` characters, with an ellipsis when cut.
pub(super) fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// A Choice rule as a short expression.
pub(super) fn rule(rule: &Value) -> String {
    shorten(&full(rule), LONGEST)
}

/// A catcher's `ErrorEquals`.
pub(super) fn errors(names: &[String]) -> String {
    shorten(&names.join(", "), LONGEST)
}

fn full(rule: &Value) -> String {
    if let Some(condition) = rule.get("Condition") {
        return match condition {
            Value::String(s) => s
                .strip_prefix("{%")
                .and_then(|s| s.strip_suffix("%}"))
                .unwrap_or(s)
                .trim()
                .to_owned(),
            other => other.to_string(),
        };
    }
    for (key, joiner) in [("And", " && "), ("Or", " || ")] {
        if let Some(Value::Array(parts)) = rule.get(key) {
            let parts: Vec<String> = parts.iter().map(nested).collect();
            return parts.join(joiner);
        }
    }
    if let Some(inner) = rule.get("Not") {
        return format!("!{}", nested(inner));
    }
    let variable = rule.get("Variable").and_then(Value::as_str).unwrap_or("?");
    let Some(map) = rule.as_object() else {
        return "?".to_owned();
    };
    for (key, value) in map {
        if let Some(test) = type_test(key, value) {
            return format!("{variable} {test}");
        }
        if let Some(op) = comparison(key) {
            let operand = match value {
                Value::String(s) if key.ends_with("Path") => s.clone(),
                other => other.to_string(),
            };
            return format!("{variable} {op} {operand}");
        }
    }
    variable.to_owned()
}

/// A rule inside And/Or/Not, parenthesised when it is itself compound.
fn nested(rule: &Value) -> String {
    let text = full(rule);
    if ["And", "Or"].iter().any(|k| rule.get(k).is_some()) {
        format!("({text})")
    } else {
        text
    }
}

fn type_test(key: &str, value: &Value) -> Option<String> {
    let (yes, no) = match key {
        "IsNull" => ("is null", "is not null"),
        "IsPresent" => ("is present", "is absent"),
        "IsNumeric" => ("is numeric", "is not numeric"),
        "IsString" => ("is a string", "is not a string"),
        "IsBoolean" => ("is a boolean", "is not a boolean"),
        "IsTimestamp" => ("is a timestamp", "is not a timestamp"),
        _ => return None,
    };
    Some(
        if value == &Value::Bool(false) {
            no
        } else {
            yes
        }
        .to_owned(),
    )
}

fn comparison(key: &str) -> Option<&'static str> {
    let key = key.strip_suffix("Path").unwrap_or(key);
    if key == "StringMatches" {
        return Some("matches");
    }
    let rest = ["String", "Numeric", "Boolean", "Timestamp"]
        .iter()
        .find_map(|family| key.strip_prefix(family))?;
    Some(match rest {
        "Equals" => "==",
        "LessThan" => "<",
        "GreaterThan" => ">",
        "LessThanEquals" => "<=",
        "GreaterThanEquals" => ">=",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn comparisons_read_like_expressions() {
        assert_eq!(
            rule(&json!({"Variable": "$.x", "NumericEquals": 1})),
            "$.x == 1"
        );
        assert_eq!(
            rule(&json!({"Variable": "$.s", "StringEquals": "a"})),
            "$.s == \"a\""
        );
        assert_eq!(
            rule(&json!({"Variable": "$.a", "NumericLessThanPath": "$.b"})),
            "$.a < $.b"
        );
        assert_eq!(
            rule(&json!({"Variable": "$.t", "TimestampGreaterThanEquals": "2026-01-01T00:00:00Z"}))
                .chars()
                .count(),
            28
        );
        assert_eq!(
            rule(&json!({"Variable": "$.n", "IsNull": false})),
            "$.n is not null"
        );
        assert_eq!(
            rule(&json!({"Variable": "$.f", "StringMatches": "*.txt"})),
            "$.f matches \"*.txt\""
        );
    }

    #[test]
    fn compound_rules_and_conditions() {
        let and = json!({"And": [{"Variable": "$.v", "NumericGreaterThan": 1}, {"Not": {"Variable": "$.v", "NumericEquals": 5}}]});
        assert_eq!(rule(&and), "$.v > 1 && !$.v == 5");
        assert_eq!(rule(&json!({"Condition": "{% $x > 1 %}"})), "$x > 1");
        assert_eq!(
            errors(&["States.Timeout".into(), "States.TaskFailed".into()]),
            "States.Timeout, States.Task…"
        );
    }
}
