//! The read-only endpoints the dashboard draws from, beside the ones it shares
//! with the CLI (logs, queues, schedules, buckets): `GET /gust/v1/series` (the
//! last minutes of invocations, for live charts), `GET /gust/v1/overview` (every
//! function with its versions, aliases and URLs) and `GET /gust/v1/workflows`
//! (state machines and their latest executions). Bodies are
//! `gust_wire::dashboard`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use gust_platform::Platform;
use gust_types::CoreError;
use gust_wire::dashboard::{ExecutionSummary, WorkflowSummary, WorkflowsResponse};
use gust_workflows::Workflows;
use http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use crate::routes::{reply, App};

/// Executions listed per state machine.
const EXECUTIONS_PER_MACHINE: u64 = 20;

/// The routes, to merge into the main router; `/gust/v1/workflows` needs the
/// workflows as an `Extension<Arc<Workflows>>`.
pub fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route("/gust/v1/series", get(series))
        .route("/gust/v1/overview", get(overview))
        .route("/gust/v1/workflows", get(workflows))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeriesQuery {
    /// One function (default: every function, summed).
    function: Option<String>,
    /// Seconds of history (default 300, at most 900).
    window: Option<u64>,
    /// Seconds per point (default 5, rounded to whole buckets).
    step: Option<u64>,
}

async fn series(State(p): App, Query(q): Query<SeriesQuery>) -> Response {
    let now = gust_platform::metrics::unix_now();
    let result = p.metrics().series().read(
        q.function.as_deref(),
        now,
        q.window.unwrap_or(300),
        q.step.unwrap_or(gust_platform::series::BUCKET_SECS),
    );
    reply(StatusCode::OK, Ok::<_, CoreError>(result))
}

async fn overview(State(p): App) -> Response {
    reply(StatusCode::OK, p.overview())
}

async fn workflows(workflows: Option<Extension<Arc<Workflows>>>) -> Response {
    let result = match workflows {
        Some(Extension(w)) => list_workflows(&w).await,
        None => Err(CoreError::Unsupported(
            "this gust server has no workflows".into(),
        )),
    };
    reply(StatusCode::OK, result)
}

/// Every state machine with its latest executions, through the Step Functions
/// operations (ListStateMachines, ListExecutions).
async fn list_workflows(w: &Arc<Workflows>) -> Result<WorkflowsResponse, CoreError> {
    let call = |op: &'static str, body: Value| async move {
        w.call(op, body.to_string().as_bytes(), None)
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))
    };
    let mut machines = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = serde_json::json!({ "maxResults": 1000 });
        if let Some(t) = &token {
            body["nextToken"] = Value::from(t.as_str());
        }
        let page = call("ListStateMachines", body).await?;
        for m in page["stateMachines"].as_array().into_iter().flatten() {
            let arn = text(&m["stateMachineArn"]);
            let listed = call(
                "ListExecutions",
                serde_json::json!({ "stateMachineArn": arn, "maxResults": EXECUTIONS_PER_MACHINE }),
            )
            .await?;
            let mut executions: Vec<ExecutionSummary> = listed["executions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| ExecutionSummary {
                    arn: text(&e["executionArn"]),
                    name: text(&e["name"]),
                    status: text(&e["status"]),
                    start_ms: epoch_ms(&e["startDate"]).unwrap_or(0),
                    stop_ms: epoch_ms(&e["stopDate"]),
                })
                .collect();
            executions.sort_by_key(|e| std::cmp::Reverse(e.start_ms));
            machines.push(WorkflowSummary {
                arn,
                name: text(&m["name"]),
                kind: text(&m["type"]),
                created_ms: epoch_ms(&m["creationDate"]).unwrap_or(0),
                executions,
            });
        }
        token = page["nextToken"].as_str().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    machines.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(WorkflowsResponse {
        state_machines: machines,
    })
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// The API's timestamps (epoch seconds with a fraction) as epoch ms.
fn epoch_ms(v: &Value) -> Option<u64> {
    v.as_f64()
        .filter(|s| *s >= 0.0)
        .map(|s| (s * 1000.0).round() as u64)
}
