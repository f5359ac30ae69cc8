//! A state machine's definition, resolved from its Amazon States Language JSON.
//!
//! The user's JSON (kept byte for byte by the store) is parsed once, at create or
//! update time, into these types; the engine runs only the resolved form. Fields
//! that hold expressions (paths, payload templates, Choice rules, JSONata strings)
//! stay [`serde_json::Value`]s: [`crate::eval`] gives them meaning at run time, and
//! [`crate::parse`] has checked their syntax before anything runs.

use std::collections::BTreeMap;

use serde_json::Value;

/// Which language a state's fields are written in (`QueryLanguage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueryLanguage {
    /// InputPath, Parameters, ResultSelector, ResultPath, OutputPath (the default).
    #[default]
    JsonPath,
    /// Arguments, Output, Condition, `{% %}` expressions.
    Jsonata,
}

/// A whole state machine (or a Parallel branch, or a Map's item processor).
#[derive(Debug, Clone, PartialEq)]
pub struct StateMachine {
    /// `StartAt`.
    pub start_at: String,
    /// `Comment`.
    pub comment: Option<String>,
    /// `TimeoutSeconds` of the whole machine (top level only).
    pub timeout_seconds: Option<u64>,
    /// `QueryLanguage` of the machine: each state's default.
    pub query_language: QueryLanguage,
    /// `States`, by name.
    pub states: BTreeMap<String, State>,
}

/// One state: the fields every type shares, and its type's own.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// Its name (the key in `States`).
    pub name: String,
    /// `Comment`.
    pub comment: Option<String>,
    /// Its own `QueryLanguage`, or the machine's.
    pub query_language: QueryLanguage,
    /// `Next`, or `None` when `End` (or for Choice, Succeed and Fail).
    pub next: Option<String>,
    /// `InputPath`: `None` when absent (`$`), `Some(Value::Null)` when null.
    pub input_path: Option<Value>,
    /// `OutputPath`, as `input_path`.
    pub output_path: Option<Value>,
    /// `Parameters` (JSONPath) or `Arguments` (JSONata).
    pub parameters: Option<Value>,
    /// `ResultSelector`.
    pub result_selector: Option<Value>,
    /// `ResultPath`: `None` when absent (`$`), `Some(Value::Null)` when null.
    pub result_path: Option<Value>,
    /// `Output` (JSONata).
    pub output: Option<Value>,
    /// `Assign`: variables set when the state ends.
    pub assign: Option<Value>,
    /// `Retry`, in order.
    pub retry: Vec<Retrier>,
    /// `Catch`, in order.
    pub catch: Vec<Catcher>,
    /// What kind of state, with its own fields.
    pub kind: StateKind,
}

/// The state types and what only they have.
#[derive(Debug, Clone, PartialEq)]
pub enum StateKind {
    /// `Pass`: `Result` (or the input) goes on.
    Pass {
        /// `Result`.
        result: Option<Value>,
    },
    /// `Task`: calls a resource.
    Task(Task),
    /// `Choice`.
    Choice {
        /// `Choices`, in order (each a rule with `Next`).
        choices: Vec<ChoiceRule>,
        /// `Default`.
        default: Option<String>,
    },
    /// `Wait`.
    Wait(WaitFor),
    /// `Succeed`.
    Succeed,
    /// `Fail`.
    Fail {
        /// `Error` or `ErrorPath` (JSONPath) / a JSONata string.
        error: Option<FailField>,
        /// `Cause` or `CausePath`.
        cause: Option<FailField>,
    },
    /// `Parallel`.
    Parallel {
        /// `Branches`.
        branches: Vec<StateMachine>,
    },
    /// `Map` (inline).
    Map(Box<MapState>),
}

/// A Fail state's `Error` or `Cause`: a literal or a path to it.
#[derive(Debug, Clone, PartialEq)]
pub enum FailField {
    /// The literal (or a JSONata `{% %}` string, evaluated at run time).
    Literal(String),
    /// `ErrorPath` / `CausePath`: a reference path or an intrinsic function.
    Path(String),
}

