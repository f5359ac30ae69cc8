//! gust's asynchronous invocations (DESIGN.md §4): an `Event` invoke is answered 202
//! only once it is durably queued, runs at least once, is retried per the function's
//! event-invoke config, and ends in a destination, a dead-letter queue, or gust's
//! listing — never silently nowhere.
//!
//! # Layout
//! - [`AsyncEvents`]: the entry point the platform holds: [`AsyncEvents::enqueue`],
//!   the event-invoke-config operations, the listings, start and shutdown.
//! - `writer`: the group-commit writer thread, the only writer of the queue.
//! - `ready`: the in-memory schedule of queued events, earliest first.
//! - `dispatch`: the dispatcher and the [`Executor`] it runs events through.
//! - [`policy`]: retry, backoff and maximum-age rules.
//! - [`config`]: event-invoke configurations.
//! - [`record`]: invocation records and dead letters in AWS's formats.
//! - [`target`]: destination ARNs and gust's built-in queues.
//! - [`clock`]: epoch-millisecond time that follows tokio's clock.
//!
//! # Life of an event
//! 1. [`AsyncEvents::enqueue`] hands the event to the writer and waits for the
//!    commit of the batch it joined; then the caller gets its 202.
//! 2. The writer schedules it; the dispatcher takes it when due and a worker slot is
//!    free, marks it running and runs it through the [`Executor`].
//! 3. A retry goes back to the store and the schedule; a final outcome is committed
//!    together with the message or event that delivers its record.
//! 4. At start-up, [`AsyncEvents::open`] puts events a crash left running back in the
//!    queue and schedules every queued event.

#![forbid(unsafe_code)]

pub mod clock;
pub mod config;
mod dispatch;
pub mod policy;
mod ready;
pub mod record;
pub mod target;
mod writer;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use gust_store::events::{EventStore, EventSummary, NewEvent, StoredEvent};
use gust_store::StoreError;
use gust_types::{limits, CoreError, Region};
use gust_wire::events::{
    AsyncInvocation, EventInvokeConfigRequest, FunctionEventInvokeConfig,
    ListFunctionEventInvokeConfigsResponse, QueueMessage, QueueMessagesResponse, QueueSummary,
    QueuesResponse,
};
use parking_lot::Mutex;
use tokio::sync::watch;

pub use dispatch::{Execution, Executor, Observed};
pub use writer::WriterStats;

use crate::clock::{iso8601, Clock};
use crate::config::{Configs, InvokeConfig};
use crate::ready::Ready;
use crate::writer::Writer;

/// Settings of asynchronous invocation, part of the server's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsConfig {
    /// How many events run at once. Each running event holds a function instance,
    /// so this also bounds the instances asynchronous work keeps busy.
    pub workers: usize,
    /// The wait before the first retry after a function error; the second waits
    /// twice as long. AWS waits about a minute; tests use milliseconds.
    pub retry_base: Duration,
    /// How long the writer waits after the first write of a batch for others to join
    /// it. Zero batches whatever arrived while the previous commit ran, which already
    /// groups many events per fsync under load without delaying a lone event.
    pub commit_window: Duration,
    /// How long finished events stay in the listing.
    pub history: Duration,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            workers: default_workers(),
            retry_base: Duration::from_secs(60),
            commit_window: Duration::ZERO,
            history: Duration::from_secs(3600),
        }
    }
}

/// Four per CPU, at least eight: running events mostly wait on their instances.
pub fn default_workers() -> usize {
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    (cpus * 4).max(8)
}

/// What the writer, the dispatcher and the API share.
pub(crate) struct Shared {
    pub store: Arc<dyn EventStore>,
    pub writer: Writer,
    pub ready: Arc<Ready>,
    pub configs: Configs,
    pub clock: Clock,
    pub region: Region,
    pub settings: EventsConfig,
}

