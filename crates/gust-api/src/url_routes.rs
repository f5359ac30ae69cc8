//! Routes of function URL configurations (`/2021-10-31/functions/{name}/url[s]`)
//! and, merged in, gust's schedules. Serving the URLs themselves is `url_serve`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use gust_platform::Platform;
use gust_wire::urls::{CreateFunctionUrlConfigRequest, UpdateFunctionUrlConfigRequest};
use http::StatusCode;

use crate::extract::{JsonBody, PathFunction, QualifiedFunction};
use crate::routes::{no_content, reply, App, ListQuery};

/// The routes, to merge into the main router.
pub fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route(
            "/2021-10-31/functions/{name}/url",
            get(get_url)
                .post(create_url)
                .put(update_url)
                .delete(delete_url),
        )
        .route("/2021-10-31/functions/{name}/urls", get(list_urls))
        .merge(crate::schedule_routes::routes())
}

async fn create_url(
    State(p): App,
    QualifiedFunction(f): QualifiedFunction,
    JsonBody(req): JsonBody<CreateFunctionUrlConfigRequest>,
) -> Response {
    reply(
        StatusCode::CREATED,
        p.create_function_url_config(&f, req).await,
    )
}

async fn get_url(State(p): App, QualifiedFunction(f): QualifiedFunction) -> Response {
    reply(StatusCode::OK, p.get_function_url_config(&f))
}

async fn update_url(
    State(p): App,
    QualifiedFunction(f): QualifiedFunction,
    JsonBody(req): JsonBody<UpdateFunctionUrlConfigRequest>,
) -> Response {
    reply(StatusCode::OK, p.update_function_url_config(&f, req).await)
}

async fn delete_url(State(p): App, QualifiedFunction(f): QualifiedFunction) -> Response {
    no_content(p.delete_function_url_config(&f).await)
}

async fn list_urls(
    State(p): App,
    Query(q): Query<ListQuery>,
    PathFunction(f): PathFunction,
) -> Response {
    let result = p.list_function_url_configs(&f, q.marker.as_deref(), q.max_items);
    reply(StatusCode::OK, result)
}
