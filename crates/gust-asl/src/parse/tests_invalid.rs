//! Invalid definitions: each gives the expected code, location and message.

use serde_json::{json, Value};

use super::*;

/// The errors of a definition, as (code, location, message), sorted so a
/// test does not depend on the order states are visited in.
pub(super) fn errors(definition: &str) -> Vec<(String, String, String)> {
    let (machine, diags) = validate(definition);
    let mut out: Vec<_> = diags
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| (d.code, d.location, d.message))
        .collect();
    assert_eq!(
        machine.is_none(),
        !out.is_empty(),
        "a machine comes back exactly when nothing is wrong"
    );
    out.sort();
    out
}

/// The one error of a definition.
pub(super) fn one(definition: Value) -> (String, String, String) {
    let mut all = errors(&definition.to_string());
    assert_eq!(all.len(), 1, "{all:#?}");
    all.remove(0)
}

pub(super) fn e(code: &str, location: &str, message: &str) -> (String, String, String) {
    (code.into(), location.into(), message.into())
}

/// A one-state machine around `state`, named `X`.
pub(super) fn single(state: Value) -> Value {
    json!({"StartAt": "X", "States": {"X": state}})
}

/// A Choice state `X` with `fields`, its `Default` going to a terminal `Y`.
pub(super) fn choice(fields: Value) -> Value {
    let mut state = json!({"Type": "Choice", "Default": "Y"});
    state
        .as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    json!({"StartAt": "X", "States": {"X": state, "Y": {"Type": "Succeed"}}})
}

pub(super) const SCHEMA: &str = code::SCHEMA_VALIDATION_FAILED;
pub(super) const TARGET: &str = code::MISSING_TRANSITION_TARGET;

#[test]
fn not_json_and_empty() {
    let (code, location, message) = errors("{\"StartAt\": ").remove(0);
    assert_eq!(
        (code.as_str(), location.as_str()),
        (code::INVALID_JSON_DESCRIPTION, "")
    );
    assert!(message.contains("line 1"), "{message}");
    assert_eq!(errors("  ")[0].0, code::MISSING_DESCRIPTION);
    assert_eq!(
        errors("[1]"),
        [e(SCHEMA, "/", "Expected value of type [OBJECT]")]
    );
}

#[test]
fn repeated_state_names() {
    let text =
        r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true},"A":{"Type":"Succeed"}}}"#;
    assert_eq!(
        errors(text),
        [e(
            code::DUPLICATE_STATE_NAME,
            "/States/A",
            "Duplicate State name: A"
        )]
    );
    let nested = json!({"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Next": "B",
              "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Succeed"}}}]},
        "B": {"Type": "Succeed"}}});
    let (code, _, message) = one(nested);
    assert_eq!(
        (code.as_str(), message.as_str()),
        (code::DUPLICATE_STATE_NAME, "Duplicate State name: B")
    );
    let field = r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true,"End":true}}}"#;
    assert_eq!(
        errors(field),
        [e(
            code::INVALID_JSON_DESCRIPTION,
            "/States/A/End",
            "Duplicate field 'End'"
        )]
    );
}

#[test]
fn unknown_and_missing_top_level_fields() {
    let def = json!({"Coment": "typo", "StartAt": "A", "States": {"A": {"Type": "Succeed"}}});
    assert_eq!(one(def), e(SCHEMA, "/", "Field 'Coment' is not supported"));
    let def = json!({"States": {"A": {"Type": "Succeed"}}});
    assert_eq!(
        one(def),
        e(SCHEMA, "/", "These fields are required: [StartAt]")
    );
    assert_eq!(
        one(json!({"StartAt": "A"})),
        e(SCHEMA, "/", "These fields are required: [States]")
    );
    let def = json!({"Version": "2.0", "StartAt": "A", "States": {"A": {"Type": "Succeed"}}});
    assert_eq!(
        one(def),
        e(
            SCHEMA,
            "/Version",
            "Value should be one of the following: [1.0]"
        )
    );
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
    assert!(all.contains(&e(
        TARGET,
        "/States/C/Choices[0]/Next",
        "Missing 'Next' target: Ghost1"
    )));
    assert!(all.contains(&e(
        TARGET,
        "/States/C/Default",
        "Missing 'Next' target: Ghost2"
    )));
    assert!(all.contains(&e(
        TARGET,
        "/States/T/Catch[0]/Next",
        "Missing 'Next' target: Ghost3"
    )));
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
    assert!(
        all.contains(&e(
            TARGET,
            "/States/P/Branches[0]/States/B/Next",
            "Missing 'Next' target: Done"
        )),
        "{all:#?}"
    );
}

