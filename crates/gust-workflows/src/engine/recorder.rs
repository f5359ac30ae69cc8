//! Appending an execution's events: ids in order, each commit before the engine
//! goes on.

use std::sync::Arc;

use gust_store::events::NewEvent;
use gust_store::workflows::{EventRecord, ExecutionChange, WorkflowStore};
use parking_lot::Mutex;
use serde_json::Value;

use super::journal::Note;
use crate::clock;

/// An event the engine is about to record.
#[derive(Debug, Clone)]
pub(crate) struct NewHistory {
    /// `TaskStateEntered`, ...
    pub kind: &'static str,
    /// Its `...EventDetails` object.
    pub details: Option<Value>,
    /// The step it belongs to.
    pub step: Option<String>,
    /// The engine's note.
    pub note: Option<Note>,
}

impl NewHistory {
    /// An event with details, for a step.
    pub fn new(kind: &'static str, details: Option<Value>, step: &str) -> NewHistory {
        NewHistory {
            kind,
            details,
            step: Some(step.to_string()),
            note: None,
        }
    }

    /// The same, with a note.
    pub fn noted(mut self, note: Note) -> NewHistory {
        self.note = Some(note);
        self
    }
}

/// The store failed or the execution stopped under the engine: it must not go on.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Halt(pub String);

/// Where events go.
pub(crate) enum Sink {
    /// A Standard execution: the store.
    Durable(Arc<dyn WorkflowStore>),
    /// An Express execution: nowhere (its history is not kept).
    Memory,
}

/// One execution's appender.
pub(crate) struct Recorder {
    execution: String,
    sink: Sink,
    /// The last event id; held across the store's commit so ids are committed in
    /// order.
    last_id: Mutex<i64>,
}

impl Recorder {
    pub fn new(execution: String, sink: Sink, last_id: i64) -> Recorder {
        Recorder {
            execution,
            sink,
            last_id: Mutex::new(last_id),
        }
    }

    /// The last event's id.
    pub fn last_id(&self) -> i64 {
        *self.last_id.lock()
    }

    /// The store, for a Standard execution.
    pub fn store(&self) -> Option<&Arc<dyn WorkflowStore>> {
        match &self.sink {
            Sink::Durable(store) => Some(store),
            Sink::Memory => None,
        }
    }

    /// Appends `events` after `*prev` (the frame's last event), in one commit, and
    /// moves `*prev` to the last of them.
    pub fn append(&self, prev: &mut i64, events: Vec<NewHistory>) -> Result<(), Halt> {
        self.commit(prev, events, &ExecutionChange::None, &[])
            .map(|_| ())
    }

    /// Appends events, changes the execution's row and queues `notify`, in one
    /// commit; returns the queued events' ids.
    pub fn commit(
        &self,
        prev: &mut i64,
        events: Vec<NewHistory>,
        change: &ExecutionChange,
        notify: &[NewEvent],
    ) -> Result<Vec<i64>, Halt> {
        let mut last = self.last_id.lock();
        let Sink::Durable(store) = &self.sink else {
            *last += events.len() as i64;
            *prev = *last;
            return Ok(Vec::new());
        };
        let ms = clock::now_ms();
        let mut id = *last;
        let mut previous = *prev;
        let records: Vec<EventRecord> = events
            .into_iter()
            .map(|e| {
                id += 1;
                let r = EventRecord {
                    id,
                    previous,
                    kind: e.kind.to_string(),
                    ms,
                    details: e.details.map(|d| d.to_string()),
                    step: e.step,
                    note: e
                        .note
                        .map(|n| serde_json::to_string(&n).unwrap_or_default()),
                };
                previous = id;
                r
            })
            .collect();
        let ids = store
            .append(&self.execution, &records, change, notify)
            .map_err(|e| Halt(e.to_string()))?;
        *last = id;
        *prev = id;
        Ok(ids)
    }
}