/// A Task state's own fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// `Resource`, resolved.
    pub resource: Resource,
    /// `TimeoutSeconds` (AWS's default: 99,999,999), or `TimeoutSecondsPath`.
    pub timeout: Option<Seconds>,
    /// `HeartbeatSeconds` or `HeartbeatSecondsPath`.
    pub heartbeat: Option<Seconds>,
    /// `Credentials` is accepted and ignored (gust has no IAM).
    pub credentials: Option<Value>,
}

/// A number of seconds, given as a literal or read from the input.
#[derive(Debug, Clone, PartialEq)]
pub enum Seconds {
    /// A literal.
    Fixed(u64),
    /// A reference path (`...SecondsPath`) or a JSONata string.
    Path(String),
}

/// What a Task calls.
#[derive(Debug, Clone, PartialEq)]
pub enum Resource {
    /// A Lambda function ARN (`arn:aws:lambda:R:A:function:NAME[:QUALIFIER]`):
    /// the input is the payload, the result is the function's result.
    Function {
        /// The ARN as written.
        arn: String,
    },
    /// `arn:aws:states:::lambda:invoke`: `Parameters.FunctionName` and `Payload`;
    /// the result is `{Payload, StatusCode, ExecutedVersion, SdkHttpMetadata, ...}`.
    LambdaInvoke {
        /// `.waitForTaskToken`: the task ends with SendTaskSuccess/Failure.
        wait_for_token: bool,
    },
    /// `arn:aws:states:::aws-sdk:s3:<action>` on gust's buckets.
    S3 {
        /// The action, as written after `s3:` (`getObject`, `putObject`, ...).
        action: String,
    },
}

/// `Retry` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Retrier {
    /// `ErrorEquals`.
    pub error_equals: Vec<String>,
    /// `IntervalSeconds` (default 1).
    pub interval_seconds: u64,
    /// `MaxAttempts` (default 3; 0 means never retry).
    pub max_attempts: u64,
    /// `BackoffRate` (default 2.0).
    pub backoff_rate: f64,
    /// `MaxDelaySeconds`.
    pub max_delay_seconds: Option<u64>,
    /// `JitterStrategy: FULL`.
    pub full_jitter: bool,
}

/// `Catch` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Catcher {
    /// `ErrorEquals`.
    pub error_equals: Vec<String>,
    /// `Next`.
    pub next: String,
    /// `ResultPath` (JSONPath; default `$`).
    pub result_path: Option<Value>,
    /// `Output` (JSONata).
    pub output: Option<Value>,
    /// `Assign`.
    pub assign: Option<Value>,
}

/// A Choice rule with its `Next` (top level) — the rule itself stays JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct ChoiceRule {
    /// The rule object (JSONPath operators, or `Condition` for JSONata).
    pub rule: Value,
    /// `Next`.
    pub next: String,
    /// `Assign` of the rule, if it matches.
    pub assign: Option<Value>,
    /// `Output` (JSONata) of the rule, if it matches.
    pub output: Option<Value>,
}

/// How long or until when a Wait state waits.
#[derive(Debug, Clone, PartialEq)]
pub enum WaitFor {
    /// `Seconds` (a number, or a JSONata string).
    Seconds(Value),
    /// `Timestamp` (RFC 3339, or a JSONata string).
    Timestamp(Value),
    /// `SecondsPath`.
    SecondsPath(String),
    /// `TimestampPath`.
    TimestampPath(String),
}

/// A Map state's own fields.
#[derive(Debug, Clone, PartialEq)]
pub struct MapState {
    /// `ItemProcessor` (or the legacy `Iterator`).
    pub processor: StateMachine,
    /// `ItemsPath` (JSONPath, default `$`) or `Items` (JSONata).
    pub items: Option<Value>,
    /// `ItemSelector` (or the legacy `Parameters` of a Map).
    pub item_selector: Option<Value>,
    /// `ItemReader`, as written (gust reads from its buckets).
    pub item_reader: Option<Value>,
    /// `MaxConcurrency` (0: no limit) or `MaxConcurrencyPath`.
    pub max_concurrency: Option<Seconds>,
    /// `ToleratedFailurePercentage` (or its `...Path`).
    pub tolerated_failure_percentage: Option<Value>,
    /// `ToleratedFailureCount` (or its `...Path`).
    pub tolerated_failure_count: Option<Value>,
}
