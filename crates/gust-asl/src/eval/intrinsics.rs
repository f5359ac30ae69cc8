//! The intrinsic functions (`States.Format(...)`, `States.Array(...)`, ...) that
//! JSONPath-mode payload templates and `...Path` fields may call.
//!
//! Arguments are string literals in single quotes (`\'`, `\{`, `\}` and `\\`
//! escape; any other backslash is an error), numbers, `true`, `false`, `null`,
//! paths (`$.x`, `$$.x`, `$var`) and nested calls, at most 10 deep. Non-integer
//! numbers given where an integer is required are rounded as Java's
//! `Math.round` does, as Step Functions documents.
//!
//! # Layout
//! - [`Call`] / [`Arg`]: a parsed invocation; [`parse`] is also the create-time
//!   check (known name, argument count, balanced, arguments parse).
//! - [`evaluate`]: runs one against a [`Scope`]; [`Failure`] says why not.
//! - The functions themselves, one small `fn` each, below `evaluate`.

use base64::Engine as _;
use serde_json::{Map, Value};

use super::cursor::Cursor;
use super::filter::json_eq;
use super::path::{self, Miss, Path};
use super::Scope;

/// How deep calls may nest (Step Functions: "up to 10 intrinsic functions").
const MAX_DEPTH: usize = 10;
/// The longest string Base64Encode, Base64Decode and Hash accept.
const MAX_CHARS: usize = 10_000;
/// The most items ArrayRange may produce.
const MAX_RANGE: usize = 1000;

/// The functions, with their (min, max) argument counts.
const FUNCTIONS: &[(&str, usize, usize)] = &[
    ("States.Format", 1, usize::MAX),
    ("States.StringToJson", 1, 1),
    ("States.JsonToString", 1, 1),
    ("States.Array", 0, usize::MAX),
    ("States.ArrayPartition", 2, 2),
    ("States.ArrayContains", 2, 2),
    ("States.ArrayRange", 3, 3),
    ("States.ArrayGetItem", 2, 2),
    ("States.ArrayLength", 1, 1),
    ("States.ArrayUnique", 1, 1),
    ("States.Base64Encode", 1, 1),
    ("States.Base64Decode", 1, 1),
    ("States.Hash", 2, 2),
    ("States.JsonMerge", 3, 3),
    ("States.MathRandom", 2, 3),
    ("States.MathAdd", 2, 2),
    ("States.StringSplit", 2, 2),
    ("States.UUID", 0, 0),
];

/// One intrinsic invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// `States.Format`, ...
    pub name: &'static str,
    /// Its arguments, in order.
    pub args: Vec<Arg>,
}

/// One argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// `'...'`, unescaped; `placeholders` are the byte offsets of the `{}` that
    /// were not written escaped (what States.Format replaces).
    Str {
        value: String,
        placeholders: Vec<usize>,
    },
    /// A number, `true`, `false` or `null`.
    Literal(Value),
    /// `$...`, `$$...`, `$var...`.
    Path(Path),
    /// A nested call.
    Call(Call),
}

/// Why an invocation failed.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// A path argument selected nothing (`States.Runtime`).
    Missing { path: String, miss: Miss },
    /// Anything else (`States.IntrinsicFailure`), with the cause.
    Invalid(String),
}

/// Whether `s` looks like an invocation (rather than a path).
pub fn is_call(s: &str) -> bool {
    s.trim_start().starts_with("States.")
}

/// Parses a whole invocation.
pub fn parse(s: &str) -> Result<Call, String> {
    let mut c = Cursor::new(s);
    c.skip_ws();
    let call = parse_call(&mut c, 1)?;
    c.skip_ws();
    if !c.done() {
        return Err(format!(
            "unexpected '{}' after the closing ')' in '{s}'",
            c.peek_char()
        ));
    }
    Ok(call)
}

fn parse_call(c: &mut Cursor, depth: usize) -> Result<Call, String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "intrinsic functions nest at most {MAX_DEPTH} deep: '{}'",
            c.text
        ));
    }
    let name = c.take_while(|ch| ch.is_ascii_alphanumeric() || ch == '.');
    let Some(&(name, min, max)) = FUNCTIONS.iter().find(|(n, ..)| *n == name) else {
        return Err(format!("'{name}' is not an intrinsic function"));
    };
    c.skip_ws();
    c.expect('(')?;
    let mut args = Vec::new();
    c.skip_ws();
    if !c.eat(')') {
        loop {
            c.skip_ws();
            args.push(parse_arg(c, depth)?);
            c.skip_ws();
            if c.eat(')') {
                break;
            }
            if !c.eat(',') {
                return Err(format!(
                    "expected ',' or ')' at position {} of '{}'",
                    c.pos, c.text
                ));
            }
        }
    }
    if args.len() < min || args.len() > max {
        let want = match (min, max) {
            (n, m) if n == m => format!("{n}"),
            (n, usize::MAX) => format!("at least {n}"),
            (n, m) => format!("{n} to {m}"),
        };
        return Err(format!(
            "{name} takes {want} argument(s), not {}",
            args.len()
        ));
    }
    Ok(Call { name, args })
}

