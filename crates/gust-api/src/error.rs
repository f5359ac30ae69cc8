//! The one mapping from core errors to Lambda error responses.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gust_types::CoreError;
use gust_wire::lambda::ErrorBody;
use http::{HeaderValue, StatusCode};

/// Turns a core error into AWS's status, `x-amzn-ErrorType` and `{"Type","message"}`.
pub fn error_response(err: &CoreError, request_id: &str) -> Response {
    let (status, error_type) = classify(err);
    let message = if status.is_server_error() {
        // gust's own failures may name host paths (the data directory): the log
        // keeps them, the client does not see them.
        let full = err.to_string();
        let shown = gust_types::without_host_paths(&full);
        if shown != full {
            tracing::warn!(%error_type, message = %full, "request failed (host paths hidden from the client)");
        }
        shown
    } else {
        err.to_string()
    };
    aws_error(
        status,
        error_type,
        message,
        match err {
            CoreError::TooManyRequests { reason, .. } => Some((*reason).to_string()),
            _ => None,
        },
        request_id,
    )
}

/// The status and Lambda error type of a core error.
pub fn classify(err: &CoreError) -> (StatusCode, &'static str) {
    match err {
        CoreError::ResourceNotFound(_) => (StatusCode::NOT_FOUND, "ResourceNotFoundException"),
        CoreError::ProvisionedConcurrencyConfigNotFound(_) => (
            StatusCode::NOT_FOUND,
            "ProvisionedConcurrencyConfigNotFoundException",
        ),
        CoreError::ResourceConflict(_) => (StatusCode::CONFLICT, "ResourceConflictException"),
        CoreError::InvalidParameterValue(_)
        | CoreError::InvalidZipFile(_)
        | CoreError::Unsupported(_) => (StatusCode::BAD_REQUEST, "InvalidParameterValueException"),
        CoreError::Validation(_) => (StatusCode::BAD_REQUEST, "ValidationException"),
        CoreError::InvalidRequestContent(_) => {
            (StatusCode::BAD_REQUEST, "InvalidRequestContentException")
        }
        CoreError::RequestTooLarge(_) => {
            (StatusCode::PAYLOAD_TOO_LARGE, "RequestTooLargeException")
        }
        CoreError::RequestEntityTooLarge(_) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
        ),
        CoreError::PreconditionFailed(_) => (
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailedException",
        ),
        CoreError::TooManyRequests { .. } => {
            (StatusCode::TOO_MANY_REQUESTS, "TooManyRequestsException")
        }
        CoreError::ServiceUnavailable(_) | CoreError::Internal(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "ServiceException")
        }
        CoreError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "ServiceException"),
        CoreError::RecursiveInvocation(_) => {
            (StatusCode::BAD_REQUEST, "RecursiveInvocationException")
        }
    }
}

