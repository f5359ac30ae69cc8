//! HTTP → typed platform calls. One handler per Lambda operation; the platform
//! returns typed results or a `CoreError`, which `error_response` maps.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Extension;
use axum::Router;
use bytes::Bytes;
use gust_platform::{InvocationType, InvokeRequest, Platform};
use gust_types::{limits, CoreError};
use gust_wire::gust::NetworkConfig;
use gust_wire::lambda::{
    CreateFunctionRequest, UpdateFunctionCodeRequest, UpdateFunctionConfigurationRequest,
};
use gust_wire::paths;
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;

use crate::error::error_response;
use crate::extract::{JsonBody, PathFunction, QualifiedFunction};
use crate::presign::CodeUrls;

pub(crate) type App = State<Arc<Platform>>;

/// Largest management request body (a 50 MB zip, base64, in JSON).
const MANAGEMENT_BODY_MAX: usize = limits::ZIPPED_CODE_MAX / 3 * 4 + 1024 * 1024;
/// How much of an oversize invoke body is read and discarded so the client sees 413
/// rather than a reset connection.
const DISCARD_MAX: usize = 64 * 1024 * 1024;

/// The router of the Lambda API and gust's own API.
pub fn router(platform: Arc<Platform>) -> Router {
    let functions = "/2015-03-31/functions";
    Router::new()
        .route(functions, post(create_function).get(list_functions))
        .route(
            &format!("{functions}/"),
            post(create_function).get(list_functions),
        )
        .route(
            &format!("{functions}/{{name}}"),
            get(get_function).delete(delete_function),
        )
        .route(
            &format!("{functions}/{{name}}/configuration"),
            get(get_function_configuration).put(update_function_configuration),
        )
        .route(
            &format!("{functions}/{{name}}/code"),
            put(update_function_code),
        )
        .route(
            &format!("{functions}/{{name}}/invocations"),
            post(invoke).layer(DefaultBodyLimit::disable()),
        )
        .route(
            crate::stream_invoke::PATH,
            post(crate::stream_invoke::invoke_with_response_stream)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/gust/v1/health", get(health))
        .route(crate::auth::METRICS_PATH, get(metrics))
        .route("/gust/v1/usage", get(usage))
        .route("/gust/v1/functions/{name}/logs", get(logs))
        .route(
            "/gust/v1/functions/{name}/network",
            get(get_network).put(put_network),
        )
        .route("/gust/v1/functions/{name}/code", get(download_code))
        .merge(crate::versions_routes::routes())
        .merge(crate::layers_routes::routes())
        .merge(crate::url_routes::routes())
        .merge(crate::events_routes::routes())
        .merge(crate::tags_routes::routes())
        .merge(crate::bucket_routes::routes())
        .merge(crate::states_routes::routes())
        .merge(crate::dashboard::routes())
        .merge(crate::dashboard_data::routes())
        .fallback(unknown_operation)
        .layer(DefaultBodyLimit::max(MANAGEMENT_BODY_MAX))
        .layer(axum::middleware::from_fn(|req, next| {
            crate::error::aws_shaped_rejections(MANAGEMENT_BODY_MAX, req, next)
        }))
        .with_state(platform)
}

pub(crate) fn request_id() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

pub(crate) fn reply<T: serde::Serialize>(
    status: StatusCode,
    result: Result<T, CoreError>,
) -> Response {
    let rid = request_id();
    match result {
        Ok(body) => {
            let mut resp = (
                status,
                Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
            )
                .into_response();
            let h = resp.headers_mut();
            h.insert("content-type", HeaderValue::from_static("application/json"));
            if let Ok(v) = HeaderValue::from_str(&rid) {
                h.insert(paths::REQUEST_ID, v);
            }
            resp
        }
        Err(e) => error_response(&e, &rid),
    }
}

/// 204 on success, the Lambda error otherwise: the answer of every delete.
pub(crate) fn no_content(result: Result<(), CoreError>) -> Response {
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error_response(&e, &request_id()),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    #[serde(rename = "Marker")]
    pub marker: Option<String>,
    #[serde(rename = "MaxItems")]
    pub max_items: Option<u32>,
    #[serde(rename = "FunctionVersion")]
    pub function_version: Option<String>,
}

async fn create_function(
    State(p): App,
    JsonBody(req): JsonBody<CreateFunctionRequest>,
) -> Response {
    reply(StatusCode::CREATED, p.create_function(req).await)
}

async fn list_functions(State(p): App, Query(q): Query<ListQuery>) -> Response {
    reply(
        StatusCode::OK,
        p.list_functions(
            q.marker.as_deref(),
            q.max_items,
            q.function_version.as_deref() == Some("ALL"),
        ),
    )
}

async fn get_function(
    State(p): App,
    code_urls: Option<Extension<Arc<CodeUrls>>>,
    uri: http::Uri,
    headers: HeaderMap,
    QualifiedFunction(f): QualifiedFunction,
) -> Response {
    let base = base_url(&uri, &headers).unwrap_or_else(|| p.base_url().to_string());
    let locate = |name: &str, digest: &str| match &code_urls {
        Some(Extension(urls)) => urls.location(&base, name, digest, std::time::SystemTime::now()),
        None => crate::presign::plain_location(&base, name, digest),
    };
    reply(StatusCode::OK, p.get_function(&f, locate))
}

/// `http://` and the address the client sent the request to (its `Host`, or the
/// authority of an absolute URI), if it is a plain host and port: links built on it
/// reach gust the way this client does, whatever address gust listens on.
pub(crate) fn base_url(uri: &http::Uri, headers: &HeaderMap) -> Option<String> {
    let authority = match uri.authority() {
        Some(a) => a.clone(),
        None => headers
            .get(http::header::HOST)?
            .to_str()
            .ok()?
            .parse::<http::uri::Authority>()
            .ok()?,
    };
    // No user info: `Host: evil@x` must not become part of a URL.
    (!authority.as_str().contains('@') && !authority.host().is_empty())
        .then(|| format!("http://{authority}"))
}

async fn get_function_configuration(
    State(p): App,
    QualifiedFunction(f): QualifiedFunction,
) -> Response {
    reply(StatusCode::OK, p.get_function_configuration(&f))
}

async fn update_function_code(
    State(p): App,
    PathFunction(f): PathFunction,
    JsonBody(req): JsonBody<UpdateFunctionCodeRequest>,
) -> Response {
    reply(StatusCode::OK, p.update_function_code(&f, req).await)
}

async fn update_function_configuration(
    State(p): App,
    PathFunction(f): PathFunction,
    JsonBody(req): JsonBody<UpdateFunctionConfigurationRequest>,
) -> Response {
    reply(
        StatusCode::OK,
        p.update_function_configuration(&f, req).await,
    )
}

async fn delete_function(State(p): App, QualifiedFunction(f): QualifiedFunction) -> Response {
    no_content(p.delete_function(&f).await)
}

/// Reads an invoke body up to the sync limit. Oversize bodies are read on (up to
/// [`DISCARD_MAX`]) and dropped, so the client gets its 413.
pub(crate) async fn read_invoke_body(body: Body) -> Result<Bytes, CoreError> {
    let mut body = body;
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            CoreError::InvalidRequestContent(format!("could not read the request body: {e}"))
        })?;
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            if seen <= limits::SYNC_PAYLOAD_MAX {
                buf.extend_from_slice(&data);
            } else if seen > DISCARD_MAX {
                break;
            }
        }
    }
    if seen > limits::SYNC_PAYLOAD_MAX {
        return Err(CoreError::RequestTooLarge(format!(
            "Request must be smaller than {} bytes for the InvokeFunction operation",
            limits::SYNC_PAYLOAD_MAX
        )));
    }
    Ok(buf.freeze())
}

