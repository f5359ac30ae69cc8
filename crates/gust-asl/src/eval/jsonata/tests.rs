use serde_json::{json, Map, Value};

use super::*;

fn states_run(value: Value, input: Value, vars: &Map<String, Value>) -> Result<Value, EvalError> {
    let context =
        json!({"Execution": {"Id": "arn:exec", "Input": {"start": true}}, "State": {"Name": "S"}});
    let result = json!({"Payload": {"total": 3}});
    let states = States {
        input: &input,
        context: &context,
        result: Some(&result),
        error_output: None,
        variables: vars,
    };
    evaluate_value("Output", &value, &states)
}

fn run(expr: &str, input: Value) -> Result<Value, EvalError> {
    states_run(json!(expr), input, &Map::new())
}

#[test]
fn states_and_variables_are_bound() {
    let mut vars = Map::new();
    vars.insert("customerName".into(), json!("Ana"));
    vars.insert("count".into(), json!(42));
    vars.insert("random".into(), json!("mine"));
    let input = json!({"title": "Hello", "customer": {"orders": [{"price": 2, "qty": 3}, {"price": 5, "qty": 1}]}});
    // AWS's own conversion sample: JSONPath Parameters → JSONata Arguments.
    let arguments = json!({
        "static": "Hello",
        "title": "{% $states.input.title %}",
        "name": "{% $customerName %}",
        "not-evaluated": "$customerName"
    });
    assert_eq!(
        states_run(arguments, input.clone(), &vars).unwrap(),
        json!({"static": "Hello", "title": "Hello", "name": "Ana", "not-evaluated": "$customerName"})
    );
    let nested = json!({"list": ["{% $states.context.Execution.Id %}", 1, {"t": "{% $states.result.Payload.total %}"}]});
    assert_eq!(
        states_run(nested, input.clone(), &vars).unwrap(),
        json!({"list": ["arn:exec", 1, {"t": 3}]})
    );
    let sum = json!("{% $sum($states.input.customer.orders.(price * qty)) %}");
    assert_eq!(states_run(sum, input.clone(), &vars).unwrap(), json!(11));
    // Variables named like built-ins still mean the variable, as in Step Functions.
    assert_eq!(
        states_run(json!("{% $count + 1 %}"), input.clone(), &vars).unwrap(),
        json!(43)
    );
    assert_eq!(
        states_run(json!("{% $random %}"), input, &vars).unwrap(),
        json!("mine")
    );
}

#[test]
fn jsonata_language_features() {
    let input = json!({"a": [1, 2, 3], "name": "x", "age": 20});
    for (expr, expected) in [
        ("{% $states.input.name & '!' %}", json!("x!")),
        (
            "{% $states.input.age >= 18 ? 'adult' : 'minor' %}",
            json!("adult"),
        ),
        ("{% $states.input.a[$ > 1] %}", json!([2, 3])),
        ("{% $count($states.input.a) %}", json!(3)),
        (
            "{% {'k': $states.input.a[0], 'gone': $states.input.nope} %}",
            json!({"k": 1}),
        ),
        ("{% ( $x := 5; $x * 2 ) %}", json!(10)),
        (
            "{% $map($states.input.a, function($v) { $v * 10 }) %}",
            json!([10, 20, 30]),
        ),
        ("{% $join($split('a,b', ','), '-') %}", json!("a-b")),
        ("{% $uppercase($substring('hello', 1, 3)) %}", json!("ELL")),
        (
            "{% $merge([{'a': 1}, {'b': 2}]) %}",
            json!({"a": 1, "b": 2}),
        ),
        ("{% $string(1.5) %}", json!("1.5")),
        ("{% $exists($states.input.nope) %}", json!(false)),
        ("{% 7 % 3 %}", json!(1)),
        ("{% [1..3] %}", json!([1, 2, 3])),
        ("{% null %}", Value::Null),
        ("{% 1.5e300 %}", json!(1.5e300)),
        ("{% -3.5e-20 %}", json!(-3.5e-20)),
        ("{% 0.1 + 0.2 %}", json!(0.30000000000000004)),
        ("{% 6 / 2 %}", json!(3)),
        (
            "{% {'q': 'a\\\"b', 'e': '\\u00e9'} %}",
            json!({"q": "a\"b", "e": "\u{e9}"}),
        ),
    ] {
        assert_eq!(run(expr, input.clone()).unwrap(), expected, "{expr}");
    }
    assert_eq!(
        run("{%not an expression", input.clone()).unwrap(),
        json!("{%not an expression")
    );
    assert_eq!(
        run(" {% 1 %}", input).unwrap(),
        json!(" {% 1 %}"),
        "must be the whole string"
    );
}

