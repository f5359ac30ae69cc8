use serde_json::{json, Value};

use super::*;

fn find(path: &str, doc: &Value) -> Result<Value, String> {
    Path::parse(path)
        .unwrap()
        .find(doc)
        .map_err(|m| m.to_string())
}

fn store() -> Value {
    json!({
        "store": {
            "book": [
                {"category": "reference", "author": "Nigel Rees", "title": "Sayings of the Century", "price": 8.95},
                {"category": "fiction", "author": "Evelyn Waugh", "title": "Sword of Honour", "price": 12.99},
                {"category": "fiction", "author": "Herman Melville", "title": "Moby Dick", "isbn": "0-553-21311-3", "price": 8.99},
                {"category": "fiction", "author": "J. R. R. Tolkien", "title": "The Lord of the Rings", "isbn": "0-395-19395-8", "price": 22.99}
            ],
            "bicycle": {"color": "red", "price": 19.95}
        },
        "expensive": 10
    })
}

#[test]
fn reference_paths_from_the_aws_docs() {
    let doc = json!({"foo": 123, "bar": ["a", "b", "c"], "car": {"cdr": true}});
    assert_eq!(find("$.foo", &doc).unwrap(), json!(123));
    assert_eq!(find("$.bar", &doc).unwrap(), json!(["a", "b", "c"]));
    assert_eq!(find("$.car.cdr", &doc).unwrap(), json!(true));
    assert_eq!(find("$", &doc).unwrap(), doc);
    assert_eq!(find("$['car']['cdr']", &doc).unwrap(), json!(true));
    assert_eq!(find("$.bar[1]", &doc).unwrap(), json!("b"));
    assert_eq!(find("$.bar[-1]", &doc).unwrap(), json!("c"));
}

#[test]
fn a_slice_selects_an_array_as_in_the_aws_docs() {
    let doc = json!({"a": [1, 2, 3, 4]});
    assert_eq!(find("$.a[0:2]", &doc).unwrap(), json!([1, 2]));
    assert_eq!(find("$.a[-1:]", &doc).unwrap(), json!([4]));
    assert_eq!(find("$.a[:2]", &doc).unwrap(), json!([1, 2]));
    assert_eq!(find("$.a[::2]", &doc).unwrap(), json!([1, 3]));
    assert_eq!(find("$.a[0,2]", &doc).unwrap(), json!([1, 3]));
    assert_eq!(find("$.a[*]", &doc).unwrap(), json!([1, 2, 3, 4]));
}

#[test]
fn jayway_examples() {
    let doc = store();
    assert_eq!(
        find("$.store.book[*].author", &doc).unwrap(),
        json!([
            "Nigel Rees",
            "Evelyn Waugh",
            "Herman Melville",
            "J. R. R. Tolkien"
        ])
    );
    assert_eq!(
        find("$..book[2].title", &doc).unwrap(),
        json!(["Moby Dick"])
    );
    assert_eq!(
        find("$..book[?(@.isbn)].title", &doc).unwrap(),
        json!(["Moby Dick", "The Lord of the Rings"])
    );
    assert_eq!(
        find("$.store.book[?(@.price < 10)].title", &doc).unwrap(),
        json!(["Sayings of the Century", "Moby Dick"])
    );
    assert_eq!(
        find("$..book[?(@.price <= $['expensive'])].price", &doc).unwrap(),
        json!([8.95, 8.99])
    );
    assert_eq!(
        find("$..book[?(@.author =~ /.*REES/i)].title", &doc).unwrap(),
        json!(["Sayings of the Century"])
    );
    assert_eq!(
        find(
            "$.store.book[?(@.category == 'fiction' && @.price > 20)].title",
            &doc
        )
        .unwrap(),
        json!(["The Lord of the Rings"])
    );
    assert_eq!(
        find(
            "$.store.book[?(@.category in ['reference'] || !(@.price > 9))].price",
            &doc
        )
        .unwrap(),
        json!([8.95, 8.99])
    );
    assert_eq!(find("$.store.book.length()", &doc).unwrap(), json!(4));
    assert_eq!(find("$..price.length()", &doc).unwrap(), json!(5));
    assert_eq!(
        find("$.store.bicycle.keys()", &doc).unwrap(),
        json!(["color", "price"])
    );
    assert_eq!(
        find("$.store.book[*].price.max()", &doc).unwrap(),
        json!(22.99)
    );
    assert_eq!(
        find("$['store']['bicycle']['color','price']", &doc).unwrap(),
        json!({"color": "red", "price": 19.95})
    );
}

#[test]
fn recursive_descent_visits_the_root_and_every_node_in_order() {
    let doc = json!({"x": 1, "a": {"x": 2, "b": [{"x": 3}]}});
    assert_eq!(find("$..x", &doc).unwrap(), json!([1, 2, 3]));
    assert_eq!(find("$..nope", &doc).unwrap(), json!([]));
}

