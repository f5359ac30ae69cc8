//! The dispatcher: takes due events from the schedule, runs each once through an
//! [`Executor`] (at most `workers` at a time), and records what follows: a retry, or
//! the final status together with the delivery of the invocation record, in one
//! transaction.
//!
//! The order of writes gives at-least-once execution with a small duplicates
//! window: an event is marked `running` (without waiting for the commit) before its
//! attempt, and its outcome is committed right after the attempt returns. A crash in
//! between leaves it `running`, and start-up puts it back in the queue.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use gust_store::events::{
    EventProgress, EventStatus, EventWrite, NewEvent, NewMessage, StoredEvent,
};
use gust_types::{limits, FunctionRef};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::config::InvokeConfig;
use crate::policy::{AttemptKind, Verdict};
use crate::record::{
    dead_letter_attributes, error_message, error_summary, invocation_record, Condition,
    LastResponse,
};
use crate::target::{queue_arn, Target, UNDELIVERABLE_QUEUE};
use crate::Shared;

/// How often finished events older than the history window are forgotten.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// How long to wait before trying again an event that could not be read.
const LOAD_RETRY: Duration = Duration::from_secs(1);
/// The first wait before trying again to record an attempt's outcome; it doubles up
/// to [`OUTCOME_RETRY_MAX`].
const OUTCOME_RETRY_FIRST: Duration = Duration::from_millis(100);
/// The longest wait between two tries to record an attempt's outcome.
const OUTCOME_RETRY_MAX: Duration = Duration::from_secs(5);

/// How one attempt to run an event ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Execution {
    /// The function ran.
    Completed {
        /// Its result, or its error object.
        payload: Vec<u8>,
        /// `Unhandled` when it failed.
        function_error: Option<String>,
        /// The version that ran.
        executed_version: String,
    },
    /// No capacity: the function did not run (429).
    Throttled(String),
    /// gust could not run the function (its runtime would not start).
    SystemError(String),
    /// The function cannot run this event, ever (it was deleted).
    Rejected(String),
    /// gust is stopping; the function did not run or was stopped.
    ShuttingDown,
}

/// What runs events: the platform, or a test double.
pub trait Executor: Send + Sync + 'static {
    /// Runs the event once, synchronously (RequestResponse), and reports how it ended.
    fn execute(&self, event: &StoredEvent) -> impl Future<Output = Execution> + Send;
    /// The `DeadLetterConfig.TargetArn` of the function version the event names.
    fn dead_letter_target(&self, function: &str, qualifier: Option<&str>) -> Option<String>;
    /// Whether a function (version, alias) exists, to deliver records to it.
    fn function_exists(&self, function: &FunctionRef) -> bool;
    /// What became of an event, for metrics; the default ignores it.
    fn observe(&self, _event: &StoredEvent, _what: Observed) {}
}

/// What the dispatcher tells an [`Executor`] about an event, for Lambda's
/// asynchronous-invocation metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// An attempt starts, this long after the event was accepted (AsyncEventAge).
    Attempt {
        /// Milliseconds since it was accepted.
        age_ms: i64,
    },
    /// The event ended without a successful run (AsyncEventsDropped), whether or
    /// not its record then reached a destination or dead-letter queue.
    Dropped,
    /// Its record could not reach its dead-letter queue (DeadLetterErrors).
    DeadLetterError,
    /// Its record could not reach its destination (DestinationDeliveryFailures).
    DestinationFailure,
}

/// Runs until `stop` turns true, then waits for the attempts under way.
pub(crate) async fn run<E: Executor>(
    shared: Arc<Shared>,
    executor: Arc<E>,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(shared.settings.workers.max(1)));
    let mut tasks = JoinSet::new();
    let mut prune = tokio::time::interval(PRUNE_EVERY);
    prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let permit = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let pending = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            _ = prune.tick() => {
                shared.prune();
                continue;
            }
            p = shared.ready.next(&shared.clock) => p,
        };
        while tasks.try_join_next().is_some() {}
        tasks.spawn(run_one(
            shared.clone(),
            executor.clone(),
            pending.id,
            pending.event,
            permit,
            stop.clone(),
        ));
    }
    let in_flight = tasks.len();
    if in_flight > 0 {
        tracing::info!(in_flight, "waiting for asynchronous invocations under way");
    }
    while tasks.join_next().await.is_some() {}
}

