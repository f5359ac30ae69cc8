//! The running executions: started, resumed after a restart, stopped, timed out
//! and redriven, with their status changes queued for a monitoring function.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gust_asl::definition::StateMachine;
use gust_store::events::NewEvent;
use gust_store::workflows::{
    EventRecord, ExecutionChange, ExecutionRecord, MachineRecord, WorkflowStore,
};
use gust_store::StoreError;
use parking_lot::Mutex;
use serde_json::{json, Map, Value};

use crate::engine::journal::Journal;
use crate::engine::recorder::{Recorder, Sink};
use crate::engine::{ExecutionInfo, Frame, Run};
use crate::tasks::Tasks;
use crate::tokens::Tokens;
use crate::{arn, clock};

/// The tag whose value names a function that receives the machine's execution
/// status changes (EventBridge's "Step Functions Execution Status Change").
pub const MONITOR_TAG: &str = "gust:monitor";

/// How an execution ended (or that it runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionStatus {
    /// Running.
    Running,
    /// Succeeded.
    Succeeded,
    /// Failed.
    Failed,
    /// Its TimeoutSeconds passed.
    TimedOut,
    /// Stopped by StopExecution.
    Aborted,
}

impl ExecutionStatus {
    /// As the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
        }
    }
}

/// What a finished execution came to.
#[derive(Debug, Clone)]
pub(crate) struct Ending {
    pub status: ExecutionStatus,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub stopped_ms: i64,
}

/// An execution whose task runs here.
struct Running {
    run: Arc<Run>,
    task: tokio::task::AbortHandle,
}

/// The history limit Step Functions enforces on one execution.
pub(crate) const MAX_HISTORY_EVENTS: i64 = 25_000;

/// gust's workflows.
pub struct Workflows {
    pub(crate) store: Arc<dyn WorkflowStore>,
    pub(crate) tasks: Arc<dyn Tasks>,
    pub(crate) region: String,
    pub(crate) tokens: Arc<Tokens>,
    running: Mutex<HashMap<String, Running>>,
    /// Parsed definitions, by the text they came from.
    parsed: Mutex<HashMap<String, Arc<StateMachine>>>,
}

impl Workflows {
    /// The service over a store and the platform.
    pub fn new(store: Arc<dyn WorkflowStore>, tasks: Arc<dyn Tasks>, region: &str) -> Arc<Self> {
        Arc::new(Workflows {
            store,
            tasks,
            region: region.to_string(),
            tokens: Arc::new(Tokens::default()),
            running: Mutex::new(HashMap::new()),
            parsed: Mutex::new(HashMap::new()),
        })
    }

    /// The resolved form of a definition (checked when it was stored).
    pub(crate) fn parsed(&self, definition: &str) -> Result<Arc<StateMachine>, String> {
        if let Some(m) = self.parsed.lock().get(definition) {
            return Ok(m.clone());
        }
        let machine = gust_asl::parse::parse(definition)
            .map(Arc::new)
            .map_err(|d| gust_asl::parse::invalid_definition_message(&d))?;
        let mut cache = self.parsed.lock();
        if cache.len() > 1024 {
            cache.clear();
        }
        cache.insert(definition.to_string(), machine.clone());
        Ok(machine)
    }

    /// Resumes every execution a previous run of gust left RUNNING. Returns how
    /// many.
    pub fn resume(self: &Arc<Self>) -> Result<usize, StoreError> {
        let running = self.store.running_executions()?;
        let n = running.len();
        for record in running {
            let events = self.store.events(&record.arn)?;
            if let Err(e) = self.spawn_standard(&record, &events) {
                tracing::error!(execution = %record.arn, error = %e, "cannot resume an execution");
            }
        }
        if n > 0 {
            tracing::info!(executions = n, "resumed running workflow executions");
        }
        Ok(n)
    }

    /// Stops every execution's task (on shutdown). They stay RUNNING in the store
    /// and resume at the next start.
    pub fn shutdown(&self) {
        for (_, r) in self.running.lock().drain() {
            r.task.abort();
        }
    }

    /// How many executions run here now.
    pub fn running_count(&self) -> usize {
        self.running.lock().len()
    }

