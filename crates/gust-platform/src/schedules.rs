//! Schedules: rules that invoke a function on an EventBridge `rate(...)` or
//! `cron(...)` expression, with EventBridge's scheduled-event payload (or the rule's
//! fixed `input`), asynchronously.
//!
//! # Storage
//! Rules live in the settings table under the pseudo-function [`STORE_KEY`] (no
//! function can have that name, so the rows never mix with a function's), kind
//! `rule`, key = the rule's name; so they need no schema migration. Each row holds
//! the rule and the scheduled time of its last firing.
//!
//! # Firing, restarts and missed firings
//! The runner ([`Platform::run_schedules`]) records a firing's scheduled time durably
//! *before* it dispatches the invocation, so a restart never fires the same time
//! twice; the async invocation path then carries the event at least once.
//!
//! A firing whose time passed while gust was not running is handled by one policy:
//! if one or more firings were missed within the last [`MISSED_GRACE`] (15 minutes),
//! the rule fires **once**, on start-up, for the latest of them; firings missed
//! before that window are skipped, and the rule continues with its next time. The
//! same rule covers a runner that falls behind (a suspended process): missed times
//! collapse into one firing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use gust_triggers::{Expression, Options};
use gust_types::{name::ACCOUNT_ID, CoreError, FunctionRef};
use gust_wire::schedules::{CreateScheduleRequest, ListSchedulesResponse, Schedule};
use serde::{Deserialize, Serialize};

use crate::{InvocationType, InvokeRequest, Platform};

/// The pseudo-function whose settings rows hold the rules.
pub const STORE_KEY: &str = "@schedules";
/// Setting kind of a rule.
const KIND: &str = "rule";
/// How far back a missed firing is still made up for (once) after a restart.
pub const MISSED_GRACE: Duration = Duration::from_secs(15 * 60);
/// The largest fixed input, as EventBridge's `Input`.
const MAX_INPUT: usize = 8192;
/// The runner wakes at least this often, so a wall-clock jump is noticed.
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// A rule as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Rule {
    pub name: String,
    pub function: String,
    pub expression: String,
    #[serde(default)]
    pub input: Option<serde_json::Value>,
    #[serde(default)]
    pub description: String,
    /// Seconds since the epoch; a rate counts its periods from here.
    pub created: i64,
    /// Scheduled time of the last firing dispatched, seconds since the epoch.
    #[serde(default)]
    pub last_fired: Option<i64>,
}

/// A rule with its parsed expression.
#[derive(Debug, Clone)]
struct Live {
    rule: Rule,
    expr: Expression,
}

impl Live {
    /// The scheduled time owed at `now`, if any (see the module docs).
    fn due(&self, now: i64) -> Option<i64> {
        let since = self.rule.last_fired.unwrap_or(self.rule.created);
        let window_start = now - MISSED_GRACE.as_secs() as i64;
        self.expr
            .last_in(self.rule.created, since.max(window_start), now)
    }

    fn next(&self, now: i64) -> Option<i64> {
        let since = self.rule.last_fired.unwrap_or(self.rule.created);
        self.expr.next_after(self.rule.created, since.max(now))
    }
}

/// The rules and the runner's wake-up call.
#[derive(Default)]
pub(crate) struct Schedules {
    rules: parking_lot::Mutex<BTreeMap<String, Live>>,
    changed: tokio::sync::Notify,
}

impl Platform {
    fn expression_options(&self) -> Options {
        Options {
            allow_seconds: self.config.allow_second_rates,
        }
    }

    /// Loads the stored rules (at start-up). An unreadable rule is skipped with a
    /// warning rather than keeping gust from starting.
    pub(crate) fn load_schedules(&self) -> Result<(), CoreError> {
        let mut rules = self.schedules.rules.lock();
        for s in self.settings.list_settings()? {
            if s.function != STORE_KEY || s.kind != KIND {
                continue;
            }
            let parsed = serde_json::from_str::<Rule>(&s.value)
                .map_err(|e| e.to_string())
                .and_then(|rule| {
                    let expr = Expression::parse(&rule.expression, self.expression_options())
                        .map_err(|e| e.to_string())?;
                    Ok(Live { rule, expr })
                });
            match parsed {
                Ok(live) => {
                    rules.insert(live.rule.name.clone(), live);
                }
                Err(e) => tracing::warn!(rule = %s.key, error = %e, "unreadable schedule skipped"),
            }
        }
        Ok(())
    }

