//! Task states: calling a function (or a bucket), retrying as the state's Retry
//! says, timing out, and waiting for a task token.
//!
//! Each attempt is recorded as scheduled and started before the call, and its
//! result after: a restart finds an attempt without a result and makes it again
//! (at least once). A task token is noted when its attempt is scheduled, so a
//! restart waits for the same token rather than handing out a new one.

use std::time::Duration;

use bytes::Bytes;
use gust_asl::definition::{Resource, Seconds, Task};
use serde_json::{json, Value};

use super::io;
use super::journal::{Note, Outcome};
use super::recorder::{Halt, NewHistory};
use super::retry::{sleep_until, Retries};
use super::{Failure, Run, Visit};
use crate::clock;
use crate::tokens::TokenMessage;

/// AWS's default Task timeout: 99,999,999 seconds.
const DEFAULT_TIMEOUT_SECONDS: u64 = 99_999_999;

/// How the history names a resource: `(resourceType, resource)`, or `None` for a
/// bare function ARN (whose events are `LambdaFunction...`).
fn resource_names(resource: &Resource) -> Option<(String, String)> {
    match resource {
        Resource::Function { .. } => None,
        Resource::LambdaInvoke { wait_for_token } => Some((
            "lambda".into(),
            if *wait_for_token {
                "invoke.waitForTaskToken".into()
            } else {
                "invoke".into()
            },
        )),
        Resource::S3 { action } => Some(("aws-sdk:s3".into(), action.clone())),
    }
}

/// Events of one attempt's end, by resource kind.
struct AttemptEvents<'a> {
    names: Option<(String, String)>,
    step: &'a str,
}

impl AttemptEvents<'_> {
    fn details(&self, mut fields: Value) -> Value {
        if let Some((kind, resource)) = &self.names {
            fields["resourceType"] = json!(kind);
            fields["resource"] = json!(resource);
        }
        fields
    }

    fn kind(&self, task: &'static str, lambda: &'static str) -> &'static str {
        if self.names.is_some() {
            task
        } else {
            lambda
        }
    }

    fn succeeded(&self, output: &Value) -> NewHistory {
        NewHistory::new(
            self.kind("TaskSucceeded", "LambdaFunctionSucceeded"),
            Some(self.details(json!({
                "output": output.to_string(),
                "outputDetails": { "truncated": false },
            }))),
            self.step,
        )
    }

    fn failed(&self, f: &Failure) -> NewHistory {
        let timed_out =
            f.error == gust_asl::errors::TIMEOUT || f.error == gust_asl::errors::HEARTBEAT_TIMEOUT;
        let kind = if timed_out {
            self.kind("TaskTimedOut", "LambdaFunctionTimedOut")
        } else {
            self.kind("TaskFailed", "LambdaFunctionFailed")
        };
        NewHistory::new(
            kind,
            Some(self.details(json!({ "error": f.error, "cause": f.cause }))),
            self.step,
        )
    }
}

