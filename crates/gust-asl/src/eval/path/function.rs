//! Jayway's path functions (`$.list.length()`, `$..price.sum()`), which end a
//! path and apply to what the path before them selected.
//!
//! # Layout
//! - [`Function`]: which one.
//! - [`apply_function`]: applies one to a value.

use serde_json::Value;

/// Jayway's path functions, which end a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// `length()`: of an array, string or object.
    Length,
    /// `min()` of numbers.
    Min,
    /// `max()` of numbers.
    Max,
    /// `avg()` of numbers.
    Avg,
    /// `sum()` of numbers.
    Sum,
    /// `stddev()` of numbers (population).
    Stddev,
    /// `keys()` of an object.
    Keys,
    /// `first()` of an array.
    First,
    /// `last()` of an array.
    Last,
}

pub(crate) fn apply_function(f: Function, v: &Value) -> Result<Value, String> {
    let numbers = || -> Result<Vec<f64>, String> {
        let Value::Array(items) = v else {
            return Err(format!(
                "Aggregation function attempted to calculate value using non-array value: {v}"
            ));
        };
        items
            .iter()
            .map(|i| {
                i.as_f64().ok_or_else(|| {
                    format!("Aggregation function attempted to use non-numeric value: {i}")
                })
            })
            .collect()
    };
    let number = |x: f64| {
        serde_json::Number::from_f64(x)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    };
    let nonempty = |xs: Vec<f64>| {
        if xs.is_empty() {
            Err("Aggregation function attempted to calculate value using empty array".to_string())
        } else {
            Ok(xs)
        }
    };
    Ok(match f {
        Function::Length => match v {
            Value::Array(a) => a.len().into(),
            Value::Object(o) => o.len().into(),
            Value::String(s) => s.chars().count().into(),
            _ => {
                return Err(format!(
                    "Length function attempted to calculate value using a non-array value: {v}"
                ))
            }
        },
        Function::Sum => number(numbers()?.iter().sum()),
        Function::Min => number(
            nonempty(numbers()?)?
                .into_iter()
                .fold(f64::INFINITY, f64::min),
        ),
        Function::Max => number(
            nonempty(numbers()?)?
                .into_iter()
                .fold(f64::NEG_INFINITY, f64::max),
        ),
        Function::Avg => {
            let xs = nonempty(numbers()?)?;
            number(xs.iter().sum::<f64>() / xs.len() as f64)
        }
        Function::Stddev => {
            let xs = nonempty(numbers()?)?;
            let mean = xs.iter().sum::<f64>() / xs.len() as f64;
            number((xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64).sqrt())
        }
        Function::Keys => match v {
            Value::Object(o) => Value::Array(o.keys().cloned().map(Value::String).collect()),
            _ => return Err(format!("keys() can only be applied to an object: {v}")),
        },
        Function::First | Function::Last => match v {
            Value::Array(a) if !a.is_empty() => {
                if f == Function::First {
                    a[0].clone()
                } else {
                    a[a.len() - 1].clone()
                }
            }
            _ => return Err(format!("first()/last() need a non-empty array: {v}")),
        },
    })
}
