//! The asynchronous-invocation queue, event-invoke configurations and gust's built-in
//! message queues (DESIGN.md §3, §4).
//!
//! An accepted event is a row of `async_events`; it is inserted (and the caller
//! answered 202) only once the transaction that holds it has committed with
//! `synchronous=FULL`, so it survives a crash or a power loss. Its row then follows
//! the event through `queued → running → queued (retry) → succeeded | failed |
//! expired`. Built-in queues (`queue_messages`) receive invocation records and
//! dead-lettered events; the SQS ARN `arn:aws:sqs:REGION:ACCOUNT:NAME` names queue
//! `NAME`.
//!
//! # Call order
//! At start-up the dispatcher calls [`EventStore::recover_events`] once, which puts
//! events a crash left `running` back in the queue, and
//! [`EventStore::event_invoke_configs`] once. From then on, one writer calls
//! [`EventStore::apply_events`] with batches of writes (group commit); reads
//! ([`EventStore::load_event`], listings) may come from any thread at any time.

use rusqlite::{params, OptionalExtension as _, Row, TransactionBehavior};

use crate::sqlite::SqliteStore;
use crate::StoreError;

/// The schema step that adds the event queue, event-invoke configs and built-in
/// queues.
pub(crate) const MIGRATION: &str = "
    CREATE TABLE async_events (
        id               INTEGER PRIMARY KEY AUTOINCREMENT,
        request_id       TEXT NOT NULL,
        function         TEXT NOT NULL,
        qualifier        TEXT,              -- as invoked; NULL when unqualified
        payload          BLOB NOT NULL,
        accepted_ms      INTEGER NOT NULL,  -- Unix epoch milliseconds
        due_ms           INTEGER NOT NULL,  -- when the next attempt may start
        status           TEXT NOT NULL,     -- queued|running|succeeded|failed|expired
        attempts         INTEGER NOT NULL DEFAULT 0,
        throttles        INTEGER NOT NULL DEFAULT 0,
        last_error       TEXT,
        last_response    BLOB,              -- the last function error's payload
        executed_version TEXT,
        destination      TEXT,              -- where the record went
        finished_ms      INTEGER
    );
    CREATE INDEX async_events_pending ON async_events (due_ms, id)
        WHERE status IN ('queued', 'running');
    CREATE INDEX async_events_by_function ON async_events (function, id);
    CREATE INDEX async_events_finished ON async_events (finished_ms)
        WHERE finished_ms IS NOT NULL;
    CREATE TABLE event_invoke_configs (
        function  TEXT NOT NULL,
        qualifier TEXT NOT NULL,            -- $LATEST, a version or an alias
        config    TEXT NOT NULL,            -- JSON, owned by gust-events
        PRIMARY KEY (function, qualifier)
    );
    CREATE TABLE queue_messages (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        queue      TEXT NOT NULL,
        message_id TEXT NOT NULL,
        sent_ms    INTEGER NOT NULL,
        body       TEXT NOT NULL,
        attributes TEXT NOT NULL            -- JSON object
    );
    CREATE INDEX queue_messages_by_queue ON queue_messages (queue, seq);
";

/// The schema step that keeps each event's trace header (its lineage, for
/// recursive-loop detection).
pub(crate) const TRACE_MIGRATION: &str = "ALTER TABLE async_events ADD COLUMN trace TEXT;";

/// Where an event is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    /// Waiting for its next attempt (`due_ms`).
    Queued,
    /// An attempt is under way.
    Running,
    /// The function processed it.
    Succeeded,
    /// Every attempt failed, or the function is gone.
    Failed,
    /// It was older than the function's maximum event age before it could run.
    Expired,
}

impl EventStatus {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Queued => "queued",
            EventStatus::Running => "running",
            EventStatus::Succeeded => "succeeded",
            EventStatus::Failed => "failed",
            EventStatus::Expired => "expired",
        }
    }

    fn parse(s: &str) -> Result<EventStatus, StoreError> {
        Ok(match s {
            "queued" => EventStatus::Queued,
            "running" => EventStatus::Running,
            "succeeded" => EventStatus::Succeeded,
            "failed" => EventStatus::Failed,
            "expired" => EventStatus::Expired,
            other => {
                return Err(StoreError::Database(format!(
                    "unknown async event status '{other}'"
                )))
            }
        })
    }
}

/// An event to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The request id the caller was given.
    pub request_id: String,
    /// The function's name.
    pub function: String,
    /// The qualifier the caller invoked, if any.
    pub qualifier: Option<String>,
    /// The event (JSON).
    pub payload: Vec<u8>,
    /// When it was accepted, epoch ms.
    pub accepted_ms: i64,
    /// When its first attempt may start, epoch ms.
    pub due_ms: i64,
    /// The trace header of the request that caused it (`X-Amzn-Trace-Id`).
    pub trace: Option<String>,
}