#[test]
fn a_filter_on_an_object_tests_the_object_itself() {
    let doc = json!({"x": 1});
    assert_eq!(find("$.[?(@.x)]", &doc).unwrap(), json!([{"x": 1}]));
    assert_eq!(find("$[?(@.y)]", &doc).unwrap(), json!([]));
    assert_eq!(find("$[?(@.x != 2)]", &doc).unwrap(), json!([{"x": 1}]));
}

#[test]
fn filters_compare_by_type() {
    let doc =
        json!({"a": [{"v": 1}, {"v": "1"}, {"v": 1.0}, {"v": null}, {"w": 1}, {"v": [1, 2]}]});
    assert_eq!(
        find("$.a[?(@.v == 1)]", &doc).unwrap(),
        json!([{"v": 1}, {"v": 1.0}])
    );
    assert_eq!(
        find("$.a[?(@.v == '1')]", &doc).unwrap(),
        json!([{"v": "1"}])
    );
    assert_eq!(
        find("$.a[?(@.v > 0)]", &doc).unwrap(),
        json!([{"v": 1}, {"v": 1.0}])
    );
    assert_eq!(
        find("$.a[?(@.v == null)]", &doc).unwrap(),
        json!([{"v": null}])
    );
    assert_eq!(
        find("$.a[?(@.v size 2)]", &doc).unwrap(),
        json!([{"v": [1, 2]}])
    );
    assert_eq!(
        find("$.a[?(@.v contains 2)]", &doc).unwrap(),
        json!([{"v": [1, 2]}])
    );
    assert_eq!(
        find("$.a[?(@.v empty false)]", &doc).unwrap(),
        json!([{"v": "1"}, {"v": [1, 2]}])
    );
    assert_eq!(
        find("$.a[?(@.v anyof [2, 3])]", &doc).unwrap(),
        json!([{"v": [1, 2]}])
    );
    assert_eq!(
        find("$.a[?(@ nin [{'v': 1}])].w", &doc).unwrap(),
        json!([1])
    );
}

#[test]
fn definite_misses_use_jaywayʼs_words() {
    let doc = json!({"a": {"b": 1}, "n": 5, "l": [1]});
    assert_eq!(
        find("$.foo", &doc).unwrap_err(),
        "No results for path: $['foo']"
    );
    assert_eq!(
        find("$.a.c", &doc).unwrap_err(),
        "No results for path: $['a']['c']"
    );
    assert_eq!(
        find("$.x.y", &doc).unwrap_err(),
        "Missing property in path $['x']"
    );
    assert_eq!(
        find("$.l[3]", &doc).unwrap_err(),
        "No results for path: $['l'][3]"
    );
    assert_eq!(
        find("$.n.y", &doc).unwrap_err(),
        "Expected to find an object with property ['y'] in path $['n'] but found 'number'"
    );
    assert_eq!(
        find("$.a[0]", &doc).unwrap_err(),
        "Filter: [0] can only be applied to arrays. Current context is: {\"b\":1}"
    );
}

#[test]
fn roots() {
    assert_eq!(Path::parse("$$.Execution.Id").unwrap().root, Root::Context);
    assert_eq!(Path::parse("$$").unwrap().root, Root::Context);
    assert_eq!(
        Path::parse("$order.items[0]").unwrap().root,
        Root::Variable("order".into())
    );
    assert_eq!(
        Path::parse("$_x").unwrap().root,
        Root::Variable("_x".into())
    );
    assert_eq!(Path::parse("$.a").unwrap().root, Root::Input);
}

#[test]
fn reference_and_definite() {
    let p = |s: &str| Path::parse(s).unwrap();
    assert!(p("$.a.b[0]").is_reference());
    assert!(p("$['a b']").is_reference());
    assert!(!p("$.a[*]").is_reference());
    assert!(!p("$..a").is_reference());
    assert!(!p("$.a.length()").is_reference());
    assert!(!p("$.a[0,1]").is_definite());
    assert!(!p("$.a[?(@.x)]").is_definite());
}

#[test]
fn bad_paths_say_what_is_wrong() {
    for (bad, says) in [
        ("a.b", "must start with '$'"),
        ("$.", "property name is missing"),
        ("$.a b", "bracket notation"),
        ("$.a[", "expected an index"),
        ("$.a['x", "unterminated string"),
        ("$.a.nope()", "unknown path function"),
        ("$.a.length().b", "must end the path"),
        ("$.a[?(@.x =~ 'y')]", "regular expression"),
        ("$.a[1:2:3:4]", "at most three parts"),
        ("$.a]", "unexpected ']'"),
    ] {
        let err = Path::parse(bad).unwrap_err();
        assert!(err.contains(says), "{bad}: {err}");
    }
}
