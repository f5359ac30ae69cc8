//! Parallel and Map: states whose work is frames of their own.
//!
//! Each attempt's frames are named after the step and the attempt
//! (`"<step>.<attempt>.<branch or item>"`), so a retry runs fresh frames and a
//! restart replays the attempt under way. A Map iteration's end is recorded with
//! its output, so a restart (or a redrive) does not run finished items again.

use futures::stream::{FuturesUnordered, StreamExt};
use gust_asl::definition::{MapState, Seconds, StateMachine};
use gust_asl::eval::{self, Scope, States};
use serde_json::{json, Value};

use super::io;
use super::journal::{Note, Outcome};
use super::recorder::{Halt, NewHistory};
use super::retry::{sleep_until, Retries};
use super::{Failure, Frame, Run, Visit};

/// How many iterations of an inline Map run at once when MaxConcurrency is 0
/// (Step Functions' own bound for inline maps is 40).
const INLINE_MAP_CONCURRENCY: usize = 40;

/// Parallel or Map: the names of its events.
#[derive(Clone, Copy)]
struct Kind {
    started: &'static str,
    succeeded: &'static str,
    failed: &'static str,
}

const PARALLEL: Kind = Kind {
    started: "ParallelStateStarted",
    succeeded: "ParallelStateSucceeded",
    failed: "ParallelStateFailed",
};

const MAP: Kind = Kind {
    started: "MapStateStarted",
    succeeded: "MapStateSucceeded",
    failed: "MapStateFailed",
};

/// A fan-out visit under way: its retries so far and its unwritten events.
struct Attempts {
    kind: Kind,
    retries: Retries,
    /// Started events recorded so far (one per attempt begun).
    started: u64,
    pending: Vec<NewHistory>,
}

impl Attempts {
    /// Reads the step's record; sleeps out a retry that was due.
    async fn resume(run: &Run, visit: &Visit<'_>, entered: bool, kind: Kind) -> Attempts {
        let retries = Retries::recorded(run, visit);
        let started = run
            .journal
            .step(&visit.step)
            .map_or(0, |step| step.notes(kind.started).count() as u64);
        let mut pending = Vec::new();
        if !entered {
            pending.push(visit.entered_event());
        }
        if let Some(due) = retries.due {
            sleep_until(due).await;
        }
        Attempts {
            kind,
            retries,
            started,
            pending,
        }
    }

    fn attempt(&self) -> u64 {
        self.retries.total()
    }

    /// Records the attempt's start (with the entry, if still pending) unless a
    /// restart finds it recorded.
    fn begin(
        &mut self,
        run: &Run,
        visit: &Visit<'_>,
        details: Option<Value>,
        prev: &mut i64,
    ) -> Result<(), Halt> {
        if self.started <= self.attempt() {
            self.pending
                .push(NewHistory::new(self.kind.started, details, &visit.step));
            self.started += 1;
        }
        if !self.pending.is_empty() {
            run.recorder
                .append(prev, std::mem::take(&mut self.pending))?;
        }
        Ok(())
    }

    /// Ends an attempt: the visit's outcome, or `None` to try again (after the
    /// retry's delay).
    async fn end(
        &mut self,
        run: &Run,
        visit: &Visit<'_>,
        context: &Value,
        result: Result<Value, Failure>,
        prev: &mut i64,
    ) -> Result<Option<Outcome>, Halt> {
        let failure = match result.and_then(|r| io::output(visit, context, r, true)) {
            Ok((output, vars)) => {
                let outcome = Outcome::Next {
                    next: visit.state.next.clone(),
                    output,
                    vars,
                };
                self.pending
                    .push(NewHistory::new(self.kind.succeeded, None, &visit.step));
                self.pending.push(visit.exited_event(outcome.clone()));
                run.recorder
                    .append(prev, std::mem::take(&mut self.pending))?;
                return Ok(Some(outcome));
            }
            Err(failure) => failure,
        };
        let failed = NewHistory::new(self.kind.failed, None, &visit.step);
        if let Some(note) = self.retries.next(visit, &failure) {
            let due = note.until_ms.unwrap_or_default();
            self.pending.push(failed.noted(note));
            run.recorder
                .append(prev, std::mem::take(&mut self.pending))?;
            sleep_until(due).await;
            return Ok(None);
        }
        self.pending.push(failed);
        let (outcome, exited) = run.catch(visit, &failure);
        self.pending.extend(exited);
        run.recorder
            .append(prev, std::mem::take(&mut self.pending))?;
        Ok(Some(outcome))
    }
}

