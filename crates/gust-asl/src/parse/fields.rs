//! Reading typed fields out of JSON objects, and checking expressions, while
//! collecting diagnostics instead of stopping at the first.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::{code, Diagnostic, Severity};
use crate::definition::QueryLanguage;
use crate::eval;

/// What a parse collects and what it must know everywhere.
pub(crate) struct Ctx {
    /// Everything found so far, in the order found.
    pub diags: Vec<Diagnostic>,
    /// The top level's language: the default of every state at any depth
    /// (AWS: a Map's or Parallel's own `QueryLanguage` does not reach inside).
    pub machine_ql: QueryLanguage,
    /// Every state name seen so far: names are unique in the whole machine.
    pub names: BTreeSet<String>,
}

impl Ctx {
    pub fn new(machine_ql: QueryLanguage) -> Self {
        Ctx {
            diags: Vec::new(),
            machine_ql,
            names: BTreeSet::new(),
        }
    }

    pub fn error(&mut self, code: &str, message: impl Into<String>, location: impl Into<String>) {
        self.push(Severity::Error, code, message, location);
    }

    pub fn warn(&mut self, code: &str, message: impl Into<String>, location: impl Into<String>) {
        self.push(Severity::Warning, code, message, location);
    }

    /// A `SCHEMA_VALIDATION_FAILED` error.
    pub fn schema(&mut self, message: impl Into<String>, location: impl Into<String>) {
        self.error(code::SCHEMA_VALIDATION_FAILED, message, location);
    }

    fn push(
        &mut self,
        severity: Severity,
        code: &str,
        message: impl Into<String>,
        location: impl Into<String>,
    ) {
        self.diags.push(Diagnostic {
            severity,
            code: code.to_owned(),
            message: message.into(),
            location: location.into(),
        });
    }
}

/// A JSON object being read, and where it is.
#[derive(Clone)]
pub(crate) struct Obj<'a> {
    pub map: &'a Map<String, Value>,
    /// Its location: empty for the top level.
    pub loc: String,
}

impl<'a> Obj<'a> {
    pub fn new(map: &'a Map<String, Value>, loc: impl Into<String>) -> Self {
        Obj {
            map,
            loc: loc.into(),
        }
    }

    /// The location of one of its fields.
    pub fn at(&self, field: &str) -> String {
        format!("{}/{}", self.loc, field)
    }

    /// Its own location (`/` for the top level).
    pub fn here(&self) -> String {
        if self.loc.is_empty() {
            "/".to_owned()
        } else {
            self.loc.clone()
        }
    }

