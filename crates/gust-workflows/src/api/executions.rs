//! Executions: start (Standard and Express, async and sync), describe, list, the
//! history, stop, redrive, and the task-token calls.

use std::sync::Arc;

use gust_store::workflows::{EventRecord, ExecutionRecord};
use gust_store::StoreError;
use serde_json::{json, Value};

use super::{optional, page, required, ApiError, TaskCall};
use crate::service::ExecutionStatus;
use crate::tokens::TokenMessage;
use crate::{arn, clock, Workflows};

/// The largest execution input Step Functions takes (256 KiB).
const MAX_INPUT_BYTES: usize = 256 * 1024;

/// How long a stopped execution may be redriven (14 days).
const REDRIVE_WINDOW_MS: i64 = 14 * 24 * 3600 * 1000;

/// The `...EventDetails` member an event type's details go in.
fn details_key(kind: &str) -> String {
    if kind.ends_with("StateEntered") {
        return "stateEnteredEventDetails".into();
    }
    if kind.ends_with("StateExited") {
        return "stateExitedEventDetails".into();
    }
    let mut chars = kind.chars();
    match chars.next() {
        Some(first) => format!(
            "{}{}EventDetails",
            first.to_ascii_lowercase(),
            chars.as_str()
        ),
        None => String::new(),
    }
}

fn history_event(e: &EventRecord) -> Value {
    let mut out = json!({
        "timestamp": clock::api_time(e.ms),
        "type": e.kind,
        "id": e.id,
        "previousEventId": e.previous,
    });
    if let Some(details) = e
        .details
        .as_deref()
        .and_then(|d| serde_json::from_str::<Value>(d).ok())
    {
        if details.as_object().is_some_and(|o| !o.is_empty()) {
            out[details_key(&e.kind)] = details;
        }
    }
    out
}

fn redrivable(e: &ExecutionRecord) -> bool {
    matches!(e.status.as_str(), "FAILED" | "TIMED_OUT" | "ABORTED")
        && e.stopped_ms
            .is_some_and(|s| clock::now_ms() - s < REDRIVE_WINDOW_MS)
}

fn input_of(input: &Value) -> Result<(String, Value), ApiError> {
    let text = optional(input, "input")?.unwrap_or("{}");
    if text.len() > MAX_INPUT_BYTES {
        return Err(ApiError::new(
            "InvalidExecutionInput",
            format!(
                "The execution input is {} bytes; at most {MAX_INPUT_BYTES} are allowed",
                text.len()
            ),
        ));
    }
    let value: Value = serde_json::from_str(text).map_err(|e| {
        ApiError::new(
            "InvalidExecutionInput",
            format!("Invalid execution input: {e}"),
        )
    })?;
    Ok((text.to_string(), value))
}

fn name_of(input: &Value) -> Result<String, ApiError> {
    match optional(input, "name")? {
        None => Ok(uuid::Uuid::new_v4().to_string()),
        Some(n) if arn::valid_name(n) => Ok(n.to_string()),
        Some(n) => Err(ApiError::new("InvalidName", format!("Invalid Name: '{n}'"))),
    }
}

impl Workflows {
    fn execution_named(&self, arn_text: &str) -> Result<ExecutionRecord, ApiError> {
        if arn::execution_names(&self.region, arn_text).is_none() {
            return Err(super::invalid_arn(arn_text));
        }
        self.store.execution(arn_text)?.ok_or_else(|| {
            ApiError::new(
                "ExecutionDoesNotExist",
                format!("Execution Does Not Exist: '{arn_text}'"),
            )
        })
    }