/// The final outcomes.
enum Final {
    Succeeded,
    Exhausted,
    Expired,
    Rejected(String),
}

async fn run_one<E: Executor>(
    sh: Arc<Shared>,
    exec: Arc<E>,
    id: i64,
    cached: Option<Box<StoredEvent>>,
    permit: OwnedSemaphorePermit,
    mut stop: watch::Receiver<bool>,
) {
    let mut event = match cached {
        Some(e) => *e,
        None => match sh.load(id).await {
            Ok(Some(e)) if matches!(e.status, EventStatus::Queued | EventStatus::Running) => e,
            Ok(_) => return,
            Err(e) => {
                tracing::error!(id, error = %e, "could not read a queued event; trying again");
                let due = sh.clock.now_ms() + LOAD_RETRY.as_millis() as i64;
                sh.ready.push(id, due, None);
                return;
            }
        },
    };
    let config = sh
        .configs
        .effective(&event.function, event.qualifier.as_deref());
    let policy = config.policy(sh.settings.retry_base);
    if policy.expired(event.accepted_ms, sh.clock.now_ms()) {
        drop(permit);
        finish(&sh, &*exec, event, &config, Final::Expired, &mut stop).await;
        return;
    }

    let attempt = event.attempts + 1;
    exec.observe(
        &event,
        Observed::Attempt {
            age_ms: sh.clock.now_ms() - event.accepted_ms,
        },
    );
    sh.writer.send(vec![EventWrite::Start {
        id: event.id,
        attempts: attempt,
    }]);
    let result = exec.execute(&event).await;
    drop(permit);

    let kind = match &result {
        Execution::Completed {
            payload,
            function_error,
            executed_version,
        } => {
            event.attempts = attempt;
            event.executed_version = Some(executed_version.clone());
            if function_error.is_some() {
                event.last_error = Some(error_summary(payload));
                event.last_response = Some(payload.clone());
                AttemptKind::FunctionError
            } else {
                AttemptKind::Success
            }
        }
        Execution::Throttled(why) => {
            event.throttles += 1;
            event.last_error = Some(format!("TooManyRequestsException: {why}"));
            AttemptKind::Throttled
        }
        Execution::SystemError(why) => {
            event.throttles += 1;
            event.last_error = Some(format!("ServiceException: {why}"));
            AttemptKind::SystemError
        }
        Execution::Rejected(why) => {
            event.last_error = Some(why.clone());
            AttemptKind::Rejected
        }
        Execution::ShuttingDown => AttemptKind::ShuttingDown,
    };
    let now = sh.clock.now_ms();
    let verdict = policy.after(
        kind,
        event.accepted_ms,
        event.attempts,
        event.throttles,
        now,
    );
    match verdict {
        Verdict::Retry { due_ms } => {
            event.due_ms = due_ms;
            event.status = EventStatus::Queued;
            let write = EventWrite::Requeue {
                id: event.id,
                due_ms,
                progress: progress(&event),
            };
            store_outcome(&sh, vec![write], &event.request_id, &mut stop).await;
            let id = event.id;
            sh.ready.push(id, due_ms, Some(event));
        }
        Verdict::Succeeded => {
            let response = match result {
                Execution::Completed { payload, .. } => payload,
                _ => Vec::new(),
            };
            event.last_response = Some(response);
            finish(&sh, &*exec, event, &config, Final::Succeeded, &mut stop).await;
        }
        Verdict::Exhausted => {
            finish(&sh, &*exec, event, &config, Final::Exhausted, &mut stop).await
        }
        Verdict::Rejected => {
            let why = event.last_error.clone().unwrap_or_default();
            finish(&sh, &*exec, event, &config, Final::Rejected(why), &mut stop).await;
        }
    }
}

fn progress(e: &StoredEvent) -> EventProgress {
    EventProgress {
        attempts: e.attempts,
        throttles: e.throttles,
        last_error: e.last_error.clone(),
        last_response: e.last_response.clone(),
        executed_version: e.executed_version.clone(),
    }
}

