//! The one mapping from core errors to Lambda error responses.

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gust_types::CoreError;
use gust_wire::lambda::ErrorBody;
use http::{HeaderValue, StatusCode};

/// Turns a core error into AWS's status, `x-amzn-ErrorType` and `{"Type","message"}`.
pub fn error_response(err: &CoreError, request_id: &str) -> Response {
    let (status, error_type) = match err {
        CoreError::ResourceNotFound(_) => (StatusCode::NOT_FOUND, "ResourceNotFoundException"),
        CoreError::ProvisionedConcurrencyConfigNotFound(_) => (
            StatusCode::NOT_FOUND,
            "ProvisionedConcurrencyConfigNotFoundException",
        ),
        CoreError::ResourceConflict(_) => (StatusCode::CONFLICT, "ResourceConflictException"),
        CoreError::InvalidParameterValue(_)
        | CoreError::InvalidZipFile(_)
        | CoreError::Unsupported(_) => (StatusCode::BAD_REQUEST, "InvalidParameterValueException"),
        CoreError::InvalidRequestContent(_) => {
            (StatusCode::BAD_REQUEST, "InvalidRequestContentException")
        }
        CoreError::RequestTooLarge(_) => {
            (StatusCode::PAYLOAD_TOO_LARGE, "RequestTooLargeException")
        }
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
    };
    aws_error(
        status,
        error_type,
        err.to_string(),
        match err {
            CoreError::TooManyRequests { reason, .. } => Some((*reason).to_string()),
            _ => None,
        },
        request_id,
    )
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
}
