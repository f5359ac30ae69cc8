//! What an execution's history says about each step, for resuming it.
//!
//! A *step* is one visit of one state in one frame (the machine, a Parallel branch
//! or a Map iteration): `"<frame>/<n>"` for the n-th state the frame entered. Every
//! event the engine writes names its step, and the last event of a finished visit
//! carries its [`Outcome`]. Replaying a frame walks its steps in order and takes
//! each recorded outcome instead of running the state again; the first step
//! without one is where the frame was when gust stopped, and runs from what its
//! events say (a Wait's deadline, a Task's attempts so far).

use std::collections::HashMap;

use gust_store::workflows::EventRecord;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// How a visit ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Outcome {
    /// The frame goes on at `next` (or ends, when `None`) with `output`, having
    /// assigned `vars`.
    Next {
        next: Option<String>,
        output: Value,
        #[serde(default, skip_serializing_if = "Map::is_empty")]
        vars: Map<String, Value>,
    },
    /// The state failed and nothing caught it: the frame fails.
    Failed { error: String, cause: String },
}

/// What the engine notes on an event besides an outcome.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Note {
    /// The visit's outcome (its last event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// A Wait's deadline, or when a failed attempt's retry is due, epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<i64>,
    /// Which retrier took a failed attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrier: Option<usize>,
    /// A Map iteration's or Parallel branch's output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// A Map iteration's failure (error, cause).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<(String, String)>,
    /// The task token a `.waitForTaskToken` attempt handed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// One step's recorded events.
#[derive(Debug, Clone, Default)]
pub(crate) struct Step {
    /// The last event's id (where the next event of this frame follows on).
    pub last_id: i64,
    /// (kind, note) of each event, in order.
    pub events: Vec<(String, Note)>,
}

impl Step {
    /// The visit's outcome, if it finished.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.events
            .iter()
            .rev()
            .find_map(|(_, n)| n.outcome.as_ref())
    }

    /// Whether an event of `kind` was recorded.
    pub fn has(&self, kind: &str) -> bool {
        self.events.iter().any(|(k, _)| k == kind)
    }

    /// The notes of the events of `kind`.
    pub fn notes<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Note> + 'a {
        self.events
            .iter()
            .filter(move |(k, _)| k == kind)
            .map(|(_, n)| n)
    }
}

/// Every step of an execution.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    steps: HashMap<String, Step>,
    /// The highest event id.
    pub last_id: i64,
}

impl Journal {
    /// Reads a history. After an `ExecutionRedriven` event, what failed before is
    /// forgotten (failed outcomes and attempts), so a redrive runs the failed
    /// steps again with fresh retry counts, and reuses what succeeded.
    pub fn from_events(events: &[EventRecord]) -> Journal {
        let mut journal = Journal::default();
        for e in events {
            journal.last_id = journal.last_id.max(e.id);
            if e.kind == "ExecutionRedriven" {
                for step in journal.steps.values_mut() {
                    step.events.retain(|(kind, note)| {
                        !matches!(note.outcome, Some(Outcome::Failed { .. }))
                            && note.failure.is_none()
                            && !kind.ends_with("Failed")
                            && !kind.ends_with("TimedOut")
                            && !kind.ends_with("Aborted")
                    });
                }
                continue;
            }
            let Some(step) = &e.step else { continue };
            let note: Note = e
                .note
                .as_deref()
                .and_then(|n| serde_json::from_str(n).ok())
                .unwrap_or_default();
            let entry = journal.steps.entry(step.clone()).or_default();
            entry.last_id = e.id;
            entry.events.push((e.kind.clone(), note));
        }
        journal
    }

    /// A step's events, if any were recorded.
    pub fn step(&self, step: &str) -> Option<&Step> {
        self.steps.get(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: i64, kind: &str, step: &str, note: Option<Note>) -> EventRecord {
        EventRecord {
            id,
            previous: id - 1,
            kind: kind.into(),
            ms: 0,
            details: None,
            step: Some(step.into()),
            note: note.map(|n| serde_json::to_string(&n).unwrap()),
        }
    }

    #[test]
    fn a_redrive_forgets_failures_and_keeps_successes() {
        let done = Note {
            outcome: Some(Outcome::Next {
                next: Some("Pay".into()),
                output: serde_json::json!({"order": 1}),
                vars: Map::new(),
            }),
            ..Note::default()
        };
        let failed = Note {
            outcome: Some(Outcome::Failed {
                error: "PaymentDeclined".into(),
                cause: "no funds".into(),
            }),
            ..Note::default()
        };
        let mut events = vec![
            ev(1, "TaskStateEntered", "/0", None),
            ev(2, "TaskStateExited", "/0", Some(done.clone())),
            ev(3, "TaskStateEntered", "/1", None),
            ev(4, "TaskFailed", "/1", Some(failed)),
        ];
        let before = Journal::from_events(&events);
        assert!(matches!(
            before.step("/1").unwrap().outcome(),
            Some(Outcome::Failed { .. })
        ));
        events.push(EventRecord {
            step: None,
            ..ev(5, "ExecutionRedriven", "", None)
        });
        let after = Journal::from_events(&events);
        assert_eq!(after.step("/0").unwrap().outcome(), done.outcome.as_ref());
        let pay = after.step("/1").unwrap();
        assert!(pay.outcome().is_none(), "the failed step runs again");
        assert!(pay.has("TaskStateEntered"), "but it was entered already");
        assert_eq!(after.last_id, 5);
    }
}
