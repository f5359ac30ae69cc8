//! Bodies of gust-only endpoints under `/gust/v1`.

use serde::{Deserialize, Serialize};

/// `GET /gust/v1/health`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// Always `ok` when the server answers.
    pub status: String,
    /// gust's version.
    pub version: String,
    /// `linux` or `none`.
    pub isolation: String,
    /// Live instances across all functions.
    pub instances: usize,
    /// The same, by state.
    #[serde(default)]
    pub instance_states: InstanceStates,
    /// Memory reserved by instances, in MB.
    pub reserved_memory_mb: u64,
    /// Memory instances may reserve in total, in MB.
    pub capacity_memory_mb: u64,
}

/// Live instances by state (they add up to [`Health::instances`]).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct InstanceStates {
    /// Running an invocation.
    pub busy: usize,
    /// Idle and runnable.
    pub warm: usize,
    /// Idle and stopped by the freezer until their next invocation.
    pub frozen: usize,
    /// Still starting.
    pub starting: usize,
}

/// `GET /gust/v1/usage`: what each function used since gust started.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UsageList {
    /// By name.
    pub functions: Vec<FunctionUsage>,
}

/// One function's usage.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FunctionUsage {
    /// The function.
    pub name: String,
    /// Invocations that ran.
    pub invocations: u64,
    /// Billed Duration summed, ms.
    pub billed_ms: u64,
    /// Billed Duration × memory, GB-seconds (Lambda's unit).
    pub gb_seconds: f64,
}

/// One log record: a line of output or a platform line (START/END/REPORT).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LogEvent {
    /// Monotonic position in the function's log; pass it back as `after` to follow.
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// The invocation's request id, when the line belongs to one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub request_id: Option<String>,
    /// The line, without its trailing newline.
    pub message: String,
}

/// `GET /gust/v1/functions/{name}/logs?after=SEQ&limit=N`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogsResponse {
    /// Records after the requested position, oldest first.
    pub events: Vec<LogEvent>,
    /// The `after` to pass next time.
    pub next_seq: u64,
}

/// `PUT`/`GET /gust/v1/functions/{name}/network`: what a function's instances may
/// reach beyond their Runtime API. Lambda has no field for it (its equivalent is a
/// VPC configuration), hence a gust-only endpoint.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkConfig {
    /// Outbound traffic through NAT from the host: anywhere the host reaches,
    /// except the host's loopback and other instances. Off by default.
    pub outbound: bool,
}
