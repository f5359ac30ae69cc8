//! JSONata states: `"{% expression %}"` strings, evaluated with `jsonata-rs`
//! (Stedi's implementation, 0.3) and Step Functions' additions.
//!
//! An expression sees `$states` (`input`, `context`, and `result` /
//! `errorOutput` where the field has them) and every workflow variable as
//! `$name`. A string is an expression only when it is entirely `{% ... %}`, as
//! Step Functions requires; `{% %}` strings nested in objects and arrays are
//! evaluated in place and everything else is copied as written.
//!
//! Step Functions' functions are added: `$partition(array, size)`,
//! `$range(start, end, step)` (at most 1000 items, like States.ArrayRange),
//! `$hash(string, algorithm)`, `$random([seed])`, `$uuid()` and `$parse(json)`.
//!
//! What `jsonata-rs` 0.3.4 lacks, so gust lacks too (Step Functions has all of
//! JSONata 2.0.6 but `$eval`): the functions `$average`, `$type`, `$spread`,
//! `$sift`, `$shuffle`, `$formatNumber`, `$formatBase`, `$formatInteger`,
//! `$parseInteger`, `$encodeUrl`, `$encodeUrlComponent`, `$decodeUrl`,
//! `$decodeUrlComponent` and `$clone` (calling one is "Attempted to invoke a
//! non-function"); the parent operator `%`; partial application
//! (`$f(?, 1)`); function signatures (`<n-n:n>`). Also, `$keys` lists an
//! object's keys in no particular order, and numbers are binary64 throughout
//! (as in JavaScript). Expressions are stopped past [`MAX_DEPTH`] nested
//! evaluations or [`TIME_LIMIT_MS`] (`U1001`), and rejected past
//! [`MAX_NESTING`] brackets; each runs on a thread of its own with a large
//! stack, where a panic of the library becomes an error. So a runaway
//! expression cannot take the engine down.
//!
//! # Layout
//! - [`evaluate_value`] (objects, arrays, strings) and [`condition`].
//! - [`check`]: the create-time check of one `{% %}` string.
//! - [`prepare`]: renames that keep variables and `$random` from being
//!   shadowed by the crate's built-ins.
//! - The added functions, `fn_*`.

use bumpalo::Bump;
use jsonata_rs::{ArrayFlags, Error as JError, FunctionContext, JsonAta, Value as JValue};
use serde_json::{Map, Value};

use super::{intrinsics, EvalError, States};

/// Deepest nesting of evaluations before `U1001` (a runaway recursion).
pub const MAX_DEPTH: usize = 1000;
/// The stack an expression is evaluated on: `jsonata-rs` recurses, about
/// 10 KiB a level in a debug build, and a tokio worker has only 2 MiB.
const STACK_BYTES: usize = 64 << 20;
/// Longest an expression may run, in milliseconds.
pub const TIME_LIMIT_MS: usize = 10_000;
/// Deepest bracket nesting an expression may be written with.
pub const MAX_NESTING: usize = 100;
/// Most items `$range` makes.
const MAX_RANGE: usize = 1000;

/// The built-ins `jsonata-rs` binds after the caller's bindings (so they would
/// hide a workflow variable of the same name).
const BUILTINS: &[&str] = &[
    "abs",
    "append",
    "assert",
    "base64decode",
    "base64encode",
    "boolean",
    "ceil",
    "contains",
    "count",
    "distinct",
    "each",
    "error",
    "exists",
    "fromMillis",
    "toMillis",
    "single",
    "filter",
    "floor",
    "join",
    "keys",
    "length",
    "lookup",
    "lowercase",
    "map",
    "match",
    "max",
    "merge",
    "min",
    "not",
    "now",
    "number",
    "pad",
    "power",
    "random",
    "reduce",
    "replace",
    "reverse",
    "round",
    "sort",
    "split",
    "sqrt",
    "string",
    "substring",
    "substringBefore",
    "substringAfter",
    "sum",
    "trim",
    "uppercase",
    "zip",
    "millis",
    "uuid",
];

fn query_error(cause: String) -> EvalError {
    EvalError {
        error: "States.QueryEvaluationError".into(),
        cause,
    }
}

/// The expression inside a `{% ... %}` string, or `None` for a literal.
pub fn expression(s: &str) -> Option<&str> {
    s.strip_prefix("{%")?.strip_suffix("%}")
}

