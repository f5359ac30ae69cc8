//! Valid definitions (most from AWS's developer guide, one per feature) and
//! the structure they parse to.

use serde_json::{json, Value};

use super::*;
use crate::definition::*;

fn machine(definition: Value) -> StateMachine {
    match parse(&definition.to_string()) {
        Ok(m) => m,
        Err(diags) => panic!("{}", invalid_definition_message(&diags)),
    }
}

fn state<'a>(m: &'a StateMachine, name: &str) -> &'a State {
    &m.states[name]
}

#[test]
fn hello_world_pass() {
    let m = machine(json!({
        "Comment": "A Hello World example of the Amazon States Language using a Pass state",
        "StartAt": "HelloWorld",
        "States": {"HelloWorld": {"Type": "Pass", "Result": "Hello World!", "End": true}}
    }));
    assert_eq!(m.start_at, "HelloWorld");
    assert_eq!(
        m.comment.as_deref(),
        Some("A Hello World example of the Amazon States Language using a Pass state")
    );
    assert_eq!(m.query_language, QueryLanguage::JsonPath);
    assert_eq!(m.timeout_seconds, None);
    let s = state(&m, "HelloWorld");
    assert_eq!(s.name, "HelloWorld");
    assert_eq!(s.next, None);
    assert_eq!(
        s.kind,
        StateKind::Pass {
            result: Some(json!("Hello World!"))
        }
    );
    assert_eq!(
        (
            s.input_path.clone(),
            s.result_path.clone(),
            s.output_path.clone()
        ),
        (None, None, None)
    );
}

#[test]
fn lambda_task_with_retry_defaults_and_catch() {
    let m = machine(json!({
        "StartAt": "Hello", "TimeoutSeconds": 300,
        "States": {
            "Hello": {
                "Type": "Task",
                "Resource": "arn:aws:lambda:us-east-1:123456789012:function:HelloFunction",
                "InputPath": "$.in", "ResultPath": "$.out", "OutputPath": null,
                "ResultSelector": {"v.$": "$.value"},
                "TimeoutSeconds": 60, "HeartbeatSeconds": 10,
                "Retry": [
                    {"ErrorEquals": ["CustomError"]},
                    {"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 30, "MaxAttempts": 2,
                     "BackoffRate": 1.5, "MaxDelaySeconds": 100, "JitterStrategy": "FULL"},
                    {"ErrorEquals": ["States.ALL"], "MaxAttempts": 0}
                ],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed", "ResultPath": "$.error"}],
                "Next": "Done"
            },
            "Failed": {"Type": "Fail", "Error": "Boom", "Cause": "It broke"},
            "Done": {"Type": "Succeed"}
        }
    }));
    assert_eq!(m.timeout_seconds, Some(300));
    let s = state(&m, "Hello");
    assert_eq!(s.next.as_deref(), Some("Done"));
    assert_eq!(s.input_path, Some(json!("$.in")));
    assert_eq!(s.result_path, Some(json!("$.out")));
    assert_eq!(s.output_path, Some(Value::Null));
    assert_eq!(s.result_selector, Some(json!({"v.$": "$.value"})));
    let StateKind::Task(task) = &s.kind else {
        panic!("{:?}", s.kind)
    };
    assert_eq!(
        task.resource,
        Resource::Function {
            arn: "arn:aws:lambda:us-east-1:123456789012:function:HelloFunction".into()
        }
    );
    assert_eq!(task.timeout, Some(Seconds::Fixed(60)));
    assert_eq!(task.heartbeat, Some(Seconds::Fixed(10)));
    assert_eq!(
        s.retry[0],
        Retrier {
            error_equals: vec!["CustomError".into()],
            interval_seconds: 1,
            max_attempts: 3,
            backoff_rate: 2.0,
            max_delay_seconds: None,
            full_jitter: false,
        }
    );
    assert_eq!(
        (s.retry[1].interval_seconds, s.retry[1].max_attempts),
        (30, 2)
    );
    assert_eq!(
        (
            s.retry[1].backoff_rate,
            s.retry[1].max_delay_seconds,
            s.retry[1].full_jitter
        ),
        (1.5, Some(100), true)
    );
    assert_eq!(s.retry[2].max_attempts, 0);
    assert_eq!(
        s.catch,
        vec![Catcher {
            error_equals: vec!["States.ALL".into()],
            next: "Failed".into(),
            result_path: Some(json!("$.error")),
            output: None,
            assign: None,
        }]
    );
    assert_eq!(
        state(&m, "Failed").kind,
        StateKind::Fail {
            error: Some(FailField::Literal("Boom".into())),
            cause: Some(FailField::Literal("It broke".into()))
        }
    );
    assert_eq!(state(&m, "Done").kind, StateKind::Succeed);
}

