//! The group-commit writer: one thread owns every write to the event queue and
//! applies the writes that arrive while it is busy as one transaction, so one fsync
//! covers many accepted events.
//!
//! Callers that need durability ([`Writer::commit`]: accepting an event, recording
//! an outcome) wait for the commit of the batch their writes joined; bookkeeping that
//! may be lost in a crash ([`Writer::send`]: "an attempt started") does not wait.
//! Writes are applied in the order they were sent. After a commit the writer
//! schedules every inserted event with the dispatcher.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gust_store::events::{EventStatus, EventStore, EventWrite, StoredEvent};
use gust_types::CoreError;
use tokio::sync::{mpsc, oneshot};

use crate::ready::Ready;

/// Most writes in one transaction.
const MAX_BATCH_WRITES: usize = 2048;
/// Most event payload bytes in one transaction.
const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;

type Ack = oneshot::Sender<Result<Vec<i64>, String>>;

struct Job {
    writes: Vec<EventWrite>,
    ack: Option<Ack>,
}

/// Counters of the writer, for tests and health.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Transactions committed.
    pub commits: AtomicU64,
    /// Writes applied.
    pub writes: AtomicU64,
    /// Transactions that failed (and the writes in them).
    pub failures: AtomicU64,
}

/// The handle of the writer thread.
#[derive(Debug, Clone)]
pub struct Writer {
    tx: mpsc::UnboundedSender<Job>,
    stats: Arc<WriterStats>,
}

impl Writer {
    /// Starts the writer thread. `window` is how long it waits after the first write
    /// of a batch for more to join (zero: batches are whatever queued up while the
    /// previous commit ran).
    pub fn start(
        store: Arc<dyn EventStore>,
        ready: Arc<Ready>,
        window: Duration,
    ) -> Result<Writer, CoreError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(WriterStats::default());
        let thread_stats = stats.clone();
        std::thread::Builder::new()
            .name("gust-events-writer".into())
            .spawn(move || run(store, ready, window, rx, thread_stats))
            .map_err(|e| CoreError::Internal(format!("starting the event writer: {e}")))?;
        Ok(Writer { tx, stats })
    }

    /// Applies `writes` and waits until they are committed. Returns the ids of the
    /// events inserted.
    pub async fn commit(&self, writes: Vec<EventWrite>) -> Result<Vec<i64>, CoreError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Job {
                writes,
                ack: Some(ack),
            })
            .map_err(|_| stopped())?;
        match done.await {
            Ok(Ok(ids)) => Ok(ids),
            Ok(Err(e)) => Err(CoreError::Internal(format!(
                "could not store the asynchronous invocation: {e}"
            ))),
            Err(_) => Err(stopped()),
        }
    }

    /// Applies `writes` without waiting.
    pub fn send(&self, writes: Vec<EventWrite>) {
        if self.tx.send(Job { writes, ack: None }).is_err() {
            tracing::error!("the event writer has stopped; an event's progress was not recorded");
        }
    }

    /// Waits until everything sent so far is committed.
    pub async fn flush(&self) -> Result<(), CoreError> {
        self.commit(Vec::new()).await.map(|_| ())
    }

    /// The writer's counters.
    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }
}

fn stopped() -> CoreError {
    CoreError::Internal("the asynchronous event writer has stopped".into())
}

fn write_bytes(w: &EventWrite) -> usize {
    match w {
        EventWrite::Insert(e) => e.payload.len(),
        EventWrite::Message(m) => m.body.len(),
        _ => 0,
    }
}

fn run(
    store: Arc<dyn EventStore>,
    ready: Arc<Ready>,
    window: Duration,
    mut rx: mpsc::UnboundedReceiver<Job>,
    stats: Arc<WriterStats>,
) {
    while let Some(first) = rx.blocking_recv() {
        if !window.is_zero() {
            std::thread::sleep(window);
        }
        let mut bytes = first.writes.iter().map(write_bytes).sum::<usize>();
        let mut count = first.writes.len();
        let mut jobs = vec![first];
        while count < MAX_BATCH_WRITES && bytes < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(job) => {
                    bytes += job.writes.iter().map(write_bytes).sum::<usize>();
                    count += job.writes.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        commit_batch(&*store, &ready, jobs, &stats);
    }
    tracing::debug!("event writer stopped");
}

fn commit_batch(store: &dyn EventStore, ready: &Ready, jobs: Vec<Job>, stats: &WriterStats) {
    let mut writes = Vec::new();
    let mut acks = Vec::with_capacity(jobs.len());
    for job in jobs {
        let inserts = job
            .writes
            .iter()
            .filter(|w| matches!(w, EventWrite::Insert(_)))
            .count();
        acks.push((job.ack, inserts));
        writes.extend(job.writes);
    }
    let result = if writes.is_empty() {
        Ok(Vec::new())
    } else {
        store.apply_events(&writes)
    };
    match result {
        Ok(ids) => {
            if !writes.is_empty() {
                stats.commits.fetch_add(1, Ordering::Relaxed);
                stats
                    .writes
                    .fetch_add(writes.len() as u64, Ordering::Relaxed);
            }
            let inserted = writes.into_iter().filter_map(|w| match w {
                EventWrite::Insert(e) => Some(e),
                _ => None,
            });
            for (id, e) in ids.iter().zip(inserted) {
                let due_ms = e.due_ms;
                ready.push(
                    *id,
                    due_ms,
                    Some(StoredEvent {
                        id: *id,
                        request_id: e.request_id,
                        function: e.function,
                        qualifier: e.qualifier,
                        payload: e.payload,
                        accepted_ms: e.accepted_ms,
                        due_ms,
                        status: EventStatus::Queued,
                        attempts: 0,
                        throttles: 0,
                        last_error: None,
                        last_response: None,
                        executed_version: None,
                        trace: e.trace,
                    }),
                );
            }
            let mut rest = ids.as_slice();
            for (ack, inserts) in acks {
                let (mine, tail) = rest.split_at(inserts.min(rest.len()));
                rest = tail;
                if let Some(ack) = ack {
                    let _ = ack.send(Ok(mine.to_vec()));
                }
            }
        }
        Err(e) => {
            stats.failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, writes = writes.len(), "could not store asynchronous events");
            let message = e.to_string();
            for (ack, _) in acks {
                if let Some(ack) = ack {
                    let _ = ack.send(Err(message.clone()));
                }
            }
        }
    }
}
