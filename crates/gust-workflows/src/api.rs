//! The Step Functions API: `AWSStepFunctions.<Operation>` requests (awsJson1_0)
//! as JSON in, JSON or an AWS error out. The gateway routes; this module knows no
//! HTTP.
//!
//! # Layout
//! - this file: dispatch, errors, paging;
//! - `machines`: Create/Describe/List/Update/Delete/ValidateStateMachine, tags;
//! - `executions`: Start/StartSync/Describe/List/Stop/RedriveExecution, history,
//!   DescribeStateMachineForExecution, and the task-token calls.

mod executions;
mod machines;

use std::sync::Arc;

use base64::Engine as _;
use serde_json::Value;

use crate::Workflows;

/// An error as Step Functions answers it: `{"__type": ..., "message": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct ApiError {
    /// The `__type` (`StateMachineDoesNotExist`, ...).
    pub kind: &'static str,
    /// The message.
    pub message: String,
    /// The HTTP status (400 for a client's error, 500 for gust's).
    pub status: u16,
}

impl ApiError {
    pub(crate) fn new(kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
            status: 400,
        }
    }

    pub(crate) fn internal(message: impl std::fmt::Display) -> ApiError {
        ApiError {
            kind: "InternalFailure",
            message: message.to_string(),
            status: 500,
        }
    }

    /// The response body.
    pub fn body(&self) -> Value {
        serde_json::json!({ "__type": self.kind, "message": self.message })
    }
}

impl From<gust_store::StoreError> for ApiError {
    fn from(e: gust_store::StoreError) -> Self {
        tracing::error!(error = %e, "a workflow store operation failed");
        ApiError::internal(gust_types_free_message(&e.to_string()))
    }
}

/// A store error's text without host paths.
fn gust_types_free_message(m: &str) -> String {
    m.split_whitespace()
        .map(|w| if w.contains('/') { "<path>" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every operation gust answers.
pub const OPERATIONS: &[&str] = &[
    "CreateStateMachine",
    "DescribeStateMachine",
    "ListStateMachines",
    "UpdateStateMachine",
    "DeleteStateMachine",
    "ValidateStateMachineDefinition",
    "StartExecution",
    "StartSyncExecution",
    "DescribeExecution",
    "ListExecutions",
    "GetExecutionHistory",
    "StopExecution",
    "RedriveExecution",
    "SendTaskSuccess",
    "SendTaskFailure",
    "SendTaskHeartbeat",
    "DescribeStateMachineForExecution",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
];

impl Workflows {
    /// Answers one operation. `trace` is the request's `X-Amzn-Trace-Id`.
    pub async fn call(
        self: &Arc<Self>,
        operation: &str,
        body: &[u8],
        trace: Option<String>,
    ) -> Result<Value, ApiError> {
        let input: Value = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Object(Default::default())
        } else {
            serde_json::from_slice(body).map_err(|e| {
                ApiError::new(
                    "SerializationException",
                    format!("the request body is not JSON: {e}"),
                )
            })?
        };
        if !input.is_object() {
            return Err(ApiError::new(
                "SerializationException",
                "the request body must be a JSON object",
            ));
        }
        match operation {
            "CreateStateMachine" => self.create_machine(&input),
            "DescribeStateMachine" => self.describe_machine(&input),
            "ListStateMachines" => self.list_machines(&input),
            "UpdateStateMachine" => self.update_machine(&input),
            "DeleteStateMachine" => self.delete_machine(&input),
            "ValidateStateMachineDefinition" => self.validate_definition(&input),
            "TagResource" => self.tag_resource(&input),
            "UntagResource" => self.untag_resource(&input),
            "ListTagsForResource" => self.list_tags(&input),
            "StartExecution" => self.start_execution(&input, trace).await,
            "StartSyncExecution" => self.start_sync_execution(&input, trace).await,
            "DescribeExecution" => self.describe_execution(&input),
            "ListExecutions" => self.list_executions(&input),
            "GetExecutionHistory" => self.history(&input),
            "StopExecution" => self.stop_execution(&input),
            "RedriveExecution" => self.redrive_execution(&input),
            "SendTaskSuccess" => self.send_task(&input, TaskCall::Success),
            "SendTaskFailure" => self.send_task(&input, TaskCall::Failure),
            "SendTaskHeartbeat" => self.send_task(&input, TaskCall::Heartbeat),
            "DescribeStateMachineForExecution" => self.machine_for_execution(&input),
            other => Err(ApiError::new(
                "UnknownOperationException",
                format!(
                    "gust's Step Functions API has no operation {other}; it answers {}",
                    OPERATIONS.join(", ")
                ),
            )),
        }
    }
}

/// Which task-token call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskCall {
    Success,
    Failure,
    Heartbeat,
}

/// AWS's answer to an ARN of the wrong kind (or another region's).
pub(crate) fn invalid_arn(arn: &str) -> ApiError {
    ApiError::new(
        "InvalidArn",
        format!("Invalid Arn: 'Resource type not valid in this context: {arn}'"),
    )
}

/// A required string field.
pub(crate) fn required<'a>(input: &'a Value, field: &str) -> Result<&'a str, ApiError> {
    match input.get(field) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ApiError::new(
            "ValidationException",
            format!("1 validation error detected: Value at '{field}' must be a string"),
        )),
        None => Err(ApiError::new(
            "ValidationException",
            format!(
                "1 validation error detected: Value null at '{field}' failed to satisfy \
                 constraint: Member must not be null"
            ),
        )),
    }
}

/// An optional string field.
pub(crate) fn optional<'a>(input: &'a Value, field: &str) -> Result<Option<&'a str>, ApiError> {
    match input.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::new(
            "ValidationException",
            format!("1 validation error detected: Value at '{field}' must be a string"),
        )),
    }
}

/// One page of `items` from `nextToken` (an offset), at most `maxResults`
/// (default and cap 1000); the next token if more remain.
pub(crate) fn page<T: Clone>(
    input: &Value,
    items: &[T],
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let max = match input.get("maxResults") {
        None | Some(Value::Null) => 100,
        Some(v) => match v.as_u64() {
            Some(0) => 100,
            Some(n) if n <= 1000 => n as usize,
            _ => {
                return Err(ApiError::new(
                    "ValidationException",
                    "1 validation error detected: Value at 'maxResults' failed to satisfy \
                     constraint: Member must have value less than or equal to 1000",
                ))
            }
        },
    };
    let start = match optional(input, "nextToken")? {
        None => 0,
        Some(token) => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("offset:").and_then(|n| n.parse().ok()))
            .ok_or_else(|| ApiError::new("InvalidToken", format!("Invalid Token: '{token}'")))?,
    };
    let end = (start + max).min(items.len());
    let slice = items.get(start..end).unwrap_or_default().to_vec();
    let next = (end < items.len())
        .then(|| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("offset:{end}")));
    Ok((slice, next))
}
