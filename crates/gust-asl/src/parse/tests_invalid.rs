//! Invalid definitions: each gives the expected code, location and message.

use serde_json::{json, Value};

use super::*;

/// The errors of a definition, as (code, location, message), sorted so a
/// test does not depend on the order states are visited in.
fn errors(definition: &str) -> Vec<(String, String, String)> {
    let (machine, diags) = validate(definition);
    let mut out: Vec<_> = diags
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| (d.code, d.location, d.message))
        .collect();
    assert_eq!(machine.is_none(), !out.is_empty(), "a machine comes back exactly when nothing is wrong");
    out.sort();
    out
}

/// The one error of a definition.
fn one(definition: Value) -> (String, String, String) {
    let mut all = errors(&definition.to_string());
    assert_eq!(all.len(), 1, "{all:#?}");
    all.remove(0)
}

fn e(code: &str, location: &str, message: &str) -> (String, String, String) {
    (code.into(), location.into(), message.into())
}

/// A one-state machine around `state`, named `X`.
fn single(state: Value) -> Value {
    json!({"StartAt": "X", "States": {"X": state}})
}

/// A Choice state `X` with `fields`, its `Default` going to a terminal `Y`.
fn choice(fields: Value) -> Value {
    let mut state = json!({"Type": "Choice", "Default": "Y"});
    state.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    json!({"StartAt": "X", "States": {"X": state, "Y": {"Type": "Succeed"}}})
}

const SCHEMA: &str = code::SCHEMA_VALIDATION_FAILED;
const TARGET: &str = code::MISSING_TRANSITION_TARGET;

#[test]
fn not_json_and_empty() {
    let (code, location, message) = errors("{\"StartAt\": ").remove(0);
    assert_eq!((code.as_str(), location.as_str()), (code::INVALID_JSON_DESCRIPTION, ""));
    assert!(message.contains("line 1"), "{message}");
    assert_eq!(errors("  ")[0].0, code::MISSING_DESCRIPTION);
    assert_eq!(errors("[1]"), [e(SCHEMA, "/", "Expected value of type [OBJECT]")]);
}

#[test]
fn repeated_state_names() {
    let text = r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true},"A":{"Type":"Succeed"}}}"#;
    assert_eq!(errors(text), [e(code::DUPLICATE_STATE_NAME, "/States/A", "Duplicate State name: A")]);
    let nested = json!({"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Next": "B",
              "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Succeed"}}}]},
        "B": {"Type": "Succeed"}}});
    let (code, _, message) = one(nested);
    assert_eq!((code.as_str(), message.as_str()), (code::DUPLICATE_STATE_NAME, "Duplicate State name: B"));
    let field = r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true,"End":true}}}"#;
    assert_eq!(errors(field), [e(code::INVALID_JSON_DESCRIPTION, "/States/A/End", "Duplicate field 'End'")]);
}

#[test]
fn unknown_and_missing_top_level_fields() {
    let def = json!({"Coment": "typo", "StartAt": "A", "States": {"A": {"Type": "Succeed"}}});
    assert_eq!(one(def), e(SCHEMA, "/", "Field 'Coment' is not supported"));
    let def = json!({"States": {"A": {"Type": "Succeed"}}});
    assert_eq!(one(def), e(SCHEMA, "/", "These fields are required: [StartAt]"));
    assert_eq!(one(json!({"StartAt": "A"})), e(SCHEMA, "/", "These fields are required: [States]"));
    let def = json!({"Version": "2.0", "StartAt": "A", "States": {"A": {"Type": "Succeed"}}});
    assert_eq!(one(def), e(SCHEMA, "/Version", "Value should be one of the following: [1.0]"));
}

#[test]
fn aws_message_for_a_missing_target_and_an_unreachable_state() {
    // The example from localstack#11978, with AWS's own answer.
    let text = json!({"StartAt": "pass1", "States": {
        "pass1": {"Type": "Pass", "Next": "pass3"},
        "pass2": {"Type": "Pass", "End": true}}})
    .to_string();
    let Err(diags) = parse(&text) else { panic!() };
    assert_eq!(
        invalid_definition_message(&diags),
        "Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: Missing 'Next' target: pass3 at /States/pass1/Next, \
         MISSING_TRANSITION_TARGET: State \"pass2\" is not reachable. at /States/pass2'"
    );
}

