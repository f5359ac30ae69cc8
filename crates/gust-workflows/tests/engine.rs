//! The engine against a fake platform and a real SQLite store: retries on paused
//! time, a resume after the task was dropped mid-attempt, Map's tolerated failures,
//! and task tokens.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gust_store::sqlite::SqliteStore;
use gust_store::workflows::WorkflowStore;
use gust_workflows::tasks::{Invoked, TaskError, Tasks};
use gust_workflows::Workflows;
use parking_lot::Mutex;
use serde_json::{json, Value};

/// Functions as closures of their payload; counts calls per function.
#[derive(Default)]
struct Fake {
    calls: Mutex<HashMap<String, usize>>,
    /// Calls to `hang` never answer.
    hanging: AtomicUsize,
}

fn answer(payload: Value, error: bool) -> Result<Invoked, TaskError> {
    Ok(Invoked {
        payload: Bytes::from(payload.to_string()),
        function_error: error,
        executed_version: "$LATEST".into(),
        request_id: "r".into(),
    })
}

#[async_trait::async_trait]
impl Tasks for Fake {
    async fn invoke(
        &self,
        function: &str,
        _qualifier: Option<&str>,
        payload: Bytes,
        _trace: Option<&str>,
    ) -> Result<Invoked, TaskError> {
        let name = function.rsplit(':').next().unwrap_or(function).to_string();
        let n = {
            let mut calls = self.calls.lock();
            let n = calls.entry(name.clone()).or_default();
            *n += 1;
            *n
        };
        let input: Value = serde_json::from_slice(&payload).unwrap();
        match name.as_str() {
            "flaky" if n <= 2 => answer(
                json!({"errorType": "Flaky", "errorMessage": "not yet"}),
                true,
            ),
            "flaky" => answer(json!({"attempt": n}), false),
            "double" => answer(json!(input["x"].as_i64().unwrap_or(0) * 2), false),
            "odd_fails" if input["x"].as_i64().unwrap_or(0) % 2 == 1 => {
                answer(json!({"errorType": "Odd", "errorMessage": "odd"}), true)
            }
            "odd_fails" => answer(input, false),
            "hang" if self.hanging.load(Ordering::SeqCst) > 0 => {
                std::future::pending::<()>().await;
                unreachable!()
            }
            "hang" => answer(json!("finally"), false),
            "missing" => Err(TaskError {
                error: "Lambda.ResourceNotFoundException".into(),
                cause: "Function not found".into(),
            }),
            _ => answer(input, false),
        }
    }

    async fn invoke_async(&self, _function: &str, _payload: Bytes) -> Result<(), TaskError> {
        Ok(())
    }

    fn resolve_function(&self, _function: &str) -> Option<(String, Option<String>)> {
        None
    }

    fn scheduled(&self, _ids: &[i64], _due_ms: i64) {}

    async fn s3(&self, _action: &str, _parameters: Value) -> Result<Value, TaskError> {
        Err(TaskError {
            error: "S3.NoSuchBucketException".into(),
            cause: "no buckets here".into(),
        })
    }
}

struct Env {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    fake: Arc<Fake>,
    flows: Arc<Workflows>,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("gust.db")).unwrap());
    let fake = Arc::new(Fake::default());
    let flows = Workflows::new(store.clone(), fake.clone(), "us-east-1");
    Env {
        _dir: dir,
        store,
        fake,
        flows,
    }
}

fn lambda(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:000000000000:function:{name}")
}

async fn call(flows: &Arc<Workflows>, op: &str, body: Value) -> Value {
    flows
        .call(op, body.to_string().as_bytes(), None)
        .await
        .unwrap_or_else(|e| panic!("{op}: {e}"))
}

async fn create(flows: &Arc<Workflows>, name: &str, definition: Value) -> String {
    let out = call(
        flows,
        "CreateStateMachine",
        json!({"name": name, "definition": definition.to_string(), "roleArn": "arn:aws:iam::000000000000:role/r"}),
    )
    .await;
    out["stateMachineArn"].as_str().unwrap().to_string()
}

async fn start(flows: &Arc<Workflows>, machine: &str, input: Value) -> String {
    let out = call(
        flows,
        "StartExecution",
        json!({"stateMachineArn": machine, "input": input.to_string()}),
    )
    .await;
    out["executionArn"].as_str().unwrap().to_string()
}