/// Evaluates every `{% %}` string in `value`; `field` names where `value` sits
/// in the state (`Output`, `Arguments`, ...) for messages, and may be empty.
pub fn evaluate_value(field: &str, value: &Value, states: &States) -> Result<Value, EvalError> {
    match value {
        Value::String(s) => match expression(s) {
            Some(expr) => evaluate(field, expr, states),
            None => Ok(value.clone()),
        },
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(k.clone(), evaluate_value(&join(field, k), v, states)?);
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => {
            let out = items
                .iter()
                .enumerate()
                .map(|(i, v)| evaluate_value(&join(field, &i.to_string()), v, states));
            out.collect::<Result<_, _>>().map(Value::Array)
        }
        other => Ok(other.clone()),
    }
}

fn join(field: &str, key: &str) -> String {
    if field.is_empty() {
        key.to_string()
    } else {
        format!("{field}/{key}")
    }
}

/// A Choice `Condition`: must give a boolean.
pub fn condition(value: &Value, states: &States) -> Result<bool, EvalError> {
    let Some(expr) = value.as_str().and_then(expression) else {
        return match value {
            Value::Bool(b) => Ok(*b),
            other => Err(query_error(format!(
                "The field 'Condition' must be a JSONata expression or a boolean, not {other}"
            ))),
        };
    };
    let expr = expr.trim();
    match evaluate("Condition", expr, states)? {
        Value::Bool(b) => Ok(b),
        other => Err(query_error(format!(
            "The JSONata expression '{expr}' specified for the field 'Condition' returned an unexpected result type. Expected 'boolean', but was '{}' for value: {other}",
            super::path::type_name(&other)
        ))),
    }
}

/// Checks one `{% ... %}` string: delimiters, nesting, and that it parses.
pub fn check(s: &str) -> Result<(), String> {
    let Some(expr) = expression(s) else {
        return Err(format!(
            "a JSONata expression is written as the whole string '{{% ... %}}', not '{s}'"
        ));
    };
    if expr.trim().is_empty() {
        return Err("the JSONata expression is empty".into());
    }
    check_nesting(expr)?;
    let arena = Bump::new();
    JsonAta::new(expr, &arena)
        .map(|_| ())
        .map_err(|e| format!("the JSONata expression '{expr}' does not parse: {e}"))
}