#[test]
fn missing_targets_wherever_they_are_written() {
    let def = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": true, "Next": "Ghost1"}], "Default": "Ghost2"},
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true,
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Ghost3"}]}}});
    let all = errors(&def.to_string());
    assert!(all.contains(&e(TARGET, "/States/C/Choices[0]/Next", "Missing 'Next' target: Ghost1")));
    assert!(all.contains(&e(TARGET, "/States/C/Default", "Missing 'Next' target: Ghost2")));
    assert!(all.contains(&e(TARGET, "/States/T/Catch[0]/Next", "Missing 'Next' target: Ghost3")));
    assert!(all.contains(&e(TARGET, "/States/T", "State \"T\" is not reachable.")));
}

#[test]
fn start_at_must_name_a_state_of_its_scope() {
    let def = json!({"StartAt": "Nope", "States": {"A": {"Type": "Pass", "End": true}}});
    assert_eq!(
        errors(&def.to_string()),
        [
            e(TARGET, "/StartAt", "Missing 'Next' target: Nope"),
            e(TARGET, "/States/A", "State \"A\" is not reachable."),
        ]
    );
}

#[test]
fn a_branch_cannot_jump_out() {
    let def = json!({"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Next": "Done",
              "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Pass", "Next": "Done"}}}]},
        "Done": {"Type": "Succeed"}}});
    let all = errors(&def.to_string());
    assert!(all.contains(&e(TARGET, "/States/P/Branches[0]/States/B/Next", "Missing 'Next' target: Done")), "{all:#?}");
}

#[test]
fn unreachable_inside_a_map() {
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
        "ItemProcessor": {"StartAt": "W", "States": {
            "W": {"Type": "Pass", "End": true}, "Ghost": {"Type": "Pass", "End": true}}}}}});
    assert_eq!(one(def), e(TARGET, "/States/M/ItemProcessor/States/Ghost", "State \"Ghost\" is not reachable."));
}

#[test]
fn no_terminal_state_is_reported_alone() {
    let text = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"},
        "Unused": {"Type": "Pass", "Next": "A"}}})
    .to_string();
    assert_eq!(errors(&text), [e(code::MISSING_END_STATE, "", "Workflow has no terminal state")]);
    let Err(diags) = parse(&text) else { panic!() };
    assert_eq!(
        invalid_definition_message(&diags),
        "Invalid State Machine Definition: 'MISSING_END_STATE: Workflow has no terminal state at null'"
    );
}

#[test]
fn state_names_are_at_most_80_characters() {
    let name = "N".repeat(81);
    let def = json!({"StartAt": name, "States": {name.clone(): {"Type": "Succeed"}}});
    let (code, location, message) = one(def);
    assert_eq!((code.as_str(), location), (code::INVALID_STATE_NAME, format!("/States/{name}")));
    assert!(message.contains("80-character limit"));
}

#[test]
fn required_fields_per_type() {
    assert_eq!(one(single(json!({"End": true}))), e(SCHEMA, "/States/X", "These fields are required: [Type]"));
    assert_eq!(
        one(single(json!({"Type": "Task", "End": true}))),
        e(SCHEMA, "/States/X", "These fields are required: [Resource]")
    );
    assert_eq!(one(choice(json!({}))).2, "These fields are required: [Choices]");
    assert_eq!(one(choice(json!({"Choices": []}))), e(SCHEMA, "/States/X/Choices", "Value cannot be empty"));
    assert_eq!(one(single(json!({"Type": "Parallel", "End": true}))).2, "These fields are required: [Branches]");
    let (_, location, message) = one(single(json!({"Type": "Sleep", "End": true})));
    assert_eq!(location, "/States/X/Type");
    assert!(message.starts_with("Value should be one of the following: [Choice, Fail, Map"));
}

