use serde_json::{json, Map, Value};

use super::*;

fn run(rule: Value, input: Value) -> Result<bool, EvalError> {
    let (context, vars) = (
        json!({"Execution": {"Name": "e1"}}),
        Map::from_iter([("limit".to_string(), json!(10))]),
    );
    evaluate(
        &rule,
        &Scope {
            input: &input,
            context: &context,
            variables: &vars,
        },
    )
}

#[test]
fn the_documented_choice_state() {
    let choices = [
        json!({"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"}),
        json!({"Variable": "$.value", "NumericEquals": 0, "Next": "ValueIsZero"}),
        json!({"And": [
            {"Variable": "$.value", "NumericGreaterThanEquals": 20},
            {"Variable": "$.value", "NumericLessThan": 30}
        ], "Next": "ValueInTwenties"}),
    ];
    let input = json!({"type": "Private", "value": 22});
    let taken: Vec<bool> = choices
        .iter()
        .map(|c| run(c.clone(), input.clone()).unwrap())
        .collect();
    assert_eq!(
        taken,
        [false, false, true],
        "AWS: transitions to ValueInTwenties"
    );
    for c in &choices {
        assert_eq!(check(c), Ok(()));
    }
}

#[test]
fn comparisons() {
    let input = json!({"s": "MyStringABC", "n": 2.5, "i": 7, "b": true, "t": "2001-01-01T12:00:00Z", "z": null});
    for (rule, expected) in [
        (
            json!({"Variable": "$.s", "StringEquals": "MyStringABC"}),
            true,
        ),
        (
            json!({"Variable": "$.s", "StringGreaterThan": "MyString"}),
            true,
        ),
        (
            json!({"Variable": "$.s", "StringLessThanEquals": "MyStringABC"}),
            true,
        ),
        (
            json!({"Variable": "$.s", "StringLessThan": "MyStringABC"}),
            false,
        ),
        (json!({"Variable": "$.n", "NumericGreaterThan": 2}), true),
        (json!({"Variable": "$.i", "NumericEquals": 7.0}), true),
        (
            json!({"Variable": "$.i", "NumericLessThanEqualsPath": "$limit"}),
            true,
        ),
        (json!({"Variable": "$.b", "BooleanEquals": true}), true),
        (json!({"Variable": "$.b", "BooleanEqualsPath": "$.b"}), true),
        (
            json!({"Variable": "$.t", "TimestampEquals": "2001-01-01T12:00:00Z"}),
            true,
        ),
        (
            json!({"Variable": "$.t", "TimestampLessThan": "2001-01-01T13:00:00+00:00"}),
            true,
        ),
        (
            json!({"Variable": "$.t", "TimestampGreaterThanEquals": "2001-01-01T12:00:00.000Z"}),
            true,
        ),
        (
            json!({"Variable": "$.t", "TimestampEqualsPath": "$.t"}),
            true,
        ),
        (
            json!({"Variable": "$.t", "StringEquals": "2001-01-01T12:00:00Z"}),
            true,
        ),
        (json!({"Variable": "$.z", "IsNull": true}), true),
        (json!({"Variable": "$.n", "IsNumeric": true}), true),
        (json!({"Variable": "$.s", "IsString": true}), true),
        (json!({"Variable": "$.b", "IsBoolean": false}), false),
        (json!({"Variable": "$.t", "IsTimestamp": true}), true),
        (json!({"Variable": "$.s", "IsTimestamp": true}), false),
        (
            json!({"Variable": "$$.Execution.Name", "StringEquals": "e1"}),
            true,
        ),
        (
            json!({"Or": [{"Variable": "$.i", "NumericEquals": 1}, {"Variable": "$.i", "NumericEquals": 7}]}),
            true,
        ),
    ] {
        assert_eq!(
            run(rule.clone(), input.clone()).unwrap(),
            expected,
            "{rule}"
        );
    }
}

#[test]
fn a_type_mismatch_is_false_not_an_error() {
    let input = json!({"s": "1", "n": 1});
    assert!(!run(
        json!({"Variable": "$.s", "NumericEquals": 1}),
        input.clone()
    )
    .unwrap());
    assert!(!run(
        json!({"Variable": "$.n", "StringEquals": "1"}),
        input.clone()
    )
    .unwrap());
    assert!(!run(
        json!({"Variable": "$.n", "TimestampEquals": "2001-01-01T12:00:00Z"}),
        input.clone()
    )
    .unwrap());
    assert!(!run(json!({"Variable": "$.n", "BooleanEquals": true}), input).unwrap());
}

