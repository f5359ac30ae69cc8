//! Routes of function URL configurations (`/2021-10-31/functions/{name}/url[s]`)
//! and, merged in, gust's schedules. Serving the URLs themselves is `url_serve`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use gust_platform::Platform;
use http::StatusCode;

use crate::routes::{function_ref, no_content, parse_json, reply, App, ListQuery, QualifierQuery};

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
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
    body: Bytes,
) -> Response {
    let result = async {
        let f = function_ref(&name, q.qualifier.as_deref())?;
        let req = parse_json(&body)?;
        p.create_function_url_config(&f, req).await
    }
    .await;
    reply(StatusCode::CREATED, result)
}

async fn get_url(
    State(p): App,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
) -> Response {
    let result =
        function_ref(&name, q.qualifier.as_deref()).and_then(|f| p.get_function_url_config(&f));
    reply(StatusCode::OK, result)
}

async fn update_url(
    State(p): App,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
    body: Bytes,
) -> Response {
    let result = async {
        let f = function_ref(&name, q.qualifier.as_deref())?;
        let req = parse_json(&body)?;
        p.update_function_url_config(&f, req).await
    }
    .await;
    reply(StatusCode::OK, result)
}

async fn delete_url(
    State(p): App,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
) -> Response {
    let result = async {
        let f = function_ref(&name, q.qualifier.as_deref())?;
        p.delete_function_url_config(&f).await
    }
    .await;
    no_content(result)
}

async fn list_urls(
    State(p): App,
    Path(name): Path<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    let result = function_ref(&name, None)
        .and_then(|f| p.list_function_url_configs(&f, q.marker.as_deref(), q.max_items));
    reply(StatusCode::OK, result)
}