async fn finished(flows: &Arc<Workflows>, execution: &str) -> Value {
    for _ in 0..10_000 {
        let d = call(
            flows,
            "DescribeExecution",
            json!({"executionArn": execution}),
        )
        .await;
        if d["status"] != "RUNNING" {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{execution} did not finish");
}

async fn kinds(flows: &Arc<Workflows>, execution: &str) -> Vec<String> {
    let h = call(
        flows,
        "GetExecutionHistory",
        json!({"executionArn": execution, "maxResults": 1000}),
    )
    .await;
    h["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn retries_back_off_on_the_clock_and_then_succeed() {
    let e = env();
    let machine = create(
        &e.flows,
        "retry",
        json!({"StartAt": "T", "States": {"T": {
            "Type": "Task", "Resource": lambda("flaky"), "End": true,
            "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 30, "BackoffRate": 2.0, "MaxAttempts": 3}]
        }}}),
    )
    .await;
    let before = tokio::time::Instant::now();
    let run = start(&e.flows, &machine, json!({})).await;
    let d = finished(&e.flows, &run).await;
    assert_eq!(d["status"], "SUCCEEDED", "{d}");
    assert_eq!(d["output"], json!({"attempt": 3}).to_string());
    // 30 s, then 60 s: the delays of the first two retries (on tokio's clock).
    let waited = before.elapsed();
    assert!(waited >= Duration::from_secs(90), "{waited:?}");
    let kinds = kinds(&e.flows, &run).await;
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "LambdaFunctionFailed")
            .count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(e.fake.calls.lock()["flaky"], 3);
}

#[tokio::test]
async fn a_dropped_execution_resumes_from_its_history_and_runs_the_open_attempt_again() {
    let e = env();
    e.fake.hanging.store(1, Ordering::SeqCst);
    let machine = create(
        &e.flows,
        "resume",
        json!({"StartAt": "A", "States": {
            "A": {"Type": "Task", "Resource": lambda("double"), "Next": "B"},
            "B": {"Type": "Task", "Resource": lambda("hang"), "End": true}
        }}),
    )
    .await;
    let run = start(&e.flows, &machine, json!({"x": 21})).await;
    // Wait until B's attempt is recorded as started, then drop every task as a
    // crash would.
    for _ in 0..1000 {
        let events = e.store.events(&run).unwrap();
        if events
            .iter()
            .filter(|ev| ev.kind == "LambdaFunctionStarted")
            .count()
            == 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    e.flows.shutdown();
    assert_eq!(e.store.execution(&run).unwrap().unwrap().status, "RUNNING");

    // A new gust on the same store.
    e.fake.hanging.store(0, Ordering::SeqCst);
    let again = Workflows::new(e.store.clone(), e.fake.clone(), "us-east-1");
    assert_eq!(again.resume().unwrap(), 1);
    let d = finished(&again, &run).await;
    assert_eq!(d["status"], "SUCCEEDED", "{d}");
    assert_eq!(d["output"], json!("finally").to_string());
    let calls = e.fake.calls.lock().clone();
    assert_eq!(
        calls["double"], 1,
        "A finished before the crash: not run again"
    );
    assert_eq!(calls["hang"], 2, "B's open attempt ran again");
}

#[tokio::test]
async fn a_map_tolerates_the_failures_it_says_and_fails_beyond_them() {
    let e = env();
    let map = |tolerated: u64| {
        json!({"StartAt": "M", "States": {"M": {
            "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2,
            "ToleratedFailureCount": tolerated,
            "ItemProcessor": {"StartAt": "T", "States": {"T": {
                "Type": "Task", "Resource": lambda("odd_fails"), "End": true}}},
            "End": true
        }}})
    };
    let items: Vec<Value> = (0..6).map(|x| json!({"x": x})).collect();
    let tolerant = create(&e.flows, "tolerant", map(3)).await;
    let d = finished(
        &e.flows,
        &start(&e.flows, &tolerant, json!({"items": items})).await,
    )
    .await;
    assert_eq!(d["status"], "SUCCEEDED", "{d}");
    let out: Value = serde_json::from_str(d["output"].as_str().unwrap()).unwrap();
    assert_eq!(out[0], json!({"x": 0}));
    assert_eq!(out[1]["Error"], "Odd");

    let strict = create(&e.flows, "strict", map(2)).await;
    let d = finished(
        &e.flows,
        &start(&e.flows, &strict, json!({"items": items})).await,
    )
    .await;
    assert_eq!(d["status"], "FAILED", "{d}");
    assert_eq!(d["error"], "States.ExceedToleratedFailureThreshold");
}

#[tokio::test]
async fn lambda_service_errors_are_caught_by_name_and_runtime_errors_are_not() {
    let e = env();
    let machine = create(
        &e.flows,
        "catch",
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": lambda("missing"), "End": true,
                  "Catch": [{"ErrorEquals": ["Lambda.ResourceNotFoundException"], "ResultPath": "$.e", "Next": "P"}]},
            "P": {"Type": "Task", "Resource": lambda("echo"), "InputPath": "$.nothing.here", "End": true,
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Never"}]},
            "Never": {"Type": "Succeed"}
        }}),
    )
    .await;
    let d = finished(&e.flows, &start(&e.flows, &machine, json!({})).await).await;
    // The missing function is caught; the bad InputPath is States.Runtime, which
    // States.ALL does not catch.
    assert_eq!(d["status"], "FAILED", "{d}");
    assert_eq!(d["error"], "States.Runtime", "{d}");
    assert!(d["cause"].as_str().unwrap().contains("'P'"), "{d}");
}

#[tokio::test]
async fn a_task_token_ends_its_task_once_and_then_is_unknown() {
    let e = env();
    let machine = create(
        &e.flows,
        "token",
        json!({"StartAt": "W", "States": {"W": {
            "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": lambda("echo"), "Payload": {"token.$": "$$.Task.Token"}},
            "End": true
        }}}),
    )
    .await;
    let run = start(&e.flows, &machine, json!({})).await;
    let mut token = None;
    for _ in 0..1000 {
        let events = e.store.events(&run).unwrap();
        token = events
            .iter()
            .find(|ev| ev.kind == "TaskSubmitted")
            .and_then(|ev| {
                let d: Value = serde_json::from_str(ev.details.as_deref()?).ok()?;
                let out: Value = serde_json::from_str(d["output"].as_str()?).ok()?;
                out["Payload"]["token"].as_str().map(str::to_string)
            });
        if token.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let token = token.expect("the function received a token");
    call(
        &e.flows,
        "SendTaskSuccess",
        json!({"taskToken": token, "output": "{\"ok\": true}"}),
    )
    .await;
    let d = finished(&e.flows, &run).await;
    assert_eq!(d["output"], json!({"ok": true}).to_string(), "{d}");
    let again = e
        .flows
        .call(
            "SendTaskSuccess",
            json!({"taskToken": token, "output": "{}"})
                .to_string()
                .as_bytes(),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(again.kind, "TaskDoesNotExist");
}
