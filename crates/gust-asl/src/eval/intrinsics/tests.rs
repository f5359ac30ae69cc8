use serde_json::{json, Map, Value};

use super::*;

fn run_with(call: &str, input: Value, variables: Map<String, Value>) -> Result<Value, Failure> {
    let context = json!({"State": {"Name": "S"}});
    let scope = Scope {
        input: &input,
        context: &context,
        variables: &variables,
    };
    evaluate(&parse(call).unwrap(), &scope)
}

fn run(call: &str, input: Value) -> Result<Value, Failure> {
    run_with(call, input, Map::new())
}

fn invalid(call: &str, input: Value) -> String {
    match run(call, input) {
        Err(Failure::Invalid(m)) => m,
        other => panic!("{call}: expected a failure, got {other:?}"),
    }
}

#[test]
fn format_as_documented() {
    let input = json!({"name": "Arnav", "template": "Hello, my name is {}."});
    assert_eq!(
        run(
            "States.Format('Hello, my name is {}.', $.name)",
            input.clone()
        )
        .unwrap(),
        json!("Hello, my name is Arnav.")
    );
    assert_eq!(
        run("States.Format($.template, $.name)", input).unwrap(),
        json!("Hello, my name is Arnav.")
    );
    let input = json!({"name": "Foo", "zebra": "stripe"});
    assert_eq!(
        run(
            "States.Format('Your name is {}, we are in the year {}', $.name, 2020)",
            input
        )
        .unwrap(),
        json!("Your name is Foo, we are in the year 2020")
    );
}

#[test]
fn format_escapes_and_renders_values() {
    let input = json!({"o": {"a": 1, "b": [true, null]}});
    assert_eq!(
        run(r"States.Format('\{}: {} \'q\' \\', 1.5)", json!({})).unwrap(),
        json!(r"{}: 1.5 'q' \")
    );
    assert_eq!(
        run("States.Format('{}', $.o)", input).unwrap(),
        json!("{a=1, b=[true, null]}")
    );
    assert!(invalid("States.Format('{} {}', 1)", json!({})).contains("2 placeholder(s)"));
}

#[test]
fn json_conversions_as_documented() {
    let input = json!({"someString": "{\"number\": 20}", "zebra": "stripe"});
    assert_eq!(
        run("States.StringToJson($.someString)", input).unwrap(),
        json!({"number": 20})
    );
    let input = json!({"someJson": {"name": "Foo", "year": 2020}, "zebra": "stripe"});
    assert_eq!(
        run("States.JsonToString($.someJson)", input).unwrap(),
        json!("{\"name\":\"Foo\",\"year\":2020}")
    );
    assert!(invalid("States.StringToJson('{nope')", json!({})).contains("not JSON"));
}

#[test]
fn arrays_as_documented() {
    let input = json!({"someJson": {"random": "abcdefg"}, "zebra": "stripe"});
    assert_eq!(
        run("States.Array('Foo', 2020, $.someJson, null)", input).unwrap(),
        json!(["Foo", 2020, {"random": "abcdefg"}, null])
    );
    assert_eq!(
        run("States.Array($.Id)", json!({"Id": 123456})).unwrap(),
        json!([123456])
    );
    let input = json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "lookingFor": 5, "index": 5});
    assert_eq!(
        run("States.ArrayPartition($.inputArray,4)", input.clone()).unwrap(),
        json!([[1, 2, 3, 4], [5, 6, 7, 8], [9]])
    );
    assert_eq!(
        run(
            "States.ArrayContains($.inputArray, $.lookingFor)",
            input.clone()
        )
        .unwrap(),
        json!(true)
    );
    assert_eq!(
        run("States.ArrayContains($.inputArray, 10)", input.clone()).unwrap(),
        json!(false)
    );
    assert_eq!(
        run("States.ArrayGetItem($.inputArray, $.index)", input.clone()).unwrap(),
        json!(6)
    );
    assert_eq!(
        run("States.ArrayLength($.inputArray)", input).unwrap(),
        json!(9)
    );
    assert_eq!(
        run("States.ArrayRange(1, 9, 2)", json!({})).unwrap(),
        json!([1, 3, 5, 7, 9])
    );
    assert_eq!(
        run("States.ArrayRange(5, 1, -2)", json!({})).unwrap(),
        json!([5, 3, 1])
    );
    assert_eq!(
        run("States.ArrayRange(1, 0, 1)", json!({})).unwrap(),
        json!([])
    );
    assert_eq!(
        run(
            "States.ArrayUnique($.a)",
            json!({"a": [1, 2, 3, 3, 3, 3, 3, 3, 4]})
        )
        .unwrap(),
        json!([1, 2, 3, 4])
    );
}