#[test]
fn step_functions_functions() {
    let input = json!({"content": "input data", "seed": 7, "json": "{\"a\": [1, {\"b\": null}]}"});
    assert_eq!(
        run(
            "{% $partition([1, 2, 3, 4, 5, 6, 7, 8, 9], 3) %}",
            input.clone()
        )
        .unwrap(),
        json!([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    );
    assert_eq!(
        run("{% $partition([1, 2, 3], 2) %}", input.clone()).unwrap(),
        json!([[1, 2], [3]])
    );
    assert_eq!(
        run("{% $range(0, 10, 2) %}", input.clone()).unwrap(),
        json!([0, 2, 4, 6, 8, 10])
    );
    assert_eq!(
        run("{% $range(3, 1, -1) %}", input.clone()).unwrap(),
        json!([3, 2, 1])
    );
    assert_eq!(
        run("{% $hash($states.input.content, 'SHA-1') %}", input.clone()).unwrap(),
        json!("aaff4a450a104cd177d28d18d74485e8cae074b7")
    );
    assert_eq!(
        run("{% $parse($states.input.json) %}", input.clone()).unwrap(),
        json!({"a": [1, {"b": null}]})
    );
    let seeded = run("{% $random($states.input.seed) %}", input.clone()).unwrap();
    assert_eq!(seeded, run("{% $random(7) %}", input.clone()).unwrap());
    let r = run("{% $random() %}", input.clone())
        .unwrap()
        .as_f64()
        .unwrap();
    assert!((0.0..1.0).contains(&r), "{r}");
    let uuid = run("{% $uuid() %}", input.clone()).unwrap();
    assert_eq!(
        uuid::Uuid::parse_str(uuid.as_str().unwrap())
            .unwrap()
            .get_version_num(),
        4
    );
    assert!(run("{% $range(1, 2000, 1) %}", input.clone())
        .unwrap_err()
        .cause
        .contains("at most 1000"));
    assert!(run("{% $hash('x', 'CRC') %}", input.clone())
        .unwrap_err()
        .cause
        .contains("not one of"));
    assert!(run("{% $parse('{') %}", input)
        .unwrap_err()
        .cause
        .contains("not JSON"));
}

#[test]
fn failures_are_query_evaluation_errors() {
    let err = run("{% $states.input.pushLocation %}", json!({})).unwrap_err();
    assert_eq!(err.error, "States.QueryEvaluationError");
    assert_eq!(err.cause, "The JSONata expression '$states.input.pushLocation' specified for the field 'Output' returned nothing (undefined).");
    let err = states_run(
        json!({"Input": {"pushLocation": "{% $states.input.x %}"}}),
        json!({}),
        &Map::new(),
    )
    .unwrap_err();
    assert!(
        err.cause
            .contains("for the field 'Output/Input/pushLocation' returned nothing"),
        "{}",
        err.cause
    );
    let err = run("{% 'a' + 1 %}", json!({})).unwrap_err();
    assert_eq!(err.error, "States.QueryEvaluationError");
    assert!(
        err.cause.contains("threw an error during evaluation") && err.cause.contains("T2001"),
        "{}",
        err.cause
    );
    let err = run(
        "{% ( $f := function($n) { 1 + $f($n + 1) }; $f(0) ) %}",
        json!({}),
    )
    .unwrap_err();
    assert!(err.cause.contains("U1001"), "{}", err.cause);
    assert!(run("{% 1 / 0 %}", json!({}))
        .unwrap_err()
        .cause
        .contains("Number out of range"));
    assert!(run("{% function($x) { $x } %}", json!({}))
        .unwrap_err()
        .cause
        .contains("returned a function"));
}

#[test]
fn conditions_must_be_boolean() {
    let (input, context, vars) = (json!({"age": 20}), json!({}), Map::new());
    let states = States {
        input: &input,
        context: &context,
        result: None,
        error_output: None,
        variables: &vars,
    };
    assert!(condition(&json!("{% $states.input.age >= 18 %}"), &states).unwrap());
    assert!(!condition(&json!("{% $states.input.age < 18 %}"), &states).unwrap());
    let err = condition(&json!("{% $states.input.age %}"), &states).unwrap_err();
    assert_eq!(err.error, "States.QueryEvaluationError");
    assert_eq!(
        err.cause,
        "The JSONata expression '$states.input.age' specified for the field 'Condition' returned an unexpected result type. Expected 'boolean', but was 'number' for value: 20"
    );
}

#[test]
fn check_parses_at_create_time() {
    assert_eq!(check("{% $states.input.a + 1 %}"), Ok(()));
    assert!(check("$states.input").unwrap_err().contains("whole string"));
    assert!(check("{%  %}").unwrap_err().contains("empty"));
    assert!(check("{% 1 + %}").unwrap_err().contains("does not parse"));
    let deep = format!("{{% {}1{} %}}", "(".repeat(101), ")".repeat(101));
    assert!(check(&deep).unwrap_err().contains("more than 100 deep"));
}

#[test]
fn prepare_leaves_strings_and_other_names_alone() {
    let vars = Map::from_iter([("sum".to_string(), json!(1))]);
    let (src, renames) = prepare("$sum + $summary + $random() & '$sum' /* $sum */", &vars);
    assert_eq!(
        src,
        "$__var_sum + $summary + $__sfn_random() & '$sum' /* $sum */"
    );
    assert_eq!(renames, [("sum".to_string(), "__var_sum".to_string())]);
}
