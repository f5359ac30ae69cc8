//! A state's input and output processing, as Step Functions orders it.
//!
//! JSONPath: InputPath → Parameters → (the work) → ResultSelector → ResultPath →
//! OutputPath, and Assign from the selected result. JSONata: Arguments from
//! `$states.input`, then Output and Assign from `$states.result`.

use gust_asl::definition::Catcher;
use gust_asl::eval::{self, EvalError, Scope, States};
use serde_json::{json, Map, Value};

use super::{Failure, Run, Visit};

/// The largest input or output a state may pass on (Step Functions' 256 KiB).
pub(crate) const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// Counts bytes without keeping them.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `States.DataLimitExceeded` if `v`, as JSON, is over the payload limit.
pub(crate) fn within_limit(visit: &Visit<'_>, what: &str, v: &Value) -> Result<(), Failure> {
    let mut counter = Counter(0);
    let _ = serde_json::to_writer(&mut counter, v);
    if counter.0 > MAX_PAYLOAD_BYTES {
        return Err(Failure::new(
            gust_asl::errors::DATA_LIMIT_EXCEEDED,
            format!(
                "The state/task '{}' returned a result with a size exceeding the maximum \
                 number of bytes service limit ({what}: {} bytes, at most {MAX_PAYLOAD_BYTES})",
                visit.state.name, counter.0
            ),
        ));
    }
    Ok(())
}

/// An evaluation error as the state's failure.
pub(crate) fn failed(visit: &Visit<'_>, e: EvalError) -> Failure {
    Failure::new(e.error, visit.runtime_cause(&e.cause))
}

/// The state's effective input: what its work (or Parameters/Arguments) gets.
pub(crate) fn effective_input(
    _run: &Run,
    visit: &Visit<'_>,
    context: &Value,
) -> Result<Value, Failure> {
    let state = visit.state;
    if visit.jsonata() {
        return match &state.parameters {
            None => Ok(visit.input.clone()),
            Some(args) => eval::jsonata(
                args,
                &States {
                    input: &visit.input,
                    context,
                    result: None,
                    error_output: None,
                    variables: &visit.frame.vars,
                },
            )
            .map_err(|e| failed(visit, e)),
        };
    }
    let scope = Scope {
        input: &visit.input,
        context,
        variables: &visit.frame.vars,
    };
    let selected = eval::select(state.input_path.as_ref(), &scope).map_err(|e| failed(visit, e))?;
    match &state.parameters {
        None => Ok(selected),
        Some(template) => eval::template(
            template,
            &Scope {
                input: &selected,
                context,
                variables: &visit.frame.vars,
            },
        )
        .map_err(|e| failed(visit, e)),
    }
}

/// The state's output and the variables it assigns, from its work's `result`.
/// `selects` says whether ResultSelector applies (Task, Parallel, Map).
pub(crate) fn output(
    visit: &Visit<'_>,
    context: &Value,
    result: Value,
    selects: bool,
) -> Result<(Value, Map<String, Value>), Failure> {
    let state = visit.state;
    let vars = &visit.frame.vars;
    if visit.jsonata() {
        let states = States {
            input: &visit.input,
            context,
            result: Some(&result),
            error_output: None,
            variables: vars,
        };
        let assigned = match &state.assign {
            None => Map::new(),
            Some(a) => eval::jsonata_assign(a, &states).map_err(|e| failed(visit, e))?,
        };
        let output = match &state.output {
            None => result.clone(),
            Some(o) => eval::jsonata(o, &states).map_err(|e| failed(visit, e))?,
        };
        within_limit(visit, "its output", &output)?;
        return Ok((output, assigned));
    }
    let selected = match (&state.result_selector, selects) {
        (Some(selector), true) => eval::template(
            selector,
            &Scope {
                input: &result,
                context,
                variables: vars,
            },
        )
        .map_err(|e| failed(visit, e))?,
        _ => result,
    };
    let assigned = match &state.assign {
        None => Map::new(),
        Some(a) => eval::assign(
            a,
            &Scope {
                input: &selected,
                context,
                variables: vars,
            },
        )
        .map_err(|e| failed(visit, e))?,
    };
    let placed = eval::place_result(&visit.input, state.result_path.as_ref(), selected)
        .map_err(|e| failed(visit, e))?;
    let output = eval::select(
        state.output_path.as_ref(),
        &Scope {
            input: &placed,
            context,
            variables: vars,
        },
    )
    .map_err(|e| failed(visit, e))?;
    within_limit(visit, "its output", &output)?;
    Ok((output, assigned))
}

/// What a Catch passes on: the error info (`{"Error", "Cause"}`) placed at its
/// ResultPath (JSONPath) or its Output (JSONata), and its Assign.
pub(crate) fn caught_output(
    run: &Run,
    visit: &Visit<'_>,
    catcher: &Catcher,
    failure: &Failure,
) -> Result<(Value, Map<String, Value>), Failure> {
    let info = json!({ "Error": failure.error, "Cause": failure.cause });
    let context = visit.context(run, 0, None);
    let vars = &visit.frame.vars;
    if visit.jsonata() {
        let states = States {
            input: &visit.input,
            context: &context,
            result: None,
            error_output: Some(&info),
            variables: vars,
        };
        let assigned = match &catcher.assign {
            None => Map::new(),
            Some(a) => eval::jsonata_assign(a, &states).map_err(|e| failed(visit, e))?,
        };
        let output = match &catcher.output {
            None => info.clone(),
            Some(o) => eval::jsonata(o, &states).map_err(|e| failed(visit, e))?,
        };
        return Ok((output, assigned));
    }
    let assigned = match &catcher.assign {
        None => Map::new(),
        Some(a) => eval::assign(
            a,
            &Scope {
                input: &info,
                context: &context,
                variables: vars,
            },
        )
        .map_err(|e| failed(visit, e))?,
    };
    let output = eval::place_result(&visit.input, catcher.result_path.as_ref(), info)
        .map_err(|e| failed(visit, e))?;
    Ok((output, assigned))
}

/// A `...Path` field (SecondsPath, ErrorPath, ...) or, in JSONata, a `{% %}`
/// string, evaluated against the state's input.
pub(crate) fn path_value(visit: &Visit<'_>, context: &Value, path: &str) -> Result<Value, Failure> {
    if visit.jsonata() {
        return eval::jsonata(
            &Value::String(path.to_string()),
            &States {
                input: &visit.input,
                context,
                result: None,
                error_output: None,
                variables: &visit.frame.vars,
            },
        )
        .map_err(|e| failed(visit, e));
    }
    eval::path_value(
        path,
        &Scope {
            input: &visit.input,
            context,
            variables: &visit.frame.vars,
        },
    )
    .map_err(|e| failed(visit, e))
}

/// A literal field that may be a JSONata string in a JSONata state.
pub(crate) fn literal(visit: &Visit<'_>, context: &Value, v: &Value) -> Result<Value, Failure> {
    match v {
        Value::String(s) if visit.jsonata() && s.starts_with("{%") => path_value(visit, context, s),
        other => Ok(other.clone()),
    }
}