#[test]
fn array_limits_and_types() {
    assert!(invalid("States.ArrayRange(1, 1001, 1)", json!({})).contains("1001 items"));
    assert_eq!(
        run("States.ArrayRange(1, 1000, 1)", json!({}))
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1000
    );
    assert!(invalid("States.ArrayRange(1, 9, 0)", json!({})).contains("must not be 0"));
    assert!(invalid("States.ArrayPartition($.a, 0)", json!({"a": [1]})).contains("positive"));
    assert!(invalid("States.ArrayGetItem($.a, 3)", json!({"a": [1]})).contains("out of bounds"));
    assert!(invalid("States.ArrayLength('x')", json!({})).contains("must be an array, not string"));
}

#[test]
fn encoding_and_hashing_as_documented() {
    let input = json!({"input": "Data to encode"});
    assert_eq!(
        run("States.Base64Encode($.input)", input).unwrap(),
        json!("RGF0YSB0byBlbmNvZGU=")
    );
    let input = json!({"base64": "RGF0YSB0byBlbmNvZGU="});
    assert_eq!(
        run("States.Base64Decode($.base64)", input).unwrap(),
        json!("Data to encode")
    );
    assert!(invalid("States.Base64Decode('%%%')", json!({})).contains("not Base64"));
    let input = json!({"Data": "input data", "Algorithm": "SHA-1"});
    assert_eq!(
        run("States.Hash($.Data, $.Algorithm)", input).unwrap(),
        json!("aaff4a450a104cd177d28d18d74485e8cae074b7")
    );
    // (AWS's page prints this digest with a digit missing; this is SHA-1's.)
    assert_eq!(
        run("States.Hash('abc', 'MD5')", json!({})).unwrap(),
        json!("900150983cd24fb0d6963f7d28e17f72")
    );
    assert_eq!(
        run("States.Hash('abc', 'SHA-256')", json!({})).unwrap(),
        json!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    assert!(
        run("States.Hash('abc', 'SHA-384')", json!({}))
            .unwrap()
            .as_str()
            .unwrap()
            .len()
            == 96
    );
    assert!(
        run("States.Hash('abc', 'SHA-512')", json!({}))
            .unwrap()
            .as_str()
            .unwrap()
            .len()
            == 128
    );
    assert!(invalid("States.Hash('abc', 'CRC32')", json!({})).contains("not one of"));
    let long = "x".repeat(10_001);
    assert!(invalid("States.Base64Encode($.s)", json!({ "s": long })).contains("at most 10000"));
}

#[test]
fn json_merge_is_shallow_only() {
    let input = json!({"json1": {"a": {"a1": 1, "a2": 2}, "b": 2}, "json2": {"a": {"a3": 1, "a4": 2}, "c": 3}});
    assert_eq!(
        run("States.JsonMerge($.json1, $.json2, false)", input.clone()).unwrap(),
        json!({"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3})
    );
    assert!(invalid("States.JsonMerge($.json1, $.json2, true)", input).contains("only shallow"));
}

#[test]
fn math() {
    assert_eq!(
        run(
            "States.MathAdd($.value1, $.step)",
            json!({"value1": 111, "step": -1})
        )
        .unwrap(),
        json!(110)
    );
    assert_eq!(
        run("States.MathAdd(1.5, -1.5)", json!({})).unwrap(),
        json!(1),
        "Java rounding: 2 + -1"
    );
    assert!(invalid("States.MathAdd('1', 2)", json!({})).contains("must be an integer"));
    let seeded = run("States.MathRandom(1, 999, 7)", json!({})).unwrap();
    assert_eq!(
        seeded,
        run("States.MathRandom(1, 999, 7)", json!({})).unwrap()
    );
    for _ in 0..50 {
        let n = run(
            "States.MathRandom($.start, $.end)",
            json!({"start": 1, "end": 3}),
        )
        .unwrap()
        .as_i64()
        .unwrap();
        assert!((1..=3).contains(&n), "{n}");
    }
}

#[test]
fn strings_and_uuids() {
    let input = json!({"inputString": "1,2,3,4,5", "splitter": ","});
    assert_eq!(
        run("States.StringSplit($.inputString, $.splitter)", input).unwrap(),
        json!(["1", "2", "3", "4", "5"])
    );
    let input = json!({"inputString": "This.is+a,test=string", "splitter": ".+,="});
    assert_eq!(
        run("States.StringSplit($.inputString, $.splitter)", input).unwrap(),
        json!(["This", "is", "a", "test", "string"])
    );
    let uuid = run("States.UUID()", json!({})).unwrap();
    let uuid = uuid::Uuid::parse_str(uuid.as_str().unwrap()).unwrap();
    assert_eq!(uuid.get_version_num(), 4);
}

#[test]
fn nested_calls_context_and_variables() {
    let input = json!({"ImageRecipe": {"Arn": "arn:aws:imagebuilder:us-east-1:123:image-recipe/my-recipe.v1/1.0.0"}});
    // AWS's nine-call example, with the third value its template needs.
    let call = "States.Format('{}.{}.{}', States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 0), States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 0), States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 1))";
    assert_eq!(
        run(call, input).unwrap(),
        json!("arn:aws:imagebuilder:us-east-1:123:image-recipe.1.0")
    );
    let mut vars = Map::new();
    vars.insert("order".into(), json!({"items": [1, 2]}));
    assert_eq!(
        run_with(
            "States.Format('{} in {}', $order.items[1], $$.State.Name)",
            json!({}),
            vars
        )
        .unwrap(),
        json!("2 in S")
    );
    assert_eq!(
        run("States.ArrayLength($.a[?(@ > 1)])", json!({"a": [1, 2, 3]})).unwrap(),
        json!(2)
    );
}

#[test]
fn a_missing_path_is_reported_as_missing() {
    match run("States.Array($.nope)", json!({})) {
        Err(Failure::Missing { path, miss }) => {
            assert_eq!(path, "$.nope");
            assert_eq!(miss.to_string(), "No results for path: $['nope']");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn parse_errors_say_what_is_wrong() {
    for (bad, says) in [
        ("States.Nope(1)", "not an intrinsic function"),
        ("States.Array(1", "expected ',' or ')'"),
        ("States.ArrayRange(1, 2)", "takes 3 argument(s), not 2"),
        ("States.Format()", "at least 1"),
        ("States.MathRandom(1)", "2 to 3"),
        ("States.Array('a\\b')", "open escape backslash"),
        ("States.Array('abc)", "unterminated string"),
        ("States.Array(foo)", "expected an argument"),
        ("States.Array(1) x", "after the closing"),
        ("States.Array($.a b)", "expected ',' or ')'"),
    ] {
        let err = parse(bad).unwrap_err();
        assert!(err.contains(says), "{bad}: {err}");
    }
    let deep = format!("{}1{}", "States.Array(".repeat(11), ")".repeat(11));
    assert!(parse(&deep).unwrap_err().contains("at most 10 deep"));
    let ok = format!("{}1{}", "States.Array(".repeat(10), ")".repeat(10));
    assert!(parse(&ok).is_ok());
}
