//! Schedules (gust-only, `/gust/v1/schedules`): rules that invoke a function on an
//! EventBridge `rate(...)` or `cron(...)` expression.

use serde::{Deserialize, Serialize};

/// Path of the schedules collection.
pub const SCHEDULES_PATH: &str = "/gust/v1/schedules";

/// Path of one schedule.
pub fn schedule_path(name: &str) -> String {
    format!("{SCHEDULES_PATH}/{name}")
}

/// `POST /gust/v1/schedules`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateScheduleRequest {
    /// The rule's name: 1–64 of `[A-Za-z0-9._-]`.
    pub name: String,
    /// The function to invoke: name, `name:qualifier` or ARN.
    pub function: String,
    /// `rate(5 minutes)` or `cron(0 12 * * ? *)`.
    pub expression: String,
    /// Fixed JSON sent instead of the scheduled event, as EventBridge's `Input`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub input: Option<serde_json::Value>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
}

/// One schedule.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    /// The rule's name.
    pub name: String,
    /// `arn:aws:events:REGION:ACCOUNT:rule/NAME`, the event's `resources`.
    pub arn: String,
    /// The function it invokes.
    pub function: String,
    /// The schedule expression.
    pub expression: String,
    /// Fixed input, when set.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub input: Option<serde_json::Value>,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// When the rule was created (RFC 3339, UTC).
    pub created: String,
    /// The scheduled time of the last firing (RFC 3339, UTC), if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_fired: Option<String>,
    /// The scheduled time of the next firing (RFC 3339, UTC), if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next_fire: Option<String>,
}

/// `GET /gust/v1/schedules`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListSchedulesResponse {
    /// Every schedule, by name.
    pub schedules: Vec<Schedule>,
}
