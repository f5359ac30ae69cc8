//! The Step Functions API on the same endpoint: `POST /` with
//! `X-Amz-Target: AWSStepFunctions.<Operation>` (awsJson1_0), answered by
//! [`gust_workflows::Workflows`].

use std::sync::Arc;

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use gust_platform::Platform;
use gust_workflows::Workflows;
use http::{HeaderMap, HeaderValue, StatusCode};

/// The target prefix of Step Functions operations.
pub(crate) const TARGET_PREFIX: &str = "AWSStepFunctions.";

/// The route, to merge into the main router; it needs the workflows as an
/// `Extension<Arc<Workflows>>`.
pub fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route("/", post(call))
        .route(GRAPH_PATH, axum::routing::get(graph))
}

/// Where a state machine's or an execution's picture is served (`?arn=ARN`).
pub(crate) const GRAPH_PATH: &str = "/gust/v1/workflows/graph";

#[derive(serde::Deserialize)]
struct GraphQuery {
    arn: String,
}

/// `GET /gust/v1/workflows/graph?arn=ARN`: the SVG, states coloured by status.
async fn graph(
    workflows: Option<Extension<Arc<Workflows>>>,
    axum::extract::Query(q): axum::extract::Query<GraphQuery>,
) -> Response {
    let Some(Extension(workflows)) = workflows else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    match workflows.graph_svg(&q.arn) {
        Ok(svg) => {
            let mut resp = svg.into_response();
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("image/svg+xml"),
            );
            resp
        }
        Err(e) => error_response(&e),
    }
}

/// An error in awsJson1_0's shape, its type also in `x-amzn-ErrorType` (which
/// tells the gateway the body is already AWS's shape).
fn error_response(e: &gust_workflows::api::ApiError) -> Response {
    let mut resp = json_response(
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
        e.body(),
    );
    resp.headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(e.kind));
    resp
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    resp.headers_mut().insert(
        "x-amzn-requestid",
        HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
            .unwrap_or(HeaderValue::from_static("gust")),
    );
    resp
}

async fn call(
    workflows: Option<Extension<Arc<Workflows>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(operation) = target.strip_prefix(TARGET_PREFIX) else {
        let message = if target.is_empty() {
            "POST / needs an X-Amz-Target header naming the operation \
             (AWSStepFunctions.<Operation>)"
                .to_string()
        } else {
            format!("gust answers AWSStepFunctions.<Operation> targets on /, not {target}")
        };
        return error_response(&gust_workflows::api::ApiError {
            kind: "UnknownOperationException",
            message,
            status: 400,
        });
    };
    let Some(Extension(workflows)) = workflows else {
        return json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "__type": "ServiceUnavailable", "message": "workflows are not available" }),
        );
    };
    let trace = headers
        .get("x-amzn-trace-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match workflows.call(operation, &body, trace).await {
        Ok(out) => json_response(StatusCode::OK, out),
        Err(e) => error_response(&e),
    }
}
