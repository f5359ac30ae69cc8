//! The run-time side of the States Language: what a state's expressions mean
//! when the engine runs it. Pure functions from JSON to JSON; the engine picks
//! which one to call for which field, and wraps an [`EvalError`]'s cause with
//! the state's name.
//!
//! JSONPath mode (the default): [`select`] for InputPath / OutputPath /
//! ItemsPath, [`template()`](fn@template) for Parameters / ResultSelector /
//! ItemSelector, [`place_result`] for ResultPath, [`path_value`] for the
//! `...Path` fields, [`choice()`](fn@choice) for a Choice rule and [`assign`]
//! for Assign. JSONata mode: [`jsonata()`](fn@jsonata) (or [`jsonata_field`])
//! for Arguments / Output / Items / any field holding `{% %}`,
//! [`jsonata_condition`] and [`jsonata_assign`]. The `check_*` functions are
//! the same languages' syntax checks, which `crate::parse` runs when a
//! definition is created.
//!
//! # Layout
//! - [`path`]: Step Functions' JSONPath dialect (Jayway's), rooted at the input,
//!   the context object (`$$`) or a variable (`$name`); [`filter`]: its
//!   `[?(...)]` expressions.
//! - [`template`](mod@template): payload templates (`"key.$"`), InputPath /
//!   OutputPath / ResultPath and the `...Path` fields.
//! - [`intrinsics`]: the 18 `States.*` intrinsic functions.
//! - [`choice`](mod@choice): JSONPath-mode Choice rules.
//! - [`jsonata`](mod@jsonata): `{% %}` expressions, with Step Functions' added
//!   functions, and what the JSONata library lacks.

use serde_json::{Map, Value};

pub mod choice;
mod cursor;
pub mod filter;
pub mod intrinsics;
pub mod jsonata;
pub mod path;
pub mod template;

/// What a JSONPath-mode expression sees.
pub struct Scope<'a> {
    /// The state's (effective) input: what `$` means.
    pub input: &'a Value,
    /// The context object: what `$$` means.
    pub context: &'a Value,
    /// The workflow variables in scope: what `$name` means.
    pub variables: &'a Map<String, Value>,
}

/// A run-time failure, with the error name Step Functions reports.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct EvalError {
    /// The error name (`States.Runtime`, `States.IntrinsicFailure`, ...).
    pub error: String,
    /// The cause, without the state's name (the engine adds it).
    pub cause: String,
}

/// InputPath / OutputPath / ItemsPath: `None` is the whole input, `null` gives
/// `{}`, a string is a path (`$...`, `$$...`, `$var...`). A definite path that
/// selects nothing is `States.Runtime`; an indefinite one gives an array, maybe
/// empty.
pub fn select(path: Option<&Value>, scope: &Scope) -> Result<Value, EvalError> {
    template::select(path, scope)
}

/// Parameters / ResultSelector / ItemSelector: `"key.$"` fields take a path
/// or an intrinsic call's value and lose the suffix, recursively; the rest is
/// literal.
pub fn template(t: &Value, scope: &Scope) -> Result<Value, EvalError> {
    template::template(t, scope)
}

/// ResultPath: `None` (AWS's default `$`) makes the result the output, `null`
/// keeps the input, `$.a.b` puts the result there in a copy of the input
/// (making objects as needed); otherwise `States.ResultPathMatchFailure`.
pub fn place_result(
    input: &Value,
    result_path: Option<&Value>,
    result: Value,
) -> Result<Value, EvalError> {
    template::place_result(input, result_path, result)
}

/// One JSONPath-mode Choice rule (without looking at its `Next`).
pub fn choice(rule: &Value, scope: &Scope) -> Result<bool, EvalError> {
    choice::evaluate(rule, scope)
}

/// ErrorPath, CausePath, SecondsPath, TimestampPath, ...: a path or an
/// intrinsic call.
pub fn path_value(path: &str, scope: &Scope) -> Result<Value, EvalError> {
    template::path_value(path, scope)
}