/// An error response in AWS's shape: status, `x-amzn-ErrorType`, and
/// `{"Type","message"[,"Reason"]}`.
pub fn aws_error(
    status: StatusCode,
    error_type: &'static str,
    message: String,
    reason: Option<String>,
    request_id: &str,
) -> Response {
    let body = ErrorBody {
        kind: if status.is_server_error() {
            "Service"
        } else {
            "User"
        }
        .to_string(),
        message,
        reason,
    };
    if status.is_server_error() {
        tracing::warn!(%error_type, message = %body.message, "request failed");
    }
    let json = serde_json::to_vec(&body).unwrap_or_default();
    let mut resp = (status, Bytes::from(json)).into_response();
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("x-amzn-errortype", HeaderValue::from_static(error_type));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

/// How much of a rejection's plain-text body is kept as the error message.
const REJECTION_TEXT_MAX: usize = 1024;

/// Middleware giving the responses axum makes on its own (a body over the limit, a
/// path or query string that does not decode, a method the route lacks) AWS's error
/// shape, so that every 4xx a client sees carries a Lambda error type. Responses
/// that already have one pass untouched. `body_max` is the management body limit.
pub async fn aws_shaped_rejections(body_max: usize, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
    if !resp.status().is_client_error() || resp.headers().contains_key("x-amzn-errortype") {
        return resp;
    }
    let status = resp.status();
    let text = axum::body::to_bytes(resp.into_body(), REJECTION_TEXT_MAX)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    error_response(
        &rejection(status, &method, &path, text, body_max),
        &crate::routes::request_id(),
    )
}

/// The core error standing for one of axum's own rejections.
fn rejection(
    status: StatusCode,
    method: &http::Method,
    path: &str,
    text: String,
    body_max: usize,
) -> CoreError {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            let operation = match (method.as_str(), path.trim_end_matches('/')) {
                ("POST", "/2015-03-31/functions") => " for the CreateFunction operation",
                ("PUT", p) if p.starts_with("/2015-03-31/functions/") && p.ends_with("/code") => {
                    " for the UpdateFunctionCode operation"
                }
                _ => "",
            };
            CoreError::RequestEntityTooLarge(format!(
                "Request must be smaller than {body_max} bytes{operation}"
            ))
        }
        StatusCode::METHOD_NOT_ALLOWED => {
            CoreError::ResourceNotFound(format!("Unknown operation: {method} {path}"))
        }
        _ if text.is_empty() => {
            CoreError::InvalidParameterValue(format!("The request was refused ({status})"))
        }
        _ => CoreError::InvalidParameterValue(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_carry_a_reason() {
        let resp = error_response(
            &CoreError::TooManyRequests {
                reason: "ConcurrentInvocationLimitExceeded",
                message: "Rate Exceeded.".into(),
            },
            "r1",
        );
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            resp.headers()["x-amzn-errortype"],
            "TooManyRequestsException"
        );
    }

    #[tokio::test]
    async fn server_errors_name_no_host_path() {
        use http_body_util::BodyExt;
        let resp = error_response(
            &CoreError::Internal(
                "extracting to /srv/gust/archives/tmp/put-1/tree/x: No space left on device".into(),
            ),
            "r",
        );
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(!text.contains("/srv/gust"), "{text}");
        assert!(
            text.contains("extracting to <path>: No space left on device"),
            "{text}"
        );
    }

    fn header(resp: &Response) -> &str {
        resp.headers()["x-amzn-errortype"].to_str().unwrap()
    }

    #[test]
    fn an_oversize_body_is_request_entity_too_large_naming_the_operation() {
        let e = rejection(
            StatusCode::PAYLOAD_TOO_LARGE,
            &http::Method::POST,
            "/2015-03-31/functions/",
            "length limit exceeded".into(),
            1000,
        );
        assert_eq!(
            e,
            CoreError::RequestEntityTooLarge(
                "Request must be smaller than 1000 bytes for the CreateFunction operation".into()
            )
        );
        let resp = error_response(&e, "r");
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(header(&resp), "RequestEntityTooLargeException");
        let e = rejection(
            StatusCode::PAYLOAD_TOO_LARGE,
            &http::Method::PUT,
            "/2015-03-31/functions/f/code",
            String::new(),
            1000,
        );
        assert!(e
            .to_string()
            .ends_with("for the UpdateFunctionCode operation"));
    }

    #[test]
    fn other_rejections_keep_their_text_or_say_the_operation_is_unknown() {
        let bad_path = rejection(
            StatusCode::BAD_REQUEST,
            &http::Method::GET,
            "/2015-03-31/functions/%FF",
            "Invalid URL: Invalid UTF-8 in `name`".into(),
            1000,
        );
        assert_eq!(
            bad_path,
            CoreError::InvalidParameterValue("Invalid URL: Invalid UTF-8 in `name`".into())
        );
        let method = rejection(
            StatusCode::METHOD_NOT_ALLOWED,
            &http::Method::PATCH,
            "/2015-03-31/functions/f",
            String::new(),
            1000,
        );
        assert_eq!(error_response(&method, "r").status(), StatusCode::NOT_FOUND);
        assert!(method.to_string().contains("PATCH /2015-03-31/functions/f"));
    }
}
