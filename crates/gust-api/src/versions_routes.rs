//! Routes of versions, aliases and concurrency.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use bytes::Bytes;
use gust_platform::Platform;
use gust_types::CoreError;
use gust_wire::versions::PutProvisionedConcurrencyRequest;
use http::StatusCode;
use serde::Deserialize;

use crate::routes::{function_ref, no_content, parse_json, reply, App, ListQuery, QualifierQuery};

/// The routes, to merge into the main router.
pub fn routes() -> Router<Arc<Platform>> {
    let f = "/2015-03-31/functions/{name}";
    Router::new()
        .route(
            &format!("{f}/versions"),
            post(publish_version).get(list_versions),
        )
        .route(
            &format!("{f}/aliases"),
            post(create_alias).get(list_aliases),
        )
        .route(
            &format!("{f}/aliases/{{alias}}"),
            get(get_alias).put(update_alias).delete(delete_alias),
        )
        .route(
            "/2017-10-31/functions/{name}/concurrency",
            put(put_concurrency).delete(delete_concurrency),
        )
        .route(
            "/2019-09-30/functions/{name}/concurrency",
            get(get_concurrency),
        )
        .route("/2016-08-19/account-settings", get(account_settings))
        .route("/2016-08-19/account-settings/", get(account_settings))
        .route(
            "/2019-09-30/functions/{name}/provisioned-concurrency",
            put(put_provisioned)
                .get(get_provisioned)
                .delete(delete_provisioned),
        )
}

async fn publish_version(State(p): App, Path(name): Path<String>, body: Bytes) -> Response {
    let result = async {
        let f = function_ref(&name, None)?;
        let req = if body.is_empty() {
            Default::default()
        } else {
            parse_json(&body)?
        };
        p.publish_version(&f, req).await
    }
    .await;
    reply(StatusCode::CREATED, result)
}

async fn list_versions(
    State(p): App,
    Path(name): Path<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    let result = function_ref(&name, None)
        .and_then(|f| p.list_versions(&f, q.marker.as_deref(), q.max_items));
    reply(StatusCode::OK, result)
}

async fn create_alias(State(p): App, Path(name): Path<String>, body: Bytes) -> Response {
    let result = async {
        let f = function_ref(&name, None)?;
        p.create_alias(&f, parse_json(&body)?).await
    }
    .await;
    reply(StatusCode::CREATED, result)
}

async fn list_aliases(
    State(p): App,
    Path(name): Path<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    let result = function_ref(&name, None).and_then(|f| {
        p.list_aliases(
            &f,
            q.function_version.as_deref(),
            q.marker.as_deref(),
            q.max_items,
        )
    });
    reply(StatusCode::OK, result)
}

async fn get_alias(State(p): App, Path((name, alias)): Path<(String, String)>) -> Response {
    let result = function_ref(&name, None).and_then(|f| p.get_alias(&f, &alias));
    reply(StatusCode::OK, result)
}

async fn update_alias(
    State(p): App,
    Path((name, alias)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let result = async {
        let f = function_ref(&name, None)?;
        p.update_alias(&f, &alias, parse_json(&body)?).await
    }
    .await;
    reply(StatusCode::OK, result)
}

async fn delete_alias(State(p): App, Path((name, alias)): Path<(String, String)>) -> Response {
    let result = async {
        let f = function_ref(&name, None)?;
        p.delete_alias(&f, &alias).await
    }
    .await;
    no_content(result)
}

async fn put_concurrency(State(p): App, Path(name): Path<String>, body: Bytes) -> Response {
    let result = async {
        let f = function_ref(&name, None)?;
        p.put_function_concurrency(&f, parse_json(&body)?).await
    }
    .await;
    reply(StatusCode::OK, result)
}

async fn get_concurrency(State(p): App, Path(name): Path<String>) -> Response {
    let result = function_ref(&name, None).and_then(|f| p.get_function_concurrency(&f));
    reply(StatusCode::OK, result)
}

async fn delete_concurrency(State(p): App, Path(name): Path<String>) -> Response {
    let result = async {
        let f = function_ref(&name, None)?;
        p.delete_function_concurrency(&f).await
    }
    .await;
    no_content(result)
}

async fn account_settings(State(p): App) -> Response {
    reply(StatusCode::OK, Ok::<_, CoreError>(p.account_settings()))
}

#[derive(Debug, Deserialize)]
struct ProvisionedQuery {
    #[serde(rename = "Qualifier")]
    qualifier: Option<String>,
    #[serde(rename = "List")]
    list: Option<String>,
}

async fn put_provisioned(
    State(p): App,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
    body: Bytes,
) -> Response {
    let result = async {
        let f = function_ref(&name, q.qualifier.as_deref())?;
        let req: PutProvisionedConcurrencyRequest = parse_json(&body)?;
        p.put_provisioned(&f, req.provisioned_concurrent_executions)
            .await
    }
    .await;
    reply(StatusCode::ACCEPTED, result)
}

async fn get_provisioned(
    State(p): App,
    Path(name): Path<String>,
    Query(q): Query<ProvisionedQuery>,
) -> Response {
    if q.list.as_deref() == Some("ALL") {
        let result = function_ref(&name, None).and_then(|f| p.list_provisioned(&f));
        return reply(StatusCode::OK, result);
    }
    let result = function_ref(&name, q.qualifier.as_deref()).and_then(|f| p.get_provisioned(&f));
    reply(StatusCode::OK, result)
}

async fn delete_provisioned(
    State(p): App,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
) -> Response {
    let result = async {
        let f = function_ref(&name, q.qualifier.as_deref())?;
        p.delete_provisioned(&f).await
    }
    .await;
    no_content(result)
}