    fn info(&self, record: &ExecutionRecord) -> Result<ExecutionInfo, String> {
        let input: Value = serde_json::from_str(&record.input).map_err(|e| e.to_string())?;
        Ok(ExecutionInfo {
            arn: record.arn.clone(),
            name: record.name.clone(),
            machine_arn: record.machine_arn.clone(),
            machine_name: arn::machine_name(&self.region, &record.machine_arn)
                .unwrap_or_default()
                .to_string(),
            role_arn: record.role_arn.clone(),
            input,
            start_time: clock::iso(record.started_ms),
            redrive_count: record.redrives,
            redrive_time: record.redriven_ms.map(clock::iso),
            trace: record.trace.clone(),
        })
    }

    /// Starts (or resumes) the task of a Standard execution from its history.
    pub(crate) fn spawn_standard(
        self: &Arc<Self>,
        record: &ExecutionRecord,
        events: &[EventRecord],
    ) -> Result<(), String> {
        let machine = self.parsed(&record.definition)?;
        let journal = Journal::from_events(events);
        let run = Arc::new(Run {
            info: self.info(record)?,
            machine: machine.clone(),
            recorder: Recorder::new(
                record.arn.clone(),
                Sink::Durable(self.store.clone()),
                journal.last_id,
            ),
            journal,
            tasks: self.tasks.clone(),
            tokens: self.tokens.clone(),
            region: self.region.clone(),
        });
        let monitor = self.monitor_of(&record.machine_arn);
        let deadline = machine
            .timeout_seconds
            .map(|t| record.redriven_ms.unwrap_or(record.started_ms) + (t as i64) * 1000);
        let this = self.clone();
        let arn = record.arn.clone();
        let started_ms = record.started_ms;
        let mut running = self.running.lock();
        let driven = run.clone();
        let task = tokio::spawn(async move {
            use futures::FutureExt as _;
            // A bug in the engine fails the execution rather than leaving it
            // RUNNING with no task behind it.
            let ending = std::panic::AssertUnwindSafe(this.drive(&driven, deadline))
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| {
                    let what = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    tracing::error!(execution = %driven.info.arn, panic = %what, "the workflow engine failed");
                    Some(Ending {
                        status: ExecutionStatus::Failed,
                        output: None,
                        error: Some(gust_asl::errors::RUNTIME.into()),
                        cause: Some(format!("gust's workflow engine failed: {what}")),
                        stopped_ms: clock::now_ms(),
                    })
                });
            if let Some(ending) = ending {
                this.finish(&driven, started_ms, ending, monitor.as_deref());
            }
            this.running.lock().remove(&driven.info.arn);
        });
        running.insert(
            arn,
            Running {
                run,
                task: task.abort_handle(),
            },
        );
        Ok(())
    }

    /// Runs an execution's machine to its end, or its deadline. `None`: the engine
    /// had to stop (the store failed, or the execution was stopped meanwhile).
    pub(crate) async fn drive(&self, run: &Run, deadline_ms: Option<i64>) -> Option<Ending> {
        let root = Frame {
            id: String::new(),
            vars: Map::new(),
            item: None,
        };
        let work = run.frame(&run.machine, root, run.info.input.clone(), 1);
        let result = match deadline_ms {
            None => Some(work.await),
            Some(deadline) => {
                let left = (deadline - clock::now_ms()).max(0) as u64;
                tokio::select! {
                    r = work => Some(r),
                    _ = tokio::time::sleep(Duration::from_millis(left)) => None,
                }
            }
        };
        let stopped_ms = clock::now_ms();
        match result {
            None => Some(Ending {
                status: ExecutionStatus::TimedOut,
                output: None,
                error: Some(gust_asl::errors::TIMEOUT.into()),
                cause: Some(
                    "The execution ran longer than its state machine's TimeoutSeconds".into(),
                ),
                stopped_ms,
            }),
            Some(Err(halt)) => {
                tracing::debug!(execution = %run.info.arn, reason = %halt, "an execution's task stopped");
                None
            }
            Some(Ok(Ok(output))) => Some(Ending {
                status: ExecutionStatus::Succeeded,
                output: Some(output),
                error: None,
                cause: None,
                stopped_ms,
            }),
            Some(Ok(Err(f))) => Some(Ending {
                status: ExecutionStatus::Failed,
                output: None,
                error: Some(f.error),
                cause: Some(f.cause),
                stopped_ms,
            }),
        }
    }

    /// Records an execution's end (and queues its status change).
    pub(crate) fn finish(&self, run: &Run, started_ms: i64, ending: Ending, monitor: Option<&str>) {
        let (kind, details) = match ending.status {
            ExecutionStatus::Succeeded => (
                "ExecutionSucceeded",
                json!({
                    "output": ending.output.as_ref().map(Value::to_string).unwrap_or_default(),
                    "outputDetails": { "truncated": false },
                }),
            ),
            ExecutionStatus::Failed => (
                "ExecutionFailed",
                json!({ "error": ending.error, "cause": ending.cause }),
            ),
            ExecutionStatus::TimedOut => (
                "ExecutionTimedOut",
                json!({ "error": ending.error, "cause": ending.cause }),
            ),
            ExecutionStatus::Aborted => (
                "ExecutionAborted",
                json!({ "error": ending.error, "cause": ending.cause }),
            ),
            ExecutionStatus::Running => return,
        };
        let output = ending.output.as_ref().map(Value::to_string);
        let change = ExecutionChange::Stopped {
            status: ending.status.as_str().to_string(),
            output: output.clone(),
            error: ending.error.clone(),
            cause: ending.cause.clone(),
            stopped_ms: ending.stopped_ms,
        };
        let notify =
            self.status_change(monitor, &run.info, started_ms, ending.status, Some(&ending));
        let mut prev = run.recorder.last_id();
        let event = crate::engine::recorder::NewHistory {
            kind,
            details: Some(details),
            step: None,
            note: None,
        };
        match run
            .recorder
            .commit(&mut prev, vec![event], &change, &notify)
        {
            Ok(ids) => self.tasks.scheduled(&ids, clock::now_ms()),
            Err(e) => {
                tracing::debug!(execution = %run.info.arn, error = %e, "an execution's end was not recorded")
            }
        }
    }

    /// Stops a running execution: its task ends and ExecutionAborted is recorded
    /// (also for one RUNNING in the store that no task runs, say after its engine
    /// stopped on a store failure).
    pub(crate) fn stop(
        &self,
        execution: &str,
        error: Option<String>,
        cause: Option<String>,
    ) -> Result<(), StoreError> {
        let Some(running) = self.running.lock().remove(execution) else {
            let last = self.store.events(execution)?.last().map_or(0, |e| e.id);
            let now = clock::now_ms();
            let aborted = EventRecord {
                id: last + 1,
                previous: last,
                kind: "ExecutionAborted".into(),
                ms: now,
                details: Some(json!({ "error": error, "cause": cause }).to_string()),
                step: None,
                note: None,
            };
            let change = ExecutionChange::Stopped {
                status: ExecutionStatus::Aborted.as_str().into(),
                output: None,
                error,
                cause,
                stopped_ms: now,
            };
            return self
                .store
                .append(execution, &[aborted], &change, &[])
                .map(|_| ());
        };
        running.task.abort();
        let started = running.run.info.start_time.clone();
        let started_ms = clock::parse_iso(&started).unwrap_or_default();
        let monitor = self.monitor_of(&running.run.info.machine_arn);
        self.finish(
            &running.run,
            started_ms,
            Ending {
                status: ExecutionStatus::Aborted,
                output: None,
                error,
                cause,
                stopped_ms: clock::now_ms(),
            },
            monitor.as_deref(),
        );
        Ok(())
    }

    /// The function a machine's status changes go to, from its tags.
    pub(crate) fn monitor_of(&self, machine_arn: &str) -> Option<String> {
        let machine = self.store.machine(machine_arn).ok()??;
        let extra: Value = serde_json::from_str(&machine.extra).ok()?;
        extra
            .pointer(&format!("/tags/{MONITOR_TAG}"))
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// The "Step Functions Execution Status Change" event for the monitor, as
    /// queued events (none without a monitor, or if it does not exist).
    pub(crate) fn status_change(
        &self,
        monitor: Option<&str>,
        info: &ExecutionInfo,
        started_ms: i64,
        status: ExecutionStatus,
        ending: Option<&Ending>,
    ) -> Vec<NewEvent> {
        let Some(monitor) = monitor else {
            return Vec::new();
        };
        let Some((function, qualifier)) = self.tasks.resolve_function(monitor) else {
            tracing::warn!(%monitor, "a state machine's monitor function does not exist: its status change is dropped");
            return Vec::new();
        };
        let now = clock::now_ms();
        let detail = json!({
            "executionArn": info.arn,
            "stateMachineArn": info.machine_arn,
            "name": info.name,
            "status": status.as_str(),
            "startDate": started_ms,
            "stopDate": ending.map(|e| e.stopped_ms),
            "input": info.input.to_string(),
            "output": ending.and_then(|e| e.output.as_ref()).map(Value::to_string),
            "inputDetails": { "included": true },
            "outputDetails": ending.and_then(|e| e.output.as_ref()).map(|_| json!({"included": true})),
            "error": ending.and_then(|e| e.error.clone()),
            "cause": ending.and_then(|e| e.cause.clone()),
            "redriveCount": info.redrive_count,
        });
        let id = uuid::Uuid::new_v4().to_string();
        let event = json!({
            "version": "0",
            "id": id,
            "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states",
            "account": arn::ACCOUNT,
            "time": clock::iso(now).replace(".000Z", "Z"),
            "region": self.region,
            "resources": [info.arn],
            "detail": detail,
        });
        vec![NewEvent {
            request_id: id,
            function,
            qualifier,
            payload: event.to_string().into_bytes(),
            accepted_ms: now,
            due_ms: now,
            trace: None,
        }]
    }

    /// A new execution record and its first event.
    pub(crate) fn new_execution(
        &self,
        machine: &MachineRecord,
        name: &str,
        input: &str,
        trace: Option<String>,
    ) -> (ExecutionRecord, EventRecord) {
        let now = clock::now_ms();
        let record = ExecutionRecord {
            arn: arn::execution(&self.region, &machine.name, name, None),
            machine_arn: machine.arn.clone(),
            name: name.to_string(),
            status: "RUNNING".into(),
            input: input.to_string(),
            output: None,
            error: None,
            cause: None,
            started_ms: now,
            stopped_ms: None,
            definition: machine.definition.clone(),
            role_arn: machine.role_arn.clone(),
            redrives: 0,
            redriven_ms: None,
            trace,
        };
        let started = EventRecord {
            id: 1,
            previous: 0,
            kind: "ExecutionStarted".into(),
            ms: now,
            details: Some(
                json!({
                    "input": input,
                    "inputDetails": { "truncated": false },
                    "roleArn": machine.role_arn,
                })
                .to_string(),
            ),
            step: None,
            note: None,
        };
        (record, started)
    }

    /// Runs an Express execution in memory to its end.
    pub(crate) async fn run_express(
        &self,
        machine: &MachineRecord,
        parsed: Arc<StateMachine>,
        name: &str,
        input: Value,
        trace: Option<String>,
        id: String,
    ) -> (ExecutionInfo, i64, Ending) {
        let now = clock::now_ms();
        let info = ExecutionInfo {
            arn: arn::execution(&self.region, &machine.name, name, Some(&id)),
            name: name.to_string(),
            machine_arn: machine.arn.clone(),
            machine_name: machine.name.clone(),
            role_arn: machine.role_arn.clone(),
            input,
            start_time: clock::iso(now),
            redrive_count: 0,
            redrive_time: None,
            trace,
        };
        let run = Run {
            info: info.clone(),
            machine: parsed.clone(),
            recorder: Recorder::new(info.arn.clone(), Sink::Memory, 1),
            journal: Journal::default(),
            tasks: self.tasks.clone(),
            tokens: self.tokens.clone(),
            region: self.region.clone(),
        };
        // Express executions last at most five minutes.
        let limit = parsed.timeout_seconds.unwrap_or(300).min(300) as i64;
        let ending = self
            .drive(&run, Some(now + limit * 1000))
            .await
            .unwrap_or(Ending {
                status: ExecutionStatus::Failed,
                output: None,
                error: Some("States.Runtime".into()),
                cause: Some("the execution stopped".into()),
                stopped_ms: clock::now_ms(),
            });
        (info, now, ending)
    }
}
