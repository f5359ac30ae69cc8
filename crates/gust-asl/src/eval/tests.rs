//! The public API as the engine uses it.

use serde_json::{json, Map, Value};

use super::*;

#[test]
fn a_task_state_in_jsonpath_mode_end_to_end() {
    // InputPath → Parameters → (task) → ResultSelector → ResultPath → OutputPath.
    let input = json!({"order": {"id": "o-1", "items": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 0}]}, "keep": true});
    let context = json!({"Execution": {"Id": "arn:exec:1"}});
    let vars = Map::from_iter([("region".to_string(), json!("eu"))]);
    let scope = Scope {
        input: &input,
        context: &context,
        variables: &vars,
    };
    let effective = select(Some(&json!("$.order")), &scope).unwrap();
    let scope = Scope {
        input: &effective,
        context: &context,
        variables: &vars,
    };
    let parameters = json!({
        "id.$": "$.id",
        "wanted.$": "$.items[?(@.qty > 0)].sku",
        "execution.$": "$$.Execution.Id",
        "region.$": "$region",
        "label.$": "States.Format('{}-{}', $.id, $region)"
    });
    assert_eq!(
        template(&parameters, &scope).unwrap(),
        json!({"id": "o-1", "wanted": ["a"], "execution": "arn:exec:1", "region": "eu", "label": "o-1-eu"})
    );
    let raw = json!({"Payload": {"status": "ok"}, "StatusCode": 200});
    let result_scope = Scope {
        input: &raw,
        context: &context,
        variables: &vars,
    };
    let selected = template(&json!({"status.$": "$.Payload.status"}), &result_scope).unwrap();
    let placed = place_result(&input, Some(&json!("$.result")), selected).unwrap();
    let out_scope = Scope {
        input: &placed,
        context: &context,
        variables: &vars,
    };
    assert_eq!(
        select(Some(&json!("$.result")), &out_scope).unwrap(),
        json!({"status": "ok"})
    );
    let assigned = assign(
        &json!({"status.$": "$.Payload.status", "code.$": "$.StatusCode", "region": "us"}),
        &result_scope,
    );
    assert_eq!(
        assigned.unwrap(),
        Map::from_iter([
            ("status".to_string(), json!("ok")),
            ("code".to_string(), json!(200)),
            ("region".to_string(), json!("us")),
        ])
    );
}

#[test]
fn assignments_all_see_the_old_variables() {
    let (input, context) = (json!({}), json!({}));
    let vars = Map::from_iter([("x".to_string(), json!(1)), ("y".to_string(), json!(2))]);
    let scope = Scope {
        input: &input,
        context: &context,
        variables: &vars,
    };
    let swapped = assign(&json!({"x.$": "$y", "y.$": "$x"}), &scope).unwrap();
    assert_eq!(Value::Object(swapped), json!({"x": 2, "y": 1}));
    let states = States {
        input: &input,
        context: &context,
        result: None,
        error_output: None,
        variables: &vars,
    };
    let swapped = jsonata_assign(
        &json!({"x": "{% $y %}", "y": "{% $x %}", "z": [1]}),
        &states,
    )
    .unwrap();
    assert_eq!(Value::Object(swapped), json!({"x": 2, "y": 1, "z": [1]}));
    let err = jsonata_assign(&json!({"x": "{% $nope %}"}), &states).unwrap_err();
    assert!(
        err.cause
            .contains("for the field 'Assign/x' returned nothing"),
        "{}",
        err.cause
    );
}

#[test]
fn jsonata_sees_result_and_error_output() {
    let (input, context, vars) = (json!({"a": 1}), json!({"State": {"Name": "T"}}), Map::new());
    let (result, error) = (json!({"r": 2}), json!({"Error": "E", "Cause": "c"}));
    let states = States {
        input: &input,
        context: &context,
        result: Some(&result),
        error_output: Some(&error),
        variables: &vars,
    };
    let out = jsonata_field(
        "Output",
        &json!("{% $states.input.a + $states.result.r & $states.errorOutput.Error & $states.context.State.Name %}"),
        &states,
    );
    assert_eq!(out.unwrap(), json!("3ET"));
    assert!(jsonata_condition(&json!("{% $states.result.r = 2 %}"), &states).unwrap());
}

#[test]
fn checks() {
    assert_eq!(check_path("$.a[?(@.x < 1)].b"), Ok(()));
    assert_eq!(check_path("$$.Map.Item.Value"), Ok(()));
    assert_eq!(check_path("$var.x"), Ok(()));
    assert!(check_path("a").is_err());
    assert_eq!(check_reference_path("$.a['b'][0]"), Ok(()));
    assert!(check_reference_path("$.a[*]")
        .unwrap_err()
        .contains("not a reference path"));
    assert!(check_reference_path("$..a").is_err());
    assert_eq!(check_intrinsic("States.Format('{}', $.a)"), Ok(()));
    assert!(check_intrinsic("States.Format").is_err());
    assert_eq!(check_jsonata("{% $states.input %}"), Ok(()));
    assert!(check_jsonata("{% ( %}").is_err());
    assert_eq!(check_template(&json!({"a.$": "$.b"})), Ok(()));
    assert_eq!(
        check_choice_rule(&json!({"Variable": "$.a", "IsPresent": true, "Next": "X"})),
        Ok(())
    );
}
