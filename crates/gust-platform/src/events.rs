//! Asynchronous invocation, glued to the platform: `Event` invokes are queued in
//! [`gust_events::AsyncEvents`], which runs them back through [`Platform::invoke`]
//! (RequestResponse, same request id) and reads dead-letter targets and function
//! existence from the registry. The event-invoke-config operations and gust's async
//! listing check here that the function and qualifier exist.

use std::sync::{Arc, Weak};

use bytes::Bytes;
use gust_events::{AsyncEvents, EventsConfig, Execution, Executor};
use gust_store::events::{EventStore, StoredEvent};
use gust_types::{name, CoreError, FunctionRef};
use gust_wire::events::{
    AsyncInvocationsResponse, EventInvokeConfigRequest, FunctionEventInvokeConfig,
    ListFunctionEventInvokeConfigsResponse, QueueMessagesResponse, QueuesResponse,
};

use crate::{InvocationType, InvokeRequest, Platform};

impl Platform {
    /// Opens the asynchronous-invocation queue on `store`: events left from before a
    /// restart are scheduled again. Call once, after [`Platform::open`]; nothing runs
    /// until [`Platform::start_events`].
    pub fn attach_events(
        &self,
        store: Arc<dyn EventStore>,
        settings: EventsConfig,
    ) -> Result<(), CoreError> {
        let events = AsyncEvents::open(store, settings, self.config.region.clone())?;
        self.events
            .set(events)
            .map_err(|_| CoreError::Internal("the async event queue is already open".into()))
    }

    pub(crate) fn events(&self) -> Result<&AsyncEvents, CoreError> {
        self.events.get().ok_or_else(|| {
            CoreError::Unsupported(
                "this gust server was started without asynchronous invocations".into(),
            )
        })
    }

    /// Dispatches events committed to the queue by another write (see
    /// [`AsyncEvents::schedule_committed`]).
    pub fn schedule_committed_events(&self, ids: &[i64], due_ms: i64) {
        match self.events.get() {
            Some(events) => events.schedule_committed(ids, due_ms),
            None if !ids.is_empty() => {
                tracing::warn!("events were queued without an asynchronous queue to run them")
            }
            None => {}
        }
    }

    /// Starts running queued events. Must run inside the server's tokio runtime.
    pub fn start_events(self: &Arc<Self>) {
        if let Some(events) = self.events.get() {
            events.start(PlatformExecutor(Arc::downgrade(self)));
        }
    }

    /// Stops starting attempts of queued events (shutdown has begun). Events are
    /// still accepted and stored; they run after the next start.
    pub fn stop_dispatching_events(&self) {
        if let Some(events) = self.events.get() {
            events.stop_dispatching();
        }
    }

    /// Waits for the attempts under way to end and be recorded (shutdown).
    pub async fn shutdown_events(&self) {
        if let Some(events) = self.events.get() {
            events.shutdown().await;
        }
    }

    /// Queues an `Event` invocation; returns once it is durably stored. The function
    /// and qualifier were resolved and the payload validated by the caller.
    pub(crate) async fn accept_event(
        &self,
        request_id: &str,
        function: &FunctionRef,
        payload: Bytes,
        trace: Option<&str>,
    ) -> Result<(), CoreError> {
        self.events()?
            .enqueue(
                request_id,
                &function.name,
                function.qualifier.as_deref(),
                payload.to_vec(),
                trace,
            )
            .await
    }

    /// Forgets a deleted function's event-invoke configs. Its queued events fail
    /// (the function is gone) when their turn comes.
    pub(crate) async fn forget_event_invoke_configs(&self, function: &str) {
        if let Some(events) = self.events.get() {
            if let Err(e) = events.forget_function(function).await {
                tracing::warn!(function, error = %e, "could not delete the function's event-invoke configs");
            }
        }
    }

    /// The function and qualifier a config operation names, checked to exist.
    fn config_target(&self, fref: &FunctionRef) -> Result<String, CoreError> {
        self.get_function_configuration(fref)?;
        Ok(fref
            .qualifier
            .clone()
            .unwrap_or_else(|| "$LATEST".to_string()))
    }

    /// PutFunctionEventInvokeConfig.
    pub async fn put_function_event_invoke_config(
        &self,
        fref: &FunctionRef,
        req: &EventInvokeConfigRequest,
    ) -> Result<FunctionEventInvokeConfig, CoreError> {
        let qualifier = self.config_target(fref)?;
        self.events()?.put_config(&fref.name, &qualifier, req).await
    }

    /// UpdateFunctionEventInvokeConfig.
    pub async fn update_function_event_invoke_config(
        &self,
        fref: &FunctionRef,
        req: &EventInvokeConfigRequest,
    ) -> Result<FunctionEventInvokeConfig, CoreError> {
        let qualifier = self.config_target(fref)?;
        self.events()?
            .update_config(&fref.name, &qualifier, req)
            .await
    }