impl Run {
    pub(super) async fn parallel(
        &self,
        visit: &Visit<'_>,
        branches: &[StateMachine],
        entered: bool,
        prev: &mut i64,
    ) -> Result<Outcome, Halt> {
        let mut attempts = Attempts::resume(self, visit, entered, PARALLEL).await;
        loop {
            let attempt = attempts.attempt();
            let context = visit.context(self, attempt, None);
            let result = match io::effective_input(self, visit, &context) {
                Err(f) => Err(f),
                Ok(input) => {
                    attempts.begin(self, visit, None, prev)?;
                    let start = *prev;
                    let mut running: FuturesUnordered<_> = branches
                        .iter()
                        .enumerate()
                        .map(|(b, branch)| {
                            let frame = Frame {
                                id: format!("{}.{attempt}.{b}", visit.step),
                                vars: visit.frame.vars.clone(),
                                item: None,
                            };
                            let run = self.frame(branch, frame, input.clone(), start);
                            async move { (b, run.await) }
                        })
                        .collect();
                    let mut outputs = vec![Value::Null; branches.len()];
                    let mut failed = None;
                    while let Some((b, result)) = running.next().await {
                        match result? {
                            Ok(output) => outputs[b] = output,
                            Err(failure) => {
                                // One branch failing stops the others.
                                failed = Some(failure);
                                break;
                            }
                        }
                    }
                    drop(running);
                    match failed {
                        Some(f) => Err(f),
                        None => Ok(Value::Array(outputs)),
                    }
                }
            };
            if let Some(outcome) = attempts.end(self, visit, &context, result, prev).await? {
                return Ok(outcome);
            }
        }
    }

    pub(super) async fn map(
        &self,
        visit: &Visit<'_>,
        map: &MapState,
        entered: bool,
        prev: &mut i64,
    ) -> Result<Outcome, Halt> {
        let mut attempts = Attempts::resume(self, visit, entered, MAP).await;
        loop {
            let attempt = attempts.attempt();
            let context = visit.context(self, attempt, None);
            let result = match self.map_items(visit, map, &context).await {
                Err(f) => Err(f),
                Ok((input, items)) => {
                    let length = json!({ "length": items.len() });
                    attempts.begin(self, visit, Some(length), prev)?;
                    self.iterate(visit, map, &context, attempt, &input, items, *prev)
                        .await?
                }
            };
            if let Some(outcome) = attempts.end(self, visit, &context, result, prev).await? {
                return Ok(outcome);
            }
        }
    }

    /// The Map's effective input and its items.
    async fn map_items(
        &self,
        visit: &Visit<'_>,
        map: &MapState,
        context: &Value,
    ) -> Result<(Value, Vec<Value>), Failure> {
        let vars = &visit.frame.vars;
        let input = if visit.jsonata() {
            visit.input.clone()
        } else {
            eval::select(
                visit.state.input_path.as_ref(),
                &Scope {
                    input: &visit.input,
                    context,
                    variables: vars,
                },
            )
            .map_err(|e| io::failed(visit, e))?
        };
        let items = if let Some(reader) = &map.item_reader {
            Value::Array(self.read_items(visit, reader, context).await?)
        } else if visit.jsonata() {
            match &map.items {
                Some(items) => eval::jsonata(
                    items,
                    &States {
                        input: &input,
                        context,
                        result: None,
                        error_output: None,
                        variables: vars,
                    },
                )
                .map_err(|e| io::failed(visit, e))?,
                None => input.clone(),
            }
        } else {
            eval::select(
                map.items.as_ref(),
                &Scope {
                    input: &input,
                    context,
                    variables: vars,
                },
            )
            .map_err(|e| io::failed(visit, e))?
        };
        match items {
            Value::Array(items) => Ok((input, items)),
            other => Err(Failure::new(
                "States.Runtime",
                visit.runtime_cause(&format!(
                    "Invalid path '{}': the Map state's items must be a JSON array, not {}",
                    map.items.as_ref().and_then(Value::as_str).unwrap_or("$"),
                    kind_of(&other)
                )),
            )),
        }
    }

