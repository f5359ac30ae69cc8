//! What the workflow engine asks of the platform ([`gust_workflows::tasks::Tasks`]):
//! invoking functions for Task states, queueing status changes for a monitoring
//! function, and the bucket store for `aws-sdk:s3` tasks.

use std::sync::{Arc, Weak};

use bytes::Bytes;
use gust_platform::Platform;
use gust_platform::{InvocationType, InvokeRequest};
use gust_types::name::FunctionRef;
use gust_workflows::tasks::{Invoked, TaskError, Tasks};
use serde_json::Value;

/// The platform, as the workflow engine's [`Tasks`].
pub(crate) struct PlatformTasks {
    platform: Weak<Platform>,
    buckets: Arc<gust_buckets::Buckets>,
}

impl PlatformTasks {
    pub(crate) fn new(platform: &Arc<Platform>, buckets: Arc<gust_buckets::Buckets>) -> Self {
        PlatformTasks {
            platform: Arc::downgrade(platform),
            buckets,
        }
    }

    fn platform(&self) -> Result<Arc<Platform>, TaskError> {
        self.platform.upgrade().ok_or_else(|| TaskError {
            error: "Lambda.ServiceException".into(),
            cause: "gust is shutting down".into(),
        })
    }
}

/// A core error as a Task's error: `Lambda.<ExceptionName>`, as Step Functions
/// names the Lambda service's errors.
fn lambda_error(e: &gust_types::CoreError) -> TaskError {
    let (_, kind) = crate::error::classify(e);
    TaskError {
        error: format!("Lambda.{kind}"),
        cause: e.to_string(),
    }
}

fn function_ref(
    platform: &Platform,
    function: &str,
    qualifier: Option<&str>,
) -> Result<FunctionRef, TaskError> {
    let mut fref =
        FunctionRef::parse_local(function, platform.region()).map_err(|e| lambda_error(&e))?;
    if let Some(q) = qualifier {
        fref.qualifier = Some(q.to_string());
    }
    Ok(fref)
}

#[async_trait::async_trait]
impl Tasks for PlatformTasks {
    async fn invoke(
        &self,
        function: &str,
        qualifier: Option<&str>,
        payload: Bytes,
        trace: Option<&str>,
    ) -> Result<Invoked, TaskError> {
        let platform = self.platform()?;
        let fref = function_ref(&platform, function, qualifier)?;
        let request_id: Arc<str> = uuid::Uuid::new_v4().to_string().into();
        let outcome = platform
            .invoke(
                request_id.clone(),
                InvokeRequest {
                    function: fref,
                    payload,
                    invocation_type: InvocationType::RequestResponse,
                    log_tail: false,
                    client_context: None,
                    trace: trace.map(str::to_string),
                },
            )
            .await
            .map_err(|e| lambda_error(&e))?
            .ok_or_else(|| TaskError {
                error: "Lambda.ServiceException".into(),
                cause: "the invocation returned nothing".into(),
            })?;
        Ok(Invoked {
            payload: outcome.payload,
            function_error: outcome.function_error.is_some(),
            executed_version: outcome.executed_version,
            request_id: request_id.to_string(),
        })
    }

    async fn invoke_async(&self, function: &str, payload: Bytes) -> Result<(), TaskError> {
        let platform = self.platform()?;
        let fref = function_ref(&platform, function, None)?;
        platform
            .invoke(
                uuid::Uuid::new_v4().to_string().into(),
                InvokeRequest {
                    function: fref,
                    payload,
                    invocation_type: InvocationType::Event,
                    log_tail: false,
                    client_context: None,
                    trace: None,
                },
            )
            .await
            .map(|_| ())
            .map_err(|e| lambda_error(&e))
    }

    fn resolve_function(&self, function: &str) -> Option<(String, Option<String>)> {
        let platform = self.platform.upgrade()?;
        let fref = FunctionRef::parse_local(function, platform.region()).ok()?;
        platform.get_function_configuration(&fref).ok()?;
        Some((fref.name, fref.qualifier))
    }

    fn scheduled(&self, ids: &[i64], due_ms: i64) {
        if let Some(platform) = self.platform.upgrade() {
            platform.schedule_committed_events(ids, due_ms);
        }
    }

    async fn s3(&self, action: &str, parameters: Value) -> Result<Value, TaskError> {
        crate::workflow_s3::call(&self.buckets, action, parameters).await
    }
}