impl Shared {
    /// Reads one event from the store, off the async threads.
    async fn load(&self, id: i64) -> Result<Option<StoredEvent>, StoreError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.load_event(id))
            .await
            .map_err(|e| StoreError::Database(format!("reading an event: {e}")))?
    }

    /// Forgets finished events older than the history window.
    fn prune(&self) {
        let history = i64::try_from(self.settings.history.as_millis()).unwrap_or(i64::MAX);
        self.writer
            .send(vec![gust_store::events::EventWrite::Prune {
                before_ms: self.clock.now_ms().saturating_sub(history),
            }]);
    }
}

/// The asynchronous-invocation service: queue, dispatcher and configuration.
pub struct AsyncEvents {
    shared: Arc<Shared>,
    dispatcher: Mutex<Option<(watch::Sender<bool>, tokio::task::JoinHandle<()>)>>,
}

/// Runs a store call off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, CoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CoreError::Internal(format!("store task failed: {e}")))?
        .map_err(CoreError::from)
}

impl AsyncEvents {
    /// Opens the queue: loads the event-invoke configs, returns events a crash left
    /// running to the queue, schedules every queued event and starts the writer.
    /// Nothing runs until [`AsyncEvents::start`].
    pub fn open(
        store: Arc<dyn EventStore>,
        settings: EventsConfig,
        region: Region,
    ) -> Result<AsyncEvents, CoreError> {
        let configs = Configs::load(&*store)?;
        let pending = store.recover_events()?;
        let ready = Arc::new(Ready::new(ready::CACHE_BUDGET));
        if !pending.is_empty() {
            tracing::info!(
                events = pending.len(),
                "asynchronous events queued from before the restart"
            );
        }
        for (id, due_ms) in pending {
            ready.push(id, due_ms, None);
        }
        let writer = Writer::start(store.clone(), ready.clone(), settings.commit_window)?;
        Ok(AsyncEvents {
            shared: Arc::new(Shared {
                store,
                writer,
                ready,
                configs,
                clock: Clock::new(),
                region,
                settings,
            }),
            dispatcher: Mutex::new(None),
        })
    }

    /// Starts dispatching events to `executor`. Must run inside a tokio runtime.
    pub fn start<E: Executor>(&self, executor: E) {
        let mut slot = self.dispatcher.lock();
        if slot.is_some() {
            return;
        }
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(dispatch::run(
            self.shared.clone(),
            Arc::new(executor),
            stopped,
        ));
        *slot = Some((stop, task));
    }

    /// Stops taking events for new attempts. Attempts under way go on; events keep
    /// being accepted and stored (they run after the next start).
    pub fn stop_dispatching(&self) {
        if let Some((stop, _)) = &*self.dispatcher.lock() {
            let _ = stop.send(true);
        }
    }

    /// Stops dispatching, waits for the attempts under way to end and be recorded,
    /// and for every write to be committed.
    pub async fn shutdown(&self) {
        let running = self.dispatcher.lock().take();
        if let Some((stop, task)) = running {
            let _ = stop.send(true);
            if let Err(e) = task.await {
                tracing::error!(error = %e, "the event dispatcher failed");
            }
        }
        if let Err(e) = self.shared.writer.flush().await {
            tracing::error!(error = %e, "could not commit the last asynchronous event writes");
        }
    }

    /// Schedules events that another write committed to the queue in its own
    /// transaction (an object write and the bucket notifications it asks for):
    /// they are dispatched from `due_ms` like events accepted by [`enqueue`].
    ///
    /// [`enqueue`]: AsyncEvents::enqueue
    pub fn schedule_committed(&self, ids: &[i64], due_ms: i64) {
        for id in ids {
            self.shared.ready.push(*id, due_ms, None);
        }
    }

    /// Queues an event and returns once it is durably stored. The caller has checked
    /// that the function (and qualifier) exists and that the payload is JSON.
    pub async fn enqueue(
        &self,
        request_id: &str,
        function: &str,
        qualifier: Option<&str>,
        payload: Vec<u8>,
        trace: Option<&str>,
    ) -> Result<(), CoreError> {
        if payload.len() > limits::ASYNC_PAYLOAD_MAX {
            return Err(too_large());
        }
        let now = self.shared.clock.now_ms();
        self.shared
            .writer
            .commit(vec![gust_store::events::EventWrite::Insert(NewEvent {
                request_id: request_id.to_string(),
                function: function.to_string(),
                qualifier: qualifier.map(str::to_string),
                payload,
                accepted_ms: now,
                due_ms: now,
                trace: trace.map(str::to_string),
            })])
            .await
            .map(|_| ())
    }

