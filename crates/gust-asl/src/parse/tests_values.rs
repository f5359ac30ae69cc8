//! Invalid values: Retry and Catch, timeouts, resources, Wait, Fail, Map,
//! the query languages, variables and expressions.

use serde_json::{json, Value};

use super::tests_invalid::{choice, e, errors, one, single, SCHEMA, TARGET};
use super::*;

fn task_with(extra: Value) -> Value {
    let mut state =
        json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true});
    state
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    single(state)
}

#[test]
fn retry_fields_types_and_ranges() {
    let retry = |r: Value| one(task_with(json!({"Retry": [r]})));
    let at = |f: &str| format!("/States/X/Retry[0]/{f}");
    assert_eq!(
        retry(json!({"ErrorEquals": ["E"], "MaxAttempts": -1})),
        e(SCHEMA, &at("MaxAttempts"), "Minimum value is 0")
    );
    assert_eq!(
        retry(json!({"ErrorEquals": ["E"], "BackoffRate": 0.5})),
        e(SCHEMA, &at("BackoffRate"), "Minimum value is 1")
    );
    assert_eq!(
        retry(json!({"ErrorEquals": ["E"], "MaxDelaySeconds": 0})),
        e(SCHEMA, &at("MaxDelaySeconds"), "Minimum value is 1")
    );
    assert_eq!(
        retry(json!({"ErrorEquals": ["E"], "MaxDelaySeconds": 31_622_401})),
        e(SCHEMA, &at("MaxDelaySeconds"), "Maximum value is 31622400")
    );
    assert_eq!(
        retry(json!({"ErrorEquals": ["E"], "IntervalSeconds": 1.5})),
        e(
            SCHEMA,
            &at("IntervalSeconds"),
            "Expected value of type Integer"
        )
    );
    assert_eq!(
        retry(json!({"ErrorEquals": ["E"], "JitterStrategy": "HALF"})),
        e(
            SCHEMA,
            &at("JitterStrategy"),
            "Value should be one of the following: [NONE, FULL]"
        )
    );
    assert_eq!(
        retry(json!({"ErrorEquals": []})),
        e(SCHEMA, &at("ErrorEquals"), "Value cannot be empty")
    );
    assert_eq!(
        retry(json!({"MaxAttempts": 1})),
        e(
            SCHEMA,
            "/States/X/Retry[0]",
            "These fields are required: [ErrorEquals]"
        )
    );
    assert_eq!(
        retry(json!({"ErrorEquals": ["E"], "Next": "X"})),
        e(
            SCHEMA,
            "/States/X/Retry[0]",
            "Field 'Next' is not supported"
        )
    );
}

#[test]
fn states_all_alone_and_last() {
    let alone = "States.ALL must appear alone and at end of list";
    let with_others = task_with(json!({"Retry": [{"ErrorEquals": ["States.ALL", "E"]}]}));
    assert_eq!(
        one(with_others),
        e(SCHEMA, "/States/X/Retry[0]/ErrorEquals", alone)
    );
    let not_last = task_with(json!({"Catch": [
        {"ErrorEquals": ["States.ALL"], "Next": "X"}, {"ErrorEquals": ["E"], "Next": "X"}]}));
    assert_eq!(
        one(not_last),
        e(SCHEMA, "/States/X/Catch[0]/ErrorEquals", alone)
    );
}

#[test]
fn catchers_need_next_and_their_language() {
    let no_next = task_with(json!({"Catch": [{"ErrorEquals": ["States.ALL"]}]}));
    assert_eq!(
        one(no_next),
        e(
            SCHEMA,
            "/States/X/Catch[0]",
            "These fields are required: [Next]"
        )
    );
    let output =
        task_with(json!({"Catch": [{"ErrorEquals": ["States.ALL"], "Next": "X", "Output": 1}]}));
    assert_eq!(
        one(output).2,
        "The QueryLanguage is set to 'JSONPath', but field 'Output' is only supported for the 'JSONata' QueryLanguage"
    );
}

#[test]
fn timeouts_and_heartbeats() {
    let both = task_with(json!({"TimeoutSeconds": 5, "TimeoutSecondsPath": "$.t"}));
    assert_eq!(
        one(both),
        e(SCHEMA, "/States/X/TimeoutSeconds", "There should only be one of the following fields: [TimeoutSeconds, TimeoutSecondsPath]")
    );
    let (_, location, message) = one(task_with(
        json!({"TimeoutSeconds": 10, "HeartbeatSeconds": 10}),
    ));
    assert_eq!(location, "/States/X/HeartbeatSeconds");
    assert!(message.contains("smaller"));
    assert_eq!(
        one(task_with(json!({"TimeoutSeconds": 0}))),
        e(SCHEMA, "/States/X/TimeoutSeconds", "Minimum value is 1")
    );
}