    pub(super) async fn start_execution(
        self: &Arc<Self>,
        input: &Value,
        trace: Option<String>,
    ) -> Result<Value, ApiError> {
        let machine = self.machine_named(required(input, "stateMachineArn")?)?;
        let name = name_of(input)?;
        let (text, value) = input_of(input)?;
        let trace = optional(input, "traceHeader")?
            .map(str::to_string)
            .or(trace);
        let parsed = self
            .parsed(&machine.definition)
            .map_err(|m| ApiError::new("InvalidDefinition", m))?;
        if machine.kind == "EXPRESS" {
            // Runs in memory; its history is not kept, as on AWS.
            let this = self.clone();
            let id = uuid::Uuid::new_v4().to_string();
            let arn_text = arn::execution(&self.region, &machine.name, &name, Some(&id));
            let start = clock::now_ms();
            tokio::spawn(async move {
                let _ = this
                    .run_express(&machine, parsed, &name, value, trace, id)
                    .await;
            });
            return Ok(json!({ "executionArn": arn_text, "startDate": clock::api_time(start) }));
        }
        let (record, started) = self.new_execution(&machine, &name, &text, trace);
        let info_for_notify = crate::engine::ExecutionInfo {
            arn: record.arn.clone(),
            name: record.name.clone(),
            machine_arn: record.machine_arn.clone(),
            machine_name: machine.name.clone(),
            role_arn: record.role_arn.clone(),
            input: value,
            start_time: clock::iso(record.started_ms),
            redrive_count: 0,
            redrive_time: None,
            trace: None,
        };
        let notify = self.status_change(
            self.monitor_of(&machine.arn).as_deref(),
            &info_for_notify,
            record.started_ms,
            ExecutionStatus::Running,
            None,
        );
        match self
            .store
            .start_execution(&record, std::slice::from_ref(&started), &notify)
        {
            Ok(ids) => self.tasks.scheduled(&ids, clock::now_ms()),
            Err(StoreError::Conflict(_)) => {
                // The same name and input while it runs: the same execution, as on
                // AWS (a retried start is idempotent).
                if let Some(existing) = self.store.execution(&record.arn)? {
                    if existing.status == "RUNNING" && existing.input == record.input {
                        return Ok(json!({
                            "executionArn": existing.arn,
                            "startDate": clock::api_time(existing.started_ms),
                        }));
                    }
                }
                return Err(ApiError::new(
                    "ExecutionAlreadyExists",
                    format!("Execution Already Exists: '{}'", record.arn),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        self.spawn_standard(&record, &[started])
            .map_err(ApiError::internal)?;
        Ok(json!({
            "executionArn": record.arn,
            "startDate": clock::api_time(record.started_ms),
        }))
    }

    pub(super) async fn start_sync_execution(
        self: &Arc<Self>,
        input: &Value,
        trace: Option<String>,
    ) -> Result<Value, ApiError> {
        let machine = self.machine_named(required(input, "stateMachineArn")?)?;
        if machine.kind != "EXPRESS" {
            return Err(ApiError::new(
                "StateMachineTypeNotSupported",
                "This operation is not supported by this type of state machine",
            ));
        }
        let name = name_of(input)?;
        let (text, value) = input_of(input)?;
        let trace = optional(input, "traceHeader")?
            .map(str::to_string)
            .or(trace);
        let parsed = self
            .parsed(&machine.definition)
            .map_err(|m| ApiError::new("InvalidDefinition", m))?;
        let id = uuid::Uuid::new_v4().to_string();
        let (info, start, ending) = self
            .run_express(&machine, parsed, &name, value, trace, id)
            .await;
        let mut out = json!({
            "executionArn": info.arn,
            "stateMachineArn": machine.arn,
            "name": name,
            "startDate": clock::api_time(start),
            "stopDate": clock::api_time(ending.stopped_ms),
            "status": ending.status.as_str(),
            "input": text,
            "inputDetails": { "included": true },
            "billingDetails": {
                "billedDurationInMilliseconds": ((ending.stopped_ms - start).max(0) + 99) / 100 * 100,
            },
        });
        if let Some(o) = &ending.output {
            out["output"] = json!(o.to_string());
            out["outputDetails"] = json!({ "included": true });
        }
        if let Some(e) = &ending.error {
            out["error"] = json!(e);
        }
        if let Some(c) = &ending.cause {
            out["cause"] = json!(c);
        }
        if let Some(t) = &info.trace {
            out["traceHeader"] = json!(t);
        }
        Ok(out)
    }

    pub(super) fn describe_execution(&self, input: &Value) -> Result<Value, ApiError> {
        let e = self.execution_named(required(input, "executionArn")?)?;
        let mut out = json!({
            "executionArn": e.arn,
            "stateMachineArn": e.machine_arn,
            "name": e.name,
            "status": e.status,
            "startDate": clock::api_time(e.started_ms),
            "input": e.input,
            "inputDetails": { "included": true },
            "redriveCount": e.redrives,
            "redriveStatus": if redrivable(&e) { "REDRIVABLE" } else { "NOT_REDRIVABLE" },
        });
        if !redrivable(&e) {
            out["redriveStatusReason"] = json!(match e.status.as_str() {
                "RUNNING" => "Execution is RUNNING and cannot be redriven",
                "SUCCEEDED" => "Execution is SUCCEEDED and cannot be redriven",
                _ => "Execution stopped more than 14 days ago and cannot be redriven",
            });
        }
        if let Some(s) = e.stopped_ms {
            out["stopDate"] = clock::api_time(s);
        }
        if let Some(o) = &e.output {
            out["output"] = json!(o);
            out["outputDetails"] = json!({ "included": true });
        }
        if let Some(err) = &e.error {
            out["error"] = json!(err);
        }
        if let Some(c) = &e.cause {
            out["cause"] = json!(c);
        }
        if let Some(r) = e.redriven_ms {
            out["redriveDate"] = clock::api_time(r);
        }
        if let Some(t) = &e.trace {
            out["traceHeader"] = json!(t);
        }
        Ok(out)
    }

    pub(super) fn list_executions(&self, input: &Value) -> Result<Value, ApiError> {
        let machine = self.machine_named(required(input, "stateMachineArn")?)?;
        let status = optional(input, "statusFilter")?;
        if let Some(s) = status {
            if ![
                "RUNNING",
                "SUCCEEDED",
                "FAILED",
                "TIMED_OUT",
                "ABORTED",
                "PENDING_REDRIVE",
            ]
            .contains(&s)
            {
                return Err(ApiError::new(
                    "ValidationException",
                    format!(
                        "1 validation error detected: Value '{s}' at 'statusFilter' failed to \
                         satisfy constraint: Member must satisfy enum value set: [RUNNING, \
                         SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE]"
                    ),
                ));
            }
        }
        let all = self.store.list_executions(&machine.arn, status)?;
        let (items, next) = page(input, &all)?;
        let list: Vec<Value> = items
            .iter()
            .map(|e| {
                let mut v = json!({
                    "executionArn": e.arn,
                    "stateMachineArn": e.machine_arn,
                    "name": e.name,
                    "status": e.status,
                    "startDate": clock::api_time(e.started_ms),
                    "redriveCount": e.redrives,
                });
                if let Some(s) = e.stopped_ms {
                    v["stopDate"] = clock::api_time(s);
                }
                if let Some(r) = e.redriven_ms {
                    v["redriveDate"] = clock::api_time(r);
                }
                v
            })
            .collect();
        let mut out = json!({ "executions": list });
        if let Some(next) = next {
            out["nextToken"] = json!(next);
        }
        Ok(out)
    }

    pub(super) fn history(&self, input: &Value) -> Result<Value, ApiError> {
        let e = self.execution_named(required(input, "executionArn")?)?;
        let mut events: Vec<Value> = self
            .store
            .events(&e.arn)?
            .iter()
            .map(history_event)
            .collect();
        if input.get("reverseOrder").and_then(Value::as_bool) == Some(true) {
            events.reverse();
        }
        if input.get("includeExecutionData").and_then(Value::as_bool) == Some(false) {
            // The events' shape stays; the data (inputs, outputs) goes.
            for event in &mut events {
                for (key, details) in event.as_object_mut().into_iter().flatten() {
                    if let (true, Some(d)) =
                        (key.ends_with("EventDetails"), details.as_object_mut())
                    {
                        for field in ["input", "output", "parameters"] {
                            d.remove(field);
                        }
                    }
                }
            }
        }
        let (items, next) = page(input, &events)?;
        let mut out = json!({ "events": items });
        if let Some(next) = next {
            out["nextToken"] = json!(next);
        }
        Ok(out)
    }

    pub(super) fn stop_execution(&self, input: &Value) -> Result<Value, ApiError> {
        let e = self.execution_named(required(input, "executionArn")?)?;
        let error = optional(input, "error")?.map(str::to_string);
        let cause = optional(input, "cause")?.map(str::to_string);
        if e.status != "RUNNING" {
            return Ok(
                json!({ "stopDate": clock::api_time(e.stopped_ms.unwrap_or(e.started_ms)) }),
            );
        }
        match self.stop(&e.arn, error, cause) {
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(other) => return Err(other.into()),
        }
        let stopped = self.store.execution(&e.arn)?.and_then(|e| e.stopped_ms);
        Ok(json!({ "stopDate": clock::api_time(stopped.unwrap_or_else(clock::now_ms)) }))
    }

    pub(super) fn redrive_execution(self: &Arc<Self>, input: &Value) -> Result<Value, ApiError> {
        let e = self.execution_named(required(input, "executionArn")?)?;
        if !redrivable(&e) {
            return Err(ApiError::new(
                "ExecutionNotRedrivable",
                format!(
                    "Execution with status {} cannot be redriven: only FAILED, TIMED_OUT and \
                     ABORTED executions of the last 14 days can",
                    e.status
                ),
            ));
        }
        let events = self.store.events(&e.arn)?;
        let last = events.last().map_or(0, |ev| ev.id);
        let now = clock::now_ms();
        let redriven = EventRecord {
            id: last + 1,
            previous: last,
            kind: "ExecutionRedriven".into(),
            ms: now,
            details: Some(json!({ "redriveCount": e.redrives + 1 }).to_string()),
            step: None,
            note: None,
        };
        self.store
            .redrive(&e.arn, std::slice::from_ref(&redriven), now)
            .map_err(|err| match err {
                StoreError::Conflict(m) => ApiError::new("ExecutionNotRedrivable", m),
                other => other.into(),
            })?;
        let record = self
            .store
            .execution(&e.arn)?
            .ok_or_else(|| ApiError::internal("the execution vanished"))?;
        let mut all = events;
        all.push(redriven);
        self.spawn_standard(&record, &all)
            .map_err(ApiError::internal)?;
        Ok(json!({ "redriveDate": clock::api_time(now) }))
    }

    pub(super) fn send_task(&self, input: &Value, call: TaskCall) -> Result<Value, ApiError> {
        let token = required(input, "taskToken")?;
        let message = match call {
            TaskCall::Heartbeat => TokenMessage::Heartbeat,
            TaskCall::Failure => TokenMessage::Failure {
                error: optional(input, "error")?.unwrap_or("").to_string(),
                cause: optional(input, "cause")?.unwrap_or("").to_string(),
            },
            TaskCall::Success => {
                let output = required(input, "output")?;
                let value = serde_json::from_str(output).map_err(|e| {
                    ApiError::new(
                        "InvalidOutput",
                        format!("Invalid Output: the output is not JSON: {e}"),
                    )
                })?;
                TokenMessage::Success(value)
            }
        };
        if self.tokens.send(token, message) {
            return Ok(json!({}));
        }
        if !token.starts_with("gust-task-") {
            return Err(ApiError::new(
                "InvalidToken",
                format!("Invalid Token: '{token}'"),
            ));
        }
        match self.store.token(token)? {
            Some(_) => Err(ApiError::new(
                "TaskTimedOut",
                "Task Timed Out: 'Provided task does not exist anymore'",
            )),
            None => Err(ApiError::new(
                "TaskDoesNotExist",
                "Task Does Not Exist: 'Provided task does not exist anymore'",
            )),
        }
    }

    pub(super) fn machine_for_execution(&self, input: &Value) -> Result<Value, ApiError> {
        let e = self.execution_named(required(input, "executionArn")?)?;
        let name = arn::machine_name(&self.region, &e.machine_arn).unwrap_or_default();
        Ok(json!({
            "stateMachineArn": e.machine_arn,
            "name": name,
            "definition": e.definition,
            "roleArn": e.role_arn,
            "updateDate": clock::api_time(e.redriven_ms.unwrap_or(e.started_ms)),
            "loggingConfiguration": { "level": "OFF", "includeExecutionData": false },
            "tracingConfiguration": { "enabled": false },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_go_in_aws_members() {
        assert_eq!(details_key("TaskStateEntered"), "stateEnteredEventDetails");
        assert_eq!(details_key("PassStateExited"), "stateExitedEventDetails");
        assert_eq!(
            details_key("ExecutionStarted"),
            "executionStartedEventDetails"
        );
        assert_eq!(
            details_key("LambdaFunctionScheduled"),
            "lambdaFunctionScheduledEventDetails"
        );
        assert_eq!(
            details_key("MapIterationStarted"),
            "mapIterationStartedEventDetails"
        );
    }
}