fn parse_arg(c: &mut Cursor, depth: usize) -> Result<Arg, String> {
    match c.peek() {
        Some('\'') => parse_string(c),
        Some('$') => {
            let start = c.pos;
            let (mut depth_b, mut quote) = (0usize, None);
            while let Some(ch) = c.peek() {
                match (quote, ch) {
                    (Some(_), '\\') => {
                        c.bump();
                    }
                    (Some(q), ch) if ch == q => quote = None,
                    (Some(_), _) => {}
                    (None, '\'' | '"') => quote = Some(ch),
                    (None, '[' | '(') => depth_b += 1,
                    (None, ']' | ')') if depth_b > 0 => depth_b -= 1,
                    (None, ',' | ')') => break,
                    (None, ch) if ch.is_whitespace() && depth_b == 0 => break,
                    _ => {}
                }
                c.bump();
            }
            Ok(Arg::Path(Path::parse(&c.text[start..c.pos])?))
        }
        Some('S') => Ok(Arg::Call(parse_call(c, depth + 1)?)),
        _ => {
            let word =
                c.take_while(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '+' | '.'));
            match word.as_str() {
                "true" => Ok(Arg::Literal(Value::Bool(true))),
                "false" => Ok(Arg::Literal(Value::Bool(false))),
                "null" => Ok(Arg::Literal(Value::Null)),
                _ => serde_json::from_str::<serde_json::Number>(&word).map(|n| Arg::Literal(Value::Number(n))).map_err(|_| {
                    format!(
                        "expected an argument ('string', number, true, false, null, path or States.*) at position {} of '{}'",
                        c.pos - word.len(),
                        c.text
                    )
                }),
            }
        }
    }
}

fn parse_string(c: &mut Cursor) -> Result<Arg, String> {
    c.expect('\'')?;
    let (mut value, mut placeholders) = (String::new(), Vec::new());
    loop {
        match c.bump() {
            None => return Err(format!("unterminated string in '{}'", c.text)),
            Some('\'') => {
                return Ok(Arg::Str {
                    value,
                    placeholders,
                })
            }
            Some('\\') => match c.bump() {
                Some(ch @ ('\'' | '{' | '}' | '\\')) => value.push(ch),
                _ => {
                    return Err(format!(
                        "an open escape backslash '\\' in '{}' (escape it as '\\\\')",
                        c.text
                    ))
                }
            },
            Some('{') if c.peek() == Some('}') => {
                c.bump();
                placeholders.push(value.len());
                value.push_str("{}");
            }
            Some(ch) => value.push(ch),
        }
    }
}