/// A queued event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// The row id: the event's key in the store and the dispatcher.
    pub id: i64,
    /// The request id the caller was given.
    pub request_id: String,
    /// The function's name.
    pub function: String,
    /// The qualifier the caller invoked, if any.
    pub qualifier: Option<String>,
    /// The event (JSON).
    pub payload: Vec<u8>,
    /// When it was accepted, epoch ms.
    pub accepted_ms: i64,
    /// When its next attempt may start, epoch ms.
    pub due_ms: i64,
    /// Where it is.
    pub status: EventStatus,
    /// Function invocations so far.
    pub attempts: u32,
    /// Attempts that found no capacity (not counted in `attempts`).
    pub throttles: u32,
    /// The last attempt's error, for people.
    pub last_error: Option<String>,
    /// The last function error's payload, for the failure record.
    pub last_response: Option<Vec<u8>>,
    /// The version the last attempt ran.
    pub executed_version: Option<String>,
    /// The trace header of the request that caused it.
    pub trace: Option<String>,
}

/// The fields of an event that change after an attempt.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventProgress {
    /// Function invocations so far.
    pub attempts: u32,
    /// Throttled attempts so far.
    pub throttles: u32,
    /// The last attempt's error, for people.
    pub last_error: Option<String>,
    /// The last function error's payload.
    pub last_response: Option<Vec<u8>>,
    /// The version the last attempt ran.
    pub executed_version: Option<String>,
}

/// A message for a built-in queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// The queue's name.
    pub queue: String,
    /// Unique id.
    pub message_id: String,
    /// When it was sent, epoch ms.
    pub sent_ms: i64,
    /// The body.
    pub body: String,
    /// Message attributes, a JSON object.
    pub attributes: String,
}

/// A stored queue message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Position in the queue (global order).
    pub seq: i64,
    /// The message.
    pub message: NewMessage,
}

/// One write of a batch given to [`EventStore::apply_events`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventWrite {
    /// Queue a new event; its id is returned.
    Insert(NewEvent),
    /// An attempt starts.
    Start {
        /// The event.
        id: i64,
        /// Attempts including this one.
        attempts: u32,
    },
    /// Back to the queue until `due_ms`.
    Requeue {
        /// The event.
        id: i64,
        /// When the next attempt may start.
        due_ms: i64,
        /// The event's progress.
        progress: EventProgress,
    },
    /// The event is done. Its payload is dropped: the record has been delivered.
    Finish {
        /// The event.
        id: i64,
        /// `Succeeded`, `Failed` or `Expired`.
        status: EventStatus,
        /// The event's progress.
        progress: EventProgress,
        /// Where its record went, if anywhere.
        destination: Option<String>,
        /// When, epoch ms.
        finished_ms: i64,
    },
    /// Append a message to a built-in queue.
    Message(NewMessage),
    /// Forget finished events that finished before `before_ms`.
    Prune {
        /// Epoch ms.
        before_ms: i64,
    },
}

/// An event as the async listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSummary {
    /// The request id.
    pub request_id: String,
    /// The qualifier invoked.
    pub qualifier: Option<String>,
    /// When accepted, epoch ms.
    pub accepted_ms: i64,
    /// Next attempt, epoch ms (meaningful while queued).
    pub due_ms: i64,
    /// Where it is.
    pub status: EventStatus,
    /// Function invocations so far.
    pub attempts: u32,
    /// Throttled attempts so far.
    pub throttles: u32,
    /// The last error.
    pub last_error: Option<String>,
    /// Where its record went.
    pub destination: Option<String>,
    /// When it finished, epoch ms.
    pub finished_ms: Option<i64>,
}

/// An event-invoke configuration, as stored (the value is gust-events' JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInvokeConfig {
    /// The function's name.
    pub function: String,
    /// `$LATEST`, a version or an alias.
    pub qualifier: String,
    /// The configuration, JSON.
    pub config: String,
}