    /// `ItemReader`: a JSON array in an object, or a listing of a bucket.
    async fn read_items(
        &self,
        visit: &Visit<'_>,
        reader: &Value,
        context: &Value,
    ) -> Result<Vec<Value>, Failure> {
        let reader_failed =
            |cause: String| Failure::new("States.ItemReaderFailed", visit.runtime_cause(&cause));
        let resource = reader.get("Resource").and_then(Value::as_str).unwrap_or("");
        let params = match reader.get("Parameters").or_else(|| reader.get("Arguments")) {
            Some(p) if visit.jsonata() => io::literal(visit, context, p)?,
            Some(p) => eval::template(
                p,
                &Scope {
                    input: &visit.input,
                    context,
                    variables: &visit.frame.vars,
                },
            )
            .map_err(|e| io::failed(visit, e))?,
            None => json!({}),
        };
        match resource {
            "arn:aws:states:::s3:getObject" => {
                let answer = self
                    .tasks
                    .s3("getObject", params)
                    .await
                    .map_err(|e| reader_failed(format!("{}: {}", e.error, e.cause)))?;
                let body = answer.get("Body").and_then(Value::as_str).unwrap_or("");
                let input_type = reader
                    .pointer("/ReaderConfig/InputType")
                    .and_then(Value::as_str)
                    .unwrap_or("JSON");
                match input_type {
                    "JSON" => match serde_json::from_str::<Value>(body) {
                        Ok(Value::Array(items)) => Ok(items),
                        _ => Err(reader_failed(
                            "the object is not a JSON array of items".into(),
                        )),
                    },
                    "CSV" => Ok(csv_items(body)),
                    other => Err(reader_failed(format!(
                        "gust's ItemReader reads JSON and CSV objects, not {other}"
                    ))),
                }
            }
            "arn:aws:states:::s3:listObjectsV2" => {
                let answer = self
                    .tasks
                    .s3("listObjectsV2", params)
                    .await
                    .map_err(|e| reader_failed(format!("{}: {}", e.error, e.cause)))?;
                Ok(answer
                    .get("Contents")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default())
            }
            other => Err(reader_failed(format!(
                "gust's ItemReader reads arn:aws:states:::s3:getObject and \
                 arn:aws:states:::s3:listObjectsV2, not {other}"
            ))),
        }
    }

    /// Runs the iterations of one Map attempt.
    #[allow(clippy::too_many_arguments)]
    async fn iterate(
        &self,
        visit: &Visit<'_>,
        map: &MapState,
        context: &Value,
        attempt: u64,
        input: &Value,
        items: Vec<Value>,
        start: i64,
    ) -> Result<Result<Value, Failure>, Halt> {
        let total = items.len();
        let concurrency = match &map.max_concurrency {
            None | Some(Seconds::Fixed(0)) => INLINE_MAP_CONCURRENCY,
            Some(Seconds::Fixed(n)) => (*n as usize).max(1),
            Some(Seconds::Path(p)) => match io::path_value(visit, context, p) {
                Err(f) => return Ok(Err(f)),
                Ok(v) => match v.as_u64() {
                    Some(0) | None => INLINE_MAP_CONCURRENCY,
                    Some(n) => n as usize,
                },
            },
        }
        .min(total.max(1));
        let tolerated = match tolerated_failures(visit, map, context, total) {
            Ok(t) => t,
            Err(f) => return Ok(Err(f)),
        };
        let mut outputs = vec![Value::Null; total];
        let mut failures = 0usize;
        let mut running = futures::stream::iter(items.into_iter().enumerate())
            .map(|(i, item)| async move {
                let r = self
                    .iteration(visit, map, context, attempt, input, i, item, start)
                    .await;
                (i, r)
            })
            .buffer_unordered(concurrency);
        while let Some((i, result)) = running.next().await {
            match result? {
                Ok(output) => outputs[i] = output,
                Err(failure) => {
                    failures += 1;
                    match tolerated {
                        Some(t) if failures <= t => {
                            outputs[i] = json!({"Error": failure.error, "Cause": failure.cause});
                        }
                        Some(_) => {
                            return Ok(Err(Failure::new(
                                "States.ExceedToleratedFailureThreshold",
                                format!(
                                    "The Map state '{}' failed: {failures} of {total} items \
                                     failed, more than it tolerates",
                                    visit.state.name
                                ),
                            )))
                        }
                        None => return Ok(Err(failure)),
                    }
                }
            }
        }
        Ok(Ok(Value::Array(outputs)))
    }