    /// Creates a schedule.
    pub fn create_schedule(&self, req: CreateScheduleRequest) -> Result<Schedule, CoreError> {
        validate_rule_name(&req.name)?;
        let expr = Expression::parse(&req.expression, self.expression_options())
            .map_err(|e| CoreError::InvalidParameterValue(e.to_string()))?;
        let fref = FunctionRef::parse_local(&req.function, &self.config.region)?;
        self.function(&fref)?;
        if let Some(input) = &req.input {
            if input.to_string().len() > MAX_INPUT {
                return Err(CoreError::InvalidParameterValue(format!(
                    "Input must be at most {MAX_INPUT} characters of JSON, as EventBridge allows"
                )));
            }
        }
        if let Some(d) = &req.description {
            if d.len() > 512 {
                return Err(CoreError::InvalidParameterValue(
                    "Description must be at most 512 characters".into(),
                ));
            }
        }
        let rule = Rule {
            name: req.name,
            function: req.function,
            expression: req.expression.trim().to_string(),
            input: req.input,
            description: req.description.unwrap_or_default(),
            created: now_s(),
            last_fired: None,
        };
        let live = Live { rule, expr };
        {
            let mut rules = self.schedules.rules.lock();
            if rules.contains_key(&live.rule.name) {
                return Err(CoreError::ResourceConflict(format!(
                    "Rule {} already exists",
                    live.rule.name
                )));
            }
            self.put_setting(STORE_KEY, KIND, &live.rule.name, &live.rule)?;
            rules.insert(live.rule.name.clone(), live.clone());
        }
        self.schedules.changed.notify_one();
        tracing::info!(rule = %live.rule.name, expression = %live.rule.expression, "schedule created");
        Ok(self.schedule_wire(&live, now_s()))
    }

    /// One schedule.
    pub fn get_schedule(&self, name: &str) -> Result<Schedule, CoreError> {
        let rules = self.schedules.rules.lock();
        let live = rules.get(name).ok_or_else(|| rule_not_found(name))?;
        Ok(self.schedule_wire(live, now_s()))
    }

    /// Every schedule, by name.
    pub fn list_schedules(&self) -> ListSchedulesResponse {
        let now = now_s();
        ListSchedulesResponse {
            schedules: self
                .schedules
                .rules
                .lock()
                .values()
                .map(|l| self.schedule_wire(l, now))
                .collect(),
        }
    }

    /// Deletes a schedule; a firing already dispatched still runs.
    pub fn delete_schedule(&self, name: &str) -> Result<(), CoreError> {
        let mut rules = self.schedules.rules.lock();
        if !rules.contains_key(name) {
            return Err(rule_not_found(name));
        }
        self.settings.delete_setting(STORE_KEY, KIND, name)?;
        rules.remove(name);
        drop(rules);
        self.schedules.changed.notify_one();
        tracing::info!(rule = %name, "schedule deleted");
        Ok(())
    }

    /// Fires the rules as their times come, until the task is dropped or aborted.
    /// Abort it before the scheduler shuts down: a firing is recorded and handed to
    /// its own task without an await in between, so aborting never loses one.
    pub async fn run_schedules(self: Arc<Self>) {
        loop {
            let now = now_s();
            let mut wake = now + MAX_SLEEP.as_secs() as i64;
            let mut firings = Vec::new();
            {
                let mut rules = self.schedules.rules.lock();
                for live in rules.values_mut() {
                    if let Some(at) = live.due(now) {
                        let previous = live.rule.last_fired;
                        live.rule.last_fired = Some(at);
                        match self.put_setting(STORE_KEY, KIND, &live.rule.name, &live.rule) {
                            Ok(()) => firings.push((live.rule.clone(), at, previous)),
                            Err(e) => {
                                // Not recorded, so not fired: the next pass retries.
                                live.rule.last_fired = previous;
                                tracing::warn!(rule = %live.rule.name, error = %e, "could not record a firing");
                            }
                        }
                    }
                    if let Some(next) = live.next(now) {
                        wake = wake.min(next);
                    }
                }
            }
            for (rule, at, previous) in firings {
                tokio::spawn(self.clone().fire(rule, at, previous));
            }
            let delay = wake_delay(wake);
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.schedules.changed.notified() => {}
            }
        }
    }

    /// Invokes a rule's function for the firing scheduled at `at`.
    async fn fire(self: Arc<Self>, rule: Rule, at: i64, previous: Option<i64>) {
        let payload = match &rule.input {
            Some(input) => input.to_string(),
            None => scheduled_event(&self.config.region.0, &rule.name, at).to_string(),
        };
        let function = match FunctionRef::parse(&rule.function) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(rule = %rule.name, error = %e, "schedule target is invalid");
                return;
            }
        };
        let req = InvokeRequest {
            function,
            payload: Bytes::from(payload),
            invocation_type: InvocationType::Event,
            log_tail: false,
            client_context: None,
            trace: None,
        };
        let request_id: Arc<str> = Arc::from(uuid::Uuid::new_v4().hyphenated().to_string());
        // Event: the queue holds the firing durably from here on and runs it at least
        // once, with the function's retries and destinations.
        let result = self.invoke(request_id, req).await;
        match result {
            Ok(_) => tracing::debug!(rule = %rule.name, at, "schedule fired"),
            Err(CoreError::ShuttingDown) => {
                // Refused because gust is stopping: un-record the firing so the next
                // start makes up for it (within the grace window). Other refusals (the
                // function is gone, the queue is full) keep it recorded: firing again
                // would not fix them.
                self.unrecord(&rule.name, at, previous);
            }
            Err(e) => {
                tracing::warn!(rule = %rule.name, function = %rule.function, error = %e, "scheduled invocation failed")
            }
        }
    }

    fn unrecord(&self, name: &str, at: i64, previous: Option<i64>) {
        let mut rules = self.schedules.rules.lock();
        let Some(live) = rules.get_mut(name) else {
            return;
        };
        if live.rule.last_fired == Some(at) {
            live.rule.last_fired = previous;
            if let Err(e) = self.put_setting(STORE_KEY, KIND, name, &live.rule) {
                tracing::warn!(rule = %name, error = %e, "could not un-record a refused firing");
            }
        }
    }

    fn schedule_wire(&self, live: &Live, now: i64) -> Schedule {
        let r = &live.rule;
        Schedule {
            name: r.name.clone(),
            arn: rule_arn(&self.config.region.0, &r.name),
            function: r.function.clone(),
            expression: r.expression.clone(),
            input: r.input.clone(),
            description: r.description.clone(),
            created: rfc3339(r.created),
            last_fired: r.last_fired.map(rfc3339),
            next_fire: live.next(now).map(rfc3339),
        }
    }
}