#[test]
fn integrations_and_default_timeout() {
    let m = machine(json!({
        "StartAt": "Invoke",
        "States": {
            "Invoke": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                       "Parameters": {"FunctionName": "hello", "Payload.$": "$"}, "Next": "Wait"},
            "Wait": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                     "Parameters": {"FunctionName": "hello", "Payload": {"token.$": "$$.Task.Token"}},
                     "TimeoutSecondsPath": "$.timeout", "HeartbeatSecondsPath": "$.beat", "Next": "Put"},
            "Put": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:putObject",
                    "Parameters": {"Bucket": "b", "Key": "k", "Body.$": "$"},
                    "Credentials": {"RoleArn": "arn:aws:iam::123456789012:role/r"}, "End": true}
        }
    }));
    let task = |name: &str| match &state(&m, name).kind {
        StateKind::Task(t) => t.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        task("Invoke").resource,
        Resource::LambdaInvoke {
            wait_for_token: false
        }
    );
    assert_eq!(task("Invoke").timeout, Some(Seconds::Fixed(99_999_999)));
    assert_eq!(
        state(&m, "Invoke").parameters,
        Some(json!({"FunctionName": "hello", "Payload.$": "$"}))
    );
    assert_eq!(
        task("Wait").resource,
        Resource::LambdaInvoke {
            wait_for_token: true
        }
    );
    assert_eq!(
        task("Wait").timeout,
        Some(Seconds::Path("$.timeout".into()))
    );
    assert_eq!(task("Wait").heartbeat, Some(Seconds::Path("$.beat".into())));
    assert_eq!(
        task("Put").resource,
        Resource::S3 {
            action: "putObject".into()
        }
    );
    assert!(task("Put").credentials.is_some());
}

#[test]
fn choice_rules_keep_the_rule_and_take_next_assign_out() {
    let m = machine(json!({
        "StartAt": "Choose",
        "States": {
            "Choose": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.type", "StringEquals": "Private", "Next": "Public", "Comment": "c"},
                    {"And": [{"Variable": "$.value", "NumericGreaterThanEquals": 20},
                             {"Variable": "$.value", "NumericLessThan": 30}],
                     "Next": "Public", "Assign": {"seen": true}}
                ],
                "Default": "Fallback"
            },
            "Public": {"Type": "Pass", "End": true},
            "Fallback": {"Type": "Fail", "ErrorPath": "$.err", "CausePath": "States.Format('bad {}', $.x)"}
        }
    }));
    let StateKind::Choice { choices, default } = &state(&m, "Choose").kind else {
        panic!()
    };
    assert_eq!(default.as_deref(), Some("Fallback"));
    assert_eq!(
        choices[0].rule,
        json!({"Variable": "$.type", "StringEquals": "Private"})
    );
    assert_eq!(choices[0].next, "Public");
    assert_eq!(choices[1].assign, Some(json!({"seen": true})));
    assert_eq!(
        choices[1].rule["And"][1],
        json!({"Variable": "$.value", "NumericLessThan": 30})
    );
    assert_eq!(state(&m, "Choose").next, None);
    assert_eq!(
        state(&m, "Fallback").kind,
        StateKind::Fail {
            error: Some(FailField::Path("$.err".into())),
            cause: Some(FailField::Path("States.Format('bad {}', $.x)".into()))
        }
    );
}

#[test]
fn wait_in_its_four_forms() {
    let m = machine(json!({
        "StartAt": "A",
        "States": {
            "A": {"Type": "Wait", "Seconds": 10, "Next": "B"},
            "B": {"Type": "Wait", "Timestamp": "2026-03-14T01:59:00Z", "Next": "C"},
            "C": {"Type": "Wait", "SecondsPath": "$.wait", "Next": "D"},
            "D": {"Type": "Wait", "TimestampPath": "$.until", "End": true}
        }
    }));
    assert_eq!(
        state(&m, "A").kind,
        StateKind::Wait(WaitFor::Seconds(json!(10)))
    );
    assert_eq!(
        state(&m, "B").kind,
        StateKind::Wait(WaitFor::Timestamp(json!("2026-03-14T01:59:00Z")))
    );
    assert_eq!(
        state(&m, "C").kind,
        StateKind::Wait(WaitFor::SecondsPath("$.wait".into()))
    );
    assert_eq!(
        state(&m, "D").kind,
        StateKind::Wait(WaitFor::TimestampPath("$.until".into()))
    );
}