/// JSONPath-mode Assign: each value evaluated as [`template()`](fn@template)
/// against the same scope (so no assignment sees another), giving the
/// variables to set. What `$` is here (the state's result, for most states) is
/// the engine's choice.
pub fn assign(assign: &Value, scope: &Scope) -> Result<Map<String, Value>, EvalError> {
    match template::template(assign, scope)? {
        Value::Object(vars) => Ok(vars),
        other => Err(EvalError {
            error: "States.Runtime".into(),
            cause: format!("Assign must be an object, not {other}"),
        }),
    }
}

/// What a JSONata expression sees: `$states` and the workflow variables.
pub struct States<'a> {
    /// `$states.input`.
    pub input: &'a Value,
    /// `$states.context`.
    pub context: &'a Value,
    /// `$states.result`: the task's or sub-workflow's result, where there is one.
    pub result: Option<&'a Value>,
    /// `$states.errorOutput`: the error, in a Catch.
    pub error_output: Option<&'a Value>,
    /// The workflow variables, each bound as `$name`.
    pub variables: &'a Map<String, Value>,
}

/// Any field in JSONata mode: each string that is entirely `{% expr %}`, at the
/// top or nested in objects and arrays, is replaced by the expression's value;
/// the rest is literal. Failures are `States.QueryEvaluationError`.
pub fn jsonata(value: &Value, states: &States) -> Result<Value, EvalError> {
    jsonata::evaluate_value("", value, states)
}

/// As [`jsonata()`], with the state's field (`Output`, `Arguments`, `Items`, ...)
/// named in error causes the way Step Functions names it
/// (`... specified for the field 'Arguments/Payload/id' returned nothing`).
pub fn jsonata_field(field: &str, value: &Value, states: &States) -> Result<Value, EvalError> {
    jsonata::evaluate_value(field, value, states)
}

/// A JSONata Choice rule's `Condition`: must evaluate to a boolean.
pub fn jsonata_condition(value: &Value, states: &States) -> Result<bool, EvalError> {
    jsonata::condition(value, states)
}

/// JSONata-mode Assign: every value evaluated against the same `$states`.
pub fn jsonata_assign(assign: &Value, states: &States) -> Result<Map<String, Value>, EvalError> {
    match jsonata::evaluate_value("Assign", assign, states)? {
        Value::Object(vars) => Ok(vars),
        other => Err(EvalError {
            error: "States.QueryEvaluationError".into(),
            cause: format!("Assign must evaluate to an object, not {other}"),
        }),
    }
}

/// A Path: `$...` (filters, wildcards, slices, `..`, functions allowed),
/// `$$...` or `$var...`.
pub fn check_path(s: &str) -> Result<(), String> {
    path::Path::parse(s).map(|_| ())
}

/// A Reference Path (ResultPath and the like): only `.name`, `['name']` and
/// `[n]` steps.
pub fn check_reference_path(s: &str) -> Result<(), String> {
    if path::Path::parse(s)?.is_reference() {
        Ok(())
    } else {
        Err(format!(
            "'{s}' is not a reference path: only .name, ['name'] and [index] steps are allowed (no *, .., filters, slices, unions or functions)"
        ))
    }
}

/// An intrinsic call: a known function, the right number of arguments, each of
/// which parses; balanced; at most 10 deep.
pub fn check_intrinsic(s: &str) -> Result<(), String> {
    intrinsics::parse(s).map(|_| ())
}

/// A payload template; the error's first part is a JSON pointer into `v`
/// (`/Payload/id.$`).
pub fn check_template(v: &Value) -> Result<(), (String, String)> {
    template::check_template(v)
}

/// A JSONPath-mode Choice rule: exactly one operator besides `Variable`,
/// `Next`, `Comment` and `Assign`, operands of the right type, nested `And` /
/// `Or` / `Not` rules (without `Next`). The error's location is a JSON pointer.
pub fn check_choice_rule(v: &Value) -> Result<(), (String, String)> {
    choice::check(v)
}

/// A whole `{% ... %}` string: delimiters, and that the expression parses.
pub fn check_jsonata(s: &str) -> Result<(), String> {
    jsonata::check(s)
}

#[cfg(test)]
mod tests;