#[test]
fn resources_gust_does_not_run() {
    let def = single(
        json!({"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": true}),
    );
    let (code, location, message) = one(def);
    assert_eq!(
        (code.as_str(), location.as_str()),
        (SCHEMA, "/States/X/Resource")
    );
    assert!(
        message.contains("arn:aws:states:::sqs:sendMessage is not recognized"),
        "{message}"
    );
    assert!(
        message.contains("arn:aws:states:::aws-sdk:s3:ACTION"),
        "{message}"
    );
    let def = single(json!({"Type": "Task", "Resource": "my-function", "End": true}));
    assert_eq!(
        one(def),
        e(
            SCHEMA,
            "/States/X/Resource",
            "Value is not a valid resource ARN"
        )
    );
}

#[test]
fn wait_needs_exactly_one_field() {
    let list = "[SecondsPath, Seconds, TimestampPath, Timestamp]";
    let two = single(
        json!({"Type": "Wait", "Seconds": 1, "Timestamp": "2026-01-01T00:00:00Z", "End": true}),
    );
    assert_eq!(
        one(two),
        e(
            SCHEMA,
            "/States/X",
            &format!("There should only be one of the following fields: {list}")
        )
    );
    let none = single(json!({"Type": "Wait", "End": true}));
    assert_eq!(
        one(none).2,
        format!("This object should have only one of the following fields: {list}")
    );
    let bad = single(json!({"Type": "Wait", "Timestamp": "tomorrow", "End": true}));
    assert_eq!(
        one(bad),
        e(
            SCHEMA,
            "/States/X/Timestamp",
            "String does not match RFC3339 timestamp"
        )
    );
    let negative = single(json!({"Type": "Wait", "Seconds": -5, "End": true}));
    assert_eq!(
        one(negative),
        e(SCHEMA, "/States/X/Seconds", "Minimum value is 0")
    );
}

#[test]
fn fail_error_and_error_path_exclude_each_other() {
    let def = single(json!({"Type": "Fail", "Error": "E", "ErrorPath": "$.e"}));
    assert_eq!(
        one(def),
        e(
            SCHEMA,
            "/States/X/Error",
            "There should only be one of the following fields: [Error, ErrorPath]"
        )
    );
}

#[test]
fn map_processor_and_config() {
    let map = |extra: Value| {
        let mut state = json!({"Type": "Map", "End": true});
        state
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        one(single(state))
    };
    let processor = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}});
    assert_eq!(
        map(json!({})).2,
        "This object should have only one of the following fields: [ItemProcessor, Iterator]"
    );
    let mut with_mode = processor.clone();
    with_mode["ProcessorConfig"] = json!({"Mode": "PARALLEL"});
    assert_eq!(
        map(json!({"ItemProcessor": with_mode})),
        e(
            SCHEMA,
            "/States/X/ItemProcessor/ProcessorConfig/Mode",
            "Value should be one of the following: [INLINE, DISTRIBUTED]"
        )
    );
    let mut distributed = processor.clone();
    distributed["ProcessorConfig"] = json!({"Mode": "DISTRIBUTED"});
    assert_eq!(
        map(json!({"ItemProcessor": distributed})),
        e(
            SCHEMA,
            "/States/X/ItemProcessor/ProcessorConfig",
            "These fields are required: [ExecutionType]"
        )
    );
    let (_, location, message) =
        map(json!({"ItemProcessor": processor, "ItemBatcher": {"MaxItemsPerBatch": 2}}));
    assert_eq!(location, "/States/X/ItemBatcher");
    assert!(message.contains("gust does not support"), "{message}");
    assert_eq!(
        map(json!({"ItemProcessor": processor, "MaxConcurrency": -1})),
        e(SCHEMA, "/States/X/MaxConcurrency", "Minimum value is 0")
    );
    assert_eq!(
        map(json!({"ItemProcessor": processor, "ToleratedFailurePercentage": 101})),
        e(
            SCHEMA,
            "/States/X/ToleratedFailurePercentage",
            "Maximum value is 100"
        )
    );
}

const ONLY_JSONATA: &str = "The QueryLanguage is set to 'JSONPath', but field 'Output' is only supported for the 'JSONata' QueryLanguage";

#[test]
fn fields_of_the_other_language() {
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "X", "States": {"X": {"Type": "Pass", "InputPath": "$.a", "End": true}}});
    assert_eq!(
        one(def),
        e(
            SCHEMA,
            "/States/X",
            "The QueryLanguage is set to 'JSONata', but field 'InputPath' is only supported for the 'JSONPath' QueryLanguage"
        )
    );
    assert_eq!(
        one(single(json!({"Type": "Pass", "Output": {}, "End": true}))),
        e(SCHEMA, "/States/X", ONLY_JSONATA)
    );
}

#[test]
fn a_maps_language_does_not_reach_its_processor() {
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "QueryLanguage": "JSONata", "End": true,
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "Output": {"v": "{% 1 %}"}, "End": true}}}}}});
    assert_eq!(
        one(def),
        e(SCHEMA, "/States/M/ItemProcessor/States/P", ONLY_JSONATA)
    );
}

#[test]
fn no_jsonpath_state_in_a_jsonata_machine() {
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "X",
        "States": {"X": {"Type": "Pass", "QueryLanguage": "JSONPath", "Output": 1, "End": true}}});
    assert_eq!(
        one(def),
        e(
            SCHEMA,
            "/States/X",
            "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine"
        )
    );
}