#[test]
fn fields_a_type_does_not_accept() {
    let cases = [
        (json!({"Type": "Choice", "ResultPath": "$.x", "Choices": [{"Variable": "$.a", "IsNull": true, "Next": "X"}], "Default": "X"}), "ResultPath"),
        (json!({"Type": "Pass", "Retry": [{"ErrorEquals": ["States.ALL"]}], "End": true}), "Retry"),
        (json!({"Type": "Succeed", "Next": "X"}), "Next"),
        (json!({"Type": "Fail", "End": true}), "End"),
        (json!({"Type": "Wait", "Seconds": 1, "Parameters": {}, "End": true}), "Parameters"),
        (json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Result": 1, "End": true}), "Result"),
    ];
    for (state, field) in cases {
        let message = format!("Field '{field}' is not supported");
        assert!(errors(&single(state).to_string()).contains(&e(SCHEMA, "/States/X", &message)), "{field}");
    }
    // The message AWS gives for TimeoutSeconds on a Parallel.
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "TimeoutSeconds": 5, "End": true,
        "Branches": [{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 25, "End": true}}}]}}});
    let Err(diags) = parse(&def.to_string()) else { panic!() };
    assert_eq!(
        invalid_definition_message(&diags),
        "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: Field 'TimeoutSeconds' is not supported at /States/P'"
    );
}

#[test]
fn next_xor_end() {
    let both = single(json!({"Type": "Pass", "Next": "X", "End": true}));
    assert_eq!(one(both), e(SCHEMA, "/States/X", "There should only be one of the following fields: [Next, End]"));
    let def = json!({"StartAt": "X", "States": {"X": {"Type": "Pass", "Next": "Y"}, "Y": {"Type": "Pass"}}});
    let neither = e(SCHEMA, "/States/Y", "This object should have only one of the following fields: [Next, End]");
    assert!(errors(&def.to_string()).contains(&neither));
    let wrong_type = single(json!({"Type": "Pass", "End": "yes"}));
    assert!(errors(&wrong_type.to_string()).contains(&e(SCHEMA, "/States/X/End", "Expected value of type [BOOLEAN]")));
}

fn task_with(extra: Value) -> Value {
    let mut state = json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true});
    state.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    single(state)
}

#[test]
fn retry_fields_types_and_ranges() {
    let retry = |r: Value| one(task_with(json!({"Retry": [r]})));
    let at = |f: &str| format!("/States/X/Retry[0]/{f}");
    assert_eq!(retry(json!({"ErrorEquals": ["E"], "MaxAttempts": -1})), e(SCHEMA, &at("MaxAttempts"), "Minimum value is 0"));
    assert_eq!(retry(json!({"ErrorEquals": ["E"], "BackoffRate": 0.5})), e(SCHEMA, &at("BackoffRate"), "Minimum value is 1"));
    assert_eq!(retry(json!({"ErrorEquals": ["E"], "MaxDelaySeconds": 0})), e(SCHEMA, &at("MaxDelaySeconds"), "Minimum value is 1"));
    assert_eq!(
        retry(json!({"ErrorEquals": ["E"], "MaxDelaySeconds": 31_622_401})),
        e(SCHEMA, &at("MaxDelaySeconds"), "Maximum value is 31622400")
    );
    assert_eq!(
        retry(json!({"ErrorEquals": ["E"], "IntervalSeconds": 1.5})),
        e(SCHEMA, &at("IntervalSeconds"), "Expected value of type Integer")
    );
    assert_eq!(
        retry(json!({"ErrorEquals": ["E"], "JitterStrategy": "HALF"})),
        e(SCHEMA, &at("JitterStrategy"), "Value should be one of the following: [NONE, FULL]")
    );
    assert_eq!(retry(json!({"ErrorEquals": []})), e(SCHEMA, &at("ErrorEquals"), "Value cannot be empty"));
    assert_eq!(retry(json!({"MaxAttempts": 1})), e(SCHEMA, "/States/X/Retry[0]", "These fields are required: [ErrorEquals]"));
    assert_eq!(retry(json!({"ErrorEquals": ["E"], "Next": "X"})), e(SCHEMA, "/States/X/Retry[0]", "Field 'Next' is not supported"));
}

#[test]
fn states_all_alone_and_last() {
    let alone = "States.ALL must appear alone and at end of list";
    let with_others = task_with(json!({"Retry": [{"ErrorEquals": ["States.ALL", "E"]}]}));
    assert_eq!(one(with_others), e(SCHEMA, "/States/X/Retry[0]/ErrorEquals", alone));
    let not_last = task_with(json!({"Catch": [
        {"ErrorEquals": ["States.ALL"], "Next": "X"}, {"ErrorEquals": ["E"], "Next": "X"}]}));
    assert_eq!(one(not_last), e(SCHEMA, "/States/X/Catch[0]/ErrorEquals", alone));
}

