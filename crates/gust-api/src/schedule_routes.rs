//! gust's schedules: `GET|POST /gust/v1/schedules`, `GET|DELETE
//! /gust/v1/schedules/{name}`. Bodies are `gust_wire::schedules`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use gust_platform::Platform;
use gust_types::CoreError;
use gust_wire::schedules::CreateScheduleRequest;
use http::StatusCode;

use crate::extract::JsonBody;
use crate::routes::{no_content, reply, App};

/// The routes, to merge into the main router.
pub fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route("/gust/v1/schedules", get(list).post(create))
        .route("/gust/v1/schedules/{name}", get(get_one).delete(delete))
}

async fn create(State(p): App, JsonBody(req): JsonBody<CreateScheduleRequest>) -> Response {
    reply(StatusCode::CREATED, p.create_schedule(req))
}

async fn list(State(p): App) -> Response {
    reply(StatusCode::OK, Ok::<_, CoreError>(p.list_schedules()))
}

async fn get_one(State(p): App, Path(name): Path<String>) -> Response {
    reply(StatusCode::OK, p.get_schedule(&name))
}

async fn delete(State(p): App, Path(name): Path<String>) -> Response {
    no_content(p.delete_schedule(&name))
}