/// Records the final status and delivers the record, in one transaction.
async fn finish<E: Executor>(
    sh: &Shared,
    exec: &E,
    mut event: StoredEvent,
    config: &InvokeConfig,
    outcome: Final,
    stop: &mut watch::Receiver<bool>,
) {
    let now = sh.clock.now_ms();
    let (status, condition) = match &outcome {
        Final::Succeeded => (EventStatus::Succeeded, Condition::Success),
        Final::Exhausted | Final::Rejected(_) => (EventStatus::Failed, Condition::RetriesExhausted),
        Final::Expired => (EventStatus::Expired, Condition::EventAgeExceeded),
    };
    if let Final::Expired = outcome {
        let age_s = (now - event.accepted_ms) / 1000;
        event.last_error = Some(match event.last_error.take() {
            Some(last) => format!("event expired after {age_s} s; last error: {last}"),
            None => format!("event expired after {age_s} s without running"),
        });
    }
    let response = match (&event.last_response, &event.executed_version) {
        (Some(payload), Some(version)) if event.attempts > 0 => Some(LastResponse {
            payload,
            executed_version: version,
            function_error: (status != EventStatus::Succeeded).then_some("Unhandled"),
        }),
        _ => None,
    };

    let mut writes = Vec::new();
    let destination = match (&outcome, config) {
        (
            Final::Succeeded,
            InvokeConfig {
                on_success: Some(arn),
                ..
            },
        )
        | (
            Final::Exhausted | Final::Expired | Final::Rejected(_),
            InvokeConfig {
                on_failure: Some(arn),
                ..
            },
        ) => {
            let record =
                invocation_record(&sh.region, &event, condition, event.attempts, response, now);
            let body = serde_json::to_string(&record).unwrap_or_default();
            Some(deliver(
                sh,
                exec,
                &mut writes,
                arn,
                &event,
                body,
                Default::default(),
            ))
        }
        (Final::Succeeded, _) => None,
        _ => match exec.dead_letter_target(&event.function, event.qualifier.as_deref()) {
            Some(arn) => {
                let (code, message) = match (&event.last_response, event.attempts) {
                    (Some(payload), n) if n > 0 => (200, error_message(payload)),
                    _ => (429, event.last_error.clone().unwrap_or_default()),
                };
                let attrs = dead_letter_attributes(&event.request_id, code, &message);
                let body = String::from_utf8_lossy(&event.payload).into_owned();
                Some(deliver(sh, exec, &mut writes, &arn, &event, body, attrs))
            }
            None => None,
        },
    };
    if !matches!(outcome, Final::Succeeded) {
        exec.observe(&event, Observed::Dropped);
    }
    let undeliverable = queue_arn(&sh.region, UNDELIVERABLE_QUEUE);
    let failed_delivery =
        |d: &&str| d.starts_with(&undeliverable) && d.contains(" (could not deliver to ");
    if let Some(d) = destination.as_deref().filter(failed_delivery) {
        let to_dead_letters = !matches!(
            (&outcome, config),
            (
                Final::Succeeded,
                InvokeConfig {
                    on_success: Some(_),
                    ..
                }
            ) | (
                Final::Exhausted | Final::Expired | Final::Rejected(_),
                InvokeConfig {
                    on_failure: Some(_),
                    ..
                }
            )
        );
        tracing::debug!(destination = %d, to_dead_letters, "an event's record was not delivered");
        exec.observe(
            &event,
            if to_dead_letters {
                Observed::DeadLetterError
            } else {
                Observed::DestinationFailure
            },
        );
    }
    match &outcome {
        Final::Succeeded => {}
        Final::Rejected(why) => tracing::warn!(
            request_id = %event.request_id, function = %event.function, reason = %why,
            destination = destination.as_deref().unwrap_or("none"),
            "asynchronous invocation cannot run"
        ),
        _ => tracing::warn!(
            request_id = %event.request_id, function = %event.function,
            condition = condition.as_str(), attempts = event.attempts,
            destination = destination.as_deref().unwrap_or("none"),
            "asynchronous invocation failed"
        ),
    }
    writes.insert(
        0,
        EventWrite::Finish {
            id: event.id,
            status,
            progress: progress(&event),
            destination,
            finished_ms: now,
        },
    );
    store_outcome(sh, writes, &event.request_id, stop).await;
}

