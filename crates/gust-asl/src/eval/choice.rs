//! JSONPath-mode Choice rules: `Variable` with one comparison operator, or
//! `And` / `Or` / `Not` of nested rules.
//!
//! As in Step Functions, comparing values of the wrong type is simply false
//! (`NumericEquals` on a string), while a `Variable` (or `...Path` operand) that
//! selects nothing is a `States.Runtime` error, except for `IsPresent`, which
//! is there to ask. Strings compare as Java's `String.compareTo` (UTF-16 code
//! units); timestamps are RFC 3339 with an uppercase `T` and `Z`.
//!
//! # Layout
//! - [`evaluate`]: one rule against a [`Scope`].
//! - [`check`]: the create-time check, with a JSON pointer to the problem.
//! - [`OPERATORS`]: every comparison operator and its operand's kind.
//! - [`string_matches`], [`parse_timestamp`]: the two comparisons with rules
//!   of their own.

use std::cmp::Ordering;

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::path::{self, Path};
use super::{EvalError, Scope};

/// What an operator compares the variable with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operand {
    /// A string literal.
    String,
    /// A number literal.
    Number,
    /// A boolean literal.
    Boolean,
    /// An RFC 3339 timestamp literal.
    Timestamp,
    /// A path to the value (the `...Path` operators).
    Path,
}

/// Every comparison operator with the kind of operand it takes.
pub const OPERATORS: &[(&str, Operand)] = &[
    ("BooleanEquals", Operand::Boolean),
    ("BooleanEqualsPath", Operand::Path),
    ("IsBoolean", Operand::Boolean),
    ("IsNull", Operand::Boolean),
    ("IsNumeric", Operand::Boolean),
    ("IsPresent", Operand::Boolean),
    ("IsString", Operand::Boolean),
    ("IsTimestamp", Operand::Boolean),
    ("NumericEquals", Operand::Number),
    ("NumericEqualsPath", Operand::Path),
    ("NumericGreaterThan", Operand::Number),
    ("NumericGreaterThanPath", Operand::Path),
    ("NumericGreaterThanEquals", Operand::Number),
    ("NumericGreaterThanEqualsPath", Operand::Path),
    ("NumericLessThan", Operand::Number),
    ("NumericLessThanPath", Operand::Path),
    ("NumericLessThanEquals", Operand::Number),
    ("NumericLessThanEqualsPath", Operand::Path),
    ("StringEquals", Operand::String),
    ("StringEqualsPath", Operand::Path),
    ("StringGreaterThan", Operand::String),
    ("StringGreaterThanPath", Operand::Path),
    ("StringGreaterThanEquals", Operand::String),
    ("StringGreaterThanEqualsPath", Operand::Path),
    ("StringLessThan", Operand::String),
    ("StringLessThanPath", Operand::Path),
    ("StringLessThanEquals", Operand::String),
    ("StringLessThanEqualsPath", Operand::Path),
    ("StringMatches", Operand::String),
    ("TimestampEquals", Operand::Timestamp),
    ("TimestampEqualsPath", Operand::Path),
    ("TimestampGreaterThan", Operand::Timestamp),
    ("TimestampGreaterThanPath", Operand::Path),
    ("TimestampGreaterThanEquals", Operand::Timestamp),
    ("TimestampGreaterThanEqualsPath", Operand::Path),
    ("TimestampLessThan", Operand::Timestamp),
    ("TimestampLessThanPath", Operand::Path),
    ("TimestampLessThanEquals", Operand::Timestamp),
    ("TimestampLessThanEqualsPath", Operand::Path),
];

/// Fields a rule may carry besides its operator (`Next` and `Assign` only at
/// the top level).
const TOP_LEVEL_EXTRAS: &[&str] = &["Next", "Comment", "Assign"];

fn runtime(cause: String) -> EvalError {
    EvalError {
        error: "States.Runtime".into(),
        cause,
    }
}

