//! API authentication: when access keys are configured, every request to the Lambda
//! API and to gust's own endpoints must carry a valid AWS Signature Version 4 made
//! with one of them — what boto3, the aws CLI and the gust CLI send. Function URLs
//! are served in front of this layer and check their own AuthType.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::StatusCode;

use crate::error::aws_error;
use crate::routes::request_id;
use crate::sigv4::{verify, AccessKeys, AuthError, RequestParts};

/// Largest body read to check its signature (the largest management request).
const SIGNED_BODY_MAX: usize = 80 * 1024 * 1024;

/// Refuses requests without a valid signature.
pub async fn require_signature(
    State(keys): State<Arc<AccessKeys>>,
    req: Request,
    next: Next,
) -> Response {
    if crate::presign::is_presigned_download(&req) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, SIGNED_BODY_MAX).await else {
        return aws_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLargeException",
            format!("Request must be smaller than {SIGNED_BODY_MAX} bytes"),
            None,
            &request_id(),
        );
    };
    let rp = RequestParts {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
    };
    match verify(&rp, &bytes, &keys, SystemTime::now()) {
        Ok(who) => {
            tracing::trace!(access_key = %who.access_key_id, "request signed");
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(e) => {
            // The message names at most the access key id, never a secret.
            tracing::debug!(error = %e, path = %parts.uri.path(), "unsigned or badly signed request refused");
            let error_type = match e {
                AuthError::Missing => "MissingAuthenticationTokenException",
                AuthError::Malformed(_) => "IncompleteSignatureException",
                AuthError::UnknownKey(_) | AuthError::NoKeys => "UnrecognizedClientException",
                AuthError::Expired(_) | AuthError::Mismatch => "InvalidSignatureException",
            };
            aws_error(
                StatusCode::FORBIDDEN,
                error_type,
                e.to_string(),
                None,
                &request_id(),
            )
        }
    }
}