    pub fn get(&self, field: &str) -> Option<&'a Value> {
        self.map.get(field)
    }

    pub fn has(&self, field: &str) -> bool {
        self.map.contains_key(field)
    }

    /// Reports every field not in `allowed` (AWS locates these at the object).
    pub fn allow_only(&self, ctx: &mut Ctx, allowed: &[&str]) {
        for key in self.map.keys() {
            if !allowed.contains(&key.as_str()) {
                ctx.schema(format!("Field '{key}' is not supported"), self.here());
            }
        }
    }

    /// Reports a missing field; true when present.
    pub fn require(&self, ctx: &mut Ctx, field: &str) -> bool {
        let present = self.has(field);
        if !present {
            ctx.schema(format!("These fields are required: [{field}]"), self.here());
        }
        present
    }

    /// Reports `a` and `b` both present; true when they are.
    pub fn exclusive(&self, ctx: &mut Ctx, a: &str, b: &str) -> bool {
        let both = self.has(a) && self.has(b);
        if both {
            let message = format!("There should only be one of the following fields: [{a}, {b}]");
            ctx.schema(message, self.at(a));
        }
        both
    }

    pub fn string(&self, ctx: &mut Ctx, field: &str) -> Option<&'a str> {
        match self.get(field)? {
            Value::String(s) => Some(s),
            _ => {
                ctx.schema("Expected value of type [STRING]", self.at(field));
                None
            }
        }
    }

    pub fn required_string(&self, ctx: &mut Ctx, field: &str) -> Option<&'a str> {
        if self.require(ctx, field) {
            self.string(ctx, field)
        } else {
            None
        }
    }

    pub fn boolean(&self, ctx: &mut Ctx, field: &str) -> Option<bool> {
        match self.get(field)? {
            Value::Bool(b) => Some(*b),
            _ => {
                ctx.schema("Expected value of type [BOOLEAN]", self.at(field));
                None
            }
        }
    }

    /// An integer in `min..=max`.
    pub fn integer(&self, ctx: &mut Ctx, field: &str, min: u64, max: u64) -> Option<u64> {
        let value = self.get(field)?;
        integer_value(ctx, value, &self.at(field), min, max)
    }

    /// A number ≥ `min` (and ≤ `max`).
    pub fn number(&self, ctx: &mut Ctx, field: &str, min: f64, max: Option<f64>) -> Option<f64> {
        let Some(n) = self.get(field)?.as_f64() else {
            ctx.schema("Expected value of type [NUMBER]", self.at(field));
            return None;
        };
        if n < min {
            ctx.schema(format!("Minimum value is {min}"), self.at(field));
            return None;
        }
        if let Some(max) = max.filter(|max| n > *max) {
            ctx.schema(format!("Maximum value is {max}"), self.at(field));
            return None;
        }
        Some(n)
    }

    pub fn object(&self, ctx: &mut Ctx, field: &str) -> Option<Obj<'a>> {
        match self.get(field)? {
            Value::Object(map) => Some(Obj::new(map, self.at(field))),
            _ => {
                ctx.schema("Expected value of type [OBJECT]", self.at(field));
                None
            }
        }
    }

    pub fn array(&self, ctx: &mut Ctx, field: &str) -> Option<&'a Vec<Value>> {
        match self.get(field)? {
            Value::Array(items) => Some(items),
            _ => {
                ctx.schema("Expected value of type [ARRAY]", self.at(field));
                None
            }
        }
    }

    /// A string among `allowed`.
    pub fn one_of(&self, ctx: &mut Ctx, field: &str, allowed: &[&str]) -> Option<&'a str> {
        let s = self.string(ctx, field)?;
        if allowed.contains(&s) {
            Some(s)
        } else {
            let message = format!(
                "Value should be one of the following: [{}]",
                allowed.join(", ")
            );
            ctx.schema(message, self.at(field));
            None
        }
    }
}

/// An integer value in `min..=max`, reported at `loc` otherwise.
pub(crate) fn integer_value(
    ctx: &mut Ctx,
    value: &Value,
    loc: &str,
    min: u64,
    max: u64,
) -> Option<u64> {
    let below = match value.as_u64() {
        Some(n) if n > max => {
            ctx.schema(format!("Maximum value is {max}"), loc);
            return None;
        }
        Some(n) if n >= min => return Some(n),
        Some(_) => true,
        None => value.as_i64().is_some(),
    };
    if below {
        ctx.schema(format!("Minimum value is {min}"), loc);
    } else {
        ctx.schema("Expected value of type Integer", loc);
    }
    None
}

/// Whether a string is a JSONata expression (`{% ... %}`).
pub(crate) fn is_jsonata(s: &str) -> bool {
    s.len() >= 4 && s.starts_with("{%") && s.ends_with("%}")
}

/// `inner` (a location inside a value, as eval's checkers give it) appended
/// to `base`, the value's own location.
pub(crate) fn join_loc(base: &str, inner: &str) -> String {
    if inner.is_empty() || inner == "$" {
        base.to_owned()
    } else if inner.starts_with('/') || inner.starts_with('[') {
        format!("{base}{inner}")
    } else {
        format!("{base}/{}", inner.trim_start_matches('.'))
    }
}

/// A Path field (`InputPath`, `OutputPath`): null or a Path.
pub(crate) fn path_field(ctx: &mut Ctx, value: &Value, loc: &str, field: &str) -> Option<Value> {
    path_like(ctx, value, loc, field, "JSONPath", eval::check_path)
}