#[test]
fn unreachable_inside_a_map() {
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
        "ItemProcessor": {"StartAt": "W", "States": {
            "W": {"Type": "Pass", "End": true}, "Ghost": {"Type": "Pass", "End": true}}}}}});
    assert_eq!(
        one(def),
        e(
            TARGET,
            "/States/M/ItemProcessor/States/Ghost",
            "State \"Ghost\" is not reachable."
        )
    );
}

#[test]
fn no_terminal_state_is_reported_alone() {
    let text = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"},
        "Unused": {"Type": "Pass", "Next": "A"}}})
    .to_string();
    assert_eq!(
        errors(&text),
        [e(
            code::MISSING_END_STATE,
            "",
            "Workflow has no terminal state"
        )]
    );
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
    assert_eq!(
        (code.as_str(), location),
        (code::INVALID_STATE_NAME, format!("/States/{name}"))
    );
    assert!(message.contains("80-character limit"));
}

#[test]
fn required_fields_per_type() {
    assert_eq!(
        one(single(json!({"End": true}))),
        e(SCHEMA, "/States/X", "These fields are required: [Type]")
    );
    assert_eq!(
        one(single(json!({"Type": "Task", "End": true}))),
        e(SCHEMA, "/States/X", "These fields are required: [Resource]")
    );
    assert_eq!(
        one(choice(json!({}))).2,
        "These fields are required: [Choices]"
    );
    assert_eq!(
        one(choice(json!({"Choices": []}))),
        e(SCHEMA, "/States/X/Choices", "Value cannot be empty")
    );
    assert_eq!(
        one(single(json!({"Type": "Parallel", "End": true}))).2,
        "These fields are required: [Branches]"
    );
    let (_, location, message) = one(single(json!({"Type": "Sleep", "End": true})));
    assert_eq!(location, "/States/X/Type");
    assert!(message.starts_with("Value should be one of the following: [Choice, Fail, Map"));
}

#[test]
fn fields_a_type_does_not_accept() {
    let cases = [
        (
            json!({"Type": "Choice", "ResultPath": "$.x", "Choices": [{"Variable": "$.a", "IsNull": true, "Next": "X"}], "Default": "X"}),
            "ResultPath",
        ),
        (
            json!({"Type": "Pass", "Retry": [{"ErrorEquals": ["States.ALL"]}], "End": true}),
            "Retry",
        ),
        (json!({"Type": "Succeed", "Next": "X"}), "Next"),
        (json!({"Type": "Fail", "End": true}), "End"),
        (
            json!({"Type": "Wait", "Seconds": 1, "Parameters": {}, "End": true}),
            "Parameters",
        ),
        (
            json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Result": 1, "End": true}),
            "Result",
        ),
    ];
    for (state, field) in cases {
        let message = format!("Field '{field}' is not supported");
        assert!(
            errors(&single(state).to_string()).contains(&e(SCHEMA, "/States/X", &message)),
            "{field}"
        );
    }
    // The message AWS gives for TimeoutSeconds on a Parallel.
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "TimeoutSeconds": 5, "End": true,
        "Branches": [{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 25, "End": true}}}]}}});
    let Err(diags) = parse(&def.to_string()) else {
        panic!()
    };
    assert_eq!(
        invalid_definition_message(&diags),
        "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: Field 'TimeoutSeconds' is not supported at /States/P'"
    );
}

#[test]
fn next_xor_end() {
    let both = single(json!({"Type": "Pass", "Next": "X", "End": true}));
    assert_eq!(
        one(both),
        e(
            SCHEMA,
            "/States/X",
            "There should only be one of the following fields: [Next, End]"
        )
    );
    let def = json!({"StartAt": "X", "States": {"X": {"Type": "Pass", "Next": "Y"}, "Y": {"Type": "Pass"}}});
    let neither = e(
        SCHEMA,
        "/States/Y",
        "This object should have only one of the following fields: [Next, End]",
    );
    assert!(errors(&def.to_string()).contains(&neither));
    let wrong_type = single(json!({"Type": "Pass", "End": "yes"}));
    assert!(errors(&wrong_type.to_string()).contains(&e(
        SCHEMA,
        "/States/X/End",
        "Expected value of type [BOOLEAN]"
    )));
}
