//! The interpreter: runs one execution's states, recording each transition before
//! the next starts, and resumes from the record.
//!
//! # Layout
//! - [`journal`]: what a history says about each step, for resuming.
//! - [`recorder`]: appending events in order, one commit per transition.
//! - `io`: a state's input and output processing (JSONPath and JSONata).
//! - `states`: Pass, Choice, Wait, Succeed and Fail.
//! - `task`: Task states: invoking, timing out, task tokens.
//! - `retry`: Retry's counts and delays, read back after a restart.
//! - `fanout`: Parallel and Map.
//!
//! A frame (the machine, a Parallel branch, a Map iteration) runs its states in
//! turn; each visit is a *step* named `"<frame>/<n>"`. [`Run::frame`] takes a
//! step's recorded outcome when the journal has one and runs the state otherwise,
//! so the same code starts an execution and resumes one.

pub(crate) mod journal;
pub(crate) mod recorder;

mod fanout;
mod io;
mod retry;
mod states;
mod task;

use std::sync::Arc;

use futures::future::BoxFuture;
use gust_asl::definition::{QueryLanguage, State, StateKind, StateMachine};
use serde_json::{json, Map, Value};

use crate::tasks::Tasks;
use crate::tokens::Tokens;
use journal::{Journal, Note, Outcome};
use recorder::{Halt, NewHistory, Recorder};

/// A state (or frame) failed: error and cause as Step Functions reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub error: String,
    pub cause: String,
}

impl Failure {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Failure {
        Failure {
            error: error.into(),
            cause: cause.into(),
        }
    }
}

/// What a frame came to: its output, or the failure nothing caught. `Err(Halt)`
/// (outside) means the engine must stop without recording more.
pub(crate) type FrameResult = Result<Result<Value, Failure>, Halt>;

/// What never changes during an execution, for the context object.
#[derive(Debug, Clone)]
pub(crate) struct ExecutionInfo {
    pub arn: String,
    pub name: String,
    pub machine_arn: String,
    pub machine_name: String,
    pub role_arn: String,
    pub input: Value,
    pub start_time: String,
    pub redrive_count: i64,
    pub redrive_time: Option<String>,
    pub trace: Option<String>,
}

/// One execution being run.
pub(crate) struct Run {
    pub info: ExecutionInfo,
    pub machine: Arc<StateMachine>,
    pub recorder: Recorder,
    pub journal: Journal,
    pub tasks: Arc<dyn Tasks>,
    pub tokens: Arc<Tokens>,
    pub region: String,
}

/// Where a frame is: its id, the variables it sees, the Map item it works on.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub id: String,
    pub vars: Map<String, Value>,
    pub item: Option<(usize, Value)>,
}

/// One visit of a state: the step, the frame's state, when it was entered.
pub(crate) struct Visit<'a> {
    pub step: String,
    pub state: &'a State,
    pub frame: &'a Frame,
    pub input: Value,
    pub entered_ms: i64,
}

impl Visit<'_> {
    /// The context object (`$$`, `$states.context`).
    pub fn context(&self, run: &Run, retry_count: u64, token: Option<&str>) -> Value {
        let mut ctx = json!({
            "Execution": {
                "Id": run.info.arn,
                "Input": run.info.input,
                "Name": run.info.name,
                "RoleArn": run.info.role_arn,
                "StartTime": run.info.start_time,
                "RedriveCount": run.info.redrive_count,
            },
            "State": {
                "EnteredTime": crate::clock::iso(self.entered_ms),
                "Name": self.state.name,
                "RetryCount": retry_count,
            },
            "StateMachine": {
                "Id": run.info.machine_arn,
                "Name": run.info.machine_name,
            },
        });
        if let Some(t) = &run.info.redrive_time {
            ctx["Execution"]["RedriveTime"] = json!(t);
        }
        if let Some(token) = token {
            ctx["Task"] = json!({ "Token": token });
        }
        if let Some((index, value)) = &self.frame.item {
            ctx["Map"] = json!({ "Item": { "Index": index, "Value": value } });
        }
        ctx
    }

    /// Whether the state's fields are JSONata.
    pub fn jsonata(&self) -> bool {
        self.state.query_language == QueryLanguage::Jsonata
    }

    /// The state's `...StateEntered` event.
    pub fn entered_event(&self) -> NewHistory {
        NewHistory::new(
            entered_kind(&self.state.kind),
            Some(json!({
                "name": self.state.name,
                "input": self.input.to_string(),
                "inputDetails": { "truncated": false },
            })),
            &self.step,
        )
    }

    /// The state's `...StateExited` event, noting the outcome.
    pub fn exited_event(&self, outcome: Outcome) -> NewHistory {
        let (output, vars) = match &outcome {
            Outcome::Next { output, vars, .. } => (output.to_string(), vars.clone()),
            Outcome::Failed { .. } => ("null".to_string(), Map::new()),
        };
        let mut details = json!({
            "name": self.state.name,
            "output": output,
            "outputDetails": { "truncated": false },
        });
        if !vars.is_empty() {
            let assigned: Map<String, Value> = vars
                .iter()
                .map(|(k, v)| (k.clone(), json!(v.to_string())))
                .collect();
            details["assignedVariables"] = Value::Object(assigned);
            details["assignedVariablesDetails"] = json!({ "truncated": false });
        }
        NewHistory::new(exited_kind(&self.state.kind), Some(details), &self.step).noted(Note {
            outcome: Some(outcome),
            ..Note::default()
        })
    }

    /// An error message as Step Functions words it for a failure in this state.
    pub fn runtime_cause(&self, cause: &str) -> String {
        format!(
            "An error occurred while executing the state '{}'. {cause}",
            self.state.name
        )
    }
}