/// A Reference Path field (`ResultPath`): null or a Reference Path.
pub(crate) fn reference_path_field(
    ctx: &mut Ctx,
    value: &Value,
    loc: &str,
    field: &str,
) -> Option<Value> {
    path_like(
        ctx,
        value,
        loc,
        field,
        "ReferencePath",
        eval::check_reference_path,
    )
}

fn path_like(
    ctx: &mut Ctx,
    value: &Value,
    loc: &str,
    field: &str,
    what: &str,
    check: fn(&str) -> Result<(), String>,
) -> Option<Value> {
    match value {
        Value::Null => Some(Value::Null),
        Value::String(s) => match check(s) {
            Ok(()) => Some(value.clone()),
            Err(e) => {
                let message =
                    format!("The value for the field '{field}' must be a valid {what}: {e}");
                ctx.schema(message, loc);
                None
            }
        },
        _ => {
            ctx.schema("Expected value of type [STRING]", loc);
            None
        }
    }
}

/// A reference path that must select a value (`SecondsPath`, `ItemsPath`, ...).
pub(crate) fn reference_path_string(ctx: &mut Ctx, obj: &Obj, field: &str) -> Option<String> {
    let s = obj.string(ctx, field)?;
    match eval::check_reference_path(s) {
        Ok(()) => Some(s.to_owned()),
        Err(e) => {
            let message =
                format!("The value for the field '{field}' must be a valid ReferencePath: {e}");
            ctx.schema(message, obj.at(field));
            None
        }
    }
}

/// `ErrorPath`/`CausePath`: a reference path or an intrinsic function.
pub(crate) fn path_or_intrinsic(ctx: &mut Ctx, obj: &Obj, field: &str) -> Option<String> {
    let s = obj.string(ctx, field)?;
    let checked = if s.starts_with("States.") {
        eval::check_intrinsic(s)
    } else {
        eval::check_reference_path(s)
    };
    match checked {
        Ok(()) => Some(s.to_owned()),
        Err(e) => {
            let message =
                format!("The value for the field '{field}' must be a valid JSONPath or a valid intrinsic function call: {e}");
            ctx.schema(message, obj.at(field));
            None
        }
    }
}

/// A JSONPath payload template (`Parameters`, `ResultSelector`, `ItemSelector`,
/// JSONPath `Assign`). True when it checks.
pub(crate) fn template(ctx: &mut Ctx, value: &Value, loc: &str) -> bool {
    match eval::check_template(value) {
        Ok(()) => {
            no_dollar(ctx, value, loc);
            true
        }
        Err((inner, message)) => {
            ctx.schema(message, join_loc(loc, &inner));
            false
        }
    }
}

/// Warns about template values that look like paths under a key without `.$`.
fn no_dollar(ctx: &mut Ctx, value: &Value, loc: &str) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let here = format!("{loc}/{key}");
                match v {
                    Value::String(s) if !key.ends_with(".$") && looks_like_path(s) => {
                        let message = format!(
                            "The value of the field '{key}' looks like a JSONPath or an intrinsic function, but the field name does not end with '.$'"
                        );
                        ctx.warn(code::NO_DOLLAR, message, here);
                    }
                    _ => no_dollar(ctx, v, &here),
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                no_dollar(ctx, v, &format!("{loc}[{i}]"));
            }
        }
        _ => {}
    }
}

/// Whether a literal looks like it was meant as a path or intrinsic call.
pub(crate) fn looks_like_path(s: &str) -> bool {
    s.starts_with("$.") || s.starts_with("$$.") || (s.starts_with("States.") && s.ends_with(')'))
}

/// Checks every `{% %}` string inside `value`. True when all parse.
pub(crate) fn jsonata_in(ctx: &mut Ctx, value: &Value, loc: &str) -> bool {
    jsonata_in_with(ctx, value, loc, &eval::check_jsonata)
}

