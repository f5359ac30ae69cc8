//! What gust sends to destinations and dead-letter queues, in AWS's formats.
//!
//! - Destinations get an **invocation record** ([`invocation_record`]):
//!   `version`, `timestamp`, `requestContext` (`requestId`, `functionArn`,
//!   `condition`, `approximateInvokeCount`), `requestPayload`, and when the function
//!   ran, `responseContext` (`statusCode`, `executedVersion`, `functionError`) and
//!   `responsePayload`.
//! - A dead-letter queue gets the **original event** as the message body, with the
//!   message attributes Lambda sets on SQS dead letters ([`dead_letter_attributes`]):
//!   `RequestID`, `ErrorCode` and `ErrorMessage` (its first KB).

use std::collections::BTreeMap;

use gust_store::events::StoredEvent;
use gust_types::{name, Region};
use gust_wire::events::{
    InvocationRecord, MessageAttribute, RecordRequestContext, RecordResponseContext,
};
use serde_json::Value;

use crate::clock::iso8601;

/// Most bytes of an error message a dead letter's `ErrorMessage` attribute carries.
pub const DEAD_LETTER_MESSAGE_MAX: usize = 1024;
/// Most characters of an error shown in listings.
const SUMMARY_MAX: usize = 300;

/// Why a record was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// The function processed the event.
    Success,
    /// Every allowed attempt failed.
    RetriesExhausted,
    /// The event got older than the maximum event age.
    EventAgeExceeded,
}

impl Condition {
    /// AWS's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Success => "Success",
            Condition::RetriesExhausted => "RetriesExhausted",
            Condition::EventAgeExceeded => "EventAgeExceeded",
        }
    }
}

/// What the last attempt returned.
#[derive(Debug, Clone, Copy)]
pub struct LastResponse<'a> {
    /// The function's result, or its error object.
    pub payload: &'a [u8],
    /// The version that ran.
    pub executed_version: &'a str,
    /// `Unhandled` when the function failed.
    pub function_error: Option<&'a str>,
}

