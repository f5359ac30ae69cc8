//! The invoke path: registry lookup, then the scheduler. No store access, no spawn
//! for a warm instance.

use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use gust_scheduler::ScheduleError;
use gust_types::{limits, name, CoreError, FunctionRef, InvokeOutcome};
use gust_worker::{Invocation, StartError};

use crate::Platform;

/// `X-Amz-Invocation-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvocationType {
    /// Synchronous: wait for the result.
    RequestResponse,
    /// Asynchronous: queue and return 202.
    Event,
    /// Validate only: 204.
    DryRun,
}

impl InvocationType {
    /// Parses the header; absent means RequestResponse.
    pub fn parse(header: Option<&str>) -> Result<InvocationType, CoreError> {
        match header {
            None | Some("RequestResponse") => Ok(InvocationType::RequestResponse),
            Some("Event") => Ok(InvocationType::Event),
            Some("DryRun") => Ok(InvocationType::DryRun),
            Some(other) => Err(CoreError::InvalidParameterValue(format!(
                "1 validation error detected: Value '{other}' at 'invocationType' failed to \
                 satisfy constraint: Member must satisfy enum value set: [Event, \
                 RequestResponse, DryRun]"
            ))),
        }
    }
}

/// One Invoke call, parsed.
#[derive(Debug, Clone)]
pub struct InvokeRequest {
    /// Which function (and qualifier).
    pub function: FunctionRef,
    /// The event, already bounded by the gateway.
    pub payload: Bytes,
    /// Sync, async or dry run.
    pub invocation_type: InvocationType,
    /// `X-Amz-Log-Type: Tail`.
    pub log_tail: bool,
    /// `X-Amz-Client-Context`, base64 as sent.
    pub client_context: Option<String>,
    /// `X-Amzn-Trace-Id` of the request that caused the invocation (what an AWS
    /// SDK inside a function sends: its `_X_AMZN_TRACE_ID`), for loop detection.
    pub trace: Option<String>,
}

impl Platform {
    /// Invoke. Returns `None` for a DryRun that passed.
    pub async fn invoke(
        &self,
        request_id: Arc<str>,
        req: InvokeRequest,
    ) -> Result<Option<InvokeOutcome>, CoreError> {
        self.invoke_to(request_id, req, None).await
    }

    /// Invoke, with the response streamed to `stream` as the runtime sends it
    /// (InvokeWithResponseStream, streaming function URLs). A runtime that answers
    /// whole sends nothing to `stream`: its answer is the outcome's payload, as from
    /// [`Platform::invoke`]. An Event invocation cannot stream.
    pub async fn invoke_streaming(
        &self,
        request_id: Arc<str>,
        req: InvokeRequest,
        stream: gust_worker::streaming::StreamSink,
    ) -> Result<Option<InvokeOutcome>, CoreError> {
        self.invoke_to(request_id, req, Some(stream)).await
    }

    /// The version an invocation of `function` runs (what `X-Amz-Executed-Version`
    /// says), without invoking it.
    pub fn executed_version(&self, function: &FunctionRef) -> Result<String, CoreError> {
        let f = self.function(function)?;
        let entry = f.entry_for_invoke(function.qualifier.as_deref(), &self.config.region)?;
        Ok(entry.config.version.clone())
    }

