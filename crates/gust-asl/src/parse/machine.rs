//! A machine, a Parallel branch or a Map processor: its own fields, its
//! states, and the checks that need all of them at once: transition targets,
//! reachability from `StartAt`, and (top level only) a terminal state.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::{Map, Value};

use super::code;
use super::fields::{Ctx, Obj};
use super::state;
use crate::definition::StateMachine;

/// Which kind of state list is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// The definition itself.
    Top,
    /// One of a Parallel's `Branches`.
    Branch,
    /// A Map's `ItemProcessor` (or `Iterator`).
    Processor,
}

/// The largest `TimeoutSeconds` AWS accepts.
pub(crate) const MAX_SECONDS: u64 = 99_999_999;

/// Whether the object at `loc` is a `States` map (its keys are state names).
pub(crate) fn is_states_object(loc: &str) -> bool {
    let Some(parent) = loc.strip_suffix("/States") else {
        return false;
    };
    parent.is_empty()
        || parent.ends_with(']') && parent.contains("/Branches[")
        || parent.ends_with("/ItemProcessor")
        || parent.ends_with("/Iterator")
}

/// The whole definition: resolves the machine's `QueryLanguage` first, since
/// every state inherits it.
pub(crate) fn top_level(ctx: &mut Ctx, top: &Map<String, Value>) -> Option<StateMachine> {
    let obj = Obj::new(top, "");
    if let Some(value) = obj.get("QueryLanguage") {
        ctx.machine_ql = state::language_of(ctx, value, &obj.at("QueryLanguage"));
    }
    machine(ctx, &obj, Level::Top)
}

/// Reads a machine of any level at `obj`.
pub(crate) fn machine(ctx: &mut Ctx, obj: &Obj, level: Level) -> Option<StateMachine> {
    let allowed: &[&str] = match level {
        Level::Top => &[
            "Comment",
            "StartAt",
            "States",
            "TimeoutSeconds",
            "Version",
            "QueryLanguage",
        ],
        Level::Branch => &["Comment", "StartAt", "States"],
        Level::Processor => &["Comment", "StartAt", "States", "ProcessorConfig"],
    };
    obj.allow_only(ctx, allowed);
    let comment = obj.string(ctx, "Comment").map(str::to_owned);
    let mut timeout_seconds = None;
    if level == Level::Top {
        timeout_seconds = obj.integer(ctx, "TimeoutSeconds", 0, MAX_SECONDS);
        if obj.has("Version") {
            obj.one_of(ctx, "Version", &["1.0"]);
        }
    }
    let start_at = obj.required_string(ctx, "StartAt");
    let raw_states = if obj.require(ctx, "States") {
        obj.object(ctx, "States")
    } else {
        None
    };
    let raw_states = raw_states?;
    if raw_states.map.is_empty() {
        ctx.schema("Value cannot be empty", raw_states.here());
    }

    let mut states = BTreeMap::new();
    for (name, value) in raw_states.map {
        if let Some(s) = state::state(ctx, name, value, raw_states.at(name)) {
            states.insert(name.clone(), s);
        }
    }

    check_targets(ctx, &raw_states);
    let top_has_no_end = level == Level::Top && !has_terminal_state(raw_states.map);
    if let Some(start) = start_at {
        if !raw_states.has(start) {
            let message = format!("Missing 'Next' target: {start}");
            ctx.error(code::MISSING_TRANSITION_TARGET, message, obj.at("StartAt"));
        }
        if !top_has_no_end {
            report_unreachable(ctx, &raw_states, start);
        }
    }
    if top_has_no_end {
        ctx.error(
            code::MISSING_END_STATE,
            "Workflow has no terminal state",
            "",
        );
    }

    Some(StateMachine {
        start_at: start_at?.to_owned(),
        comment,
        timeout_seconds,
        query_language: ctx.machine_ql,
        states,
    })
}

/// The transitions written in one raw state, with where each is written.
fn targets(state: &Value, loc: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut push = |v: Option<&Value>, at: String| {
        if let Some(Value::String(t)) = v {
            out.push((t.clone(), at));
        }
    };
    push(state.get("Next"), format!("{loc}/Next"));
    if let Some(Value::Array(choices)) = state.get("Choices") {
        for (i, c) in choices.iter().enumerate() {
            push(c.get("Next"), format!("{loc}/Choices[{i}]/Next"));
        }
    }
    push(state.get("Default"), format!("{loc}/Default"));
    if let Some(Value::Array(catch)) = state.get("Catch") {
        for (i, c) in catch.iter().enumerate() {
            push(c.get("Next"), format!("{loc}/Catch[{i}]/Next"));
        }
    }
    out
}

/// Every transition must name a state of this same scope.
fn check_targets(ctx: &mut Ctx, states: &Obj) {
    for (name, value) in states.map {
        for (target, at) in targets(value, &states.at(name)) {
            if !states.has(&target) {
                let message = format!("Missing 'Next' target: {target}");
                ctx.error(code::MISSING_TRANSITION_TARGET, message, at);
            }
        }
    }
}

fn has_terminal_state(states: &Map<String, Value>) -> bool {
    states.values().any(|s| {
        s.get("End") == Some(&Value::Bool(true))
            || matches!(
                s.get("Type").and_then(Value::as_str),
                Some("Succeed" | "Fail")
            )
    })
}

fn report_unreachable(ctx: &mut Ctx, states: &Obj, start: &str) {
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::new();
    if states.has(start) {
        seen.insert(start.to_owned());
        queue.push_back(start.to_owned());
    }
    while let Some(name) = queue.pop_front() {
        let Some(value) = states.get(&name) else {
            continue;
        };
        for (target, _) in targets(value, "") {
            if states.has(&target) && seen.insert(target.clone()) {
                queue.push_back(target);
            }
        }
    }
    for name in states.map.keys() {
        if !seen.contains(name) {
            let message = format!("State \"{name}\" is not reachable.");
            ctx.error(code::MISSING_TRANSITION_TARGET, message, states.at(name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_objects_are_recognised_by_place() {
        assert!(is_states_object("/States"));
        assert!(is_states_object("/States/P/Branches[1]/States"));
        assert!(is_states_object("/States/M/ItemProcessor/States"));
        assert!(is_states_object("/States/M/Iterator/States"));
        assert!(!is_states_object("/States/T/Parameters/States"));
        assert!(!is_states_object("/States/T/Parameters"));
    }
}