/// The asynchronous-invocation queue and what belongs with it. See the module docs for
/// the order in which the methods are called.
pub trait EventStore: Send + Sync {
    /// Applies `writes` in one transaction, in order, and commits it durably. Returns
    /// the ids of the inserted events, in the order of their `Insert`s. Either every
    /// write is applied or none is.
    fn apply_events(&self, writes: &[EventWrite]) -> Result<Vec<i64>, StoreError>;
    /// Returns events a crash left `running` to `queued`, then lists every queued
    /// event as `(id, due_ms)`, earliest first.
    fn recover_events(&self) -> Result<Vec<(i64, i64)>, StoreError>;
    /// One event, if it is still stored.
    fn load_event(&self, id: i64) -> Result<Option<StoredEvent>, StoreError>;
    /// A function's most recent events, newest first.
    fn list_events(&self, function: &str, limit: usize) -> Result<Vec<EventSummary>, StoreError>;
    /// Every event-invoke configuration.
    fn event_invoke_configs(&self) -> Result<Vec<StoredInvokeConfig>, StoreError>;
    /// Inserts or replaces one configuration.
    fn put_event_invoke_config(&self, config: &StoredInvokeConfig) -> Result<(), StoreError>;
    /// Deletes one qualifier's configuration, or all of a function's when `qualifier`
    /// is `None`. Returns how many went.
    fn delete_event_invoke_config(
        &self,
        function: &str,
        qualifier: Option<&str>,
    ) -> Result<usize, StoreError>;
    /// Messages of `queue` after position `after`, oldest first.
    fn queue_messages(
        &self,
        queue: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError>;
    /// Every queue holding messages, with its message count, by name.
    fn queues(&self) -> Result<Vec<(String, u64)>, StoreError>;
    /// Deletes every message of `queue`; returns how many went.
    fn purge_queue(&self, queue: &str) -> Result<usize, StoreError>;
}

/// Queues `e` in the transaction `tx` (of this store or of another part of the
/// same database, such as an object write whose event it is); returns its id.
pub(crate) fn insert_event(tx: &rusqlite::Connection, e: &NewEvent) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "INSERT INTO async_events (request_id, function, qualifier, payload, \
         accepted_ms, due_ms, status, trace) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7)",
    )?
    .execute(params![
        e.request_id,
        e.function,
        e.qualifier,
        e.payload,
        e.accepted_ms,
        e.due_ms,
        e.trace
    ])?;
    Ok(tx.last_insert_rowid())
}

fn to_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<(StoredEvent, String)> {
    Ok((
        StoredEvent {
            id: row.get(0)?,
            request_id: row.get(1)?,
            function: row.get(2)?,
            qualifier: row.get(3)?,
            payload: row.get(4)?,
            accepted_ms: row.get(5)?,
            due_ms: row.get(6)?,
            status: EventStatus::Queued,
            attempts: to_u32(row.get(8)?),
            throttles: to_u32(row.get(9)?),
            last_error: row.get(10)?,
            last_response: row.get(11)?,
            executed_version: row.get(12)?,
            trace: row.get(13)?,
        },
        row.get(7)?,
    ))
}

impl EventStore for SqliteStore {
    fn apply_events(&self, writes: &[EventWrite]) -> Result<Vec<i64>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut ids = Vec::new();
        for write in writes {
            match write {
                EventWrite::Insert(e) => ids.push(insert_event(&tx, e)?),
                EventWrite::Start { id, attempts } => {
                    tx.prepare_cached(
                        "UPDATE async_events SET status = 'running', attempts = ?2 WHERE id = ?1",
                    )?
                    .execute(params![id, attempts])?;
                }
                EventWrite::Requeue {
                    id,
                    due_ms,
                    progress: p,
                } => {
                    tx.prepare_cached(
                        "UPDATE async_events SET status = 'queued', due_ms = ?2, attempts = ?3, \
                         throttles = ?4, last_error = ?5, last_response = ?6, \
                         executed_version = ?7 WHERE id = ?1",
                    )?
                    .execute(params![
                        id,
                        due_ms,
                        p.attempts,
                        p.throttles,
                        p.last_error,
                        p.last_response,
                        p.executed_version
                    ])?;
                }
                EventWrite::Finish {
                    id,
                    status,
                    progress: p,
                    destination,
                    finished_ms,
                } => {
                    tx.prepare_cached(
                        "UPDATE async_events SET status = ?2, attempts = ?3, throttles = ?4, \
                         last_error = ?5, last_response = NULL, executed_version = ?6, \
                         destination = ?7, finished_ms = ?8, payload = x'' WHERE id = ?1",
                    )?
                    .execute(params![
                        id,
                        status.as_str(),
                        p.attempts,
                        p.throttles,
                        p.last_error,
                        p.executed_version,
                        destination,
                        finished_ms
                    ])?;
                }
                EventWrite::Message(m) => {
                    tx.prepare_cached(
                        "INSERT INTO queue_messages (queue, message_id, sent_ms, body, attributes) \
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?
                    .execute(params![m.queue, m.message_id, m.sent_ms, m.body, m.attributes])?;
                }
                EventWrite::Prune { before_ms } => {
                    tx.prepare_cached(
                        "DELETE FROM async_events WHERE finished_ms IS NOT NULL \
                         AND finished_ms < ?1 AND status NOT IN ('queued', 'running')",
                    )?
                    .execute(params![before_ms])?;
                }
            }
        }
        tx.commit()?;
        Ok(ids)
    }

