//! The states without work of their own: Pass, Choice, Succeed and Fail, which end
//! at once, and Wait, which ends at a durable deadline.

use gust_asl::definition::{FailField, StateKind, WaitFor};
use gust_asl::eval::{self, Scope, States};
use serde_json::{json, Map, Value};

use super::io::{self, failed};
use super::journal::{Note, Outcome};
use super::recorder::{Halt, NewHistory};
use super::{Failure, Run, Visit};
use crate::clock;

/// Where an instant state leads, its output and the variables it assigns.
type Ended = (Option<String>, Value, Map<String, Value>);

impl Run {
    /// Runs a state that ends at once, pushing the events after its entry.
    pub(super) fn instant(&self, visit: &Visit<'_>, events: &mut Vec<NewHistory>) -> Outcome {
        let context = visit.context(self, 0, None);
        let result = match &visit.state.kind {
            StateKind::Pass { result } => self.pass(visit, &context, result.as_ref()),
            StateKind::Choice { choices, default } => {
                self.choose(visit, &context, choices, default.as_deref())
            }
            StateKind::Succeed => io::effective_input(self, visit, &context)
                .and_then(|work| io::output(visit, &context, work, false))
                .map(|(output, vars)| (None, output, vars)),
            StateKind::Fail { error, cause } => {
                let failure = self.fail_fields(visit, &context, error.as_ref(), cause.as_ref());
                let outcome = Outcome::Failed {
                    error: failure.error.clone(),
                    cause: failure.cause.clone(),
                };
                // A Fail state has no exit event: its entry carries the outcome.
                if let Some(entered) = events.last_mut() {
                    entered.note = Some(Note {
                        outcome: Some(outcome.clone()),
                        ..Note::default()
                    });
                } else {
                    events.push(NewHistory {
                        kind: "FailStateEntered",
                        details: None,
                        step: Some(visit.step.clone()),
                        note: Some(Note {
                            outcome: Some(outcome.clone()),
                            ..Note::default()
                        }),
                    });
                }
                return outcome;
            }
            _ => unreachable!("only instant states come here"),
        };
        match result {
            Ok((next, output, vars)) => {
                let outcome = Outcome::Next { next, output, vars };
                events.push(visit.exited_event(outcome.clone()));
                outcome
            }
            Err(failure) => {
                // Uncaught, the failure ends the frame; the frame's owner records it.
                let (outcome, exited) = self.catch(visit, &failure);
                events.extend(exited);
                outcome
            }
        }
    }

    fn pass(
        &self,
        visit: &Visit<'_>,
        context: &Value,
        result: Option<&Value>,
    ) -> Result<Ended, Failure> {
        let work = match result {
            Some(r) => r.clone(),
            None if visit.jsonata() => visit.input.clone(),
            None => io::effective_input(self, visit, context)?,
        };
        let (output, vars) = io::output(visit, context, work, false)?;
        Ok((visit.state.next.clone(), output, vars))
    }

    fn choose(
        &self,
        visit: &Visit<'_>,
        context: &Value,
        choices: &[gust_asl::definition::ChoiceRule],
        default: Option<&str>,
    ) -> Result<Ended, Failure> {
        let vars = &visit.frame.vars;
        if visit.jsonata() {
            let states = States {
                input: &visit.input,
                context,
                result: None,
                error_output: None,
                variables: vars,
            };
            for rule in choices {
                let condition = rule.rule.get("Condition").unwrap_or(&Value::Bool(false));
                if eval::jsonata_condition(condition, &states).map_err(|e| failed(visit, e))? {
                    let output = match rule.output.as_ref().or(visit.state.output.as_ref()) {
                        Some(o) => eval::jsonata(o, &states).map_err(|e| failed(visit, e))?,
                        None => visit.input.clone(),
                    };
                    let assigned = match rule.assign.as_ref() {
                        Some(a) => {
                            eval::jsonata_assign(a, &states).map_err(|e| failed(visit, e))?
                        }
                        None => Map::new(),
                    };
                    return Ok((Some(rule.next.clone()), output, assigned));
                }
            }
        } else {
            let selected = eval::select(
                visit.state.input_path.as_ref(),
                &Scope {
                    input: &visit.input,
                    context,
                    variables: vars,
                },
            )
            .map_err(|e| failed(visit, e))?;
            let scope = Scope {
                input: &selected,
                context,
                variables: vars,
            };
            for rule in choices {
                if eval::choice(&rule.rule, &scope).map_err(|e| failed(visit, e))? {
                    let assigned = match rule.assign.as_ref() {
                        Some(a) => eval::assign(a, &scope).map_err(|e| failed(visit, e))?,
                        None => Map::new(),
                    };
                    let (output, _) = io::output(visit, context, selected.clone(), false)?;
                    return Ok((Some(rule.next.clone()), output, assigned));
                }
            }
        }
        match default {
            Some(d) => {
                let (output, assigned) = io::output(visit, context, visit.input.clone(), false)?;
                Ok((Some(d.to_string()), output, assigned))
            }
            None => Err(Failure::new(
                "States.NoChoiceMatched",
                format!(
                    "No Choice Rules matched and no Default was specified for the state '{}'",
                    visit.state.name
                ),
            )),
        }
    }

