//! A state machine drawn as SVG, and an execution's states coloured by what its
//! history says of them (as the Step Functions console shows an execution).

use std::collections::HashMap;

use gust_asl::graph::Status;
use gust_store::workflows::EventRecord;
use serde_json::Value;

use crate::api::ApiError;
use crate::{arn, Workflows};

/// Each state's status by its path of names (`["P", "1", "B"]` for state B of a
/// Parallel P's branch 1, `["M", "B"]` inside a Map M), from a history.
pub(crate) fn statuses(events: &[EventRecord]) -> HashMap<Vec<String>, Status> {
    // Per step: the state's name and whether it is a Parallel.
    let mut steps: HashMap<String, (String, bool)> = HashMap::new();
    let mut out: HashMap<Vec<String>, Status> = HashMap::new();
    let mut failed_steps: HashMap<String, bool> = HashMap::new();
    let aborted = events
        .iter()
        .any(|e| matches!(e.kind.as_str(), "ExecutionAborted" | "ExecutionTimedOut"));
    for e in events {
        let Some(step) = &e.step else { continue };
        if e.kind.ends_with("StateEntered") {
            let name = e
                .details
                .as_deref()
                .and_then(|d| serde_json::from_str::<Value>(d).ok())
                .and_then(|d| d.get("name").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_default();
            steps.insert(step.clone(), (name, e.kind == "ParallelStateEntered"));
        }
        let Some(path) = path_of(step, &steps) else {
            continue;
        };
        let status = if e.kind.ends_with("StateEntered") {
            if e.kind == "FailStateEntered" {
                Status::Failed
            } else {
                Status::InProgress
            }
        } else if e.kind.ends_with("StateExited") {
            if failed_steps.get(step).copied().unwrap_or(false) {
                Status::Caught
            } else {
                Status::Succeeded
            }
        } else if e.kind.ends_with("Failed") || e.kind.ends_with("TimedOut") {
            if e.kind.starts_with("MapIteration") {
                continue;
            }
            failed_steps.insert(step.clone(), true);
            Status::Failed
        } else if e.kind.ends_with("Scheduled") || e.kind.ends_with("Started") {
            failed_steps.insert(step.clone(), false);
            Status::InProgress
        } else {
            continue;
        };
        out.insert(path, status);
    }
    if aborted {
        for s in out.values_mut() {
            if *s == Status::InProgress {
                *s = Status::Cancelled;
            }
        }
    }
    out
}

/// The names leading to a step's state.
fn path_of(step: &str, steps: &HashMap<String, (String, bool)>) -> Option<Vec<String>> {
    let (name, _) = steps.get(step)?;
    let frame = &step[..step.rfind('/')?];
    let mut path = if frame.is_empty() {
        Vec::new()
    } else {
        let mut parts = frame.rsplitn(3, '.');
        let index = parts.next()?;
        let _attempt = parts.next()?;
        let parent = parts.next()?;
        let mut p = path_of(parent, steps)?;
        if steps.get(parent).is_some_and(|(_, parallel)| *parallel) {
            p.push(index.to_string());
        }
        p
    };
    path.push(name.clone());
    Some(path)
}

impl Workflows {
    /// The SVG of a state machine (by its ARN), or of an execution (by its ARN)
    /// with each state coloured by its status.
    pub fn graph_svg(&self, resource: &str) -> Result<String, ApiError> {
        if arn::execution_names(&self.region, resource).is_some() {
            let e = self.store.execution(resource)?.ok_or_else(|| {
                ApiError::new(
                    "ExecutionDoesNotExist",
                    format!("Execution Does Not Exist: '{resource}'"),
                )
            })?;
            let machine = self
                .parsed(&e.definition)
                .map_err(|m| ApiError::new("InvalidDefinition", m))?;
            let events = self.store.events(&e.arn)?;
            let statuses = statuses(&events);
            return Ok(gust_asl::graph::svg(&machine, &|path: &[&str]| {
                let key: Vec<String> = path.iter().map(|s| s.to_string()).collect();
                statuses.get(&key).copied().unwrap_or(Status::NotRun)
            }));
        }
        let m = self.machine_named(resource)?;
        let machine = self
            .parsed(&m.definition)
            .map_err(|msg| ApiError::new("InvalidDefinition", msg))?;
        Ok(gust_asl::graph::svg(&machine, &|_: &[&str]| Status::NotRun))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: i64, kind: &str, step: &str, name: Option<&str>) -> EventRecord {
        EventRecord {
            id,
            previous: id - 1,
            kind: kind.into(),
            ms: 0,
            details: name.map(|n| serde_json::json!({ "name": n }).to_string()),
            step: Some(step.into()),
            note: None,
        }
    }

    #[test]
    fn states_inside_branches_and_maps_get_their_paths_and_a_catch_shows() {
        let events = vec![
            ev(2, "ParallelStateEntered", "/0", Some("P")),
            ev(3, "PassStateEntered", "/0.0.1/0", Some("B")),
            ev(4, "PassStateExited", "/0.0.1/0", Some("B")),
            ev(5, "ParallelStateExited", "/0", Some("P")),
            ev(6, "MapStateEntered", "/1", Some("M")),
            ev(7, "TaskStateEntered", "/1.0.3/0", Some("T")),
            ev(8, "TaskStateEntered", "/2", Some("Pay")),
            ev(9, "TaskFailed", "/2", None),
            ev(10, "TaskStateExited", "/2", Some("Pay")),
        ];
        let s = statuses(&events);
        let path = |p: &[&str]| p.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(s[&path(&["P", "1", "B"])], Status::Succeeded);
        assert_eq!(s[&path(&["P"])], Status::Succeeded);
        assert_eq!(s[&path(&["M", "T"])], Status::InProgress);
        assert_eq!(s[&path(&["Pay"])], Status::Caught);
    }
}