    fn recover_events(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let requeued = tx.execute(
            "UPDATE async_events SET status = 'queued' WHERE status = 'running'",
            [],
        )?;
        if requeued > 0 {
            tracing::warn!(
                events = requeued,
                "asynchronous events were running when gust stopped; they run again"
            );
        }
        let pending = {
            let mut stmt = tx.prepare(
                "SELECT id, due_ms FROM async_events WHERE status IN ('queued', 'running') \
                 ORDER BY due_ms, id",
            )?;
            let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect::<rusqlite::Result<Vec<(i64, i64)>>>()?
        };
        tx.commit()?;
        Ok(pending)
    }

    fn load_event(&self, id: i64) -> Result<Option<StoredEvent>, StoreError> {
        let conn = self.conn();
        let found = conn
            .prepare_cached(
                "SELECT id, request_id, function, qualifier, payload, accepted_ms, due_ms, \
                 status, attempts, throttles, last_error, last_response, executed_version, \
                 trace FROM async_events WHERE id = ?1",
            )?
            .query_row(params![id], event_from_row)
            .optional()?;
        match found {
            None => Ok(None),
            Some((mut event, status)) => {
                event.status = EventStatus::parse(&status)?;
                Ok(Some(event))
            }
        }
    }

    fn list_events(&self, function: &str, limit: usize) -> Result<Vec<EventSummary>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT request_id, qualifier, accepted_ms, due_ms, status, attempts, throttles, \
             last_error, destination, finished_ms FROM async_events WHERE function = ?1 \
             ORDER BY id DESC LIMIT ?2",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![function, limit], |row| {
            Ok((
                EventSummary {
                    request_id: row.get(0)?,
                    qualifier: row.get(1)?,
                    accepted_ms: row.get(2)?,
                    due_ms: row.get(3)?,
                    status: EventStatus::Queued,
                    attempts: to_u32(row.get(5)?),
                    throttles: to_u32(row.get(6)?),
                    last_error: row.get(7)?,
                    destination: row.get(8)?,
                    finished_ms: row.get(9)?,
                },
                row.get::<_, String>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (mut summary, status) = row?;
            summary.status = EventStatus::parse(&status)?;
            out.push(summary);
        }
        Ok(out)
    }

    fn event_invoke_configs(&self) -> Result<Vec<StoredInvokeConfig>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT function, qualifier, config FROM event_invoke_configs \
             ORDER BY function, qualifier",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok(StoredInvokeConfig {
                function: row.get(0)?,
                qualifier: row.get(1)?,
                config: row.get(2)?,
            })
        })?;
        rows.map(|r| r.map_err(StoreError::from)).collect()
    }

    fn put_event_invoke_config(&self, c: &StoredInvokeConfig) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO event_invoke_configs (function, qualifier, config) VALUES (?1, ?2, ?3) \
             ON CONFLICT (function, qualifier) DO UPDATE SET config = excluded.config",
            params![c.function, c.qualifier, c.config],
        )?;
        Ok(())
    }

    fn delete_event_invoke_config(
        &self,
        function: &str,
        qualifier: Option<&str>,
    ) -> Result<usize, StoreError> {
        let conn = self.conn();
        let n = match qualifier {
            Some(q) => conn.execute(
                "DELETE FROM event_invoke_configs WHERE function = ?1 AND qualifier = ?2",
                params![function, q],
            )?,
            None => conn.execute(
                "DELETE FROM event_invoke_configs WHERE function = ?1",
                params![function],
            )?,
        };
        Ok(n)
    }

    fn queue_messages(
        &self,
        queue: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT seq, queue, message_id, sent_ms, body, attributes FROM queue_messages \
             WHERE queue = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![queue, after, limit], |row| {
            Ok(StoredMessage {
                seq: row.get(0)?,
                message: NewMessage {
                    queue: row.get(1)?,
                    message_id: row.get(2)?,
                    sent_ms: row.get(3)?,
                    body: row.get(4)?,
                    attributes: row.get(5)?,
                },
            })
        })?;
        rows.map(|r| r.map_err(StoreError::from)).collect()
    }

    fn queues(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT queue, COUNT(*) FROM queue_messages GROUP BY queue ORDER BY queue",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
            ))
        })?;
        rows.map(|r| r.map_err(StoreError::from)).collect()
    }

    fn purge_queue(&self, queue: &str) -> Result<usize, StoreError> {
        Ok(self.conn().execute(
            "DELETE FROM queue_messages WHERE queue = ?1",
            params![queue],
        )?)
    }
}

#[cfg(test)]
mod tests;
