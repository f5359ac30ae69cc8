//! Asynchronous invocation: the event-invoke-config bodies of the Lambda API
//! (`/2019-09-25/functions/{name}/event-invoke-config`), the invocation record AWS
//! sends to destinations, and gust's own async listing and built-in queues
//! (`/gust/v1/functions/{name}/async`, `/gust/v1/queues/...`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One destination of a [`DestinationConfig`]: `{"Destination": ARN}`, or `{}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Destination {
    /// ARN of a Lambda function or an SQS queue (a gust built-in queue).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub destination: Option<String>,
}

/// `DestinationConfig`: where invocation records go.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DestinationConfig {
    /// Records of events the function processed successfully.
    #[serde(default)]
    pub on_success: Option<Destination>,
    /// Records of events that failed every attempt or expired.
    #[serde(default)]
    pub on_failure: Option<Destination>,
}

/// Body of PutFunctionEventInvokeConfig (`PUT`) and UpdateFunctionEventInvokeConfig
/// (`POST`) on `/2019-09-25/functions/{name}/event-invoke-config?Qualifier=`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct EventInvokeConfigRequest {
    /// Retries after a function error, 0–2.
    pub maximum_retry_attempts: Option<i64>,
    /// How long an event may wait to be processed, 60–21600 seconds.
    pub maximum_event_age_in_seconds: Option<i64>,
    /// Destinations of the invocation records.
    pub destination_config: Option<DestinationConfig>,
}

/// `FunctionEventInvokeConfig`, the response of Put/Get/Update and an item of List.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionEventInvokeConfig {
    /// When the configuration last changed, in seconds since the epoch.
    pub last_modified: f64,
    /// The qualified ARN the configuration belongs to (`...:function:NAME:$LATEST`).
    pub function_arn: String,
    /// As configured; absent means the default (2).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub maximum_retry_attempts: Option<u32>,
    /// As configured; absent means the default (21600).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub maximum_event_age_in_seconds: Option<u32>,
    /// Always present; an unset destination is `{}`.
    pub destination_config: DestinationConfig,
}

/// ListFunctionEventInvokeConfigs response.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListFunctionEventInvokeConfigsResponse {
    /// One per qualifier that has a configuration.
    pub function_event_invoke_configs: Vec<FunctionEventInvokeConfig>,
    /// Pass as `Marker` for the next page.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next_marker: Option<String>,
}

/// The invocation record Lambda sends to a destination, as AWS documents it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InvocationRecord {
    /// `1.0`.
    pub version: String,
    /// When the record was made, ISO 8601 with milliseconds (`2019-11-24T23:08:25.651Z`).
    pub timestamp: String,
    /// Which invocation, and why the record was sent.
    pub request_context: RecordRequestContext,
    /// The event as the caller sent it (JSON).
    pub request_payload: Value,
    /// The last attempt's response; absent when the function never ran.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub response_context: Option<RecordResponseContext>,
    /// What the last attempt returned (its result or error object); absent when the
    /// function never ran.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub response_payload: Option<Value>,
}

/// `requestContext` of an [`InvocationRecord`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RecordRequestContext {
    /// The request id the caller got with its 202.
    pub request_id: String,
    /// The function invoked, qualified (`...:function:NAME:$LATEST`).
    pub function_arn: String,
    /// `Success`, `RetriesExhausted` or `EventAgeExceeded`.
    pub condition: String,
    /// How many times the function was invoked with the event.
    pub approximate_invoke_count: u32,
}

/// `responseContext` of an [`InvocationRecord`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RecordResponseContext {
    /// 200 when the function ran (even when it failed).
    pub status_code: u16,
    /// The version that ran.
    pub executed_version: String,
    /// `Unhandled` when the function failed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub function_error: Option<String>,
}

/// An SQS-style message attribute: `{"stringValue": .., "dataType": "String"}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MessageAttribute {
    /// The value, as text.
    pub string_value: String,
    /// `String` or `Number`.
    pub data_type: String,
}

