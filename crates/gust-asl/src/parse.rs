//! A definition's JSON → [`StateMachine`], or the diagnostics AWS would give.
//!
//! [`parse`] is what `CreateStateMachine`/`UpdateStateMachine` call: a machine
//! the engine can run, or every problem found (not just the first), each with
//! AWS's code, a message that names the problem, and a location in AWS's form
//! (`/States/Fetch/Catch[0]/Next`). [`invalid_definition_message`] turns the
//! errors into the `InvalidDefinition` message AWS returns:
//!
//! ```text
//! Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: Missing 'Next' target: pass3 at /States/pass1/Next, MISSING_TRANSITION_TARGET: State "pass2" is not reachable. at /States/pass2'
//! ```
//!
//! [`validate`] also returns the warnings (`NO_DOLLAR`, `NO_PATH`,
//! `PASS_RESULT_IS_STATIC`) for `ValidateStateMachineDefinition`.
//!
//! # What is checked
//! - JSON syntax (`INVALID_JSON_DESCRIPTION`), an empty definition
//!   (`MISSING_DESCRIPTION`), a key written twice (`DUPLICATE_STATE_NAME` for
//!   a state, else `INVALID_JSON_DESCRIPTION`), a state name used twice
//!   anywhere in the machine, branches included (`DUPLICATE_STATE_NAME`),
//!   names over 80 characters (`INVALID_STATE_NAME`).
//! - The fields each state type accepts (AWS's table, measured: `Retry` and
//!   `Catch` only on Task, Parallel and Map, `TimeoutSeconds` only on Task,
//!   `ResultPath` not on Choice, Wait, Succeed or Fail, ...), required fields,
//!   value types and ranges, `Next` xor `End`, the pairs that exclude each
//!   other (`TimeoutSeconds`/`TimeoutSecondsPath`, `Error`/`ErrorPath`, Wait's
//!   four fields, `ItemProcessor`/`Iterator`, ...), `HeartbeatSeconds` below
//!   `TimeoutSeconds`, Retry and Catch (`States.ALL` alone and last,
//!   `MaxAttempts` 0–99999999, `BackoffRate` ≥ 1, `MaxDelaySeconds`
//!   1–31622400, `JitterStrategy` `FULL`/`NONE`), Map's `ProcessorConfig`,
//!   `ItemReader`, `Label`; all of it recursively in Parallel branches and Map
//!   processors.
//! - `QueryLanguage` as AWS measures it: only the exact string `JSONPath` means
//!   JSONPath; a state inherits the *top level's* language, not its enclosing
//!   Map's or Parallel's; a state cannot be JSONPath in a JSONata machine; a
//!   branch or processor cannot declare one; JSONPath-only fields (`InputPath`,
//!   `Parameters`, `ResultPath`, `*Path`, ...) are refused in JSONata states
//!   and `Output`, `Arguments`, `Items` in JSONPath ones (`Assign` is both).
//! - Every `Next`, `Default`, `Choices[].Next`, `Catch[].Next` and `StartAt`
//!   names a state of the same scope (`MISSING_TRANSITION_TARGET`, so a branch
//!   cannot jump out); every state is reachable from `StartAt` (AWS reports it
//!   as `MISSING_TRANSITION_TARGET` too); the top level has a terminal state
//!   (`MISSING_END_STATE`, which then suppresses the reachability report, as
//!   AWS does).
//! - Expressions, through [`crate::eval`]'s checkers: paths, reference paths,
//!   intrinsic functions, payload templates, Choice rules, `{% %}` JSONata
//!   (`INVALID_JSONATA_EXPRESSION`), variable names in `Assign`.
//! - Task resources gust runs: Lambda function ARNs,
//!   `arn:aws:states:::lambda:invoke[.waitForTaskToken]`,
//!   `arn:aws:states:::aws-sdk:s3:<action>`. Any other resource is refused
//!   with a message listing those. Map's `ItemBatcher` and `ResultWriter` are
//!   refused too (gust does not run them).
//!
//! # Where the wording is a guess
//! Codes, the `InvalidDefinition` format and most messages come from AWS's API
//! reference and from diagnostics people measured against AWS. These are
//! guessed: the wording for a non-string/non-integer value beyond `[STRING]`
//! and `Integer` (`Expected value of type [BOOLEAN]`, ...); the messages for
//! an invalid path (`The value for the field 'X' must be a valid JSONPath: ...`)
//! and reference path; `HeartbeatSeconds` ≥ `TimeoutSeconds`; an unknown
//! `Type`; a missing or empty `States`/`Branches`; a repeated non-state key;
//! the warnings' messages; the location `/` for the top-level object; leaving
//! out the ` at null` suffix after `INVALID_JSON_DESCRIPTION`; refusing
//! `SecondsPath`, `TimestampPath`, `TimeoutSecondsPath`, `HeartbeatSecondsPath`
//! and the `ToleratedFailure*Path` fields in JSONata states.
//!
//! # Layout
//! - this file: [`Diagnostic`], [`parse`], [`validate`], the message.
//! - `json`: the JSON reader that notices repeated keys.
//! - `fields`: reading typed fields and checking expressions, collecting
//!   diagnostics.
//! - `machine`: a machine or branch: `StartAt`, `States`, targets,
//!   reachability, terminal state.
//! - `state`: what every state shares: type, language, allowed fields,
//!   `Next`/`End`, paths, `Retry`, `Catch`, `Assign`.
//! - `kinds`: each type's own fields, and Task resources; `map`: Map's.

use std::fmt;

use serde_json::Value;

use crate::definition::{QueryLanguage, StateMachine};