#[test]
fn a_missing_variable_is_an_error_unless_asking_is_present() {
    let err = run(json!({"Variable": "$.x", "StringEquals": "a"}), json!({})).unwrap_err();
    assert_eq!(err.error, "States.Runtime");
    assert_eq!(
        err.cause,
        "Invalid path '$.x': The choice state's condition path references an invalid value."
    );
    assert!(!run(json!({"Variable": "$.x", "IsPresent": true}), json!({})).unwrap());
    assert!(run(json!({"Variable": "$.x", "IsPresent": false}), json!({})).unwrap());
    assert!(run(
        json!({"Variable": "$.x", "IsPresent": true}),
        json!({"x": null})
    )
    .unwrap());
    assert!(!run(json!({"Variable": "$nope", "IsPresent": true}), json!({})).unwrap());
    // And stops at the first false rule, as Step Functions does.
    let guarded = json!({"And": [{"Variable": "$.x", "IsPresent": true}, {"Variable": "$.x", "NumericEquals": 1}]});
    assert!(!run(guarded, json!({})).unwrap());
    let err = run(
        json!({"Variable": "$.a", "NumericEqualsPath": "$.b"}),
        json!({"a": 1}),
    )
    .unwrap_err();
    assert_eq!(
        err.cause,
        "Invalid path '$.b': The choice state's condition path references an invalid value."
    );
}

#[test]
fn string_matches_wildcards_and_escapes() {
    assert!(string_matches("log-2024.txt", "log-*.txt"));
    assert!(string_matches("abc", "*"));
    assert!(string_matches("", "*"));
    assert!(string_matches("a*c", r"a\*c"));
    assert!(!string_matches("abc", r"a\*c"));
    assert!(string_matches(r"a\b", r"a\\b"));
    assert!(string_matches("aXbYb", "a*b"));
    assert!(!string_matches("abca", "a*b"));
    assert!(string_matches("mississippi", "m*iss*pi"));
    assert!(run(
        json!({"Variable": "$.f", "StringMatches": "*.log"}),
        json!({"f": "x.log"})
    )
    .unwrap());
}

#[test]
fn timestamps_need_uppercase_t_and_z() {
    assert!(parse_timestamp("2016-08-18T17:33:00Z").is_some());
    assert!(parse_timestamp("2016-08-18T17:33:00+01:00").is_some());
    assert!(parse_timestamp("2016-08-18t17:33:00z").is_none());
    assert!(parse_timestamp("2016-08-18 17:33:00Z").is_none());
    assert!(parse_timestamp("yesterday").is_none());
}

#[test]
fn java_string_order() {
    // U+FF5E sorts before U+1F600 in UTF-16 (a surrogate pair starts with 0xD83D).
    assert!(run(
        json!({"Variable": "$.s", "StringLessThan": "\u{FF5E}"}),
        json!({"s": "\u{1F600}"})
    )
    .unwrap());
}

#[test]
fn check_finds_the_problem() {
    let bad = |rule: Value| check(&rule).unwrap_err();
    assert!(bad(json!({"Variable": "$.x", "Next": "N"}))
        .1
        .starts_with("a Choice rule needs"));
    assert_eq!(
        bad(json!({"Variable": "$.x", "StringEquals": 1, "Next": "N"})).0,
        "/StringEquals"
    );
    let (at, msg) = bad(json!({"Variable": "$.x", "StringEquals": "a", "NumericEquals": 1}));
    assert_eq!(at, "/StringEquals");
    assert!(
        msg.contains("exactly one operator, but this one has NumericEquals, StringEquals"),
        "{msg}"
    );
    assert_eq!(bad(json!({"Variable": "x", "IsNull": true})).0, "/Variable");
    assert_eq!(
        bad(json!({"Variable": "$.x", "TimestampEquals": "2016-08-18"})).0,
        "/TimestampEquals"
    );
    assert_eq!(
        bad(json!({"Variable": "$.x", "IsNull": "yes"})).1,
        "the value of 'IsNull' must be a boolean, not \"yes\""
    );
    assert_eq!(
        bad(json!({"Variable": "$.x", "StringEqualsPath": "nope"})).0,
        "/StringEqualsPath"
    );
    assert_eq!(bad(json!({"And": [], "Next": "N"})).0, "/And");
    assert_eq!(
        bad(json!({"And": [{"Variable": "$.x", "IsNull": true, "Next": "N"}]})).0,
        "/And/0/Next"
    );
    assert_eq!(
        bad(json!({"Not": {"Variable": "$.x", "Foo": 1}, "Next": "N"})).0,
        "/Not/Foo"
    );
    assert_eq!(
        bad(json!({"Or": [{"Not": {"Variable": "$.x"}}]})).0,
        "/Or/0/Not"
    );
    assert_eq!(
        bad(json!({"Variable": "$.x", "Not": {"Variable": "$.x", "IsNull": true}})).0,
        "/Variable"
    );
    assert_eq!(bad(json!([1])).0, "");
    assert_eq!(
        check(
            &json!({"Variable": "$.x", "StringMatches": "a*", "Next": "N", "Comment": "c", "Assign": {}})
        ),
        Ok(())
    );
}