/// Evaluates one rule.
pub fn evaluate(rule: &Value, scope: &Scope) -> Result<bool, EvalError> {
    let Value::Object(map) = rule else {
        return Err(runtime(format!(
            "A Choice rule must be an object, not {rule}"
        )));
    };
    if let Some(rules) = map.get("And") {
        for r in rules.as_array().into_iter().flatten() {
            if !evaluate(r, scope)? {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    if let Some(rules) = map.get("Or") {
        for r in rules.as_array().into_iter().flatten() {
            if evaluate(r, scope)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    if let Some(r) = map.get("Not") {
        return Ok(!evaluate(r, scope)?);
    }
    let Some(variable) = map.get("Variable").and_then(Value::as_str) else {
        return Err(runtime(
            "A Choice rule needs a Variable (or And, Or, Not)".into(),
        ));
    };
    let Some((op, operand)) = OPERATORS
        .iter()
        .find_map(|(name, _)| map.get(*name).map(|v| (*name, v)))
    else {
        return Err(runtime(format!(
            "The Choice rule on '{variable}' has no comparison operator"
        )));
    };
    let value = lookup(variable, scope)?;
    if op == "IsPresent" {
        return Ok(value.is_some() == (operand == &Value::Bool(true)));
    }
    let Some(value) = value else {
        return Err(runtime(format!(
            "Invalid path '{variable}': The choice state's condition path references an invalid value."
        )));
    };
    let (base, operand) = match op.strip_suffix("Path") {
        Some(base) => {
            let p = operand.as_str().unwrap_or_default();
            let v = lookup(p, scope)?.ok_or_else(|| {
                runtime(format!("Invalid path '{p}': The choice state's condition path references an invalid value."))
            })?;
            (base, v)
        }
        None => (op, operand.clone()),
    };
    Ok(compare(base, &value, &operand))
}

/// The value at `p`, or `None` when the path selects nothing.
fn lookup(p: &str, scope: &Scope) -> Result<Option<Value>, EvalError> {
    let path = Path::parse(p).map_err(|m| runtime(format!("Invalid path '{p}': {m}")))?;
    match path::resolve(&path, scope) {
        Ok(v) => Ok(Some(v)),
        Err(
            path::Miss::UnknownVariable(_)
            | path::Miss::NoResults(_)
            | path::Miss::MissingProperty(_),
        ) => Ok(None),
        Err(path::Miss::NotAnObject { .. } | path::Miss::NotAnArray { .. }) => Ok(None),
        Err(miss @ path::Miss::Function(_)) => Err(runtime(format!("Invalid path '{p}': {miss}"))),
    }
}

/// `value <op> operand`, false when either is of the wrong type.
fn compare(op: &str, value: &Value, operand: &Value) -> bool {
    let flag = operand == &Value::Bool(true);
    let ordered = |o: Ordering, kind: &str| match &op[kind.len()..] {
        "Equals" => o.is_eq(),
        "GreaterThan" => o.is_gt(),
        "GreaterThanEquals" => o.is_ge(),
        "LessThan" => o.is_lt(),
        "LessThanEquals" => o.is_le(),
        _ => false,
    };
    match op {
        "IsNull" => value.is_null() == flag,
        "IsNumeric" => value.is_number() == flag,
        "IsString" => value.is_string() == flag,
        "IsBoolean" => value.is_boolean() == flag,
        "IsTimestamp" => value.as_str().and_then(parse_timestamp).is_some() == flag,
        "BooleanEquals" => matches!((value, operand), (Value::Bool(a), Value::Bool(b)) if a == b),
        "StringMatches" => {
            matches!((value, operand), (Value::String(s), Value::String(p)) if string_matches(s, p))
        }
        _ if op.starts_with("String") => match (value, operand) {
            (Value::String(a), Value::String(b)) => {
                ordered(a.encode_utf16().cmp(b.encode_utf16()), "String")
            }
            _ => false,
        },
        _ if op.starts_with("Numeric") => match (value, operand) {
            (Value::Number(a), Value::Number(b)) => {
                let o = match (a.as_i64(), b.as_i64()) {
                    (Some(x), Some(y)) => Some(x.cmp(&y)),
                    _ => a.as_f64().partial_cmp(&b.as_f64()),
                };
                o.is_some_and(|o| ordered(o, "Numeric"))
            }
            _ => false,
        },
        _ if op.starts_with("Timestamp") => {
            match (
                value.as_str().and_then(parse_timestamp),
                operand.as_str().and_then(parse_timestamp),
            ) {
                (Some(a), Some(b)) => ordered(a.cmp(&b), "Timestamp"),
                _ => false,
            }
        }
        _ => false,
    }
}

/// An RFC 3339 timestamp with an uppercase `T` and (if no offset) `Z`.
pub fn parse_timestamp(s: &str) -> Option<OffsetDateTime> {
    if s.as_bytes().get(10) != Some(&b'T') || s.contains('z') {
        return None;
    }
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// StringMatches: `*` matches any run of characters, `\*` a literal `*` and
/// `\\` a literal `\`.
pub fn string_matches(s: &str, pattern: &str) -> bool {
    #[derive(PartialEq)]
    enum Tok {
        Star,
        Char(char),
    }
    let mut toks = Vec::new();
    let mut chars = pattern.chars();
    while let Some(ch) = chars.next() {
        toks.push(match ch {
            '\\' => Tok::Char(chars.next().unwrap_or('\\')),
            '*' => Tok::Star,
            c => Tok::Char(c),
        });
    }
    let s: Vec<char> = s.chars().collect();
    // Greedy matching with backtracking to the last star.
    let (mut si, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match toks.get(ti) {
            Some(Tok::Char(c)) if *c == s[si] => {
                si += 1;
                ti += 1;
            }
            Some(Tok::Star) => {
                star = Some((ti, si));
                ti += 1;
            }
            _ => match star {
                Some((t, from)) => {
                    ti = t + 1;
                    si = from + 1;
                    star = Some((t, from + 1));
                }
                None => return false,
            },
        }
    }
    toks[ti..].iter().all(|t| *t == Tok::Star)
}

/// Checks one top-level rule; the location is a JSON pointer into it.
pub fn check(rule: &Value) -> Result<(), (String, String)> {
    check_at(rule, "", true)
}

fn check_at(rule: &Value, at: &str, top: bool) -> Result<(), (String, String)> {
    let Value::Object(map) = rule else {
        return Err((at.to_string(), "a Choice rule must be an object".into()));
    };
    let here = |k: &str| format!("{at}/{k}");
    let mut operators = Vec::new();
    for key in map.keys() {
        let k = key.as_str();
        if matches!(k, "And" | "Or" | "Not") || OPERATORS.iter().any(|(n, _)| *n == k) {
            operators.push(k);
        } else if k == "Variable" || k == "Comment" {
        } else if TOP_LEVEL_EXTRAS.contains(&k) {
            if !top {
                return Err((here(k), format!("'{k}' is only allowed in a top-level Choice rule, not inside And, Or or Not")));
            }
        } else {
            return Err((here(k), format!("'{k}' is not a field of a Choice rule")));
        }
    }
    let op = match operators.as_slice() {
        [op] => *op,
        [] => return Err((at.to_string(), "a Choice rule needs one comparison operator (StringEquals, NumericLessThan, IsPresent, ...) or And, Or, Not".into())),
        many => return Err((here(many[1]), format!("a Choice rule has exactly one operator, but this one has {}", many.join(", ")))),
    };
    let value = &map[op];
    match op {
        "And" | "Or" => {
            if map.contains_key("Variable") {
                return Err((
                    here("Variable"),
                    format!("a rule with '{op}' has no Variable"),
                ));
            }
            let rules = value.as_array().filter(|r| !r.is_empty());
            let Some(rules) = rules else {
                return Err((
                    here(op),
                    format!("'{op}' must be a non-empty array of Choice rules"),
                ));
            };
            rules
                .iter()
                .enumerate()
                .try_for_each(|(i, r)| check_at(r, &format!("{at}/{op}/{i}"), false))
        }
        "Not" => {
            if map.contains_key("Variable") {
                return Err((here("Variable"), "a rule with 'Not' has no Variable".into()));
            }
            check_at(value, &here("Not"), false)
        }
        _ => {
            let Some(variable) = map.get("Variable") else {
                return Err((
                    at.to_string(),
                    format!("a rule with '{op}' needs a Variable"),
                ));
            };
            let Some(variable) = variable.as_str() else {
                return Err((
                    here("Variable"),
                    "Variable must be a string holding a path".into(),
                ));
            };
            Path::parse(variable).map_err(|m| (here("Variable"), m))?;
            let kind = OPERATORS
                .iter()
                .find(|(n, _)| *n == op)
                .map(|(_, k)| *k)
                .expect("an operator");
            check_operand(op, kind, value).map_err(|m| (here(op), m))
        }
    }
}

fn check_operand(op: &str, kind: Operand, v: &Value) -> Result<(), String> {
    match (kind, v) {
        (Operand::String, Value::String(_))
        | (Operand::Number, Value::Number(_))
        | (Operand::Boolean, Value::Bool(_)) => Ok(()),
        (Operand::Timestamp, Value::String(s)) if parse_timestamp(s).is_some() => Ok(()),
        (Operand::Timestamp, Value::String(s)) => Err(format!(
            "'{s}' is not an RFC 3339 timestamp with uppercase T and Z (like 2016-08-18T17:33:00Z)"
        )),
        (Operand::Path, Value::String(p)) => Path::parse(p).map(|_| ()),
        (kind, _) => {
            let want = match kind {
                Operand::String => "a string",
                Operand::Number => "a number",
                Operand::Boolean => "a boolean",
                Operand::Timestamp => "a timestamp string",
                Operand::Path => "a string holding a path",
            };
            Err(format!("the value of '{op}' must be {want}, not {v}"))
        }
    }
}

#[cfg(test)]
mod tests;
