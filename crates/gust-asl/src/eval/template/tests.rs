use serde_json::{json, Map, Value};

use super::*;

fn scope_with<'a>(input: &'a Value, context: &'a Value, vars: &'a Map<String, Value>) -> Scope<'a> {
    Scope {
        input,
        context,
        variables: vars,
    }
}

fn eval(t: Value, input: Value) -> Result<Value, EvalError> {
    let (context, vars) = (json!({}), Map::new());
    template(&t, &scope_with(&input, &context, &vars))
}

fn sel(path: Option<Value>, input: Value) -> Result<Value, EvalError> {
    let (context, vars) = (json!({}), Map::new());
    select(path.as_ref(), &scope_with(&input, &context, &vars))
}

#[test]
fn input_path_as_documented() {
    let input = json!({
        "comment": "Example for InputPath.",
        "dataset1": {"val1": 1, "val2": 2, "val3": 3},
        "dataset2": {"val1": "a", "val2": "b", "val3": "c"}
    });
    assert_eq!(
        sel(Some(json!("$.dataset2")), input.clone()).unwrap(),
        json!({"val1": "a", "val2": "b", "val3": "c"})
    );
    assert_eq!(sel(None, input.clone()).unwrap(), input);
    assert_eq!(sel(Some(json!("$")), input.clone()).unwrap(), input);
    assert_eq!(sel(Some(Value::Null), input).unwrap(), json!({}));
    assert_eq!(
        sel(Some(json!("$.a[0:2]")), json!({"a": [1, 2, 3, 4]})).unwrap(),
        json!([1, 2])
    );
    assert_eq!(
        sel(Some(json!("$.a[?(@ > 9)]")), json!({"a": [1, 2]})).unwrap(),
        json!([])
    );
}

#[test]
fn a_path_that_selects_nothing_is_a_runtime_error() {
    let err = sel(Some(json!("$.foo")), json!({"bar": 1})).unwrap_err();
    assert_eq!(err.error, "States.Runtime");
    assert_eq!(
        err.cause,
        "Invalid path '$.foo' : No results for path: $['foo']"
    );
}

#[test]
fn parameters_as_documented() {
    let input = json!({
        "comment": "Example for Parameters.",
        "product": {
            "details": {"color": "blue", "size": "small", "material": "cotton"},
            "availability": "in stock",
            "sku": "2317",
            "cost": "$23"
        }
    });
    let parameters = json!({
        "comment": "Selecting what I care about.",
        "MyDetails": {
            "size.$": "$.product.details.size",
            "exists.$": "$.product.availability",
            "StaticValue": "foo"
        }
    });
    assert_eq!(
        eval(parameters, input).unwrap(),
        json!({
            "comment": "Selecting what I care about.",
            "MyDetails": {"size": "small", "exists": "in stock", "StaticValue": "foo"}
        })
    );
}

#[test]
fn templates_reach_into_arrays_the_context_variables_and_intrinsics() {
    let input = json!({"id": 7, "names": ["a", "b"]});
    let context =
        json!({"Execution": {"Id": "arn:exec"}, "Map": {"Item": {"Index": 2, "Value": {"x": 1}}}});
    let mut vars = Map::new();
    vars.insert("customer".into(), json!({"name": "Ana"}));
    let t = json!({
        "list": [{"id.$": "$.id"}, "literal $.id", 3],
        "exec.$": "$$.Execution.Id",
        "index.$": "$$.Map.Item.Index",
        "who.$": "$customer.name",
        "all.$": "$customer",
        "count.$": "States.ArrayLength($.names)",
        ".$": "kept as written"
    });
    assert_eq!(
        template(&t, &scope_with(&input, &context, &vars)).unwrap(),
        json!({
            "list": [{"id": 7}, "literal $.id", 3],
            "exec": "arn:exec",
            "index": 2,
            "who": "Ana",
            "all": {"name": "Ana"},
            "count": 2,
            ".$": "kept as written"
        })
    );
}

#[test]
fn a_template_field_that_selects_nothing_names_the_field() {
    let err = eval(json!({"bar.$": "$.foo"}), json!({"a": 1})).unwrap_err();
    assert_eq!(err.error, "States.Runtime");
    assert_eq!(
        err.cause,
        r#"The JSONPath '$.foo' specified for the field 'bar.$' could not be found in the input '{"a":1}'"#
    );
    let err = eval(json!({"bar.$": "States.Array($.foo)"}), json!({})).unwrap_err();
    assert_eq!(
        err.cause,
        "The JSONPath '$.foo' specified for the field 'bar.$' could not be found in the input '{}'"
    );
    let err = eval(json!({"r.$": "States.ArrayRange(1, 2, 0)"}), json!({})).unwrap_err();
    assert_eq!(err.error, "States.IntrinsicFailure");
    assert!(
        err.cause.contains("'r.$'") && err.cause.contains("must not be 0"),
        "{}",
        err.cause
    );
    let err = eval(json!({"v.$": "$nope"}), json!({})).unwrap_err();
    assert_eq!(err.cause, "The JSONPath '$nope' specified for the field 'v.$' could not be found: The variable '$nope' is not defined");
}