    /// One item: its input from ItemSelector, its frame, its end recorded.
    #[allow(clippy::too_many_arguments)]
    async fn iteration(
        &self,
        visit: &Visit<'_>,
        map: &MapState,
        context: &Value,
        attempt: u64,
        input: &Value,
        index: usize,
        item: Value,
        start: i64,
    ) -> Result<Result<Value, Failure>, Halt> {
        let id = format!("{}.{attempt}.{index}", visit.step);
        let recorded = self.journal.step(&id);
        if let Some(step) = recorded {
            if let Some(output) = step
                .notes("MapIterationSucceeded")
                .find_map(|n| n.output.clone())
            {
                return Ok(Ok(output));
            }
        }
        let details = json!({ "name": visit.state.name, "index": index });
        let mut prev = start;
        if let Some(step) = recorded {
            prev = step.last_id;
        } else {
            self.recorder.append(
                &mut prev,
                vec![NewHistory::new(
                    "MapIterationStarted",
                    Some(details.clone()),
                    &id,
                )],
            )?;
        }
        let mut item_context = context.clone();
        item_context["Map"] = json!({ "Item": { "Index": index, "Value": item } });
        let item_input = match &map.item_selector {
            None => Ok(item.clone()),
            Some(selector) if visit.jsonata() => eval::jsonata(
                selector,
                &States {
                    input,
                    context: &item_context,
                    result: None,
                    error_output: None,
                    variables: &visit.frame.vars,
                },
            )
            .map_err(|e| io::failed(visit, e)),
            Some(selector) => eval::template(
                selector,
                &Scope {
                    input,
                    context: &item_context,
                    variables: &visit.frame.vars,
                },
            )
            .map_err(|e| io::failed(visit, e)),
        };
        let result = match item_input {
            Err(f) => Err(f),
            Ok(item_input) => {
                let frame = Frame {
                    id: id.clone(),
                    vars: visit.frame.vars.clone(),
                    item: Some((index, item)),
                };
                self.frame(&map.processor, frame, item_input, prev).await?
            }
        };
        let end = match &result {
            Ok(output) => {
                NewHistory::new("MapIterationSucceeded", Some(details), &id).noted(Note {
                    output: Some(output.clone()),
                    ..Note::default()
                })
            }
            Err(f) => NewHistory::new("MapIterationFailed", Some(details), &id).noted(Note {
                failure: Some((f.error.clone(), f.cause.clone())),
                ..Note::default()
            }),
        };
        self.recorder.append(&mut prev, vec![end])?;
        Ok(result)
    }
}

/// How many failed items the Map tolerates, if it says.
fn tolerated_failures(
    visit: &Visit<'_>,
    map: &MapState,
    context: &Value,
    total: usize,
) -> Result<Option<usize>, Failure> {
    let number = |v: &Value| -> Result<Option<f64>, Failure> {
        match v {
            Value::Number(n) => Ok(n.as_f64()),
            Value::String(p) => Ok(io::path_value(visit, context, p)?.as_f64()),
            _ => Ok(None),
        }
    };
    let count = match &map.tolerated_failure_count {
        Some(v) => number(v)?.map(|n| n.max(0.0) as usize),
        None => None,
    };
    let percent = match &map.tolerated_failure_percentage {
        Some(v) => number(v)?.map(|p| ((p.clamp(0.0, 100.0) / 100.0) * total as f64) as usize),
        None => None,
    };
    Ok(match (count, percent) {
        (None, None) => None,
        (Some(c), None) => Some(c),
        (None, Some(p)) => Some(p),
        (Some(c), Some(p)) => Some(c.max(p)),
    })
}

/// A CSV object's rows as objects keyed by its first row.
fn csv_items(body: &str) -> Vec<Value> {
    let mut lines = body.lines().filter(|l| !l.is_empty());
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    lines
        .map(|line| {
            let fields = line.split(',').map(str::trim);
            let row: serde_json::Map<String, Value> = names
                .iter()
                .zip(fields)
                .map(|(n, f)| (n.to_string(), Value::String(f.to_string())))
                .collect();
            Value::Object(row)
        })
        .collect()
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
