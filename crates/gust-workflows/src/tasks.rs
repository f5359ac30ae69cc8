//! What the engine asks of the rest of gust: run a function, find one, queue status
//! changes for a monitoring function, and read or write objects. The gateway crate
//! implements it over the platform and the object store.

use bytes::Bytes;

/// A function's answer to a Task.
#[derive(Debug, Clone)]
pub struct Invoked {
    /// What it returned (its result, or its error JSON).
    pub payload: Bytes,
    /// Whether the payload is a function error.
    pub function_error: bool,
    /// The version that ran.
    pub executed_version: String,
    /// The invocation's request id.
    pub request_id: String,
}

/// A Task that could not run, in Step Functions' terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError {
    /// The error name (`Lambda.ResourceNotFoundException`, ...).
    pub error: String,
    /// The cause.
    pub cause: String,
}

/// The platform, as the engine sees it.
#[async_trait::async_trait]
pub trait Tasks: Send + Sync + 'static {
    /// Invokes a function synchronously. `function` is a name, a partial or a full
    /// ARN, with an optional qualifier; `trace` is the execution's trace header.
    async fn invoke(
        &self,
        function: &str,
        qualifier: Option<&str>,
        payload: Bytes,
        trace: Option<&str>,
    ) -> Result<Invoked, TaskError>;

    /// Queues an event for a function through the durable asynchronous path
    /// (its retries and destinations apply).
    async fn invoke_async(&self, function: &str, payload: Bytes) -> Result<(), TaskError>;

    /// The (name, qualifier) of a function an ARN or name names, if it exists.
    fn resolve_function(&self, function: &str) -> Option<(String, Option<String>)>;

    /// Events with these ids were committed to the asynchronous queue: dispatch them.
    fn scheduled(&self, ids: &[i64], due_ms: i64);

    /// Runs an `aws-sdk:s3:<action>` task against gust's buckets: `parameters` as
    /// the SDK takes them (`Bucket`, `Key`, `Body`, ...), the SDK's answer back.
    async fn s3(
        &self,
        action: &str,
        parameters: serde_json::Value,
    ) -> Result<serde_json::Value, TaskError>;
}