/// Runs `call` against `scope`.
pub fn evaluate(call: &Call, scope: &Scope) -> Result<Value, Failure> {
    if call.name == "States.Format" {
        return format(call, scope);
    }
    let args = call
        .args
        .iter()
        .map(|a| arg_value(a, scope))
        .collect::<Result<Vec<_>, _>>()?;
    let bad = |m: String| Failure::Invalid(format!("{}: {m}", call.name));
    match call.name {
        "States.StringToJson" => {
            let s = string(&args[0], "its argument").map_err(bad)?;
            serde_json::from_str(s).map_err(|e| bad(format!("the string is not JSON ({e}): {s}")))
        }
        "States.JsonToString" => Ok(Value::String(args[0].to_string())),
        "States.Array" => Ok(Value::Array(args)),
        "States.ArrayPartition" => partition(&args).map_err(bad),
        "States.ArrayContains" => Ok(Value::Bool(
            array(&args[0], "the first argument")
                .map_err(bad)?
                .iter()
                .any(|v| json_eq(v, &args[1])),
        )),
        "States.ArrayRange" => range(&args).map_err(bad),
        "States.ArrayGetItem" => {
            let items = array(&args[0], "the first argument").map_err(bad)?;
            let i = integer(&args[1], "the index").map_err(bad)?;
            usize::try_from(i)
                .ok()
                .and_then(|i| items.get(i))
                .cloned()
                .ok_or_else(|| {
                    bad(format!(
                        "the index {i} is out of bounds for an array of {} item(s)",
                        items.len()
                    ))
                })
        }
        "States.ArrayLength" => Ok(array(&args[0], "its argument").map_err(bad)?.len().into()),
        "States.ArrayUnique" => {
            let mut out: Vec<Value> = Vec::new();
            for v in array(&args[0], "its argument").map_err(bad)? {
                if !out.iter().any(|o| json_eq(o, v)) {
                    out.push(v.clone());
                }
            }
            Ok(Value::Array(out))
        }
        "States.Base64Encode" => {
            let s = limited(&args[0]).map_err(bad)?;
            Ok(Value::String(
                base64::engine::general_purpose::STANDARD.encode(s),
            ))
        }
        "States.Base64Decode" => {
            let s = limited(&args[0]).map_err(bad)?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| bad(format!("the argument is not Base64 ({e})")))?;
            String::from_utf8(bytes)
                .map(Value::String)
                .map_err(|_| bad("the decoded data is not UTF-8 text".into()))
        }
        "States.Hash" => {
            let data = limited(&args[0]).map_err(bad)?;
            let algorithm = string(&args[1], "the algorithm").map_err(bad)?;
            hash(data, algorithm).map(Value::String).map_err(bad)
        }
        "States.JsonMerge" => merge(&args).map_err(bad),
        "States.MathRandom" => math_random(&args).map_err(bad),
        "States.MathAdd" => {
            let (a, b) = (
                integer(&args[0], "the first argument").map_err(bad)?,
                integer(&args[1], "the second argument").map_err(bad)?,
            );
            a.checked_add(b)
                .map(Value::from)
                .ok_or_else(|| bad(format!("{a} + {b} overflows")))
        }
        "States.StringSplit" => {
            let s = string(&args[0], "the first argument").map_err(bad)?;
            let delimiters = string(&args[1], "the delimiter").map_err(bad)?;
            let parts = s
                .split(|ch| delimiters.contains(ch))
                .filter(|p| !p.is_empty());
            Ok(Value::Array(
                parts.map(|p| Value::String(p.to_string())).collect(),
            ))
        }
        "States.UUID" => Ok(Value::String(uuid::Uuid::new_v4().to_string())),
        other => unreachable!("{other} is in FUNCTIONS but not evaluated"),
    }
}

fn arg_value(arg: &Arg, scope: &Scope) -> Result<Value, Failure> {
    match arg {
        Arg::Str { value, .. } => Ok(Value::String(value.clone())),
        Arg::Literal(v) => Ok(v.clone()),
        Arg::Path(p) => path::resolve(p, scope).map_err(|miss| Failure::Missing {
            path: p.text.clone(),
            miss,
        }),
        Arg::Call(c) => evaluate(c, scope),
    }
}

fn format(call: &Call, scope: &Scope) -> Result<Value, Failure> {
    let (template, placeholders) = match &call.args[0] {
        Arg::Str {
            value,
            placeholders,
        } => (value.clone(), placeholders.clone()),
        other => match arg_value(other, scope)? {
            Value::String(s) => {
                let at = s.match_indices("{}").map(|(i, _)| i).collect();
                (s, at)
            }
            v => {
                return Err(Failure::Invalid(format!(
                    "States.Format: the template must be a string, not {v}"
                )))
            }
        },
    };
    let values = call.args[1..]
        .iter()
        .map(|a| arg_value(a, scope))
        .collect::<Result<Vec<_>, _>>()?;
    if values.len() != placeholders.len() {
        return Err(Failure::Invalid(format!(
            "States.Format: the template has {} placeholder(s) '{{}}' but {} value(s) were given",
            placeholders.len(),
            values.len()
        )));
    }
    let mut out = String::new();
    let mut last = 0;
    for (at, value) in placeholders.iter().zip(&values) {
        out.push_str(&template[last..*at]);
        out.push_str(&display(value));
        last = at + 2;
    }
    out.push_str(&template[last..]);
    Ok(Value::String(out))
}