/// One message of a gust built-in queue.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct QueueMessage {
    /// Position in the queue; pass it back as `after` to read on.
    pub seq: i64,
    /// Unique id of the message.
    pub message_id: String,
    /// When it was sent, ISO 8601 UTC.
    pub sent_at: String,
    /// The body: an invocation record (destinations) or the original event
    /// (dead-letter queues), as JSON text.
    pub body: String,
    /// Attributes, as SQS sends them (dead-letter queues carry `RequestID`,
    /// `ErrorCode` and `ErrorMessage`).
    #[serde(default)]
    pub message_attributes: BTreeMap<String, MessageAttribute>,
}

/// `GET /gust/v1/queues/{name}/messages?after=SEQ&limit=N`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueMessagesResponse {
    /// The queue's name.
    pub queue: String,
    /// Messages after the requested position, oldest first.
    pub messages: Vec<QueueMessage>,
    /// The `after` to pass next time.
    pub next_seq: i64,
}

/// One queue in `GET /gust/v1/queues`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueSummary {
    /// The queue's name (the last part of its SQS ARN).
    pub name: String,
    /// Messages it holds.
    pub messages: u64,
}

/// `GET /gust/v1/queues`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueuesResponse {
    /// Every queue that holds messages, by name.
    pub queues: Vec<QueueSummary>,
}

/// One asynchronous invocation in `GET /gust/v1/functions/{name}/async`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AsyncInvocation {
    /// The request id returned with the 202 (and the function's `aws_request_id`).
    pub request_id: String,
    /// The qualifier the caller invoked, if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub qualifier: Option<String>,
    /// When gust accepted (durably stored) the event, ISO 8601 UTC.
    pub accepted_at: String,
    /// `queued`, `running`, `succeeded`, `failed` or `expired`.
    pub status: String,
    /// How many times the function was invoked with the event.
    pub attempts: u32,
    /// How many times it could not run for lack of capacity (these cost no attempt).
    pub throttles: u32,
    /// When the next attempt is due, while queued.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next_attempt_at: Option<String>,
    /// When it reached its final status.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub finished_at: Option<String>,
    /// The last attempt's error, e.g. `ValueError: boom`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_error: Option<String>,
    /// Where the invocation record went: a destination ARN, or
    /// `gust-undeliverable` when it could not be delivered.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub destination: Option<String>,
}

/// `GET /gust/v1/functions/{name}/async?limit=N`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AsyncInvocationsResponse {
    /// The function.
    pub function_name: String,
    /// Most recent first.
    pub invocations: Vec<AsyncInvocation>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_destinations_serialize_as_aws_does() {
        let cfg = FunctionEventInvokeConfig {
            last_modified: 1573686021.479,
            function_arn: "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST".into(),
            maximum_retry_attempts: Some(0),
            maximum_event_age_in_seconds: None,
            destination_config: DestinationConfig {
                on_success: Some(Destination::default()),
                on_failure: Some(Destination {
                    destination: Some("arn:aws:sqs:us-east-1:000000000000:dlq".into()),
                }),
            },
        };
        let v = serde_json::to_value(&cfg).unwrap();
        assert_eq!(v["LastModified"], 1573686021.479);
        assert_eq!(v["MaximumRetryAttempts"], 0);
        assert!(v.get("MaximumEventAgeInSeconds").is_none());
        assert_eq!(v["DestinationConfig"]["OnSuccess"], serde_json::json!({}));
        assert_eq!(
            v["DestinationConfig"]["OnFailure"]["Destination"],
            "arn:aws:sqs:us-east-1:000000000000:dlq"
        );
    }

    #[test]
    fn requests_refuse_unknown_fields() {
        let bad = serde_json::from_str::<EventInvokeConfigRequest>(r#"{"MaxRetries": 1}"#);
        assert!(bad.is_err());
        let ok: EventInvokeConfigRequest = serde_json::from_str(
            r#"{"MaximumRetryAttempts":1,"DestinationConfig":{"OnFailure":{}}}"#,
        )
        .unwrap();
        assert_eq!(ok.maximum_retry_attempts, Some(1));
        assert_eq!(
            ok.destination_config.unwrap().on_failure,
            Some(Destination::default())
        );
    }
}
