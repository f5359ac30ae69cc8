//! Routes of asynchronous invocation: the event-invoke-config operations of the
//! Lambda API (`/2019-09-25/functions/{name}/event-invoke-config`) and gust's async
//! listing and built-in queues (`/gust/v1/functions/{name}/async`,
//! `/gust/v1/queues/...`). `Event` invokes themselves go through `invoke`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use gust_platform::Platform;
use gust_wire::events::EventInvokeConfigRequest;
use http::StatusCode;
use serde::Deserialize;

use crate::extract::{JsonOrDefault, PathFunction, QualifiedFunction};
use crate::routes::{no_content, reply, App};

/// The routes, to merge into the main router.
pub fn routes() -> Router<Arc<Platform>> {
    let config = "/2019-09-25/functions/{name}/event-invoke-config";
    Router::new()
        .route(
            config,
            get(get_config)
                .put(put_config)
                .post(update_config)
                .delete(delete_config),
        )
        .route(&format!("{config}/list"), get(list_configs))
        .route("/gust/v1/functions/{name}/async", get(list_invocations))
        .route("/gust/v1/queues", get(list_queues))
        .route(
            "/gust/v1/queues/{queue}/messages",
            get(queue_messages).delete(purge_queue),
        )
}

async fn put_config(
    State(p): App,
    QualifiedFunction(f): QualifiedFunction,
    JsonOrDefault(req): JsonOrDefault<EventInvokeConfigRequest>,
) -> Response {
    reply(
        StatusCode::OK,
        p.put_function_event_invoke_config(&f, &req).await,
    )
}

async fn update_config(
    State(p): App,
    QualifiedFunction(f): QualifiedFunction,
    JsonOrDefault(req): JsonOrDefault<EventInvokeConfigRequest>,
) -> Response {
    let result = p.update_function_event_invoke_config(&f, &req).await;
    reply(StatusCode::OK, result)
}

async fn get_config(State(p): App, QualifiedFunction(f): QualifiedFunction) -> Response {
    reply(StatusCode::OK, p.get_function_event_invoke_config(&f))
}

async fn delete_config(State(p): App, QualifiedFunction(f): QualifiedFunction) -> Response {
    no_content(p.delete_function_event_invoke_config(&f).await)
}

#[derive(Debug, Deserialize)]
struct ConfigListQuery {
    #[serde(rename = "Marker")]
    marker: Option<String>,
    #[serde(rename = "MaxItems")]
    max_items: Option<i64>,
}

async fn list_configs(
    State(p): App,
    Query(q): Query<ConfigListQuery>,
    PathFunction(f): PathFunction,
) -> Response {
    let result = p.list_function_event_invoke_configs(&f, q.marker.as_deref(), q.max_items);
    reply(StatusCode::OK, result)
}

#[derive(Debug, Deserialize)]
struct LimitQuery {
    /// How many, most recent first (default 50, at most 10000).
    limit: Option<usize>,
}

async fn list_invocations(
    State(p): App,
    Path(name): Path<String>,
    Query(q): Query<LimitQuery>,
) -> Response {
    let result = p.async_invocations(&name, q.limit.unwrap_or(50)).await;
    reply(StatusCode::OK, result)
}

async fn list_queues(State(p): App) -> Response {
    reply(StatusCode::OK, p.queues().await)
}

#[derive(Debug, Deserialize)]
struct MessagesQuery {
    /// Position to read after (0: from the start).
    after: Option<i64>,
    /// How many (default 100, at most 10000).
    limit: Option<usize>,
}

async fn queue_messages(
    State(p): App,
    Path(queue): Path<String>,
    Query(q): Query<MessagesQuery>,
) -> Response {
    let result = p
        .queue_messages(&queue, q.after.unwrap_or(0), q.limit.unwrap_or(100))
        .await;
    reply(StatusCode::OK, result)
}

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Purged {
    queue: String,
    deleted: usize,
}

async fn purge_queue(State(p): App, Path(queue): Path<String>) -> Response {
    let result = p.purge_queue(&queue).await.map(|deleted| Purged {
        queue: queue.clone(),
        deleted,
    });
    reply(StatusCode::OK, result)
}