/// [`jsonata_in`] with the checker given (tests use a stand-in).
pub(crate) fn jsonata_in_with(
    ctx: &mut Ctx,
    value: &Value,
    loc: &str,
    check: &dyn Fn(&str) -> Result<(), String>,
) -> bool {
    match value {
        Value::String(s) if is_jsonata(s) => match check(s) {
            Ok(()) => true,
            Err(message) => {
                ctx.error(code::INVALID_JSONATA_EXPRESSION, message, loc);
                false
            }
        },
        Value::Object(map) => {
            let mut ok = true;
            for (key, v) in map {
                ok &= jsonata_in_with(ctx, v, &format!("{loc}/{key}"), check);
            }
            ok
        }
        Value::Array(items) => {
            let mut ok = true;
            for (i, v) in items.iter().enumerate() {
                ok &= jsonata_in_with(ctx, v, &format!("{loc}[{i}]"), check);
            }
            ok
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn joins_inner_locations_in_aws_form() {
        assert_eq!(join_loc("/States/A/Parameters", ""), "/States/A/Parameters");
        assert_eq!(
            join_loc("/States/A/Parameters", "/a.$"),
            "/States/A/Parameters/a.$"
        );
        assert_eq!(
            join_loc("/States/A/Parameters", "x/y"),
            "/States/A/Parameters/x/y"
        );
        assert_eq!(
            join_loc("/States/A/Choices[0]", "[1]"),
            "/States/A/Choices[0][1]"
        );
    }

    #[test]
    fn jsonata_walk_reports_each_bad_expression_where_it_is() {
        let mut ctx = Ctx::new(QueryLanguage::Jsonata);
        let value =
            json!({"a": "{% bad %}", "b": ["x", "{% ok %}", "{% bad %}"], "c": "{%not closed"});
        let check = |s: &str| {
            if s.contains("bad") {
                Err("Unexpected end of expression".to_owned())
            } else {
                Ok(())
            }
        };
        assert!(!jsonata_in_with(
            &mut ctx,
            &value,
            "/States/P/Output",
            &check
        ));
        let places: Vec<&str> = ctx.diags.iter().map(|d| d.location.as_str()).collect();
        assert_eq!(places, ["/States/P/Output/a", "/States/P/Output/b[2]"]);
        assert!(ctx
            .diags
            .iter()
            .all(|d| d.code == code::INVALID_JSONATA_EXPRESSION));
    }

    #[test]
    fn integers_report_type_and_range() {
        let mut ctx = Ctx::new(QueryLanguage::JsonPath);
        let map = json!({"a": 5, "b": -1, "c": 1.5, "d": "5", "e": 100})
            .as_object()
            .unwrap()
            .clone();
        let obj = Obj::new(&map, "/States/X");
        assert_eq!(obj.integer(&mut ctx, "a", 1, 10), Some(5));
        assert_eq!(obj.integer(&mut ctx, "b", 0, 10), None);
        assert_eq!(obj.integer(&mut ctx, "c", 0, 10), None);
        assert_eq!(obj.integer(&mut ctx, "d", 0, 10), None);
        assert_eq!(obj.integer(&mut ctx, "e", 0, 10), None);
        assert_eq!(obj.integer(&mut ctx, "missing", 0, 10), None);
        let got: Vec<(&str, &str)> = ctx
            .diags
            .iter()
            .map(|d| (d.message.as_str(), d.location.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("Minimum value is 0", "/States/X/b"),
                ("Expected value of type Integer", "/States/X/c"),
                ("Expected value of type Integer", "/States/X/d"),
                ("Maximum value is 10", "/States/X/e"),
            ]
        );
    }

    #[test]
    fn path_like_strings() {
        assert!(looks_like_path("$.a"));
        assert!(looks_like_path("States.Format('{}', $.a)"));
        assert!(!looks_like_path("$"));
        assert!(!looks_like_path("price in $"));
        assert!(is_jsonata("{% 1 %}"));
        assert!(!is_jsonata("{%}"));
    }
}
