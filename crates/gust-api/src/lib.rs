//! gust's gateway: the Lambda API (`/2015-03-31/functions/...`), gust's own endpoints
//! (`/gust/v1/...`), S3, Step Functions, function URLs and the dashboard over HTTP, in
//! front of the platform core. It depends on the platform and the services beside it
//! (object store, workflows), never on the scheduler, worker or sandbox below: the
//! server that assembles them all is `gust-server`.
//!
//! # Layout
//! - [`Gateway`]: every API on one listener, until shutdown.
//! - `routes`: HTTP requests → typed [`Platform`](gust_platform::Platform) calls.
//! - `extract`: the function a request names and its JSON body, refused the way the
//!   Lambda API refuses them.
//! - `error`: the one mapping from core errors to Lambda error responses.
//! - `url_routes`, `schedule_routes`: function URL configurations and schedules.
//! - `tags_routes`: TagResource, UntagResource and ListTags.
//! - `layers_routes`: layer versions, their permissions and their downloads.
//! - `url_serve`, `url_event`: serving function URLs as payload format 2.0 events;
//!   `url_stream`: those in `RESPONSE_STREAM` mode.
//! - `stream_invoke`, `event_stream`: InvokeWithResponseStream and its framing.
//! - [`sigv4`]: verifying AWS Signature Version 4; `auth`: requiring it of API
//!   requests, before their bodies are read.
//! - [`presign`]: presigned `Code.Location` and layer `Content.Location` URLs, fetched
//!   without credentials.
//! - `listener`: accepting connections, with header, idle and body timeouts and a
//!   connection cap; `body`: request bodies with a deadline.
//! - `s3_front`: telling S3 requests apart and handing them to the object store
//!   (`gust-buckets`); `bucket_events`: what the store asks of the platform.
//! - `paths`: refusing paths with dot segments before anything routes them.
//! - `states_routes`: the Step Functions API (`POST /`, `X-Amz-Target`), answered by
//!   `gust-workflows`; `workflow_tasks` and `workflow_s3`: what its engine asks of the
//!   platform and the object store.
//! - `dashboard`: the web dashboard's page and files, and who may read them;
//!   `dashboard_data`: the read-only endpoints it draws from (series, overview,
//!   workflows).
//! - [`ConnectionLimits`], [`UrlStyleChoice`]: the gateway's configuration.

#![forbid(unsafe_code)]

mod auth;
mod body;
mod bucket_events;
mod bucket_routes;
mod config;
mod dashboard;
mod dashboard_data;
mod error;
mod event_stream;
mod events_routes;
mod extract;
mod layers_routes;
mod listener;
mod paths;
pub mod presign;
mod routes;
mod s3_front;
mod schedule_routes;
pub mod sigv4;
pub mod sigv4_sign;
mod states_routes;
mod stream_invoke;
mod tags_routes;
mod url_event;
mod url_routes;
mod url_serve;
mod url_stream;
mod url_style;
mod versions_routes;
mod workflow_s3;
mod workflow_tasks;

use std::sync::Arc;

use gust_platform::Platform;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

pub use config::{ConnectionLimits, UrlStyleChoice, DEFAULT_ACCOUNT_CONCURRENCY};
pub use dashboard::PAGE_PATH as DASHBOARD_PATH;
pub use routes::router;
pub use url_style::resolve as resolve_url_style;

/// Every HTTP API gust serves, in front of the platform, its object store and its
/// workflows.
pub struct Gateway {
    /// Functions, invocations, schedules, async events.
    pub platform: Arc<Platform>,
    /// The object store (S3).
    pub buckets: Arc<gust_buckets::Buckets>,
    /// State machines and their executions (Step Functions).
    pub workflows: Arc<gust_workflows::Workflows>,
    /// Keys whose SigV4 signatures the APIs (and `AWS_IAM` function URLs) accept;
    /// none leaves the APIs open.
    pub access_keys: sigv4::AccessKeys,
    /// The region every credential scope must name.
    pub region: String,
    /// Timeouts and the cap of the listener.
    pub connections: ConnectionLimits,
}

impl Gateway {
    /// Serves `listener`, and the connections instances open to gust's API
    /// (`from_instances`), until `shutdown` resolves; returns once in-flight
    /// requests have been answered.
    pub async fn serve(
        self,
        listener: TcpListener,
        from_instances: mpsc::Receiver<TcpStream>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let Gateway {
            platform,
            buckets,
            workflows,
            access_keys,
            region,
            connections,
        } = self;
        // Function URLs are served in front of the API, on the same listener.
        let api = if access_keys.is_empty() {
            router(platform.clone())
                .layer(axum::Extension(buckets.clone()))
                .layer(axum::Extension(workflows.clone()))
        } else {
            router(platform.clone())
                .layer(axum::Extension(buckets.clone()))
                .layer(axum::Extension(workflows.clone()))
                .layer(axum::middleware::from_fn_with_state(
                    Arc::new(auth::ApiAuth {
                        keys: access_keys.clone(),
                        region: region.clone(),
                    }),
                    auth::require_signature,
                ))
                .layer(axum::Extension(Arc::new(presign::CodeUrls::random())))
        };
        let signed = !access_keys.is_empty();
        let s3 = buckets.service(signed.then(|| {
            let keys = access_keys.clone();
            Arc::new(move |id: &str| keys.secret(id)) as gust_buckets::SecretLookup
        }));
        let app = url_serve::in_front_of(api, platform.clone(), access_keys, region)
            .layer(axum::middleware::from_fn(paths::refuse_dot_segments));
        // S3 keys may hold dot segments: they name objects, never files.
        let app = s3_front::in_front_of(app, s3, signed);
        listener::serve(listener, from_instances, app, connections, shutdown).await;
    }
}

/// What the object store asks of the platform: invoking the functions its object
/// events are connected to.
pub fn bucket_events(platform: &Arc<Platform>) -> Arc<dyn gust_buckets::Notifier> {
    Arc::new(bucket_events::PlatformEvents::new(platform))
}

/// What the workflow engine asks of the platform and the object store: invoking
/// functions for Lambda Tasks, and S3 calls for S3 Tasks.
pub fn workflow_tasks(
    platform: &Arc<Platform>,
    buckets: Arc<gust_buckets::Buckets>,
) -> Arc<dyn gust_workflows::tasks::Tasks> {
    Arc::new(workflow_tasks::PlatformTasks::new(platform, buckets))
}