#[test]
fn query_language_values_and_places() {
    let def = json!({"QueryLanguage": "jsonata", "StartAt": "X", "States": {"X": {"Type": "Pass", "Output": 1, "End": true}}});
    assert_eq!(
        one(def),
        e(
            SCHEMA,
            "/QueryLanguage",
            "Value should be one of the following: [JSONPath, JSONata]"
        )
    );
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true,
        "Branches": [{"QueryLanguage": "JSONata", "StartAt": "B", "States": {"B": {"Type": "Succeed"}}}]}}});
    assert_eq!(
        one(def),
        e(
            SCHEMA,
            "/States/P/Branches[0]",
            "Field 'QueryLanguage' is not supported"
        )
    );
}

#[test]
fn jsonpath_choice_rules_cannot_use_condition() {
    let def = choice(json!({"Choices": [{"Condition": "{% true %}", "Next": "Y"}]}));
    let (_, location, message) = one(def);
    assert_eq!(location, "/States/X/Choices[0]");
    assert!(
        message.contains("field 'Condition' is only supported for the 'JSONata'"),
        "{message}"
    );
    let mut def = choice(json!({"Choices": [{"Next": "Y"}]}));
    def["QueryLanguage"] = json!("JSONata");
    assert_eq!(
        one(def),
        e(
            SCHEMA,
            "/States/X/Choices[0]",
            "These fields are required: [Condition]"
        )
    );
}

#[test]
fn variable_names_in_assign() {
    let def = single(json!({"Type": "Pass", "Assign": {"states": 1}, "End": true}));
    assert_eq!(
        one(def),
        e(
            code::RESERVED_VARIABLE_NAME,
            "/States/X/Assign/states",
            "Cannot assign to reserved variable '$states'."
        )
    );
    let def = single(json!({"Type": "Pass", "Assign": {"my-var.$": "$.x"}, "End": true}));
    let (code, location, message) = one(def);
    assert_eq!(
        (code.as_str(), location.as_str()),
        (code::INVALID_VARIABLE_NAME, "/States/X/Assign/my-var.$")
    );
    assert!(message.contains("'my-var'"), "{message}");
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Task", "Next": "Ghost", "Retry": [{"ErrorEquals": ["E"], "MaxAttempts": -1}]},
        "B": {"Type": "Wait", "End": true}}});
    let all = errors(&def.to_string());
    let codes: Vec<&str> = all.iter().map(|(c, _, _)| c.as_str()).collect();
    assert_eq!(all.len(), 5, "{all:#?}");
    assert_eq!(codes.iter().filter(|c| **c == TARGET).count(), 2);
}

#[test]
fn expressions_are_checked_where_they_are_written() {
    let all = |state: Value| errors(&single(state).to_string());
    let bad_template =
        all(json!({"Type": "Pass", "Parameters": {"deep": {"a.$": "not a path"}}, "End": true}));
    assert_eq!(bad_template.len(), 1);
    assert_eq!(
        (bad_template[0].0.as_str(), bad_template[0].1.as_str()),
        (SCHEMA, "/States/X/Parameters/deep/a.$")
    );
    let bad_input = all(json!({"Type": "Pass", "InputPath": "nope", "End": true}));
    assert_eq!(bad_input[0].1, "/States/X/InputPath");
    assert!(
        bad_input[0]
            .2
            .starts_with("The value for the field 'InputPath' must be a valid JSONPath"),
        "{bad_input:?}"
    );
    let bad_result = all(json!({"Type": "Pass", "ResultPath": "$.a[*]", "End": true}));
    assert_eq!(bad_result[0].1, "/States/X/ResultPath");
    assert!(bad_result[0]
        .2
        .starts_with("The value for the field 'ResultPath' must be a valid ReferencePath"));
    let bad_error_path = all(json!({"Type": "Fail", "ErrorPath": "States.Format("}));
    assert_eq!(bad_error_path[0].1, "/States/X/ErrorPath");
    let rule = choice(json!({"Choices": [{"Variable": "$.x", "Next": "Y"}]}));
    let bad_rule = errors(&rule.to_string());
    assert_eq!(bad_rule.len(), 1, "{bad_rule:?}");
    assert!(
        bad_rule[0].1.starts_with("/States/X/Choices[0]"),
        "{bad_rule:?}"
    );
    assert!(
        all(json!({"Type": "Pass", "InputPath": null, "ResultPath": null, "End": true})).is_empty()
    );
}

#[test]
fn jsonata_expressions_must_parse_where_they_are() {
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "X", "States": {"X": {"Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke", "Arguments": {"Payload": ["{% 1 + %}"]},
        "Output": "{% $states.result %}", "End": true}}});
    let (code, location, _) = one(def);
    assert_eq!(
        (code.as_str(), location.as_str()),
        (
            code::INVALID_JSONATA_EXPRESSION,
            "/States/X/Arguments/Payload[0]"
        )
    );
    // In a JSONPath state the same string is only text.
    let def = single(json!({"Type": "Pass", "Parameters": {"p": "{% 1 + %}"}, "End": true}));
    assert!(errors(&def.to_string()).is_empty());
}