impl Run {
    /// Runs (or resumes) a frame from its `StartAt` with `input`.
    pub fn frame<'a>(
        &'a self,
        machine: &'a StateMachine,
        mut frame: Frame,
        input: Value,
        mut prev: i64,
    ) -> BoxFuture<'a, FrameResult> {
        Box::pin(async move {
            let mut name = machine.start_at.clone();
            let mut input = input;
            for n in 0u64.. {
                if n % 64 == 63 {
                    // A long chain of instant states must not keep the thread.
                    tokio::task::yield_now().await;
                }
                if self.recorder.last_id() > crate::service::MAX_HISTORY_EVENTS {
                    return Ok(Err(Failure::new(
                        "States.Runtime",
                        format!(
                            "The execution reached the limit of {} history events",
                            crate::service::MAX_HISTORY_EVENTS
                        ),
                    )));
                }
                let step = format!("{}/{n}", frame.id);
                let Some(state) = machine.states.get(&name) else {
                    return Ok(Err(Failure::new(
                        "States.Runtime",
                        format!("the state '{name}' does not exist"),
                    )));
                };
                let recorded = self.journal.step(&step);
                let outcome = match recorded.and_then(|s| s.outcome()) {
                    Some(o) => {
                        prev = recorded.map_or(prev, |s| s.last_id);
                        o.clone()
                    }
                    None => {
                        let visit = Visit {
                            step,
                            state,
                            frame: &frame,
                            input,
                            entered_ms: crate::clock::now_ms(),
                        };
                        self.visit(visit, &mut prev).await?
                    }
                };
                match outcome {
                    Outcome::Next { next, output, vars } => {
                        frame.vars.extend(vars);
                        match next {
                            Some(next) => {
                                name = next;
                                input = output;
                            }
                            None => return Ok(Ok(output)),
                        }
                    }
                    Outcome::Failed { error, cause } => return Ok(Err(Failure { error, cause })),
                }
            }
            unreachable!("a frame's loop ends by returning")
        })
    }

    /// Runs one visit: records its entry (unless recorded), runs the state, and
    /// returns its outcome, recorded.
    async fn visit(&self, visit: Visit<'_>, prev: &mut i64) -> Result<Outcome, Halt> {
        let recorded = self.journal.step(&visit.step);
        if let Some(step) = recorded {
            *prev = step.last_id;
        }
        let entered = recorded.is_some_and(|s| s.has(entered_kind(&visit.state.kind)));
        match &visit.state.kind {
            StateKind::Task(task) => self.task(&visit, task, entered, prev).await,
            StateKind::Parallel { branches } => {
                self.parallel(&visit, branches, entered, prev).await
            }
            StateKind::Map(map) => self.map(&visit, map, entered, prev).await,
            StateKind::Wait(wait) => self.wait(&visit, wait, entered, prev).await,
            _ => {
                // Pass, Choice, Succeed and Fail: no side effect, so entry and exit
                // are one commit.
                let mut events = Vec::with_capacity(2);
                if !entered {
                    events.push(visit.entered_event());
                }
                let outcome = self.instant(&visit, &mut events);
                self.recorder.append(prev, events)?;
                Ok(outcome)
            }
        }
    }

    /// What a state that failed with `failure` does: the first Catch whose
    /// ErrorEquals matches (its output: the error info placed at its ResultPath),
    /// or failing the frame. Returns the outcome and the event that ends the visit.
    pub fn catch(&self, visit: &Visit<'_>, failure: &Failure) -> (Outcome, Option<NewHistory>) {
        let catcher = visit
            .state
            .catch
            .iter()
            .find(|c| gust_asl::errors::matches(&c.error_equals, &failure.error));
        let Some(catcher) = catcher else {
            return (
                Outcome::Failed {
                    error: failure.error.clone(),
                    cause: failure.cause.clone(),
                },
                None,
            );
        };
        match io::caught_output(self, visit, catcher, failure) {
            Ok((output, vars)) => {
                let outcome = Outcome::Next {
                    next: Some(catcher.next.clone()),
                    output,
                    vars,
                };
                let exited = visit.exited_event(outcome.clone());
                (outcome, Some(exited))
            }
            Err(f) => (
                Outcome::Failed {
                    error: f.error,
                    cause: f.cause,
                },
                None,
            ),
        }
    }
}

/// `PassStateEntered`, ... for a state kind.
pub(crate) fn entered_kind(kind: &StateKind) -> &'static str {
    match kind {
        StateKind::Pass { .. } => "PassStateEntered",
        StateKind::Task(_) => "TaskStateEntered",
        StateKind::Choice { .. } => "ChoiceStateEntered",
        StateKind::Wait(_) => "WaitStateEntered",
        StateKind::Succeed => "SucceedStateEntered",
        StateKind::Fail { .. } => "FailStateEntered",
        StateKind::Parallel { .. } => "ParallelStateEntered",
        StateKind::Map(_) => "MapStateEntered",
    }
}

/// `PassStateExited`, ... for a state kind (Fail states have none).
pub(crate) fn exited_kind(kind: &StateKind) -> &'static str {
    match kind {
        StateKind::Pass { .. } => "PassStateExited",
        StateKind::Task(_) => "TaskStateExited",
        StateKind::Choice { .. } => "ChoiceStateExited",
        StateKind::Wait(_) => "WaitStateExited",
        StateKind::Succeed => "SucceedStateExited",
        StateKind::Fail { .. } => "FailStateExited",
        StateKind::Parallel { .. } => "ParallelStateExited",
        StateKind::Map(_) => "MapStateExited",
    }
}