    async fn invoke_to(
        &self,
        request_id: Arc<str>,
        req: InvokeRequest,
        stream: Option<gust_worker::streaming::StreamSink>,
    ) -> Result<Option<InvokeOutcome>, CoreError> {
        if req.invocation_type == InvocationType::Event
            && req.payload.len() > limits::ASYNC_PAYLOAD_MAX
        {
            return Err(gust_events::too_large());
        }
        if req.payload.len() > limits::SYNC_PAYLOAD_MAX {
            return Err(CoreError::RequestTooLarge(format!(
                "Request must be smaller than {} bytes for the InvokeFunction operation",
                limits::SYNC_PAYLOAD_MAX
            )));
        }
        let function = self.function(&req.function)?;
        let entry = function
            .entry_for_invoke(req.function.qualifier.as_deref(), &self.config.region)?
            .clone();
        let payload = if req.payload.is_empty() {
            Bytes::from_static(b"{}")
        } else {
            crate::payload::check_json(&req.payload)?;
            req.payload
        };
        let client_context = match req.client_context.as_deref() {
            None => None,
            Some(b64) => {
                let json = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .unwrap_or_default();
                crate::payload::check_client_context(&json)?;
                Some(json)
            }
        };
        match req.invocation_type {
            InvocationType::DryRun => return Ok(None),
            InvocationType::Event => {
                // Checked when the event runs: a loop goes to its on-failure
                // destination, as on Lambda.
                self.accept_event(&request_id, &req.function, payload, req.trace.as_deref())
                    .await?;
                self.metrics
                    .async_received(&crate::metrics::FunctionLabels::of(
                        &entry.config.name,
                        req.function.qualifier.as_deref(),
                    ));
                return Ok(None);
            }
            InvocationType::RequestResponse => {}
        }
        let trace = gust_types::lineage::advance(req.trace.as_deref(), &entry.config.name, || {
            gust_worker::new_trace_ids()
        })
        .map_err(|depth| {
            CoreError::RecursiveInvocation(format!(
                "Lambda has detected your function being invoked in a recursive loop with \
                 other AWS resources and stopped your function's invocation: {} would be \
                 invoked for the {depth}th time in one chain of requests (at most {} are allowed)",
                entry.config.name,
                gust_types::lineage::MAX_DEPTH
            ))
        })?;
        let invoked_arn = match &req.function.qualifier {
            Some(q) => name::qualified_arn(&self.config.region, &entry.config.name, q),
            None => name::function_arn(&self.config.region, &entry.config.name),
        };
        let inv = Invocation {
            request_id,
            payload,
            invoked_arn,
            client_context,
            want_tail: req.log_tail,
            trace: Some(trace),
            stream,
        };
        let labels = crate::metrics::FunctionLabels::of(
            &entry.config.name,
            req.function.qualifier.as_deref(),
        );
        let _permit = self.acquire(&function).inspect_err(|e| {
            if matches!(e, CoreError::TooManyRequests { .. }) {
                self.metrics.throttled(&labels);
            }
        })?;
        let in_flight = self.metrics.started(&labels);
        let deadline = tokio::time::Instant::now() + self.config.queue_timeout;
        let end = self
            .scheduler
            .invoke(&entry.pool, inv, deadline)
            .await
            .inspect_err(|e| {
                if matches!(e, ScheduleError::Throttled(_)) {
                    self.metrics.throttled(&labels);
                }
            })
            .map_err(|e| match e {
                ScheduleError::Throttled(message) => CoreError::TooManyRequests {
                    reason: "ConcurrentInvocationLimitExceeded",
                    message,
                },
                ScheduleError::ShuttingDown => CoreError::ShuttingDown,
                ScheduleError::Start(StartError::Runtime(e)) => {
                    CoreError::ServiceUnavailable(e.to_string())
                }
                ScheduleError::Start(e) => CoreError::ServiceUnavailable(e.to_string()),
            })?;
        // Out of ConcurrentExecutions before it counts as ended: a scrape that sees
        // it counted never sees it running.
        drop(in_flight);
        self.metrics.ended(&labels, &end.report, end.function_error);
        if end.report.provisioned || entry.pool.provisioned_target() > 0 {
            self.metrics.provisioned(&labels, end.report.provisioned);
        }
        Ok(Some(InvokeOutcome {
            payload: end.payload,
            function_error: end.function_error.then_some("Unhandled"),
            log_tail: end.log_tail,
            executed_version: entry.config.version.clone(),
        }))
    }
}