    /// GetFunctionEventInvokeConfig.
    pub fn get_function_event_invoke_config(
        &self,
        fref: &FunctionRef,
    ) -> Result<FunctionEventInvokeConfig, CoreError> {
        let qualifier = self.config_target(fref)?;
        self.events()?.get_config(&fref.name, &qualifier)
    }

    /// DeleteFunctionEventInvokeConfig.
    pub async fn delete_function_event_invoke_config(
        &self,
        fref: &FunctionRef,
    ) -> Result<(), CoreError> {
        let qualifier = self.config_target(fref)?;
        self.events()?.delete_config(&fref.name, &qualifier).await
    }

    /// ListFunctionEventInvokeConfigs.
    pub fn list_function_event_invoke_configs(
        &self,
        fref: &FunctionRef,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> Result<ListFunctionEventInvokeConfigsResponse, CoreError> {
        self.get_function_configuration(&FunctionRef {
            name: fref.name.clone(),
            qualifier: None,
        })?;
        self.events()?.list_configs(&fref.name, marker, max_items)
    }

    /// gust-only: a function's recent asynchronous invocations, newest first.
    pub async fn async_invocations(
        &self,
        function: &str,
        limit: usize,
    ) -> Result<AsyncInvocationsResponse, CoreError> {
        name::validate_name(function)?;
        let invocations = self.events()?.list_invocations(function, limit).await?;
        if invocations.is_empty() {
            // Deleted functions keep their history; unknown names are an error.
            self.get_function_configuration(&FunctionRef {
                name: function.to_string(),
                qualifier: None,
            })?;
        }
        Ok(AsyncInvocationsResponse {
            function_name: function.to_string(),
            invocations,
        })
    }

    /// gust-only: messages of a built-in queue.
    pub async fn queue_messages(
        &self,
        queue: &str,
        after: i64,
        limit: usize,
    ) -> Result<QueueMessagesResponse, CoreError> {
        self.events()?.queue_messages(queue, after, limit).await
    }

    /// gust-only: the built-in queues holding messages.
    pub async fn queues(&self) -> Result<QueuesResponse, CoreError> {
        self.events()?.queues().await
    }

    /// gust-only: deletes a built-in queue's messages; returns how many went.
    pub async fn purge_queue(&self, queue: &str) -> Result<usize, CoreError> {
        self.events()?.purge_queue(queue).await
    }
}

/// Runs queued events through the platform. Holds the platform weakly: the
/// platform owns the queue that owns this.
struct PlatformExecutor(Weak<Platform>);

impl PlatformExecutor {
    fn config(
        &self,
        function: &str,
        qualifier: Option<&str>,
    ) -> Option<gust_wire::lambda::FunctionConfiguration> {
        self.0
            .upgrade()?
            .get_function_configuration(&FunctionRef {
                name: function.to_string(),
                qualifier: qualifier.map(str::to_string),
            })
            .ok()
    }
}

impl Executor for PlatformExecutor {
    fn observe(&self, event: &StoredEvent, what: gust_events::Observed) {
        if let Some(platform) = self.0.upgrade() {
            let labels =
                crate::metrics::FunctionLabels::of(&event.function, event.qualifier.as_deref());
            platform.metrics.async_observed(&labels, what);
        }
    }

    async fn execute(&self, event: &StoredEvent) -> Execution {
        let Some(platform) = self.0.upgrade() else {
            return Execution::ShuttingDown;
        };
        let req = InvokeRequest {
            function: FunctionRef {
                name: event.function.clone(),
                qualifier: event.qualifier.clone(),
            },
            payload: Bytes::from(event.payload.clone()),
            invocation_type: InvocationType::RequestResponse,
            log_tail: false,
            client_context: None,
            trace: event.trace.clone(),
        };
        match platform
            .invoke(Arc::from(event.request_id.as_str()), req)
            .await
        {
            Ok(Some(out)) => Execution::Completed {
                payload: out.payload.to_vec(),
                function_error: out.function_error.map(str::to_string),
                executed_version: out.executed_version,
            },
            Ok(None) => Execution::Rejected("the invocation returned no result".into()),
            Err(CoreError::TooManyRequests { message, .. }) => Execution::Throttled(message),
            Err(CoreError::ShuttingDown) => Execution::ShuttingDown,
            // A loop: the event goes to the on-failure destination, untried.
            Err(e @ CoreError::RecursiveInvocation(_)) => {
                Execution::Rejected(format!("RecursiveInvocationException: {e}"))
            }
            Err(CoreError::ServiceUnavailable(m) | CoreError::Internal(m)) => {
                Execution::SystemError(m)
            }
            Err(other) => Execution::Rejected(other.to_string()),
        }
    }

    fn dead_letter_target(&self, function: &str, qualifier: Option<&str>) -> Option<String> {
        self.config(function, qualifier)?
            .dead_letter_config?
            .target_arn
            .filter(|a| !a.is_empty())
    }

    fn function_exists(&self, function: &FunctionRef) -> bool {
        self.config(&function.name, function.qualifier.as_deref())
            .is_some()
    }
}
