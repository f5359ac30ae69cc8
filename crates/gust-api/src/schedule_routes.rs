//! gust's schedules: `GET|POST /gust/v1/schedules`, `GET|DELETE
//! /gust/v1/schedules/{name}`. Bodies are `gust_wire::schedules`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use gust_platform::Platform;
use gust_types::CoreError;
use http::StatusCode;

use crate::error::error_response;
use crate::routes::{parse_json, reply, request_id, App};

/// The routes, to merge into the main router.
pub fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route("/gust/v1/schedules", get(list).post(create))
        .route("/gust/v1/schedules/{name}", get(get_one).delete(delete))
}

async fn create(State(p): App, body: Bytes) -> Response {
    let result = parse_json(&body).and_then(|req| p.create_schedule(req));
    reply(StatusCode::CREATED, result)
}

async fn list(State(p): App) -> Response {
    reply(StatusCode::OK, Ok::<_, CoreError>(p.list_schedules()))
}

async fn get_one(State(p): App, Path(name): Path<String>) -> Response {
    reply(StatusCode::OK, p.get_schedule(&name))
}

async fn delete(State(p): App, Path(name): Path<String>) -> Response {
    match p.delete_schedule(&name) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_response(&e, &request_id()),
    }
}