async fn invoke(
    State(p): App,
    QualifiedFunction(function): QualifiedFunction,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let rid: Arc<str> = Arc::from(request_id());
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let result = async {
        let invocation_type = InvocationType::parse(header(paths::INVOCATION_TYPE))?;
        let payload = read_invoke_body(body).await?;
        let req = InvokeRequest {
            function,
            payload,
            invocation_type,
            log_tail: header(paths::LOG_TYPE) == Some("Tail"),
            client_context: header(paths::CLIENT_CONTEXT).map(str::to_string),
            // AWS's SDKs send the function's own trace header on calls it makes.
            trace: header("x-amzn-trace-id").map(str::to_string),
        };
        p.invoke(rid.clone(), req).await
    }
    .await;
    match result {
        Ok(None) => {
            // Event: queued (202); DryRun: validated (204).
            let mut resp = if header(paths::INVOCATION_TYPE) == Some("Event") {
                StatusCode::ACCEPTED.into_response()
            } else {
                StatusCode::NO_CONTENT.into_response()
            };
            set_header(&mut resp, paths::REQUEST_ID, &rid);
            resp
        }
        Ok(Some(out)) => {
            let mut resp = (StatusCode::OK, out.payload).into_response();
            let h = resp.headers_mut();
            h.insert("content-type", HeaderValue::from_static("application/json"));
            set_header(&mut resp, paths::REQUEST_ID, &rid);
            set_header(&mut resp, paths::EXECUTED_VERSION, &out.executed_version);
            if let Some(fe) = out.function_error {
                set_header(&mut resp, paths::FUNCTION_ERROR, fe);
            }
            if let Some(tail) = out.log_tail {
                use base64::Engine;
                let b64 = base64::engine::general_purpose::STANDARD.encode(tail);
                set_header(&mut resp, paths::LOG_RESULT, &b64);
            }
            resp
        }
        Err(e) => error_response(&e, &rid),
    }
}