#[test]
fn check_template_points_at_the_bad_field() {
    assert_eq!(
        check_template(&json!({"a": {"b.$": "$.x", "c": [1, {"d.$": "$..y"}]}})),
        Ok(())
    );
    assert_eq!(
        check_template(&json!({"a": [{"d.$": "nope"}]}))
            .unwrap_err()
            .0,
        "/a/0/d.$"
    );
    assert_eq!(
        check_template(&json!({"p/q": {"d.$": 3}})).unwrap_err().0,
        "/p~1q/d.$"
    );
    let (at, msg) = check_template(&json!({"x.$": "States.Nope()"})).unwrap_err();
    assert_eq!(
        (at.as_str(), msg.as_str()),
        ("/x.$", "'States.Nope' is not an intrinsic function")
    );
    assert!(check_template(&json!({"x": 1, "x.$": "$.y"}))
        .unwrap_err()
        .1
        .contains("given twice"));
}

#[test]
fn result_path_as_documented() {
    let input = json!({
        "comment": "This is a test of the input and output of a Task state.",
        "details": "Default example",
        "who": "AWS Step Functions"
    });
    let result = json!("Hello, AWS Step Functions!");
    assert_eq!(place_result(&input, None, result.clone()).unwrap(), result);
    assert_eq!(
        place_result(&input, Some(&json!("$")), result.clone()).unwrap(),
        result
    );
    assert_eq!(
        place_result(&input, Some(&Value::Null), result.clone()).unwrap(),
        input
    );
    assert_eq!(
        place_result(&input, Some(&json!("$.taskresult")), result.clone()).unwrap(),
        json!({
            "comment": "This is a test of the input and output of a Task state.",
            "details": "Default example",
            "who": "AWS Step Functions",
            "taskresult": "Hello, AWS Step Functions!"
        })
    );
    assert_eq!(
        place_result(&input, Some(&json!("$.comment")), result.clone()).unwrap(),
        json!({"comment": "Hello, AWS Step Functions!", "details": "Default example", "who": "AWS Step Functions"})
    );
    let input = json!({"comment": "An input comment.", "strings": {"string1": "foo", "string2": "bar", "string3": "baz"}, "who": "AWS Step Functions"});
    assert_eq!(
        place_result(&input, Some(&json!("$.strings.lambdaresult")), result).unwrap(),
        json!({
            "comment": "An input comment.",
            "strings": {"string1": "foo", "string2": "bar", "string3": "baz", "lambdaresult": "Hello, AWS Step Functions!"},
            "who": "AWS Step Functions"
        })
    );
    let caught = place_result(
        &json!({"foo": "bar"}),
        Some(&json!("$.error")),
        json!({"Error": "Error here"}),
    )
    .unwrap();
    assert_eq!(
        caught,
        json!({"foo": "bar", "error": {"Error": "Error here"}})
    );
}

#[test]
fn input_result_and_output_paths_together_as_documented() {
    let input = json!({"title": "Numbers to add", "numbers": {"val1": 3, "val2": 4}});
    let (context, vars) = (json!({}), Map::new());
    let effective = select(
        Some(&json!("$.numbers")),
        &scope_with(&input, &context, &vars),
    )
    .unwrap();
    assert_eq!(effective, json!({"val1": 3, "val2": 4}));
    let placed = place_result(&input, Some(&json!("$.sum")), json!(7)).unwrap();
    assert_eq!(
        placed,
        json!({"title": "Numbers to add", "numbers": {"val1": 3, "val2": 4}, "sum": 7})
    );
    assert_eq!(
        select(Some(&json!("$")), &scope_with(&placed, &context, &vars)).unwrap(),
        placed
    );
    assert_eq!(
        select(Some(&json!("$.sum")), &scope_with(&placed, &context, &vars)).unwrap(),
        json!(7)
    );
}

#[test]
fn result_path_makes_objects_and_refuses_what_it_cannot_apply() {
    assert_eq!(
        place_result(&json!({}), Some(&json!("$.a.b.c")), json!(1)).unwrap(),
        json!({"a": {"b": {"c": 1}}})
    );
    assert_eq!(
        place_result(&json!({"l": [0, 0]}), Some(&json!("$.l[1]")), json!(1)).unwrap(),
        json!({"l": [0, 1]})
    );
    for (input, path, says) in [
        (
            json!("text"),
            "$.a",
            "'a' can only be set on an object, not on string",
        ),
        (
            json!({"a": 5}),
            "$.a.b",
            "'b' can only be set on an object, not on number",
        ),
        (json!({"l": []}), "$.l[0]", "out of bounds"),
        (json!({}), "$.a[*]", "reference path"),
        (json!({}), "$$.a", "reference path"),
    ] {
        let err = place_result(&input, Some(&json!(path)), json!(1)).unwrap_err();
        assert_eq!(err.error, "States.ResultPathMatchFailure");
        assert!(
            err.cause
                .starts_with(&format!("Unable to apply ResultPath '{path}' to input")),
            "{}",
            err.cause
        );
        assert!(err.cause.contains(says), "{}", err.cause);
    }
}

#[test]
fn path_value_takes_paths_and_intrinsics() {
    let input = json!({"seconds": 5, "error": "Oops"});
    let (context, vars) = (json!({}), Map::new());
    let scope = scope_with(&input, &context, &vars);
    assert_eq!(path_value("$.seconds", &scope).unwrap(), json!(5));
    assert_eq!(
        path_value("States.Format('E: {}', $.error)", &scope).unwrap(),
        json!("E: Oops")
    );
    assert_eq!(
        path_value("States.Array($.x)", &scope).unwrap_err().cause,
        "Invalid path '$.x' : No results for path: $['x']"
    );
    assert_eq!(
        path_value("States.MathAdd('a', 1)", &scope)
            .unwrap_err()
            .error,
        "States.IntrinsicFailure"
    );
}