fn check_nesting(expr: &str) -> Result<(), String> {
    let mut depth = 0usize;
    for ch in expr.chars() {
        match ch {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > MAX_NESTING {
            return Err(format!(
                "the JSONata expression nests brackets more than {MAX_NESTING} deep"
            ));
        }
    }
    Ok(())
}

/// Evaluates one expression (the text between `{%` and `%}`).
fn evaluate(field: &str, source: &str, states: &States) -> Result<Value, EvalError> {
    let expr = source.trim();
    let run = || evaluate_here(field, expr, states);
    std::thread::scope(|scope| {
        let Ok(handle) = std::thread::Builder::new()
            .name("jsonata".into())
            .stack_size(STACK_BYTES)
            .spawn_scoped(scope, run)
        else {
            return Err(query_error(
                "could not start a thread to evaluate a JSONata expression".into(),
            ));
        };
        handle.join().unwrap_or_else(|_| {
            Err(query_error(format!(
                "The JSONata expression '{expr}' made the JSONata library panic (a bug in it)."
            )))
        })
    })
}

/// [`evaluate`], on the current thread's stack.
fn evaluate_here(field: &str, expr: &str, states: &States) -> Result<Value, EvalError> {
    let at = if field.is_empty() {
        String::new()
    } else {
        format!(" specified for the field '{field}'")
    };
    let failed = |e: String| {
        query_error(format!(
            "The JSONata expression '{expr}'{at} threw an error during evaluation. {e}"
        ))
    };
    check_nesting(expr).map_err(&failed)?;
    let (source, names) = prepare(expr, states.variables);
    let arena = Bump::new();
    let jsonata = JsonAta::new(&source, &arena).map_err(|e| failed(e.to_string()))?;
    let mut root = Map::new();
    root.insert("input".into(), states.input.clone());
    root.insert("context".into(), states.context.clone());
    if let Some(r) = states.result {
        root.insert("result".into(), r.clone());
    }
    if let Some(e) = states.error_output {
        root.insert("errorOutput".into(), e.clone());
    }
    jsonata.assign_var("states", to_jsonata(&arena, &Value::Object(root)));
    for (name, value) in states.variables {
        let bound = names
            .iter()
            .find(|(from, _)| from == name)
            .map(|(_, to)| to.as_str())
            .unwrap_or(name);
        jsonata.assign_var(bound, to_jsonata(&arena, value));
    }
    jsonata.register_function("partition", 2, fn_partition);
    jsonata.register_function("range", 3, fn_range);
    jsonata.register_function("hash", 2, fn_hash);
    jsonata.register_function("__sfn_random", 1, fn_random);
    jsonata.register_function("parse", 1, fn_parse);
    let result = jsonata
        .evaluate_timeboxed(None, Some(MAX_DEPTH), Some(TIME_LIMIT_MS))
        .map_err(|e| failed(e.to_string()))?;
    if result.is_function() {
        return Err(query_error(format!(
            "The JSONata expression '{expr}'{at} returned a function, which is not JSON."
        )));
    }
    match from_jsonata(result).map_err(&failed)? {
        Some(v) => Ok(v),
        None => Err(query_error(format!(
            "The JSONata expression '{expr}'{at} returned nothing (undefined)."
        ))),
    }
}

/// Rewrites `expr` so that nothing the crate binds after the caller hides what
/// Step Functions means: `$random` becomes the seedable one, and a variable
/// named like a built-in (`$count`) is bound under another name. Returns the
/// source and the variable renames.
pub fn prepare(expr: &str, variables: &Map<String, Value>) -> (String, Vec<(String, String)>) {
    let mut renames: Vec<(String, String)> = BUILTINS
        .iter()
        .filter(|b| variables.contains_key(**b))
        .map(|b| (b.to_string(), format!("__var_{b}")))
        .collect();
    if !variables.contains_key("random") {
        renames.push(("random".into(), "__sfn_random".into()));
    }
    if renames.is_empty() {
        return (expr.to_string(), renames);
    }
    let chars: Vec<char> = expr.chars().collect();
    let mut out = String::with_capacity(expr.len());
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        match ch {
            '\'' | '"' | '`' => {
                out.push(ch);
                i += 1;
                while i < chars.len() && chars[i] != ch {
                    if chars[i] == '\\' && ch != '`' && i + 1 < chars.len() {
                        out.push(chars[i]);
                        i += 1;
                    }
                    out.push(chars[i]);
                    i += 1;
                }
                if i < chars.len() {
                    out.push(chars[i]);
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    out.push(chars[i]);
                    i += 1;
                }
                out.push_str("*/");
                i += 2;
                continue;
            }
            '$' => {
                let start = i + 1;
                let mut end = start;
                while end < chars.len() && (chars[end].is_alphanumeric() || chars[end] == '_') {
                    end += 1;
                }
                let name: String = chars[start..end].iter().collect();
                let renamed = renames
                    .iter()
                    .find(|(from, _)| *from == name)
                    .map(|(_, to)| to.clone());
                out.push('$');
                out.push_str(&renamed.unwrap_or(name));
                i = end;
                continue;
            }
            _ => out.push(ch),
        }
        i += 1;
    }
    let variable_renames = renames
        .into_iter()
        .filter(|(from, _)| variables.contains_key(from))
        .collect();
    (out, variable_renames)
}

/// serde_json → jsonata-rs, in `arena`.
fn to_jsonata<'a>(arena: &'a Bump, v: &Value) -> &'a JValue<'a> {
    match v {
        Value::Null => JValue::null(arena),
        Value::Bool(b) => JValue::bool(*b),
        Value::Number(n) => JValue::number(arena, n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => JValue::string(arena, s),
        Value::Array(items) => {
            let array = JValue::array_with_capacity(arena, items.len(), ArrayFlags::empty());
            for item in items {
                array.push(to_jsonata(arena, item));
            }
            array
        }
        Value::Object(map) => {
            let object = JValue::object_with_capacity(arena, map.len());
            for (k, item) in map {
                object.insert(k, to_jsonata(arena, item));
            }
            object
        }
    }
}

/// jsonata-rs → serde_json, as `JSON.stringify` would write it: undefined and
/// functions are dropped from objects and become `null` in arrays; `None` for
/// an undefined (or function) value. Not via the crate's own serializer, which
/// mangles exponents (`1.5e300` comes out as `1.5e3`).
fn from_jsonata<'a>(v: &'a JValue<'a>) -> Result<Option<Value>, String> {
    Ok(Some(match v {
        JValue::Null => Value::Null,
        JValue::Bool(b) => Value::Bool(*b),
        JValue::Number(n) => {
            if !n.is_finite() {
                return Err(format!("D1001: Number out of range: {n}"));
            }
            if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
                Value::from(*n as i64)
            } else {
                serde_json::Number::from_f64(*n)
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            }
        }
        JValue::String(s) => Value::String(s.to_string()),
        JValue::Array(..) | JValue::Range(..) => {
            let mut items = Vec::with_capacity(v.len());
            for m in v.members() {
                items.push(from_jsonata(m)?.unwrap_or(Value::Null));
            }
            Value::Array(items)
        }
        JValue::Object(map) => {
            let mut out = Map::new();
            for (k, m) in map.iter() {
                if let Some(m) = from_jsonata(m)? {
                    out.insert(k.to_string(), m);
                }
            }
            Value::Object(out)
        }
        _ => return Ok(None),
    }))
}