/// JSON if it parses, else the text as a JSON string.
fn json_or_text(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// The qualified ARN an event's records name (`...:function:NAME:$LATEST`).
pub fn event_function_arn(region: &Region, event: &StoredEvent) -> String {
    name::qualified_arn(
        region,
        &event.function,
        event.qualifier.as_deref().unwrap_or("$LATEST"),
    )
}

/// The invocation record of `event`.
pub fn invocation_record(
    region: &Region,
    event: &StoredEvent,
    condition: Condition,
    invoke_count: u32,
    response: Option<LastResponse<'_>>,
    now_ms: i64,
) -> InvocationRecord {
    InvocationRecord {
        version: "1.0".into(),
        timestamp: iso8601(now_ms),
        request_context: RecordRequestContext {
            request_id: event.request_id.clone(),
            function_arn: event_function_arn(region, event),
            condition: condition.as_str().into(),
            approximate_invoke_count: invoke_count,
        },
        request_payload: json_or_text(&event.payload),
        response_context: response.map(|r| RecordResponseContext {
            status_code: 200,
            executed_version: r.executed_version.to_string(),
            function_error: r.function_error.map(str::to_string),
        }),
        response_payload: response.map(|r| json_or_text(r.payload)),
    }
}

fn attribute(value: impl Into<String>, data_type: &str) -> MessageAttribute {
    MessageAttribute {
        string_value: value.into(),
        data_type: data_type.into(),
    }
}

/// The attributes of a dead letter, as Lambda sets them on SQS messages.
pub fn dead_letter_attributes(
    request_id: &str,
    error_code: u16,
    error_message: &str,
) -> BTreeMap<String, MessageAttribute> {
    BTreeMap::from([
        ("RequestID".to_string(), attribute(request_id, "String")),
        (
            "ErrorCode".to_string(),
            attribute(error_code.to_string(), "Number"),
        ),
        (
            "ErrorMessage".to_string(),
            attribute(truncate(error_message, DEAD_LETTER_MESSAGE_MAX), "String"),
        ),
    ])
}

/// The `errorMessage` of a function error object, else the payload as text.
pub fn error_message(payload: &[u8]) -> String {
    match serde_json::from_slice::<Value>(payload) {
        Ok(v) => match v.get("errorMessage").and_then(Value::as_str) {
            Some(m) => m.to_string(),
            None => v.to_string(),
        },
        Err(_) => String::from_utf8_lossy(payload).into_owned(),
    }
}

/// `errorType: errorMessage` of a function error object, shortened for listings.
pub fn error_summary(payload: &[u8]) -> String {
    let parsed = serde_json::from_slice::<Value>(payload).ok();
    let kind = parsed
        .as_ref()
        .and_then(|v| v.get("errorType"))
        .and_then(Value::as_str);
    let message = error_message(payload);
    let text = match kind {
        Some(k) if !message.is_empty() => format!("{k}: {message}"),
        Some(k) => k.to_string(),
        None => message,
    };
    shorten(&text, SUMMARY_MAX)
}

/// At most `max` bytes of `s`, cut at a character boundary.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// At most `max` characters of `s`, with an ellipsis when cut.
pub fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use gust_store::events::EventStatus;
    use serde_json::json;

    use super::*;

    fn event() -> StoredEvent {
        StoredEvent {
            id: 7,
            request_id: "e4b46cbf-b738-xmpl-8880-a18cdf61200e".into(),
            function: "my-function".into(),
            qualifier: None,
            payload: br#"{"ORDER_IDS":["9e07af03-ce31-4ff3-xmpl-36dce652cb4f"]}"#.to_vec(),
            accepted_ms: 0,
            due_ms: 0,
            status: EventStatus::Running,
            attempts: 3,
            throttles: 0,
            last_error: None,
            last_response: None,
            executed_version: None,
            trace: None,
        }
    }

    #[test]
    fn a_failure_record_has_aws_fields() {
        let payload =
            br#"{"errorMessage":"RequestId: e4b4 Process exited before completing request"}"#;
        let record = invocation_record(
            &Region("us-east-2".into()),
            &event(),
            Condition::RetriesExhausted,
            3,
            Some(LastResponse {
                payload,
                executed_version: "$LATEST",
                function_error: Some("Unhandled"),
            }),
            1_573_755_365_568,
        );
        let v = serde_json::to_value(&record).unwrap();
        assert_eq!(
            v,
            json!({
                "version": "1.0",
                "timestamp": "2019-11-14T18:16:05.568Z",
                "requestContext": {
                    "requestId": "e4b46cbf-b738-xmpl-8880-a18cdf61200e",
                    "functionArn": "arn:aws:lambda:us-east-2:000000000000:function:my-function:$LATEST",
                    "condition": "RetriesExhausted",
                    "approximateInvokeCount": 3
                },
                "requestPayload": {"ORDER_IDS": ["9e07af03-ce31-4ff3-xmpl-36dce652cb4f"]},
                "responseContext": {
                    "statusCode": 200,
                    "executedVersion": "$LATEST",
                    "functionError": "Unhandled"
                },
                "responsePayload": {
                    "errorMessage": "RequestId: e4b4 Process exited before completing request"
                }
            })
        );
    }

    #[test]
    fn a_success_record_has_no_function_error_and_keeps_text_results() {
        let mut ev = event();
        ev.qualifier = Some("prod".into());
        let record = invocation_record(
            &Region::default(),
            &ev,
            Condition::Success,
            1,
            Some(LastResponse {
                payload: b"not json",
                executed_version: "3",
                function_error: None,
            }),
            0,
        );
        let v = serde_json::to_value(&record).unwrap();
        assert_eq!(v["requestContext"]["condition"], "Success");
        assert!(v["requestContext"]["functionArn"]
            .as_str()
            .unwrap()
            .ends_with(":function:my-function:prod"));
        assert_eq!(
            v["responseContext"],
            json!({"statusCode": 200, "executedVersion": "3"})
        );
        assert_eq!(v["responsePayload"], "not json");
    }

    #[test]
    fn an_expired_event_that_never_ran_has_no_response() {
        let record = invocation_record(
            &Region::default(),
            &event(),
            Condition::EventAgeExceeded,
            0,
            None,
            0,
        );
        let v = serde_json::to_value(&record).unwrap();
        assert_eq!(v["requestContext"]["condition"], "EventAgeExceeded");
        assert_eq!(v["requestContext"]["approximateInvokeCount"], 0);
        assert!(v.get("responseContext").is_none());
        assert!(v.get("responsePayload").is_none());
    }

    #[test]
    fn dead_letters_carry_request_id_code_and_first_kb_of_the_message() {
        let long = "é".repeat(1000);
        let attrs = dead_letter_attributes("r-1", 200, &long);
        assert_eq!(attrs["RequestID"].string_value, "r-1");
        assert_eq!(attrs["ErrorCode"].string_value, "200");
        assert_eq!(attrs["ErrorCode"].data_type, "Number");
        let msg = &attrs["ErrorMessage"].string_value;
        assert!(msg.len() <= DEAD_LETTER_MESSAGE_MAX && msg.len() >= DEAD_LETTER_MESSAGE_MAX - 1);
        let json = serde_json::to_value(&attrs).unwrap();
        assert_eq!(
            json["RequestID"],
            json!({"stringValue": "r-1", "dataType": "String"})
        );
    }

    #[test]
    fn error_summaries_read_error_objects() {
        assert_eq!(
            error_summary(br#"{"errorType":"ValueError","errorMessage":"boom"}"#),
            "ValueError: boom"
        );
        assert_eq!(error_message(br#"{"errorMessage":"boom"}"#), "boom");
        assert_eq!(error_summary(b"plain"), "plain");
        assert_eq!(shorten("abcdef", 3), "abc…");
    }
}