#[test]
fn parallel_branches_are_machines_of_their_own() {
    let m = machine(json!({
        "StartAt": "LookupCustomerInfo",
        "States": {
            "LookupCustomerInfo": {
                "Type": "Parallel", "End": true, "ResultPath": "$.both",
                "Retry": [{"ErrorEquals": ["States.BranchFailed"]}],
                "Branches": [
                    {"StartAt": "LookupAddress",
                     "States": {"LookupAddress": {"Type": "Task",
                        "Resource": "arn:aws:lambda:us-east-1:123456789012:function:AddressFinder", "End": true}}},
                    {"StartAt": "LookupPhone", "Comment": "second",
                     "States": {"LookupPhone": {"Type": "Task",
                        "Resource": "arn:aws:lambda:us-east-1:123456789012:function:PhoneFinder", "End": true}}}
                ]
            }
        }
    }));
    let s = state(&m, "LookupCustomerInfo");
    let StateKind::Parallel { branches } = &s.kind else {
        panic!()
    };
    assert_eq!(branches.len(), 2);
    assert_eq!(branches[0].start_at, "LookupAddress");
    assert_eq!(branches[1].comment.as_deref(), Some("second"));
    assert!(branches[1].states.contains_key("LookupPhone"));
    assert_eq!(branches[0].timeout_seconds, None);
    assert_eq!(s.retry.len(), 1);
    assert_eq!(s.result_path, Some(json!("$.both")));
}

#[test]
fn map_with_item_processor_and_legacy_iterator() {
    let m = machine(json!({
        "StartAt": "Map",
        "States": {
            "Map": {
                "Type": "Map", "ItemsPath": "$.shipped", "MaxConcurrency": 5,
                "ItemSelector": {"item.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index"},
                "ToleratedFailurePercentage": 10, "ToleratedFailureCountPath": "$.tolerate",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Validate",
                    "States": {"Validate": {"Type": "Pass", "End": true}}
                },
                "Next": "Old"
            },
            "Old": {
                "Type": "Map", "Parameters": {"x.$": "$$.Map.Item.Value"}, "MaxConcurrencyPath": "$.limit",
                "Iterator": {"StartAt": "Inner", "States": {"Inner": {"Type": "Succeed"}}},
                "End": true
            }
        }
    }));
    let StateKind::Map(map) = &state(&m, "Map").kind else {
        panic!()
    };
    assert_eq!(map.processor.start_at, "Validate");
    assert_eq!(map.items, Some(json!("$.shipped")));
    assert_eq!(map.max_concurrency, Some(Seconds::Fixed(5)));
    assert_eq!(
        map.item_selector.as_ref().unwrap()["index.$"],
        "$$.Map.Item.Index"
    );
    assert_eq!(map.tolerated_failure_percentage, Some(json!(10)));
    assert_eq!(map.tolerated_failure_count, Some(json!("$.tolerate")));
    let StateKind::Map(old) = &state(&m, "Old").kind else {
        panic!()
    };
    assert_eq!(old.item_selector, Some(json!({"x.$": "$$.Map.Item.Value"})));
    assert_eq!(old.max_concurrency, Some(Seconds::Path("$.limit".into())));
    assert_eq!(old.items, None);
    assert_eq!(state(&m, "Old").parameters, None);
}

#[test]
fn distributed_map_with_item_reader() {
    let m = machine(json!({
        "StartAt": "Map",
        "States": {"Map": {
            "Type": "Map", "Label": "csv",
            "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
                           "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
                           "Parameters": {"Bucket": "data", "Key": "rows.csv"}},
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                              "StartAt": "Row", "States": {"Row": {"Type": "Pass", "End": true}}},
            "End": true
        }}
    }));
    let StateKind::Map(map) = &state(&m, "Map").kind else {
        panic!()
    };
    assert_eq!(
        map.item_reader.as_ref().unwrap()["Parameters"]["Key"],
        "rows.csv"
    );
}

