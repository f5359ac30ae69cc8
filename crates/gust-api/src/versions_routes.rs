//! Routes of versions, aliases and concurrency.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use gust_platform::Platform;
use gust_types::CoreError;
use gust_wire::versions::{
    Concurrency, CreateAliasRequest, PublishVersionRequest, PutProvisionedConcurrencyRequest,
    UpdateAliasRequest,
};
use http::StatusCode;
use serde::Deserialize;

use crate::extract::{JsonBody, JsonOrDefault, PathFunction, QualifiedFunction};
use crate::routes::{no_content, reply, App, ListQuery};

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

async fn publish_version(
    State(p): App,
    PathFunction(f): PathFunction,
    JsonOrDefault(req): JsonOrDefault<PublishVersionRequest>,
) -> Response {
    reply(StatusCode::CREATED, p.publish_version(&f, req).await)
}

async fn list_versions(
    State(p): App,
    Query(q): Query<ListQuery>,
    PathFunction(f): PathFunction,
) -> Response {
    let result = p.list_versions(&f, q.marker.as_deref(), q.max_items);
    reply(StatusCode::OK, result)
}

async fn create_alias(
    State(p): App,
    PathFunction(f): PathFunction,
    JsonBody(req): JsonBody<CreateAliasRequest>,
) -> Response {
    reply(StatusCode::CREATED, p.create_alias(&f, req).await)
}

async fn list_aliases(
    State(p): App,
    Query(q): Query<ListQuery>,
    PathFunction(f): PathFunction,
) -> Response {
    let version = q.function_version.as_deref();
    let result = p.list_aliases(&f, version, q.marker.as_deref(), q.max_items);
    reply(StatusCode::OK, result)
}

/// The alias of `/functions/{name}/aliases/{alias}`; the name is the function's.
#[derive(Debug, Deserialize)]
struct AliasParam {
    alias: String,
}

async fn get_alias(
    State(p): App,
    PathFunction(f): PathFunction,
    Path(AliasParam { alias }): Path<AliasParam>,
) -> Response {
    reply(StatusCode::OK, p.get_alias(&f, &alias))
}

async fn update_alias(
    State(p): App,
    PathFunction(f): PathFunction,
    Path(AliasParam { alias }): Path<AliasParam>,
    JsonBody(req): JsonBody<UpdateAliasRequest>,
) -> Response {
    reply(StatusCode::OK, p.update_alias(&f, &alias, req).await)
}

async fn delete_alias(
    State(p): App,
    PathFunction(f): PathFunction,
    Path(AliasParam { alias }): Path<AliasParam>,
) -> Response {
    no_content(p.delete_alias(&f, &alias).await)
}

async fn put_concurrency(
    State(p): App,
    PathFunction(f): PathFunction,
    JsonBody(req): JsonBody<Concurrency>,
) -> Response {
    reply(StatusCode::OK, p.put_function_concurrency(&f, req).await)
}

async fn get_concurrency(State(p): App, PathFunction(f): PathFunction) -> Response {
    reply(StatusCode::OK, p.get_function_concurrency(&f))
}

async fn delete_concurrency(State(p): App, PathFunction(f): PathFunction) -> Response {
    no_content(p.delete_function_concurrency(&f).await)
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
    QualifiedFunction(f): QualifiedFunction,
    JsonBody(req): JsonBody<PutProvisionedConcurrencyRequest>,
) -> Response {
    let result = p
        .put_provisioned(&f, req.provisioned_concurrent_executions)
        .await;
    reply(StatusCode::ACCEPTED, result)
}

/// `List=ALL` lists every qualifier's configuration; otherwise `Qualifier` names one.
async fn get_provisioned(
    State(p): App,
    Query(q): Query<ProvisionedQuery>,
    PathFunction(f): PathFunction,
) -> Response {
    if q.list.as_deref() == Some("ALL") {
        return reply(StatusCode::OK, p.list_provisioned(&f));
    }
    let result = f
        .with_qualifier(q.qualifier.as_deref())
        .and_then(|f| p.get_provisioned(&f));
    reply(StatusCode::OK, result)
}

async fn delete_provisioned(State(p): App, QualifiedFunction(f): QualifiedFunction) -> Response {
    no_content(p.delete_provisioned(&f).await)
}
