//! Bodies of the read-only endpoints the web dashboard (`/gust/dashboard`) draws
//! from: recent history for live charts (`/gust/v1/series`), every function with
//! its versions, aliases and URLs in one answer (`/gust/v1/overview`), and the
//! state machines with their latest executions (`/gust/v1/workflows`).

use serde::{Deserialize, Serialize};

use crate::events::FunctionEventInvokeConfig;
use crate::lambda::FunctionConfiguration;
use crate::urls::FunctionUrlConfig;
use crate::versions::AliasConfiguration;

/// `GET /gust/v1/series?function=NAME&window=SECONDS&step=SECONDS`: a function's
/// (or, without `function`, every function's summed) recent invocations.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SeriesResponse {
    /// The function, when one was asked for.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub function: Option<String>,
    /// Seconds each point covers.
    pub step_seconds: u64,
    /// The server's clock when it answered, ms since the Unix epoch.
    pub now_ms: u64,
    /// Seconds of the newest point that have elapsed (it is still filling), so a
    /// rate is its count divided by this.
    pub last_point_seconds: u64,
    /// Oldest first, one per step, empty steps included.
    pub points: Vec<SeriesPoint>,
}

/// One step of a series.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SeriesPoint {
    /// The step's start, ms since the Unix epoch.
    pub start_ms: u64,
    /// Invocations that ended in the step (Lambda's Invocations).
    pub invocations: u64,
    /// Of those, how many ended in a function error.
    pub errors: u64,
    /// Invocations refused for want of concurrency.
    pub throttles: u64,
    /// Invocations that started an instance.
    pub cold_starts: u64,
    /// Median duration, ms; absent when nothing ran.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p50_ms: Option<f64>,
    /// 90th percentile duration, ms.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p90_ms: Option<f64>,
    /// 99th percentile duration, ms.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p99_ms: Option<f64>,
}

/// `GET /gust/v1/overview`: every function, by name.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OverviewResponse {
    /// By name.
    pub functions: Vec<FunctionOverview>,
}

/// One function as the dashboard lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionOverview {
    /// `$LATEST`'s configuration.
    pub configuration: FunctionConfiguration,
    /// Published versions, oldest first (`$LATEST` not among them).
    pub versions: Vec<FunctionConfiguration>,
    /// Aliases, by name.
    pub aliases: Vec<AliasConfiguration>,
    /// Function URLs (of the function itself and of its aliases).
    pub urls: Vec<FunctionUrlConfig>,
    /// Reserved concurrency, if set.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reserved_concurrency: Option<u32>,
    /// Invocations since gust started.
    pub invocations: u64,
    /// Its asynchronous-invocation settings (retries, maximum event age,
    /// destinations), one per qualifier that has them.
    #[serde(default)]
    pub event_invoke_configs: Vec<FunctionEventInvokeConfig>,
}

/// `GET /gust/v1/workflows`: state machines, by name, each with its latest
/// executions.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowsResponse {
    /// By name.
    pub state_machines: Vec<WorkflowSummary>,
}

/// One state machine.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowSummary {
    /// Its ARN.
    pub arn: String,
    /// Its name.
    pub name: String,
    /// `STANDARD` or `EXPRESS`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When it was created, ms since the Unix epoch.
    pub created_ms: u64,
    /// The most recent executions, newest first.
    pub executions: Vec<ExecutionSummary>,
}

/// One execution.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionSummary {
    /// Its ARN (pass it to `/gust/v1/workflows/graph?arn=` for its picture).
    pub arn: String,
    /// Its name.
    pub name: String,
    /// `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub status: String,
    /// When it started, ms since the Unix epoch.
    pub start_ms: u64,
    /// When it stopped, if it has.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stop_ms: Option<u64>,
}
