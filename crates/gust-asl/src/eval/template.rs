//! Payload templates (Parameters, ResultSelector, ItemSelector, JSONPath Assign)
//! and the JSONPath-mode input/output fields (InputPath, ResultPath,
//! OutputPath, ItemsPath, `...Path` fields).
//!
//! In a template, a key ending in `.$` takes its value from a path (`$.x`,
//! `$$.x`, `$var`) or an intrinsic call, and loses the suffix; everything else
//! is copied as written, recursively through objects and arrays.
//!
//! # Layout
//! - [`template`] and [`check_template`].
//! - [`select`] (InputPath, OutputPath, ItemsPath), [`path_value`] (`...Path`).
//! - [`place_result`] (ResultPath).

use serde_json::{Map, Value};

use super::intrinsics::{self, Failure};
use super::path::{self, Miss, Path, Root, Step};
use super::{EvalError, Scope};

const RUNTIME: &str = "States.Runtime";
const INTRINSIC: &str = "States.IntrinsicFailure";
const RESULT_PATH: &str = "States.ResultPathMatchFailure";

fn fail(error: &str, cause: String) -> EvalError {
    EvalError {
        error: error.to_string(),
        cause,
    }
}

/// Evaluates a payload template against `scope`.
pub fn template(t: &Value, scope: &Scope) -> Result<Value, EvalError> {
    match t {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                match key.strip_suffix(".$").filter(|k| !k.is_empty()) {
                    Some(name) => {
                        let Value::String(expr) = value else {
                            return Err(fail(RUNTIME, format!("The value of the field '{key}' must be a path or an intrinsic function (a string), not {value}")));
                        };
                        out.insert(name.to_string(), field(key, expr, scope)?);
                    }
                    None => {
                        out.insert(key.clone(), template(value, scope)?);
                    }
                }
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => items
            .iter()
            .map(|v| template(v, scope))
            .collect::<Result<_, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

/// One `"key.$": "expr"` field.
fn field(key: &str, expr: &str, scope: &Scope) -> Result<Value, EvalError> {
    let missing = |path: &str, miss: Miss| {
        let cause = match (&miss, path.starts_with("$$")) {
            (Miss::UnknownVariable(_), _) => {
                format!("The JSONPath '{path}' specified for the field '{key}' could not be found: {miss}")
            }
            (_, true) => format!(
                "The JSONPath '{path}' specified for the field '{key}' could not be found in the context object '{}'",
                scope.context
            ),
            _ => format!(
                "The JSONPath '{path}' specified for the field '{key}' could not be found in the input '{}'",
                scope.input
            ),
        };
        fail(RUNTIME, cause)
    };
    if intrinsics::is_call(expr) {
        let call = intrinsics::parse(expr).map_err(|m| {
            fail(
                INTRINSIC,
                format!("The value of the field '{key}' is not a valid intrinsic function: {m}"),
            )
        })?;
        return intrinsics::evaluate(&call, scope).map_err(|f| match f {
            Failure::Missing { path, miss } => missing(&path, miss),
            Failure::Invalid(m) => fail(
                INTRINSIC,
                format!("Invalid arguments in the field '{key}': {m}"),
            ),
        });
    }
    let path = Path::parse(expr).map_err(|m| {
        fail(
            RUNTIME,
            format!("The value of the field '{key}' is not a valid JSONPath: {m}"),
        )
    })?;
    path::resolve(&path, scope).map_err(|miss| missing(expr, miss))
}

/// Checks a template's syntax: every `.$` field holds a valid path or
/// intrinsic call, and no output key is given twice. The location is a JSON
/// pointer into `v` (`/Payload/id.$`).
pub fn check_template(v: &Value) -> Result<(), (String, String)> {
    check_at(v, "")
}

fn check_at(v: &Value, at: &str) -> Result<(), (String, String)> {
    match v {
        Value::Object(map) => {
            for (key, value) in map {
                let here = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                match key.strip_suffix(".$").filter(|k| !k.is_empty()) {
                    Some(name) => {
                        if map.contains_key(name) {
                            return Err((
                                here,
                                format!(
                                    "the field '{name}' is given twice, as '{name}' and '{key}'"
                                ),
                            ));
                        }
                        let Value::String(expr) = value else {
                            return Err((here, format!("the value of '{key}' must be a string holding a path or an intrinsic function")));
                        };
                        let checked = if intrinsics::is_call(expr) {
                            intrinsics::parse(expr).map(|_| ())
                        } else {
                            Path::parse(expr).map(|_| ())
                        };
                        checked.map_err(|m| (here, m))?;
                    }
                    None => check_at(value, &here)?,
                }
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| check_at(item, &format!("{at}/{i}"))),
        _ => Ok(()),
    }
}

/// InputPath / OutputPath / ItemsPath: `None` is the whole input, `null` is
/// `{}`, a string is a path.
pub fn select(path: Option<&Value>, scope: &Scope) -> Result<Value, EvalError> {
    match path {
        None => Ok(scope.input.clone()),
        Some(Value::Null) => Ok(Value::Object(Map::new())),
        Some(Value::String(p)) => path_only(p, scope),
        Some(other) => Err(fail(
            RUNTIME,
            format!("Invalid path '{other}' : a path must be a string"),
        )),
    }
}

fn path_only(p: &str, scope: &Scope) -> Result<Value, EvalError> {
    let path = Path::parse(p).map_err(|m| fail(RUNTIME, format!("Invalid path '{p}' : {m}")))?;
    path::resolve(&path, scope)
        .map_err(|miss| fail(RUNTIME, format!("Invalid path '{p}' : {miss}")))
}

/// A `...Path` field (ErrorPath, SecondsPath, ...): a path or an intrinsic call.
pub fn path_value(p: &str, scope: &Scope) -> Result<Value, EvalError> {
    if !intrinsics::is_call(p) {
        return path_only(p, scope);
    }
    let call = intrinsics::parse(p)
        .map_err(|m| fail(INTRINSIC, format!("Invalid intrinsic function '{p}': {m}")))?;
    intrinsics::evaluate(&call, scope).map_err(|f| match f {
        Failure::Missing { path, miss } => fail(RUNTIME, format!("Invalid path '{path}' : {miss}")),
        Failure::Invalid(m) => fail(INTRINSIC, m),
    })
}

/// ResultPath: `None` (`$`) makes the result the output, `null` keeps the input,
/// a reference path puts the result into (a copy of) the input there, making
/// objects on the way as needed.
pub fn place_result(
    input: &Value,
    result_path: Option<&Value>,
    result: Value,
) -> Result<Value, EvalError> {
    let text = match result_path {
        None => return Ok(result),
        Some(Value::Null) => return Ok(input.clone()),
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(fail(
                RESULT_PATH,
                format!("Invalid ResultPath {other}: a reference path must be a string"),
            ))
        }
    };
    let unable = |why: String| {
        fail(
            RESULT_PATH,
            format!("Unable to apply ResultPath '{text}' to input '{input}': {why}"),
        )
    };
    let path = Path::parse(text).map_err(&unable)?;
    if path.root != Root::Input || !path.is_reference() {
        return Err(unable(
            "ResultPath must be a reference path into the state input ($.a.b, $['a'][0])".into(),
        ));
    }
    let mut output = input.clone();
    let mut node = &mut output;
    for (i, step) in path.steps.iter().enumerate() {
        let last = i + 1 == path.steps.len();
        node = match step {
            Step::Child(path::Selector::Name(name)) => {
                let Value::Object(map) = node else {
                    return Err(unable(format!(
                        "'{name}' can only be set on an object, not on {}",
                        path::type_name(node)
                    )));
                };
                if last {
                    map.insert(name.clone(), result);
                    return Ok(output);
                }
                map.entry(name.clone())
                    .or_insert_with(|| Value::Object(Map::new()))
            }
            Step::Child(path::Selector::Index(index)) => {
                let Value::Array(items) = node else {
                    return Err(unable(format!(
                        "[{index}] can only be set in an array, not in {}",
                        path::type_name(node)
                    )));
                };
                let len = items.len();
                let at = usize::try_from(if *index < 0 {
                    len as i64 + index
                } else {
                    *index
                })
                .ok()
                .filter(|i| *i < len);
                let Some(at) = at else {
                    return Err(unable(format!(
                        "[{index}] is out of bounds for an array of {len} item(s)"
                    )));
                };
                if last {
                    items[at] = result;
                    return Ok(output);
                }
                &mut items[at]
            }
            _ => unreachable!("is_reference allows only names and indices"),
        };
    }
    Ok(result)
}

#[cfg(test)]
mod tests;