    fn fail_fields(
        &self,
        visit: &Visit<'_>,
        context: &Value,
        error: Option<&FailField>,
        cause: Option<&FailField>,
    ) -> Failure {
        let field = |f: Option<&FailField>| -> Result<String, Failure> {
            match f {
                None => Ok(String::new()),
                Some(FailField::Literal(s)) => match io::literal(visit, context, &json!(s))? {
                    Value::String(s) => Ok(s),
                    other => Ok(other.to_string()),
                },
                Some(FailField::Path(p)) => match io::path_value(visit, context, p)? {
                    Value::String(s) => Ok(s),
                    other => Ok(other.to_string()),
                },
            }
        };
        match (field(error), field(cause)) {
            (Ok(error), Ok(cause)) => Failure { error, cause },
            (Err(f), _) | (_, Err(f)) => f,
        }
    }

    /// A Wait state: its deadline is noted with its entry, so a restart waits only
    /// what is left.
    pub(super) async fn wait(
        &self,
        visit: &Visit<'_>,
        wait: &WaitFor,
        entered: bool,
        prev: &mut i64,
    ) -> Result<Outcome, Halt> {
        let recorded_until = self
            .journal
            .step(&visit.step)
            .and_then(|s| s.events.iter().find_map(|(_, n)| n.until_ms));
        let context = visit.context(self, 0, None);
        let until = match recorded_until {
            Some(u) if entered => Ok(u),
            _ => self.deadline(visit, &context, wait),
        };
        let until = match until {
            Ok(u) => u,
            Err(failure) => {
                let mut events = Vec::new();
                if !entered {
                    events.push(visit.entered_event());
                }
                let (outcome, exited) = self.catch(visit, &failure);
                events.extend(exited);
                self.recorder.append(prev, events)?;
                return Ok(outcome);
            }
        };
        if !entered {
            let entry = visit.entered_event().noted(Note {
                until_ms: Some(until),
                ..Note::default()
            });
            self.recorder.append(prev, vec![entry])?;
        }
        let left = until - clock::now_ms();
        if left > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(left as u64)).await;
        }
        let outcome = match io::effective_input(self, visit, &context)
            .and_then(|work| io::output(visit, &context, work, false))
        {
            Ok((output, vars)) => Outcome::Next {
                next: visit.state.next.clone(),
                output,
                vars,
            },
            Err(failure) => Outcome::Failed {
                error: failure.error,
                cause: failure.cause,
            },
        };
        self.recorder
            .append(prev, vec![visit.exited_event(outcome.clone())])?;
        Ok(outcome)
    }

    fn deadline(&self, visit: &Visit<'_>, context: &Value, wait: &WaitFor) -> Result<i64, Failure> {
        let now = clock::now_ms();
        let seconds = |v: Value| -> Result<i64, Failure> {
            match v.as_f64() {
                Some(s) if s >= 0.0 => Ok(now + (s * 1000.0) as i64),
                _ => Err(Failure::new(
                    "States.Runtime",
                    visit.runtime_cause(&format!(
                        "The Wait state's seconds must be a non-negative number, not {v}"
                    )),
                )),
            }
        };
        let timestamp = |v: Value| -> Result<i64, Failure> {
            v.as_str().and_then(clock::parse_iso).ok_or_else(|| {
                Failure::new(
                    "States.Runtime",
                    visit.runtime_cause(&format!(
                        "The Wait state's timestamp must be an RFC 3339 string, not {v}"
                    )),
                )
            })
        };
        match wait {
            WaitFor::Seconds(v) => seconds(io::literal(visit, context, v)?),
            WaitFor::Timestamp(v) => timestamp(io::literal(visit, context, v)?),
            WaitFor::SecondsPath(p) => seconds(io::path_value(visit, context, p)?),
            WaitFor::TimestampPath(p) => timestamp(io::path_value(visit, context, p)?),
        }
    }
}