/// Commits the writes that record an attempt's outcome (a retry, or the end).
///
/// The outcome is known only in memory until these writes are committed, so a commit
/// that fails (the data directory's disk is full, say) is tried again, with growing
/// waits, until it succeeds: giving up would leave the event listed as queued or
/// running, to run a second time at the next start. Only once gust is stopping does a
/// failed try end it; that event then runs again after the restart, as at-least-once
/// delivery allows. Returns whether the writes were stored.
async fn store_outcome(
    sh: &Shared,
    writes: Vec<EventWrite>,
    request_id: &str,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let mut wait = OUTCOME_RETRY_FIRST;
    let mut failures = 0u32;
    loop {
        let error = match sh.writer.commit(writes.clone()).await {
            Ok(_) => {
                if failures > 0 {
                    tracing::info!(
                        request_id,
                        failures,
                        "recorded the outcome of an asynchronous invocation after failed tries"
                    );
                }
                return true;
            }
            Err(e) => e,
        };
        failures += 1;
        if *stop.borrow() || stop.has_changed().is_err() {
            tracing::error!(
                request_id, error = %error,
                "could not record the outcome of an asynchronous invocation before stopping; \
                 it runs again after the restart"
            );
            return false;
        }
        if failures.is_power_of_two() {
            tracing::error!(
                request_id, error = %error, failures,
                "could not record the outcome of an asynchronous invocation; trying again"
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
        wait = (wait * 2).min(OUTCOME_RETRY_MAX);
    }
}

/// Adds the writes that deliver `body` to `arn`; returns what the listing shows as
/// the destination. What cannot be delivered goes to the undeliverable queue.
fn deliver<E: Executor>(
    sh: &Shared,
    exec: &E,
    writes: &mut Vec<EventWrite>,
    arn: &str,
    event: &StoredEvent,
    body: String,
    mut attributes: std::collections::BTreeMap<String, gust_wire::events::MessageAttribute>,
) -> String {
    let now = sh.clock.now_ms();
    let problem = match Target::parse(arn) {
        Ok(Target::Queue(queue)) => {
            writes.push(message(&queue, body, &attributes, now));
            return arn.to_string();
        }
        Ok(Target::Function(f)) if !exec.function_exists(&f) => {
            format!("the function {arn} does not exist")
        }
        Ok(Target::Function(_)) if body.len() > limits::ASYNC_PAYLOAD_MAX => format!(
            "the record is {} bytes, over the {} bytes an asynchronous invocation may carry",
            body.len(),
            limits::ASYNC_PAYLOAD_MAX
        ),
        Ok(Target::Function(f)) => {
            writes.push(EventWrite::Insert(NewEvent {
                request_id: uuid::Uuid::new_v4().hyphenated().to_string(),
                function: f.name,
                qualifier: f.qualifier,
                payload: body.into_bytes(),
                accepted_ms: now,
                due_ms: now,
                // The record continues the event's chain of requests.
                trace: event.trace.clone(),
            }));
            return arn.to_string();
        }
        Ok(Target::Unsupported(_)) => format!("gust cannot deliver to {arn}"),
        Err(e) => e.to_string(),
    };
    tracing::error!(
        request_id = %event.request_id, function = %event.function, destination = %arn,
        problem = %problem,
        "UNDELIVERABLE: could not deliver an asynchronous invocation's record; kept in the \
         built-in queue {UNDELIVERABLE_QUEUE}"
    );
    let text = |s: &str| gust_wire::events::MessageAttribute {
        string_value: s.to_string(),
        data_type: "String".into(),
    };
    attributes.insert("gustDestination".into(), text(arn));
    attributes.insert("gustProblem".into(), text(&problem));
    attributes.insert("gustFunction".into(), text(&event.function));
    writes.push(message(UNDELIVERABLE_QUEUE, body, &attributes, now));
    format!(
        "{} (could not deliver to {arn}: {problem})",
        queue_arn(&sh.region, UNDELIVERABLE_QUEUE)
    )
}

fn message(
    queue: &str,
    body: String,
    attributes: &std::collections::BTreeMap<String, gust_wire::events::MessageAttribute>,
    now: i64,
) -> EventWrite {
    EventWrite::Message(NewMessage {
        queue: queue.to_string(),
        message_id: uuid::Uuid::new_v4().hyphenated().to_string(),
        sent_ms: now,
        body,
        attributes: serde_json::to_string(attributes).unwrap_or_else(|_| "{}".into()),
    })
}