    // ------------------------------------------------------------ event-invoke config

    /// PutFunctionEventInvokeConfig: replaces `function:qualifier`'s configuration.
    pub async fn put_config(
        &self,
        function: &str,
        qualifier: &str,
        req: &EventInvokeConfigRequest,
    ) -> Result<FunctionEventInvokeConfig, CoreError> {
        let config = InvokeConfig::from_put(req, self.shared.clock.now_ms())?;
        self.store_config(function, qualifier, config).await
    }

    /// UpdateFunctionEventInvokeConfig: changes the fields `req` names.
    pub async fn update_config(
        &self,
        function: &str,
        qualifier: &str,
        req: &EventInvokeConfigRequest,
    ) -> Result<FunctionEventInvokeConfig, CoreError> {
        let current = self
            .shared
            .configs
            .get(function, qualifier)
            .ok_or_else(|| self.no_config(function, qualifier))?;
        let config = current.updated(req, self.shared.clock.now_ms())?;
        self.store_config(function, qualifier, config).await
    }

    async fn store_config(
        &self,
        function: &str,
        qualifier: &str,
        config: InvokeConfig,
    ) -> Result<FunctionEventInvokeConfig, CoreError> {
        let wire = config.to_wire(&self.shared.region, function, qualifier);
        let shared = self.shared.clone();
        let (f, q) = (function.to_string(), qualifier.to_string());
        blocking(move || shared.configs.put(&*shared.store, &f, &q, config)).await?;
        Ok(wire)
    }

    /// GetFunctionEventInvokeConfig.
    pub fn get_config(
        &self,
        function: &str,
        qualifier: &str,
    ) -> Result<FunctionEventInvokeConfig, CoreError> {
        self.shared
            .configs
            .get(function, qualifier)
            .map(|c| c.to_wire(&self.shared.region, function, qualifier))
            .ok_or_else(|| self.no_config(function, qualifier))
    }

    /// DeleteFunctionEventInvokeConfig.
    pub async fn delete_config(&self, function: &str, qualifier: &str) -> Result<(), CoreError> {
        if self.shared.configs.get(function, qualifier).is_none() {
            return Err(self.no_config(function, qualifier));
        }
        let shared = self.shared.clone();
        let (f, q) = (function.to_string(), qualifier.to_string());
        blocking(move || shared.configs.remove(&*shared.store, &f, Some(&q))).await?;
        Ok(())
    }

    /// Forgets every configuration of a function (it was deleted).
    pub async fn forget_function(&self, function: &str) -> Result<(), CoreError> {
        let shared = self.shared.clone();
        let f = function.to_string();
        blocking(move || shared.configs.remove(&*shared.store, &f, None)).await?;
        Ok(())
    }

