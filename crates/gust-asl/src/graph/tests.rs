//! The picture of a machine with a Choice, a Parallel, a Map and Catch.

use std::collections::BTreeMap;

use quick_xml::events::Event;
use quick_xml::Reader;

use super::*;
use crate::parse::parse;

const ORDERS: &str = include_str!("../../examples/orders.asl.json");

/// Every element of the SVG, in document order, with its attributes; the
/// document must be well-formed XML.
fn elements(svg: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let mut reader = Reader::from_str(svg);
    let mut out = Vec::new();
    let mut depth = 0i32;
    let read = |e: &quick_xml::events::BytesStart| {
        let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
        let attrs = e
            .attributes()
            .map(|a| {
                let a = a.expect("well-formed attribute");
                let key = String::from_utf8(a.key.as_ref().to_vec()).unwrap();
                (
                    key,
                    a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .unwrap()
                        .into_owned(),
                )
            })
            .collect();
        (name, attrs)
    };
    loop {
        match reader.read_event().expect("the SVG is well-formed XML") {
            Event::Start(e) => {
                out.push(read(&e));
                depth += 1;
            }
            Event::Empty(e) => out.push(read(&e)),
            Event::End(_) => depth -= 1,
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(depth, 0, "every element is closed");
    out
}

fn orders() -> StateMachine {
    parse(ORDERS).expect("the example definition is valid")
}

fn demo_status(path: &[&str]) -> Status {
    match path {
        ["Validate"] | ["Route"] | ["Prepare", "0", "Reserve stock"] => Status::Succeeded,
        ["Prepare"] => Status::Caught,
        ["Prepare", "1", "Invoice"] => Status::Failed,
        ["Reject"] => Status::InProgress,
        ["Pack & Ship", "Print label"] => Status::Cancelled,
        _ => Status::NotRun,
    }
}

#[test]
fn draws_every_state_edge_and_terminal() {
    let svg = svg(&orders(), &demo_status);
    let els = elements(&svg);
    let class = |c: &str| {
        els.iter()
            .filter(|(_, a)| a.get("class").map(String::as_str) == Some(c))
            .count()
    };
    // 7 top-level states, 3 in Prepare's branches, 3 in the Map's processor.
    assert_eq!(class("state"), 13);
    // Start→Validate, Validate→Route, Route's 2 rules and Default, Review→Prepare,
    // Prepare→Pack & Ship, Pack & Ship→Done, Reject→End, Done→End; Invoice→Email
    // customer; Print label→Label ok?, its loop back and Default: 14 solid, and
    // the two catchers dashed.
    assert_eq!(class("edge"), 14);
    assert_eq!(class("edge catch"), 2);
    assert_eq!(class("terminal"), 2);
    assert_eq!(els.iter().filter(|(n, _)| n == "circle").count(), 2);
    assert_eq!(class("edge-label"), 7);
    assert_eq!(els[0].0, "svg");
    assert!(!svg.contains("<script") && !svg.contains("href=") && !svg.contains("@import"));
}

#[test]
fn every_state_name_is_written_escaped() {
    let svg = svg(&orders(), &|_: &[&str]| Status::NotRun);
    for name in [
        "Validate",
        "Route",
        "Review",
        "Prepare",
        "Reserve stock",
        "Invoice",
        "Email customer",
        "Print label",
        "Label ok?",
        "Packed",
        "Reject",
        "Done",
    ] {
        assert!(svg.contains(&format!(">{name}<")), "{name}");
    }
    assert!(svg.contains(">Pack &amp; Ship<"));
    assert!(!svg.contains("Pack & Ship"));
    assert!(svg.contains(">$.total &gt; 100<"));
    assert!(svg.contains(">Default<"));
    assert!(svg.contains(">States.ALL<"));
    assert!(svg.contains(">States.TaskFailed, States.T…<"));
}

#[test]
fn each_box_has_its_status_colour_and_paths_name_nested_states() {
    let els = elements(&svg(&orders(), &demo_status));
    let mut seen = BTreeMap::new();
    for (i, (_, attrs)) in els.iter().enumerate() {
        if attrs.get("class").map(String::as_str) != Some("state") {
            continue;
        }
        let rect = els[i + 1..]
            .iter()
            .find(|(n, _)| n == "rect")
            .map(|(_, a)| a)
            .unwrap();
        seen.insert(
            attrs["data-path"].clone(),
            (
                attrs["data-status"].clone(),
                rect["fill"].clone(),
                rect["stroke"].clone(),
            ),
        );
    }
    let expect = |path: &str, status: Status| {
        let (fill, stroke) = status.colours();
        assert_eq!(
            seen[path],
            (status.key().to_owned(), fill.to_owned(), stroke.to_owned()),
            "{path}"
        );
    };
    expect("Validate", Status::Succeeded);
    expect("Prepare", Status::Caught);
    expect("Prepare/0/Reserve stock", Status::Succeeded);
    expect("Prepare/1/Invoice", Status::Failed);
    expect("Prepare/1/Email customer", Status::NotRun);
    expect("Reject", Status::InProgress);
    expect("Pack & Ship/Print label", Status::Cancelled);
    expect("Pack & Ship/Packed", Status::NotRun);
    assert_eq!(seen.len(), 13);
    let colours: std::collections::BTreeSet<_> = Status::ALL.iter().map(|s| s.colours()).collect();
    assert_eq!(colours.len(), 6, "every status has its own colours");
}

#[test]
fn legend_names_every_status() {
    let svg = svg(&orders(), &|_: &[&str]| Status::NotRun);
    let legend = &svg[svg.find(r#"<g class="legend""#).unwrap()..];
    for s in Status::ALL {
        assert!(legend.contains(&format!(">{}<", s.label())), "{s:?}");
        assert!(legend.contains(s.colours().1));
    }
}

#[test]
fn same_input_same_bytes() {
    let m = orders();
    assert_eq!(svg(&m, &demo_status), svg(&m, &demo_status));
    assert_ne!(svg(&m, &demo_status), svg(&m, &|_: &[&str]| Status::NotRun));
}

#[test]
fn rows_follow_the_longest_path_and_loops_go_back_up() {
    let m = parse(
        r#"{"StartAt":"A","States":{
            "A":{"Type":"Pass","Next":"B"},
            "B":{"Type":"Choice","Choices":[{"Variable":"$.again","BooleanEquals":true,"Next":"A"}],"Default":"C"},
            "C":{"Type":"Succeed"}}}"#,
    )
    .unwrap();
    let svg = svg(&m, &|_: &[&str]| Status::NotRun);
    let els = elements(&svg);
    let top = |path: &str| -> f64 {
        let i = els
            .iter()
            .position(|(_, a)| a.get("data-path").map(String::as_str) == Some(path))
            .unwrap();
        els[i + 1..].iter().find(|(n, _)| n == "rect").unwrap().1["y"]
            .parse()
            .unwrap()
    };
    assert!(top("A") < top("B") && top("B") < top("C"));
    // The loop B → A is the one edge drawn up a lane on the right, with
    // horizontal runs; the others are curves and vertical runs.
    let lanes = els
        .iter()
        .filter(|(n, a)| n == "path" && a.get("d").is_some_and(|d| d.contains('H')))
        .count();
    assert_eq!(lanes, 1);
}