impl Run {
    pub(super) async fn task(
        &self,
        visit: &Visit<'_>,
        task: &Task,
        entered: bool,
        prev: &mut i64,
    ) -> Result<Outcome, Halt> {
        let names = resource_names(&task.resource);
        let ends = AttemptEvents {
            names: names.clone(),
            step: &visit.step,
        };
        // What earlier attempts (before a restart) came to.
        let mut retries = Retries::recorded(self, visit);
        let mut token = None;
        if let Some(step) = self.journal.step(&visit.step) {
            for (_, note) in &step.events {
                if note.retrier.is_some() {
                    // A retried attempt's token is spent.
                    token = None;
                }
                if note.token.is_some() {
                    token = note.token.clone();
                }
            }
        }
        let mut pending = Vec::new();
        if !entered {
            pending.push(visit.entered_event());
        }
        if let Some(due) = retries.due {
            sleep_until(due).await;
        }
        loop {
            let retry_count = retries.total();
            let wait_for_token = matches!(
                task.resource,
                Resource::LambdaInvoke {
                    wait_for_token: true
                }
            );
            let resumed_token = token.take();
            let this_token = match (&resumed_token, wait_for_token) {
                (Some(t), _) => Some(t.clone()),
                (None, true) => Some(crate::tokens::new_token()),
                (None, false) => None,
            };
            let context = visit.context(self, retry_count, this_token.as_deref());
            let result = match io::effective_input(self, visit, &context) {
                Err(failure) => Err(failure),
                Ok(input) => {
                    let timeout = self.seconds(visit, &context, task.timeout.as_ref());
                    let heartbeat = self.seconds(visit, &context, task.heartbeat.as_ref());
                    match (timeout, heartbeat) {
                        (Err(f), _) | (_, Err(f)) => Err(f),
                        (Ok(timeout), Ok(heartbeat)) => {
                            let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT_SECONDS);
                            pending.extend(self.scheduled_events(
                                visit,
                                task,
                                &names,
                                &input,
                                timeout,
                                heartbeat,
                                this_token.as_deref(),
                            ));
                            if let (Some(t), None, Some(store)) =
                                (&this_token, &resumed_token, self.recorder.store())
                            {
                                store
                                    .put_token(t, &self.info.arn, &visit.step, clock::now_ms())
                                    .map_err(|e| Halt(e.to_string()))?;
                            }
                            self.recorder.append(prev, std::mem::take(&mut pending))?;
                            self.attempt(
                                visit,
                                task,
                                input,
                                timeout,
                                heartbeat,
                                this_token.as_deref(),
                                prev,
                            )
                            .await?
                        }
                    }
                }
            };
            let result = result.and_then(|raw| {
                io::within_limit(visit, "the task's result", &raw)?;
                Ok(raw)
            });
            let failure = match result {
                Ok(raw) => match io::output(visit, &context, raw.clone(), true) {
                    Ok((output, vars)) => {
                        let outcome = Outcome::Next {
                            next: visit.state.next.clone(),
                            output,
                            vars,
                        };
                        pending.push(ends.succeeded(&raw));
                        pending.push(visit.exited_event(outcome.clone()));
                        self.recorder.append(prev, pending)?;
                        return Ok(outcome);
                    }
                    Err(failure) => {
                        // The call succeeded; its output did not fit: not retried.
                        pending.push(ends.succeeded(&raw));
                        let (outcome, exited) = self.catch(visit, &failure);
                        pending.extend(exited);
                        self.recorder.append(prev, pending)?;
                        return Ok(outcome);
                    }
                },
                Err(failure) => failure,
            };
            if let Some(note) = retries.next(visit, &failure) {
                let due = note.until_ms.unwrap_or_default();
                pending.push(ends.failed(&failure).noted(note));
                self.recorder.append(prev, std::mem::take(&mut pending))?;
                sleep_until(due).await;
                continue;
            }
            pending.push(ends.failed(&failure));
            let (outcome, exited) = self.catch(visit, &failure);
            pending.extend(exited);
            self.recorder.append(prev, pending)?;
            return Ok(outcome);
        }
    }

    fn seconds(
        &self,
        visit: &Visit<'_>,
        context: &Value,
        s: Option<&Seconds>,
    ) -> Result<Option<u64>, Failure> {
        match s {
            None => Ok(None),
            Some(Seconds::Fixed(n)) => Ok(Some(*n)),
            Some(Seconds::Path(p)) => {
                let v = io::path_value(visit, context, p)?;
                match v.as_u64() {
                    Some(n) if n >= 1 => Ok(Some(n)),
                    _ => Err(Failure::new(
                        "States.Runtime",
                        visit.runtime_cause(&format!(
                            "The value of '{p}' must be a positive integer, not {v}"
                        )),
                    )),
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn scheduled_events(
        &self,
        visit: &Visit<'_>,
        task: &Task,
        names: &Option<(String, String)>,
        input: &Value,
        timeout: u64,
        heartbeat: Option<u64>,
        token: Option<&str>,
    ) -> Vec<NewHistory> {
        let note = Note {
            token: token.map(str::to_string),
            ..Note::default()
        };
        match (names, &task.resource) {
            (None, Resource::Function { arn }) => {
                let mut details = json!({
                    "resource": arn,
                    "input": input.to_string(),
                    "inputDetails": { "truncated": false },
                });
                if task.timeout.is_some() {
                    details["timeoutInSeconds"] = json!(timeout);
                }
                vec![
                    NewHistory::new("LambdaFunctionScheduled", Some(details), &visit.step)
                        .noted(note),
                    NewHistory::new("LambdaFunctionStarted", None, &visit.step),
                ]
            }
            (Some((kind, resource)), _) => {
                let mut details = json!({
                    "resourceType": kind,
                    "resource": resource,
                    "region": self.region,
                    "parameters": input.to_string(),
                });
                if task.timeout.is_some() {
                    details["timeoutInSeconds"] = json!(timeout);
                }
                if let Some(h) = heartbeat {
                    details["heartbeatInSeconds"] = json!(h);
                }
                vec![
                    NewHistory::new("TaskScheduled", Some(details), &visit.step).noted(note),
                    NewHistory::new(
                        "TaskStarted",
                        Some(json!({ "resourceType": kind, "resource": resource })),
                        &visit.step,
                    ),
                ]
            }
            (None, _) => Vec::new(),
        }
    }

    /// One attempt: the call, bounded by the timeout (and heartbeats).
    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        visit: &Visit<'_>,
        task: &Task,
        input: Value,
        timeout: u64,
        heartbeat: Option<u64>,
        token: Option<&str>,
        prev: &mut i64,
    ) -> Result<Result<Value, Failure>, Halt> {
        let timed_out = || {
            Failure::new(
                gust_asl::errors::TIMEOUT,
                format!(
                    "The task '{}' did not finish within {timeout} seconds",
                    visit.state.name
                ),
            )
        };
        let limit = Duration::from_secs(timeout.min(DEFAULT_TIMEOUT_SECONDS));
        let Some(token) = token else {
            return Ok(tokio::time::timeout(limit, self.call(task, input))
                .await
                .unwrap_or_else(|_| Err(timed_out())));
        };
        // `.waitForTaskToken`: the call hands the token out; the task ends when
        // SendTaskSuccess or SendTaskFailure names it.
        let mut messages = self.tokens.register(token);
        let deadline = tokio::time::Instant::now() + limit;
        let submitted = self.journal.step(&visit.step).is_some_and(|s| {
            s.notes("TaskSubmitted")
                .any(|n| n.token.as_deref() == Some(token))
        });
        if !submitted {
            match tokio::time::timeout_at(deadline, self.call(task, input)).await {
                Err(_) => return Ok(Err(timed_out())),
                Ok(Err(failure)) => {
                    self.tokens.forget(token);
                    return Ok(Err(failure));
                }
                Ok(Ok(answer)) => {
                    let submitted = NewHistory::new(
                        "TaskSubmitted",
                        Some(json!({
                            "resourceType": "lambda",
                            "resource": "invoke.waitForTaskToken",
                            "output": answer.to_string(),
                            "outputDetails": { "truncated": false },
                        })),
                        &visit.step,
                    )
                    .noted(Note {
                        token: Some(token.to_string()),
                        ..Note::default()
                    });
                    self.recorder.append(prev, vec![submitted])?;
                }
            }
        }
        let beat = heartbeat.map(Duration::from_secs);
        loop {
            let next_beat = beat.map(|b| tokio::time::Instant::now() + b);
            let until = match next_beat {
                Some(b) if b < deadline => b,
                _ => deadline,
            };
            match tokio::time::timeout_at(until, messages.recv()).await {
                Ok(Some(TokenMessage::Heartbeat)) => continue,
                Ok(Some(TokenMessage::Success(output))) => {
                    self.tokens.forget(token);
                    return Ok(Ok(output));
                }
                Ok(Some(TokenMessage::Failure { error, cause })) => {
                    self.tokens.forget(token);
                    return Ok(Err(Failure { error, cause }));
                }
                Ok(None) => return Err(Halt("the task token's channel closed".into())),
                Err(_) => {
                    self.tokens.forget(token);
                    if until == deadline {
                        return Ok(Err(timed_out()));
                    }
                    return Ok(Err(Failure::new(
                        gust_asl::errors::HEARTBEAT_TIMEOUT,
                        format!(
                            "The task '{}' sent no heartbeat within {} seconds",
                            visit.state.name,
                            heartbeat.unwrap_or_default()
                        ),
                    )));
                }
            }
        }
    }

    /// Calls the resource once.
    async fn call(&self, task: &Task, input: Value) -> Result<Value, Failure> {
        match &task.resource {
            Resource::Function { arn } => {
                let invoked = self.invoke(arn, None, &input).await?;
                function_result(&invoked)
            }
            Resource::LambdaInvoke { .. } => {
                let function = input
                    .get("FunctionName")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        Failure::new(
                            "States.Runtime",
                            "The field 'FunctionName' is required by arn:aws:states:::lambda:invoke",
                        )
                    })?;
                let qualifier = input.get("Qualifier").and_then(Value::as_str);
                let payload = input.get("Payload").cloned().unwrap_or(json!({}));
                let invoked = self.invoke(function, qualifier, &payload).await?;
                let parsed = function_result(&invoked)?;
                Ok(json!({
                    "ExecutedVersion": invoked.executed_version,
                    "Payload": parsed,
                    "SdkHttpMetadata": {
                        "AllHttpHeaders": {
                            "X-Amz-Executed-Version": [invoked.executed_version],
                            "x-amzn-RequestId": [invoked.request_id],
                            "Content-Type": ["application/json"],
                        },
                        "HttpHeaders": {
                            "X-Amz-Executed-Version": invoked.executed_version,
                            "x-amzn-RequestId": invoked.request_id,
                            "Content-Type": "application/json",
                        },
                        "HttpStatusCode": 200,
                    },
                    "SdkResponseMetadata": { "RequestId": invoked.request_id },
                    "StatusCode": 200,
                }))
            }
            Resource::S3 { action } => self
                .tasks
                .s3(action, input)
                .await
                .map_err(|e| Failure::new(e.error, e.cause)),
        }
    }

    async fn invoke(
        &self,
        function: &str,
        qualifier: Option<&str>,
        payload: &Value,
    ) -> Result<crate::tasks::Invoked, Failure> {
        let bytes = Bytes::from(payload.to_string());
        self.tasks
            .invoke(function, qualifier, bytes, self.info.trace.as_deref())
            .await
            .map_err(|e| Failure::new(e.error, e.cause))
    }
}

/// A function's answer as a Task result: its JSON, or its error as the failure
/// (the `errorType` is the error, the error JSON the cause).
fn function_result(invoked: &crate::tasks::Invoked) -> Result<Value, Failure> {
    let text = String::from_utf8_lossy(&invoked.payload);
    let parsed: Value = serde_json::from_slice(&invoked.payload)
        .unwrap_or_else(|_| Value::String(text.to_string()));
    if invoked.function_error {
        let error = parsed
            .get("errorType")
            .and_then(Value::as_str)
            .unwrap_or("Lambda.Unknown")
            .to_string();
        return Err(Failure::new(error, text.to_string()));
    }
    Ok(parsed)
}