    /// ListFunctionEventInvokeConfigs, by qualifier; `marker` is the qualifier to
    /// start after.
    pub fn list_configs(
        &self,
        function: &str,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<ListFunctionEventInvokeConfigsResponse, CoreError> {
        let max = match max_items {
            None => 50,
            Some(n @ 1..=50) => n as usize,
            Some(n) => {
                return Err(CoreError::InvalidParameterValue(format!(
                    "1 validation error detected: Value '{n}' at 'maxItems' failed to satisfy \
                     constraint: Member must have value between 1 and 50"
                )))
            }
        };
        let all = self.shared.configs.of_function(function);
        let mut rest = all.iter().filter(|(q, _)| {
            marker
                .filter(|m| !m.is_empty())
                .is_none_or(|m| q.as_str() > m)
        });
        let page: Vec<FunctionEventInvokeConfig> = rest
            .by_ref()
            .take(max)
            .map(|(q, c)| c.to_wire(&self.shared.region, function, q))
            .collect();
        let next_marker = if rest.next().is_some() {
            page.last()
                .and_then(|c| c.function_arn.rsplit(':').next())
                .map(str::to_string)
        } else {
            None
        };
        Ok(ListFunctionEventInvokeConfigsResponse {
            function_event_invoke_configs: page,
            next_marker,
        })
    }

    fn no_config(&self, function: &str, qualifier: &str) -> CoreError {
        CoreError::ResourceNotFound(format!(
            "The function {} doesn't have an EventInvokeConfig",
            gust_types::name::qualified_arn(&self.shared.region, function, qualifier)
        ))
    }

    // ------------------------------------------------------------ gust's own views

    /// A function's most recent asynchronous invocations, newest first.
    pub async fn list_invocations(
        &self,
        function: &str,
        limit: usize,
    ) -> Result<Vec<AsyncInvocation>, CoreError> {
        let store = self.shared.store.clone();
        let f = function.to_string();
        let limit = limit.clamp(1, 10_000);
        let rows = blocking(move || store.list_events(&f, limit)).await?;
        Ok(rows.into_iter().map(summary_to_wire).collect())
    }

    /// Messages of a built-in queue after position `after`.
    pub async fn queue_messages(
        &self,
        queue: &str,
        after: i64,
        limit: usize,
    ) -> Result<QueueMessagesResponse, CoreError> {
        target::validate_queue_name(queue)?;
        let store = self.shared.store.clone();
        let q = queue.to_string();
        let limit = limit.clamp(1, 10_000);
        let rows = blocking(move || store.queue_messages(&q, after, limit)).await?;
        let next_seq = rows.last().map_or(after, |m| m.seq);
        Ok(QueueMessagesResponse {
            queue: queue.to_string(),
            next_seq,
            messages: rows
                .into_iter()
                .map(|m| QueueMessage {
                    seq: m.seq,
                    message_id: m.message.message_id,
                    sent_at: iso8601(m.message.sent_ms),
                    body: m.message.body,
                    message_attributes: serde_json::from_str(&m.message.attributes)
                        .unwrap_or_default(),
                })
                .collect(),
        })
    }

    /// Every built-in queue holding messages.
    pub async fn queues(&self) -> Result<QueuesResponse, CoreError> {
        let store = self.shared.store.clone();
        let rows = blocking(move || store.queues()).await?;
        Ok(QueuesResponse {
            queues: rows
                .into_iter()
                .map(|(name, messages)| QueueSummary { name, messages })
                .collect(),
        })
    }

    /// Deletes every message of a built-in queue; returns how many went.
    pub async fn purge_queue(&self, queue: &str) -> Result<usize, CoreError> {
        target::validate_queue_name(queue)?;
        let store = self.shared.store.clone();
        let q = queue.to_string();
        blocking(move || store.purge_queue(&q)).await
    }

    /// The writer's counters.
    pub fn writer_stats(&self) -> &WriterStats {
        self.shared.writer.stats()
    }

    /// Events waiting in the schedule (queued, not running).
    pub fn scheduled(&self) -> usize {
        self.shared.ready.len()
    }
}

/// The error for an event over the asynchronous payload limit.
pub fn too_large() -> CoreError {
    CoreError::RequestTooLarge(format!(
        "Request must be smaller than {} bytes for the InvokeFunction operation",
        limits::ASYNC_PAYLOAD_MAX
    ))
}

fn summary_to_wire(s: EventSummary) -> AsyncInvocation {
    let queued = s.status == gust_store::events::EventStatus::Queued;
    AsyncInvocation {
        request_id: s.request_id,
        qualifier: s.qualifier,
        accepted_at: iso8601(s.accepted_ms),
        status: s.status.as_str().to_string(),
        attempts: s.attempts,
        throttles: s.throttles,
        next_attempt_at: queued.then(|| iso8601(s.due_ms)),
        finished_at: s.finished_ms.map(iso8601),
        last_error: s.last_error,
        destination: s.destination,
    }
}