#[test]
fn catchers_need_next_and_their_language() {
    let no_next = task_with(json!({"Catch": [{"ErrorEquals": ["States.ALL"]}]}));
    assert_eq!(one(no_next), e(SCHEMA, "/States/X/Catch[0]", "These fields are required: [Next]"));
    let output = task_with(json!({"Catch": [{"ErrorEquals": ["States.ALL"], "Next": "X", "Output": 1}]}));
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
    let (_, location, message) = one(task_with(json!({"TimeoutSeconds": 10, "HeartbeatSeconds": 10})));
    assert_eq!(location, "/States/X/HeartbeatSeconds");
    assert!(message.contains("smaller"));
    assert_eq!(one(task_with(json!({"TimeoutSeconds": 0}))), e(SCHEMA, "/States/X/TimeoutSeconds", "Minimum value is 1"));
}

#[test]
fn resources_gust_does_not_run() {
    let def = single(json!({"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": true}));
    let (code, location, message) = one(def);
    assert_eq!((code.as_str(), location.as_str()), (SCHEMA, "/States/X/Resource"));
    assert!(message.contains("arn:aws:states:::sqs:sendMessage is not recognized"), "{message}");
    assert!(message.contains("arn:aws:states:::aws-sdk:s3:ACTION"), "{message}");
    let def = single(json!({"Type": "Task", "Resource": "my-function", "End": true}));
    assert_eq!(one(def), e(SCHEMA, "/States/X/Resource", "Value is not a valid resource ARN"));
}

#[test]
fn wait_needs_exactly_one_field() {
    let list = "[SecondsPath, Seconds, TimestampPath, Timestamp]";
    let two = single(json!({"Type": "Wait", "Seconds": 1, "Timestamp": "2026-01-01T00:00:00Z", "End": true}));
    assert_eq!(one(two), e(SCHEMA, "/States/X", &format!("There should only be one of the following fields: {list}")));
    let none = single(json!({"Type": "Wait", "End": true}));
    assert_eq!(one(none).2, format!("This object should have only one of the following fields: {list}"));
    let bad = single(json!({"Type": "Wait", "Timestamp": "tomorrow", "End": true}));
    assert_eq!(one(bad), e(SCHEMA, "/States/X/Timestamp", "String does not match RFC3339 timestamp"));
    let negative = single(json!({"Type": "Wait", "Seconds": -5, "End": true}));
    assert_eq!(one(negative), e(SCHEMA, "/States/X/Seconds", "Minimum value is 0"));
}

#[test]
fn fail_error_and_error_path_exclude_each_other() {
    let def = single(json!({"Type": "Fail", "Error": "E", "ErrorPath": "$.e"}));
    assert_eq!(one(def), e(SCHEMA, "/States/X/Error", "There should only be one of the following fields: [Error, ErrorPath]"));
}

#[test]
fn map_processor_and_config() {
    let map = |extra: Value| {
        let mut state = json!({"Type": "Map", "End": true});
        state.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        one(single(state))
    };
    let processor = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}});
    assert_eq!(map(json!({})).2, "This object should have only one of the following fields: [ItemProcessor, Iterator]");
    let mut with_mode = processor.clone();
    with_mode["ProcessorConfig"] = json!({"Mode": "PARALLEL"});
    assert_eq!(
        map(json!({"ItemProcessor": with_mode})),
        e(SCHEMA, "/States/X/ItemProcessor/ProcessorConfig/Mode", "Value should be one of the following: [INLINE, DISTRIBUTED]")
    );
    let mut distributed = processor.clone();
    distributed["ProcessorConfig"] = json!({"Mode": "DISTRIBUTED"});
    assert_eq!(
        map(json!({"ItemProcessor": distributed})),
        e(SCHEMA, "/States/X/ItemProcessor/ProcessorConfig", "These fields are required: [ExecutionType]")
    );
    let (_, location, message) = map(json!({"ItemProcessor": processor, "ItemBatcher": {"MaxItemsPerBatch": 2}}));
    assert_eq!(location, "/States/X/ItemBatcher");
    assert!(message.contains("gust does not support"), "{message}");
    assert_eq!(
        map(json!({"ItemProcessor": processor, "MaxConcurrency": -1})),
        e(SCHEMA, "/States/X/MaxConcurrency", "Minimum value is 0")
    );
    assert_eq!(
        map(json!({"ItemProcessor": processor, "ToleratedFailurePercentage": 101})),
        e(SCHEMA, "/States/X/ToleratedFailurePercentage", "Maximum value is 100")
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
    assert_eq!(one(single(json!({"Type": "Pass", "Output": {}, "End": true}))), e(SCHEMA, "/States/X", ONLY_JSONATA));
}