/// How States.Format shows a value: strings bare, arrays and objects as Java's
/// collections print (`[a, 1]`, `{k=v}`), the rest as JSON.
fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(display).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => {
            format!(
                "{{{}}}",
                map.iter()
                    .map(|(k, v)| format!("{k}={}", display(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        other => other.to_string(),
    }
}

fn string<'v>(v: &'v Value, what: &str) -> Result<&'v str, String> {
    v.as_str()
        .ok_or_else(|| format!("{what} must be a string, not {}", path::type_name(v)))
}

fn limited(v: &Value) -> Result<&str, String> {
    let s = string(v, "the data")?;
    if s.chars().count() > MAX_CHARS {
        return Err(format!(
            "the data has {} characters; at most {MAX_CHARS} are allowed",
            s.chars().count()
        ));
    }
    Ok(s)
}

fn array<'v>(v: &'v Value, what: &str) -> Result<&'v Vec<Value>, String> {
    v.as_array()
        .ok_or_else(|| format!("{what} must be an array, not {}", path::type_name(v)))
}

/// A number as an integer, rounded half up as Java's `Math.round`.
fn integer(v: &Value, what: &str) -> Result<i64, String> {
    let Value::Number(n) = v else {
        return Err(format!(
            "{what} must be an integer, not {}",
            path::type_name(v)
        ));
    };
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    let r = (f + 0.5).floor();
    if !r.is_finite() || r.abs() > 9.0e15 {
        return Err(format!("{what} is out of range: {n}"));
    }
    Ok(r as i64)
}

fn partition(args: &[Value]) -> Result<Value, String> {
    let items = array(&args[0], "the first argument")?;
    let size = integer(&args[1], "the chunk size")?;
    if size <= 0 {
        return Err(format!(
            "the chunk size must be a positive integer, not {size}"
        ));
    }
    let chunks = items
        .chunks(size as usize)
        .map(|c| Value::Array(c.to_vec()));
    Ok(Value::Array(chunks.collect()))
}

fn range(args: &[Value]) -> Result<Value, String> {
    let first = integer(&args[0], "the first argument")?;
    let last = integer(&args[1], "the second argument")?;
    let step = integer(&args[2], "the step")?;
    if step == 0 {
        return Err("the step (third argument) must not be 0".into());
    }
    let count = if (step > 0 && first > last) || (step < 0 && first < last) {
        0
    } else {
        (last.abs_diff(first) / step.unsigned_abs()) as usize + 1
    };
    if count > MAX_RANGE {
        return Err(format!(
            "the range has {count} items; at most {MAX_RANGE} are allowed"
        ));
    }
    Ok(Value::Array(
        (0..count as i64)
            .map(|i| Value::from(first + i * step))
            .collect(),
    ))
}

/// States.Hash / `$hash`: the lowercase hex digest of `data`'s UTF-8 bytes.
pub(crate) fn hash(data: &str, algorithm: &str) -> Result<String, String> {
    use sha2::Digest as _;
    let bytes = data.as_bytes();
    let digest: Vec<u8> = match algorithm {
        "MD5" => md5::Md5::digest(bytes).to_vec(),
        "SHA-1" => sha1::Sha1::digest(bytes).to_vec(),
        "SHA-256" => sha2::Sha256::digest(bytes).to_vec(),
        "SHA-384" => sha2::Sha384::digest(bytes).to_vec(),
        "SHA-512" => sha2::Sha512::digest(bytes).to_vec(),
        other => {
            return Err(format!(
                "'{other}' is not one of MD5, SHA-1, SHA-256, SHA-384, SHA-512"
            ))
        }
    };
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}

fn merge(args: &[Value]) -> Result<Value, String> {
    let (Value::Object(a), Value::Object(b)) = (&args[0], &args[1]) else {
        return Err("the first two arguments must be objects".into());
    };
    match &args[2] {
        Value::Bool(false) => {}
        Value::Bool(true) => {
            return Err(
                "only shallow merging is supported: the third argument must be false".into(),
            )
        }
        v => {
            return Err(format!(
                "the third argument must be the boolean false, not {v}"
            ))
        }
    }
    let mut out: Map<String, Value> = a.clone();
    out.extend(b.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(Value::Object(out))
}

fn math_random(args: &[Value]) -> Result<Value, String> {
    let start = integer(&args[0], "the start")?;
    let end = integer(&args[1], "the end")?;
    if end < start {
        return Err(format!(
            "the end ({end}) must not be less than the start ({start})"
        ));
    }
    let seed = match args.get(2) {
        Some(v) => integer(v, "the seed")? as u64,
        None => u64::from_le_bytes(
            uuid::Uuid::new_v4().as_bytes()[..8]
                .try_into()
                .expect("8 bytes"),
        ),
    };
    let span = end.abs_diff(start).saturating_add(1);
    Ok(Value::from(
        start.wrapping_add((splitmix64(seed) % span) as i64),
    ))
}

/// A seeded generator: the same seed always gives the same number.
pub(crate) fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;