type JResult<'a> = jsonata_rs::Result<&'a JValue<'a>>;

fn arg<'a>(args: &[&'a JValue<'a>], i: usize) -> &'a JValue<'a> {
    args.get(i).copied().unwrap_or_else(JValue::undefined)
}

fn bad_arg(ctx: &FunctionContext, i: usize) -> JError {
    JError::T0410ArgumentNotValid(ctx.char_index, i, ctx.name.to_string())
}

/// `$partition(array, size)`: chunks of `size` items, the last maybe shorter.
fn fn_partition<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let (array, size) = (arg(args, 0), arg(args, 1));
    if !array.is_array() {
        return Err(bad_arg(&ctx, 1));
    }
    if !size.is_integer() || size.as_f64() < 1.0 {
        return Err(bad_arg(&ctx, 2));
    }
    let items: Vec<&JValue> = array.members().collect();
    let out = JValue::array_with_capacity(
        ctx.arena,
        items.len().div_ceil(size.as_usize()),
        ArrayFlags::empty(),
    );
    for chunk in items.chunks(size.as_usize()) {
        let part = JValue::array_with_capacity(ctx.arena, chunk.len(), ArrayFlags::empty());
        for item in chunk {
            part.push(item);
        }
        out.push(part);
    }
    Ok(out)
}

/// `$range(start, end, step)`: start, start+step, ... up to and including end.
fn fn_range<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    for i in 0..3 {
        if !arg(args, i).is_number() {
            return Err(bad_arg(&ctx, i + 1));
        }
    }
    let (start, end, step) = (
        arg(args, 0).as_f64(),
        arg(args, 1).as_f64(),
        arg(args, 2).as_f64(),
    );
    if step == 0.0 {
        return Err(JError::D3137Error("$range: the step must not be 0".into()));
    }
    let count = if (step > 0.0 && start > end) || (step < 0.0 && start < end) {
        0.0
    } else {
        ((end - start) / step).floor() + 1.0
    };
    if count > MAX_RANGE as f64 {
        return Err(JError::D3137Error(format!(
            "$range: the range has {count} items; at most {MAX_RANGE} are allowed"
        )));
    }
    let out = JValue::array_with_capacity(ctx.arena, count as usize, ArrayFlags::empty());
    for i in 0..count as usize {
        out.push(JValue::number(ctx.arena, start + i as f64 * step));
    }
    Ok(out)
}

/// `$hash(string, algorithm)`: as States.Hash.
fn fn_hash<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let (data, algorithm) = (arg(args, 0), arg(args, 1));
    if !data.is_string() {
        return Err(bad_arg(&ctx, 1));
    }
    if !algorithm.is_string() {
        return Err(bad_arg(&ctx, 2));
    }
    let digest = intrinsics::hash(&data.as_str(), &algorithm.as_str())
        .map_err(|m| JError::D3137Error(format!("$hash: {m}")))?;
    Ok(JValue::string(ctx.arena, &digest))
}

/// `$random([seed])`: a number in [0, 1); the same seed gives the same number.
fn fn_random<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let seed = arg(args, 0);
    let bits = if seed.is_undefined() {
        u64::from_le_bytes(
            uuid::Uuid::new_v4().as_bytes()[..8]
                .try_into()
                .expect("8 bytes"),
        )
    } else if seed.is_number() {
        intrinsics::splitmix64(seed.as_f64() as i64 as u64)
    } else {
        return Err(bad_arg(&ctx, 1));
    };
    Ok(JValue::number(
        ctx.arena,
        (bits >> 11) as f64 / (1u64 << 53) as f64,
    ))
}

/// `$parse(json)`: a JSON string's value (Step Functions' stand-in for `$eval`).
fn fn_parse<'a>(ctx: FunctionContext<'a, '_>, args: &[&'a JValue<'a>]) -> JResult<'a> {
    let text = arg(args, 0);
    if !text.is_string() {
        return Err(bad_arg(&ctx, 1));
    }
    let value: Value = serde_json::from_str(&text.as_str())
        .map_err(|e| JError::D3137Error(format!("$parse: not JSON: {e}")))?;
    Ok(to_jsonata(ctx.arena, &value))
}

#[cfg(test)]
mod tests;
