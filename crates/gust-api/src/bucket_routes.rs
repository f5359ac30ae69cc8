//! gust's own JSON view of buckets (`/gust/v1/buckets/...`), for the CLI and the
//! dashboard; S3 clients use the S3 API on the same address.

use std::sync::Arc;

use axum::extract::{Path, Query};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use gust_buckets::{BucketError, Buckets};
use gust_platform::Platform;
use gust_types::name::FunctionRef;
use gust_types::CoreError;
use gust_wire::buckets::TriggerRequest;
use http::StatusCode;
use serde::Deserialize;

use crate::extract::JsonOrDefault;
use crate::routes::{reply, App};

/// The routes, to merge into the main router; they need the store as an
/// `Extension<Arc<Buckets>>`.
pub fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route("/gust/v1/buckets", get(list_buckets))
        .route("/gust/v1/buckets/{bucket}/objects", get(list_objects))
        .route(
            "/gust/v1/buckets/{bucket}/triggers/{function}",
            axum::routing::put(connect).delete(disconnect),
        )
}

fn core(e: BucketError) -> CoreError {
    match e {
        BucketError::NotFound(m) => CoreError::ResourceNotFound(m),
        BucketError::Invalid(m) => CoreError::InvalidParameterValue(m),
        BucketError::Internal(m) => CoreError::Internal(m),
    }
}

/// The store, or the answer that this server has none.
fn store(buckets: Option<Extension<Arc<Buckets>>>) -> Result<Arc<Buckets>, CoreError> {
    buckets
        .map(|Extension(b)| b)
        .ok_or_else(|| CoreError::Unsupported("this gust server has no object store".into()))
}

async fn list_buckets(buckets: Option<Extension<Arc<Buckets>>>) -> Response {
    reply(
        StatusCode::OK,
        store(buckets).and_then(|b| b.summaries().map_err(core)),
    )
}

#[derive(Debug, Deserialize)]
struct ObjectsQuery {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    after: String,
    limit: Option<usize>,
}

async fn list_objects(
    buckets: Option<Extension<Arc<Buckets>>>,
    Path(bucket): Path<String>,
    Query(q): Query<ObjectsQuery>,
) -> Response {
    let limit = q.limit.unwrap_or(1000);
    reply(
        StatusCode::OK,
        store(buckets).and_then(|b| b.objects(&bucket, &q.prefix, &q.after, limit).map_err(core)),
    )
}

/// The ARN of a function named by name or ARN, if it exists.
fn function_arn(platform: &Platform, function: &str) -> Result<String, CoreError> {
    let fref = FunctionRef::parse_local(function, platform.region())?;
    if fref.qualifier.is_some() {
        return Err(CoreError::InvalidParameterValue(
            "connect the function itself, not a version or alias".into(),
        ));
    }
    Ok(platform.get_function_configuration(&fref)?.function_arn)
}

async fn connect(
    axum::extract::State(platform): App,
    buckets: Option<Extension<Arc<Buckets>>>,
    Path((bucket, function)): Path<(String, String)>,
    JsonOrDefault(req): JsonOrDefault<TriggerRequest>,
) -> Response {
    let result = (|| {
        let b = store(buckets)?;
        let arn = function_arn(&platform, &function)?;
        let (trigger, created) = b.connect(&bucket, &arn, req).map_err(core)?;
        Ok(serde_json::json!({"Trigger": trigger, "BucketCreated": created}))
    })();
    reply(StatusCode::OK, result)
}

async fn disconnect(
    axum::extract::State(platform): App,
    buckets: Option<Extension<Arc<Buckets>>>,
    Path((bucket, function)): Path<(String, String)>,
) -> Response {
    let result = (|| {
        let b = store(buckets)?;
        let arn = function_arn(&platform, &function)?;
        match b.disconnect(&bucket, &arn).map_err(core)? {
            true => Ok(serde_json::json!({"Disconnected": true})),
            false => Err(CoreError::ResourceNotFound(format!(
                "{function} is not connected to {bucket}"
            ))),
        }
    })();
    reply(StatusCode::OK, result)
}