fn set_header(resp: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

async fn health(State(p): App) -> Response {
    reply(StatusCode::OK, Ok::<_, CoreError>(p.health()))
}

/// `GET /metrics`: Prometheus' text format (OpenMetrics).
async fn metrics(State(p): App) -> Response {
    // A store that cannot list its queues leaves their depths out of this scrape.
    let queues: Vec<(String, u64)> = match p.queues().await {
        Ok(q) => q.queues.into_iter().map(|q| (q.name, q.messages)).collect(),
        Err(_) => Vec::new(),
    };
    let mut resp = p.metrics().encode(&p, &queues).into_response();
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
    );
    resp
}

/// `GET /gust/v1/usage`: invocations, billed duration and GB-seconds per function.
async fn usage(State(p): App) -> Response {
    let functions = p
        .metrics()
        .usage()
        .into_iter()
        .map(|(name, u)| gust_wire::gust::FunctionUsage {
            name,
            invocations: u.invocations,
            billed_ms: u.billed_ms,
            gb_seconds: u.gb_seconds,
        })
        .collect();
    reply(
        StatusCode::OK,
        Ok::<_, CoreError>(gust_wire::gust::UsageList { functions }),
    )
}

#[derive(Debug, Deserialize)]
struct LogsQuery {
    after: Option<u64>,
    limit: Option<usize>,
    /// Seconds to wait for new records (long poll), at most 60.
    wait: Option<u64>,
}

async fn logs(State(p): App, Path(name): Path<String>, Query(q): Query<LogsQuery>) -> Response {
    let wait = Duration::from_secs(q.wait.unwrap_or(0).min(60));
    let result = p
        .logs(&name, q.after.unwrap_or(0), q.limit.unwrap_or(100), wait)
        .await;
    reply(StatusCode::OK, result)
}

async fn get_network(State(p): App, Path(name): Path<String>) -> Response {
    reply(StatusCode::OK, p.function_network(&name))
}

async fn put_network(
    State(p): App,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<NetworkConfig>,
) -> Response {
    reply(StatusCode::OK, p.put_function_network(&name, req).await)
}

#[derive(Debug, Deserialize)]
struct CodeQuery {
    sha256: Option<String>,
}

async fn download_code(
    State(p): App,
    Path(name): Path<String>,
    Query(q): Query<CodeQuery>,
) -> Response {
    let rid = request_id();
    let result = async {
        gust_types::name::validate_name(&name)?;
        let path = p.archive_path(&name, q.sha256.as_deref())?;
        tokio::fs::read(&path)
            .await
            .map_err(|e| CoreError::Internal(format!("could not read the archive: {e}")))
    }
    .await;
    zip_response(result, &rid)
}

async fn unknown_operation(uri: http::Uri) -> Response {
    error_response(
        &CoreError::ResourceNotFound(format!("Unknown operation: {}", uri.path())),
        &request_id(),
    )
}

/// An archive download: the zip, or the error that kept it from being read.
pub(crate) fn zip_response(result: Result<Vec<u8>, CoreError>, rid: &str) -> Response {
    match result {
        Ok(bytes) => {
            let mut resp = (StatusCode::OK, bytes).into_response();
            resp.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/zip"));
            resp
        }
        Err(e) => error_response(&e, rid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::HOST, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn links_use_the_address_the_client_used() {
        let path: http::Uri = "/2015-03-31/functions/f".parse().unwrap();
        assert_eq!(
            base_url(&path, &host("localhost:9322")).as_deref(),
            Some("http://localhost:9322")
        );
        assert_eq!(
            base_url(&path, &host("[::1]:80")).as_deref(),
            Some("http://[::1]:80")
        );
        let absolute: http::Uri = "http://10.0.0.5:9322/2015-03-31/functions/f"
            .parse()
            .unwrap();
        assert_eq!(
            base_url(&absolute, &host("ignored:1")).as_deref(),
            Some("http://10.0.0.5:9322")
        );
        assert_eq!(
            base_url(&path, &HeaderMap::new()),
            None,
            "no Host: the default"
        );
        assert_eq!(base_url(&path, &host("evil@x:1")), None);
        assert_eq!(base_url(&path, &host("a b")), None);
    }
}