mod fields;
mod json;
mod kinds;
mod machine;
mod map;
mod state;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_invalid;
#[cfg(test)]
mod tests_values;

pub use kinds::DEFAULT_TASK_TIMEOUT_SECONDS;

/// The diagnostic codes, as AWS spells them.
pub mod code {
    /// The definition is not JSON.
    pub const INVALID_JSON_DESCRIPTION: &str = "INVALID_JSON_DESCRIPTION";
    /// The definition is empty.
    pub const MISSING_DESCRIPTION: &str = "MISSING_DESCRIPTION";
    /// A field is missing, unknown, of the wrong type or out of range.
    pub const SCHEMA_VALIDATION_FAILED: &str = "SCHEMA_VALIDATION_FAILED";
    /// A `Next`/`Default`/`StartAt` names no state; or a state is unreachable.
    pub const MISSING_TRANSITION_TARGET: &str = "MISSING_TRANSITION_TARGET";
    /// The top level has no terminal state.
    pub const MISSING_END_STATE: &str = "MISSING_END_STATE";
    /// Two states share a name.
    pub const DUPLICATE_STATE_NAME: &str = "DUPLICATE_STATE_NAME";
    /// A state name is too long.
    pub const INVALID_STATE_NAME: &str = "INVALID_STATE_NAME";
    /// A Map `Label` is too long.
    pub const INVALID_LABEL_NAME: &str = "INVALID_LABEL_NAME";
    /// A `{% %}` string does not parse.
    pub const INVALID_JSONATA_EXPRESSION: &str = "INVALID_JSONATA_EXPRESSION";
    /// An `Assign` key is not a variable name.
    pub const INVALID_VARIABLE_NAME: &str = "INVALID_VARIABLE_NAME";
    /// `Assign` sets `states`.
    pub const RESERVED_VARIABLE_NAME: &str = "RESERVED_VARIABLE_NAME";
    /// Warning: a template value looks like a path but its key lacks `.$`.
    pub const NO_DOLLAR: &str = "NO_DOLLAR";
    /// Warning: a value looks like a path but the field is not a `...Path`.
    pub const NO_PATH: &str = "NO_PATH";
    /// Warning: a Pass state's `Result` holds a `.$` key (it is not evaluated).
    pub const PASS_RESULT_IS_STATIC: &str = "PASS_RESULT_IS_STATIC";
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The definition cannot be created.
    Error,
    /// The definition works, but probably not as meant.
    Warning,
}

impl Severity {
    /// `ERROR` or `WARNING`, as ValidateStateMachineDefinition writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "ERROR",
            Severity::Warning => "WARNING",
        }
    }
}

/// One problem found in a definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Whether it stops the definition.
    pub severity: Severity,
    /// AWS's code (see [`code`]).
    pub code: String,
    /// What is wrong, without the location.
    pub message: String,
    /// Where: `/States/A/Next`, `/StartAt`, `/` for the top-level object, or
    /// empty when the problem has no place (a missing terminal state).
    pub location: String,
}

impl fmt::Display for Diagnostic {
    /// `CODE: message at location`, the form inside `InvalidDefinition`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if self.location.is_empty() {
            if self.code != code::INVALID_JSON_DESCRIPTION {
                f.write_str(" at null")?;
            }
            Ok(())
        } else {
            write!(f, " at {}", self.location)
        }
    }
}

/// Parses and checks a definition: the machine, or every diagnostic (errors
/// and warnings) when there is at least one error.
pub fn parse(definition: &str) -> Result<StateMachine, Vec<Diagnostic>> {
    match validate(definition) {
        (Some(machine), _) => Ok(machine),
        (None, diags) => Err(diags),
    }
}

/// Parses and checks a definition: the machine when there is no error, and
/// all the diagnostics either way (ValidateStateMachineDefinition's answer).
pub fn validate(definition: &str) -> (Option<StateMachine>, Vec<Diagnostic>) {
    let mut ctx = fields::Ctx::new(QueryLanguage::JsonPath);
    if definition.trim().is_empty() {
        ctx.error(
            code::MISSING_DESCRIPTION,
            "Received a null or empty workflow input",
            "",
        );
        return (None, ctx.diags);
    }
    let (value, repeated) = match json::read(definition) {
        Ok(read) => read,
        Err(e) => {
            ctx.error(code::INVALID_JSON_DESCRIPTION, e.to_string(), "");
            return (None, ctx.diags);
        }
    };
    for r in repeated {
        let location = format!("{}/{}", r.parent, r.key);
        if machine::is_states_object(&r.parent) {
            let message = format!("Duplicate State name: {}", r.key);
            ctx.error(code::DUPLICATE_STATE_NAME, message, location);
        } else {
            let message = format!("Duplicate field '{}'", r.key);
            ctx.error(code::INVALID_JSON_DESCRIPTION, message, location);
        }
    }
    let Value::Object(top) = &value else {
        ctx.schema("Expected value of type [OBJECT]", "/");
        return (None, ctx.diags);
    };
    let machine = machine::top_level(&mut ctx, top);
    let failed = ctx.diags.iter().any(|d| d.severity == Severity::Error);
    (machine.filter(|_| !failed), ctx.diags)
}

/// The message of CreateStateMachine's `InvalidDefinition` error:
/// `Invalid State Machine Definition: 'CODE: message at location, ...'`,
/// listing the errors (warnings do not stop a definition and are left out).
pub fn invalid_definition_message(diags: &[Diagnostic]) -> String {
    let errors: Vec<String> = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(Diagnostic::to_string)
        .collect();
    format!("Invalid State Machine Definition: '{}'", errors.join(", "))
}