/// How long to sleep until second `wake` (a little after it, so the wall clock has
/// surely reached it).
fn wake_delay(wake: i64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let target = Duration::from_secs(wake.max(0) as u64) + Duration::from_millis(5);
    target.saturating_sub(now).min(MAX_SLEEP)
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn rule_arn(region: &str, name: &str) -> String {
    format!("arn:aws:events:{region}:{ACCOUNT_ID}:rule/{name}")
}

/// EventBridge's scheduled event for a firing at `at`.
pub(crate) fn scheduled_event(region: &str, rule: &str, at: i64) -> serde_json::Value {
    serde_json::json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().hyphenated().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": rfc3339(at),
        "region": region,
        "resources": [rule_arn(region, rule)],
        "detail": {},
    })
}

/// `2019-10-08T16:53:06Z`.
fn rfc3339(t: i64) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&fmt).ok())
        .unwrap_or_default()
}

fn rule_not_found(name: &str) -> CoreError {
    CoreError::ResourceNotFound(format!("Rule {name} does not exist."))
}

/// EventBridge rule names: 1–64 of `[.\-_A-Za-z0-9]`.
fn validate_rule_name(n: &str) -> Result<(), CoreError> {
    let ok = !n.is_empty()
        && n.len() <= 64
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(CoreError::InvalidParameterValue(format!(
            "1 validation error detected: Value '{n}' at 'name' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+ (1-64 characters)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(expr: &str, created: i64, last_fired: Option<i64>) -> Live {
        Live {
            rule: Rule {
                name: "r".into(),
                function: "f".into(),
                expression: expr.into(),
                input: None,
                description: String::new(),
                created,
                last_fired,
            },
            expr: Expression::parse(expr, Options::default()).unwrap(),
        }
    }

    #[test]
    fn fires_each_time_once() {
        let l = live("rate(5 minutes)", 1_000, None);
        assert_eq!(l.due(1_000), None);
        assert_eq!(l.due(1_299), None);
        assert_eq!(l.due(1_300), Some(1_300));
        let l = live("rate(5 minutes)", 1_000, Some(1_300));
        assert_eq!(l.due(1_300), None);
        assert_eq!(l.due(1_599), None);
        assert_eq!(l.next(1_301), Some(1_600));
    }

    #[test]
    fn missed_firings_within_the_grace_window_collapse_into_one() {
        // Down from 1_300 to 1_300 + 10 min: two firings missed → one, the latest.
        let l = live("rate(5 minutes)", 1_000, Some(1_300));
        assert_eq!(l.due(1_300 + 600 + 30), Some(1_900));
        // Down for two hours: the latest missed firing is within the window, so the
        // rule fires once, for it.
        assert_eq!(l.due(1_300 + 7_200 + 10), Some(1_300 + 7_200));
        // A daily schedule missed by an hour is outside the window: skipped.
        let day = live("cron(0 12 * * ? *)", 0, Some(43_200));
        assert_eq!(day.due(86_400 + 43_200 + 3_600), None);
        assert_eq!(day.next(86_400 + 43_200 + 3_600), Some(2 * 86_400 + 43_200));
        // Missed by ten minutes: made up for once.
        assert_eq!(day.due(86_400 + 43_200 + 600), Some(86_400 + 43_200));
    }

    #[test]
    fn scheduled_events_look_like_eventbridge_ones() {
        let e = scheduled_event("eu-west-1", "nightly", 1_570_553_586);
        assert_eq!(e["detail-type"], "Scheduled Event");
        assert_eq!(e["source"], "aws.events");
        assert_eq!(e["time"], "2019-10-08T16:53:06Z");
        assert_eq!(
            e["resources"][0],
            "arn:aws:events:eu-west-1:000000000000:rule/nightly"
        );
        assert_eq!(e["detail"], serde_json::json!({}));
        assert_eq!(e["id"].as_str().unwrap().len(), 36);
    }

    #[test]
    fn rule_names() {
        assert!(validate_rule_name("nightly.report-2_b").is_ok());
        assert!(validate_rule_name("").is_err());
        assert!(validate_rule_name("a/b").is_err());
        assert!(validate_rule_name(&"x".repeat(65)).is_err());
    }
}