#[test]
fn jsonata_machine_and_its_fields() {
    let m = machine(json!({
        "QueryLanguage": "JSONata",
        "StartAt": "Get",
        "States": {
            "Get": {
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Arguments": {"FunctionName": "f", "Payload": "{% $states.input %}"},
                "Output": "{% $states.result.Payload %}",
                "Assign": {"count": "{% $states.result.Payload.n %}"},
                "TimeoutSeconds": "{% $states.input.timeout %}",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Check",
                           "Output": "{% $states.errorOutput %}", "Assign": {"failed": true}}],
                "Next": "Check"
            },
            "Check": {
                "Type": "Choice",
                "Choices": [{"Condition": "{% $count > 1 %}", "Next": "Each", "Output": {"n": "{% $count %}"}}],
                "Default": "Pause"
            },
            "Pause": {"Type": "Wait", "Seconds": "{% $count %}", "Next": "Each"},
            "Each": {
                "Type": "Map", "Items": "{% $states.input.list %}", "MaxConcurrency": "{% 2 %}",
                "ItemSelector": {"v": "{% $states.context.Map.Item.Value %}"},
                "ItemProcessor": {"StartAt": "One", "States": {"One": {"Type": "Pass", "Output": "{% $states.input.v %}", "End": true}}},
                "End": true
            }
        }
    }));
    assert_eq!(m.query_language, QueryLanguage::Jsonata);
    let get = state(&m, "Get");
    assert_eq!(get.query_language, QueryLanguage::Jsonata);
    assert_eq!(
        get.parameters,
        Some(json!({"FunctionName": "f", "Payload": "{% $states.input %}"}))
    );
    assert_eq!(get.output, Some(json!("{% $states.result.Payload %}")));
    assert_eq!(
        get.assign,
        Some(json!({"count": "{% $states.result.Payload.n %}"}))
    );
    let StateKind::Task(task) = &get.kind else {
        panic!()
    };
    assert_eq!(
        task.timeout,
        Some(Seconds::Path("{% $states.input.timeout %}".into()))
    );
    assert_eq!(
        get.catch[0].output,
        Some(json!("{% $states.errorOutput %}"))
    );
    assert_eq!(get.catch[0].result_path, None);
    let StateKind::Choice { choices, .. } = &state(&m, "Check").kind else {
        panic!()
    };
    assert_eq!(choices[0].rule, json!({"Condition": "{% $count > 1 %}"}));
    assert_eq!(choices[0].output, Some(json!({"n": "{% $count %}"})));
    assert_eq!(
        state(&m, "Pause").kind,
        StateKind::Wait(WaitFor::Seconds(json!("{% $count %}")))
    );
    let StateKind::Map(map) = &state(&m, "Each").kind else {
        panic!()
    };
    assert_eq!(map.items, Some(json!("{% $states.input.list %}")));
    assert_eq!(map.max_concurrency, Some(Seconds::Path("{% 2 %}".into())));
    assert_eq!(map.processor.query_language, QueryLanguage::Jsonata);
    assert_eq!(
        map.processor.states["One"].query_language,
        QueryLanguage::Jsonata
    );
}

#[test]
fn a_jsonpath_machine_may_hold_jsonata_states() {
    let m = machine(json!({
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": {"x": "{% 1 + 1 %}"}, "Next": "B"},
            "B": {"Type": "Pass", "QueryLanguage": "JSONPath", "Parameters": {"x.$": "$.x"}, "Assign": {"y.$": "$.x"}, "End": true}
        }
    }));
    assert_eq!(state(&m, "A").query_language, QueryLanguage::Jsonata);
    assert_eq!(state(&m, "A").output, Some(json!({"x": "{% 1 + 1 %}"})));
    assert_eq!(state(&m, "B").query_language, QueryLanguage::JsonPath);
    assert_eq!(state(&m, "B").assign, Some(json!({"y.$": "$.x"})));
}

#[test]
fn warnings_do_not_stop_a_definition() {
    let definition = json!({
        "StartAt": "P",
        "States": {
            "P": {"Type": "Pass", "Result": {"a.$": "$.x"}, "Next": "T"},
            "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                  "Parameters": {"FunctionName": "f", "Payload": "$.input"}, "Next": "F"},
            "F": {"Type": "Fail", "Error": "$.error"}
        }
    })
    .to_string();
    let (machine, diags) = validate(&definition);
    assert!(machine.is_some());
    let mut got: Vec<(&str, &str)> = diags
        .iter()
        .map(|d| (d.code.as_str(), d.location.as_str()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("NO_DOLLAR", "/States/T/Parameters/Payload"),
            ("NO_PATH", "/States/F/Error"),
            ("PASS_RESULT_IS_STATIC", "/States/P/Result")
        ]
    );
    assert!(diags.iter().all(|d| d.severity == Severity::Warning));
    assert!(parse(&definition).is_ok());
}

#[test]
fn severity_and_display_forms() {
    assert_eq!(Severity::Error.as_str(), "ERROR");
    assert_eq!(Severity::Warning.as_str(), "WARNING");
    let d = Diagnostic {
        severity: Severity::Error,
        code: code::MISSING_END_STATE.into(),
        message: "Workflow has no terminal state".into(),
        location: String::new(),
    };
    assert_eq!(
        d.to_string(),
        "MISSING_END_STATE: Workflow has no terminal state at null"
    );
}