#[test]
fn a_maps_language_does_not_reach_its_processor() {
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "QueryLanguage": "JSONata", "End": true,
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "Output": {"v": "{% 1 %}"}, "End": true}}}}}});
    assert_eq!(one(def), e(SCHEMA, "/States/M/ItemProcessor/States/P", ONLY_JSONATA));
}

#[test]
fn no_jsonpath_state_in_a_jsonata_machine() {
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "X",
        "States": {"X": {"Type": "Pass", "QueryLanguage": "JSONPath", "Output": 1, "End": true}}});
    assert_eq!(
        one(def),
        e(SCHEMA, "/States/X", "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine")
    );
}

#[test]
fn query_language_values_and_places() {
    let def = json!({"QueryLanguage": "jsonata", "StartAt": "X", "States": {"X": {"Type": "Pass", "Output": 1, "End": true}}});
    assert_eq!(one(def), e(SCHEMA, "/QueryLanguage", "Value should be one of the following: [JSONPath, JSONata]"));
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true,
        "Branches": [{"QueryLanguage": "JSONata", "StartAt": "B", "States": {"B": {"Type": "Succeed"}}}]}}});
    assert_eq!(one(def), e(SCHEMA, "/States/P/Branches[0]", "Field 'QueryLanguage' is not supported"));
}

#[test]
fn jsonpath_choice_rules_cannot_use_condition() {
    let def = choice(json!({"Choices": [{"Condition": "{% true %}", "Next": "Y"}]}));
    let (_, location, message) = one(def);
    assert_eq!(location, "/States/X/Choices[0]");
    assert!(message.contains("field 'Condition' is only supported for the 'JSONata'"), "{message}");
    let mut def = choice(json!({"Choices": [{"Next": "Y"}]}));
    def["QueryLanguage"] = json!("JSONata");
    assert_eq!(one(def), e(SCHEMA, "/States/X/Choices[0]", "These fields are required: [Condition]"));
}

#[test]
fn variable_names_in_assign() {
    let def = single(json!({"Type": "Pass", "Assign": {"states": 1}, "End": true}));
    assert_eq!(
        one(def),
        e(code::RESERVED_VARIABLE_NAME, "/States/X/Assign/states", "Cannot assign to reserved variable '$states'.")
    );
    let def = single(json!({"Type": "Pass", "Assign": {"my-var.$": "$.x"}, "End": true}));
    let (code, location, message) = one(def);
    assert_eq!((code.as_str(), location.as_str()), (code::INVALID_VARIABLE_NAME, "/States/X/Assign/my-var.$"));
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
    let bad_template = all(json!({"Type": "Pass", "Parameters": {"deep": {"a.$": "not a path"}}, "End": true}));
    assert_eq!(bad_template.len(), 1);
    assert_eq!((bad_template[0].0.as_str(), bad_template[0].1.as_str()), (SCHEMA, "/States/X/Parameters/deep/a.$"));
    let bad_input = all(json!({"Type": "Pass", "InputPath": "nope", "End": true}));
    assert_eq!(bad_input[0].1, "/States/X/InputPath");
    assert!(bad_input[0].2.starts_with("The value for the field 'InputPath' must be a valid JSONPath"), "{bad_input:?}");
    let bad_result = all(json!({"Type": "Pass", "ResultPath": "$.a[*]", "End": true}));
    assert_eq!(bad_result[0].1, "/States/X/ResultPath");
    assert!(bad_result[0].2.starts_with("The value for the field 'ResultPath' must be a valid ReferencePath"));
    let bad_error_path = all(json!({"Type": "Fail", "ErrorPath": "States.Format("}));
    assert_eq!(bad_error_path[0].1, "/States/X/ErrorPath");
    let rule = choice(json!({"Choices": [{"Variable": "$.x", "Next": "Y"}]}));
    let bad_rule = errors(&rule.to_string());
    assert_eq!(bad_rule.len(), 1, "{bad_rule:?}");
    assert!(bad_rule[0].1.starts_with("/States/X/Choices[0]"), "{bad_rule:?}");
    assert!(all(json!({"Type": "Pass", "InputPath": null, "ResultPath": null, "End": true})).is_empty());
}
